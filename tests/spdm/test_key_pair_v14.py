"""SPDM 1.4 key pairs: the PqcAsymAlgo fields of KEY_PAIR_INFO and SET_KEY_PAIR_INFO, both roles.

The expected bytes are written out field by field from libspdm's 1.4 layout (its responder
appends ``PqcAsymAlgoCapLen(1)=4, PqcAsymAlgoCapabilities(4), CurrentPqcAsymAlgoLen(1)=4,
CurrentPqcAsymAlgo(4)`` after PublicKeyInfo; a Change/Generate SET_KEY_PAIR_INFO ends with
``DesiredPqcAsymAlgoLen(1)=4, DesiredPqcAsymAlgo(4)``), not produced by our codec.  Then an
ML-DSA-65 device reports its key pairs' algorithm in the PQC field (and 0 in the classic one),
and a key pair changes between PQC algorithms.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache

import pytest

from devsec.emulator import EmulatedDevice
from spdm.config import DEFAULT_REQUESTER_CAPS, DEFAULT_RESPONDER_CAPS, RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.device_endpoint import EndpointData, KeyPair
from spdm.driver import RequesterDriver
from spdm.errors import DecodeError
from spdm.events import KeyPairInfoReceived
from spdm.messages.codes import (
    CapabilityFlags,
    KemAlgo,
    KeyPairCapabilities,
    KeyPairOperation,
    PqcAsymAlgo,
    SpdmVersion,
)
from spdm.messages.key_pair import KeyPairInfo, SetKeyPairInfo
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import Requester

NOW = datetime.now(UTC)
SPKI = bytes.fromhex("300b0609608648016503040312")  # id-ml-dsa-65 AlgorithmIdentifier
ML_DSA_65, ML_DSA_44 = int(PqcAsymAlgo.ML_DSA_65), int(PqcAsymAlgo.ML_DSA_44)


def _key_pair_info(version: int, tail: bytes) -> bytes:
    return (bytes([version, 0x7C, 0, 0, 2, 1]) + struct.pack("<HHHIIHB", 0x14, 0x0F, 0x0F, 0, 0, len(SPKI), 1)
            + SPKI + tail)


def test_key_pair_info_carries_the_pqc_algorithms_from_1_4() -> None:
    wire = _key_pair_info(0x14, b"\x04" + struct.pack("<I", 0x07) + b"\x04" + struct.pack("<I", ML_DSA_65))
    message = KeyPairInfo.decode(wire)
    assert (message.pqc_asym_algo_capabilities, message.current_pqc_asym_algo) == (0x07, ML_DSA_65)
    assert (message.asym_algo_capabilities, message.current_asym_algo) == (0, 0)
    assert message.public_key_info == SPKI
    assert message.encode() == wire


def test_a_1_3_key_pair_info_has_no_pqc_tail() -> None:
    wire = _key_pair_info(0x13, b"")
    assert KeyPairInfo.decode(wire).encode() == wire
    with pytest.raises(DecodeError):  # the 1.4 tail is trailing bytes in 1.3
        KeyPairInfo.decode(wire + b"\x04" + bytes(4) + b"\x04" + bytes(4))


@pytest.mark.parametrize("tail", [b"", b"\x04" + bytes(4), b"\x05" + bytes(5) + b"\x04" + bytes(4),
                                  b"\x04" + bytes(4) + b"\x02" + bytes(2)],
                         ids=["missing", "half", "cap-length-5", "current-length-2"])
def test_a_malformed_pqc_tail_is_refused(tail: bytes) -> None:
    with pytest.raises(DecodeError):
        KeyPairInfo.decode(_key_pair_info(0x14, tail))


def test_set_key_pair_info_carries_the_desired_pqc_algorithm_from_1_4() -> None:
    change = bytes([0x14, 0xFD, KeyPairOperation.CHANGE, 0, 3, 0]) + struct.pack("<HIB", 0x01, 0, 0x02) \
        + b"\x04" + struct.pack("<I", ML_DSA_44)
    message = SetKeyPairInfo.decode(change)
    assert (message.key_pair_id, message.desired_key_usage) == (3, 1)
    assert message.desired_pqc_asym_algo == ML_DSA_44
    assert message.encode() == change
    erase = bytes([0x14, 0xFD, KeyPairOperation.ERASE, 0, 3])
    assert SetKeyPairInfo.decode(erase).desired_pqc_asym_algo is None
    built = SetKeyPairInfo(spdm_version=0x14, operation=KeyPairOperation.ERASE, key_pair_id=3).encode()
    assert built == erase
    legacy = change[:-5].replace(b"\x14", b"\x13", 1)  # 1.3: no DesiredPqcAsymAlgo
    assert SetKeyPairInfo.decode(legacy).desired_pqc_asym_algo is None


@cache
def _mldsa_model() -> DeviceModel:
    return DeviceModel.generate(PqcAsymAlgo.ML_DSA_65)


def _pair(model: DeviceModel) -> tuple[Requester, RequesterDriver]:
    prefs = replace(AlgorithmPreferences(), pqc_asym_algs=(PqcAsymAlgo.ML_DSA_65,),
                    kem_algs=(KemAlgo.ML_KEM_768,))
    caps = CapabilityFlags.GET_KEY_PAIR_INFO_CAP | CapabilityFlags.SET_KEY_PAIR_INFO_CAP
    device = EmulatedDevice(ResponderConfig(versions=(SpdmVersion.V14,), algorithms=prefs,
                                            capabilities=DEFAULT_RESPONDER_CAPS | caps), model)
    requester = Requester(RequesterConfig(versions=(SpdmVersion.V14,), algorithms=prefs,
                                          capabilities=DEFAULT_REQUESTER_CAPS,
                                          trust_anchors=(model.root_certificate(),)))
    driver = RequesterDriver(device.pipe(), requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms):
        driver.run(command)
    return requester, driver


def _info(requester: Requester, driver: RequesterDriver, key_pair_id: int) -> KeyPairInfoReceived:
    [event] = [e for e in driver.run(lambda: requester.get_key_pair_info(key_pair_id))
               if isinstance(e, KeyPairInfoReceived)]
    return event


def test_an_mldsa_device_reports_its_key_pairs_algorithm_in_the_pqc_field() -> None:
    requester, driver = _pair(_mldsa_model())
    info = _info(requester, driver, 1)
    assert (info.current_pqc_asym_algo, info.pqc_asym_algo_capabilities) == (ML_DSA_65, ML_DSA_65)
    assert (info.current_asym_algo, info.asym_algo_capabilities) == (0, 0)
    assert info.assoc_cert_slot_mask == 0b1


def test_a_key_pair_changes_between_pqc_algorithms_and_never_holds_two() -> None:
    changeable = KeyPair(1, int(KeyPairCapabilities.ASYM_ALGO), 0x0F, 0x0F, 0x80, 0, 0, SPKI,
                         pqc_asym_algo_capabilities=ML_DSA_44 | ML_DSA_65, current_pqc_asym_algo=ML_DSA_65)
    requester, driver = _pair(_mldsa_model().with_endpoint(EndpointData(key_pairs=[changeable])))
    driver.run(lambda: requester.set_key_pair_info(1, pqc_asym_algo=ML_DSA_44))
    assert _info(requester, driver, 1).current_pqc_asym_algo == ML_DSA_44
    data = EndpointData(key_pairs=[changeable])
    with pytest.raises(ValueError, match="PQC algorithm"):
        data.set_key_pair(KeyPairOperation.CHANGE, 1, 0, 0x80, 0, ML_DSA_44)  # classic and PQC at once
    with pytest.raises(ValueError, match="PQC algorithm"):
        data.set_key_pair(KeyPairOperation.CHANGE, 1, 0, 0, 0, int(PqcAsymAlgo.ML_DSA_87))  # not offered
