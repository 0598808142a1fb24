"""Property tests for spdm.responder: no input makes it raise or answer malformed bytes.

Random bytes, and bit flips, truncations and extensions of valid requests,
are thrown at responders in every connection state.  Every answer must decode
as an SPDM response; input that does not decode as a request must be refused
with InvalidRequest, UnexpectedRequest, UnsupportedRequest or VersionMismatch;
and an ERROR must never change the connection state.
"""

from __future__ import annotations

from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spdm.config import ResponderConfig
from spdm.device import DeviceModel
from spdm.errors import DecodeError, SpdmErrorCode
from spdm.messages import (
    NO_CONTEXT,
    REQUEST_TYPES,
    RESPONSE_TYPES,
    AlgStruct,
    Challenge,
    ErrorResponse,
    GetCapabilities,
    GetCertificate,
    GetDigests,
    GetMeasurements,
    GetVersion,
    NegotiateAlgorithms,
    RespondIfReady,
    VendorDefinedRequest,
)
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, RequestCode, ResponseCode
from spdm.negotiation import AlgorithmPreferences
from spdm.responder import Responder

P256 = BaseAsymAlgo.ECDSA_P256
VERSIONS = (0x10, 0x11, 0x12, 0x13)
STAGES = ("fresh", "version", "capabilities", "negotiated")
REFUSALS = {
    SpdmErrorCode.INVALID_REQUEST, SpdmErrorCode.UNEXPECTED_REQUEST,
    SpdmErrorCode.UNSUPPORTED_REQUEST, SpdmErrorCode.VERSION_MISMATCH, SpdmErrorCode.SESSION_REQUIRED,
}
FUZZ = settings(max_examples=300, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


@cache
def device() -> DeviceModel:
    return DeviceModel.generate(P256, slots=(0, 2))


def _rng(size: int) -> bytes:
    return b"\x5a" * size


def _config() -> ResponderConfig:
    return ResponderConfig(
        algorithms=AlgorithmPreferences(asym_algs=(P256,)),
        not_ready_requests=frozenset({RequestCode.GET_DIGESTS}),
    )


def valid_requests(version: int) -> list[bytes]:
    """One well-formed request of each kind the responder implements, at ``version``."""
    context = bytes(8) if version >= 0x13 else None
    signed_slot = 0 if version >= 0x11 else None
    return [
        GetVersion().encode(),
        GetCapabilities(spdm_version=version, flags=6 if version >= 0x11 else 0,
                        data_transfer_size=0x1200, max_spdm_msg_size=0x1200).encode(),
        NegotiateAlgorithms(
            spdm_version=version, measurement_specification=1, other_params_support=2,
            base_asym_algo=P256, base_hash_algo=BaseHashAlgo.SHA_256,
            alg_structs=(AlgStruct(2, 0x18), AlgStruct(5, 1)) if version >= 0x11 else (),
        ).encode(),
        GetDigests(spdm_version=version).encode(),
        GetCertificate(spdm_version=version, slot_id=2, offset=16, length=300).encode(),
        Challenge(spdm_version=version, measurement_summary_hash_type=0xFF,
                  requester_context=context).encode(),
        GetMeasurements(spdm_version=version, requester_context=context).encode(),
        GetMeasurements(spdm_version=version, attributes=1, operation=0xFF, nonce=bytes(32),
                        slot_id=signed_slot, requester_context=context).encode(),
        VendorDefinedRequest(spdm_version=version, standard_id=3, vendor_id=b"\x01\x00",
                             payload=b"\x00\x01").encode(),
        RespondIfReady(spdm_version=version, request_code=RequestCode.GET_DIGESTS).encode(),
    ]


def responder_at(stage: str, version: int) -> Responder:
    """A responder driven (with valid requests) to ``stage`` at ``version``."""
    responder = Responder(_config(), device(), rng=_rng)
    responder.register_vendor_handler(3, b"\x01\x00", lambda payload, _session: payload[::-1])
    steps = valid_requests(version)[:STAGES.index(stage)]
    for request in steps:
        assert responder.handle(request)[1] != ResponseCode.ERROR
    return responder


def decodable_request(data: bytes) -> bool:
    """Whether the bytes decode as the request their code names."""
    if len(data) < 4 or data[1] not in REQUEST_TYPES:
        return False
    try:
        REQUEST_TYPES[data[1]].decode(data, NO_CONTEXT, padded=True)
    except DecodeError:
        return False
    return True


def check_answer(responder: Responder, request: bytes) -> bytes:
    """Send ``request`` and check every invariant of the answer."""
    state, negotiated = responder.state, responder.negotiated
    answer = responder.handle(request)
    assert isinstance(answer, bytes) and len(answer) >= 4
    code = answer[1]
    assert code in RESPONSE_TYPES
    if code == ResponseCode.ERROR:
        error = ErrorResponse.decode(answer)
        if not decodable_request(request):
            assert error.error_code in REFUSALS, (request.hex(), error)
        assert responder.state == state and responder.negotiated is negotiated
        return answer
    assert decodable_request(request)
    contexts = [NO_CONTEXT]
    if responder.negotiated is not None:
        contexts = [responder.negotiated.codec(measurement_summary=summary, signed=signed)
                    for summary in (False, True) for signed in (False, True)]
    decoded = 0
    for ctx in contexts:
        try:
            RESPONSE_TYPES[code].decode(answer, ctx)
            decoded += 1
        except DecodeError:
            continue
    assert decoded, (request.hex(), answer.hex())
    return answer


def _mutate(data: bytes, flips: list[int], cut: int | None, tail: bytes) -> bytes:
    mutated = bytearray(data)
    for bit in flips:
        if mutated:
            index = (bit // 8) % len(mutated)
            mutated[index] ^= 1 << (bit % 8)
    if cut is not None:
        mutated = mutated[:cut % (len(mutated) + 1)]
    return bytes(mutated) + tail


stages = st.sampled_from(STAGES)
versions = st.sampled_from(VERSIONS)


@FUZZ
@given(stage=stages, version=versions, data=st.binary(max_size=80))
def test_random_bytes(stage: str, version: int, data: bytes) -> None:
    check_answer(responder_at(stage, version), data)


@FUZZ
@given(stage=stages, version=versions, header=st.sampled_from(sorted(REQUEST_TYPES)),
       first=st.sampled_from(VERSIONS + (0x14, 0x00)), body=st.binary(max_size=60))
def test_random_bodies_behind_real_codes(stage: str, version: int, header: int, first: int,
                                         body: bytes) -> None:
    check_answer(responder_at(stage, version), bytes([first, header]) + body)


@FUZZ
@given(stage=stages, version=versions, which=st.integers(0, 9),
       request_version=versions, flips=st.lists(st.integers(0, 8 * 64), max_size=3),
       cut=st.none() | st.integers(0, 64), tail=st.binary(max_size=6))
def test_mutated_valid_requests(stage: str, version: int, which: int, request_version: int,
                                flips: list[int], cut: int | None, tail: bytes) -> None:
    request = valid_requests(request_version)[which]
    check_answer(responder_at(stage, version), _mutate(request, flips, cut, tail))


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(version=versions, script=st.lists(
    st.tuples(st.integers(0, 9), st.lists(st.integers(0, 8 * 64), max_size=2),
              st.none() | st.integers(0, 64), st.binary(max_size=3)),
    min_size=1, max_size=12))
def test_request_sequences(version: int, script: list[tuple[int, list[int], int | None, bytes]]
                           ) -> None:
    """Whole conversations of valid and damaged requests, in any order."""
    responder = responder_at("fresh", version)
    for which, flips, cut, tail in script:
        request = valid_requests(version)[which]
        if flips or cut is not None or tail:
            request = _mutate(request, flips, cut, tail)
        check_answer(responder, request)
    events = []
    while (event := responder.next_event()) is not None:
        events.append(event)
    assert len(events) == len(script)


def test_every_request_valid_in_its_stage_is_answered() -> None:
    """The fuzz seeds themselves: in the negotiated stage each valid request gets its response."""
    for version in VERSIONS:
        responder = responder_at("negotiated", version)
        requests = valid_requests(version)
        # GET_DIGESTS is held back behind ResponseNotReady, then released by RESPOND_IF_READY.
        assert check_answer(responder, requests[3])[1] == ResponseCode.ERROR
        assert check_answer(responder, requests[9])[1] == ResponseCode.DIGESTS
        answers = [check_answer(responder, r)[1] for r in requests[4:9]]
        assert answers == [
            ResponseCode.CERTIFICATE, ResponseCode.CHALLENGE_AUTH, ResponseCode.MEASUREMENTS,
            ResponseCode.MEASUREMENTS, ResponseCode.VENDOR_DEFINED_RESPONSE]
