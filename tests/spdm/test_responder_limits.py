"""Bounds on what a peer can make a responder (or a requester) keep (fuzz findings 09 and 10).

* 10: transcripts B and M grew by every repeated GET_CERTIFICATE and unsigned
  GET_MEASUREMENTS.  They are bounded (``spdm.transcript.MAX_MESSAGE_B_SIZE``,
  ``MAX_MESSAGE_M_SIZE``); the exchange that would pass the bound is answered
  ERROR Unspecified as libspdm does, M starts over, B waits for GET_DIGESTS.
  The requester keeps the same bound on what a device makes it buffer.
* 09: basic mutual authentication kept every delivered CERTIFICATE portion of
  the requester's chain with no bound.  A chain past 65535 bytes (or a mut_B
  past the B bound) is answered InvalidResponseCode, as libspdm does, and
  ends the encapsulated flow: repeating the delivery keeps nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

import pytest

from devsec.emulator import EmulatedDevice
from spdm.config import (
    DEFAULT_REQUESTER_CAPS,
    DEFAULT_RESPONDER_CAPS,
    RequesterConfig,
    ResponderConfig,
)
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.errors import RemoteErrorResponse, RemoteProtocolError, SpdmErrorCode
from spdm.events import MeasurementsReceived, SessionEstablished
from spdm.messages import (
    AlgStruct,
    Certificate,
    Challenge,
    DeliverEncapsulatedResponse,
    Digests,
    EncapsulatedResponseAck,
    ErrorResponse,
    GetCapabilities,
    GetCertificate,
    GetDigests,
    GetEncapsulatedRequest,
    GetMeasurements,
    GetVersion,
    NegotiateAlgorithms,
)
from spdm.messages.codes import BaseAsymAlgo, ResponseCode
from spdm.messages.codes import CapabilityFlags as F
from spdm.requester import Requester
from spdm.responder import Responder
from spdm.transcript import MAX_MESSAGE_B_SIZE, MAX_MESSAGE_M_SIZE

V = 0x13
GET_CERTIFICATE = GetCertificate(spdm_version=V, slot_id=0, offset=0, length=0xFFFF).encode()
UNSIGNED_ALL = GetMeasurements(spdm_version=V, attributes=0, operation=0xFF,
                               requester_context=bytes(8)).encode()


@cache
def _model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)


@cache
def _host() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384, role="requester")


def _negotiated(config: ResponderConfig, requester_flags: F = DEFAULT_REQUESTER_CAPS) -> Responder:
    """A device after VCA (1.3, P-384, SHA-384) and GET_DIGESTS, as the reproducers drive it."""
    responder = EmulatedDevice(config, _model()).responder
    responder.handle(GetVersion().encode())
    responder.handle(GetCapabilities(spdm_version=V, ct_exponent=12, flags=int(requester_flags),
                                     data_transfer_size=0x1200, max_spdm_msg_size=0x1200).encode())
    structs: tuple[AlgStruct, ...] = (AlgStruct(2, 0x10), AlgStruct(3, 0x2), AlgStruct(5, 0x1))
    if requester_flags & F.MUT_AUTH_CAP:
        structs += (AlgStruct(4, 0x80),)
    structs = tuple(sorted(structs, key=lambda s: s.alg_type))
    responder.handle(NegotiateAlgorithms(
        spdm_version=V, measurement_specification=1, other_params_support=2, base_asym_algo=0x80,
        base_hash_algo=0x2, alg_structs=structs).encode())
    responder.handle(GetDigests(spdm_version=V).encode())
    return responder


def _error(answer: bytes) -> SpdmErrorCode:
    assert answer[1] == ResponseCode.ERROR, answer[:4].hex()
    return SpdmErrorCode(ErrorResponse.decode(answer).error_code)


def _repeat_until_refused(responder: Responder, request: bytes, most: int) -> int:
    """Send ``request`` until it is answered ERROR; how many were answered normally."""
    for sent in range(most):
        answer = responder.handle(request)
        if answer[1] == ResponseCode.ERROR:
            assert _error(answer) == SpdmErrorCode.UNSPECIFIED
            return sent
    raise AssertionError(f"still answered after {most} requests")


# --- finding 10: transcripts B and M ----------------------------------------------------------

def test_repeated_get_certificate_stops_at_the_b_bound_with_unspecified() -> None:
    responder = _negotiated(ResponderConfig())
    per_request = len(GET_CERTIFICATE) + len(responder.handle(GET_CERTIFICATE))
    answered = _repeat_until_refused(responder, GET_CERTIFICATE, MAX_MESSAGE_B_SIZE // per_request + 2)
    assert answered + 1 == MAX_MESSAGE_B_SIZE // per_request
    held = len(responder.transcript.b)
    assert held <= MAX_MESSAGE_B_SIZE
    # B stays full (every further GET_CERTIFICATE is refused and adds nothing) until GET_DIGESTS
    assert _error(responder.handle(GET_CERTIFICATE)) == SpdmErrorCode.UNSPECIFIED
    assert len(responder.transcript.b) == held
    assert responder.handle(GetDigests(spdm_version=V).encode())[1] == ResponseCode.DIGESTS
    assert responder.handle(GET_CERTIFICATE)[1] == ResponseCode.CERTIFICATE


def test_repeated_unsigned_measurements_stop_at_the_m_bound_and_m_starts_over() -> None:
    responder = _negotiated(ResponderConfig())
    per_request = len(UNSIGNED_ALL) + len(responder.handle(UNSIGNED_ALL))
    answered = _repeat_until_refused(responder, UNSIGNED_ALL, MAX_MESSAGE_M_SIZE // per_request + 2)
    assert answered + 1 == MAX_MESSAGE_M_SIZE // per_request
    assert len(responder.transcript.m) == 0  # an ERROR to GET_MEASUREMENTS resets M
    assert responder.handle(UNSIGNED_ALL)[1] == ResponseCode.MEASUREMENTS


def test_the_requester_bounds_what_a_device_makes_it_keep_in_m() -> None:
    device = EmulatedDevice(ResponderConfig(), _model())
    requester = Requester(RequesterConfig(trust_anchors=(_model().root_certificate(),)))
    driver = RequesterDriver(device.pipe(), requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms):
        driver.run(command)
    driver.run(lambda: requester.get_measurements(signed=False))
    # a device that never says "enough" (its own M is fine; ours is at the edge)
    requester.transcript.m += bytes(MAX_MESSAGE_M_SIZE - len(requester.transcript.m) - 10)
    held = len(requester.transcript.m)
    with pytest.raises(RemoteProtocolError, match="transcript M") as refused:
        driver.run(lambda: requester.get_measurements(signed=False))
    assert refused.value.error_code == SpdmErrorCode.UNSPECIFIED
    assert len(requester.transcript.m) == held


def test_a_session_m_is_bounded_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("spdm.transcript.MAX_MESSAGE_M_SIZE", 0x1000)  # a few exchanges, not thousands
    device = EmulatedDevice(ResponderConfig(), _model())
    requester = Requester(RequesterConfig(trust_anchors=(_model().root_certificate(),)))
    driver = RequesterDriver(device.pipe(), requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests, lambda: requester.get_certificate(0, now=datetime.now(UTC))):
        driver.run(command)
    [sid] = [e.session_id for e in driver.run(requester.key_exchange) if isinstance(e, SessionEstablished)]
    for _ in range(0x1000):
        try:
            driver.run(lambda: requester.get_measurements(signed=False, session_id=sid))
        except RemoteErrorResponse as refused:
            assert refused.code == SpdmErrorCode.UNSPECIFIED
            break
    else:
        raise AssertionError("the session's M grew past its bound")
    assert requester.sessions[sid].message_m == b""  # both sides start over, and go on
    assert any(isinstance(e, MeasurementsReceived) for e in driver.run(
        lambda: requester.get_measurements(signed=False, session_id=sid)))


# --- finding 09: basic mutual authentication ---------------------------------------------------

def _pulling_the_requester_chain() -> tuple[Responder, int]:
    """CHALLENGE asked for basic mutual auth and the requester delivered its DIGESTS:
    the device asks for the chain.  Returns the device and the pending request ID."""
    config = ResponderConfig(capabilities=DEFAULT_RESPONDER_CAPS | F.MUT_AUTH_CAP | F.ENCAP_CAP,
                             mutual_auth=True, requester_trust_anchors=(_host().root_certificate(),),
                             # a buffer that takes the reproducer's 64 KiB delivery whole (a smaller
                             # one answers it RequestTooLarge before the flow sees it)
                             data_transfer_size=0x20000, max_spdm_msg_size=0x20000)
    responder = _negotiated(config, DEFAULT_REQUESTER_CAPS | F.MUT_AUTH_CAP | F.ENCAP_CAP)
    responder.handle(GET_CERTIFICATE)
    answer = responder.handle(Challenge(spdm_version=V, slot_id=0, nonce=bytes(32),
                                        requester_context=bytes(8)).encode())
    assert answer[1] == ResponseCode.CHALLENGE_AUTH and answer[2] & 0x80, "basic mutual auth asked"
    responder.handle(GetEncapsulatedRequest(spdm_version=V).encode())
    negotiated = responder.negotiated
    assert negotiated is not None
    digests = Digests(spdm_version=V, supported_slot_mask=1, provisioned_slot_mask=1,
                      digests=(bytes(48),)).encode(negotiated.codec())
    ack = EncapsulatedResponseAck.decode(responder.handle(
        DeliverEncapsulatedResponse(spdm_version=V, request_id=1, encapsulated_response=digests).encode()))
    return responder, ack.request_id


def _deliver(responder: Responder, request_id: int, portion: bytes, remainder: int) -> bytes:
    certificate = Certificate(spdm_version=V, slot_id=0, remainder_length=remainder,
                              cert_chain=portion).encode()
    return responder.handle(DeliverEncapsulatedResponse(
        spdm_version=V, request_id=request_id, encapsulated_response=certificate).encode())


def test_a_requester_chain_past_65535_bytes_is_refused_and_ends_the_flow() -> None:
    responder, request_id = _pulling_the_requester_chain()
    answer = _deliver(responder, request_id, bytes(0xFFFF), 1)  # the reproducer's delivery
    assert _error(answer) == SpdmErrorCode.INVALID_RESPONSE_CODE
    # the flow is over: the same delivery again is not kept, however often it comes
    for _ in range(3):
        assert _error(_deliver(responder, request_id, bytes(0xFFFF), 1)) == SpdmErrorCode.UNEXPECTED_REQUEST


def test_portions_adding_up_past_65535_bytes_are_refused() -> None:
    responder, request_id = _pulling_the_requester_chain()
    ack = EncapsulatedResponseAck.decode(_deliver(responder, request_id, bytes(0x8000), 1))
    answer = _deliver(responder, ack.request_id, bytes(0x7FFF), 1)
    assert _error(answer) == SpdmErrorCode.INVALID_RESPONSE_CODE


def test_mut_b_is_bounded_like_b(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1-byte portions keep the chain small but add 17 bytes of mut_B each; a small bound shows it
    monkeypatch.setattr("spdm.responder.encap.MAX_MESSAGE_B_SIZE", 0x400)
    responder, request_id = _pulling_the_requester_chain()
    for _ in range(0x400):
        answer = _deliver(responder, request_id, b"\x00", 1)
        if answer[1] == ResponseCode.ERROR:
            assert _error(answer) == SpdmErrorCode.INVALID_RESPONSE_CODE
            return
        request_id = EncapsulatedResponseAck.decode(answer).request_id
    raise AssertionError("mut_B grew past its bound")
