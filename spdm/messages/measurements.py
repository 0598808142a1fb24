"""GET_MEASUREMENTS / MEASUREMENTS and DMTF measurement blocks.

Layouts per DSP0274 1.3 §10.11 (PROTOCOLS.md §3.7).  The record is decoded
into :class:`MeasurementBlock` objects at the boundary, so a malformed record
is a :class:`DecodeError` here and never reaches an engine.  devsec negotiates
only the DMTF measurement specification, so a block of any other
specification is malformed.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, ClassVar

from ..codec import (
    NO_PARAMS,
    CodecContext,
    FastFields,
    Message,
    declare_module,
    declared_names,
    declares_structs,
)
from ..record import record
from .auth import NONCE_SIZE, REQUESTER_CONTEXT_SIZE
from .codes import (
    DMTF_RAW_BIT_STREAM,
    DmtfValueType,
    MeasurementAttributes,
    MeasurementSpecification,
    RequestCode,
    ResponseCode,
)
from .opaque_field import fast_opaque_data, fast_opaque_field

if TYPE_CHECKING:
    from construct import Construct

__all__ = ["GetMeasurements", "MeasurementBlock", "Measurements"]

# DSP0274 1.3 Table 44 (measurement block) with Table 45 (DMTF measurement) inside, flattened:
# MeasurementSize covers the DMTF measurement, so it must be DMTFSpecMeasurementValueSize + 3.
# (Flat rather than two nested Prefixed sub-streams: the same bytes are accepted, with fewer
# constructs to interpret.)

_BLOCK_HEADER = struct.Struct("<BBHBH")
"""Index, MeasurementSpecification, MeasurementSize, DMTFSpecMeasurementValueType, its Size."""
_DMTF = int(MeasurementSpecification.DMTF)
"""Checked and written per block, as a plain int: on Python 3.11 an enum class attribute is a
slow lookup (EnumType defines __getattr__)."""
_SIGNATURE_REQUESTED = int(MeasurementAttributes.SIGNATURE_REQUESTED)
_SPDM_HEADER = struct.Struct("<4B")
_RECORD_HEADER = struct.Struct("<4BBHB")
"""MEASUREMENTS' header, NumberOfBlocks and MeasurementRecordLength (u24, as u16 + u8)."""


def _fast_blocks(data: bytes, offset: int, end: int, count: int) -> tuple[dict[str, Any], ...] | None:
    """``count`` measurement blocks filling ``data[offset:end]`` exactly, as construct parses
    them (the struct fast path of the record, R7), or None when they do not."""
    blocks = []
    for _ in range(count):
        if offset + _BLOCK_HEADER.size > end:
            return None
        index, specification, measurement_size, value_type, value_size = _BLOCK_HEADER.unpack_from(
            data, offset)
        offset += _BLOCK_HEADER.size
        if (specification != _DMTF or measurement_size != value_size + 3
                or offset + value_size > end):
            return None
        blocks.append({"index": index, "value_type": value_type, "value": data[offset:offset + value_size]})
        offset += value_size
    return tuple(blocks) if offset == end else None


@record(frozen=True, slots=True)
class MeasurementBlock:
    """One DMTF measurement block.

    Attributes:
        index: the measurement index (1-0xFE; 0xFD manifest, 0xFE device mode).
        value_type: DMTFSpecMeasurementValueType: b7 set = raw bit stream,
            clear = digest (MeasurementHashAlgo); b[6:0] the :class:`DmtfValueType`.
        value: the digest or the raw value.
    """

    index: int
    value_type: int
    value: bytes

    @property
    def raw_bit_stream(self) -> bool:
        """True when ``value`` is the measurement itself, not its digest."""
        return bool(self.value_type & DMTF_RAW_BIT_STREAM)

    @property
    def kind(self) -> DmtfValueType | int:
        """The value type without the representation bit (an int when unknown)."""
        kind = self.value_type & ~DMTF_RAW_BIT_STREAM & 0xFF
        try:
            return DmtfValueType(kind)
        except ValueError:
            return kind

    def encode(self) -> bytes:
        """The block's wire bytes (what MeasurementSummaryHash and records concatenate).

        Raises:
            LocalProtocolError: the value does not fit the 16-bit size fields.
        """
        fast = self._fast_encode()
        if fast is not None:
            return fast
        from ..schema import build

        declare_module(__name__)
        return build(_MeasurementBlockWire, self._fields(), NO_PARAMS, what=type(self).__name__)

    def _fast_encode(self) -> bytes | None:
        """The compiled build's bytes (``struct``, R7), or None: then the compiled build decides."""
        value = self.value
        if type(value) is not bytes or len(value) > 0xFFFF - 3:
            return None
        try:
            return _BLOCK_HEADER.pack(self.index, _DMTF, len(value) + 3,
                                      self.value_type, len(value)) + value
        except struct.error:
            return None

    def _fields(self) -> dict[str, Any]:
        return {"index": self.index, "value_type": self.value_type, "value": self.value}


# --- GET_MEASUREMENTS (DSP0274 1.3 Table 40) ------------------------------------------------


@record(frozen=True)
class GetMeasurements(Message):
    """GET_MEASUREMENTS.

    ``operation`` 0 asks for the number of indices, 0xFF for all blocks, else
    one index.  Nonce and SlotIDParam are present only when a signature is
    requested; RequesterContext always from 1.3.
    """

    CODE: ClassVar[int] = RequestCode.GET_MEASUREMENTS

    attributes: int = 0
    operation: int = 0
    nonce: bytes | None = None
    slot_id: int | None = None
    requester_context: bytes | None = None

    @classmethod
    def _fast_fields(cls, data: bytes, ctx: CodecContext) -> FastFields:
        if len(data) < 4 or data[1] != cls.CODE:
            return None
        version, attributes = data[0], data[2]
        end = 4
        nonce = slot_id = context = None
        if attributes & 1:
            nonce = data[4:4 + NONCE_SIZE]
            end += NONCE_SIZE
            if version >= 0x11:
                slot_id = data[end] & 0x0F if len(data) > end else None
                end += 1
        if version >= 0x13:
            context = data[end:end + REQUESTER_CONTEXT_SIZE]
            end += REQUESTER_CONTEXT_SIZE
        if len(data) < end:
            return None
        return {"spdm_version": version, "attributes": attributes, "operation": data[3], "nonce": nonce,
                "slot_id": slot_id, "requester_context": context}, end

    def _fast_encode(self, ctx: CodecContext) -> bytes | None:
        version, attributes, slot_id = self.spdm_version, self.attributes, self.slot_id
        signed = isinstance(attributes, int) and attributes & 1 == 1
        nonce = self.nonce if signed else b""
        context = self.requester_context if version >= 0x13 else b""
        if (type(nonce) is not bytes or len(nonce) != (NONCE_SIZE if signed else 0)
                or type(context) is not bytes
                or len(context) != (REQUESTER_CONTEXT_SIZE if version >= 0x13 else 0)):
            return None
        slot = b""
        if signed and version >= 0x11:
            if type(slot_id) is not int or not 0 <= slot_id <= 0x0F:
                return None
            slot = bytes((slot_id,))
        try:
            head = _SPDM_HEADER.pack(version, self.CODE, attributes, self.operation)
        except struct.error:
            return None
        return b"".join((head, nonce, slot, context))

    @property
    def signature_requested(self) -> bool:
        """Param1 b0."""
        # as ints: Flag's & would build a new enum member (asked several times per request)
        return bool(int(self.attributes) & _SIGNATURE_REQUESTED)


# --- MEASUREMENTS (DSP0274 1.3 Table 42) ----------------------------------------------------


@record(frozen=True)
class Measurements(Message):
    """MEASUREMENTS.

    ``total_indices`` is Param1 (meaningful when the request's operation was
    0); ``attributes`` is Param2: b[3:0] SlotID, b[5:4] content changed (1.2).
    """

    CODE: ClassVar[int] = ResponseCode.MEASUREMENTS

    total_indices: int = 0
    attributes: int = 0
    blocks: tuple[MeasurementBlock, ...] = ()
    nonce: bytes = bytes(NONCE_SIZE)
    opaque_data: bytes = b""
    requester_context: bytes | None = None
    signature: bytes = b""

    @property
    def slot_id(self) -> int:
        """Param2 b[3:0]: the slot whose key signed."""
        return self.attributes & 0x0F

    @property
    def content_changed(self) -> int:
        """Param2 b[5:4] (1.2): 0 not detected, 1 changed, 2 no change."""
        return (self.attributes >> 4) & 0x3

    @classmethod
    def _fast_fields(cls, data: bytes, ctx: CodecContext) -> FastFields:
        if len(data) < _RECORD_HEADER.size or data[1] != cls.CODE:
            return None
        version, _, total_indices, attributes, count, low, high = _RECORD_HEADER.unpack_from(data)
        record_end = _RECORD_HEADER.size + (low | high << 16)
        nonce_end = record_end + NONCE_SIZE
        if len(data) < nonce_end:
            return None
        blocks = _fast_blocks(data, _RECORD_HEADER.size, record_end, count)
        opaque = fast_opaque_data(data, nonce_end)
        if blocks is None or opaque is None:
            return None
        opaque_data, offset = opaque
        context = None
        if version >= 0x13:
            context = data[offset:offset + REQUESTER_CONTEXT_SIZE]
            offset += REQUESTER_CONTEXT_SIZE
        end = offset + (ctx.signature_size if ctx.signed else 0)
        if len(data) < end:
            return None
        return {"spdm_version": version, "total_indices": total_indices, "attributes": attributes,
                "blocks": {"entries": blocks}, "nonce": data[record_end:nonce_end],
                "opaque_data": opaque_data, "requester_context": context, "signature": data[offset:end]}, end

    def _fast_encode(self, ctx: CodecContext) -> bytes | None:
        parts = []
        for block in self.blocks:
            if type(block) is not MeasurementBlock:
                return None
            encoded = block._fast_encode()
            if encoded is None:
                return None
            parts.append(encoded)
        record = b"".join(parts)
        opaque = fast_opaque_field(self.opaque_data)
        context = self.requester_context if self.spdm_version >= 0x13 else b""
        signature = self.signature
        if (opaque is None or len(parts) > 0xFF or len(record) > 0xFFFFFF or type(self.nonce) is not bytes
                or len(self.nonce) != NONCE_SIZE or type(context) is not bytes
                or len(context) != (REQUESTER_CONTEXT_SIZE if self.spdm_version >= 0x13 else 0)
                or type(signature) is not bytes
                or len(signature) != (ctx.signature_size if ctx.signed else 0)):
            return None
        try:
            head = _RECORD_HEADER.pack(self.spdm_version, self.CODE, self.total_indices, self.attributes,
                                       len(parts), len(record) & 0xFFFF, len(record) >> 16)
        except struct.error:
            return None
        return b"".join((head, record, self.nonce, opaque, context, signature))

    @property
    def measurement_record(self) -> bytes:
        """The concatenated blocks as on the wire."""
        return b"".join(b.encode() for b in self.blocks)

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        fields["blocks"] = tuple(
            MeasurementBlock(b["index"], b["value_type"], b["value"])
            for b in fields["blocks"]["entries"]
        )
        return fields

    def _to_fields(self) -> dict[str, Any]:
        fields = super()._to_fields()
        fields["blocks"] = {"entries": [b._fields() for b in self.blocks]}
        return fields


@declares_structs(__name__)
def _declare_structs() -> None:
    """These messages' construct declarations (their wire format, which any ``struct`` fast path
    above follows), made when a ``STRUCT`` is first asked for (:func:`spdm.codec.declares_structs`)."""
    global _MeasurementBlockWire
    from construct import (
        Array,
        Bytes,
        Check,
        Const,
        If,
        Int8ul,
        Int16ul,
        Int24ul,
        Prefixed,
        Rebuild,
        Struct,
        Terminated,
        len_,
        this,
    )

    from ..schema import header, low_nibble, opaque_data

    _MeasurementBlockWire = Struct(
        "index" / Int8ul,
        "_measurement_specification" / Const(int(MeasurementSpecification.DMTF), Int8ul),
        "_measurement_size" / Rebuild(Int16ul, len_(this.value) + 3),
        "value_type" / Int8ul,
        "_value_size" / Rebuild(Int16ul, len_(this.value)),
        Check(this._measurement_size == this._value_size + 3),
        "value" / Bytes(this._value_size),
    )

    GetMeasurements.STRUCT = Struct(
        *header(RequestCode.GET_MEASUREMENTS, "attributes", "operation"),
        "nonce" / If((this.attributes & 1) == 1, Bytes(NONCE_SIZE)),
        "slot_id" / If(((this.attributes & 1) == 1) & (this.spdm_version >= 0x11), low_nibble),
        "requester_context" / If(this.spdm_version >= 0x13, Bytes(REQUESTER_CONTEXT_SIZE)),
    )
    Measurements.STRUCT = Struct(
        *header(ResponseCode.MEASUREMENTS, "total_indices", "attributes"),
        "_number_of_blocks" / Rebuild(Int8ul, len_(this.blocks.entries)),
        "blocks" / Prefixed(Int24ul, Struct(
            "entries" / Array(this._._number_of_blocks, _MeasurementBlockWire),
            Terminated,
        )),
        "nonce" / Bytes(NONCE_SIZE),
        *opaque_data(),
        "requester_context" / If(this.spdm_version >= 0x13, Bytes(REQUESTER_CONTEXT_SIZE)),
        "signature" / Bytes(this._params.MEAS_S),
    )


_MeasurementBlockWire: Construct
"""Made with the messages' declarations: :func:`_declare_structs`."""

__getattr__ = declared_names(__name__, ("_MeasurementBlockWire",))
