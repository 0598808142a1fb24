"""SPDM 1.3 events: GET_SUPPORTED_EVENT_TYPES, SUBSCRIBE_EVENT_TYPES, SEND_EVENT and their answers.

Layouts per DSP0274 1.3 §10.22-10.24 as libspdm declares them (``spdm.h``;
no reference capture holds events):

* SUPPORTED_EVENT_TYPES: Param1 EventGroupCount, then
  SupportedEventGroupsListLen (u32) and the list;
* SUBSCRIBE_EVENT_TYPES: Param1 SubscribeEventGroupCount; only when it is not
  zero do SubscribeListLen (u32) and the list follow (a count of 0 is the
  4-byte header alone and unsubscribes from everything, as libspdm's
  responder checks);
* SEND_EVENT: EventCount (u32) and the event list; EVENT_ACK and
  SUBSCRIBE_EVENT_TYPES_ACK are a bare header.

An event group (both lists) is EventGroupId in the standards-body format
(registry ID, VendorIDLen, VendorID), EventTypeCount (u16), EventGroupVer
(u16), Attributes (u32; in a subscription b0 = all types of the group), then
per event type EventTypeID (u16) and 2 reserved bytes; libspdm builds its
groups so.  One event is EventInstanceID (u32), 4 reserved bytes, the group
ID, EventTypeID (u16), EventDetailLen (u16) and EventDetail.

The DMTF event group (registry ID 0, no VendorID, EventGroupVer 1) defines
EventLost (1), MeasurementChanged (2), MeasurementPreUpdate (3) and
CertificateChanged (4), with details of 8, 32, 32 and 1 bytes (libspdm
``SPDM_DMTF_EVENT_TYPE_*``).  Decided where the specification text was not
at hand: the 32-byte details are bitmasks of measurement indices (byte n bit
b = index 8n + b) and CertificateChanged's byte a mask of certificate slots.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar

from ..codec import Message, declare_module, declared_names, declares_structs
from ..record import record
from .codes import RequestCode, ResponseCode

if TYPE_CHECKING:
    from construct import Construct

__all__ = [
    "DMTF_DETAIL_SIZES",
    "DMTF_EVENT_GROUP_VERSION",
    "DMTF_REGISTRY_ID",
    "SUBSCRIBE_ALL",
    "DmtfEventType",
    "EventAck",
    "EventGroup",
    "GetSupportedEventTypes",
    "SendEvent",
    "SpdmEvent",
    "SubscribeEventTypes",
    "SubscribeEventTypesAck",
    "SupportedEventTypes",
    "check_event_list",
    "event_lost_detail",
    "index_mask",
    "mask_indices",
    "parse_event_lost",
]

DMTF_REGISTRY_ID = 0
"""The DMTF standards-body ID (no VendorID)."""
DMTF_EVENT_GROUP_VERSION = 1
SUBSCRIBE_ALL = 1
"""Event group Attributes b0 in SUBSCRIBE_EVENT_TYPES: every event type of the group."""


class DmtfEventType(IntEnum):
    """EventTypeID of the DMTF event group."""

    EVENT_LOST = 1
    MEASUREMENT_CHANGED = 2
    MEASUREMENT_PRE_UPDATE = 3
    CERTIFICATE_CHANGED = 4


DMTF_DETAIL_SIZES: dict[int, int] = {
    DmtfEventType.EVENT_LOST: 8,
    DmtfEventType.MEASUREMENT_CHANGED: 32,
    DmtfEventType.MEASUREMENT_PRE_UPDATE: 32,
    DmtfEventType.CERTIFICATE_CHANGED: 1,
}
"""EventDetailLen of each DMTF event type (a DMTF event of another length is malformed)."""


# --- event groups ---------------------------------------------------------------------------


@record(frozen=True, slots=True)
class EventGroup:
    """One event group of SupportedEventGroupsList or SubscribeList.

    Attributes:
        registry_id: the group's standards body (0 = DMTF).
        vendor_id: its VendorID (empty for DMTF).
        event_types: the EventTypeIDs listed (empty with ``attributes`` b0 in a subscription).
        version: EventGroupVer.
        attributes: b0 in a subscription: all event types of the group.
    """

    registry_id: int = DMTF_REGISTRY_ID
    vendor_id: bytes = b""
    event_types: tuple[int, ...] = ()
    version: int = DMTF_EVENT_GROUP_VERSION
    attributes: int = 0

    @property
    def is_dmtf(self) -> bool:
        """The DMTF event group (registry 0, no VendorID)."""
        return self.registry_id == DMTF_REGISTRY_ID and not self.vendor_id

    @property
    def subscribes_all(self) -> bool:
        """Attributes b0: the whole group."""
        return bool(self.attributes & SUBSCRIBE_ALL)

    def fields(self) -> dict[str, Any]:
        """The construct build values of this group."""
        return {"registry_id": self.registry_id, "vendor_id": self.vendor_id, "version": self.version,
                "attributes": self.attributes,
                "event_types": [{"event_type_id": t} for t in self.event_types]}

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> EventGroup:
        """The group from its parsed fields."""
        return cls(fields["registry_id"], fields["vendor_id"],
                   tuple(t["event_type_id"] for t in fields["event_types"]),
                   fields["version"], fields["attributes"])


def _groups_in(fields: dict[str, Any]) -> tuple[EventGroup, ...]:
    listed = fields.get("groups")
    if listed is None:
        return ()
    return tuple(EventGroup.from_fields(g) for g in listed["items"])


def _group_list(groups: Sequence[EventGroup]) -> dict[str, Any] | None:
    return {"items": [g.fields() for g in groups]} if groups else None


@record(frozen=True)
class GetSupportedEventTypes(Message):
    """GET_SUPPORTED_EVENT_TYPES: a bare header (in a session only)."""

    CODE: ClassVar[int] = RequestCode.GET_SUPPORTED_EVENT_TYPES
    HEADER_ONLY = (None, None)


@record(frozen=True)
class SupportedEventTypes(Message):
    """SUPPORTED_EVENT_TYPES: the event groups the notifier can send (Param1 = their count)."""

    CODE: ClassVar[int] = ResponseCode.SUPPORTED_EVENT_TYPES

    groups: tuple[EventGroup, ...] = ()

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        return {**fields, "groups": _groups_in(fields)}

    def _to_fields(self) -> dict[str, Any]:
        return {"spdm_version": self.spdm_version, "groups": {"items": [g.fields() for g in self.groups]}}


@record(frozen=True)
class SubscribeEventTypes(Message):
    """SUBSCRIBE_EVENT_TYPES: the groups (and types) to be told about; none = unsubscribe all."""

    CODE: ClassVar[int] = RequestCode.SUBSCRIBE_EVENT_TYPES

    groups: tuple[EventGroup, ...] = ()

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        return {**fields, "groups": _groups_in(fields)}

    def _to_fields(self) -> dict[str, Any]:
        return {"spdm_version": self.spdm_version, "_group_count": len(self.groups),
                "groups": _group_list(self.groups)}


@record(frozen=True)
class SubscribeEventTypesAck(Message):
    """SUBSCRIBE_EVENT_TYPES_ACK: a bare header."""

    CODE: ClassVar[int] = ResponseCode.SUBSCRIBE_EVENT_TYPES_ACK
    HEADER_ONLY = (None, None)


# --- events ---------------------------------------------------------------------------------


@record(frozen=True, slots=True)
class SpdmEvent:
    """One event of SEND_EVENT's list.

    Attributes:
        event_instance_id: the notifier's running number of the event.
        event_type_id: the type within its group (:class:`DmtfEventType` for DMTF).
        event_detail: the type's details (fixed sizes for DMTF types).
        registry_id: the group's standards body (0 = DMTF).
        vendor_id: the group's VendorID (empty for DMTF).
    """

    event_instance_id: int
    event_type_id: int
    event_detail: bytes = b""
    registry_id: int = DMTF_REGISTRY_ID
    vendor_id: bytes = b""

    @property
    def is_dmtf(self) -> bool:
        """An event of the DMTF group."""
        return self.registry_id == DMTF_REGISTRY_ID and not self.vendor_id

    @property
    def wire_size(self) -> int:
        """Its bytes in SEND_EVENT's list."""
        return 14 + len(self.vendor_id) + len(self.event_detail)

    def fields(self) -> dict[str, Any]:
        """The construct build values of this event."""
        return {"event_instance_id": self.event_instance_id, "registry_id": self.registry_id,
                "vendor_id": self.vendor_id, "event_type_id": self.event_type_id,
                "event_detail": self.event_detail}


@record(frozen=True)
class SendEvent(Message):
    """SEND_EVENT: events for a subscriber (EventCount, then the events)."""

    CODE: ClassVar[int] = RequestCode.SEND_EVENT

    events: tuple[SpdmEvent, ...] = ()

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        return {**fields, "events": tuple(
            SpdmEvent(e["event_instance_id"], e["event_type_id"], e["event_detail"], e["registry_id"],
                      e["vendor_id"]) for e in fields["events"])}

    def _to_fields(self) -> dict[str, Any]:
        return {"spdm_version": self.spdm_version, "events": [e.fields() for e in self.events]}


@record(frozen=True)
class EventAck(Message):
    """EVENT_ACK: a bare header acknowledging the whole SEND_EVENT."""

    CODE: ClassVar[int] = ResponseCode.EVENT_ACK
    HEADER_ONLY = (None, None)


# --- event details and checks ---------------------------------------------------------------

_MASK_SIZE = 32


def index_mask(indices: Iterable[int]) -> bytes:
    """The 32-byte measurement-index bitmask of MeasurementChanged / MeasurementPreUpdate.

    Raises:
        ValueError: an index outside 0-255.
    """
    mask = bytearray(_MASK_SIZE)
    for index in indices:
        if not 0 <= index <= 0xFF:
            raise ValueError(f"measurement index {index} is outside 0-255")
        mask[index // 8] |= 1 << (index % 8)
    return bytes(mask)


def mask_indices(mask: bytes) -> frozenset[int]:
    """The bits a DMTF event detail sets.

    Measurement indices for MeasurementChanged / MeasurementPreUpdate, slots
    for CertificateChanged.
    """
    return frozenset(8 * n + b for n, byte in enumerate(mask) for b in range(8) if byte >> b & 1)


def event_lost_detail(last_acked: int, last_lost: int) -> bytes:
    """EventLost's detail: LastAckedEventInstID then LastLostEventInstID (u32 each)."""
    declare_module(__name__)
    return bytes(_EventLostWire.build({"last_acked": last_acked, "last_lost": last_lost}))


def parse_event_lost(detail: bytes) -> tuple[int, int]:
    """(LastAckedEventInstID, LastLostEventInstID) of an EventLost detail (8 bytes, checked before)."""
    declare_module(__name__)
    fields = _EventLostWire.parse(detail)
    return int(fields.last_acked), int(fields.last_lost)


def check_event_list(events: Sequence[SpdmEvent]) -> str | None:
    """Why a SEND_EVENT's list is unacceptable to a recipient, or None.

    The recipient's checks of libspdm (``libspdm_req_encap_event_ack.c``): at
    least one event; a DMTF event of a known type with that type's detail
    length (an unknown DMTF type is refused too); instance IDs without gaps
    or repeats (in any order).
    """
    if not events:
        return "SEND_EVENT carries no event"
    for event in events:
        if event.is_dmtf and DMTF_DETAIL_SIZES.get(event.event_type_id) != len(event.event_detail):
            return (f"DMTF event type {event.event_type_id} with a {len(event.event_detail)}-byte detail "
                    "is not a DMTF event")
    ids = sorted(e.event_instance_id for e in events)
    if len(set(ids)) != len(ids) or ids[-1] - ids[0] + 1 != len(ids):
        return f"event instance IDs {ids} have gaps or repeats"
    return None


@declares_structs(__name__)
def _declare_structs() -> None:
    """These messages' construct declarations (their wire format, which any ``struct`` fast path
    above follows), made when a ``STRUCT`` is first asked for (:func:`spdm.codec.declares_structs`)."""
    global _EventLostWire
    from construct import (
        Array,
        GreedyBytes,
        If,
        Int8ul,
        Int16ul,
        Int32ul,
        Padding,
        Prefixed,
        Rebuild,
        Struct,
        Terminated,
        len_,
        this,
    )

    from ..schema import header

    _EventGroupWire = Struct(
        "registry_id" / Int8ul,
        "vendor_id" / Prefixed(Int8ul, GreedyBytes),
        "_type_count" / Rebuild(Int16ul, len_(this.event_types)),
        "version" / Int16ul,
        "attributes" / Int32ul,
        "event_types" / Array(this._type_count, Struct("event_type_id" / Int16ul, Padding(2))),
    )

    _GroupList = Prefixed(Int32ul, Struct("items" / Array(this._._count, _EventGroupWire), Terminated))
    """A u32-length-prefixed list of Param1 event groups that fills its length exactly."""

    _EventWire = Struct(
        "event_instance_id" / Int32ul,
        Padding(4),
        "registry_id" / Int8ul,
        "vendor_id" / Prefixed(Int8ul, GreedyBytes),
        "event_type_id" / Int16ul,
        "event_detail" / Prefixed(Int16ul, GreedyBytes),
    )

    _EventLostWire = Struct("last_acked" / Int32ul, "last_lost" / Int32ul, Terminated)

    SupportedEventTypes.STRUCT = Struct(
        *header(ResponseCode.SUPPORTED_EVENT_TYPES, "_count" / Rebuild(Int8ul, len_(this.groups.items))),
        "groups" / _GroupList,
    )
    SubscribeEventTypes.STRUCT = Struct(
        *header(RequestCode.SUBSCRIBE_EVENT_TYPES, "_count" / Rebuild(Int8ul, this._group_count)),
        "groups" / If(this._count > 0, _GroupList),
    )
    SendEvent.STRUCT = Struct(
        *header(RequestCode.SEND_EVENT),
        "_event_count" / Rebuild(Int32ul, len_(this.events)),
        "events" / Array(this._event_count, _EventWire),
    )


_EventLostWire: Construct
"""Made with the messages' declarations: :func:`_declare_structs`."""

__getattr__ = declared_names(__name__, ("_EventLostWire",))
