"""DMTF spdm-emu "platform data" frames: ``command | transport type | payload size`` and the payload.

Each header field is a big-endian u32 (spdm-emu ``command.h``); the
socket protocol around them (handshake, replies, timeouts) is
:mod:`spdm.transport.emu_socket`.  The layout is declared with construct
(``PlatformDataHeader``, ``PlatformData``, made on first use); every frame is
built and read with a ``struct`` of the same layout (R7), which the tests check
against the declaration.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from enum import IntEnum
from typing import TYPE_CHECKING

from spdm.errors import DecodeError, LocalProtocolError, RemoteProtocolError, TransportError

from ..codec import declared_names, declares_structs
from ..record import record

if TYPE_CHECKING:
    from construct import Construct

__all__ = [
    "FRAME_HEADER_SIZE",
    "MAX_PAYLOAD_SIZE",
    "PlatformData",
    "PlatformDataHeader",
    "SocketCommand",
    "SocketFrame",
    "SocketTransportType",
    "decode_frame",
    "encode_frame",
    "read_frame",
]


class SocketCommand(IntEnum):
    """Platform-data commands (spdm-emu ``command.h``) this module speaks."""

    NORMAL = 0x0001
    TEST = 0xDEAD
    SHUTDOWN = 0xFFFE
    CONTINUE = 0xFFFD
    UNKNOWN = 0xFFFF


class SocketTransportType(IntEnum):
    """Transport carried in the payload (spdm-emu ``command.h``)."""

    NONE = 0x00
    MCTP = 0x01
    PCI_DOE = 0x02
    TCP = 0x03


_HEADER = struct.Struct(">III")
"""command, transport type, payload size: ``PlatformDataHeader``'s layout."""

FRAME_HEADER_SIZE = _HEADER.size
"""Bytes of command, transport type and payload size (12)."""

MAX_PAYLOAD_SIZE = (1 << 20) + 8
"""Largest payload accepted: a maximal (1 MiB) DOE object plus slack."""


@record(frozen=True, slots=True)
class SocketFrame:
    """One platform-data frame.

    Attributes:
        command: a ``SocketCommand`` value, or any other u32 a peer sent.
        transport_type: a ``SocketTransportType`` value or any other u32.
        payload: the payload bytes.
    """

    command: int
    transport_type: int
    payload: bytes

    def __post_init__(self) -> None:
        for name in ("command", "transport_type"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFFFF_FFFF:
                raise LocalProtocolError(f"{name} {value!r} is not a u32")
        if len(self.payload) > MAX_PAYLOAD_SIZE:
            raise LocalProtocolError(f"payload of {len(self.payload)} bytes exceeds the cap")


def encode_frame(frame: SocketFrame) -> bytes:
    """Serialize a frame: 12-byte big-endian header, then the payload.

    Args:
        frame: the frame (its fields were checked when it was made).

    Returns:
        The bytes to send in one piece.
    """
    return _HEADER.pack(frame.command, frame.transport_type, len(frame.payload)) + frame.payload


def _check_size(size: int) -> None:
    if size > MAX_PAYLOAD_SIZE:
        raise RemoteProtocolError(f"peer announced a {size}-byte payload (cap {MAX_PAYLOAD_SIZE})")


def decode_frame(data: bytes) -> SocketFrame:
    """Parse exactly one complete frame.

    Args:
        data: the frame; nothing may follow it.

    Returns:
        The frame.

    Raises:
        DecodeError: truncated, or bytes after the payload.
        RemoteProtocolError: the payload size exceeds ``MAX_PAYLOAD_SIZE``.
    """
    if len(data) < FRAME_HEADER_SIZE:
        raise DecodeError(f"malformed platform data header: {len(data)} of {FRAME_HEADER_SIZE} bytes")
    command, transport_type, size = _HEADER.unpack_from(data)
    _check_size(size)
    if len(data) != FRAME_HEADER_SIZE + size:
        raise DecodeError(f"malformed platform data frame: {len(data) - FRAME_HEADER_SIZE} payload "
                          f"bytes where the header announces {size}")
    return SocketFrame(command, transport_type, bytes(data[FRAME_HEADER_SIZE:]))


def _read_upto(recv: Callable[[int], bytes], size: int) -> bytes:
    """Read ``size`` bytes, or fewer if the stream ends first."""
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = recv(min(remaining, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(recv: Callable[[int], bytes]) -> SocketFrame | None:
    """Read one frame from a byte stream, tolerating short reads.

    Args:
        recv: returns up to the requested number of bytes, ``b""`` at end of
            stream (``socket.recv``).

    Returns:
        The frame, or None if the stream ended cleanly before its first byte.

    Raises:
        TransportError: the stream ended inside a frame.
        RemoteProtocolError: the payload size exceeds ``MAX_PAYLOAD_SIZE``
            (checked before the payload is read).
    """
    header_bytes = _read_upto(recv, FRAME_HEADER_SIZE)
    if not header_bytes:
        return None
    if len(header_bytes) < FRAME_HEADER_SIZE:
        raise TransportError("peer closed the connection inside a frame header")
    command, transport_type, size = _HEADER.unpack(header_bytes)
    _check_size(size)
    payload = _read_upto(recv, size)
    if len(payload) < size:
        raise TransportError("peer closed the connection inside a frame payload")
    return SocketFrame(command, transport_type, payload)


@declares_structs(__name__)
def _declare_structs() -> None:
    """The construct declarations of the frame, made on first use (the frames themselves go
    through :data:`_HEADER`, which the tests check against these)."""
    global PlatformDataHeader, PlatformData
    from construct import Bytes, Int32ub, Rebuild, Struct, Terminated, len_, this

    # spdm-emu command.h: "Client->Server/Server->Client" frame header.
    PlatformDataHeader = Struct(
        "command" / Int32ub,
        "transport_type" / Int32ub,
        "payload_size" / Int32ub,
    )
    # The whole frame, for codecs of complete buffers.
    PlatformData = Struct(
        "command" / Int32ub,
        "transport_type" / Int32ub,
        "payload_size" / Rebuild(Int32ub, len_(this.payload)),
        "payload" / Bytes(this.payload_size),
        Terminated,
    )


PlatformDataHeader: Construct
PlatformData: Construct
_DECLARED = ("PlatformDataHeader", "PlatformData")

__getattr__ = declared_names(__name__, _DECLARED)
