"""The CLI's evidence of a post-quantum device (SPDM 1.4: an ML-DSA-65 identity, ML-KEM-768 sessions).

``devsec connect --sysfs`` renders it and ``devsec verify-log`` re-verifies
the ML-DSA signatures offline; ``devsec evidence export`` / ``verify`` carry
them in both formats (devsec-evidence/1 and the EAT-DA token); ``devsec tsm``
prints the algorithms by their names.  A tampered signature fails each.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import replace
from functools import cache
from pathlib import Path

import cbor2
import pytest

from devsec.cli import main
from devsec.cli.tsm import info_lines
from devsec.emulator import SecureDevice
from devsec.emulator import serving as serve_device
from spdm.config import (
    ALL_VERSIONS,
    DEFAULT_REQUESTER_CAPS,
    DEFAULT_RESPONDER_CAPS,
    RequesterConfig,
    ResponderConfig,
)
from spdm.device import DeviceModel
from spdm.messages.codes import CapabilityFlags, KemAlgo, PqcAsymAlgo
from spdm.negotiation import AlgorithmPreferences
from tsm import DeviceInfo, DeviceTarget, TsmConfig, open_backend

NONCE = "8d" * 16 + "5a" * 16
FLAGS = ("--asym", "ml-dsa-65")
PREFERENCES = replace(AlgorithmPreferences(), pqc_asym_algs=(PqcAsymAlgo.ML_DSA_65,),
                      kem_algs=(KemAlgo.ML_KEM_768,))
RESPONDER = ResponderConfig(algorithms=PREFERENCES,
                            capabilities=DEFAULT_RESPONDER_CAPS | CapabilityFlags.CHUNK_CAP)
MLDSA65_SIGNATURE_HEADER = b"\x59\x0c\xed"
"""CBOR's head of a 3309-byte byte string: an ML-DSA-65 signature inside a token."""


def _signatures(encoded: bytes) -> list[bytes]:
    """Every 3309-byte string in a token, byte strings that hold CBOR included.

    Found by decoding rather than by searching for the three-byte head: the
    head also turns up by chance in the random certificate bytes (about one
    run in a thousand, and twice then, since the transcript repeats the chain).
    """
    found: list[bytes] = []

    def walk(item: object) -> None:
        if isinstance(item, cbor2.CBORTag):
            walk(item.value)
        elif isinstance(item, Mapping):
            for value in item.values():
                walk(value)
        elif isinstance(item, list | tuple):
            for value in item:
                walk(value)
        elif isinstance(item, bytes) and len(item) == 3309:
            found.append(item)
        elif isinstance(item, bytes) and item[:1] == b"\xd9":  # a tagged item: the UCCS inside the CMW
            walk(cbor2.loads(item))

    walk(cbor2.loads(encoded))
    return found


@cache
def pqc_model() -> DeviceModel:
    return DeviceModel.generate(PqcAsymAlgo.ML_DSA_65)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The post-quantum device on an ephemeral port, in a thread; yields (url, root.pem)."""
    root = tmp_path / "root.pem"
    root.write_bytes(pqc_model().root_certificate_pem())
    with serve_device(SecureDevice(RESPONDER, pqc_model()).spdm) as url:
        yield url, root


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 1
    path.write_bytes(bytes(data))


@pytest.mark.socket
def test_connect_renders_mldsa_evidence_that_verify_log_rechecks(
        served: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, root = served
    sysfs = tmp_path / "sysfs"
    assert main(["connect", url, "--trust-root", str(root), "--sysfs", str(sysfs), "--bdf", "0000:3a:00.0",
                 "--session", *FLAGS, "--kem", "ml-kem-768"]) == 0
    out = capsys.readouterr().out
    assert "signature ml-dsa-65" in out and "KEY_EXCHANGE ml-kem-768" in out
    device = sysfs / "bus/pci/devices/0000:3a:00.0"
    assert (device / "spdm/asym_algorithm").read_text() == "ml-dsa-65\n"
    assert (device / "spdm/kem_algorithm").read_text() == "ml-kem-768\n"
    assert main(["verify-log", str(device), "--json"]) == 0
    verdicts = json.loads(capsys.readouterr().out)
    assert len(verdicts) >= 3 and all(v["ok"] and "ml-dsa-65 signature" in v["reason"] for v in verdicts)
    _flip(device / "signatures/1_signature", 1000)
    assert main(["verify-log", str(device), "--json"]) == 1
    verdicts = json.loads(capsys.readouterr().out)
    assert [v["entry"] for v in verdicts if not v["ok"]] == [1]


@pytest.mark.socket
def test_an_mldsa_bundle_exports_verifies_and_fails_tampered(
        served: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, root = served
    bundle = tmp_path / "evidence.json"
    assert main(["evidence", "export", url, "--nonce", NONCE, "-o", str(bundle), "--trust-root", str(root),
                 *FLAGS]) == 0
    doc = json.loads(bundle.read_text())
    assert (doc["spdm_version"], doc["algorithms"]["signature"]) == ("1.4", "ml-dsa-65")
    capsys.readouterr()
    verify = ["evidence", "verify", str(bundle), "--nonce", NONCE, "--trust-root", str(root), "--json"]
    assert main(verify) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["verified"] is True and verdict["algorithms_signed"] is True
    assert verdict["algorithms"]["signature"] == "ml-dsa-65"
    tampered = bytearray.fromhex(doc["signature"])
    tampered[1000] ^= 1
    bundle.write_text(json.dumps({**doc, "signature": tampered.hex()}))
    assert main(verify) == 1
    assert json.loads(capsys.readouterr().out)["kind"] == "VerificationError"
    # Stating a classic algorithm of the same number (RSAPSS-2048 is 2 too) does not pass either.
    bundle.write_text(json.dumps({**doc, "algorithms": {**doc["algorithms"], "signature": "rsapss-2048"}}))
    assert main(verify) == 1
    assert json.loads(capsys.readouterr().out)["verified"] is False


@pytest.mark.socket
def test_an_mldsa_eat_token_exports_verifies_and_fails_tampered(
        served: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url, root = served
    token = tmp_path / "evidence.cbor"
    assert main(["evidence", "export", url, "--nonce", NONCE, "-o", str(token), "--format", "eat",
                 "--trust-root", str(root), *FLAGS]) == 0
    capsys.readouterr()
    verify = ["evidence", "verify", str(token), "--nonce", NONCE, "--trust-root", str(root), "--json"]
    assert main(verify) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["verified"] is True and verdict["format"] == "eat-da"
    assert verdict["algorithms"]["signature"] == "ml-dsa-65" and verdict["challenge_verified"] is True
    data = token.read_bytes()
    signatures = [data.index(MLDSA65_SIGNATURE_HEADER + signature) for signature in _signatures(data)]
    assert len(signatures) == 2  # CHALLENGE_AUTH's and MEASUREMENTS'
    for start in signatures:
        token.write_bytes(data)
        _flip(token, start + len(MLDSA65_SIGNATURE_HEADER) + 1000)
        assert main(verify) == 1
        assert json.loads(capsys.readouterr().out)["kind"] == "VerificationError"


def test_tsm_info_lines_name_mldsa_and_mlkem() -> None:
    config = TsmConfig(RequesterConfig(versions=ALL_VERSIONS, algorithms=PREFERENCES,
                                       capabilities=DEFAULT_REQUESTER_CAPS | CapabilityFlags.CHUNK_CAP,
                                       trust_anchors=(pqc_model().root_certificate(),)))
    tsm = open_backend("native", config)
    try:
        info = tsm.connect(DeviceTarget("0000:01:00.0", SecureDevice(RESPONDER, pqc_model()).spdm.mailbox))
    finally:
        tsm.close()
    assert isinstance(info, DeviceInfo)
    assert "SPDM 1.4, sha384, ml-dsa-65, ml-kem-768" in "\n".join(info_lines(info))
