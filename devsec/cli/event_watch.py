"""``devsec connect --events SECONDS``: subscribe in the session and collect the device's events for a while.

A device cannot speak first over DOE (nor over spdm-emu's socket), so SPDM 1.3
events reach the requester as encapsulated SEND_EVENTs, one answer to each
in-session GET_ENCAPSULATED_REQUEST (:mod:`spdm.responder.event`).  Watching
for events is therefore polling: subscribe to every DMTF event type, ask
every :data:`POLL_INTERVAL` seconds until the time is up (a device with
nothing to send answers NoPendingRequests), then unsubscribe.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from spdm.connection import Connection, Session
from spdm.errors import NegotiationError, RemoteErrorResponse, SpdmErrorCode
from spdm.events import DeviceEventReceived
from spdm.messages.codes import CapabilityFlags
from spdm.messages.event import DmtfEventType

__all__ = ["POLL_INTERVAL", "event_dict", "event_line", "watch_events"]

POLL_INTERVAL = 0.25
"""Seconds between two polls: a change shows within a quarter second, at four small exchanges a second."""


def watch_events(connection: Connection, session: Session, seconds: float, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> list[DeviceEventReceived]:
    """Subscribe to every event type in ``session``, poll for ``seconds``, unsubscribe; the events received.

    The device is polled at least once, so ``seconds`` 0 collects what is pending.

    Raises:
        NegotiationError: the device is below SPDM 1.3 or sends no events (no EVENT_CAP).
        RemoteErrorResponse: the device refused a request (other than having nothing to send).
        VerificationError / RemoteProtocolError / TransportError: the exchange failed.
    """
    negotiated = connection.negotiated
    if negotiated.version < 0x13 or not negotiated.responder_flags & CapabilityFlags.EVENT_CAP:
        raise NegotiationError("the device sends no events (SPDM 1.3 EVENT_CAP)")
    driver = session.driver
    requester = driver.requester
    sid = session.session_id
    driver.run(lambda: requester.subscribe_event_types(sid))
    received: list[DeviceEventReceived] = []
    end = clock() + seconds
    while True:
        try:
            events = driver.run(lambda: requester.poll_encapsulated(sid))
        except RemoteErrorResponse as exc:
            if exc.code != SpdmErrorCode.NO_PENDING_REQUESTS:
                raise
            events = []
        received += [e for e in events if isinstance(e, DeviceEventReceived)]
        remaining = end - clock()
        if remaining <= 0:
            break
        sleep(min(POLL_INTERVAL, remaining))
    driver.run(lambda: requester.unsubscribe_events(sid))
    return received


def _type_name(event: DeviceEventReceived) -> str:
    dmtf = not event.registry_id and not event.vendor_id
    if dmtf and event.event_type_id in DmtfEventType._value2member_map_:
        return DmtfEventType(event.event_type_id).name
    return f"0x{event.event_type_id:04x}"


def event_dict(event: DeviceEventReceived) -> dict[str, object]:
    """One received event as a JSON entry."""
    return {"instance_id": event.event_instance_id, "registry_id": event.registry_id,
            "vendor_id": event.vendor_id.hex(), "type": _type_name(event),
            "detail": event.event_detail.hex(), "changed_measurements": sorted(event.changed_measurements),
            "changed_slots": sorted(event.changed_slots)}


def event_line(event: DeviceEventReceived) -> str:
    """One received event as a text line."""
    changed, slots = sorted(event.changed_measurements), sorted(event.changed_slots)
    if changed:
        what = f"measurements {', '.join(f'0x{i:02x}' for i in changed)}"
    elif slots:
        what = f"certificate slots {', '.join(map(str, slots))}"
    else:
        what = f"detail {event.event_detail.hex() or 'none'}"
    return f"  #{event.event_instance_id} {_type_name(event)}: {what}"
