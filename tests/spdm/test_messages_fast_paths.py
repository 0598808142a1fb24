"""R7: the codec's fast paths do exactly what the construct declarations do.

Compiled builds: ``Message.encode`` (and ``MeasurementBlock.encode``) build
through :func:`spdm.schema.compiled_builder`.  Compared with the
interpreted build on every vector: the codec test cases, every message of the
libspdm captures, generated messages of every class, and the same messages
with one field made wrong (wrong size, out of range, missing) -- where both
must raise :class:`LocalProtocolError`.

The 4-byte header fast path: a well-formed header-only message (GET_VERSION,
GET_DIGESTS, ...) is decoded with a ``struct.Struct``; compared with the
interpreted parse on random bytes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from construct import Const, Int8ul, Padded, Renamed
from hypothesis import given
from hypothesis import strategies as st

from spdm.errors import DecodeError, LocalProtocolError
from spdm.messages import (
    NO_CONTEXT,
    AlgStruct,
    Capabilities,
    ChallengeAuth,
    CodecContext,
    Digests,
    ErrorResponse,
    GetCertificate,
    MeasurementBlock,
    Measurements,
    Message,
    NegotiateAlgorithms,
    VendorDefinedResponse,
)
from spdm.messages.measurements import _MeasurementBlockWire
from spdm.schema import build_with, compiled_builder, parse_exact
from tests.spdm.test_messages import CASES
from tests.spdm.test_messages_fuzz import CLASSES, FUZZ, messages
from tests.spdm.test_messages_vectors import ALL, Decoded

P384 = CodecContext(hash_size=48, signature_size=96)


def _outcome(builder: Any, message: Message, ctx: CodecContext) -> bytes | type[Exception]:
    try:
        return build_with(builder, message._to_fields(), ctx.as_params(), what=type(message).__name__)
    except LocalProtocolError:
        return LocalProtocolError


def assert_same_build(message: Message, ctx: CodecContext) -> bytes | type[Exception]:
    """Compiled and interpreted build agree (bytes, or both refuse); return the outcome."""
    schema = type(message).STRUCT
    compiled = _outcome(compiled_builder(schema), message, ctx)
    assert compiled == _outcome(schema, message, ctx), type(message).__name__
    return compiled


def test_every_message_class_compiles() -> None:
    for cls in CLASSES:
        assert compiled_builder(cls.STRUCT) is compiled_builder(cls.STRUCT)  # compiled once


@pytest.mark.parametrize(("message", "ctx"), CASES)
def test_codec_cases(message: Message, ctx: CodecContext) -> None:
    assert assert_same_build(message, ctx) == message.encode(ctx)


@pytest.mark.parametrize("item", ALL)
def test_captured_messages(item: Decoded) -> None:
    for part in (item, item.inner):
        if part is not None:
            assert assert_same_build(part.message, part.ctx) == part.message.raw


REFUSED = [
    pytest.param(ChallengeAuth(spdm_version=0x12, cert_chain_hash=bytes(47), signature=bytes(96)), P384,
                 id="bytes-too-short"),
    pytest.param(ChallengeAuth(spdm_version=0x12, cert_chain_hash=bytes(48), signature=bytes(97)), P384,
                 id="bytes-too-long"),
    pytest.param(ChallengeAuth(spdm_version=0x12, cert_chain_hash=bytes(48), nonce=bytes(31),
                               signature=bytes(96)), P384, id="nonce-too-short"),
    pytest.param(ChallengeAuth(spdm_version=0x13, cert_chain_hash=bytes(48), signature=bytes(96)), P384,
                 id="missing-requester-context"),
    pytest.param(ChallengeAuth(spdm_version=0x12, cert_chain_hash=bytes(48), signature=bytes(96),
                               opaque_data=bytes(1025)), P384, id="opaque-over-limit"),
    pytest.param(Digests(spdm_version=0x12, provisioned_slot_mask=0x03, digests=(bytes(48),)), P384,
                 id="fewer-digests-than-slots"),
    pytest.param(Digests(spdm_version=0x12, provisioned_slot_mask=0x01, digests=(bytes(48),) * 2), P384,
                 id="more-digests-than-slots"),
    pytest.param(Digests(spdm_version=0x13, provisioned_slot_mask=0x01, digests=(bytes(48),),
                         key_pair_ids=(1, 2), certificate_infos=(0,), key_usage_masks=(0,)),
                 dataclasses.replace(P384, multi_key=True), id="more-key-pair-ids-than-slots"),
    pytest.param(GetCertificate(spdm_version=0x12, slot_id=16), NO_CONTEXT, id="nibble-over-15"),
    pytest.param(GetCertificate(spdm_version=0x12, offset=0x10000), NO_CONTEXT, id="u16-overflow"),
    pytest.param(GetCertificate(spdm_version=0x12, offset=-1), NO_CONTEXT, id="negative"),
    pytest.param(GetCertificate(spdm_version=0x100), NO_CONTEXT, id="u8-overflow"),
    pytest.param(Capabilities(spdm_version=0x13, param1=1, supported_algorithms=b"\x00" * 10), NO_CONTEXT,
                 id="inconsistent-supported-algorithms"),
    pytest.param(NegotiateAlgorithms(spdm_version=0x12, alg_structs=(AlgStruct(2, 1, (bytes(4),) * 16),)),
                 NO_CONTEXT, id="alg-count-nibble"),
    pytest.param(Measurements(spdm_version=0x12, blocks=(MeasurementBlock(1, 0x80, bytes(0x10000)),)),
                 NO_CONTEXT, id="block-too-large"),
    pytest.param(Measurements(spdm_version=0x12, blocks=(MeasurementBlock(1, 0x80, bytes(0xFFFD)),)),
                 NO_CONTEXT, id="measurement-size-overflow"),
    pytest.param(Measurements(spdm_version=0x12, signature=bytes(95)),
                 dataclasses.replace(P384, signed=True), id="signature-size"),
    pytest.param(ErrorResponse(spdm_version=0x12, extended_data=bytes(33)), NO_CONTEXT,
                 id="extended-data-over-limit"),
    pytest.param(VendorDefinedResponse(spdm_version=0x12, vendor_id=bytes(256)), NO_CONTEXT,
                 id="vendor-id-too-long"),
    pytest.param(VendorDefinedResponse(spdm_version=0x12, payload=bytes(0x10000)), NO_CONTEXT,
                 id="payload-too-long"),
]


@pytest.mark.parametrize(("message", "ctx"), REFUSED)
def test_both_refuse(message: Message, ctx: CodecContext) -> None:
    assert assert_same_build(message, ctx) is LocalProtocolError
    with pytest.raises(LocalProtocolError):
        message.encode(ctx)


@pytest.mark.parametrize("value", [b"", b"\x00" * 7, bytes(0xFFFC), bytes(0xFFFD)])
def test_measurement_block(value: bytes) -> None:
    block = MeasurementBlock(0xFE, 0x85, value)
    outcomes = [_outcome_block(builder, block) for builder in
                (compiled_builder(_MeasurementBlockWire), _MeasurementBlockWire)]
    assert outcomes[0] == outcomes[1]


def _outcome_block(builder: Any, block: MeasurementBlock) -> bytes | type[Exception]:
    try:
        return build_with(builder, block._fields(), {}, what="MeasurementBlock")
    except LocalProtocolError:
        return LocalProtocolError


def _spoil(draw: st.DrawFn, message: Message) -> Message:
    """``message`` with one field given a wrong-sized, out-of-range or missing value (or unchanged)."""
    fields = [f.name for f in dataclasses.fields(message) if f.name != "raw"]
    name = draw(st.sampled_from(fields))
    value = getattr(message, name)
    if isinstance(value, bytes):
        spoiled: Any = draw(st.binary(max_size=len(value) + 3))
    elif isinstance(value, bool):
        return message
    elif isinstance(value, int):
        spoiled = draw(st.sampled_from([-1, 0x100, 0x1_0000, 0x1_0000_0000, value]))
    elif isinstance(value, tuple):
        shorten = draw(st.booleans())
        spoiled = value[:-1] if value and shorten else value + value[:1]
    else:
        spoiled = draw(st.sampled_from([None, b"", bytes(8)]))
    return dataclasses.replace(message, **{name: spoiled})


@st.composite
def spoiled_messages(draw: st.DrawFn) -> tuple[Message, CodecContext]:
    message, ctx = draw(messages(draw(st.sampled_from(CLASSES))))
    return (_spoil(draw, message) if draw(st.booleans()) else message), ctx


@FUZZ
@given(case=spoiled_messages())
def test_generated_and_spoiled_messages(case: tuple[Message, CodecContext]) -> None:
    assert_same_build(*case)


# --- the header-only fast path ----------------------------------------------------------------------

HEADER_ONLY = [cls for cls in CLASSES if cls.HEADER_ONLY is not None]


def _inferred_header_only(cls: type[Message]) -> tuple[str | None, str | None] | None:
    """(Param1, Param2) field names when ``cls.STRUCT`` is exactly ``header(cls.CODE, p1, p2)`` with
    plain byte (or reserved) params, read from the declaration itself; None for any other layout."""
    subcons = list(getattr(cls.STRUCT, "subcons", ()))
    if len(subcons) != 4:
        return None
    version, code, *params = subcons
    names: list[str | None] = []
    for param in params:
        if isinstance(param, Renamed) and param.subcon is Int8ul:
            names.append(str(param.name))
        elif isinstance(param, Padded) and param.length == 1:
            names.append(None)
        else:
            return None
    if not (isinstance(version, Renamed) and version.name == "spdm_version" and version.subcon is Int8ul
            and isinstance(code, Renamed) and code.name == "_code" and isinstance(code.subcon, Const)
            and code.subcon.subcon is Int8ul and code.subcon.value == cls.CODE):
        return None
    return names[0], names[1]


def test_every_header_only_layout_is_declared_so() -> None:
    """A message that is its header alone says so (``HEADER_ONLY``, which its fast path reads
    without construct): no declaration of that shape goes without the fast path."""
    assert {cls: _inferred_header_only(cls) for cls in CLASSES} == {cls: cls.HEADER_ONLY for cls in CLASSES}


def test_header_only_classes() -> None:
    assert {cls.__name__ for cls in HEADER_ONLY} == {
        "GetVersion", "GetDigests", "RespondIfReady", "Heartbeat", "HeartbeatAck", "KeyUpdate",
        "KeyUpdateAck", "EndSession", "EndSessionAck", "GetEncapsulatedRequest",
        "SetKeyPairInfoAck",
        "GetSupportedEventTypes", "SubscribeEventTypesAck", "EventAck",
    }


@FUZZ
@given(cls=st.sampled_from(HEADER_ONLY), data=st.binary(max_size=8), own_code=st.booleans(),
       padded=st.booleans())
def test_header_fast_path_matches_the_interpreted_parse(
    cls: type[Message], data: bytes, own_code: bool, padded: bool
) -> None:
    if own_code and len(data) >= 2:
        data = data[:1] + bytes([cls.CODE]) + data[2:]
    try:
        fields, end = parse_exact(cls.STRUCT, data, {}, padded=padded, what=cls.__name__)
    except DecodeError:
        with pytest.raises(DecodeError):
            cls.decode(data, padded=padded)
        return
    message = cls.decode(data, padded=padded)
    assert message == cls(**fields)
    assert message.raw == data[:end]
