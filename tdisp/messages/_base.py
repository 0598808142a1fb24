"""What every TDISP message shares: the 16-byte header, the message base class, decode rules.

A TDISP payload (the VENDOR_DEFINED payload) is the Protocol ID byte 0x01
followed by the TDISP message of PCIe 6.x Table 11-5: TDISPVersion,
MessageType, 2 reserved bytes and the 12-byte INTERFACE_ID (FUNCTION_ID plus
8 reserved bytes).  :class:`TdispMessage` subclasses spdm's one codec base
(:class:`spdm.codec.WireMessage`), so the rules of STYLE R6/R7 hold here as
for SPDM: construct and constructor errors become
:class:`~spdm.errors.DecodeError` in one place, trailing bytes are refused,
reserved fields are built as zero and ignored on read, and the received bytes
stay on the object as ``raw``.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from construct import (
    Bytes,
    Const,
    Construct,
    GreedyBytes,
    Int8ul,
    Int32ul,
    Padding,
    Rebuild,
    Struct,
    len_,
    this,
)

from spdm.codec import NO_PARAMS, WireMessage
from spdm.errors import DecodeError
from spdm.record import record
from spdm.schema import parse_head

from .codes import PROTOCOL_ID, TDISP_VERSION_1_0

__all__ = [
    "HEADER_SIZE",
    "TdispHeader",
    "TdispMessage",
    "TdispMessageHeader",
    "header",
    "peek_header",
    "vendor_fields",
]

HEADER_SIZE = 17
"""Protocol ID (1) + the TDISP header (16): the shortest TDISP payload."""

def header(code: int) -> list[Construct]:
    """Protocol ID and the TDISP header (PCIe 6.x Table 11-5) as fields to splice into a Struct.

    Args:
        code: the MessageType this message must carry.
    """
    return [
        "_protocol_id" / Const(PROTOCOL_ID, Int8ul),
        "version" / Int8ul,
        "_code" / Const(int(code), Int8ul),
        Padding(2),
        # INTERFACE_ID (PCIe 6.x Table 11-1): FUNCTION_ID, then 8 reserved bytes
        "interface_id" / Int32ul,
        Padding(8),
    ]


def vendor_fields(data_name: str) -> list[Construct]:
    """REGISTRY_ID, VENDOR_ID_LEN, VENDOR_ID and the vendor's bytes (PCIe 6.x Tables 11-28 to 11-30).

    Args:
        data_name: the field name of the trailing vendor bytes.
    """
    return [
        "registry_id" / Int8ul,
        "_vendor_id_len" / Rebuild(Int8ul, len_(this.vendor_id)),
        "vendor_id" / Bytes(this._vendor_id_len),
        data_name / GreedyBytes,
    ]


# PCIe 6.x Table 11-5, read before the message type is known.
TdispMessageHeader = Struct(
    "protocol_id" / Int8ul,
    "version" / Int8ul,
    "message_type" / Int8ul,
    Padding(2),
    "interface_id" / Int32ul,
    Padding(8),
)


@record(frozen=True, slots=True)
class TdispHeader:
    """The header fields of a TDISP payload, read before its type is known.

    Attributes:
        version: TDISPVersion.
        message_type: the request or response code (not necessarily a known one).
        interface_id: FUNCTION_ID of INTERFACE_ID.
    """

    version: int
    message_type: int
    interface_id: int


def peek_header(payload: bytes) -> TdispHeader:
    """Read the Protocol ID and TDISP header of a payload without decoding the rest.

    Raises:
        DecodeError: shorter than a TDISP header, or a Protocol ID other than TDISP's.
    """
    if len(payload) < HEADER_SIZE:
        raise DecodeError(f"a {len(payload)}-byte payload is shorter than the TDISP header")
    if payload[0] != PROTOCOL_ID:
        raise DecodeError(f"Protocol ID 0x{payload[0]:02x} is not TDISP (0x{PROTOCOL_ID:02x})")
    fields, _ = parse_head(TdispMessageHeader, bytes(payload[:HEADER_SIZE]), NO_PARAMS, what="TDISP header")
    return TdispHeader(fields["version"], fields["message_type"], fields["interface_id"])


@record(frozen=True)
class TdispMessage(WireMessage):
    """Base of every TDISP message dataclass (PCIe 6.x §11.3).

    Subclasses set ``STRUCT`` (header included, built with :func:`header`) and
    ``CODE``, and declare their payload fields with the Struct's field names;
    records that are not plain values are converted by overriding
    :meth:`_from_fields` / :meth:`_to_fields`.  ``decode`` takes the whole
    vendor-defined payload, Protocol ID first, and ``encode`` gives it back.

    Attributes:
        interface_id: FUNCTION_ID of the TDI the message is about (the 8
            reserved bytes of INTERFACE_ID are not kept).
        version: TDISPVersion (0x10).
    """

    CODE: ClassVar[int]

    interface_id: int
    version: int = dataclasses.field(default=TDISP_VERSION_1_0, kw_only=True)
