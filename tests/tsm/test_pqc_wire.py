"""The TSM info document of a post-quantum device (:mod:`tsm.wire`): ML-DSA by type, ML-KEM named.

An ML-DSA signing algorithm travels as ``asym_alg`` 0 beside ``pqc_asym_alg``
(the ALGORITHMS layout); a classic device's document has neither that key nor
``kem_alg``, so it is what it was, and a document written before them decodes
as before.  What cannot be one algorithm is a DecodeError.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from spdm.errors import DecodeError
from spdm.messages.codes import BaseAsymAlgo, KemAlgo, PqcAsymAlgo
from tsm import DeviceInfo, DeviceTarget, TsmConfig, open_backend
from tsm.wire import decode_info, encode_info

from .helpers import new_board, tsm_config
from .test_pqc_backends import pqc_config, pqc_device


def _connect(config: TsmConfig, target: DeviceTarget) -> DeviceInfo:
    tsm = open_backend("native", config)
    try:
        info = tsm.connect(target)
    finally:
        tsm.close()
    return info


@pytest.fixture(scope="module")
def pqc_info() -> DeviceInfo:
    return _connect(pqc_config(), pqc_device(0xE4).target)


@pytest.fixture(scope="module")
def classic_info() -> DeviceInfo:
    return _connect(tsm_config(), new_board(1).target)


def document(info: DeviceInfo) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(encode_info(info))
    return doc


def test_mldsa_travels_as_pqc_asym_alg_and_comes_back_as_a_pqc_asym_algo(pqc_info: DeviceInfo) -> None:
    device = document(pqc_info)["device"]
    assert (device["asym_alg"], device["pqc_asym_alg"], device["kem_alg"]) == (
        0, int(PqcAsymAlgo.ML_DSA_65), int(KemAlgo.ML_KEM_768))
    assert all((s["asym_alg"], s["pqc_asym_alg"]) == (0, int(PqcAsymAlgo.ML_DSA_65))
               for s in device["signatures"])
    decoded = decode_info(encode_info(pqc_info))
    assert isinstance(decoded, DeviceInfo) and decoded == pqc_info
    assert type(decoded.asym_alg) is PqcAsymAlgo and decoded.kem_alg == KemAlgo.ML_KEM_768
    assert all(type(s.asym_alg) is PqcAsymAlgo for s in decoded.signatures)


def test_a_classic_document_is_unchanged_and_an_old_one_still_decodes(classic_info: DeviceInfo) -> None:
    device = document(classic_info)["device"]
    assert "pqc_asym_alg" not in device and "kem_alg" not in device
    assert all("pqc_asym_alg" not in s for s in device["signatures"])
    assert device["asym_alg"] == int(BaseAsymAlgo.ECDSA_P384)
    decoded = decode_info(encode_info(classic_info))
    assert isinstance(decoded, DeviceInfo)
    assert type(decoded.asym_alg) is BaseAsymAlgo and decoded.kem_alg == KemAlgo(0)
    assert all(type(s.asym_alg) is BaseAsymAlgo for s in decoded.signatures)


def _signature(key: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["device"]["signatures"][0].__setitem__(key, value)


MANGLED: dict[str, Callable[[dict[str, Any]], None]] = {
    "an ML-DSA signature that also names a classic algorithm": _signature("asym_alg", 2),
    "a signature by two ML-DSA sets": _signature("pqc_asym_alg", 3),
    "a signature by an undefined ML-DSA bit": _signature("pqc_asym_alg", 8),
    "pqc_asym_alg as text": _signature("pqc_asym_alg", "ml-dsa-65"),
    "a device naming a classic algorithm too": lambda doc: doc["device"].__setitem__("asym_alg", 1),
    "kem_alg as text": lambda doc: doc["device"].__setitem__("kem_alg", "ml-kem-768"),
}


@pytest.mark.parametrize("mangle", MANGLED.values(), ids=MANGLED.keys())
def test_what_is_no_one_signing_algorithm_is_a_decode_error(pqc_info: DeviceInfo,
                                                           mangle: Callable[[dict[str, Any]], None]) -> None:
    doc = document(pqc_info)
    mangle(doc)
    with pytest.raises(DecodeError):
        decode_info(json.dumps(doc).encode())
