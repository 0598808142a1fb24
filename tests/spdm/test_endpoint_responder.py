"""The responder's SPDM 1.3 endpoint messages against the device model: ENDPOINT_INFO, the MEL, key pairs.

Driven with raw requests (no requester), so what is checked is the bytes the
device answers: the class identifier it keeps, ENDPOINT_INFO signatures that
verify over IL1 = A ‖ GET_ENDPOINT_INFO ‖ ENDPOINT_INFO-without-signature
with the slot's leaf key, MEL portions that reassemble to the log the
device extended, key pair info and SET_KEY_PAIR_INFO within the key pair's
capabilities, and the refusals (missing capability, version, bad IDs).
"""

from __future__ import annotations

from functools import cache

import pytest

from spdm.config import DEFAULT_REQUESTER_CAPS, DEFAULT_RESPONDER_CAPS, ResponderConfig
from spdm.crypto import verify
from spdm.crypto.certs import parse_der_certificates
from spdm.device import DeviceModel
from spdm.device_endpoint import DEFAULT_CLASS_IDENTIFIER, EndpointData, KeyPair
from spdm.errors import SpdmErrorCode
from spdm.messages import (
    AlgStruct,
    CodecContext,
    EndpointInfo,
    ErrorResponse,
    GetCapabilities,
    GetEndpointInfo,
    GetKeyPairInfo,
    GetMeasurementExtensionLog,
    GetVersion,
    KeyPairInfo,
    MeasurementExtensionLog,
    NegotiateAlgorithms,
    SetKeyPairInfo,
    SetKeyPairInfoAck,
)
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, ResponseCode, SpdmVersion
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.mel import Mel
from spdm.responder import Responder

V = 0x13
ENDPOINT_CAPS = F.EP_INFO_CAP_SIG | F.MEL_CAP | F.GET_KEY_PAIR_INFO_CAP | F.SET_KEY_PAIR_INFO_CAP
SIGNED = CodecContext(hash_size=48, signature_size=96, signed=True)
NONCE = bytes(range(32))
STRUCTS = (AlgStruct(2, 0x10), AlgStruct(3, 0x2), AlgStruct(5, 0x1))
INVALID = SpdmErrorCode.INVALID_REQUEST


@cache
def _identities() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384, slots=(0, 4))


def _model() -> DeviceModel:
    """A fresh endpoint store per test (it is mutable)."""
    model = _identities()
    return model.with_endpoint(EndpointData.for_slots(model.provisioned_slots(), 0x80))


class Device:
    """A responder after VCA at ``version`` (P-384, SHA-384), and the A it saw."""

    def __init__(self, model: DeviceModel, caps: F = DEFAULT_RESPONDER_CAPS | ENDPOINT_CAPS,
                 version: int = V, data_transfer_size: int = 0x1200) -> None:
        self.model = model
        self.responder = Responder(ResponderConfig(capabilities=caps), model)
        self.a = b""
        requests = [
            GetVersion().encode(),
            GetCapabilities(spdm_version=version, ct_exponent=12, flags=int(DEFAULT_REQUESTER_CAPS),
                            data_transfer_size=data_transfer_size,
                            max_spdm_msg_size=data_transfer_size).encode(),
            NegotiateAlgorithms(spdm_version=version, measurement_specification=1,
                                other_params_support=2, base_asym_algo=0x80, base_hash_algo=0x2,
                                alg_structs=STRUCTS).encode(),
        ]
        for request in requests:
            response = self.responder.handle(request)
            assert response[1] != ResponseCode.ERROR, response.hex()
            self.a += request + response

    def ask(self, request: bytes) -> bytes:
        return self.responder.handle(request)


def _error(answer: bytes) -> SpdmErrorCode:
    assert answer[1] == ResponseCode.ERROR, answer[:4].hex()
    return SpdmErrorCode(ErrorResponse.decode(answer).error_code)


def _leaf_key(model: DeviceModel, slot: int) -> object:
    chain = model.certificate_chain(slot, BaseHashAlgo.SHA_384)
    assert chain is not None
    return parse_der_certificates(chain[4 + 48:])[-1].public_key()


def test_unsigned_endpoint_info_is_the_class_identifier() -> None:
    device = Device(_model())
    answer = EndpointInfo.decode(device.ask(GetEndpointInfo(spdm_version=V, subcode=1).encode()))
    assert answer.ep_info == DEFAULT_CLASS_IDENTIFIER.encode() and answer.nonce is None


@pytest.mark.parametrize("slot", [0, 4])
def test_signed_endpoint_info_verifies_over_il1_with_the_slot_key(slot: int) -> None:
    device = Device(_model())
    request = GetEndpointInfo(spdm_version=V, subcode=1, slot_id=slot, request_attributes=1,
                              nonce=NONCE).encode()
    raw = device.ask(request)
    info = EndpointInfo.decode(raw, SIGNED)
    assert info.slot_id == slot and info.nonce is not None and len(info.signature) == 96
    key = _leaf_key(device.model, slot)
    verify(key, BaseAsymAlgo.ECDSA_P384, BaseHashAlgo.SHA_384, SpdmVersion.V13,  # type: ignore[arg-type]
           "responder-endpoint_info signing", device.a + request + info.signed_part, info.signature)


@pytest.mark.parametrize("slot, code", [(1, INVALID), (0xF, INVALID)])
def test_signed_endpoint_info_needs_a_provisioned_slot(slot: int, code: SpdmErrorCode) -> None:
    device = Device(_model())
    request = GetEndpointInfo(spdm_version=V, subcode=1, slot_id=slot, request_attributes=1, nonce=NONCE)
    assert _error(device.ask(request.encode())) == code


def test_unknown_subcode_is_invalid() -> None:
    device = Device(_model())
    assert _error(device.ask(GetEndpointInfo(spdm_version=V, subcode=2).encode())) == INVALID


def test_a_signature_needs_ep_info_cap_sig() -> None:
    device = Device(_model(), caps=DEFAULT_RESPONDER_CAPS | F.EP_INFO_CAP_NO_SIG)
    assert EndpointInfo.decode(device.ask(GetEndpointInfo(spdm_version=V, subcode=1).encode()))
    request = GetEndpointInfo(spdm_version=V, subcode=1, request_attributes=1, nonce=NONCE)
    assert _error(device.ask(request.encode())) == SpdmErrorCode.UNSUPPORTED_REQUEST


@pytest.mark.parametrize("request_", [
    GetEndpointInfo(spdm_version=V, subcode=1), GetMeasurementExtensionLog(spdm_version=V, length=0x100),
    GetKeyPairInfo(spdm_version=V, key_pair_id=1),
    SetKeyPairInfo(spdm_version=V, operation=1, key_pair_id=1),
])
def test_each_request_needs_its_capability(request_: object) -> None:
    device = Device(_model(), caps=DEFAULT_RESPONDER_CAPS)
    assert _error(device.ask(request_.encode())) == SpdmErrorCode.UNSUPPORTED_REQUEST  # type: ignore[attr-defined]


def test_the_requests_do_not_exist_before_1_3() -> None:
    device = Device(_model(), version=0x12)
    request = GetEndpointInfo(spdm_version=0x12, subcode=1).encode()
    assert _error(device.ask(request)) == SpdmErrorCode.UNSUPPORTED_REQUEST


def test_mel_portions_reassemble_to_what_the_device_extended() -> None:
    model = _model()
    for n in range(12):
        model.endpoint.extend(0x11, 0x89, f"component {n}".encode())
    device = Device(model)
    whole = b""
    while True:
        answer = MeasurementExtensionLog.decode(device.ask(
            GetMeasurementExtensionLog(spdm_version=V, offset=len(whole), length=40).encode()))
        assert len(answer.portion) <= 40
        whole += answer.portion
        if answer.remainder_length == 0:
            break
    mel = Mel.decode(whole)
    assert [e.mel_index for e in mel.entries] == list(range(1, 13))
    assert mel.entries[3].value == b"component 3" and mel.entries[3].measurement_index == 0x11


def test_mel_portion_is_bounded_by_the_requesters_transfer_size() -> None:
    model = _model()
    for n in range(40):
        model.endpoint.extend(0x11, 0x89, bytes(20) + bytes([n]))
    device = Device(model, data_transfer_size=0x100)
    answer = MeasurementExtensionLog.decode(device.ask(
        GetMeasurementExtensionLog(spdm_version=V, offset=0, length=0x10000).encode()))
    assert len(answer.encode()) == 0x100
    assert len(answer.portion) + answer.remainder_length == len(model.endpoint.mel.encode())


def test_mel_offset_past_the_end_is_invalid() -> None:
    device = Device(_model())
    empty = MeasurementExtensionLog.decode(device.ask(
        GetMeasurementExtensionLog(spdm_version=V, offset=0, length=100).encode()))
    assert empty.portion == Mel().encode() and empty.remainder_length == 0
    request = GetMeasurementExtensionLog(spdm_version=V, offset=17, length=100).encode()
    assert _error(device.ask(request)) == SpdmErrorCode.INVALID_REQUEST


def test_key_pair_info_reports_the_slot_key_pairs() -> None:
    device = Device(_model())
    info = KeyPairInfo.decode(device.ask(GetKeyPairInfo(spdm_version=V, key_pair_id=5).encode()))
    assert (info.total_key_pairs, info.key_pair_id, info.assoc_cert_slot_mask) == (8, 5, 1 << 4)
    assert info.current_asym_algo == 0x80 and info.current_key_usage == 0xF
    for bad in (0, 9):
        assert _error(device.ask(GetKeyPairInfo(spdm_version=V, key_pair_id=bad).encode())) == \
            SpdmErrorCode.INVALID_REQUEST


ERASABLE = KeyPair(1, 0x3F, 0x1, 0x1, 0x1FF, 0x1, 0x3, bytes.fromhex("300d06092a864886f70d0101010500"))


def test_set_key_pair_info_changes_and_erases_within_the_capabilities() -> None:
    model = _identities().with_endpoint(EndpointData(key_pairs=[ERASABLE]))
    device = Device(model)
    change = SetKeyPairInfo(spdm_version=V, operation=0, key_pair_id=1, desired_key_usage=1,
                            desired_asym_algo=0x10, desired_assoc_cert_slot_mask=0x1)
    assert SetKeyPairInfoAck.decode(device.ask(change.encode()))
    info = KeyPairInfo.decode(device.ask(GetKeyPairInfo(spdm_version=V, key_pair_id=1).encode()))
    assert (info.current_asym_algo, info.assoc_cert_slot_mask) == (0x10, 0x1)
    erase = SetKeyPairInfo(spdm_version=V, operation=1, key_pair_id=1)
    assert SetKeyPairInfoAck.decode(device.ask(erase.encode()))
    info = KeyPairInfo.decode(device.ask(GetKeyPairInfo(spdm_version=V, key_pair_id=1).encode()))
    assert (info.current_key_usage, info.current_asym_algo, info.assoc_cert_slot_mask) == (0, 0, 0)


@pytest.mark.parametrize("request_", [
    SetKeyPairInfo(spdm_version=V, operation=1, key_pair_id=1),  # the slot key pairs are not erasable
    SetKeyPairInfo(spdm_version=V, operation=0, key_pair_id=1, desired_key_usage=0, desired_asym_algo=0x3,
                   desired_assoc_cert_slot_mask=0),  # two algorithms at once
    SetKeyPairInfo(spdm_version=V, operation=2, key_pair_id=1, desired_key_usage=0, desired_asym_algo=0,
                   desired_assoc_cert_slot_mask=0),  # no key generation
    SetKeyPairInfo(spdm_version=V, operation=1, key_pair_id=9),
])
def test_set_key_pair_info_refusals(request_: SetKeyPairInfo) -> None:
    assert _error(Device(_model()).ask(request_.encode())) == SpdmErrorCode.INVALID_REQUEST
