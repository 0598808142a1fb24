"""The mailbox between the host and the ``psp-proxy`` security processor: one frame format.

The host and the security-processor process exchange length-prefixed frames
over a byte stream (the process's stdin/stdout).  Every frame carries a tag —
the command it belongs to — so several commands (several devices) can be in
flight at once.  Two kinds carry opaque DOE data objects the host relays
between the TSM and a device's mailbox, the way Linux's
``pci_tsm_doe_transfer`` does (a DOE_REQUEST also says how long the device
may take to answer: the TSM's requester computes it, the host's transport
waits that long); the others carry the documents of :mod:`tsm.wire`.  No
frame kind carries a key: the security processor keeps the session and IDE
keys to itself.

Frame (big-endian)::

    kind u8 | tag u32 | length u32 | body[length]

DOE_REQUEST body (big-endian)::

    has_timeout u8 (0 or 1) | timeout f64 (seconds; 0 without one) | DOE object
"""

from __future__ import annotations

import math
from enum import IntEnum
from typing import IO, Final

from construct import (
    ConstructError,
    Flag,
    Float64b,
    GreedyBytes,
    Int8ub,
    Int32ub,
    Prefixed,
    Struct,
    Terminated,
)

from spdm.errors import DecodeError, TransportError
from spdm.record import record

__all__ = [
    "DoeRequest",
    "Frame",
    "FrameKind",
    "MAX_BODY",
    "decode_doe_request",
    "decode_frame",
    "encode_doe_request",
    "encode_frame",
    "read_frame",
    "write_frame",
]

MAX_BODY: Final = 16 << 20
"""Largest body accepted: a DOE object is at most 1 MiB; evidence of a 1024-TDI device fits easily."""


class FrameKind(IntEnum):
    """What a frame carries."""

    CONFIGURE = 1
    """host -> TSM: the TSM's configuration (:func:`tsm.wire.encode_config`), once, first."""
    COMMAND = 2
    """host -> TSM: an operation (:func:`tsm.wire.encode_operation`)."""
    DOE_RESPONSE = 3
    """host -> TSM: the device's answer to a relayed DOE object."""
    DOE_FAILED = 4
    """host -> TSM: the relay failed: the transport's error (:func:`tsm.wire.encode_error`)."""
    DOE_REQUEST = 5
    """TSM -> host: a DOE object for the command's device and its response timeout (:class:`DoeRequest`)."""
    PROGRESS = 6
    """TSM -> host: the step in progress (:class:`tsm.wire.Stepped`)."""
    RESULT = 7
    """TSM -> host: the command succeeded (:class:`tsm.wire.Succeeded`)."""
    FAILED = 8
    """TSM -> host: the command failed (:class:`tsm.wire.Failed`); tag 0: the configuration was refused."""
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


@record(frozen=True, slots=True)
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


# DOE_REQUEST body, see the module docstring.
_DOE_REQUEST: Final = Struct(
    "has_timeout" / Flag,
    "timeout" / Float64b,
    "object" / GreedyBytes,
)


@record(frozen=True, slots=True)
class DoeRequest:
    """A DOE object the TSM asks the host to deliver, and how long the device may take.

    Attributes:
        object: the DOE data object, relayed verbatim.
        timeout: the seconds the TSM's requester allows for the answer (ST1 or
            CT, see ``Requester.response_timeout``), handed to the host's
            transport as the native backend's driver hands it to its own; None:
            the transport's own wait (DOE discovery).
    """

    object: bytes
    timeout: float | None = None


def encode_doe_request(request: DoeRequest) -> bytes:
    """A DOE_REQUEST frame's body."""
    timeout = request.timeout
    return bytes(_DOE_REQUEST.build({"has_timeout": timeout is not None, "timeout": timeout or 0.0,
                                     "object": request.object}))


def decode_doe_request(body: bytes) -> DoeRequest:
    """Parse a DOE_REQUEST frame's body.

    Raises:
        DecodeError: too short, or a timeout that is negative or not finite.
    """
    try:
        parsed = _DOE_REQUEST.parse(body)
    except ConstructError as exc:
        raise DecodeError(f"malformed DOE_REQUEST: {exc}") from exc
    timeout: float | None = parsed.timeout if parsed.has_timeout else None
    if timeout is not None and not (math.isfinite(timeout) and timeout >= 0):
        raise DecodeError(f"malformed DOE_REQUEST: a timeout of {timeout} s")
    return DoeRequest(parsed.object, timeout)


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
