"""R7: the ``struct`` decode fast paths answer exactly what the construct declarations parse.

A message class may override ``Message._fast_fields``: a precompiled
``struct.Struct`` reading of the fixed-size parts of its layout, which must
either return exactly what :func:`spdm.schema.parse_head` returns for the same
bytes and context (the plain fields and the length) or return None, and then
the interpreted parse decides.  So a fast path never accepts bytes the
interpreted parse rejects, and every rejection keeps construct's message.

Checked here on every message of the libspdm captures (where the fast path
must answer, not fall back), on generated messages of every class, and on
those messages and the captures mutated (bit flips, byte changes, other SPDM
versions, truncations, extensions), under every context, padded or not: the
fast path either agrees with the interpreted parse or declines, and the
whole decode (fast path, end-of-message rule, conversion) gives the same
message -- or the same rejection -- as the interpreted decode.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spdm.errors import DecodeError
from spdm.messages import (
    NO_CONTEXT,
    REQUEST_TYPES,
    RESPONSE_TYPES,
    Algorithms,
    AlgStruct,
    Certificate,
    ChallengeAuth,
    CodecContext,
    GetCapabilities,
    GetCertificate,
    MeasurementBlock,
    Measurements,
    Message,
    NegotiateAlgorithms,
)
from spdm.schema import parse_head
from tests.spdm.test_messages import CASES
from tests.spdm.test_messages_fuzz import CLASSES, DECODE_CONTEXTS, FUZZ, captured, messages
from tests.spdm.test_messages_vectors import ALL, Decoded

FAST = [cls for cls in CLASSES if "_fast_fields" in vars(cls)]


def test_fast_classes() -> None:
    """The connect flow's messages have their own fast path (header-only ones share the default)."""
    assert {cls.__name__ for cls in FAST} == {
        "Version", "GetCapabilities", "Capabilities", "NegotiateAlgorithms", "Algorithms",
        "Digests", "GetCertificate", "Certificate", "Challenge", "ChallengeAuth",
        "GetMeasurements", "Measurements",
    }


def test_a_subclass_keeps_its_fast_path_layout() -> None:
    """An inherited fast path reads the layout it was written for (``STRUCT`` declared beside it)."""
    for cls in CLASSES:
        owner = next(base for base in cls.__mro__ if "_fast_fields" in vars(base))
        if owner is not Message:
            assert "STRUCT" in vars(owner) and cls.STRUCT is vars(owner)["STRUCT"], cls.__name__


def _interpreted(cls: type[Message], data: bytes, ctx: CodecContext) -> Any:
    try:
        return parse_head(cls.STRUCT, data, ctx.as_params(), what=cls.__name__)
    except DecodeError:
        return DecodeError


def _decoded(cls: type[Message], data: bytes, ctx: CodecContext, padded: bool) -> Any:
    try:
        message = cls.decode(data, ctx, padded=padded)
    except DecodeError:
        return DecodeError
    return message, message.raw


def _decoded_interpreted(cls: type[Message], data: bytes, ctx: CodecContext, padded: bool) -> Any:
    try:
        message = cls._decode(data, ctx.as_params(), padded=padded)
    except DecodeError:
        return DecodeError
    return message, message.raw


def assert_agrees(cls: type[Message], data: bytes, ctx: CodecContext, padded: bool = False) -> Any:
    """The fast path agrees with construct or declines; the whole decodes agree.  Returns the fast answer."""
    fast = cls._fast_fields(data, ctx)
    if fast is not None:
        assert fast == _interpreted(cls, data, ctx), cls.__name__
    assert _decoded(cls, data, ctx, padded) == _decoded_interpreted(cls, data, ctx, padded), cls.__name__
    return fast


def _parts(item: Decoded) -> list[Decoded]:
    return [part for part in (item, item.inner) if part is not None]


@pytest.mark.parametrize("item", ALL)
def test_captured_messages(item: Decoded) -> None:
    for part in _parts(item):
        cls = type(part.message)
        fast = assert_agrees(cls, part.message.raw, part.ctx)
        if cls in FAST and part.message.spdm_version >= 0x12 and not part.ctx.multi_key:
            assert fast is not None, cls.__name__  # the fast path covers what the captures hold


def test_every_fast_class_is_covered_by_a_capture() -> None:
    covered = {type(part.message) for param in ALL for part in _parts(param.values[0])
               if type(part.message)._fast_fields(part.message.raw, part.ctx) is not None}
    assert set(FAST) <= covered


P384 = CodecContext(hash_size=48, signature_size=96)
SPDM14 = [
    pytest.param(GetCapabilities(spdm_version=0x14, ct_exponent=12, flags=0x12345678, ext_flags=0xBEEF,
                                 data_transfer_size=0x1200, max_spdm_msg_size=0x1200), NO_CONTEXT, id="caps"),
    pytest.param(NegotiateAlgorithms(spdm_version=0x14, pqc_asym_algo=0x7, ext_asym=(bytes(4),),
                                     alg_structs=(AlgStruct(6, 2), AlgStruct(7, 4, (b"kemx",)))),
                 NO_CONTEXT, id="negotiate"),
    pytest.param(Algorithms(spdm_version=0x14, pqc_asym_sel=0x2, ext_hash_sel=(b"hash",),
                            alg_structs=(AlgStruct(7, 2),)), NO_CONTEXT, id="algorithms"),
    pytest.param(GetCertificate(spdm_version=0x14, offset=0x12345, length=0x20000, large_cert_chain=True),
                 NO_CONTEXT, id="get-certificate-large"),
    pytest.param(Certificate(spdm_version=0x14, remainder_length=0x10000, cert_chain=b"chain",
                             large_cert_chain=True), NO_CONTEXT, id="certificate-large"),
]
"""1.4 layouts besides the codec test cases (ExtFlags, PqcAsymAlgo/Sel, the LargeCertChain form)."""


def _single_change_cases() -> list[Any]:
    cases = []
    for i, param in enumerate([*CASES, *SPDM14]):
        message, ctx = param.values
        assert isinstance(message, Message)
        if type(message) in FAST:
            name = f"{type(message).__name__}-{message.spdm_version:x}-{i}"
            cases.append(pytest.param(message, ctx, id=name))
    return cases


SINGLE_CHANGES = _single_change_cases()


def _single_changes(data: bytes) -> list[bytes]:
    """Every one-bit flip, every byte set to 0x00 and 0xFF, every SPDM version, every truncation,
    and a few extensions of ``data``."""
    changed = [data[:cut] for cut in range(len(data))]
    changed += [data + tail for tail in (b"\x00", b"\x00\x00\x00", b"\xff" * 5)]
    changed += [bytes([version]) + data[1:] for version in (0x10, 0x11, 0x12, 0x13, 0x14)]
    for i, byte in enumerate(data):
        for value in {byte ^ (1 << bit) for bit in range(8)} | {0x00, 0xFF}:
            changed.append(data[:i] + bytes([value]) + data[i + 1:])
    return changed


@pytest.mark.parametrize(("message", "ctx"), SINGLE_CHANGES)
def test_every_single_change(message: Message, ctx: CodecContext) -> None:
    """Each codec test case and every single change of it: the fast path agrees or declines."""
    cls = type(message)
    data = message.encode(ctx)
    for changed in [data, *_single_changes(data)]:
        fast = cls._fast_fields(changed, ctx)
        if fast is not None:
            assert fast == _interpreted(cls, changed, ctx), changed.hex()


def _opaque_over_limit(message: Message, ctx: CodecContext, at: int) -> bytes:
    """``message`` (with 1024 bytes of OpaqueData at ``at``) made to carry 1025."""
    data = message.encode(ctx)
    assert data[at:at + 2] == (1024).to_bytes(2, "little")
    opaque_end = at + 2 + 1024
    return data[:at] + (1025).to_bytes(2, "little") + data[at + 2:opaque_end] + b"\x00" + data[opaque_end:]


SIGNED = CodecContext(hash_size=48, signature_size=96, signed=True)


@pytest.mark.parametrize(("cls", "data", "ctx"), [
    pytest.param(ChallengeAuth, _opaque_over_limit(
        ChallengeAuth(spdm_version=0x13, cert_chain_hash=bytes(48), opaque_data=bytes(1024),
                      requester_context=bytes(8), signature=bytes(96)), P384, 4 + 48 + 32), P384,
        id="challenge-auth-opaque"),
    pytest.param(Measurements, _opaque_over_limit(
        Measurements(spdm_version=0x13, blocks=(MeasurementBlock(1, 0x80, b"x"),), opaque_data=bytes(1024),
                     requester_context=bytes(8), signature=bytes(96)), SIGNED, 8 + 8 + 32), SIGNED,
        id="measurements-opaque"),
])
def test_opaque_data_over_its_limit(cls: type[Message], data: bytes, ctx: CodecContext) -> None:
    """OpaqueDataLength 1025 with the bytes there: refused by construct's Check, declined by the fast path."""
    assert _interpreted(cls, data, ctx) is DecodeError
    assert cls._fast_fields(data, ctx) is None


@st.composite
def _spoiled(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with 1-3 bit flips, byte changes, version changes, truncations or extensions."""
    spoiled = bytearray(data)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "set", "version", "truncate", "extend"]))
        if op == "flip" and spoiled:
            spoiled[draw(st.integers(0, len(spoiled) - 1))] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and len(spoiled) > 2:
            spoiled[draw(st.integers(2, len(spoiled) - 1))] = draw(st.integers(0, 0xFF))
        elif op == "version" and spoiled:
            spoiled[0] = draw(st.sampled_from([0x10, 0x11, 0x12, 0x13, 0x14, 0x00, 0xFF]))
        elif op == "truncate":
            del spoiled[draw(st.integers(0, len(spoiled))):]
        elif op == "extend":
            spoiled += draw(st.binary(min_size=1, max_size=6))
    return bytes(spoiled)


@FUZZ
@given(cls=st.sampled_from(FAST), data=st.data(), spoil=st.booleans(), other_ctx=st.booleans(),
       padded=st.booleans())
def test_generated_and_spoiled_messages(
    cls: type[Message], data: st.DataObject, spoil: bool, other_ctx: bool, padded: bool
) -> None:
    message, ctx = data.draw(messages(cls))
    encoded = message.encode(ctx)
    if spoil:
        encoded = data.draw(_spoiled(encoded))
    if other_ctx:
        ctx = data.draw(st.sampled_from(DECODE_CONTEXTS))
    assert_agrees(cls, encoded, ctx, padded)


@FUZZ
@given(data=st.data(), padded=st.booleans())
def test_spoiled_captures(data: st.DataObject, padded: bool) -> None:
    payload = data.draw(st.sampled_from(captured()))
    types = REQUEST_TYPES if payload[1] & 0x80 else RESPONSE_TYPES
    cls = types.get(payload[1])
    if cls not in FAST:
        cls = data.draw(st.sampled_from(FAST))
    spoiled = data.draw(_spoiled(payload))
    assert_agrees(cls, spoiled, data.draw(st.sampled_from(DECODE_CONTEXTS)), padded)


@FUZZ
@given(cls=st.sampled_from(FAST), body=st.binary(max_size=120), version=st.sampled_from([0x10, 0x11, 0x12,
       0x13, 0x14]), ctx=st.sampled_from(DECODE_CONTEXTS), padded=st.booleans())
def test_random_bytes_behind_a_header(
    cls: type[Message], body: bytes, version: int, ctx: CodecContext, padded: bool
) -> None:
    assert_agrees(cls, bytes([version, cls.CODE]) + body, ctx, padded)
