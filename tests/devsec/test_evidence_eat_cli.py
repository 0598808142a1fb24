"""``devsec evidence export --format eat`` / ``verify`` as a verifier's broker runs them.

Against ``devsec emulate`` over TCP (devsec reads the device itself) and
against a TSM service holding the device (the evidence comes from the TSM,
with the interface report of a bound TDI).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devsec.cli import main
from spdm.crypto import generate_device_identity
from spdm.messages.codes import BaseAsymAlgo
from tests.devsec.test_cli import emulate

NONCE = "6e" * 16 + "0f" * 16


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths are limited to ~107 bytes: pytest's tmp_path can be longer."""
    with tempfile.TemporaryDirectory(prefix="devsec-", dir="/tmp") as name:
        yield Path(name)


def _broker(directory: Path) -> tuple[Path, Path]:
    """A broker's key and certificate (PEM files)."""
    identity = generate_device_identity(BaseAsymAlgo.ECDSA_P256)
    key, cert = directory / "broker.key", directory / "broker.pem"
    key.write_bytes(identity.leaf_key.to_pem())
    cert.write_bytes(identity.leaf.to_pem())
    return key, cert


@pytest.mark.socket
def test_export_eat_then_verify_over_tcp(short_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token, signed = short_dir / "dat.cbor", short_dir / "dat-signed.cbor"
    key, cert = _broker(short_dir)
    with emulate(short_dir) as (url, root):
        assert main(["evidence", "export", url, "--format", "eat", "--nonce", NONCE, "-o", str(token),
                     "--trust-root", str(root)]) == 0
        assert "EAT-DA token (UCCS)" in capsys.readouterr().out
        assert main(["evidence", "export", url, "--format", "eat", "--nonce", NONCE, "-o", str(signed),
                     "--trust-root", str(root), "--signing-key", str(key)]) == 0
        assert "EAT-DA token (COSE_Sign1)" in capsys.readouterr().out

    def verify(path: Path, *extra: str) -> int:
        return main(["evidence", "verify", str(path), "--nonce", NONCE, "--trust-root", str(root), *extra])

    assert verify(token) == 0
    out = capsys.readouterr().out
    assert "(eat-da)" in out and "UCCS" in out and "result        VERIFIED" in out
    assert verify(signed, "--signer", str(cert), "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "eat-da" and doc["broker_signed"] is True and doc["submodule"].startswith("spdm:")
    assert doc["challenge_verified"] is True
    assert {b["component_type"] for b in doc["measurements"]["blocks"]} >= {"immutable-rom"}
    assert verify(signed, "--json") == 1  # a signed token needs the broker named
    assert "name the broker key" in json.loads(capsys.readouterr().out)["error"]
    other = NONCE[2:] + NONCE[:2]
    assert main(["evidence", "verify", str(token), "--nonce", other, "--trust-root", str(root)]) == 1
    assert "NOT VERIFIED: VerificationError" in capsys.readouterr().out


def test_export_options_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "x")
    assert main(["evidence", "export", "tcp://127.0.0.1:1", "--nonce", NONCE, "-o", out,
                 "--tsm", "sock"]) == 2
    assert "go with --format eat" in capsys.readouterr().err
    assert main(["evidence", "export", "tcp://127.0.0.1:1", "--format", "eat", "--nonce", NONCE,
                 "-o", out]) == 2
    assert "--trust-root is required" in capsys.readouterr().err


@pytest.mark.socket
@pytest.mark.slow
def test_export_eat_from_a_tsm_held_device(short_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    socket_path, token = str(short_dir / "tsm.sock"), short_dir / "dat.cbor"
    with emulate(short_dir) as (url, root):
        service = subprocess.Popen(
            [sys.executable, "-m", "devsec", "tsm", "serve", "--backend", "native", "--trust-root", str(root),
             "--socket", socket_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert service.stdout is not None
            assert "listening on" in service.stdout.readline()
            assert main(["tsm", "connect", url, "--socket", socket_path]) == 0
            assert main(["tsm", "bind", url, "--tdi", "0000:01:00.1", "--socket", socket_path]) == 0
            capsys.readouterr()
            assert main(["evidence", "export", url, "--format", "eat", "--nonce", NONCE, "-o", str(token),
                         "--tsm", socket_path, "--tdi", "0000:01:00.1"]) == 0
            assert "EAT-DA token (UCCS)" in capsys.readouterr().out
            assert main(["tsm", "disconnect", url, "--socket", socket_path]) == 0
            capsys.readouterr()
        finally:
            service.terminate()
            assert service.wait(timeout=20) == 0
    assert main(["evidence", "verify", str(token), "--nonce", NONCE, "--trust-root", str(root),
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verified"] is True and doc["interface_report"]["signed"] is False
    assert doc["interface_report"]["mmio_ranges"] >= 1
