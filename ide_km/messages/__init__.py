"""The IDE_KM wire codec: every PCIe IDE_KM object and the IDE register block QUERY_RESP carries.

Layout: :mod:`.codes` (numbers), :mod:`.registers` (the §8.5 register block),
:mod:`.objects` (the §8.2 objects and the request/response decoders).

The one place IDE_KM bytes are laid out (R6/R8); requester and device model
both use it.  Payloads are the VENDOR_DEFINED_REQUEST/RESPONSE payloads of
PROTOCOLS.md §3.12, so byte 0 is the PCI-SIG Protocol ID (0x00 = IDE_KM) and
byte 1 the ObjectID (§8.2).  Decoding is strict: a short payload, another
Protocol ID or ObjectID, a status or stream state the specification does not
define, or any byte after the object raises :class:`~spdm.errors.DecodeError`
(with construct's path); reserved fields are ignored on parse and built as 0.

The sub-stream nibble of the KeySet/RxTx/SubStream byte is decoded even when
it names no sub-stream: the device must echo such a request in a KP_ACK with
status 3 (TIV case 2.4), so it is a value to refuse, not malformed bytes.

Key byte order (§8.3): :attr:`KeyProg.key` is the AES-256 key in FIPS order
(as ``cryptography``'s AESGCM takes it); on the wire every 4-byte group is
reversed (Key DW7 = BE32(K[0:4]) first, each DW little-endian).  The IFV goes
out as IFV DW1 (V[63:32]) then IFV DW0 (V[31:0]), both little-endian.
"""

from __future__ import annotations

from .codes import (
    INITIAL_IFV,
    KEY_SIZE,
    PROTOCOL_ID,
    Direction,
    KeySet,
    KpAckStatus,
    ObjectId,
    StreamState,
    SubStream,
)
from .objects import (
    REQUEST_TYPES,
    RESPONSE_TYPES,
    IdeKmMessage,
    IdeKmRequest,
    IdeKmResponse,
    KeyProg,
    KeySubStream,
    KGoStopAck,
    KpAck,
    KSetGo,
    KSetStop,
    Query,
    QueryResp,
    decode_request,
    decode_response,
    object_id_of,
    peek_stream_header,
)
from .registers import (
    AddressAssociation,
    IdeCapability,
    IdeControl,
    IdeRegisterBlock,
    LinkStream,
    RidAssociation,
    SelectiveStream,
    StreamControl,
    StreamStatus,
)

__all__ = [
    "PROTOCOL_ID",
    "KEY_SIZE",
    "INITIAL_IFV",
    "ObjectId",
    "KeySet",
    "Direction",
    "SubStream",
    "KpAckStatus",
    "StreamState",
    "IdeCapability",
    "IdeControl",
    "StreamControl",
    "StreamStatus",
    "LinkStream",
    "RidAssociation",
    "AddressAssociation",
    "SelectiveStream",
    "IdeRegisterBlock",
    "KeySubStream",
    "IdeKmMessage",
    "Query",
    "QueryResp",
    "KeyProg",
    "KpAck",
    "KSetGo",
    "KSetStop",
    "KGoStopAck",
    "IdeKmRequest",
    "IdeKmResponse",
    "REQUEST_TYPES",
    "RESPONSE_TYPES",
    "object_id_of",
    "peek_stream_header",
    "decode_request",
    "decode_response",
]
