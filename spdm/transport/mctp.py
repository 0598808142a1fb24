"""SPDM over MCTP (DSP0275): the MCTP message-type byte, the transport header captures carry, and
the secured-record parameters the binding chose.

An MCTP message starts with one byte: IC (integrity check, b7) and the
message type (b6:0), 0x05 SPDM or 0x06 secured SPDM.  The reference's
captures (pcap link type 291, LINKTYPE_MCTP) put a 4-byte MCTP transport
header in front (header version, destination and source EID, and
SOM/EOM/packet sequence/TO/tag; spdm-emu writes ``00 00 00 c0``).  Its
socket does not carry that header: with transport type MCTP a NORMAL frame
holds the MCTP message alone, type byte first (spdm-emu ``command.c`` adds
the header when it writes a record to the capture, "for PCAP").
:data:`MCTP_MESSAGES` is the codec of the socket's messages,
:data:`MCTP_CAPTURE` the codec of the capture's records.

Inside a secured record the application data repeats the message-type byte
(``05`` + the SPDM message), the record carries the low 2 bytes of the
sequence number after the SessionID, and the sender may append up to 32
bytes of random padding (libspdm's MCTP binding; the ``spdm12-p384-mctp``
capture shows all three: its HEARTBEAT records have Length 0x28 and 0x26 for
the same 4-byte message, and the wire sequence numbers run 0, 1, ... per
direction, restarting at each key update).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from construct import BitsInteger, BitStruct, ConstructError, Flag, GreedyBytes, Int8ub, Struct

from spdm.errors import DecodeError
from spdm.secured import RecordFormat

from ..record import record
from .binding import BoundMessage

__all__ = [
    "EMU_TRANSPORT_HEADER",
    "LINKTYPE_MCTP",
    "MCTP_CAPTURE",
    "MCTP_MESSAGES",
    "MCTP_RECORDS",
    "MctpCaptureCodec",
    "MctpMessage",
    "MctpMessageCodec",
    "MctpMessageHeader",
    "MctpMessageType",
    "MctpRecord",
    "MctpTransportHeader",
    "frame_message",
    "unframe_message",
]

LINKTYPE_MCTP: Final = 291
MAX_RANDOM_PADDING: Final = 32
"""libspdm's LIBSPDM_MCTP_MAX_RANDOM_NUMBER_COUNT."""

class MctpMessageType(IntEnum):
    """DSP0239 message types SPDM uses."""

    SPDM = 0x05
    SECURED_SPDM = 0x06

MctpTransportHeader = Struct(
    "header_version" / Int8ub,
    "destination_eid" / Int8ub,
    "source_eid" / Int8ub,
    "flags" / BitStruct(
        "som" / Flag,
        "eom" / Flag,
        "packet_sequence" / BitsInteger(2),
        "tag_owner" / Flag,
        "message_tag" / BitsInteger(3),
    ),
)
"""The MCTP packet header (DSP0236) as the reference's captures record it."""

MctpMessageHeader = BitStruct(
    "integrity_check" / Flag,
    "message_type" / BitsInteger(7),
)
"""The first byte of every MCTP message."""

MctpMessage = Struct(
    "header" / MctpMessageHeader,
    "body" / GreedyBytes,
)
"""One MCTP message: the message-type byte, then the message (what spdm-emu's socket carries)."""

MctpRecord = Struct(
    "transport" / MctpTransportHeader,
    "header" / MctpMessageHeader,
    "body" / GreedyBytes,
)
"""One record of a LINKTYPE_MCTP capture: transport header, message-type byte, message."""

EMU_TRANSPORT_HEADER: Final = bytes.fromhex("000000c0")
"""What spdm-emu writes before every message of its MCTP captures (EIDs 0, SOM|EOM, tag 0)."""

_SPDM_TYPE = bytes([MctpMessageType.SPDM])

def frame_message(message: bytes) -> bytes:
    """The application data of a secured record: the SPDM message-type byte, then the message."""
    return _SPDM_TYPE + message

def unframe_message(app_data: bytes) -> bytes:
    """The SPDM message inside a secured record's application data.

    Raises:
        DecodeError: it does not start with the SPDM message-type byte.
    """
    if app_data[:1] != _SPDM_TYPE:
        raise DecodeError(f"secured MCTP application data starts with {app_data[:1].hex() or 'nothing'}, "
                          f"not the SPDM message type 05")
    return app_data[1:]

MCTP_RECORDS: Final = RecordFormat(sequence_size=2, max_padding=MAX_RANDOM_PADDING,
                                   frame=frame_message, unframe=unframe_message)
"""DSP0275 as libspdm implements it: a 2-byte wire sequence number, up to 32 bytes of random padding."""

def _bound(integrity_check: bool, kind: int, body: bytes) -> BoundMessage:
    """The message of an MCTP message-type byte and body.

    Raises:
        DecodeError: integrity check set, or not an SPDM type.
    """
    if integrity_check or kind not in (MctpMessageType.SPDM, MctpMessageType.SECURED_SPDM):
        raise DecodeError(f"MCTP message type byte {int(integrity_check) << 7 | kind:#04x} "
                          f"is not SPDM or secured SPDM")
    return BoundMessage(kind == MctpMessageType.SECURED_SPDM, body)


def _type_byte(message: BoundMessage) -> bytes:
    return bytes([MctpMessageType.SECURED_SPDM if message.secured else MctpMessageType.SPDM])


@record(frozen=True)
class MctpMessageCodec:
    """MCTP messages as spdm-emu's socket carries them (a :class:`~spdm.transport.binding.MessageCodec`)."""

    name: str = "MCTP"
    record_format: RecordFormat = MCTP_RECORDS

    def decode(self, unit: bytes) -> BoundMessage:
        """The SPDM message or secured record in one MCTP message.

        Raises:
            DecodeError: empty, integrity check set, or not an SPDM type.
        """
        try:
            message = MctpMessage.parse(unit)
        except ConstructError as exc:
            raise DecodeError(f"MCTP message of {len(unit)} bytes: {exc}") from exc
        return _bound(message.header.integrity_check, message.header.message_type, message.body)

    def encode(self, message: BoundMessage) -> bytes:
        """The MCTP message carrying ``message``."""
        return _type_byte(message) + message.payload


MCTP_MESSAGES: Final = MctpMessageCodec()
"""The codec of the MCTP messages spdm-emu's socket carries (``--trans MCTP``)."""


@record(frozen=True)
class MctpCaptureCodec:
    """The records of a LINKTYPE_MCTP capture (a :class:`~spdm.transport.binding.BindingCodec`)."""

    name: str = "MCTP"
    link_type: int = LINKTYPE_MCTP
    record_format: RecordFormat = MCTP_RECORDS

    def decode(self, unit: bytes) -> BoundMessage:
        """The SPDM message or secured record in one captured MCTP message.

        Raises:
            DecodeError: shorter than the headers, integrity check set, or not an SPDM type.
        """
        try:
            record = MctpRecord.parse(unit)
        except ConstructError as exc:
            raise DecodeError(f"MCTP record of {len(unit)} bytes: {exc}") from exc
        return _bound(record.header.integrity_check, record.header.message_type, record.body)

    def encode(self, message: BoundMessage) -> bytes:
        """The record spdm-emu writes for ``message``."""
        return EMU_TRANSPORT_HEADER + _type_byte(message) + message.payload

    def label(self, unit: bytes) -> str:
        """``MCTP(type)``, as spdm_dump prints it (e.g. ``MCTP(5)``)."""
        return f"MCTP({unit[4] & 0x7F if len(unit) > 4 else '?'})"

MCTP_CAPTURE: Final = MctpCaptureCodec()
"""The codec of the reference's MCTP captures."""
