"""SPDM 1.3 event cases: the device's supported event types, subscriptions, and where they may travel.

devsec's requester opens the session and sends the event requests; the
cases judge what the device answers.  A device cannot be made to raise an
event from here, so delivery (SEND_EVENT by encapsulated request) is judged
only as far as a poll goes: nothing pending, or well-formed events.
"""

from __future__ import annotations

from collections.abc import Callable

from spdm.connection import Session
from spdm.errors import DevsecError
from spdm.errors import SpdmErrorCode as E
from spdm.events import DeviceEventReceived, EventTypesSubscribed, SupportedEventTypesReceived
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.event import (
    DmtfEventType,
    GetSupportedEventTypes,
    SubscribeEventTypes,
)
from spdm.requester import Requester

from .context import CaseContext
from .registry import case
from .spdm_session import open_connection

__all__ = ["in_session_only", "poll", "subscribe", "supported_types"]
"""The case bodies (registered with :func:`.registry.case`)."""

CLAUSE = "DSP0274 1.3 §10.22-10.24 (GET_SUPPORTED_EVENT_TYPES, SUBSCRIBE_EVENT_TYPES, SEND_EVENT)"
EVENTS = F.KEY_EX_CAP | F.EVENT_CAP


def _with_session(ctx: CaseContext, what: str, use: Callable[[Requester, Session], None]) -> None:
    """Open a session with devsec's requester and hand it to ``use``; record a failure to ``what``."""
    connection = open_connection(ctx, what)
    if connection is None:
        return
    try:
        session = connection.open_session()
        use(connection.driver.requester, session)
    except DevsecError as exc:
        ctx.check(what, False, expected="an answer in the session", actual=f"{type(exc).__name__}: {exc}")


@case("spdm.events.supported-types", "GET_SUPPORTED_EVENT_TYPES in a session is answered with the DMTF "
      "event group, which lists EventLost", CLAUSE, per_version=True, min_version=0x13, needs=EVENTS)
def supported_types(ctx: CaseContext) -> None:
    def use(requester: Requester, session: Session) -> None:
        events = session.driver.run(lambda: requester.get_supported_event_types(session.session_id))
        answers = [e for e in events if isinstance(e, SupportedEventTypesReceived)]
        if not ctx.check("SUPPORTED_EVENT_TYPES arrives", bool(answers), expected="SUPPORTED_EVENT_TYPES",
                         actual=events):
            return
        groups = answers[0].groups
        ctx.check("EventGroupCount is at least 1", bool(groups), expected=">= 1", actual=len(groups))
        dmtf = [g for g in groups if g.is_dmtf]
        ctx.equal("the DMTF event group is listed once", 1, len(dmtf))
        listed = dmtf[0].event_types if dmtf else ()
        ctx.check("the DMTF group lists EventLost (every notifier supports it)",
                  DmtfEventType.EVENT_LOST in listed, expected="EventTypeID 1 listed", actual=listed)

    _with_session(ctx, "GET_SUPPORTED_EVENT_TYPES is answered", use)


@case("spdm.events.subscribe", "SUBSCRIBE_EVENT_TYPES to every DMTF event type, then to none, is each "
      "acknowledged with SUBSCRIBE_EVENT_TYPES_ACK", CLAUSE, per_version=True, min_version=0x13, needs=EVENTS)
def subscribe(ctx: CaseContext) -> None:
    def use(requester: Requester, session: Session) -> None:
        sid = session.session_id
        steps = (("subscribing to every DMTF type", lambda: requester.subscribe_event_types(sid)),
                 ("unsubscribing", lambda: requester.unsubscribe_events(sid)))
        for what, command in steps:
            events = session.driver.run(command)
            ctx.check(f"{what} is acknowledged", any(isinstance(e, EventTypesSubscribed) for e in events),
                      expected="SUBSCRIBE_EVENT_TYPES_ACK", actual=events)

    _with_session(ctx, "SUBSCRIBE_EVENT_TYPES is acknowledged", use)


@case("spdm.events.poll", "After a subscription, GET_ENCAPSULATED_REQUEST in the session brings "
      "NoPendingRequests or well-formed SEND_EVENTs (consecutive instance IDs, DMTF detail sizes)", CLAUSE,
      per_version=True, min_version=0x13, needs=EVENTS | F.ENCAP_CAP)
def poll(ctx: CaseContext) -> None:
    def use(requester: Requester, session: Session) -> None:
        sid = session.session_id
        session.driver.run(lambda: requester.subscribe_event_types(sid))
        try:
            events = session.driver.run(lambda: requester.poll_encapsulated(sid))
        except DevsecError as exc:
            ctx.check("the poll is answered NoPendingRequests or with events",
                      getattr(exc, "code", None) == E.NO_PENDING_REQUESTS,
                      expected="ERROR NO_PENDING_REQUESTS or SEND_EVENT",
                      actual=f"{type(exc).__name__}: {exc}")
            return
        received = [e for e in events if isinstance(e, DeviceEventReceived)]
        ctx.check("the device's SEND_EVENTs were well formed and acknowledged", bool(received),
                  expected="events acknowledged with EVENT_ACK", actual=events)

    _with_session(ctx, "GET_ENCAPSULATED_REQUEST is answered", use)


@case("spdm.events.session-only", "GET_SUPPORTED_EVENT_TYPES and SUBSCRIBE_EVENT_TYPES in the clear are "
      "refused SessionRequired", CLAUSE, per_version=True, min_version=0x13, needs=EVENTS)
def in_session_only(ctx: CaseContext) -> None:
    if open_connection(ctx, "the device negotiates with devsec's requester") is None:
        return
    for request in (GetSupportedEventTypes(spdm_version=ctx.version),
                    SubscribeEventTypes(spdm_version=ctx.version)):
        ctx.expect_error(f"{type(request).__name__} in the clear is refused", ctx.send(request),
                         (E.SESSION_REQUIRED,))
