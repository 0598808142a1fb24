"""The IDE_KM objects (PROTOCOLS.md §8.2-§8.3): QUERY, QUERY_RESP, KEY_PROG, KP_ACK, K_SET_GO,
K_SET_STOP and K_GOSTOP_ACK, with the request/response decoders."""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any, ClassVar, TypeAlias

from construct import (
    Adapter,
    Array,
    BitsInteger,
    BitStruct,
    Bytes,
    Const,
    Construct,
    Container,
    Int8ul,
    Int32ul,
    ListContainer,
    Padding,
    Struct,
)

from spdm.codec import NO_PARAMS, WireMessage
from spdm.errors import DecodeError
from spdm.record import record
from spdm.schema import parse_exact

from .codes import INITIAL_IFV, KEY_SIZE, PROTOCOL_ID, Direction, KeySet, KpAckStatus, ObjectId, SubStream
from .registers import IdeRegisterBlock, IdeRegisterBlockStruct, register_block_fields, register_block_from

__all__ = [
    "REQUEST_TYPES",
    "RESPONSE_TYPES",
    "IdeKmMessage",
    "IdeKmRequest",
    "IdeKmResponse",
    "KGoStopAck",
    "KSetGo",
    "KSetStop",
    "KeyProg",
    "KeySubStream",
    "KeySubStreamByte",
    "KpAck",
    "Query",
    "QueryResp",
    "StreamHeader",
    "decode_request",
    "decode_response",
    "object_id_of",
    "peek_stream_header",
]

_SUB_STREAMS = frozenset(int(s) for s in SubStream)


@record(frozen=True, slots=True)
class KeySubStream:
    """The KeySet/RxTx/SubStream byte (§8.2; b[3:2] reserved).

    Attributes:
        key_set: K0 or K1.
        direction: Rx or Tx, seen from the port being programmed.
        sub_stream: a :class:`SubStream`, or the raw nibble when it names none
            (a device answers such a KEY_PROG with KP_ACK status 3).
    """

    key_set: KeySet
    direction: Direction
    sub_stream: int

    @property
    def valid(self) -> bool:
        """The sub-stream nibble names PR, NPR or CPL."""
        return self.sub_stream in _SUB_STREAMS


KeySubStreamByte = BitStruct(
    "sub_stream" / BitsInteger(4),                      # b7:4
    Padding(2),                                         # b3:2 reserved
    "direction" / BitsInteger(1),                       # b1 RxTx
    "key_set" / BitsInteger(1),                         # b0 KeySet
)


def _key_sub_stream(fields: dict[str, int]) -> KeySubStream:
    nibble = fields["sub_stream"]
    return KeySubStream(KeySet(fields["key_set"]), Direction(fields["direction"]),
                        SubStream(nibble) if nibble in _SUB_STREAMS else nibble)


def _reverse_dwords(data: bytes) -> bytes:
    if len(data) % 4:
        raise ValueError(f"a key of {len(data)} bytes is not whole DWs")
    return b"".join(data[i:i + 4][::-1] for i in range(0, len(data), 4))


class _DwordReversed(Adapter):  # type: ignore[misc]
    """§8.3: the wire holds the FIPS-order key with every 4-byte group reversed."""

    def _decode(self, obj: bytes, context: Container, path: str) -> bytes:
        return _reverse_dwords(obj)

    def _encode(self, obj: bytes, context: Container, path: str) -> bytes:
        return _reverse_dwords(obj)


class _Ifv(Adapter):  # type: ignore[misc]
    """§8.3: IFV DW1 (V[63:32]) then IFV DW0 (V[31:0])."""

    def _decode(self, obj: ListContainer, context: Container, path: str) -> int:
        return int(obj[0]) << 32 | int(obj[1])

    def _encode(self, obj: int, context: Container, path: str) -> list[int]:
        if not 0 <= obj < 1 << 64:
            raise ValueError(f"IFV {obj} does not fit 64 bits")
        return [obj >> 32, obj & 0xFFFF_FFFF]


def _header(object_id: ObjectId) -> list[Construct]:
    return [
        "_protocol_id" / Const(PROTOCOL_ID, Int8ul),
        "_object_id" / Const(int(object_id), Int8ul),
        Padding(1),                                     # byte 2 reserved
    ]


def _stream_header(object_id: ObjectId, byte5: Construct) -> list[Construct]:
    """Bytes 0-7 of KEY_PROG, KP_ACK, K_SET_GO/STOP and K_GOSTOP_ACK."""
    return [
        *_header(object_id),
        Padding(1),                                     # byte 3 reserved
        "stream_id" / Int8ul,
        byte5,
        "key_sub_stream" / KeySubStreamByte,
        "port_index" / Int8ul,
    ]


StreamHeader = Struct(
    Padding(4),
    "stream_id" / Int8ul,
    Padding(1),
    "key_sub_stream" / KeySubStreamByte,
    "port_index" / Int8ul,
)
"""Bytes 0-7 of a stream object, whatever its ObjectID and length (for KP_ACK status 1)."""


@record(frozen=True)
class IdeKmMessage(WireMessage):
    """Base of every IDE_KM object, over spdm's one codec base (:class:`spdm.codec.WireMessage`).

    ``decode`` takes the whole vendor payload, Protocol ID first, and raises
    :class:`~spdm.errors.DecodeError` for malformed, truncated or trailing
    bytes, the wrong Protocol ID or ObjectID, or a value the specification does
    not define; ``encode`` gives the payload back.
    """

    OBJECT_ID: ClassVar[ObjectId]

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        if "key_sub_stream" in fields:
            fields = {**fields, "key_sub_stream": _key_sub_stream(fields["key_sub_stream"])}
        return fields

    def _to_fields(self) -> dict[str, Any]:
        fields = super()._to_fields()
        if "key_sub_stream" in fields:
            fields["key_sub_stream"] = dataclasses.asdict(fields["key_sub_stream"])
        return fields


@record(frozen=True)
class Query(IdeKmMessage):
    """QUERY: ask a port for its IDE capability."""

    OBJECT_ID: ClassVar[ObjectId] = ObjectId.QUERY
    STRUCT = Struct(*_header(ObjectId.QUERY), "port_index" / Int8ul)

    port_index: int = 0


@record(frozen=True)
class QueryResp(IdeKmMessage):
    """QUERY_RESP: the port's location, MaxPortIndex and IDE register block."""

    OBJECT_ID: ClassVar[ObjectId] = ObjectId.QUERY_RESP
    STRUCT = Struct(
        *_header(ObjectId.QUERY_RESP),
        "port_index" / Int8ul,
        "dev_func_num" / Int8ul,
        "bus_num" / Int8ul,
        "segment" / Int8ul,
        "max_port_index" / Int8ul,
        "registers" / IdeRegisterBlockStruct,
    )

    port_index: int
    dev_func_num: int
    bus_num: int
    segment: int
    max_port_index: int
    registers: IdeRegisterBlock

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        return {**fields, "registers": register_block_from(fields["registers"])}

    def _to_fields(self) -> dict[str, Any]:
        return {**super()._to_fields(), "registers": register_block_fields(self.registers)}


@record(frozen=True)
class KeyProg(IdeKmMessage):
    """KEY_PROG: one key and IFV for one sub-stream, direction and key set of a stream.

    ``key`` is in FIPS (AESGCM) byte order; the codec applies the §8.3 wire order.
    """

    OBJECT_ID: ClassVar[ObjectId] = ObjectId.KEY_PROG
    STRUCT = Struct(
        *_stream_header(ObjectId.KEY_PROG, Padding(1)),
        "key" / _DwordReversed(Bytes(KEY_SIZE)),
        "ifv" / _Ifv(Array(2, Int32ul)),
    )

    stream_id: int
    key_sub_stream: KeySubStream
    port_index: int
    key: bytes = field(repr=False)
    ifv: int = INITIAL_IFV


@record(frozen=True)
class KpAck(IdeKmMessage):
    """KP_ACK: the result of a KEY_PROG, echoing its stream, sub-stream byte and port."""

    OBJECT_ID: ClassVar[ObjectId] = ObjectId.KP_ACK
    STRUCT = Struct(*_stream_header(ObjectId.KP_ACK, "status" / Int8ul))

    stream_id: int
    status: KpAckStatus
    key_sub_stream: KeySubStream
    port_index: int

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        fields = super()._from_fields(fields)
        try:
            return {**fields, "status": KpAckStatus(fields["status"])}
        except ValueError as exc:
            raise DecodeError(f"KpAck: status {fields['status']} is not defined") from exc


@record(frozen=True)
class KSetGo(IdeKmMessage):
    """K_SET_GO: start using a key set for one sub-stream and direction."""

    OBJECT_ID: ClassVar[ObjectId] = ObjectId.K_SET_GO
    STRUCT = Struct(*_stream_header(ObjectId.K_SET_GO, Padding(1)))

    stream_id: int
    key_sub_stream: KeySubStream
    port_index: int


@record(frozen=True)
class KSetStop(IdeKmMessage):
    """K_SET_STOP: stop using (and discard) a key set for one sub-stream and direction."""

    OBJECT_ID: ClassVar[ObjectId] = ObjectId.K_SET_STOP
    STRUCT = Struct(*_stream_header(ObjectId.K_SET_STOP, Padding(1)))

    stream_id: int
    key_sub_stream: KeySubStream
    port_index: int


@record(frozen=True)
class KGoStopAck(IdeKmMessage):
    """K_GOSTOP_ACK: the answer to K_SET_GO and K_SET_STOP, echoing their fields."""

    OBJECT_ID: ClassVar[ObjectId] = ObjectId.K_GOSTOP_ACK
    STRUCT = Struct(*_stream_header(ObjectId.K_GOSTOP_ACK, Padding(1)))

    stream_id: int
    key_sub_stream: KeySubStream
    port_index: int


IdeKmRequest: TypeAlias = Query | KeyProg | KSetGo | KSetStop
IdeKmResponse: TypeAlias = QueryResp | KpAck | KGoStopAck

REQUEST_TYPES: dict[int, type[IdeKmRequest]] = {
    cls.OBJECT_ID: cls for cls in (Query, KeyProg, KSetGo, KSetStop)
}
RESPONSE_TYPES: dict[int, type[IdeKmResponse]] = {
    cls.OBJECT_ID: cls for cls in (QueryResp, KpAck, KGoStopAck)
}


def object_id_of(payload: bytes) -> int:
    """The ObjectID byte of an IDE_KM payload (which may name no IDE_KM object).

    Raises:
        DecodeError: shorter than two bytes, or not Protocol ID 0x00.
    """
    if len(payload) < 2:
        raise DecodeError(f"IDE_KM payload of {len(payload)} byte(s) has no ObjectID")
    if payload[0] != PROTOCOL_ID:
        raise DecodeError(f"Protocol ID 0x{payload[0]:02x} is not IDE_KM")
    return payload[1]


def peek_stream_header(payload: bytes) -> tuple[int, KeySubStream, int]:
    """StreamID, KeySet/RxTx/SubStream and PortIndex of a stream object of any length >= 8.

    The device echoes them in a KP_ACK that refuses a KEY_PROG of the wrong length.

    Raises:
        DecodeError: fewer than 8 bytes.
    """
    fields, _ = parse_exact(StreamHeader, bytes(payload[:8]), NO_PARAMS, padded=False, what="stream header")
    return fields["stream_id"], _key_sub_stream(fields["key_sub_stream"]), fields["port_index"]


def decode_request(payload: bytes) -> IdeKmRequest:
    """Decode a request object of any type.

    Raises:
        DecodeError: malformed, or an ObjectID that is no IDE_KM request.
    """
    object_id = object_id_of(payload)
    cls = REQUEST_TYPES.get(object_id)
    if cls is None:
        raise DecodeError(f"ObjectID 0x{object_id:02x} is not an IDE_KM request")
    return cls.decode(payload)


def decode_response(payload: bytes) -> IdeKmResponse:
    """Decode a response object of any type.

    Raises:
        DecodeError: malformed, or an ObjectID that is no IDE_KM response.
    """
    object_id = object_id_of(payload)
    cls = RESPONSE_TYPES.get(object_id)
    if cls is None:
        raise DecodeError(f"ObjectID 0x{object_id:02x} is not an IDE_KM response")
    return cls.decode(payload)
