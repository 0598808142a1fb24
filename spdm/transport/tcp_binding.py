"""SPDM over TCP (DSP0287): the 4-byte binding header and the secured-record parameters of the binding.

Every DSP0287 message starts with ``PayloadLength (u16 LE) | BindingVersion
(0x01) | MessageType``; PayloadLength counts the version and type bytes and
the payload, not itself (the reference's capture: record size - 2).
MessageType 0x05 is SPDM, 0x06 a secured SPDM record, 0xBF RoleInquiry,
0xC0.. binding errors.

Inside a secured record the application data repeats a whole binding header
(type 0x05) before the SPDM message; there is no sequence number on the wire
and no random padding (libspdm's TCP binding; the ``spdm12-p384-tcp`` capture
opens with exactly these parameters).  No pcap link type is registered for
DSP0287: the reference set uses 147 (LINKTYPE_USER0), one message per record.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from construct import Const, ConstructError, Int8ul, Int16ul, Struct

from spdm.errors import DecodeError, LocalProtocolError
from spdm.secured import RecordFormat

from ..record import record
from .binding import BoundMessage

__all__ = [
    "BINDING_VERSION",
    "HEADER_SIZE",
    "LINKTYPE_TCP_BINDING",
    "TCP_CAPTURE",
    "TCP_RECORDS",
    "TcpBindingHeader",
    "TcpCaptureCodec",
    "TcpMessageType",
    "decode_message",
    "encode_message",
    "frame_message",
    "unframe_message",
]

LINKTYPE_TCP_BINDING: Final = 147
"""LINKTYPE_USER0: what the reference set uses, none being registered for DSP0287."""
BINDING_VERSION: Final = 0x01
HEADER_SIZE: Final = 4
_MAX_PAYLOAD: Final = 0xFFFF - 2


class TcpMessageType(IntEnum):
    """DSP0287 message types."""

    SPDM = 0x05
    SECURED_SPDM = 0x06
    ROLE_INQUIRY = 0xBF
    ERROR_TOO_LARGE = 0xC0
    ERROR_NOT_SUPPORTED = 0xC1
    ERROR_CANNOT_OPERATE_AS_REQUESTER = 0xC2
    ERROR_CANNOT_OPERATE_AS_RESPONDER = 0xC3


TcpBindingHeader = Struct(
    "payload_length" / Int16ul,
    "binding_version" / Const(BINDING_VERSION, Int8ul),
    "message_type" / Int8ul,
)
"""The DSP0287 binding header (libspdm ``spdm_tcp_binding_header_t``)."""


def encode_message(message_type: int, payload: bytes) -> bytes:
    """One DSP0287 message: the binding header and ``payload``.

    Raises:
        LocalProtocolError: the payload is over 65533 bytes (it cannot be framed).
    """
    if len(payload) > _MAX_PAYLOAD:
        raise LocalProtocolError(f"a {len(payload)}-byte payload does not fit a DSP0287 message")
    header: bytes = TcpBindingHeader.build(dict(payload_length=len(payload) + 2, message_type=message_type))
    return header + payload


def decode_message(data: bytes) -> tuple[int, bytes]:
    """The message type and payload of one whole DSP0287 message.

    Raises:
        DecodeError: shorter than the header, another binding version, or a
            PayloadLength that disagrees with the message's size.
    """
    try:
        header = TcpBindingHeader.parse(data)
    except ConstructError as exc:
        raise DecodeError(f"DSP0287 message of {len(data)} bytes: {exc}") from exc
    if header.payload_length != len(data) - 2:
        raise DecodeError(f"DSP0287 PayloadLength {header.payload_length} for a {len(data)}-byte message "
                          f"(expected {len(data) - 2})")
    return header.message_type, data[HEADER_SIZE:]


def frame_message(message: bytes) -> bytes:
    """The application data of a secured record: a type-0x05 binding header, then the message."""
    return encode_message(TcpMessageType.SPDM, message)


def unframe_message(app_data: bytes) -> bytes:
    """The SPDM message inside a secured record's application data.

    Raises:
        DecodeError: no well-formed type-0x05 binding header in front.
    """
    kind, message = decode_message(app_data)
    if kind != TcpMessageType.SPDM:
        raise DecodeError(f"secured DSP0287 application data of type {kind:#04x}, expected 0x05 (SPDM)")
    return message


TCP_RECORDS: Final = RecordFormat(frame=frame_message, unframe=unframe_message)
"""DSP0287 as libspdm implements it: no wire sequence number, no random padding, an inner binding header."""


@record(frozen=True)
class TcpCaptureCodec:
    """The records of a DSP0287 capture (a :class:`~spdm.transport.binding.BindingCodec`)."""

    name: str = "TCP"
    link_type: int = LINKTYPE_TCP_BINDING
    record_format: RecordFormat = TCP_RECORDS

    def decode(self, unit: bytes) -> BoundMessage:
        """The SPDM message or secured record in one DSP0287 message.

        Raises:
            DecodeError: malformed, or a type other than SPDM / secured SPDM.
        """
        kind, payload = decode_message(unit)
        if kind not in (TcpMessageType.SPDM, TcpMessageType.SECURED_SPDM):
            raise DecodeError(f"DSP0287 message type {kind:#04x} carries no SPDM message")
        return BoundMessage(kind == TcpMessageType.SECURED_SPDM, payload)

    def encode(self, message: BoundMessage) -> bytes:
        """The DSP0287 message carrying ``message``."""
        return encode_message(TcpMessageType.SECURED_SPDM if message.secured else TcpMessageType.SPDM,
                              message.payload)

    def label(self, unit: bytes) -> str:
        """``TCP(Len=.., Ver=.., Type=..)``, as the reference set's (patched) spdm_dump prints it."""
        if len(unit) < HEADER_SIZE:
            return "TCP(?)"
        length = int.from_bytes(unit[:2], "little")
        return f"TCP(Len=0x{length:04x}, Ver=0x{unit[2]:02x}, Type=0x{unit[3]:02x})"


TCP_CAPTURE: Final = TcpCaptureCodec()
"""The codec of DSP0287 captures."""
