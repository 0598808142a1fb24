"""Property tests of the SPDM codec (R10): decoders raise only DecodeError; decode(encode(m)) == m.

Random bytes behind a valid header, and captured libspdm messages mutated
(bit flips, byte changes, truncation, extension, cuts, insertions), are given
to every message class's decoder under several contexts: each must decode or
raise :class:`DecodeError` (any other exception is a bug), and whatever
decodes must re-encode to bytes that decode to the same message.  Generated
valid messages of every class survive a round trip.  Deterministic
(``derandomize``); about 20 s.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spdm.errors import DecodeError
from spdm.messages import (
    NO_CONTEXT,
    REQUEST_TYPES,
    RESPONSE_TYPES,
    Algorithms,
    AlgStruct,
    Capabilities,
    Certificate,
    Challenge,
    ChallengeAuth,
    ChunkGet,
    ChunkResponse,
    ChunkSend,
    ChunkSendAck,
    CodecContext,
    DeliverEncapsulatedResponse,
    Digests,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    EndSession,
    EndSessionAck,
    ErrorResponse,
    Finish,
    FinishRsp,
    GetCapabilities,
    GetCertificate,
    GetDigests,
    GetEncapsulatedRequest,
    GetMeasurements,
    GetVersion,
    Heartbeat,
    HeartbeatAck,
    KeyExchange,
    KeyExchangeRsp,
    KeyUpdate,
    KeyUpdateAck,
    MeasurementBlock,
    Measurements,
    Message,
    NegotiateAlgorithms,
    PskExchange,
    PskExchangeRsp,
    PskFinish,
    PskFinishRsp,
    RespondIfReady,
    VendorDefinedRequest,
    VendorDefinedResponse,
    Version,
)
from spdm.messages.endpoint import EndpointInfo, GetEndpointInfo
from spdm.messages.key_pair import GetKeyPairInfo, KeyPairInfo, SetKeyPairInfo, SetKeyPairInfoAck
from spdm.messages.mel import GetMeasurementExtensionLog, MeasurementExtensionLog
from spdm.messages.provision import Csr, GetCsr, SetCertificate, SetCertificateRsp
from tests.spdm.test_event_codec import EVENT_BUILDERS
from tests.vectors import DOE_HEADER, SETS, TYPE_SPDM, records

FUZZ = settings(max_examples=500, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# The decode tests try every class on each example.  36 classes x 200 round trips would cost most of a
# minute (hypothesis itself needs ~1.5 ms an example), so the per-class round trip takes 100.
ROUND_TRIP = settings(FUZZ, max_examples=100)
CLASSES = sorted({*REQUEST_TYPES.values(), *RESPONSE_TYPES.values()}, key=lambda c: c.__name__)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
nibble = st.integers(0, 0x0F)
versions = st.sampled_from([0x10, 0x11, 0x12, 0x13])
opaque = st.one_of(st.binary(max_size=40), st.just(bytes(1024)))
entry4 = st.binary(min_size=4, max_size=4)

contexts = st.builds(
    CodecContext,
    hash_size=st.sampled_from([32, 48, 64]),
    signature_size=st.sampled_from([64, 96, 132, 256, 384, 512]),
    measurement_summary=st.booleans(),
    signed=st.booleans(),
    dhe_size=st.sampled_from([64, 96, 132, 256, 384, 512]),
    req_signature_size=st.sampled_from([64, 96, 256, 384]),
    handshake_in_the_clear=st.booleans(),
    multi_key=st.booleans(),
)
DECODE_CONTEXTS = (
    NO_CONTEXT,
    # the captures' sets (spdm11-p256, spdm12-p384, spdm13 with multi-key and in-the-clear handshake)
    CodecContext(hash_size=32, signature_size=64, dhe_size=64, req_signature_size=384),
    CodecContext(hash_size=32, signature_size=64, dhe_size=64, measurement_summary=True, signed=True,
                 handshake_in_the_clear=True),
    CodecContext(hash_size=48, signature_size=96, dhe_size=96, req_signature_size=384, signed=True),
    CodecContext(hash_size=48, signature_size=96, dhe_size=96, req_signature_size=384,
                 measurement_summary=True,
                 handshake_in_the_clear=True, multi_key=True),
    # other algorithm sizes: SHA-512, RSA-4096, FFDHE-4096, P-521
    CodecContext(hash_size=64, signature_size=512, dhe_size=512, req_signature_size=256,
                 measurement_summary=True,
                 signed=True, multi_key=True),
    CodecContext(hash_size=64, signature_size=132, dhe_size=132, req_signature_size=132),
)
decode_contexts = st.sampled_from(DECODE_CONTEXTS)


def blob(size: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=size, max_size=size)


def _alg_structs(draw: st.DrawFn) -> tuple[AlgStruct, ...]:
    return tuple(draw(st.lists(st.builds(
        AlgStruct, alg_type=u8, alg_supported=u16,
        external=st.lists(entry4, max_size=3).map(tuple)), max_size=5)))


def _supported_algorithms(draw: st.DrawFn) -> bytes:
    count = draw(st.integers(0, 4))
    body = draw(blob(26 + 4 * count))
    return bytes([count, 0]) + (30 + 4 * count).to_bytes(2, "little") + body


def _blocks(draw: st.DrawFn) -> tuple[MeasurementBlock, ...]:
    return tuple(draw(st.lists(st.builds(MeasurementBlock, index=u8, value_type=u8,
                                         value=st.binary(max_size=48)), max_size=4)))


Builder = Callable[[st.DrawFn, int, CodecContext], Message]


def _build_capabilities(cls: Callable[..., Message]) -> Builder:
    def build(draw: st.DrawFn, v: int, ctx: CodecContext) -> Message:
        body = cls is Capabilities or v >= 0x11
        sizes = v >= 0x12
        param1 = draw(u8)
        block = None
        if cls is Capabilities and v >= 0x13 and param1 & 1:
            block = _supported_algorithms(draw)
        extra = {"supported_algorithms": block} if cls is Capabilities else {}
        return cls(spdm_version=v, param1=param1,
                   ct_exponent=draw(u8) if body else 0, flags=draw(u32) if body else 0,
                   data_transfer_size=draw(u32) if sizes else 0, max_spdm_msg_size=draw(u32) if sizes else 0,
                   **extra)
    return build


def _digests(draw: st.DrawFn, v: int, ctx: CodecContext) -> Message:
    mask = draw(u8)
    n = bin(mask).count("1")
    multi: dict[str, Any] = {}
    if ctx.multi_key:
        multi = {"key_pair_ids": tuple(draw(st.lists(u8, min_size=n, max_size=n))),
                 "certificate_infos": tuple(draw(st.lists(u8, min_size=n, max_size=n))),
                 "key_usage_masks": tuple(draw(st.lists(u16, min_size=n, max_size=n)))}
    return Digests(spdm_version=v, supported_slot_mask=draw(u8), provisioned_slot_mask=mask,
                   digests=tuple(draw(blob(ctx.hash_size)) for _ in range(n)), **multi)


def _rc(draw: st.DrawFn, v: int) -> bytes | None:
    return draw(blob(8)) if v >= 0x13 else None


def _msh(draw: st.DrawFn, ctx: CodecContext) -> bytes:
    return draw(blob(ctx.hash_size)) if ctx.measurement_summary else b""


def _get_measurements(draw: st.DrawFn, v: int, ctx: CodecContext) -> Message:
    attributes = draw(u8)
    signed = bool(attributes & 1)
    return GetMeasurements(spdm_version=v, attributes=attributes, operation=draw(u8),
                           nonce=draw(blob(32)) if signed else None,
                           slot_id=draw(nibble) if signed and v >= 0x11 else None,
                           requester_context=_rc(draw, v))


def _finish(draw: st.DrawFn, v: int, ctx: CodecContext) -> Message:
    attributes = draw(u8)
    return Finish(spdm_version=v, attributes=attributes, req_slot_id=draw(u8),
                  signature=draw(blob(ctx.req_signature_size)) if attributes & 1 else None,
                  requester_verify_data=draw(blob(ctx.hash_size)))


def _encapsulated_response_ack(draw: st.DrawFn, v: int, ctx: CodecContext) -> Message:
    return EncapsulatedResponseAck(spdm_version=v, request_id=draw(u8), payload_type=draw(u8),
                                   ack_request_id=draw(u8) if v >= 0x12 else None,
                                   encapsulated_request=draw(st.binary(max_size=48)))


ENDPOINT_BUILDERS: dict[type[Message], Builder] = {
    # SPDM 1.3 endpoint messages (issue 13)
    GetEndpointInfo: lambda draw, v, ctx: GetEndpointInfo(
        spdm_version=v, subcode=draw(u8), slot_id=draw(st.integers(0, 15)), request_attributes=1,
        nonce=draw(blob(32))) if draw(st.booleans()) else GetEndpointInfo(
        spdm_version=v, subcode=draw(u8), request_attributes=0),
    EndpointInfo: lambda draw, v, ctx: EndpointInfo(
        spdm_version=v, slot_id=draw(st.integers(0, 15)), nonce=draw(blob(32)) if ctx.signed else None,
        ep_info=draw(st.binary(max_size=40)), signature=draw(blob(ctx.signature_size if ctx.signed else 0))),
    GetMeasurementExtensionLog: lambda draw, v, ctx: GetMeasurementExtensionLog(
        spdm_version=v, offset=draw(u32), length=draw(u32)),
    MeasurementExtensionLog: lambda draw, v, ctx: MeasurementExtensionLog(
        spdm_version=v, remainder_length=draw(st.integers(0, 0xFFFF)), portion=draw(st.binary(max_size=40))),
    GetKeyPairInfo: lambda draw, v, ctx: GetKeyPairInfo(spdm_version=v, key_pair_id=draw(u8)),
    KeyPairInfo: lambda draw, v, ctx: KeyPairInfo(
        spdm_version=v, total_key_pairs=draw(u8), key_pair_id=draw(u8), capabilities=draw(u16),
        key_usage_capabilities=draw(u16), current_key_usage=draw(u16), asym_algo_capabilities=draw(u32),
        current_asym_algo=draw(u32), assoc_cert_slot_mask=draw(u8),
        public_key_info=draw(st.binary(max_size=40))),
    SetKeyPairInfo: lambda draw, v, ctx: SetKeyPairInfo(
        spdm_version=v, operation=1, key_pair_id=draw(u8)) if draw(st.booleans()) else SetKeyPairInfo(
        spdm_version=v, operation=draw(st.sampled_from([0, 2, 3])), key_pair_id=draw(u8),
        desired_key_usage=draw(u16), desired_asym_algo=draw(u32), desired_assoc_cert_slot_mask=draw(u8)),
    SetKeyPairInfoAck: lambda draw, v, ctx: SetKeyPairInfoAck(spdm_version=v),
}
def _set_certificate(draw: st.DrawFn, v: int, ctx: CodecContext) -> Message:
    attributes = draw(u8)
    body = draw(st.binary(max_size=80))
    chain = None if attributes & 0x80 else (len(body) + 2).to_bytes(2, "little") + body
    return SetCertificate(spdm_version=v, attributes=attributes, key_pair_id=draw(u8), cert_chain=chain)
def _chunk(draw: st.DrawFn, cls: type[ChunkSend] | type[ChunkResponse], v: int) -> Message:
    seq_no = draw(st.integers(0, 2)) or draw(u16)
    return cls(spdm_version=v, attributes=draw(u8), handle=draw(u8), chunk_seq_no=seq_no,
               large_message_size=draw(u32) if seq_no == 0 else None, chunk=draw(st.binary(max_size=48)))


BUILDERS: dict[type[Message], Builder] = {
    GetVersion: lambda draw, v, ctx: GetVersion(spdm_version=draw(u8)),
    Version: lambda draw, v, ctx: Version(spdm_version=draw(u8),
                                          version_entries=tuple(draw(st.lists(u16, max_size=8)))),
    GetCapabilities: _build_capabilities(GetCapabilities),
    Capabilities: _build_capabilities(Capabilities),
    NegotiateAlgorithms: lambda draw, v, ctx: NegotiateAlgorithms(
        spdm_version=v, measurement_specification=draw(u8), other_params_support=draw(u8),
        base_asym_algo=draw(u32), base_hash_algo=draw(u32), mel_specification=draw(u8),
        ext_asym=tuple(draw(st.lists(entry4, max_size=3))),
        ext_hash=tuple(draw(st.lists(entry4, max_size=3))),
        alg_structs=_alg_structs(draw) if v >= 0x11 else ()),
    Algorithms: lambda draw, v, ctx: Algorithms(
        spdm_version=v, measurement_specification_sel=draw(u8), other_params_selection=draw(u8),
        measurement_hash_algo=draw(u32), base_asym_sel=draw(u32), base_hash_sel=draw(u32),
        mel_specification_sel=draw(u8), ext_asym_sel=tuple(draw(st.lists(entry4, max_size=2))),
        ext_hash_sel=tuple(draw(st.lists(entry4, max_size=2))),
        alg_structs=_alg_structs(draw) if v >= 0x11 else ()),
    GetDigests: lambda draw, v, ctx: GetDigests(spdm_version=v),
    Digests: _digests,
    GetCertificate: lambda draw, v, ctx: GetCertificate(
        spdm_version=v, slot_id=draw(nibble), attributes=draw(u8), offset=draw(u16), length=draw(u16)),
    Certificate: lambda draw, v, ctx: Certificate(spdm_version=v, slot_id=draw(nibble),
                                                  certificate_info=draw(u8), remainder_length=draw(u16),
                                                  cert_chain=draw(st.binary(max_size=80))),
    Challenge: lambda draw, v, ctx: Challenge(spdm_version=v, slot_id=draw(u8),
                                              measurement_summary_hash_type=draw(u8), nonce=draw(blob(32)),
                                              requester_context=_rc(draw, v)),
    ChallengeAuth: lambda draw, v, ctx: ChallengeAuth(
        spdm_version=v, attributes=draw(u8), slot_mask=draw(u8), cert_chain_hash=draw(blob(ctx.hash_size)),
        nonce=draw(blob(32)), measurement_summary_hash=_msh(draw, ctx), opaque_data=draw(opaque),
        requester_context=_rc(draw, v), signature=draw(blob(ctx.signature_size))),
    GetMeasurements: _get_measurements,
    Measurements: lambda draw, v, ctx: Measurements(
        spdm_version=v, total_indices=draw(u8), attributes=draw(u8), blocks=_blocks(draw),
        nonce=draw(blob(32)), opaque_data=draw(opaque), requester_context=_rc(draw, v),
        signature=draw(blob(ctx.signature_size)) if ctx.signed else b""),
    ErrorResponse: lambda draw, v, ctx: ErrorResponse(
        spdm_version=v, error_code=draw(u8), error_data=draw(u8), extended_data=draw(st.binary(max_size=32))),
    RespondIfReady: lambda draw, v, ctx: RespondIfReady(
        spdm_version=v, request_code=draw(u8), token=draw(u8)),
    VendorDefinedRequest: lambda draw, v, ctx: VendorDefinedRequest(
        spdm_version=v, standard_id=draw(u16), vendor_id=draw(st.binary(max_size=8)),
        payload=draw(st.binary(max_size=64))),
    VendorDefinedResponse: lambda draw, v, ctx: VendorDefinedResponse(
        spdm_version=v, standard_id=draw(u16), vendor_id=draw(st.binary(max_size=8)),
        payload=draw(st.binary(max_size=64))),
    KeyExchange: lambda draw, v, ctx: KeyExchange(
        spdm_version=v, measurement_summary_hash_type=draw(u8), slot_id=draw(u8), req_session_id=draw(u16),
        session_policy=draw(u8), random_data=draw(blob(32)), exchange_data=draw(blob(ctx.dhe_size)),
        opaque_data=draw(opaque)),
    KeyExchangeRsp: lambda draw, v, ctx: KeyExchangeRsp(
        spdm_version=v, heartbeat_period=draw(u8), rsp_session_id=draw(u16), mut_auth_requested=draw(u8),
        req_slot_id=draw(nibble), random_data=draw(blob(32)), exchange_data=draw(blob(ctx.dhe_size)),
        measurement_summary_hash=_msh(draw, ctx), opaque_data=draw(opaque),
        signature=draw(blob(ctx.signature_size)),
        responder_verify_data=b"" if ctx.handshake_in_the_clear else draw(blob(ctx.hash_size))),
    Finish: _finish,
    FinishRsp: lambda draw, v, ctx: FinishRsp(
        spdm_version=v,
        responder_verify_data=draw(blob(ctx.hash_size)) if ctx.handshake_in_the_clear else b""),
    PskExchange: lambda draw, v, ctx: PskExchange(
        spdm_version=v, measurement_summary_hash_type=draw(u8), session_policy=draw(u8),
        req_session_id=draw(u16), psk_hint=draw(st.binary(max_size=32)),
        requester_context=draw(st.binary(max_size=64)), opaque_data=draw(opaque)),
    PskExchangeRsp: lambda draw, v, ctx: PskExchangeRsp(
        spdm_version=v, heartbeat_period=draw(u8), rsp_session_id=draw(u16),
        measurement_summary_hash=_msh(draw, ctx), responder_context=draw(st.binary(max_size=64)),
        opaque_data=draw(opaque), responder_verify_data=draw(blob(ctx.hash_size))),
    PskFinish: lambda draw, v, ctx: PskFinish(
        spdm_version=v, requester_verify_data=draw(blob(ctx.hash_size))),
    PskFinishRsp: lambda draw, v, ctx: PskFinishRsp(spdm_version=v),
    Heartbeat: lambda draw, v, ctx: Heartbeat(spdm_version=v),
    HeartbeatAck: lambda draw, v, ctx: HeartbeatAck(spdm_version=v),
    KeyUpdate: lambda draw, v, ctx: KeyUpdate(spdm_version=v, key_operation=draw(u8), tag=draw(u8)),
    KeyUpdateAck: lambda draw, v, ctx: KeyUpdateAck(spdm_version=v, key_operation=draw(u8), tag=draw(u8)),
    EndSession: lambda draw, v, ctx: EndSession(spdm_version=v, attributes=draw(u8)),
    EndSessionAck: lambda draw, v, ctx: EndSessionAck(spdm_version=v),
    GetEncapsulatedRequest: lambda draw, v, ctx: GetEncapsulatedRequest(spdm_version=v),
    EncapsulatedRequest: lambda draw, v, ctx: EncapsulatedRequest(
        spdm_version=v, request_id=draw(u8), encapsulated_request=draw(st.binary(max_size=48))),
    DeliverEncapsulatedResponse: lambda draw, v, ctx: DeliverEncapsulatedResponse(
        spdm_version=v, request_id=draw(u8), encapsulated_response=draw(st.binary(max_size=48))),
    EncapsulatedResponseAck: _encapsulated_response_ack,
    **ENDPOINT_BUILDERS,
    **EVENT_BUILDERS,
    GetCsr: lambda draw, v, ctx: GetCsr(
        spdm_version=v, key_pair_id=draw(u8), attributes=draw(u8),
        requester_info=draw(st.binary(max_size=48)), opaque_data=draw(opaque)),
    Csr: lambda draw, v, ctx: Csr(spdm_version=v, csr=draw(st.binary(max_size=80))),
    SetCertificate: _set_certificate,
    SetCertificateRsp: lambda draw, v, ctx: SetCertificateRsp(spdm_version=v, slot_id=draw(nibble)),
    ChunkSend: lambda draw, v, ctx: _chunk(draw, ChunkSend, v),
    ChunkResponse: lambda draw, v, ctx: _chunk(draw, ChunkResponse, v),
    ChunkGet: lambda draw, v, ctx: ChunkGet(spdm_version=v, handle=draw(u8), chunk_seq_no=draw(u16)),
    ChunkSendAck: lambda draw, v, ctx: ChunkSendAck(
        spdm_version=v, attributes=draw(u8), handle=draw(u8), chunk_seq_no=draw(u16),
        response=draw(st.binary(max_size=16))),
}


@st.composite
def messages(draw: st.DrawFn, cls: type[Message]) -> tuple[Message, CodecContext]:
    ctx = draw(contexts)
    return BUILDERS[cls](draw, draw(versions), ctx), ctx


@cache
def captured() -> tuple[bytes, ...]:
    """Every distinct captured plain SPDM message (DOE padding included)."""
    payloads = (r.data[DOE_HEADER:] for name in SETS for r in records(name) if r.data[2] == TYPE_SPDM)
    return tuple(dict.fromkeys(payloads))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A captured message with 1-4 bit flips, byte changes, truncations, extensions, cuts or insertions."""
    data = bytearray(draw(st.sampled_from(captured())))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "extend", "delete", "insert"]))
        if op == "flip" and data:
            data[draw(st.integers(0, len(data) - 1))] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and len(data) > 2:
            data[draw(st.integers(2, len(data) - 1))] = draw(u8)
        elif op == "truncate":
            del data[draw(st.integers(0, len(data))):]
        elif op == "extend":
            data += draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and len(data) > 4:
            at = draw(st.integers(2, len(data) - 1))
            del data[at:at + draw(st.integers(1, 4))]
        elif op == "insert":
            at = draw(st.integers(min(2, len(data)), len(data)))
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


def _decode_or_refuse(cls: type[Message], data: bytes, ctx: CodecContext, padded: bool) -> None:
    """The decoder contract: a message or DecodeError; what decodes re-encodes to the same message."""
    try:
        message = cls.decode(data, ctx, padded=padded)
    except DecodeError:
        return
    except Exception as exc:  # anything else is a bug (R3): say which decoder
        raise AssertionError(f"{cls.__name__}.decode({data.hex()}, {ctx}) raised {exc!r}") from exc
    assert data.startswith(message.raw)
    assert not any(data[len(message.raw):])
    again = cls.decode(message.encode(ctx), ctx)  # reserved bits come back as zeros, nothing else changes
    assert again == message, cls.__name__


def _as(cls: type[Message], data: bytes) -> bytes:
    """``data`` with ``cls``'s code (when it is long enough to have one)."""
    return data[:1] + bytes([cls.CODE]) + data[2:] if len(data) >= 2 else data


@FUZZ
@given(version=st.one_of(versions, u8), body=st.binary(max_size=160), ctx=decode_contexts,
       padded=st.booleans())
def test_random_bytes_raise_only_decode_error(
    version: int, body: bytes, ctx: CodecContext, padded: bool
) -> None:
    for cls in CLASSES:
        _decode_or_refuse(cls, bytes([version, cls.CODE]) + body, ctx, padded)


@FUZZ
@given(data=mutated(), ctx=decode_contexts, padded=st.booleans())
def test_mutated_captures_raise_only_decode_error(data: bytes, ctx: CodecContext, padded: bool) -> None:
    # Under every decoder, not just the captured message's own: a mutated code byte is a mutation too.
    for cls in CLASSES:
        _decode_or_refuse(cls, _as(cls, data), ctx, padded)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@ROUND_TRIP
@given(data=st.data(), pad=st.integers(0, 3))
def test_round_trip_of_generated_messages(cls: type[Message], data: st.DataObject, pad: int) -> None:
    message, ctx = data.draw(messages(cls))
    encoded = message.encode(ctx)
    back = cls.decode(encoded, ctx)
    assert back == message
    assert back.raw == encoded
    greedy = (ErrorResponse, EncapsulatedRequest, DeliverEncapsulatedResponse, EncapsulatedResponseAck,
              ChunkSendAck)
    if not issubclass(cls, greedy):  # a greedy tail takes the padding in
        assert cls.decode(encoded + bytes(pad), ctx, padded=True) == message


def test_every_class_has_a_builder() -> None:
    assert set(CLASSES) == set(BUILDERS)


@settings(FUZZ, max_examples=200)
@given(blocks=st.lists(st.builds(MeasurementBlock, index=u8, value_type=u8, value=st.binary(max_size=64)),
                       max_size=6),
       cut=st.integers(0, 400))
def test_measurement_record_round_trip_and_truncation(blocks: list[MeasurementBlock], cut: int) -> None:
    message = Measurements(spdm_version=0x12, blocks=tuple(blocks))
    data = message.encode()
    assert Measurements.decode(data).measurement_record == b"".join(b.encode() for b in blocks)
    if cut < len(data):
        with pytest.raises(DecodeError):
            Measurements.decode(data[:cut])
