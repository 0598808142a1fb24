"""The ``devsec`` command as a user runs it: demo, emulate + connect over TCP, exit statuses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devsec.cli import EXIT_STATUS, exit_status, main
from devsec.emulator import SecureDevice
from spdm.cma import authenticate
from spdm.config import RequesterConfig, ResponderConfig
from spdm.crypto import generate_device_identity
from spdm.device import DeviceModel
from spdm.errors import (
    ConfigurationError,
    NegotiationError,
    RemoteProtocolError,
    TransportError,
    VerificationError,
)
from spdm.messages.codes import BaseAsymAlgo
from spdm.negotiation import AlgorithmPreferences
from spdm.transport import EmuSocketClient
from sysfs_bridge import export_bundle
from tests.vectors import ROOT


def test_dump_prints_a_line_per_record(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump", str(ROOT / "spdm12-p384" / "capture.pcap")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("1 PCI_DOE(1, 0) REQ->RSP DOE_DISCOVERY")
    assert lines[-1] == "signatures: 2 verified, 0 failed"


def test_exit_status_table() -> None:
    assert exit_status(VerificationError("x")) == 1
    assert exit_status(NegotiationError("x")) == 1
    assert exit_status(ConfigurationError("x")) == 2
    assert exit_status(RemoteProtocolError("x")) == 3
    assert exit_status(TransportError("x")) == 4
    assert len({code for _, code in EXIT_STATUS}) >= 4


def test_unreadable_trust_root_is_a_configuration_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connect", "tcp://127.0.0.1:1", "--trust-root", "/nonexistent.pem"]) == 2
    assert "cannot read trust root" in capsys.readouterr().err


@contextmanager
def emulate(tmp_path: Path, *extra: str) -> Iterator[tuple[str, Path]]:
    """``devsec emulate`` in a subprocess on an ephemeral port; yields (url, root.pem)."""
    root = tmp_path / "root.pem"
    proc = subprocess.Popen(
        [sys.executable, "-m", "devsec", "emulate", "--listen", "127.0.0.1:0", "--root-out", str(root),
         *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        match = re.search(r"on 127\.0\.0\.1:(\d+)", banner)
        assert match, banner + (proc.stderr.read() if proc.stderr else "")
        port = int(match.group(1))
        yield f"tcp://127.0.0.1:{port}", root
        client = EmuSocketClient("127.0.0.1", port, timeout=10)
        client.shutdown()
        client.close()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with emulate(tmp_path) as running:
        yield running


@pytest.mark.socket
def test_connect_to_emulate_over_tcp(emulator: tuple[str, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    url, root = emulator
    assert main(["connect", url, "--trust-root", str(root), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verified"] is True and doc["challenge"]["verified"] is True

    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(generate_device_identity(BaseAsymAlgo.ECDSA_P256).root.to_pem())
    assert main(["connect", url, "--trust-root", str(stranger)]) == 1
    err = capsys.readouterr().err
    assert "trusted root" in err and err.count("\n") == 1  # one line, with the reason


@pytest.mark.socket
def test_sessions_with_psk_and_mutual_authentication_over_tcp(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    identity = generate_device_identity(BaseAsymAlgo.ECDSA_P256, role="requester")
    chain = tmp_path / "host-chain.pem"
    chain.write_bytes(b"".join(c.to_pem() for c in identity.certificates))
    key = tmp_path / "host-key.pem"
    key.write_bytes(identity.leaf_key.to_pem())
    host_root = tmp_path / "host-root.pem"
    host_root.write_bytes(identity.root.to_pem())
    psk = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
    with emulate(tmp_path, "--mutual-auth", "--requester-trust-root", str(host_root),
                 "--psk", psk, "--psk-hint", "lab", "--dhe", "secp256r1",
                 "--aead", "chacha20-poly1305") as (url, root):
        assert main(["connect", url, "--trust-root", str(root), "--session", "--json",
                     "--requester-cert-chain", str(chain), "--requester-key", str(key)]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["session"]["kind"] == "key_exchange" and doc["session"]["dhe"] == "secp256r1"
        assert doc["session"]["mutual_auth"] is True
        assert doc["session"]["aead"] == "chacha20-poly1305" and doc["session"]["ended"]
        assert doc["session"]["key_updates"] == 2 and doc["session"]["measurements_signed"]
        assert main(["connect", url, "--trust-root", str(root), "--json", "--psk", psk,
                     "--psk-hint", "lab", "--requester-cert-chain", str(chain),
                     "--requester-key", str(key)]) == 0
        assert json.loads(capsys.readouterr().out)["session"]["kind"] == "psk"
        # A requester without an identity does not offer MUT_AUTH_CAP; the device does not ask.
        assert main(["connect", url, "--trust-root", str(root), "--session", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["session"]["mutual_auth"] is False


def test_dump_with_secrets_decrypts(capsys: pytest.CaptureFixture[str]) -> None:
    base = ROOT / "spdm13-p384-mutauth-psk"
    assert main(["dump", str(base / "capture.pcap"), "--secrets", str(base / "secrets.txt")]) == 0
    out = capsys.readouterr().out
    assert "<encrypted>" not in out and "secured records decrypted: 304" in out


@pytest.mark.socket
def test_connect_ide_tdisp_over_tcp(emulator: tuple[str, Path],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    url, root = emulator
    assert main(["connect", url, "--trust-root", str(root), "--ide", "--tdisp",
                 "--tdi", "0x0101", "--tdi", "0x0102", "--json"]) == 0
    steps = json.loads(capsys.readouterr().out)["tee_io"]
    assert [s["step"] for s in steps] == [
        "ide_km keys programmed and started",
        "tdisp locked, report read, started", "tdisp locked, report read, started",
        "ide_km key refresh", "tdisp stopped", "tdisp stopped", "ide_km stream stopped"]
    assert steps[3]["tdi_states"] == ["RUN", "RUN"]
    assert main(["connect", url, "--trust-root", str(root), "--ide", "--tdisp"]) == 0
    out = capsys.readouterr().out
    assert "tee-io" in out and "state RUN" in out and "result        VERIFIED" in out


@pytest.mark.socket
def test_connect_renders_evidence_and_verify_log_checks_it(
        emulator: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, root = emulator
    sysfs = tmp_path / "sysfs"
    assert main(["connect", url, "--trust-root", str(root), "--sysfs", str(sysfs),
                 "--bdf", "0000:3a:00.0"]) == 0
    device = sysfs / "bus/pci/devices/0000:3a:00.0"
    assert (device / "authenticated").read_text().strip() == "1"
    assert (device / "certificates/slot0").stat().st_size > 0
    capsys.readouterr()
    assert main(["verify-log", str(device)]) == 0
    assert "2 of 2 signatures verify" in capsys.readouterr().out
    transcript = device / "signatures/1_transcript"
    data = bytearray(transcript.read_bytes())
    data[10] ^= 1
    transcript.write_bytes(bytes(data))
    assert main(["verify-log", str(device), "--json"]) == 1
    verdicts = json.loads(capsys.readouterr().out)
    assert [v["entry"] for v in verdicts if not v["ok"]] == [1]  # exactly the tampered entry
    assert len(verdicts) == 2


# --- evidence bundles --------------------------------------------------------------------------

NONCE = "8d" * 16 + "5a" * 16


@pytest.fixture(scope="module")
def device_model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P256)


@pytest.fixture
def served(device_model: DeviceModel, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """What ``devsec emulate`` serves, in a thread on an ephemeral port; yields (url, root.pem)."""
    root = tmp_path / "root.pem"
    root.write_bytes(device_model.root_certificate_pem())
    device = SecureDevice(ResponderConfig(algorithms=replace(
        AlgorithmPreferences(), asym_algs=(device_model.asym_alg,))), device_model)
    server = device.spdm.server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.address[1]}", root
    finally:
        server.stop()
        thread.join(10)
        server.close()
    assert not thread.is_alive()


@pytest.mark.socket
@pytest.mark.parametrize("version", ["1.1", "1.2", "1.3"])
def test_evidence_export_then_verify_over_tcp(served: tuple[str, Path], tmp_path: Path, version: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    url, root = served
    bundle = tmp_path / "evidence.json"
    assert main(["evidence", "export", url, "--nonce", NONCE, "-o", str(bundle), "--trust-root", str(root),
                 "--version", version]) == 0
    assert f"SPDM {version}" in capsys.readouterr().out
    assert json.loads(bundle.read_text())["spdm_version"] == version
    # On "another machine": only the file, the nonce and the root.
    assert main(["evidence", "verify", str(bundle), "--nonce", NONCE, "--trust-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "result        VERIFIED" in out and f"SPDM          {version}" in out
    assert main(["evidence", "verify", str(bundle), "--nonce", NONCE, "--trust-root", str(root),
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verified"] is True and doc["measurements"]["blocks"]
    # the same spelling of each block as in the bundle itself (one JSON form of a measurement)
    assert doc["measurements"]["blocks"] == json.loads(bundle.read_text())["measurements"]
    assert doc["algorithms_signed"] is (version != "1.1")
    other = NONCE[2:] + NONCE[:2]
    assert main(["evidence", "verify", str(bundle), "--nonce", other, "--trust-root", str(root),
                 "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["verified"] is False and "another nonce" in doc["error"]


@pytest.mark.socket
def test_evidence_export_usage_errors(served: tuple[str, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    url, root = served
    out = str(tmp_path / "b.json")
    assert main(["evidence", "export", url, "--nonce", NONCE[:-2], "-o", out, "--trust-root", str(root)]) == 2
    assert "32 bytes (64 hex digits), not 31" in capsys.readouterr().err
    assert main(["evidence", "export", url, "--nonce", NONCE, "-o", str(tmp_path / "no/such/dir/b.json"),
                 "--trust-root", str(root)]) == 2
    assert "cannot write bundle" in capsys.readouterr().err
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(generate_device_identity(BaseAsymAlgo.ECDSA_P256).root.to_pem())
    assert main(["evidence", "export", url, "--nonce", NONCE, "-o", out, "--trust-root", str(stranger)]) == 1
    assert not Path(out).exists()
    with pytest.raises(SystemExit) as usage:
        main(["evidence", "export", url, "-o", out, "--trust-root", str(root)])
    assert usage.value.code == 2  # --nonce is required


@pytest.fixture
def bundle_file(device_model: DeviceModel, tmp_path: Path) -> tuple[Path, Path]:
    """A bundle exported in-process (no socket) and the root it leads to."""
    device = SecureDevice(ResponderConfig(algorithms=replace(
        AlgorithmPreferences(), asym_algs=(device_model.asym_alg,))), device_model)
    config = RequesterConfig(trust_anchors=(device_model.root_certificate(),))
    report = authenticate(device.spdm.pipe(), config, now=datetime.now(UTC),
                          measurement_nonce=bytes.fromhex(NONCE))
    bundle, root = tmp_path / "bundle.json", tmp_path / "root.pem"
    bundle.write_bytes(export_bundle(report, bytes.fromhex(NONCE)))
    root.write_bytes(device_model.root_certificate_pem())
    return bundle, root


def test_evidence_verify_exit_statuses(bundle_file: tuple[Path, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    bundle, root = bundle_file

    def verify(path: Path, *extra: str) -> int:
        return main(["evidence", "verify", str(path), "--nonce", NONCE, "--trust-root", str(root), *extra])

    assert verify(bundle) == 0
    capsys.readouterr()
    doc = json.loads(bundle.read_text())
    tampered = tmp_path / "tampered.json"
    signature = bytearray(bytes.fromhex(doc["signature"]))
    signature[5] ^= 0x01
    for edited, reason in (({**doc, "signature": signature.hex()}, "does not verify"),
                           ({**doc, "measurements": doc["measurements"][1:]}, "lists")):
        tampered.write_text(json.dumps(edited))
        assert verify(tampered, "--json") == 1
        result = json.loads(capsys.readouterr().out)
        assert result["verified"] is False and reason in result["error"]
    tampered.write_bytes(bundle.read_bytes()[:100])
    assert verify(tampered) == 1
    assert "NOT VERIFIED: DecodeError: not a devsec-evidence/1 bundle" in capsys.readouterr().out
    assert verify(root) == 1  # a PEM file is no bundle
    capsys.readouterr()
    assert verify(tmp_path / "missing.json") == 2
    assert "cannot read bundle" in capsys.readouterr().err
    assert main(["evidence", "verify", str(bundle), "--nonce", "xyz", "--trust-root", str(root)]) == 2
    assert main(["evidence", "verify", str(bundle), "--nonce", NONCE, "--trust-root", str(bundle)]) == 2
