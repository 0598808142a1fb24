"""GET_MEASUREMENT_EXTENSION_LOG / MEASUREMENT_EXTENSION_LOG and the DMTF MEL format (SPDM 1.3).

A Measurement Extension Log (MEL) records, entry by entry, what a device
extended into a hash-extended measurement (DmtfValueType 8): each entry names
the measurement index it was extended into and carries a DMTF measurement
(type, value).  The requester reads it in portions (Offset/Length, like a
certificate chain); the response's RemainderLength says how much is left.

Layouts per DSP0274 1.3 §10.29 (the messages) and the DMTF MEL format
(the MEL = NumberOfEntries u32, MELEntriesLength u32,
8 reserved bytes, then the entries; an entry = MELIndex u32, MeasIndex u8,
3 reserved bytes, then a DMTF measurement header and value; libspdm's
``spdm_mel_entry_dmtf_t`` declares the same).  The captures of libspdm show this
layout byte for byte (``vectors/libspdm-doe/spdm13-p384-endpoint-mel-keypair``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..codec import Message, WireMessage, declares_structs
from ..record import record
from .codes import DMTF_RAW_BIT_STREAM, DmtfValueType, RequestCode, ResponseCode

__all__ = [
    "MEL_HEADER_SIZE",
    "GetMeasurementExtensionLog",
    "Mel",
    "MelEntry",
    "MeasurementExtensionLog",
]

MEL_HEADER_SIZE = 16
"""NumberOfEntries, MELEntriesLength and 8 reserved bytes."""


_ENTRY_FIXED = 11
"""MELIndex, MeasIndex, DMTFSpecMeasurementValueType and DMTFSpecMeasurementValueSize."""


@record(frozen=True, slots=True)
class MelEntry:
    """One DMTF MEL entry: what was extended into a hash-extended measurement.

    Attributes:
        mel_index: the entry's position in the log (libspdm counts from 1).
        measurement_index: the measurement block (a HASH_EXTENDED one) this
            entry was extended into.
        value_type: DMTFSpecMeasurementValueType of the entry (b7 = raw bit stream).
        value: the measurement (raw when b7 is set, else a digest).
    """

    mel_index: int
    measurement_index: int
    value_type: int
    value: bytes

    @property
    def kind(self) -> DmtfValueType | int:
        """The value type without the representation bit (an int when unknown)."""
        kind = self.value_type & ~DMTF_RAW_BIT_STREAM & 0xFF
        try:
            return DmtfValueType(kind)
        except ValueError:
            return kind

    def fields(self) -> dict[str, Any]:
        """The construct build values of this entry."""
        return {"mel_index": self.mel_index, "measurement_index": self.measurement_index,
                "value_type": self.value_type, "value": self.value}


@record(frozen=True)
class Mel(WireMessage):
    """The whole DMTF MEL (what the portions of MEASUREMENT_EXTENSION_LOG add up to).

    Decoding checks that NumberOfEntries entries fill exactly MELEntriesLength
    bytes, so a log whose header and entries disagree is malformed.
    """


    entries: tuple[MelEntry, ...] = ()

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        return {"entries": tuple(MelEntry(**e) for e in fields["entries"]["items"])}

    def _to_fields(self) -> dict[str, Any]:
        return {"entries": {"items": [e.fields() for e in self.entries]},
                "entries_length": sum(_ENTRY_FIXED + len(e.value) for e in self.entries)}

    def extended(self, entry: MelEntry) -> Mel:
        """This log with ``entry`` appended (its MELIndex is the caller's)."""
        return Mel((*self.entries, entry))


# --- GET_MEASUREMENT_EXTENSION_LOG / MEASUREMENT_EXTENSION_LOG (DSP0274 1.3 Tables 100-101) ---


@record(frozen=True)
class GetMeasurementExtensionLog(Message):
    """GET_MEASUREMENT_EXTENSION_LOG: ``length`` bytes of the MEL from ``offset``."""

    CODE: ClassVar[int] = RequestCode.GET_MEASUREMENT_EXTENSION_LOG

    offset: int = 0
    length: int = 0


@record(frozen=True)
class MeasurementExtensionLog(Message):
    """MEASUREMENT_EXTENSION_LOG: one portion of the MEL and how much of it remains."""

    CODE: ClassVar[int] = ResponseCode.MEASUREMENT_EXTENSION_LOG

    remainder_length: int = 0
    portion: bytes = b""


@declares_structs(__name__)
def _declare_structs() -> None:
    """These messages' construct declarations (their wire format, which any ``struct`` fast path
    above follows), made when a ``STRUCT`` is first asked for (:func:`spdm.codec.declares_structs`)."""
    from construct import (
        Array,
        Bytes,
        Check,
        FixedSized,
        Int8ul,
        Int16ul,
        Int32ul,
        Padding,
        Rebuild,
        Struct,
        Terminated,
        len_,
        this,
    )

    from ..schema import header

    _MelEntryWire = Struct(
        "mel_index" / Int32ul,
        "measurement_index" / Int8ul,
        Padding(3),
        "value_type" / Int8ul,
        "_value_size" / Rebuild(Int16ul, len_(this.value)),
        "value" / Bytes(this._value_size),
    )

    Mel.STRUCT = Struct(
        "_number_of_entries" / Rebuild(Int32ul, len_(this.entries.items)),
        "entries_length" / Int32ul,
        Padding(8),
        "entries" / FixedSized(this.entries_length, Struct(
            "items" / Array(this._._number_of_entries, _MelEntryWire),
            Terminated,
        )),
    )
    GetMeasurementExtensionLog.STRUCT = Struct(
        *header(RequestCode.GET_MEASUREMENT_EXTENSION_LOG),
        "offset" / Int32ul,
        "length" / Int32ul,
    )
    MeasurementExtensionLog.STRUCT = Struct(
        *header(ResponseCode.MEASUREMENT_EXTENSION_LOG),
        "_portion_length" / Rebuild(Int32ul, len_(this.portion)),
        "remainder_length" / Int32ul,
        Check(this._portion_length <= 0xFFFFFFFF - this.remainder_length),
        "portion" / Bytes(this._portion_length),
    )
