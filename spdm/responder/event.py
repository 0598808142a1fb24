"""Events, device (Event Notifier) side: supported types, subscriptions per session, delivery.

The device speaks the DMTF event group and offers EventLost (which DSP0274
makes mandatory for a notifier), MeasurementChanged, raised when
:meth:`spdm.responder.Responder.update_measurements` gives it a device whose
measurements differ (a firmware update: the model is immutable, so the
update is a new model, e.g. ``model.with_measurement(index, data)``), and
CertificateChanged, offered by a device with SET_CERT_CAP and raised when
SET_CERTIFICATE installs or erases a slot
(its one-byte detail the mask of the slots that changed, as decided in
:mod:`spdm.messages.event`).  MeasurementPreUpdate is not offered: the model
changes its measurements in one step, so there is no moment before an
update to announce.

Decisions, each where DSP0274 1.3 leaves room:

* Events exist only inside an established session (the three event
  requests are routed SECURED); a subscription belongs to the session it was
  made in and ends with it (END_SESSION, a failed record, GET_VERSION).
* SUBSCRIBE_EVENT_TYPES replaces the session's subscription; with no group it
  unsubscribes from everything and drops what was waiting.  A group other
  than DMTF, a DMTF type we do not offer, a listed type together with the
  group's all-types attribute, or the DMTF group twice is InvalidRequest
  (libspdm's responder asks its integrator and answers InvalidRequest when
  it refuses).
* Delivery: a DOE device cannot initiate, so SEND_EVENT goes as an
  encapsulated request, as libspdm's responder sends it
  (``libspdm_rsp_encap_send_event.c``): the requester's in-session
  GET_ENCAPSULATED_REQUEST gets ENCAPSULATED_REQUEST carrying SEND_EVENT, the
  requester delivers EVENT_ACK, and ENCAPSULATED_RESPONSE_ACK carries the
  next SEND_EVENT while any remain (nothing, ending the flow, otherwise).  With
  nothing pending the device answers NoPendingRequests, as before.  A key
  update the device asked for goes first.
* EventInstanceIDs count from 1 per session and stay increasing across
  subscriptions.  One SEND_EVENT carries a run of consecutive IDs (the
  recipient refuses gaps) and as many events as fit the requester's
  DataTransferSize (at least one).  An event stays queued until EVENT_ACK
  acknowledges the message that carried it; an ERROR answer leaves it queued.
  One poll carries at most :data:`MAX_SEND_EVENTS_PER_POLL` SEND_EVENTs.
* Bounds: at most :data:`MAX_QUEUED_EVENTS` unacknowledged events per
  session.  An event that does not fit is lost (its ID is used), and so is
  every later one until the device has reported the loss: once the queue is
  delivered it sends EventLost alone (LastAckedEventInstID,
  LastLostEventInstID), then resumes.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import field

from ..backend import ResponderBackend
from ..errors import DecodeError
from ..messages import ErrorResponse
from ..messages.codes import CapabilityFlags, MeasurementHashAlgo, ResponseCode
from ..messages.event import (
    DmtfEventType,
    EventAck,
    EventGroup,
    GetSupportedEventTypes,
    SendEvent,
    SpdmEvent,
    SubscribeEventTypes,
    SubscribeEventTypesAck,
    SupportedEventTypes,
    event_lost_detail,
    index_mask,
)
from ..record import record
from ..session import Session, SessionPhase
from ._connection import Connection, invalid_request

__all__ = [
    "MAX_QUEUED_EVENTS",
    "MAX_SEND_EVENTS_PER_POLL",
    "SUPPORTED_EVENT_TYPES",
    "EventState",
    "acknowledged",
    "certificate_changed",
    "get_supported_event_types",
    "measurements_updated",
    "next_send_event",
    "raise_event",
    "subscribe_event_types",
]

logger = logging.getLogger(__name__)

MAX_QUEUED_EVENTS = 16
"""Unacknowledged events the device keeps per session; past it events are lost (EventLost)."""
MAX_SEND_EVENTS_PER_POLL = 4
"""SEND_EVENTs one GET_ENCAPSULATED_REQUEST flow carries; the rest wait for the next poll.

Below the 16 encapsulated requests devsec's requester accepts in one flow
(libspdm's requester has a similar bound), so a busy device never makes a
requester call its flow a loop."""
SUPPORTED_EVENT_TYPES = (DmtfEventType.EVENT_LOST, DmtfEventType.MEASUREMENT_CHANGED)
"""The DMTF event types every event-capable device here sends."""
_ENCAP_OVERHEAD = 8 + 8
"""ENCAPSULATED_RESPONSE_ACK's 8 bytes (1.2+) and SEND_EVENT's header and EventCount."""


@record
class Subscriber:
    """One session's subscription and its undelivered events.

    Attributes:
        types: the DMTF event types subscribed to.
        queue: unacknowledged events, oldest first (the head ``in_flight`` of them sent).
        in_flight: how many of the queue the SEND_EVENT awaiting its EVENT_ACK carries.
        sent_this_poll: SEND_EVENTs sent since the requester's GET_ENCAPSULATED_REQUEST.
        losing: events are being lost until EventLost has been acknowledged.
        last_lost: the ID of the newest lost event.
        reported_lost: the ``last_lost`` the EventLost in flight names (None: none in flight).
    """

    types: frozenset[int]
    queue: deque[SpdmEvent] = field(default_factory=deque)
    in_flight: int = 0
    sent_this_poll: int = 0
    losing: bool = False
    last_lost: int = 0
    reported_lost: int | None = None


@record
class EventState:
    """The device's event subscriptions, per SessionID, and each session's next EventInstanceID."""

    subscribers: dict[int, Subscriber] = field(default_factory=dict)
    next_ids: dict[int, int] = field(default_factory=dict)
    last_acked: dict[int, int] = field(default_factory=dict)

    def forget(self, session_id: int) -> None:
        """The session ended: its subscription and numbering go with it."""
        self.subscribers.pop(session_id, None)
        self.next_ids.pop(session_id, None)
        self.last_acked.pop(session_id, None)

    def take_id(self, session_id: int) -> int:
        """The session's next EventInstanceID (from 1)."""
        instance_id = self.next_ids.get(session_id, 1)
        self.next_ids[session_id] = instance_id + 1
        return instance_id


def _state(conn: Connection) -> EventState:
    if conn.events is None:
        state = EventState()
        conn.events = state
        conn.session_listeners.append(state.forget)
    return conn.events


def _session(conn: Connection) -> Session:
    session = conn.current_session
    assert session is not None  # the routes admit these requests only inside a session
    return session


def _supported(conn: Connection) -> tuple[DmtfEventType, ...]:
    """The DMTF types this device sends: CertificateChanged only where certificates can change."""
    if conn.config.capabilities & CapabilityFlags.SET_CERT_CAP:
        return (*SUPPORTED_EVENT_TYPES, DmtfEventType.CERTIFICATE_CHANGED)
    return SUPPORTED_EVENT_TYPES


def get_supported_event_types(conn: Connection, request: GetSupportedEventTypes) -> bytes:
    """Answer SUPPORTED_EVENT_TYPES: the DMTF group with the types this device sends."""
    response = SupportedEventTypes(
        spdm_version=conn.session.version, groups=(EventGroup(event_types=_supported(conn)),),
    ).encode()
    conn.check_fits(len(response))
    return response


def _subscribed_types(groups: Iterable[EventGroup], supported: tuple[DmtfEventType, ...]) -> frozenset[int]:
    types: set[int] = set()
    seen_dmtf = False
    for group in groups:
        if not group.is_dmtf:
            raise invalid_request(f"event group of registry {group.registry_id} is not supported")
        if seen_dmtf:
            raise invalid_request("the DMTF event group is listed twice")
        seen_dmtf = True
        if group.subscribes_all:
            if group.event_types:
                raise invalid_request("event types listed with the group's all-types attribute")
            types.update(supported)
            continue
        unknown = set(group.event_types) - set(supported)
        if unknown or not group.event_types:
            raise invalid_request(f"DMTF event types {sorted(unknown) or '(none)'} are not supported")
        types.update(group.event_types)
    return frozenset(types)


def subscribe_event_types(conn: Connection, request: SubscribeEventTypes) -> bytes:
    """Replace the session's subscription (no group: unsubscribe from everything).

    Raises:
        RemoteProtocolError: InvalidRequest for a group or type the device
            does not send (see the module docstring); nothing changes then.
    """
    session = _session(conn)
    types = _subscribed_types(request.groups, _supported(conn))
    state = _state(conn)
    current = state.subscribers.get(session.session_id)
    if not types:
        state.subscribers.pop(session.session_id, None)
    elif current is None:
        state.subscribers[session.session_id] = Subscriber(types)
    else:
        current.types = types
        unsent = [e for e in list(current.queue)[current.in_flight:] if e.event_type_id in types]
        current.queue = deque([*list(current.queue)[:current.in_flight], *unsent])
    logger.debug("session 0x%08x subscribes to DMTF events %s", session.session_id, sorted(types))
    return SubscribeEventTypesAck(spdm_version=conn.session.version).encode()


def raise_event(conn: Connection, event_type: int, detail: bytes) -> None:
    """Queue a DMTF event for every established session subscribed to its type."""
    state = _state(conn)
    for session_id, subscriber in state.subscribers.items():
        session = conn.sessions.get(session_id)
        if session is None or session.phase != SessionPhase.ESTABLISHED:
            continue
        if event_type not in subscriber.types:
            continue
        instance_id = state.take_id(session_id)
        if subscriber.losing or len(subscriber.queue) >= MAX_QUEUED_EVENTS:
            subscriber.losing, subscriber.last_lost = True, instance_id
            logger.debug("event %d lost for session 0x%08x", instance_id, session_id)
            continue
        subscriber.queue.append(SpdmEvent(instance_id, event_type, detail))


def measurements_updated(conn: Connection, backend: ResponderBackend) -> frozenset[int]:
    """Serve ``backend`` from now on and raise MeasurementChanged for the indices that changed.

    Compares the two devices' measurement blocks (digests under the first
    measurement hash the device prefers, as reported).

    Returns:
        The measurement indices whose blocks differ.
    """
    prefs = conn.config.algorithms.measurement_hash_algs
    hash_alg = prefs[0] if prefs else MeasurementHashAlgo.RAW_BIT_STREAM_ONLY
    before = {b.index: b for b in conn.backend.measurement_blocks(hash_alg, raw_requested=False)}
    after = {b.index: b for b in backend.measurement_blocks(hash_alg, raw_requested=False)}
    changed = frozenset(i for i in before.keys() | after.keys() if before.get(i) != after.get(i))
    conn.backend = backend
    if changed:
        raise_event(conn, DmtfEventType.MEASUREMENT_CHANGED, index_mask(changed))
    return changed


def certificate_changed(conn: Connection, slot_id: int) -> None:
    """SET_CERTIFICATE changed ``slot_id``: raise CertificateChanged for its subscribers.

    Nothing is queued on a connection where no session ever subscribed.
    """
    if conn.events is not None:
        raise_event(conn, DmtfEventType.CERTIFICATE_CHANGED, bytes([1 << slot_id]))


def next_send_event(conn: Connection, session: Session, *, polled: bool = False) -> bytes | None:
    """The SEND_EVENT to hand the session's subscriber now, or None when nothing is pending.

    Args:
        conn: the connection.
        session: the established session the requester polls in.
        polled: the requester's GET_ENCAPSULATED_REQUEST (a new flow) asks,
            not its EVENT_ACK.
    """
    state = conn.events
    subscriber = None if state is None else state.subscribers.get(session.session_id)
    if state is None or subscriber is None:
        return None
    if polled:
        subscriber.sent_this_poll = 0
    if subscriber.sent_this_poll >= MAX_SEND_EVENTS_PER_POLL:
        return None
    subscriber.sent_this_poll += 1
    if subscriber.queue:
        budget = conn.requester_sizes[0] - _ENCAP_OVERHEAD if conn.requester_sizes[0] else None
        run = [subscriber.queue[0]]
        for event in list(subscriber.queue)[1:]:
            size = sum(e.wire_size for e in run) + event.wire_size
            if event.event_instance_id != run[-1].event_instance_id + 1 or (budget and size > budget):
                break
            run.append(event)
        subscriber.in_flight, subscriber.reported_lost = len(run), None
        events = tuple(run)
    elif subscriber.losing:
        last_acked = state.last_acked.get(session.session_id, 0)
        lost = SpdmEvent(state.take_id(session.session_id), DmtfEventType.EVENT_LOST,
                         event_lost_detail(last_acked, subscriber.last_lost))
        subscriber.in_flight, subscriber.reported_lost = 0, subscriber.last_lost
        events = (lost,)
    else:
        return None
    return SendEvent(spdm_version=conn.session.version, events=events).encode()


def acknowledged(conn: Connection, session: Session, sent: bytes, answer: bytes) -> bytes | None:
    """The requester answered our SEND_EVENT: drop what it acknowledged; the next SEND_EVENT or None.

    An ERROR answer leaves the events queued (they go again at the next
    GET_ENCAPSULATED_REQUEST).

    Raises:
        RemoteProtocolError: InvalidRequest for an answer that is neither
            EVENT_ACK nor ERROR (the events stay queued).
    """
    state = _state(conn)
    subscriber = state.subscribers.get(session.session_id)
    try:
        if answer[1:2] == bytes([ResponseCode.ERROR]):
            error = ErrorResponse.decode(answer, padded=True)
            logger.debug("SEND_EVENT answered ERROR 0x%02x; events stay queued", error.error_code)
            return None
        EventAck.decode(answer, padded=True)
    except DecodeError as exc:
        raise invalid_request(f"the answer to SEND_EVENT is not EVENT_ACK: {exc}") from exc
    if subscriber is None:
        return None  # unsubscribed meanwhile: nothing more to send
    acked = SendEvent.decode(sent).events
    state.last_acked[session.session_id] = acked[-1].event_instance_id
    for _ in range(subscriber.in_flight):
        subscriber.queue.popleft()
    subscriber.in_flight = 0
    if subscriber.reported_lost is not None and subscriber.reported_lost == subscriber.last_lost:
        subscriber.losing = False
    subscriber.reported_lost = None
    return next_send_event(conn, session)
