"""Tests for spdm.responder: every flow per version, every refusal, and replay of libspdm's requests.

Requests are built with the codec and every response is decoded with it.
Signatures are checked with ``crypto.verify`` over transcripts this file
builds itself by concatenating exact message bytes (PROTOCOLS.md §5), never
with :class:`spdm.transcript.Transcript`, so a mistake there is caught here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from spdm.config import DEFAULT_RESPONDER_CAPS, ResponderConfig
from spdm.crypto import digest, parse_spdm_cert_chain, signature_size, verify
from spdm.device import DeviceModel, MeasurementSource
from spdm.errors import (
    ConfigurationError,
    LocalProtocolError,
    RemoteProtocolError,
    SpdmErrorCode,
    VerificationError,
)
from spdm.events import RequestAnswered
from spdm.messages import (
    REQUEST_TYPES,
    RESPONSE_TYPES,
    Algorithms,
    AlgStruct,
    Capabilities,
    Certificate,
    Challenge,
    ChallengeAuth,
    CodecContext,
    Digests,
    ErrorResponse,
    GetCapabilities,
    GetCertificate,
    GetDigests,
    GetMeasurements,
    GetVersion,
    Measurements,
    Message,
    NegotiateAlgorithms,
    RespondIfReady,
    VendorDefinedRequest,
    VendorDefinedResponse,
    Version,
)
from spdm.messages.codes import (
    AeadSuite,
    AlgType,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    DmtfValueType,
    KeyScheduleAlgo,
    MeasurementHashAlgo,
    OpaqueDataFormat,
    RequestCode,
    ResponseCode,
    SpdmVersion,
)
from spdm.negotiation import MEAS_CAPS, AlgorithmPreferences
from spdm.responder import Responder
from spdm.state import ConnectionState
from tests.vectors import SETS, Exchange, spdm_exchanges

INVALID, UNEXPECTED, UNSUPPORTED = 0x01, 0x04, 0x07
VERSION_MISMATCH, TOO_LARGE, NOT_READY = 0x41, 0x0D, 0x42

P256 = BaseAsymAlgo.ECDSA_P256
SHA384 = BaseHashAlgo.SHA_384
H = 48
S = 64
REQ_FLAGS = CapabilityFlags.CERT_CAP | CapabilityFlags.CHAL_CAP
CHALLENGE_CONTEXT = "responder-challenge_auth signing"
MEASUREMENTS_CONTEXT = "responder-measurements signing"
VERSIONS = [SpdmVersion.V10, SpdmVersion.V11, SpdmVersion.V12, SpdmVersion.V13]
SESSION_STRUCTS = (
    AlgStruct(AlgType.DHE, DheGroup.SECP_384_R1 | DheGroup.SECP_256_R1),
    AlgStruct(AlgType.AEAD, AeadSuite.AES_256_GCM),
    AlgStruct(AlgType.REQ_BASE_ASYM_ALG, BaseAsymAlgo.RSAPSS_3072),
    AlgStruct(AlgType.KEY_SCHEDULE, KeyScheduleAlgo.SPDM),
)
CTX = CodecContext(hash_size=H, signature_size=S)


def _id(value: object) -> str:
    return str(getattr(value, "name", value))


class Rng:
    """Deterministic nonces: call n returns n repeated; ``last`` is the latest."""

    def __init__(self) -> None:
        self.count = 0
        self.last = b""

    def __call__(self, size: int) -> bytes:
        self.count += 1
        self.last = bytes([self.count & 0xFF]) * size
        return self.last


@pytest.fixture(scope="module")
def device() -> DeviceModel:
    return DeviceModel.generate(P256, slots=(0, 1))


CMA_CAPS = (CapabilityFlags.CERT_CAP | CapabilityFlags.CHAL_CAP | CapabilityFlags.MEAS_CAP_SIG
            | CapabilityFlags.MEAS_FRESH_CAP)
"""A device without secure sessions: these tests cover VCA, authentication and measurements
(sessions are tested in test_session_pair.py)."""


def make_config(**changes: object) -> ResponderConfig:
    base = ResponderConfig(capabilities=CMA_CAPS, algorithms=AlgorithmPreferences(asym_algs=(P256,)))
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@dataclass
class Link:
    """A responder plus what a careful requester would have recorded so far."""

    responder: Responder
    rng: Rng
    version: int = SpdmVersion.V10
    a: bytes = b""
    b: bytes = b""
    requests: list[bytes] = field(default_factory=list)

    def send(self, request: bytes) -> bytes:
        self.requests.append(request)
        response = self.responder.handle(request)
        event = self.responder.next_event()
        assert isinstance(event, RequestAnswered)
        code = request[1] if len(request) >= 2 else 0
        assert event.request_code == code and event.response_code == response[1]
        return response


def connect(
    device: DeviceModel,
    version: int,
    config: ResponderConfig | None = None,
    *,
    flags: int = REQ_FLAGS,
    dts: int = 0x1200,
    max_size: int | None = None,
    hashes: int = SHA384 | BaseHashAlgo.SHA_256,
    asym: int = P256,
    structs: tuple[AlgStruct, ...] = SESSION_STRUCTS,
) -> Link:
    """Run VCA at ``version`` and check VERSION, CAPABILITIES and ALGORITHMS."""
    rng = Rng()
    link = Link(Responder(config or make_config(), device, rng=rng), rng, version)
    get_version = GetVersion().encode()
    version_rsp = link.send(get_version)
    entries = Version.decode(version_rsp).version_entries
    assert entries == tuple(v << 8 for v in link.responder.config.versions)
    sized = version >= SpdmVersion.V12
    get_caps = GetCapabilities(
        spdm_version=version, ct_exponent=12, flags=flags if version >= 0x11 else 0,
        data_transfer_size=dts if sized else 0,
        max_spdm_msg_size=(max_size or dts) if sized else 0,
    ).encode()
    caps_rsp = link.send(get_caps)
    caps = Capabilities.decode(caps_rsp)
    assert len(caps_rsp) == (20 if sized else 12)
    assert caps.spdm_version == version and caps.param1 == 0
    # 1.0 defines only the flags up to MEAS_FRESH_CAP; the rest are masked off.
    defined = 0x3F if version == 0x10 else ~0
    assert caps.flags == link.responder.config.capabilities & defined
    assert caps.ct_exponent == link.responder.config.ct_exponent
    if sized:
        assert caps.data_transfer_size == link.responder.config.data_transfer_size
    negotiate = NegotiateAlgorithms(
        spdm_version=version, measurement_specification=1,
        other_params_support=OpaqueDataFormat.FMT1 if version >= 0x12 else 0,
        base_asym_algo=asym, base_hash_algo=hashes,
        alg_structs=structs if version >= 0x11 else (),
    ).encode()
    algs_rsp = link.send(negotiate)
    algs = Algorithms.decode(algs_rsp)
    assert link.responder.state == ConnectionState.NEGOTIATED
    assert algs.base_hash_sel == SHA384 and algs.base_asym_sel == asym
    measures = bool(link.responder.config.capabilities & MEAS_CAPS)
    assert algs.measurement_hash_algo == (MeasurementHashAlgo.SHA_384 if measures else 0)
    assert algs.measurement_specification_sel == (1 if measures else 0)
    assert algs.other_params_selection == (OpaqueDataFormat.FMT1 if version >= 0x12 else 0)
    assert algs.mel_specification_sel == 0
    # Every AlgStruct sent is answered, with 0: this requester has no session capabilities.
    sent = structs if version >= 0x11 else ()
    assert algs.alg_structs == tuple(AlgStruct(s.alg_type, 0) for s in sent)
    link.a = get_version + version_rsp + get_caps + caps_rsp + negotiate + algs_rsp
    return link


def expect_error(link: Link, request: bytes, code: int, data: int = 0,
                 version: int | None = None) -> ErrorResponse:
    """Send a request that must be refused; the connection must not change."""
    responder = link.responder
    state, negotiated = responder.state, responder.negotiated
    response = link.send(request)
    error = ErrorResponse.decode(response)
    assert (error.error_code, error.error_data) == (code, data), error
    expected_version = version if version is not None else (
        negotiated.version if negotiated else SpdmVersion.V10)
    assert error.spdm_version == expected_version
    assert responder.state == state and responder.negotiated is negotiated
    return error


def fetch_chain(link: Link, slot: int, portion: int = 0xFFFF) -> tuple[bytes, int]:
    """GET_CERTIFICATE until the remainder is 0; B grows by each exchange. Returns (chain, calls)."""
    chain = b""
    calls = 0
    while True:
        request = GetCertificate(spdm_version=link.version, slot_id=slot, offset=len(chain),
                                 length=portion).encode()
        response = link.send(request)
        cert = Certificate.decode(response)
        assert cert.slot_id == slot and cert.certificate_info == 0
        calls += 1
        link.b += request + response
        chain += cert.cert_chain
        if cert.remainder_length == 0:
            return chain, calls


def get_digests(link: Link, device: DeviceModel) -> Digests:
    request = GetDigests(spdm_version=link.version).encode()
    response = link.send(request)
    link.b = request + response
    digests = Digests.decode(response, CTX)
    assert digests.provisioned_slot_mask == device.provisioned_slots()
    assert digests.supported_slot_mask == (
        device.provisioned_slots() if link.version >= 0x13 else 0)
    for slot, value in digests.by_slot().items():
        assert value == digest(SHA384, device.certificate_chain(slot, SHA384) or b"")
    return digests


def check_signature(device: DeviceModel, slot: int, version: int, context: str,
                    transcript: bytes, signature: bytes, asym: BaseAsymAlgo = P256) -> None:
    verify(device.slots[slot].leaf.public_key(), asym, SHA384, SpdmVersion(version), context,
           transcript, signature)


def all_blocks(device: DeviceModel, *, raw: bool = False) -> bytes:
    return b"".join(b.encode() for b in device.measurement_blocks(
        MeasurementHashAlgo.SHA_384, raw_requested=raw))


# --- full flows ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS, ids=_id)
def test_full_flow(device: DeviceModel, version: int) -> None:
    link = connect(device, version)
    get_digests(link, device)
    chains = {slot: fetch_chain(link, slot)[0] for slot in (0, 1)}
    for slot, chain in chains.items():
        assert chain == device.certificate_chain(slot, SHA384)
        assert parse_spdm_cert_chain(chain, SHA384).leaf == device.slots[slot].leaf

    context = b"reqctx13" if version >= 0x13 else None
    challenge = Challenge(spdm_version=version, slot_id=1, measurement_summary_hash_type=0xFF,
                          nonce=b"N" * 32, requester_context=context).encode()
    response = link.send(challenge)
    auth = ChallengeAuth.decode(response, dataclasses.replace(CTX, measurement_summary=True))
    assert (auth.attributes, auth.slot_mask) == (1, 0b11)
    assert auth.cert_chain_hash == digest(SHA384, chains[1])
    assert auth.nonce == link.rng.last
    assert auth.measurement_summary_hash == digest(SHA384, all_blocks(device))
    assert auth.opaque_data == b"" and auth.requester_context == context
    m1 = link.a + link.b + challenge + response[:-S]
    check_signature(device, 1, version, CHALLENGE_CONTEXT, m1, auth.signature)
    with pytest.raises(VerificationError):  # the slot-0 key did not sign it
        check_signature(device, 0, version, CHALLENGE_CONTEXT, m1, auth.signature)

    count_req = GetMeasurements(spdm_version=version, requester_context=context).encode()
    count_rsp = link.send(count_req)
    count = Measurements.decode(count_rsp, CTX)
    assert (count.total_indices, count.blocks, count.attributes) == (7, (), 0)
    assert count.requester_context == context

    signed_req = GetMeasurements(
        spdm_version=version, attributes=1, operation=0xFF, nonce=b"M" * 32,
        slot_id=0 if version >= 0x11 else None, requester_context=context).encode()
    signed_rsp = link.send(signed_req)
    signed = Measurements.decode(signed_rsp, dataclasses.replace(CTX, signed=True))
    assert signed.measurement_record == all_blocks(device)
    assert signed.attributes == (0x20 if version >= 0x12 else 0)
    assert signed.nonce == link.rng.last and signed.requester_context == context
    prefix = link.a if version >= 0x12 else b""
    l1 = prefix + count_req + count_rsp + signed_req + signed_rsp[:-S]
    check_signature(device, 0, version, MEASUREMENTS_CONTEXT, l1, signed.signature)

    # The signature reset M: the next signed request signs only itself (plus A from 1.2).
    one_req = GetMeasurements(
        spdm_version=version, attributes=1, operation=0x10, nonce=b"O" * 32,
        slot_id=1 if version >= 0x11 else None, requester_context=context).encode()
    one_rsp = link.send(one_req)
    one = Measurements.decode(one_rsp, dataclasses.replace(CTX, signed=True))
    assert [b.index for b in one.blocks] == [0x10]
    signer = 1 if version >= 0x11 else 0
    assert one.slot_id == signer
    check_signature(device, signer, version, MEASUREMENTS_CONTEXT,
                    prefix + one_req + one_rsp[:-S], one.signature)


def test_rsapss_flow() -> None:
    asym = BaseAsymAlgo.RSAPSS_2048
    rsa = DeviceModel.generate(asym)
    config = make_config(algorithms=AlgorithmPreferences(asym_algs=(asym,)))
    link = connect(rsa, SpdmVersion.V12, config, asym=asym)
    get_digests(link, rsa)
    fetch_chain(link, 0)
    challenge = Challenge(spdm_version=0x12, nonce=b"n" * 32).encode()
    response = link.send(challenge)
    size = signature_size(asym)
    auth = ChallengeAuth.decode(response, dataclasses.replace(CTX, signature_size=size))
    assert auth.measurement_summary_hash == b""
    check_signature(rsa, 0, 0x12, CHALLENGE_CONTEXT,
                    link.a + link.b + challenge + response[:-size], auth.signature, asym)


def test_certificate_portions_limited_by_our_transfer_size(device: DeviceModel) -> None:
    link = connect(device, SpdmVersion.V11, make_config(data_transfer_size=200))
    get_digests(link, device)
    chain = device.certificate_chain(0, SHA384) or b""
    offset = 0
    while offset < len(chain):
        request = GetCertificate(spdm_version=0x11, slot_id=0, offset=offset).encode()
        response = link.send(request)
        cert = Certificate.decode(response)
        expected = min(192, len(chain) - offset)
        assert len(cert.cert_chain) == expected
        assert cert.remainder_length == len(chain) - offset - expected
        assert cert.cert_chain == chain[offset:offset + expected]
        link.b += request + response
        offset += expected
    _, calls = fetch_chain(link, 1, portion=100)  # the request's own length is smaller still
    assert calls == -(-len(device.certificate_chain(1, SHA384) or b"") // 100)
    # CHALLENGE signs every portion of both slots (B), not just the last one.
    challenge = Challenge(spdm_version=0x11, nonce=b"c" * 32).encode()
    response = link.send(challenge)
    auth = ChallengeAuth.decode(response, CTX)
    check_signature(device, 0, 0x11, CHALLENGE_CONTEXT,
                    link.a + link.b + challenge + response[:-S], auth.signature)


def test_certificate_portions_limited_by_requester_transfer_size(device: DeviceModel) -> None:
    link = connect(device, SpdmVersion.V12, dts=42)
    chain, calls = fetch_chain(link, 0)
    assert chain == device.certificate_chain(0, SHA384)
    assert calls == -(-len(chain) // 34)  # 42 - 8 header bytes per portion


def test_slot_size_requested(device: DeviceModel) -> None:
    link = connect(device, SpdmVersion.V13)
    request = GetCertificate(spdm_version=0x13, slot_id=1, attributes=1, offset=9,
                             length=10).encode()
    cert = Certificate.decode(link.send(request))
    assert cert.cert_chain == b""
    assert cert.remainder_length == len(device.certificate_chain(1, SHA384) or b"")


def test_tcb_summary_and_raw_measurements(device: DeviceModel) -> None:
    link = connect(device, SpdmVersion.V12)
    challenge = Challenge(spdm_version=0x12, measurement_summary_hash_type=1,
                          nonce=b"t" * 32).encode()
    auth = ChallengeAuth.decode(link.send(challenge),
                                dataclasses.replace(CTX, measurement_summary=True))
    rom = [b.encode() for b in device.measurement_blocks(MeasurementHashAlgo.SHA_384,
                                                         raw_requested=False)
           if b.kind == DmtfValueType.IMMUTABLE_ROM]
    assert auth.measurement_summary_hash == digest(SHA384, b"".join(rom))
    raw_req = GetMeasurements(spdm_version=0x12, attributes=2, operation=0xFF).encode()
    raw = Measurements.decode(link.send(raw_req), CTX)
    assert raw.measurement_record == all_blocks(device, raw=True)
    assert raw.blocks[1].value == device.measurements[1].data


def test_get_version_starts_over(device: DeviceModel) -> None:
    link = connect(device, SpdmVersion.V12)
    assert link.responder.negotiated is not None
    link.send(GetVersion().encode())
    assert link.responder.state == ConnectionState.AFTER_VERSION
    assert link.responder.negotiated is None
    assert bytes(link.responder.transcript.a) == link.requests[-1] + Version(
        version_entries=(0x1000, 0x1100, 0x1200, 0x1300, 0x1400)).encode()
    expect_error(link, GetDigests(spdm_version=0x12).encode(), UNEXPECTED)


def test_io_surface(device: DeviceModel) -> None:
    responder = Responder(make_config(), device, rng=Rng())
    assert responder.data_to_send() == b"" and responder.next_event() is None
    responder.receive_data(memoryview(bytearray(b"\x10\x84\x00\x00\x00")))  # one pad byte
    responder.receive_data(b"\x10\x84\x00\x00")
    first, second = responder.data_to_send(), responder.data_to_send()
    assert first == second and Version.decode(first).versions == (0x10, 0x11, 0x12, 0x13, 0x14)
    assert responder.data_to_send() == b""
    events = [responder.next_event(), responder.next_event()]
    assert events == [RequestAnswered(0x84, 0x04)] * 2
    assert responder.next_event() is None


# --- refusals: order, version, decoding, support -------------------------------------------


def test_requests_before_negotiation(device: DeviceModel) -> None:
    link = Link(Responder(make_config(), device, rng=Rng()), Rng())
    expect_error(link, GetDigests(spdm_version=0x12).encode(), UNEXPECTED)
    expect_error(link, GetCapabilities(spdm_version=0x12, flags=6, data_transfer_size=64,
                                       max_spdm_msg_size=64).encode(), UNEXPECTED)
    expect_error(link, RespondIfReady(spdm_version=0x10).encode(), UNEXPECTED)
    link.send(GetVersion().encode())
    expect_error(link, NegotiateAlgorithms(spdm_version=0x11).encode(), UNEXPECTED)
    expect_error(link, VendorDefinedRequest(spdm_version=0x11, standard_id=3).encode(),
                 UNEXPECTED)
    link.send(GetCapabilities(spdm_version=0x11, flags=6).encode())
    assert link.responder.state == ConnectionState.AFTER_CAPABILITIES
    expect_error(link, Challenge(spdm_version=0x11).encode(), UNEXPECTED, version=0x11)
    expect_error(link, GetCapabilities(spdm_version=0x11, flags=6).encode(), UNEXPECTED,
                 version=0x11)


def test_requests_after_negotiation(device: DeviceModel) -> None:
    link = connect(device, SpdmVersion.V12)
    expect_error(link, GetCapabilities(spdm_version=0x12, flags=6, data_transfer_size=64,
                                       max_spdm_msg_size=64).encode(), UNEXPECTED)
    expect_error(link, NegotiateAlgorithms(spdm_version=0x12, base_hash_algo=2).encode(),
                 UNEXPECTED)
    expect_error(link, RespondIfReady(spdm_version=0x12, request_code=0x83).encode(), UNEXPECTED)


def test_version_mismatch(device: DeviceModel) -> None:
    link = connect(device, SpdmVersion.V12)
    # GET_VERSION must carry 1.0, and its ERROR does too, even after negotiating 1.2.
    expect_error(link, b"\x12\x84\x00\x00", VERSION_MISMATCH, version=0x10)
    expect_error(link, GetDigests(spdm_version=0x11).encode(), VERSION_MISMATCH)
    expect_error(link, GetMeasurements(spdm_version=0x13, requester_context=bytes(8)).encode(),
                 VERSION_MISMATCH)


def test_capabilities_version_must_be_offered(device: DeviceModel) -> None:
    config = make_config(versions=(SpdmVersion.V12, SpdmVersion.V13))
    link = Link(Responder(config, device, rng=Rng()), Rng())
    assert Version.decode(link.send(GetVersion().encode())).versions == (0x12, 0x13)
    expect_error(link, GetCapabilities(spdm_version=0x11, flags=6).encode(), VERSION_MISMATCH)
    expect_error(link, b"\x14\xe1" + bytes(18), VERSION_MISMATCH)
    # A version we offer answers its own refusals in that version.
    expect_error(link, GetCapabilities(spdm_version=0x12, flags=6).encode(), INVALID,
                 version=0x12)


def test_algorithms_version_must_match_capabilities(device: DeviceModel) -> None:
    link = Link(Responder(make_config(), device, rng=Rng()), Rng())
    link.send(GetVersion().encode())
    link.send(GetCapabilities(spdm_version=0x11, flags=6).encode())
    expect_error(link, NegotiateAlgorithms(spdm_version=0x12, measurement_specification=1,
                                           base_asym_algo=P256, base_hash_algo=SHA384).encode(),
                 VERSION_MISMATCH, version=0x11)


@pytest.mark.parametrize("request_bytes", [
    b"", b"\x12", b"\x12\x81\x00",  # shorter than a header
    GetCertificate(spdm_version=0x12).encode()[:6],  # truncated
    GetDigests(spdm_version=0x12).encode() + b"\x01",  # trailing garbage
    GetDigests(spdm_version=0x12).encode() + bytes(4),  # more than DOE padding
    Challenge(spdm_version=0x12).encode()[:-1],
    GetMeasurements(spdm_version=0x12, attributes=1, nonce=bytes(32), slot_id=0).encode()[:-1],
], ids=["empty", "one", "three", "truncated", "trailing", "overpadded", "challenge", "meas"])
def test_undecodable_requests(device: DeviceModel, request_bytes: bytes) -> None:
    link = connect(device, SpdmVersion.V12)
    expect_error(link, request_bytes, INVALID)


def test_doe_padding_accepted(device: DeviceModel) -> None:
    link = connect(device, SpdmVersion.V12)
    digests = link.send(GetDigests(spdm_version=0x12).encode() + bytes(3))
    assert digests[1] == ResponseCode.DIGESTS
    # The transcript holds the request without its padding.
    assert bytes(link.responder.transcript.b) == b"\x12\x81\x00\x00" + digests


def test_challenge_13_needs_requester_context(device: DeviceModel) -> None:
    link = connect(device, SpdmVersion.V13)
    expect_error(link, Challenge(spdm_version=0x12).encode().replace(b"\x12", b"\x13", 1),
                 INVALID)


@pytest.mark.parametrize("code", [
    0x90, 0x01, 0x7F, RequestCode.KEY_EXCHANGE, RequestCode.FINISH, RequestCode.PSK_EXCHANGE,
    RequestCode.HEARTBEAT, RequestCode.END_SESSION, RequestCode.GET_ENCAPSULATED_REQUEST,
    RequestCode.GET_CSR, RequestCode.SET_CERTIFICATE, RequestCode.CHUNK_GET,
    RequestCode.CHUNK_SEND, RequestCode.GET_ENDPOINT_INFO, RequestCode.SUBSCRIBE_EVENT_TYPES,
    RequestCode.GET_SUPPORTED_EVENT_TYPES, RequestCode.GET_MEASUREMENT_EXTENSION_LOG,
    RequestCode.GET_KEY_PAIR_INFO, RequestCode.SET_KEY_PAIR_INFO,
], ids=_id)
def test_unsupported_requests(device: DeviceModel, code: int) -> None:
    link = connect(device, SpdmVersion.V13)
    expect_error(link, bytes([0x13, code, 0, 0]) + bytes(40), UNSUPPORTED, data=code)
    # Before VERSION too: an unknown code is unsupported rather than out of order.
    fresh = Link(Responder(make_config(), device, rng=Rng()), Rng())
    expect_error(fresh, bytes([0x10, code, 0, 0]), UNSUPPORTED, data=code)


@pytest.mark.parametrize(("caps", "request_bytes"), [
    (CapabilityFlags.CHAL_CAP | CapabilityFlags.MEAS_CAP_SIG, GetDigests(spdm_version=0x12)),
    (CapabilityFlags.CHAL_CAP | CapabilityFlags.MEAS_CAP_SIG,
     GetCertificate(spdm_version=0x12)),
    (CapabilityFlags.CERT_CAP | CapabilityFlags.MEAS_CAP_SIG, Challenge(spdm_version=0x12)),
    (CapabilityFlags.CERT_CAP | CapabilityFlags.CHAL_CAP, GetMeasurements(spdm_version=0x12)),
], ids=["digests", "certificate", "challenge", "measurements"])
def test_requests_without_capability(device: DeviceModel, caps: CapabilityFlags,
                                     request_bytes: Message) -> None:
    link = connect(device, SpdmVersion.V12, make_config(capabilities=caps))
    expect_error(link, request_bytes.encode(), UNSUPPORTED, data=request_bytes.CODE)


# --- refusals: GET_CAPABILITIES ---------------------------------------------------------------

F = CapabilityFlags
_BAD_FLAGS = [
    (0x11, F.CERT_CAP | F.CHAL_CAP | F.ENCRYPT_CAP | F.MAC_CAP | F.PSK_CAP | F.PSK_CAP_WITH_CONTEXT),
    (0x11, F.CERT_CAP | F.CHAL_CAP | F.KEY_EX_CAP),
    (0x11, F.CERT_CAP | F.CHAL_CAP | F.MAC_CAP),
    (0x11, F.CERT_CAP | F.CHAL_CAP | F.HBEAT_CAP),
    (0x11, F.CERT_CAP | F.CHAL_CAP | F.PUB_KEY_ID_CAP),
    (0x11, F.CERT_CAP),
    (0x11, F.CHAL_CAP),
    (0x11, F.MUT_AUTH_CAP | F.KEY_EX_CAP | F.MAC_CAP),
    (0x11, F.CERT_CAP | F.CHAL_CAP | F.MUT_AUTH_CAP),
    (0x12, F.CHAL_CAP | F.PUB_KEY_ID_CAP | F.MAC_CAP | F.PSK_CAP | F.HANDSHAKE_IN_THE_CLEAR_CAP),
    (0x13, F.CERT_CAP | F.CHAL_CAP | F.MULTI_KEY_CAP_ONLY | F.MULTI_KEY_CAP_NEG),
    (0x13, F.PUB_KEY_ID_CAP | F.CHAL_CAP | F.MULTI_KEY_CAP_ONLY),
    (0x13, F.CERT_CAP | F.CHAL_CAP | F.EP_INFO_CAP_NO_SIG | F.EP_INFO_CAP_SIG),
    (0x13, F.EP_INFO_CAP_SIG),
    (0x13, F.CERT_CAP | F.CHAL_CAP | F.EVENT_CAP),
]


@pytest.mark.parametrize(("version", "flags"), _BAD_FLAGS)
def test_capabilities_bad_flags(device: DeviceModel, version: int, flags: int) -> None:
    link = Link(Responder(make_config(), device, rng=Rng()), Rng())
    link.send(GetVersion().encode())
    request = GetCapabilities(spdm_version=version, flags=flags, data_transfer_size=0x1200,
                              max_spdm_msg_size=0x1200).encode()
    expect_error(link, request, INVALID, version=version)
    assert link.responder.state == ConnectionState.AFTER_VERSION


@pytest.mark.parametrize(("version", "fields"), [
    (0x11, {"ct_exponent": 32}),
    (0x12, {"data_transfer_size": 41, "max_spdm_msg_size": 41}),
    (0x12, {"data_transfer_size": 100, "max_spdm_msg_size": 99}),
    (0x12, {"data_transfer_size": 100, "max_spdm_msg_size": 200}),  # differ without CHUNK_CAP
    (0x13, {"param1": 1}),  # SupportedAlgorithms without CHUNK_CAP
], ids=["ct", "dts42", "dts>max", "nochunk", "param1"])
def test_capabilities_bad_fields(device: DeviceModel, version: int, fields: dict[str, Any]
                                 ) -> None:
    link = Link(Responder(make_config(), device, rng=Rng()), Rng())
    link.send(GetVersion().encode())
    request = dataclasses.replace(GetCapabilities(
        spdm_version=version, flags=REQ_FLAGS, data_transfer_size=64, max_spdm_msg_size=64),
        **fields)
    expect_error(link, request.encode(), INVALID, version=version)


def test_capabilities_accepted_edge_cases(device: DeviceModel) -> None:
    # CHUNK_CAP allows MaxSPDMmsgSize > DataTransferSize and the SupportedAlgorithms request,
    # which we still answer without the block (Param1 = 0).
    link = Link(Responder(make_config(), device, rng=Rng()), Rng())
    link.send(GetVersion().encode())
    flags = REQ_FLAGS | F.CHUNK_CAP
    caps = Capabilities.decode(link.send(GetCapabilities(
        spdm_version=0x13, param1=1, flags=flags, ct_exponent=31, data_transfer_size=42,
        max_spdm_msg_size=0x10000).encode()))
    assert caps.param1 == 0 and caps.supported_algorithms is None
    # A requester with no capabilities at all is fine.
    link.send(GetVersion().encode())
    link.send(GetCapabilities(spdm_version=0x11).encode())
    assert link.responder.state == ConnectionState.AFTER_CAPABILITIES


def test_capabilities_flags_masked_per_version(device: DeviceModel) -> None:
    config = make_config(capabilities=CMA_CAPS | F.CHUNK_CAP | F.ENCAP_CAP)
    for version, expected in [(0x10, CMA_CAPS),
                              (0x11, CMA_CAPS | F.ENCAP_CAP),
                              (0x12, config.capabilities)]:
        link = Link(Responder(config, device, rng=Rng()), Rng())
        link.send(GetVersion().encode())
        caps = Capabilities.decode(link.send(GetCapabilities(
            spdm_version=version, flags=REQ_FLAGS if version > 0x10 else 0,
            data_transfer_size=64, max_spdm_msg_size=64).encode()))
        assert caps.flags == expected


# --- refusals and selections: NEGOTIATE_ALGORITHMS --------------------------------------------


def _after_capabilities(device: DeviceModel, version: int, config: ResponderConfig | None = None,
                        flags: int = REQ_FLAGS) -> Link:
    link = Link(Responder(config or make_config(), device, rng=Rng()), Rng(), version)
    link.send(GetVersion().encode())
    link.send(GetCapabilities(spdm_version=version, flags=flags if version > 0x10 else 0,
                              data_transfer_size=0x1200, max_spdm_msg_size=0x1200).encode())
    return link


def _negotiate(version: int, **fields: object) -> bytes:
    values: dict[str, object] = {
        "measurement_specification": 1, "base_asym_algo": P256, "base_hash_algo": SHA384,
        **fields}
    return NegotiateAlgorithms(spdm_version=version, **values).encode()  # type: ignore[arg-type]


def _struct(alg_type: int, bits: int = 1) -> AlgStruct:
    return AlgStruct(alg_type, bits)


@pytest.mark.parametrize(("version", "fields"), [
    (0x11, {"alg_structs": (_struct(3), _struct(2))}),  # descending
    (0x11, {"alg_structs": (_struct(2), _struct(2))}),  # duplicate
    (0x11, {"alg_structs": (_struct(6),)}),  # unknown AlgType
    (0x11, {"alg_structs": (_struct(1),)}),
    (0x11, {"alg_structs": (_struct(2, 0),)}),  # offers nothing
    (0x11, {"ext_asym": (bytes(4),) * 21}),  # too many external algorithms
    (0x12, {"ext_asym": (bytes(4),) * 17, "alg_structs": (AlgStruct(2, 8, (bytes(4),) * 4),)}),
    (0x11, {"ext_asym": (bytes(4),) * 13, "ext_hash": (bytes(4),) * 12}),  # Length 132 > 128
    (0x10, {"ext_asym": (bytes(4),) * 9}),  # Length 68 > 64 in 1.0
    (0x12, {"base_hash_algo": BaseHashAlgo.SHA3_256}),  # no common hash
    (0x12, {"base_asym_algo": BaseAsymAlgo.RSASSA_2048}),  # no common signature algorithm
    (0x12, {"measurement_specification": 0}),  # we measure: DMTF is required
], ids=["order", "duplicate", "type6", "type1", "empty", "ext20", "ext-structs", "len128",
        "len64", "hash", "asym", "measspec"])
def test_algorithms_refused(device: DeviceModel, version: int, fields: dict[str, object]) -> None:
    link = _after_capabilities(device, version)
    expect_error(link, _negotiate(version, **fields), INVALID, version=version)
    assert link.responder.state == ConnectionState.AFTER_CAPABILITIES


def test_algorithms_length_field_must_match(device: DeviceModel) -> None:
    link = _after_capabilities(device, 0x12)
    request = bytearray(_negotiate(0x12))
    request[4] += 4
    expect_error(link, bytes(request), INVALID, version=0x12)


@pytest.mark.parametrize(("version", "offered", "selected"), [
    (0x12, OpaqueDataFormat.FMT0, OpaqueDataFormat.FMT0),
    (0x12, OpaqueDataFormat.FMT0 | OpaqueDataFormat.FMT1, OpaqueDataFormat.FMT1),
    (0x12, 0, 0),
    (0x13, 0x10 | OpaqueDataFormat.FMT1, OpaqueDataFormat.FMT1),  # never MULTI_KEY_CONN
    (0x11, OpaqueDataFormat.FMT1, 0),  # no OtherParams before 1.2
], ids=["fmt0", "both", "none", "multikey", "v11"])
def test_other_params_selection(device: DeviceModel, version: int, offered: int,
                                selected: int) -> None:
    link = _after_capabilities(device, version)
    algs = Algorithms.decode(link.send(_negotiate(version, other_params_support=offered,
                                                  mel_specification=1)))
    assert algs.other_params_selection == selected and algs.mel_specification_sel == 0


def test_eddsa_only_from_12() -> None:
    device = DeviceModel.generate(BaseAsymAlgo.EDDSA_ED25519)
    prefs = AlgorithmPreferences(asym_algs=(BaseAsymAlgo.EDDSA_ED25519, P256))
    offer = BaseAsymAlgo.EDDSA_ED25519 | BaseAsymAlgo.RSASSA_2048
    link = _after_capabilities(device, 0x11, make_config(algorithms=prefs))
    expect_error(link, _negotiate(0x11, base_asym_algo=offer), INVALID, version=0x11)
    link = _after_capabilities(device, 0x12, make_config(algorithms=prefs))
    algs = Algorithms.decode(link.send(_negotiate(0x12, base_asym_algo=offer)))
    assert algs.base_asym_sel == BaseAsymAlgo.EDDSA_ED25519


def test_only_the_device_keys_algorithm_is_selected(device: DeviceModel) -> None:
    """Preferences naming an algorithm the key cannot sign with do not make it selectable."""
    prefs = AlgorithmPreferences(asym_algs=(BaseAsymAlgo.ECDSA_P384, P256))
    link = _after_capabilities(device, 0x12, make_config(algorithms=prefs))
    offer = BaseAsymAlgo.ECDSA_P384 | P256
    algs = Algorithms.decode(link.send(_negotiate(0x12, base_asym_algo=offer)))
    assert algs.base_asym_sel == device.asym_alg == P256
    link = _after_capabilities(device, 0x12, make_config(algorithms=prefs))
    expect_error(link, _negotiate(0x12, base_asym_algo=BaseAsymAlgo.ECDSA_P384), INVALID, version=0x12)


def test_session_algorithms_selected_when_both_sides_use_them(device: DeviceModel) -> None:
    session_caps = F.KEY_EX_CAP | F.ENCRYPT_CAP | F.MAC_CAP | F.MUT_AUTH_CAP | F.ENCAP_CAP
    config = make_config(capabilities=DEFAULT_RESPONDER_CAPS | session_caps)
    link = _after_capabilities(device, 0x12, config, flags=REQ_FLAGS | session_caps)
    algs = Algorithms.decode(link.send(_negotiate(0x12, alg_structs=SESSION_STRUCTS)))
    assert algs.alg_structs == (
        AlgStruct(AlgType.DHE, DheGroup.SECP_384_R1),
        AlgStruct(AlgType.AEAD, AeadSuite.AES_256_GCM),
        AlgStruct(AlgType.REQ_BASE_ASYM_ALG, BaseAsymAlgo.RSAPSS_3072),
        AlgStruct(AlgType.KEY_SCHEDULE, KeyScheduleAlgo.SPDM),
    )
    negotiated = link.responder.negotiated
    assert negotiated is not None and negotiated.dhe_group == DheGroup.SECP_384_R1
    # A session capability with no common algorithm for it is refused.
    link = _after_capabilities(device, 0x12, config, flags=REQ_FLAGS | session_caps)
    expect_error(link, _negotiate(0x12, alg_structs=(AlgStruct(AlgType.DHE, DheGroup.SM2_P256),)),
                 INVALID, version=0x12)


# --- refusals: slots, offsets, indices ------------------------------------------------------


def test_certificate_refusals(device: DeviceModel) -> None:
    link = connect(device, SpdmVersion.V12)
    size = len(device.certificate_chain(0, SHA384) or b"")
    expect_error(link, GetCertificate(spdm_version=0x12, slot_id=2).encode(), INVALID)
    expect_error(link, GetCertificate(spdm_version=0x12, offset=size).encode(), INVALID)
    expect_error(link, GetCertificate(spdm_version=0x12, offset=size + 100).encode(), INVALID)
    last = Certificate.decode(link.send(GetCertificate(spdm_version=0x12, offset=size - 1
                                                       ).encode()))
    assert (len(last.cert_chain), last.remainder_length) == (1, 0)


@pytest.mark.parametrize(("slot", "summary"), [(2, 0), (0xFF, 0), (8, 0), (0, 2), (0, 0xFE)])
def test_challenge_refusals(device: DeviceModel, slot: int, summary: int) -> None:
    link = connect(device, SpdmVersion.V12)
    expect_error(link, Challenge(spdm_version=0x12, slot_id=slot,
                                 measurement_summary_hash_type=summary).encode(), INVALID)


def test_challenge_summary_needs_meas_cap(device: DeviceModel) -> None:
    link = connect(device, SpdmVersion.V12, make_config(capabilities=REQ_FLAGS))
    expect_error(link, Challenge(spdm_version=0x12, measurement_summary_hash_type=0xFF).encode(),
                 INVALID)
    auth = ChallengeAuth.decode(link.send(Challenge(spdm_version=0x12).encode()), CTX)
    assert auth.measurement_summary_hash == b""


def test_measurement_refusals(device: DeviceModel) -> None:
    link = connect(device, SpdmVersion.V12)
    for index in (5, 0x11, 0xFC):  # absent, as the reference answers (vectors/.../dump.txt)
        expect_error(link, GetMeasurements(spdm_version=0x12, operation=index).encode(), INVALID)
    for slot in (2, 0xF):
        expect_error(link, GetMeasurements(spdm_version=0x12, attributes=1, operation=1,
                                           nonce=bytes(32), slot_id=slot).encode(), INVALID)
    unsigned_only = make_config(capabilities=REQ_FLAGS | F.MEAS_CAP_NO_SIG)
    link = connect(device, SpdmVersion.V12, unsigned_only)
    expect_error(link, GetMeasurements(spdm_version=0x12, attributes=1, operation=1,
                                       nonce=bytes(32), slot_id=0).encode(), INVALID)
    assert Measurements.decode(link.send(GetMeasurements(spdm_version=0x12, operation=1
                                                         ).encode()), CTX).blocks


def test_error_to_measurements_resets_l1(device: DeviceModel) -> None:
    link = connect(device, SpdmVersion.V11)
    first = GetMeasurements(spdm_version=0x11, operation=1).encode()
    link.send(first)
    expect_error(link, GetMeasurements(spdm_version=0x11, operation=9).encode(), INVALID)
    unsigned = GetMeasurements(spdm_version=0x11, operation=2).encode()
    unsigned_rsp = link.send(unsigned)
    signed = GetMeasurements(spdm_version=0x11, attributes=1, operation=3, nonce=bytes(32),
                             slot_id=0).encode()
    signed_rsp = link.send(signed)
    check_signature(device, 0, 0x11, MEASUREMENTS_CONTEXT,
                    unsigned + unsigned_rsp + signed + signed_rsp[:-S], signed_rsp[-S:])


def test_response_too_large(device: DeviceModel) -> None:
    link = connect(device, SpdmVersion.V12, dts=42)
    error = expect_error(link, GetDigests(spdm_version=0x12).encode(), TOO_LARGE)
    assert error.extended_data == (4 + 2 * H).to_bytes(4, "little")
    count = Measurements.decode(link.send(GetMeasurements(spdm_version=0x12).encode()), CTX)
    assert count.total_indices == 7  # 42 bytes: exactly fits
    error = expect_error(link, GetMeasurements(spdm_version=0x12, operation=0xFF).encode(),
                         TOO_LARGE)
    assert int.from_bytes(error.extended_data, "little") == 8 + len(all_blocks(device)) + 34
    assert bytes(link.responder.transcript.m) == b""
    # Before 1.2 nobody declares a DataTransferSize: nothing is refused for size.
    link = connect(device, SpdmVersion.V11, dts=42)
    assert link.send(GetMeasurements(spdm_version=0x11, operation=0xFF).encode())[1] == 0x60


# --- ResponseNotReady / RESPOND_IF_READY ----------------------------------------------------


def test_not_ready_then_respond_if_ready(device: DeviceModel) -> None:
    config = make_config(not_ready_requests=frozenset({RequestCode.CHALLENGE,
                                                       RequestCode.GET_MEASUREMENTS}),
                         rdt_exponent=5)
    link = connect(device, SpdmVersion.V12, config)
    get_digests(link, device)
    fetch_chain(link, 0)
    challenge = Challenge(spdm_version=0x12, nonce=b"r" * 32).encode()
    error = expect_error(link, challenge, NOT_READY)
    not_ready = error.not_ready
    assert not_ready is not None
    assert (not_ready.rdt_exponent, not_ready.request_code, not_ready.token, not_ready.rdtm) == (
        5, RequestCode.CHALLENGE, 0, 1)
    expect_error(link, RespondIfReady(spdm_version=0x12, request_code=0x83, token=1).encode(),
                 INVALID)
    expect_error(link, RespondIfReady(spdm_version=0x12, request_code=0xE0, token=0).encode(),
                 INVALID)
    expect_error(link, RespondIfReady(spdm_version=0x11, request_code=0x83).encode(),
                 VERSION_MISMATCH)
    expect_error(link, RespondIfReady(spdm_version=0x12, request_code=0x83).encode() + b"\x01",
                 INVALID)
    response = link.send(RespondIfReady(spdm_version=0x12, request_code=0x83).encode())
    auth = ChallengeAuth.decode(response, CTX)
    # Signed as if it had been sent straight away: no ERROR, no RESPOND_IF_READY in M1.
    check_signature(device, 0, 0x12, CHALLENGE_CONTEXT,
                    link.a + link.b + challenge + response[:-S], auth.signature)
    expect_error(link, RespondIfReady(spdm_version=0x12, request_code=0x83).encode(), UNEXPECTED)
    # Only the first CHALLENGE is held back; a success reset B.
    again = Challenge(spdm_version=0x12, nonce=b"s" * 32).encode()
    response = link.send(again)
    check_signature(device, 0, 0x12, CHALLENGE_CONTEXT, link.a + again + response[:-S],
                    ChallengeAuth.decode(response, CTX).signature)

    measure = GetMeasurements(spdm_version=0x12, attributes=1, operation=0xFF, nonce=bytes(32),
                              slot_id=1).encode()
    error = expect_error(link, measure, NOT_READY)
    assert error.not_ready is not None and error.not_ready.token == 1
    response = link.send(RespondIfReady(spdm_version=0x12, request_code=0xE0, token=1).encode())
    signed = Measurements.decode(response, dataclasses.replace(CTX, signed=True))
    check_signature(device, 1, 0x12, MEASUREMENTS_CONTEXT, link.a + measure + response[:-S],
                    signed.signature)


def test_new_request_abandons_held_response(device: DeviceModel) -> None:
    config = make_config(not_ready_requests=frozenset({RequestCode.GET_DIGESTS}))
    link = connect(device, SpdmVersion.V11, config)
    expect_error(link, GetDigests(spdm_version=0x11).encode(), NOT_READY)
    link.send(GetCertificate(spdm_version=0x11).encode())
    expect_error(link, RespondIfReady(spdm_version=0x11, request_code=0x81).encode(), UNEXPECTED)
    # Held back once per connection: a new GET_VERSION arms it again.
    assert link.send(GetDigests(spdm_version=0x11).encode())[1] == ResponseCode.DIGESTS
    link.send(GetVersion().encode())
    link.send(GetCapabilities(spdm_version=0x11, flags=REQ_FLAGS).encode())
    link.send(_negotiate(0x11))
    expect_error(link, GetDigests(spdm_version=0x11).encode(), NOT_READY)


# --- vendor-defined requests ----------------------------------------------------------------


def test_vendor_defined(device: DeviceModel) -> None:
    link = connect(device, SpdmVersion.V12)
    seen: list[bytes] = []

    def reverse(payload: bytes, session_id: int | None) -> bytes:
        assert session_id is None  # sent in the clear
        seen.append(payload)
        return payload[::-1]

    def refuse(payload: bytes, session_id: int | None) -> bytes:
        raise RemoteProtocolError("bad IDE_KM object", error_code=SpdmErrorCode.INVALID_REQUEST)

    def busy(payload: bytes, session_id: int | None) -> bytes:
        raise LocalProtocolError("device busy", error_code=SpdmErrorCode.BUSY)

    link.responder.register_vendor_handler(3, b"\x01\x00", reverse)
    link.responder.register_vendor_handler(3, b"\x02\x00", refuse)
    link.responder.register_vendor_handler(0, b"", busy)
    request = VendorDefinedRequest(spdm_version=0x12, standard_id=3, vendor_id=b"\x01\x00",
                                   payload=b"\x00\x00\x01\x02")
    response = VendorDefinedResponse.decode(link.send(request.encode()))
    assert (response.standard_id, response.vendor_id, response.payload) == (
        3, b"\x01\x00", b"\x02\x01\x00\x00")
    assert seen == [b"\x00\x00\x01\x02"]
    expect_error(link, dataclasses.replace(request, vendor_id=b"\x02\x00").encode(), INVALID)
    expect_error(link, dataclasses.replace(request, standard_id=0, vendor_id=b"").encode(), 0x03)
    expect_error(link, dataclasses.replace(request, vendor_id=b"\x03\x00").encode(),
                 UNSUPPORTED, data=RequestCode.VENDOR_DEFINED_REQUEST)
    # Vendor traffic stays out of the transcripts.
    assert bytes(link.responder.transcript.a) == link.a


# --- configuration --------------------------------------------------------------------------


def test_configuration_checked_up_front(device: DeviceModel) -> None:
    with pytest.raises(ConfigurationError):
        Responder(make_config(algorithms=AlgorithmPreferences(hash_algs=(BaseHashAlgo.SM3_256,))),
                  device)
    with pytest.raises(ConfigurationError):
        Responder(make_config(algorithms=AlgorithmPreferences(measurement_hash_algs=())), device)
    Responder(make_config(capabilities=REQ_FLAGS,
                          algorithms=AlgorithmPreferences(measurement_hash_algs=())), device)


class _BrokenSigner(DeviceModel):
    """A backend whose key store fails at signing time (an HSM gone away)."""

    def sign(self, *args: object, **kwargs: object) -> bytes:
        raise ConfigurationError("the key store is unavailable")


def test_backend_failing_to_sign_is_unspecified(device: DeviceModel) -> None:
    # The device cannot sign: the request is refused with Unspecified, nothing escapes.
    broken = _BrokenSigner(device.slots, device.measurements)
    link = connect(broken, SpdmVersion.V12, make_config())
    expect_error(link, Challenge(spdm_version=0x12).encode(), 0x05)
    expect_error(link, GetMeasurements(spdm_version=0x12, attributes=1, nonce=bytes(32),
                                       slot_id=0).encode(), 0x05)
    assert bytes(link.responder.transcript.m) == b""


# --- replay of the reference requester (libspdm captures) -------------------------------------

_STOP = {RequestCode.KEY_EXCHANGE, RequestCode.PSK_EXCHANGE, RequestCode.GET_ENCAPSULATED_REQUEST}
_VCA = {RequestCode.GET_VERSION, RequestCode.GET_CAPABILITIES, RequestCode.NEGOTIATE_ALGORITHMS}


def _replayed(name: str) -> list[Exchange]:
    out = []
    for exchange in spdm_exchanges(name):
        if exchange.request_payload[1] in _STOP:
            break
        out.append(exchange)
    return out


class IndependentTranscript:
    """The transcript rules of PROTOCOLS.md §5, written out again for the tests.

    Fed (request, response) pairs in order, it returns for each signed
    response the bytes the signature covers.
    """

    def __init__(self, signature_size_: int) -> None:
        self.s = signature_size_
        self.version = SpdmVersion.V10
        self.a = self.b = self.m = b""
        self.authenticated = False

    def exchange(self, request: bytes, response: bytes) -> bytes | None:
        code, answer = request[1], response[1]
        if code == RequestCode.GET_VERSION:
            self.a = self.b = self.m = b""
            self.authenticated = False
        if code != RequestCode.GET_MEASUREMENTS:
            self.m = b""
        if code == RequestCode.GET_DIGESTS or (
                code == RequestCode.GET_MEASUREMENTS and not self.authenticated):
            self.b = b""
        if answer == ResponseCode.ERROR:
            if code == RequestCode.GET_MEASUREMENTS:
                self.m = b""
            return None
        if code == RequestCode.GET_CAPABILITIES:
            self.version = SpdmVersion(request[0])
        if code in _VCA:
            self.a += request + response
        elif code in (RequestCode.GET_DIGESTS, RequestCode.GET_CERTIFICATE):
            self.b += request + response
        elif code == RequestCode.CHALLENGE:
            signed = self.a + self.b + request + response[:-self.s]
            self.b = b""
            self.authenticated = True
            return signed
        elif code == RequestCode.GET_MEASUREMENTS:
            if not request[2] & 1:
                self.m += request + response
                return None
            self.m += request + response[:-self.s]
            signed = (self.a if self.version >= 0x12 else b"") + self.m
            self.m = b""
            return signed
        return None


@dataclass(frozen=True)
class Reference:
    """What the captured negotiation settled, to configure a look-alike device."""

    version: int
    hash_alg: BaseHashAlgo
    asym: BaseAsymAlgo
    measurement_hash: MeasurementHashAlgo
    slots: tuple[int, ...]
    sources: tuple[MeasurementSource, ...]


def _reference(exchanges: list[Exchange]) -> Reference:
    algs = next(Algorithms.decode(e.response_payload, padded=True) for e in exchanges
                if e.response_payload[1] == ResponseCode.ALGORITHMS)
    hash_alg = BaseHashAlgo(algs.base_hash_sel)
    asym = BaseAsymAlgo(algs.base_asym_sel)
    ctx = CodecContext(hash_size=digest(hash_alg, b"").__len__(),
                       signature_size=signature_size(asym), multi_key=bool(
                           algs.other_params_selection & 0x10))
    mask = next(Digests.decode(e.response_payload, ctx, padded=True).provisioned_slot_mask
                for e in exchanges if e.response_payload[1] == ResponseCode.DIGESTS)
    blocks = {}
    for e in exchanges:
        if e.response_payload[1] == ResponseCode.MEASUREMENTS:
            signed = bool(e.request_payload[2] & 1)
            rsp = Measurements.decode(e.response_payload, dataclasses.replace(ctx, signed=signed),
                                      padded=True)
            blocks.update({b.index: b for b in rsp.blocks})
    sources = tuple(
        MeasurementSource(i, DmtfValueType(b.kind), b"reference index %d" % i, not b.raw_bit_stream)
        for i, b in sorted(blocks.items()))
    return Reference(algs.spdm_version, hash_alg, asym,
                     MeasurementHashAlgo(algs.measurement_hash_algo),
                     tuple(s for s in range(8) if mask >> s & 1), sources)


def _context(ref: Reference, request: bytes, *, multi_key: bool = False) -> CodecContext:
    code = request[1]
    return CodecContext(
        hash_size=len(digest(ref.hash_alg, b"")), signature_size=signature_size(ref.asym),
        measurement_summary=code == RequestCode.CHALLENGE and request[3] != 0,
        signed=code == RequestCode.GET_MEASUREMENTS and bool(request[2] & 1),
        multi_key=multi_key)


def _signed_pairs(ref: Reference, pairs: list[tuple[bytes, bytes]]) -> Iterator[
        tuple[bytes, bytes, bytes]]:
    """(request, response, signed transcript) for each signed response of a sequence."""
    transcript = IndependentTranscript(signature_size(ref.asym))
    for request, response in pairs:
        signed = transcript.exchange(request, response)
        if signed is not None:
            yield request, response, signed


def _slot_of(request: bytes) -> int:
    if request[1] == RequestCode.CHALLENGE:
        return request[2]
    return request[36] & 0xF if request[0] >= 0x11 else 0


@pytest.mark.parametrize("name", SETS)
def test_replay_reference_requester(name: str) -> None:
    exchanges = _replayed(name)
    ref = _reference(list(spdm_exchanges(name)))
    model = DeviceModel.generate(ref.asym, slots=ref.slots, measurements=ref.sources)
    config = ResponderConfig(capabilities=CMA_CAPS, algorithms=AlgorithmPreferences(
        hash_algs=(ref.hash_alg,), asym_algs=(ref.asym,),
        measurement_hash_algs=(ref.measurement_hash,)))
    responder = Responder(config, model, rng=Rng())
    ours: list[tuple[bytes, bytes]] = []
    theirs: list[tuple[bytes, bytes]] = []
    signed_codes = set()
    for exchange in exchanges:
        request_type = REQUEST_TYPES[exchange.request_payload[1]]
        request = request_type.decode(exchange.request_payload, padded=True).raw
        answer = responder.handle(exchange.request_payload)  # padded, as the DOE object carried it
        captured = exchange.response_payload
        assert answer[1] == captured[1], (exchange.index, answer[:4].hex(), captured[:4].hex())
        multi = bool(ref.version >= 0x13 and captured[1] == ResponseCode.DIGESTS)
        ctx = _context(ref, request)
        mine = RESPONSE_TYPES[answer[1]].decode(answer, ctx)
        reference = RESPONSE_TYPES[captured[1]].decode(
            captured, _context(ref, request, multi_key=multi), padded=True)
        assert type(mine) is type(reference)
        _assert_documented_difference(ref, mine, reference)
        ours.append((request, answer))
        theirs.append((request, reference.raw))
        if answer[1] in (ResponseCode.CHALLENGE_AUTH, ResponseCode.MEASUREMENTS):
            signed_codes.add(answer[1])

    # Every signature we produced verifies over a transcript built independently...
    verified = 0
    for request, response, signed in _signed_pairs(ref, ours):
        context = CHALLENGE_CONTEXT if request[1] == RequestCode.CHALLENGE else MEASUREMENTS_CONTEXT
        verify(model.slots[_slot_of(request)].leaf.public_key(), ref.asym, ref.hash_alg,
               SpdmVersion(ref.version), context, signed, response[-signature_size(ref.asym):])
        verified += 1
    assert verified == {"spdm11-p256": 10, "spdm12-p384": 2}.get(name, 1)
    # ...and the same transcript rules verify the reference's own signatures (so they are right).
    chains = {
        Certificate.decode(rsp).slot_id: parse_spdm_cert_chain(Certificate.decode(rsp).cert_chain,
                                                               ref.hash_alg)
        for _, rsp in theirs if rsp[1] == ResponseCode.CERTIFICATE}
    reference_verified = 0
    for request, response, signed in _signed_pairs(ref, theirs):
        context = CHALLENGE_CONTEXT if request[1] == RequestCode.CHALLENGE else MEASUREMENTS_CONTEXT
        verify(chains[_slot_of(request)].leaf.public_key(), ref.asym, ref.hash_alg,
               SpdmVersion(ref.version), context, signed, response[-signature_size(ref.asym):])
        reference_verified += 1
    assert reference_verified == verified


def _assert_documented_difference(ref: Reference, mine: Message, reference: Message) -> None:
    """Where our answer legitimately differs in shape from the reference, say exactly how."""
    if isinstance(mine, Version) and isinstance(reference, Version):
        assert reference.versions == (ref.version,)
        assert mine.versions == (0x10, 0x11, 0x12, 0x13, 0x14)  # we offer every version
    elif isinstance(mine, Capabilities) and isinstance(reference, Capabilities):
        # The reference device also does sessions, PSK, mutual auth...; ours authenticates.
        assert mine.flags == CMA_CAPS
        assert reference.flags & CMA_CAPS == CMA_CAPS
    elif isinstance(mine, Algorithms) and isinstance(reference, Algorithms):
        for field_name in ("base_hash_sel", "base_asym_sel", "measurement_hash_algo",
                           "measurement_specification_sel"):
            assert getattr(mine, field_name) == getattr(reference, field_name)
        # Without session capabilities every AlgStruct is answered 0 (the reference selects).
        assert [a.alg_type for a in mine.alg_structs] == [a.alg_type for a in reference.alg_structs]
        assert all(a.alg_supported == 0 for a in mine.alg_structs)
        # We never select MULTI_KEY_CONN or a MEL specification (the 1.3 reference does).
        assert mine.other_params_selection == reference.other_params_selection & 0x0F
        assert mine.mel_specification_sel == 0
    elif isinstance(mine, Digests) and isinstance(reference, Digests):
        assert mine.provisioned_slot_mask == reference.provisioned_slot_mask
        assert mine.supported_slot_mask == reference.supported_slot_mask
        assert mine.key_pair_ids == ()  # no multi-key tail without MULTI_KEY_CONN
    elif isinstance(mine, Certificate) and isinstance(reference, Certificate):
        assert mine.remainder_length == reference.remainder_length == 0
        assert mine.certificate_info == 0  # CertificateInfo only with MULTI_KEY_CONN
    elif isinstance(mine, ChallengeAuth) and isinstance(reference, ChallengeAuth):
        # The 1.3 reference asks for basic mutual authentication (b7); we never do.
        assert mine.attributes == reference.attributes & 0x0F
        assert mine.slot_mask == reference.slot_mask
        assert len(mine.measurement_summary_hash) == len(reference.measurement_summary_hash)
    elif isinstance(mine, Measurements) and isinstance(reference, Measurements):
        assert mine.total_indices == reference.total_indices
        assert mine.attributes == reference.attributes
        # Same indices and types (the device mirrors the reference's); raw values differ.
        assert [(b.index, b.value_type) for b in mine.blocks] == [
            (b.index, b.value_type) for b in reference.blocks]
        assert [len(b.value) for b in mine.blocks if not b.raw_bit_stream] == [
            len(b.value) for b in reference.blocks if not b.raw_bit_stream]
    elif isinstance(mine, ErrorResponse) and isinstance(reference, ErrorResponse):
        assert (mine.error_code, mine.error_data) == (reference.error_code, reference.error_data)
    else:
        raise AssertionError(f"unexpected pair {type(mine).__name__}/{type(reference).__name__}")
