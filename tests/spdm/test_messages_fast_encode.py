"""R7: the ``struct`` build fast paths make exactly the bytes the compiled builds make.

A message class may override ``Message._fast_encode`` (and ``MeasurementBlock``
has its own): it must either return the bytes :func:`spdm.schema.build` makes
from the same message and context, or return None, and then the compiled
build decides.  So a fast path never makes bytes the compiled build refuses
to make, and every refusal keeps construct's message.  Checked on every codec
test case and captured message (where the fast path must answer, not fall
back), and on generated messages with one field made wrong (wrong size, out
of range, missing), under their own and other contexts.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spdm.errors import LocalProtocolError
from spdm.messages import (
    NO_CONTEXT,
    Algorithms,
    AlgStruct,
    Capabilities,
    Certificate,
    Challenge,
    CodecContext,
    Digests,
    GetMeasurements,
    GetVersion,
    MeasurementBlock,
    Measurements,
    Message,
    NegotiateAlgorithms,
    Version,
)
from spdm.messages.codes import MeasurementAttributes
from spdm.messages.measurements import _MeasurementBlockWire
from spdm.schema import build
from tests.spdm.test_messages import CASES
from tests.spdm.test_messages_fast_decode import SPDM14
from tests.spdm.test_messages_fast_paths import REFUSED, _spoil, spoiled_messages
from tests.spdm.test_messages_fuzz import CLASSES, DECODE_CONTEXTS, FUZZ, messages
from tests.spdm.test_messages_vectors import ALL, Decoded

FAST = [cls for cls in CLASSES if "_fast_encode" in vars(cls)]


def test_fast_classes() -> None:
    assert {cls.__name__ for cls in FAST} == {
        "Version", "GetCapabilities", "Capabilities", "NegotiateAlgorithms", "Algorithms", "Digests",
        "GetCertificate", "Certificate", "Challenge", "ChallengeAuth", "GetMeasurements", "Measurements",
    }


def test_a_subclass_keeps_its_fast_path_layout() -> None:
    """An inherited fast path builds the layout it was written for (``STRUCT`` declared beside it)."""
    for cls in CLASSES:
        owner = next(base for base in cls.__mro__ if "_fast_encode" in vars(base))
        if owner is not Message:
            assert "STRUCT" in vars(owner) and cls.STRUCT is vars(owner)["STRUCT"], cls.__name__


def _compiled(message: Message, ctx: CodecContext) -> bytes | type[Exception]:
    try:
        return build(type(message).STRUCT, message._to_fields(), ctx.as_params(), what=type(message).__name__)
    except LocalProtocolError:
        return LocalProtocolError


def assert_agrees(message: Message, ctx: CodecContext) -> bytes | None:
    """The fast path makes the compiled build's bytes or declines; returns its answer."""
    fast = message._fast_encode(ctx)
    if fast is not None:
        assert fast == _compiled(message, ctx), type(message).__name__
    return fast


@pytest.mark.parametrize(("message", "ctx"), [*CASES, *SPDM14])
def test_codec_cases(message: Message, ctx: CodecContext) -> None:
    fast = assert_agrees(message, ctx)
    covered = (message.spdm_version >= 0x11 and not getattr(message, "supported_algorithms", None)
               and not ctx.multi_key)
    if type(message) in FAST and covered:
        assert fast is not None, message


@pytest.mark.parametrize("item", ALL)
def test_captured_messages(item: Decoded) -> None:
    for part in (item, item.inner):
        if part is not None:
            assert_agrees(part.message, part.ctx)


def test_every_fast_class_is_covered_by_a_capture() -> None:
    covered = {type(param.values[0].message) for param in ALL
               if param.values[0].message._fast_encode(param.values[0].ctx) is not None}
    assert set(FAST) <= covered


@FUZZ
@given(case=spoiled_messages(), other_ctx=st.booleans(), data=st.data())
def test_generated_and_spoiled_messages(case: tuple[Message, CodecContext], other_ctx: bool,
                                        data: st.DataObject) -> None:
    message, ctx = case
    if other_ctx:
        ctx = data.draw(st.sampled_from(DECODE_CONTEXTS))
    assert_agrees(message, ctx)


@FUZZ
@given(cls=st.sampled_from(FAST), data=st.data())
def test_generated_messages_of_the_fast_classes(cls: type[Message], data: st.DataObject) -> None:
    message, ctx = data.draw(messages(cls))
    assert assert_agrees(message, ctx) is not None or message.spdm_version < 0x11 or getattr(
        message, "supported_algorithms", None) is not None or ctx.multi_key


@FUZZ
@given(cls=st.sampled_from(FAST), data=st.data(), other_ctx=st.booleans())
def test_spoiled_messages_of_the_fast_classes(
    cls: type[Message], data: st.DataObject, other_ctx: bool
) -> None:
    message, ctx = data.draw(messages(cls))
    spoiled = _spoil_with(data, message)
    if other_ctx:
        ctx = data.draw(st.sampled_from(DECODE_CONTEXTS))
    assert_agrees(spoiled, ctx)


def _spoil_with(data: st.DataObject, message: Message) -> Message:
    spoiled: Message = data.draw(st.composite(lambda draw: _spoil(draw, message))())
    return spoiled


SIGNED = CodecContext(hash_size=48, signature_size=96, signed=True)
REFUSED_HERE = [
    pytest.param(Measurements(spdm_version=0x13, opaque_data=bytes(1025), requester_context=bytes(8),
                              signature=bytes(96)), SIGNED, id="measurements-opaque-over-limit"),
    pytest.param(Measurements(spdm_version=0x13, requester_context=bytes(8), signature=bytes(95)), SIGNED,
                 id="measurements-signature-short"),
    pytest.param(Measurements(spdm_version=0x13, requester_context=bytes(8), signature=bytes(96)), NO_CONTEXT,
                 id="measurements-signature-unsigned"),
    pytest.param(Measurements(spdm_version=0x13, requester_context=None), NO_CONTEXT,
                 id="measurements-no-requester-context"),
    pytest.param(Measurements(spdm_version=0x13, requester_context=bytes(7)), NO_CONTEXT,
                 id="measurements-requester-context-short"),
    pytest.param(Measurements(spdm_version=0x12, blocks=(MeasurementBlock(1, 0, b"x"),) * 256), NO_CONTEXT,
                 id="measurements-256-blocks"),
    pytest.param(NegotiateAlgorithms(spdm_version=0x10, alg_structs=(AlgStruct(2, 1),)), NO_CONTEXT,
                 id="alg-structs-before-1.1"),
    pytest.param(Algorithms(spdm_version=0x12, alg_structs=(AlgStruct(2, 1, (bytes(4),) * 16),)),
                 NO_CONTEXT, id="alg-count-nibble"),
    pytest.param(Algorithms(spdm_version=0x12, ext_asym_sel=(bytes(3),)), NO_CONTEXT, id="ext-entry-size"),
    pytest.param(Capabilities(spdm_version=0x12, flags=1 << 32), NO_CONTEXT, id="flags-u32"),
    pytest.param(GetMeasurements(spdm_version=0x12, attributes=1, nonce=bytes(32), slot_id=16), NO_CONTEXT,
                 id="get-measurements-slot-nibble"),
    pytest.param(GetMeasurements(spdm_version=0x12, attributes=1, slot_id=0), NO_CONTEXT,
                 id="get-measurements-no-nonce"),
    pytest.param(Challenge(spdm_version=0x13, nonce=bytes(32)), NO_CONTEXT, id="challenge-no-context"),
    pytest.param(Digests(spdm_version=0x12, provisioned_slot_mask=1, digests=(bytes(47),)),
                 CodecContext(hash_size=48), id="digest-size"),
    pytest.param(GetVersion(spdm_version=0x100), NO_CONTEXT, id="header-only-u8"),
    pytest.param(Version(version_entries=(0x10000,)), NO_CONTEXT, id="version-entry-u16"),
]
"""Values the compiled build refuses, besides test_messages_fast_paths' REFUSED."""


@pytest.mark.parametrize(("message", "ctx"), [*REFUSED, *REFUSED_HERE])
def test_refused_by_both(message: Message, ctx: CodecContext) -> None:
    assert _compiled(message, ctx) is LocalProtocolError
    assert message._fast_encode(ctx) is None


@pytest.mark.parametrize("message", [
    GetMeasurements(spdm_version=0x13, attributes=MeasurementAttributes.SIGNATURE_REQUESTED, operation=0xFF,
                    nonce=bytes(range(32)), slot_id=3, requester_context=bytes(8)),
    Certificate(spdm_version=0x13, slot_id=1, large_cert_chain=True, cert_chain=b"x"),
    NegotiateAlgorithms(spdm_version=0x13, pqc_asym_algo=7, alg_structs=(AlgStruct(2, 1),)),
    Algorithms(spdm_version=0x13, pqc_asym_sel=2, alg_structs=(AlgStruct(2, 1),)),
    Capabilities(spdm_version=0x13, ext_flags=0xFFFF, data_transfer_size=0x1200, max_spdm_msg_size=0x1200),
    Capabilities(spdm_version=0x11, data_transfer_size=-1, max_spdm_msg_size=1 << 40),
])
def test_reserved_before_their_version(message: Message) -> None:
    """1.4 fields (and 1.2's sizes) before their version: the build writes zeros, or nothing; an
    IntFlag attribute is a signature request as an int one is."""
    fast = message._fast_encode(NO_CONTEXT)
    assert fast is not None and fast == _compiled(message, NO_CONTEXT)


HEADER_ONLY = [cls for cls in CLASSES if cls.HEADER_ONLY is not None]


@FUZZ
@given(cls=st.sampled_from(HEADER_ONLY), data=st.data())
def test_header_only_messages(cls: type[Message], data: st.DataObject) -> None:
    message, ctx = data.draw(messages(cls))
    assert assert_agrees(message, ctx) is not None
    assert_agrees(_spoil_with(data, message), ctx)


def _block_outcome(block: MeasurementBlock) -> bytes | type[Exception]:
    try:
        return build(_MeasurementBlockWire, block._fields(), {}, what="MeasurementBlock")
    except LocalProtocolError:
        return LocalProtocolError


@pytest.mark.parametrize("block", [
    MeasurementBlock(1, 0x80, b""), MeasurementBlock(0xFE, 0x85, bytes(0xFFFC)),
    MeasurementBlock(1, 0x80, bytes(0xFFFD)), MeasurementBlock(0x100, 0, b"x"), MeasurementBlock(-1, 0, b"x"),
    MeasurementBlock(1, 0x100, b"x"), MeasurementBlock(1, 0, bytearray(b"x")),  # type: ignore[arg-type]
    MeasurementBlock(1, 0, None),  # type: ignore[arg-type]
])
def test_measurement_block(block: MeasurementBlock) -> None:
    fast: Any = block._fast_encode()
    if fast is not None:
        assert fast == _block_outcome(block)
    else:
        assert _block_outcome(block) is LocalProtocolError or not isinstance(block.value, bytes)
