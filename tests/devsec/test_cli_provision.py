"""``devsec provision`` end to end: a blank ``devsec emulate --state`` device, provisioned, then verified.

csr -> sign (with a CA of the vendor's) -> install -> ``devsec connect`` trusts
the CA's root; the device restarted from its state file still verifies.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devsec.cli import main
from spdm.crypto import generate_ca, load_certificates, load_csr
from spdm.messages.codes import BaseAsymAlgo
from spdm.transport import EmuSocketClient


@contextmanager
def emulate(state: Path, *flags: str) -> Iterator[str]:
    """``devsec emulate --state`` in a subprocess on an ephemeral port; yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "devsec", "emulate", "--listen", "127.0.0.1:0", "--state", str(state), *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        match = re.search(r"on 127\.0\.0\.1:(\d+)", banner)
        assert match, banner + (proc.stderr.read() if proc.stderr else "")
        port = int(match.group(1))
        yield f"tcp://127.0.0.1:{port}"
        client = EmuSocketClient("127.0.0.1", port, timeout=10)
        client.shutdown()
        client.close()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_blank_device_provisioned_and_verified(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state, csr, leaf, bundle = (tmp_path / n for n in ("device.json", "csr.pem", "leaf.pem", "bundle.pem"))
    ca_cert, ca_key = tmp_path / "ca.pem", tmp_path / "ca.key"
    ca, key = generate_ca(BaseAsymAlgo.ECDSA_P384, common_name="vendor CA")
    ca_cert.write_bytes(ca.to_pem())
    ca_key.write_bytes(key.to_pem())
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(generate_ca(BaseAsymAlgo.ECDSA_P384)[0].to_pem())
    with emulate(state) as url:
        assert main(["connect", url, "--trust-root", str(ca_cert)]) != 0  # blank: nothing to verify
        assert main(["provision", "csr", url, "--slot", "0", "-o", str(csr)]) == 0
        load_csr(csr.read_bytes()).verify()
        assert main(["provision", "sign", str(csr), "--ca-cert", str(ca_cert), "--ca-key", str(ca_key),
                     "-o", str(leaf)]) == 0
        bundle.write_bytes(ca_cert.read_bytes() + leaf.read_bytes())
        assert [c.subject for c in load_certificates(bundle.read_bytes())][0] == "CN=vendor CA"
        assert main(["provision", "install", url, "--slot", "0", "--chain", str(bundle)]) == 0
        assert "slot 0 provisioned" in capsys.readouterr().out
        assert main(["connect", url, "--trust-root", str(ca_cert), "--json"]) == 0
        assert main(["connect", url, "--trust-root", str(stranger)]) == 1
    with emulate(state) as url:  # restarted: the state file kept the slot
        assert main(["connect", url, "--trust-root", str(ca_cert)]) == 0


def test_sign_prints_pem_and_install_refuses_a_foreign_chain(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    ca_cert, ca_key, csr = tmp_path / "ca.pem", tmp_path / "ca.key", tmp_path / "csr.pem"
    ca, key = generate_ca(BaseAsymAlgo.ECDSA_P384)
    ca_cert.write_bytes(ca.to_pem())
    ca_key.write_bytes(key.to_pem())
    with emulate(tmp_path / "other.json") as url:
        assert main(["provision", "csr", url, "--slot", "0", "-o", str(csr)]) == 0
    assert main(["provision", "sign", str(csr), "--ca-cert", str(ca_cert), "--ca-key", str(ca_key)]) == 0
    pem = capsys.readouterr().out
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(ca.to_pem() + pem.encode())
    with emulate(tmp_path / "device.json") as url:  # another device: its key is not in that leaf
        assert main(["provision", "install", url, "--slot", "1", "--chain", str(bundle)]) == 3
    assert "INVALID_REQUEST" in capsys.readouterr().err
    assert main(["provision", "sign", str(csr), "--ca-cert", str(csr), "--ca-key", str(ca_key)]) != 0


def test_a_chain_over_the_devices_transfer_size_is_installed_in_chunks(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A device taking 256-byte messages (CHUNK_CAP, 64 KiB whole) gets its ~1.3 KiB chain by CHUNK_SEND."""
    csr, leaf, bundle = tmp_path / "csr.pem", tmp_path / "leaf.pem", tmp_path / "bundle.pem"
    ca_cert, ca_key = tmp_path / "ca.pem", tmp_path / "ca.key"
    ca, key = generate_ca(BaseAsymAlgo.ECDSA_P384)
    ca_cert.write_bytes(ca.to_pem())
    ca_key.write_bytes(key.to_pem())
    small = ("--data-transfer-size", "0x100", "--max-spdm-msg-size", "0x10000")
    with emulate(tmp_path / "device.json", *small) as url:
        assert main(["provision", "csr", url, "--slot", "0", "-o", str(csr)]) == 0
        assert main(["provision", "sign", str(csr), "--ca-cert", str(ca_cert), "--ca-key", str(ca_key),
                     "-o", str(leaf)]) == 0
        bundle.write_bytes(ca_cert.read_bytes() + leaf.read_bytes())
        assert len(bundle.read_bytes()) > 2 * 0x100
        assert main(["provision", "install", url, "--slot", "0", "--chain", str(bundle)]) == 0
        assert "slot 0 provisioned" in capsys.readouterr().out
        assert main(["connect", url, "--trust-root", str(ca_cert), "--max-spdm-msg-size", "0x10000"]) == 0
