"""Events of the SPDM 1.3 event mechanism: supported types, subscription, a device's event."""

from __future__ import annotations

from ..messages.event import DmtfEventType, EventGroup, mask_indices
from ..record import record
from .connection import Event

__all__ = [
    "DeviceEventReceived",
    "EventTypesSubscribed",
    "SupportedEventTypesReceived",
]


@record(frozen=True, slots=True)
class SupportedEventTypesReceived(Event):
    """SUPPORTED_EVENT_TYPES arrived: the event groups the responder can send in this session."""

    session_id: int
    groups: tuple[EventGroup, ...]


@record(frozen=True, slots=True)
class EventTypesSubscribed(Event):
    """SUBSCRIBE_EVENT_TYPES was acknowledged; ``groups`` is what was asked (empty: unsubscribed)."""

    session_id: int
    groups: tuple[EventGroup, ...]


@record(frozen=True, slots=True)
class DeviceEventReceived(Event):
    """The responder sent an event (SEND_EVENT, acknowledged with EVENT_ACK).

    Attributes:
        session_id: the session it came in.
        event_instance_id: the responder's EventInstanceID.
        event_type_id: the type within its group (:class:`DmtfEventType` for DMTF).
        event_detail: the type's details as sent.
        registry_id / vendor_id: the event group (0 and empty: DMTF).
    """

    session_id: int
    event_instance_id: int
    event_type_id: int
    event_detail: bytes
    registry_id: int = 0
    vendor_id: bytes = b""

    @property
    def changed_measurements(self) -> frozenset[int]:
        """The measurement indices a DMTF MeasurementChanged (or MeasurementPreUpdate) names."""
        measurement_types = (DmtfEventType.MEASUREMENT_CHANGED, DmtfEventType.MEASUREMENT_PRE_UPDATE)
        if self.registry_id or self.vendor_id or self.event_type_id not in measurement_types:
            return frozenset()
        return mask_indices(self.event_detail)

    @property
    def changed_slots(self) -> frozenset[int]:
        """The certificate slots a DMTF CertificateChanged names (its detail byte is a slot mask)."""
        if self.registry_id or self.vendor_id or self.event_type_id != DmtfEventType.CERTIFICATE_CHANGED:
            return frozenset()
        return mask_indices(self.event_detail)
