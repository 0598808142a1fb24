"""The host <-> security-processor mailbox frames (``kind u8 | tag u32 | length u32 | body``).

Byte layout, round trips (also property-based), the DOE_REQUEST body and its
response timeout, every way a frame can be malformed, streams that end or
break mid-frame, and a host whose TSM process talks garbage: its commands
fail with TransportError and closing it does not hang.
"""

from __future__ import annotations

import io
import sys
from typing import IO, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spdm.errors import DecodeError, TransportError
from tsm import PspProxyTsm
from tsm.psp_wire import (
    MAX_BODY,
    DoeRequest,
    Frame,
    FrameKind,
    decode_doe_request,
    decode_frame,
    encode_doe_request,
    encode_frame,
    read_frame,
    write_frame,
)

from .helpers import new_board, tsm_config

HEADER = 9


class Trickle(io.RawIOBase):
    """A stream handing out at most one byte per read, as a pipe may."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, 1) if size >= 0 else 1)


def trickle(data: bytes) -> IO[bytes]:
    """``data`` as a :class:`Trickle`, typed as the stream it stands in for."""
    return cast(IO[bytes], Trickle(data))


class Broken(io.RawIOBase):
    """A writer whose reader is gone."""

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_the_frame_layout() -> None:
    frame = Frame(FrameKind.DOE_REQUEST, 0x01020304, b"\xaa\xbb")
    assert encode_frame(frame) == bytes.fromhex("05 01020304 00000002 aabb")
    assert encode_frame(Frame(FrameKind.READY, 0)) == bytes.fromhex("09 00000000 00000000")


@pytest.mark.parametrize("kind", list(FrameKind))
@pytest.mark.parametrize("tag", [0, 1, 0xFFFFFFFF])
@pytest.mark.parametrize("body", [b"", b"\x00", bytes(range(256)) * 17], ids=["empty", "1 byte", "4 KiB"])
def test_every_kind_round_trips(kind: FrameKind, tag: int, body: bytes) -> None:
    frame = Frame(kind, tag, body)
    data = encode_frame(frame)
    assert len(data) == HEADER + len(body)
    assert decode_frame(data) == frame
    assert read_frame(io.BytesIO(data)) == frame


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(FrameKind), st.integers(0, 0xFFFFFFFF), st.binary(max_size=2048))
def test_any_frame_round_trips(kind: FrameKind, tag: int, body: bytes) -> None:
    frame = Frame(kind, tag, body)
    data = encode_frame(frame)
    assert decode_frame(data) == frame
    assert read_frame(trickle(data)) == frame


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_to_a_frame_or_a_decode_error(data: bytes) -> None:
    try:
        frame = decode_frame(data)
    except DecodeError:
        return
    assert encode_frame(frame) == data


def test_the_doe_request_layout() -> None:
    assert encode_doe_request(DoeRequest(b"\x01\x00\x01\x00", 1.5)) == bytes.fromhex(
        "01 3ff8000000000000 01000100")
    assert encode_doe_request(DoeRequest(b"\xaa")) == bytes.fromhex("00 0000000000000000 aa")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=256), st.none() | st.floats(min_value=0, max_value=1e9))
def test_any_doe_request_round_trips_with_its_exact_timeout(obj: bytes, timeout: float | None) -> None:
    request = DoeRequest(obj, timeout)
    assert decode_doe_request(encode_doe_request(request)) == request


@pytest.mark.parametrize(("body", "why"), [
    (b"", "empty"),
    (bytes.fromhex("01 3ff80000000000"), "timeout cut short"),
    (bytes.fromhex("01 bff0000000000000"), "negative"),
    (bytes.fromhex("01 7ff0000000000000"), "infinite"),
    (bytes.fromhex("01 7ff8000000000000"), "NaN"),
])
def test_a_malformed_doe_request_is_a_decode_error(body: bytes, why: str) -> None:
    with pytest.raises(DecodeError, match="DOE_REQUEST"):
        decode_doe_request(body)


def test_a_stream_of_frames_reads_in_order_then_ends() -> None:
    frames = [Frame(FrameKind.COMMAND, 1, b'{"op":"connect"}'), Frame(FrameKind.DOE_RESPONSE, 1, b"x" * 5000),
              Frame(FrameKind.DOE_FAILED, 2, b"gone"), Frame(FrameKind.READY, 0)]
    stream = trickle(b"".join(encode_frame(f) for f in frames))
    assert [read_frame(stream) for _ in frames] == frames
    assert read_frame(stream) is None
    assert read_frame(io.BytesIO(b"")) is None


@pytest.mark.parametrize(("data", "why"), [
    (b"", "empty"),
    (bytes.fromhex("05 00000001"), "header cut short"),
    (bytes.fromhex("05 00000001 00000004 aabb"), "body cut short"),
    (bytes.fromhex("05 00000001 00000001 aabb"), "a trailing byte"),
    (bytes.fromhex("00 00000001 00000000"), "kind 0"),
    (bytes.fromhex("0a 00000001 00000000"), "kind 10"),
    (bytes.fromhex("ff 00000001 00000000"), "kind 255"),
])
def test_a_malformed_frame_is_a_decode_error(data: bytes, why: str) -> None:
    with pytest.raises(DecodeError):
        decode_frame(data)


def test_an_oversized_frame_is_refused_before_its_body_is_read() -> None:
    header = bytes([FrameKind.DOE_REQUEST]) + (1).to_bytes(4, "big") + (MAX_BODY + 1).to_bytes(4, "big")
    with pytest.raises(DecodeError, match="exceeds"):
        read_frame(io.BytesIO(header))  # no body follows: refused on the header alone
    with pytest.raises(DecodeError, match="exceeds"):
        decode_frame(header + bytes(MAX_BODY + 1))
    largest = Frame(FrameKind.DOE_RESPONSE, 1, bytes(MAX_BODY))
    assert read_frame(io.BytesIO(encode_frame(largest))) == largest


def test_an_unknown_kind_on_a_stream_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="kind 77"):
        read_frame(io.BytesIO(bytes.fromhex("4d 00000001 00000000")))


@pytest.mark.parametrize("cut", [1, HEADER - 1, HEADER, HEADER + 3])
def test_a_stream_ending_inside_a_frame_is_a_transport_error(cut: int) -> None:
    data = encode_frame(Frame(FrameKind.RESULT, 9, b"{}{}{}"))
    with pytest.raises(TransportError, match="closed"):
        read_frame(trickle(data[:cut]))


def test_writing_returns_the_bytes_and_a_gone_reader_is_a_transport_error() -> None:
    out = io.BytesIO()
    frame = Frame(FrameKind.PROGRESS, 3, b"KEY_EXCHANGE")
    assert write_frame(out, frame) == out.getvalue() == encode_frame(frame)
    with pytest.raises(TransportError, match="closed"):
        write_frame(io.BufferedWriter(Broken()), frame)
    closed = io.BytesIO()
    closed.close()
    with pytest.raises(TransportError, match="closed"):
        write_frame(closed, frame)


GARBAGE_TSM = """
import sys
out = sys.stdout.buffer
out.write(bytes([9, 0, 0, 0, 0, 0, 0, 0, 0]))  # READY
out.flush()
sys.stdin.buffer.read(9)  # wait for the host's first frame (past CONFIGURE)
out.write({reply!r})
out.flush()
if {stay}:
    sys.stdin.buffer.read()  # until the host closes the mailbox
"""


@pytest.mark.parametrize(("reply", "stay"), [
    (bytes.fromhex("07 00000001 7fffffff"), True),  # an oversized frame
    (bytes.fromhex("63 00000001 00000000"), True),  # an unknown kind
    (bytes.fromhex("07 00000001 00000010 7b7d"), False),  # a frame cut short, then the process exits
], ids=["oversized", "unknown kind", "cut short"])
def test_a_tsm_talking_garbage_fails_the_command_and_closes(reply: bytes, stay: bool) -> None:
    script = GARBAGE_TSM.format(reply=reply, stay=stay)
    tsm = PspProxyTsm(tsm_config(), command=[sys.executable, "-c", script])
    board = new_board(transport="pipe")
    try:
        with pytest.raises(TransportError, match="exited|closed"):
            tsm.connect(board.target)
        with pytest.raises(TransportError, match="exited|closed"):
            tsm.connect(board.target)  # and every later command, at once
        assert board.transports[0].exchanges == 0
    finally:
        tsm.close()
    assert tsm.process.returncode is not None
