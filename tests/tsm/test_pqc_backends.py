"""A post-quantum device through the TSM: an ML-DSA-65 identity and ML-KEM-768 sessions (SPDM 1.4).

The native backend, the psp-proxy backend (the requesters in another process,
the evidence crossing :mod:`tsm.wire`) and the TSM service's client connect
it, bind and accept a TDI, refresh the evidence: each must report what a
native TSM in this process reports (:func:`~tests.tsm.test_contract.same_as_native`),
and report it as ML-DSA (a PqcAsymAlgo: BaseAsymAlgo and PqcAsymAlgo share bit
values, so equality alone would not tell RSAPSS-2048 from ML-DSA-65), with
every signature verifying against the device's ML-DSA leaf and a tampered one
failing.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any

import pytest

from spdm.config import (
    ALL_VERSIONS,
    DEFAULT_REQUESTER_CAPS,
    DEFAULT_RESPONDER_CAPS,
    RequesterConfig,
    ResponderConfig,
)
from spdm.device import DeviceModel
from spdm.errors import VerificationError
from spdm.messages.codes import CapabilityFlags, KemAlgo, PqcAsymAlgo, SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from tsm import DeviceInfo, TsmConfig
from tsm.wire import decode_info, encode_info

from .helpers import check_signature
from .test_contract import BACKENDS, Device, device, opened, same_as_native

PREFERENCES = replace(AlgorithmPreferences(), pqc_asym_algs=(PqcAsymAlgo.ML_DSA_65,),
                      kem_algs=(KemAlgo.ML_KEM_768,))


@cache
def pqc_model() -> DeviceModel:
    """The ML-DSA-65 identity every post-quantum device here shares (the TSM trusts its root)."""
    return DeviceModel.generate(PqcAsymAlgo.ML_DSA_65)


def pqc_config() -> TsmConfig:
    """A TSM offering SPDM 1.4 with ML-DSA-65 and ML-KEM-768 only, chunking large messages."""
    return TsmConfig(RequesterConfig(
        versions=ALL_VERSIONS, algorithms=PREFERENCES,
        capabilities=DEFAULT_REQUESTER_CAPS | CapabilityFlags.CHUNK_CAP,
        trust_anchors=(pqc_model().root_certificate(),)))


def pqc_device(bus: int) -> Device:
    responder = ResponderConfig(algorithms=PREFERENCES,
                                capabilities=DEFAULT_RESPONDER_CAPS | CapabilityFlags.CHUNK_CAP)
    return device(bus, responder=responder, identity=pqc_model())


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def _post_quantum(evidence: dict[str, Any]) -> None:
    """An info's evidence (as the contract compares it) names ML-DSA-65 by type, and ML-KEM nowhere else."""
    assert evidence["version"] == SpdmVersion.V14
    assert type(evidence["asym_alg"]) is PqcAsymAlgo and evidence["asym_alg"] == PqcAsymAlgo.ML_DSA_65
    assert evidence["signatures"]
    assert all(type(s[3]) is PqcAsymAlgo and s[3] == PqcAsymAlgo.ML_DSA_65 for s in evidence["signatures"])


def test_every_backend_connects_an_mldsa_device_as_the_native_one_does(backend: str) -> None:
    seen = same_as_native(backend, pqc_config(), pqc_device)
    for step in ("connect", "refresh", "info"):
        status, evidence = seen[step]
        assert status == "ok", (step, evidence)
        _post_quantum(evidence)
    assert seen["accept"][0] == "ok"


@pytest.mark.parametrize("name", ["native", "psp-proxy"])
def test_the_info_names_the_kem_and_its_signatures_verify_and_fail_tampered(name: str) -> None:
    dev = pqc_device(0xE0 if name == "native" else 0xE1)
    with opened(name, pqc_config()) as tsm:
        info = tsm.connect(dev.target)
    assert (info.tsm, info.kem_alg, info.dhe_group) == (name, KemAlgo.ML_KEM_768, 0)
    assert type(info.asym_alg) is PqcAsymAlgo
    leaf = pqc_model().slots[0].certificates[-1]
    assert {s.context for s in info.signatures} >= {"responder-challenge_auth signing",
                                                     "responder-measurements signing"}
    for signature in info.signatures:
        check_signature(signature, leaf)
        tampered = bytearray(signature.signature)
        tampered[100] ^= 1
        with pytest.raises(VerificationError):
            check_signature(replace(signature, signature=bytes(tampered)), leaf)
    assert decode_info(encode_info(info)) == info
    assert type(_decoded(info).asym_alg) is PqcAsymAlgo


def _decoded(info: DeviceInfo) -> DeviceInfo:
    decoded = decode_info(encode_info(info))
    assert isinstance(decoded, DeviceInfo)
    return decoded
