"""``devsec emulate --asym ml-dsa-65 --kem ml-kem-768`` and ``devsec connect`` with the same flags:
an SPDM 1.4 post-quantum device (ML-DSA identity, ML-KEM sessions) end to end over TCP; and
``devsec dump`` of the reference's post-quantum capture with its ``--kem_secret`` lines."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from devsec.cli import build_parser, main
from devsec.cli.args import preferences, versions
from devsec.cli.emulate import device_from_args, model_from_args
from spdm.config import ALL_VERSIONS
from spdm.errors import ConfigurationError
from spdm.messages.codes import BaseAsymAlgo, KemAlgo, PqcAsymAlgo, SpdmVersion
from tests.devsec.test_cli import emulate
from tests.vectors import ROOT


def test_emulate_builds_an_mldsa_device_offering_mlkem() -> None:
    args = build_parser().parse_args(["emulate", "--asym", "ml-dsa-87", "--kem", "ml-kem-1024"])
    model = model_from_args(args)
    assert (model.pqc_asym_alg, model.asym_alg) == (PqcAsymAlgo.ML_DSA_87, BaseAsymAlgo(0))
    config = device_from_args(args, model).spdm.responder.config
    assert config.algorithms.pqc_asym_algs == (PqcAsymAlgo.ML_DSA_87,)
    assert config.algorithms.asym_algs == ()
    assert config.algorithms.kem_algs == (KemAlgo.ML_KEM_1024,)
    assert SpdmVersion.V14 in config.versions


def connect_args(*flags: str) -> argparse.Namespace:
    return build_parser().parse_args(["connect", "tcp://127.0.0.1:1", "--trust-root", "root.pem", *flags])


def test_connect_flags_split_classic_and_post_quantum_names() -> None:
    args = connect_args("--asym", "ecdsa-p384", "--asym", "ML-DSA-65", "--kem", "ml-kem-768")
    prefs = preferences(args)
    assert prefs.asym_algs == (BaseAsymAlgo.ECDSA_P384,)
    assert prefs.pqc_asym_algs == (PqcAsymAlgo.ML_DSA_65,)
    assert prefs.kem_algs == (KemAlgo.ML_KEM_768,)
    assert versions(args)[-1] == SpdmVersion.V14
    assert versions(connect_args())[-1] != SpdmVersion.V14 or SpdmVersion.V14 in ALL_VERSIONS
    assert versions(connect_args("--version", "1.3", "--kem", "ml-kem-768")) == (SpdmVersion.V13,)
    with pytest.raises(ConfigurationError, match="unknown KEM 'ml-kem-512'"):
        preferences(connect_args("--kem", "ml-kem-512"))


@pytest.mark.socket
def test_connect_negotiates_mldsa_and_mlkem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flags = ("--asym", "ml-dsa-65", "--kem", "ml-kem-768")
    with emulate(tmp_path, *flags) as (url, root):
        assert main(["connect", url, "--trust-root", str(root), "--session", "--json", *flags]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["verified"] is True and doc["challenge"]["verified"] is True
        assert doc["session"]["kind"] == "key_exchange" and doc["session"]["ended"]
        assert doc["session"]["measurements_signed"]
        assert doc["spdm_version"] == "1.4" and doc["algorithms"]["signature"] == "ml-dsa-65"
        assert (doc["session"]["kem"], doc["session"]["dhe"]) == ("ml-kem-768", None)
        assert main(["connect", url, "--trust-root", str(root), "--session", *flags]) == 0
        assert "session       0xffffffff KEY_EXCHANGE ml-kem-768, aes-256-gcm" in capsys.readouterr().out


def test_dump_decrypts_the_mlkem_sessions(capsys: pytest.CaptureFixture[str]) -> None:
    base = ROOT / "spdm14-mldsa65-mlkem768"
    assert main(["dump", str(base / "capture.pcap"), "--secrets", str(base / "secrets.txt")]) == 0
    out = capsys.readouterr().out
    assert "<encrypted>" not in out and "secured records decrypted: 16" in out
    assert "verified, 0 failed" in out and "SPDM_KEY_EXCHANGE_RSP" in out


@pytest.mark.socket
def test_connect_with_mldsa87_and_mlkem1024_in_larger_transfers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flags = ("--asym", "ml-dsa-87", "--kem", "ml-kem-1024", "--data-transfer-size", "0x1800")
    with emulate(tmp_path, *flags) as (url, root):
        assert main(["connect", url, "--trust-root", str(root), "--session", "--json", *flags]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["algorithms"]["signature"] == "ml-dsa-87" and doc["session"]["kem"] == "ml-kem-1024"
