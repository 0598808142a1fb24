"""Requester engine behaviour that needs no device: states, errors, retries, rejections.

Responses are hand-built with the codec so each test controls exactly what
the "device" says.  The full flows against our responder live in
test_pair.py, and against the reference's bytes in test_requester_interop.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spdm.config import RequesterConfig
from spdm.engine import RequesterEngine
from spdm.errors import (
    DecodeError,
    LocalProtocolError,
    NegotiationError,
    RemoteProtocolError,
    SpdmErrorCode,
)
from spdm.events import (
    AlgorithmsNegotiated,
    CapabilitiesReceived,
    ErrorResponseReceived,
    Event,
    VersionNegotiated,
)
from spdm.messages import (
    Algorithms,
    AlgStruct,
    Capabilities,
    Certificate,
    ErrorResponse,
    GetCertificate,
    GetVersion,
    NegotiateAlgorithms,
    RespondIfReady,
    Version,
)
from spdm.messages.codes import (
    AeadSuite,
    AlgType,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    KeyScheduleAlgo,
    MeasurementHashAlgo,
    RequestCode,
    SpdmVersion,
)
from spdm.requester import Requester
from spdm.state import ConnectionState

NOW = datetime(2026, 11, 22, tzinfo=UTC)
CAPS = CapabilityFlags.CERT_CAP | CapabilityFlags.CHAL_CAP | CapabilityFlags.MEAS_CAP_SIG


def _rng(size: int) -> bytes:
    return bytes(range(size))


def _version_response(*versions: int) -> bytes:
    return Version(version_entries=tuple(v << 8 for v in versions)).encode()


def _algorithms(version: int = 0x12, *, base_hash_sel: int = BaseHashAlgo.SHA_384) -> bytes:
    structs = (
        AlgStruct(AlgType.DHE, 0), AlgStruct(AlgType.AEAD, 0),
        AlgStruct(AlgType.REQ_BASE_ASYM_ALG, 0), AlgStruct(AlgType.KEY_SCHEDULE, 0),
    ) if version >= 0x11 else ()
    return Algorithms(
        spdm_version=version, alg_structs=structs,
        measurement_specification_sel=1,
        other_params_selection=2 if version >= 0x12 else 0,
        measurement_hash_algo=MeasurementHashAlgo.SHA_384,
        base_asym_sel=BaseAsymAlgo.ECDSA_P384,
        base_hash_sel=base_hash_sel,
    ).encode()


def _after_capabilities(version: int = 0x12, offered: tuple[int, ...] = ()) -> Requester:
    """A requester past GET_VERSION and GET_CAPABILITIES with a CERT/CHAL/MEAS device."""
    requester = Requester(RequesterConfig(), rng=_rng)
    requester.get_version()
    assert requester.data_to_send() == bytes.fromhex("10840000")
    requester.receive_data(_version_response(*offered, version))
    requester.get_capabilities()
    requester.data_to_send()
    sized = version >= 0x12
    requester.receive_data(Capabilities(
        spdm_version=version, flags=CAPS, ct_exponent=12,
        data_transfer_size=0x1200 if sized else 0, max_spdm_msg_size=0x1200 if sized else 0).encode())
    return requester


def _negotiated(version: int = 0x12) -> Requester:
    """A requester that went through VCA with a CERT/CHAL/MEAS device."""
    requester = _after_capabilities(version, offered=(0x10, 0x11))
    requester.negotiate_algorithms()
    requester.data_to_send()
    requester.receive_data(_algorithms(version))
    return requester


def _events(requester: Requester) -> list[Event]:
    out = []
    while (event := requester.next_event()) is not None:
        out.append(event)
    return out


def test_vca_picks_highest_common_version_and_reports_events() -> None:
    requester = _negotiated(0x12)
    events = _events(requester)
    version, _, algorithms = events
    assert isinstance(version, VersionNegotiated) and isinstance(events[1], CapabilitiesReceived)
    assert isinstance(algorithms, AlgorithmsNegotiated)
    assert version.version == SpdmVersion.V12
    negotiated = algorithms.negotiated
    assert negotiated.hash_alg == BaseHashAlgo.SHA_384 and negotiated.asym_alg == BaseAsymAlgo.ECDSA_P384
    assert requester.state == ConnectionState.NEGOTIATED


def test_get_capabilities_request_bytes_follow_the_version() -> None:
    for version, size in ((0x10, 4), (0x11, 12), (0x12, 20), (0x13, 20)):
        requester = Requester(RequesterConfig(), rng=_rng)
        requester.get_version()
        requester.data_to_send()
        requester.receive_data(_version_response(version))
        requester.get_capabilities()
        assert len(requester.data_to_send()) == size


def test_no_common_version_is_a_negotiation_error_and_poisons() -> None:
    requester = Requester(RequesterConfig(versions=(SpdmVersion.V12,)), rng=_rng)
    requester.get_version()
    requester.data_to_send()
    with pytest.raises(NegotiationError, match="no common SPDM version"):
        requester.receive_data(_version_response(0x10, 0x11))
    with pytest.raises(LocalProtocolError, match="failed earlier"):
        requester.get_version()


def test_commands_out_of_order_are_local_errors_and_change_nothing() -> None:
    requester = Requester(RequesterConfig(), rng=_rng)
    with pytest.raises(LocalProtocolError, match="not allowed"):
        requester.get_capabilities()
    with pytest.raises(LocalProtocolError, match="not allowed"):
        requester.get_digests()
    assert requester.data_to_send() == b"" and requester.state == ConnectionState.NOT_STARTED
    requester.get_version()
    with pytest.raises(LocalProtocolError, match="still outstanding"):
        requester.get_version()


def test_challenge_needs_the_slot_chain_first() -> None:
    requester = _negotiated()
    with pytest.raises(LocalProtocolError, match="retrieve its certificate chain first"):
        requester.challenge(0)
    with pytest.raises(LocalProtocolError, match="retrieve its chain first"):
        requester.get_measurements(signed=True)
    with pytest.raises(LocalProtocolError, match="not 0-7"):
        requester.get_certificate(8, now=NOW)


def test_response_with_wrong_code_or_version_is_remote_error() -> None:
    requester = _negotiated()
    requester.get_digests()
    requester.data_to_send()
    with pytest.raises(RemoteProtocolError, match="answered with code 0x02"):
        requester.receive_data(bytes.fromhex("12020000"))
    requester = _negotiated()
    requester.get_digests()
    requester.data_to_send()
    with pytest.raises(RemoteProtocolError, match="version 0x11"):
        requester.receive_data(bytes.fromhex("11010000"))


def test_truncated_response_is_decode_error() -> None:
    requester = _negotiated()
    requester.get_digests()
    requester.data_to_send()
    with pytest.raises(DecodeError):
        requester.receive_data(bytes.fromhex("1201000101"))  # slot 0 provisioned, digest missing


def test_unsolicited_response_is_refused() -> None:
    requester = _negotiated()
    with pytest.raises(LocalProtocolError, match="no request is outstanding"):
        requester.receive_data(bytes.fromhex("12010000"))


def test_algorithms_selecting_something_not_offered_is_refused() -> None:
    requester = _after_capabilities(0x12)
    requester.negotiate_algorithms()
    requester.data_to_send()
    two_bits = int(BaseHashAlgo.SHA_256 | BaseHashAlgo.SHA_384)
    with pytest.raises(RemoteProtocolError, match="BaseHashAlgo"):
        requester.receive_data(_algorithms(base_hash_sel=two_bits))


def test_negotiate_algorithms_offers_the_configured_sets() -> None:
    requester = _after_capabilities(0x12)
    requester.negotiate_algorithms()
    sent = NegotiateAlgorithms.decode(requester.data_to_send())
    assert sent.base_hash_algo == BaseHashAlgo.SHA_256 | BaseHashAlgo.SHA_384 | BaseHashAlgo.SHA_512
    assert sent.base_asym_algo & BaseAsymAlgo.EDDSA_ED25519
    assert [a.alg_type for a in sent.alg_structs] == [2, 3, 4, 5]
    assert sent.alg_supported(AlgType.DHE) & DheGroup.SECP_384_R1
    assert sent.alg_supported(AlgType.AEAD) & AeadSuite.AES_256_GCM
    assert sent.alg_supported(AlgType.KEY_SCHEDULE) == KeyScheduleAlgo.SPDM
    assert sent.other_params_support == 3  # OpaqueDataFmt1 and Fmt0


def test_eddsa_is_not_offered_before_1_2() -> None:
    requester = _after_capabilities(0x11)
    requester.negotiate_algorithms()
    sent = NegotiateAlgorithms.decode(requester.data_to_send())
    assert not sent.base_asym_algo & (BaseAsymAlgo.EDDSA_ED25519 | BaseAsymAlgo.EDDSA_ED448)
    assert sent.other_params_support == 0


def test_busy_is_retried_after_the_configured_delay_then_reported() -> None:
    requester = _negotiated()
    requester.get_digests()
    request = requester.data_to_send()
    busy = ErrorResponse(spdm_version=0x12, error_code=SpdmErrorCode.BUSY).encode()
    for _ in range(RequesterConfig().busy_retries):
        requester.receive_data(busy)
        assert requester.get_timer() == RequesterConfig().busy_retry_delay
        assert requester.data_to_send() == b""  # nothing until the timer fires
        requester.handle_timer()
        assert requester.data_to_send() == request
    requester.receive_data(busy)
    [event] = _events(requester)[-1:]
    assert isinstance(event, ErrorResponseReceived) and event.name == "BUSY"
    assert not requester.busy


def test_response_not_ready_polls_with_respond_if_ready() -> None:
    requester = _negotiated()
    requester.get_digests()
    requester.data_to_send()
    not_ready = ErrorResponse(spdm_version=0x12, error_code=SpdmErrorCode.RESPONSE_NOT_READY,
                              extended_data=bytes([14, RequestCode.GET_DIGESTS, 7, 2])).encode()
    requester.receive_data(not_ready)
    assert requester.get_timer() == pytest.approx((1 << 14) / 1e6)
    requester.handle_timer()
    poll = RespondIfReady.decode(requester.data_to_send())
    assert (poll.request_code, poll.token) == (RequestCode.GET_DIGESTS, 7)
    requester.receive_data(bytes.fromhex("12010000"))  # DIGESTS, nothing provisioned
    assert not requester.busy


def test_response_not_ready_for_another_request_is_refused() -> None:
    requester = _negotiated()
    requester.get_digests()
    requester.data_to_send()
    not_ready = ErrorResponse(spdm_version=0x12, error_code=SpdmErrorCode.RESPONSE_NOT_READY,
                              extended_data=bytes([1, RequestCode.CHALLENGE, 7, 1])).encode()
    with pytest.raises(RemoteProtocolError, match="ResponseNotReady names request 0x83"):
        requester.receive_data(not_ready)


def test_endless_not_ready_gives_up() -> None:
    requester = _negotiated()
    requester.get_digests()
    requester.data_to_send()
    not_ready = ErrorResponse(spdm_version=0x12, error_code=SpdmErrorCode.RESPONSE_NOT_READY,
                              extended_data=bytes([1, RequestCode.GET_DIGESTS, 7, 1])).encode()
    with pytest.raises(RemoteProtocolError, match="still not ready"):
        for _ in range(RequesterConfig().max_not_ready_polls + 1):
            requester.receive_data(not_ready)
            requester.handle_timer()
            requester.data_to_send()


def test_error_during_vca_returns_to_not_started() -> None:
    requester = Requester(RequesterConfig(), rng=_rng)
    requester.get_version()
    requester.data_to_send()
    requester.receive_data(_version_response(0x12))
    requester.get_capabilities()
    requester.data_to_send()
    requester.receive_data(
        ErrorResponse(spdm_version=0x12, error_code=SpdmErrorCode.INVALID_REQUEST).encode())
    assert isinstance(_events(requester)[-1], ErrorResponseReceived)
    assert requester.state == ConnectionState.NOT_STARTED
    requester.get_version()
    assert requester.data_to_send() == GetVersion().encode()


def test_response_timeout_uses_st1_or_ct() -> None:
    requester = _negotiated()
    requester.get_digests()
    assert requester.response_timeout() == pytest.approx(0.1)


def test_measurement_nonce_must_be_32_bytes_and_signed() -> None:
    requester = _negotiated()
    with pytest.raises(LocalProtocolError, match="needs a signed request"):
        requester.get_measurements(signed=False, nonce=bytes(32))
    with pytest.raises(LocalProtocolError, match="32 bytes, not 31"):
        requester.get_measurements(nonce=bytes(31))
    assert requester.data_to_send() == b"" and requester.state == ConnectionState.NEGOTIATED


def test_requester_is_a_requester_engine_and_takes_a_carrier_reported_error() -> None:
    requester = _negotiated()
    engine: RequesterEngine = requester  # the one calling convention (spdm.engine)
    requester.get_digests()
    request = engine.data_to_send()
    engine.receive_error(SpdmErrorCode.BUSY)
    assert engine.get_timer() == RequesterConfig().busy_retry_delay
    engine.handle_timer()
    assert engine.data_to_send() == request  # Busy is retried, as in band
    engine.receive_error(SpdmErrorCode.UNSPECIFIED, 5)
    event = _events(requester)[-1]
    assert isinstance(event, ErrorResponseReceived)
    assert (event.request_code, event.error_code, event.error_data) == (
        RequestCode.GET_DIGESTS, SpdmErrorCode.UNSPECIFIED, 5)
    assert not engine.busy and requester.state == ConnectionState.NEGOTIATED
    with pytest.raises(LocalProtocolError, match="no request is outstanding"):
        engine.receive_error(SpdmErrorCode.UNSPECIFIED)


def test_an_error_mid_chain_ends_the_retrieval_and_a_new_one_starts_at_offset_0() -> None:
    requester = _negotiated()
    requester.get_certificate(0, now=NOW)
    first = GetCertificate.decode(requester.data_to_send())
    requester.receive_data(Certificate(spdm_version=0x12, slot_id=0, cert_chain=b"\x6c\x00" + bytes(6),
                                       remainder_length=100).encode())
    second = GetCertificate.decode(requester.data_to_send())
    assert (first.offset, second.offset) == (0, 8)
    requester.receive_data(ErrorResponse(spdm_version=0x12, error_code=SpdmErrorCode.UNSPECIFIED).encode())
    assert isinstance(_events(requester)[-1], ErrorResponseReceived)
    requester.get_certificate(0, now=NOW)
    assert GetCertificate.decode(requester.data_to_send()).offset == 0
