"""The mailbox between the host and the ``psp-proxy`` security processor: one frame format.

The host and the security-processor process exchange length-prefixed frames
over a byte stream (the process's stdin/stdout).  Every frame carries a tag —
the command it belongs to — so several commands (several devices) can be in
flight at once.  Two kinds carry opaque DOE data objects the host relays
between the TSM and a device's mailbox, the way Linux's
``pci_tsm_doe_transfer`` does; the others carry JSON control documents.  No
frame kind carries a key: the security processor keeps the session and IDE
keys to itself.

Frame (big-endian)::

    kind u8 | tag u32 | length u32 | body[length]
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import IO, Final

from construct import ConstructError, GreedyBytes, Int8ub, Int32ub, Prefixed, Struct, Terminated

from spdm.errors import DecodeError, TransportError

__all__ = ["Frame", "FrameKind", "MAX_BODY", "decode_frame", "encode_frame", "read_frame", "write_frame"]

MAX_BODY: Final = 16 << 20
"""Largest body accepted: a DOE object is at most 1 MiB; evidence of a 1024-TDI device fits easily."""


class FrameKind(IntEnum):
    """What a frame carries."""

    CONFIGURE = 1
    """host -> TSM: the TSM's configuration (JSON), once, first."""
    COMMAND = 2
    """host -> TSM: an operation (JSON: op, bdf, tdi, nonce)."""
    DOE_RESPONSE = 3
    """host -> TSM: the device's answer to a relayed DOE object."""
    DOE_FAILED = 4
    """host -> TSM: the relay failed (text); the TSM treats it as a transport error."""
    DOE_REQUEST = 5
    """TSM -> host: a DOE object to deliver to the command's device."""
    PROGRESS = 6
    """TSM -> host: one line naming the step in progress."""
    RESULT = 7
    """TSM -> host: the command succeeded; the body is the TSM info (JSON)."""
    FAILED = 8
    """TSM -> host: the command failed (JSON: kind, message); tag 0: the configuration was refused."""
    READY = 9
    """TSM -> host, tag 0: configured and serving (the answer to CONFIGURE)."""


# Frame layout, see the module docstring.
_FRAME: Final = Struct(
    "kind" / Int8ub,
    "tag" / Int32ub,
    "body" / Prefixed(Int32ub, GreedyBytes),
    Terminated,
)
_HEADER_SIZE: Final = 9


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of the host <-> TSM mailbox."""

    kind: FrameKind
    tag: int
    body: bytes = b""


def encode_frame(frame: Frame) -> bytes:
    """The frame's bytes."""
    return bytes(_FRAME.build({"kind": frame.kind, "tag": frame.tag, "body": frame.body}))


def decode_frame(data: bytes) -> Frame:
    """Parse one whole frame.

    Raises:
        DecodeError: malformed, an unknown kind, a body over :data:`MAX_BODY`, or trailing bytes.
    """
    try:
        parsed = _FRAME.parse(data)
    except ConstructError as exc:
        raise DecodeError(f"malformed TSM mailbox frame: {exc}") from exc
    if parsed.kind not in FrameKind.__members__.values():
        raise DecodeError(f"unknown TSM mailbox frame kind {parsed.kind}")
    if len(parsed.body) > MAX_BODY:
        raise DecodeError(f"TSM mailbox frame body of {len(parsed.body)} bytes exceeds {MAX_BODY}")
    return Frame(FrameKind(parsed.kind), parsed.tag, parsed.body)


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            if data:
                raise TransportError(f"the TSM mailbox closed mid-frame ({len(data)} of {size} bytes)")
            return None
        data += chunk
    return data


def read_frame(stream: IO[bytes]) -> Frame | None:
    """Read one frame; None at a clean end of stream.

    Raises:
        TransportError: the stream ended inside a frame.
        DecodeError: the frame is malformed or too large.
    """
    header = _read_exactly(stream, _HEADER_SIZE)
    if header is None:
        return None
    length = int.from_bytes(header[5:9], "big")
    if length > MAX_BODY:
        raise DecodeError(f"TSM mailbox frame body of {length} bytes exceeds {MAX_BODY}")
    body = _read_exactly(stream, length) if length else b""
    if body is None:
        raise TransportError("the TSM mailbox closed after a frame header")
    return decode_frame(header + body)


def write_frame(stream: IO[bytes], frame: Frame) -> bytes:
    """Write one frame and flush; returns the bytes written.

    Raises:
        TransportError: the other side is gone.
    """
    data = encode_frame(frame)
    try:
        stream.write(data)
        stream.flush()
    except (OSError, ValueError) as exc:
        raise TransportError(f"the TSM mailbox is closed: {exc}") from exc
    return data
