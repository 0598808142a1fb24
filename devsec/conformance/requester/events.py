"""Requester event cases (SPDM 1.3): event requests go only to a device that offers events, and a
subscriber acknowledges each well-formed SEND_EVENT and refuses a malformed one.

``requester.events.without-cap`` plays the emulator's default device, which
does not advertise EVENT_CAP, so a conforming requester sends no
GET_SUPPORTED_EVENT_TYPES or SUBSCRIBE_EVENT_TYPES at all (DSP0274 1.3: a
requester sends them only to an Event Notifier, and only inside a session).

The other cases play an Event Notifier (:func:`event_device`: EVENT_CAP, and
ENCAP_CAP to deliver events as a DOE device must, as encapsulated SEND_EVENT
requests answered by GET_ENCAPSULATED_REQUEST in the session).  Right after
it acknowledges a subscription its firmware measurement changes
(:class:`.device.CaseDevice`), so a requester that subscribes and then polls
receives a MeasurementChanged event.  One that never subscribes and polls has
these cases skipped, saying so.  The requester's answer is judged, not its
exit status: refusing a SEND_EVENT means answering it with anything but
EVENT_ACK (an ERROR, as libspdm's recipient answers InvalidRequest).

Decided: DSP0274 1.3 as our sources hold it (and libspdm's recipient,
``libspdm_req_encap_event_ack.c``) puts no rule on an EventInstanceID that
repeats one of an earlier, already acknowledged SEND_EVENT: a notifier sends
an event again when its EVENT_ACK was lost, so acknowledging a repeat is
legitimate and no case here requires refusing or not re-acknowledging one.
(Repeats and gaps *within* one SEND_EVENT are refused by libspdm's
recipient and devsec's alike, a reference behaviour no case asserts either.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from spdm.backend import ResponderBackend
from spdm.config import ResponderConfig
from spdm.device import DeviceModel
from spdm.messages.codes import CapabilityFlags, RequestCode, ResponseCode

from ..context import Exchange
from .context import RequesterContext, RequesterRun
from .registry import case

__all__ = ["EVENT_REQUESTS", "SendEventRewrite", "acknowledged", "count_lies", "detail_overrun",
           "event_device", "without_event_cap"]
"""The case judges (registered with :func:`.registry.case`; run them through the runner)."""

EVENT_REQUESTS = frozenset({RequestCode.GET_SUPPORTED_EVENT_TYPES, RequestCode.SUBSCRIBE_EVENT_TYPES})
EVENT_CAPS = CapabilityFlags.EVENT_CAP | CapabilityFlags.ENCAP_CAP
EVENTS_CLAUSE = "DSP0274 1.3 §10.22-10.24 (SEND_EVENT, EVENT_ACK), §10.16 (encapsulated requests)"

_REQUEST_FOLLOWS = 1
"""ENCAPSULATED_RESPONSE_ACK PayloadType: an encapsulated request follows."""
_ACK_INNER = 8
"""ENCAPSULATED_RESPONSE_ACK (1.2+): header (4), AckRequestID (1), Reserved (3), the request at 8."""
_EVENT_COUNT, _EVENTS = 4, 8
"""SEND_EVENT: header (4), EventCount (4), the events at 8."""

Change = Callable[[bytes], bytes]


def event_device(config: ResponderConfig, model: DeviceModel) -> tuple[ResponderConfig, ResponderBackend]:
    """The case device as an Event Notifier (EVENT_CAP, ENCAP_CAP)."""
    return replace(config, capabilities=config.capabilities | EVENT_CAPS), model


def _inner_offset(response: bytes) -> int | None:
    """Where the encapsulated request of an in-session response starts (None: it carries none)."""
    if response[1:2] == bytes([ResponseCode.ENCAPSULATED_REQUEST]):
        return 4
    if (response[1:2] == bytes([ResponseCode.ENCAPSULATED_RESPONSE_ACK]) and len(response) > _ACK_INNER
            and response[3] == _REQUEST_FOLLOWS):
        return _ACK_INNER if response[0] >= 0x12 else 4
    return None


def send_event_of(response: bytes) -> tuple[int, bytes] | None:
    """The RequestID and SEND_EVENT an in-session response carries, or None."""
    offset = _inner_offset(response)
    if offset is None or response[offset + 1:offset + 2] != bytes([RequestCode.SEND_EVENT]):
        return None
    return response[2], response[offset:]


class SendEventRewrite:
    """Changes every SEND_EVENT the device delivers in a session (the rest stays healthy)."""

    def __init__(self, change: Change) -> None:
        self.triggered = 0
        self._change = change

    def respond(self, request: bytes, ask: Callable[[bytes], bytes], *, secured: bool) -> bytes:
        """The healthy response: the change is made inside the session."""
        return ask(request)

    def inside(self, request: bytes, response: bytes) -> bytes:
        """The response with its encapsulated SEND_EVENT changed."""
        if send_event_of(response) is None:
            return response
        offset = _inner_offset(response)
        assert offset is not None
        self.triggered += 1
        return response[:offset] + self._change(response[offset:])


def _overstate_count(send_event: bytes) -> bytes:
    count = int.from_bytes(send_event[_EVENT_COUNT:_EVENTS], "little") + 1
    return send_event[:_EVENT_COUNT] + count.to_bytes(4, "little") + send_event[_EVENTS:]


def _overrun_detail(send_event: bytes) -> bytes:
    """The last event's EventDetailLen claims 16 bytes more than the message carries."""
    offset, field = _EVENTS, None
    for _ in range(int.from_bytes(send_event[_EVENT_COUNT:_EVENTS], "little")):
        # EventInstanceID (4), Reserved (4), SVH ID (1), VendorIDLen (1), VendorID, EventTypeID (2),
        # EventDetailLen (2), EventDetail.
        if offset + 10 > len(send_event):
            break
        field = offset + 10 + send_event[offset + 9] + 2
        offset = field + 2 + int.from_bytes(send_event[field:field + 2], "little")
    if field is None:
        return send_event
    length = int.from_bytes(send_event[field:field + 2], "little") + 16
    return send_event[:field] + length.to_bytes(2, "little") + send_event[field + 2:]


def _answers(run: RequesterRun) -> list[tuple[Exchange, Exchange | None]]:
    """Each in-session exchange that delivered a SEND_EVENT, with the requester's next one in that session."""
    pairs = []
    for index, exchange in enumerate(run.exchanges):
        if exchange.session_id is None or send_event_of(exchange.response) is None:
            continue
        following = [e for e in run.exchanges[index + 1:] if e.session_id == exchange.session_id]
        pairs.append((exchange, following[0] if following else None))
    return pairs


def _acked(delivered: Exchange, answer: Exchange | None) -> bool:
    """``answer`` delivers EVENT_ACK for the SEND_EVENT ``delivered`` carried (same RequestID)."""
    found = send_event_of(delivered.response)
    return (found is not None and answer is not None
            and answer.request[1:2] == bytes([RequestCode.DELIVER_ENCAPSULATED_RESPONSE])
            and answer.request[2] == found[0] and answer.request[5:6] == bytes([ResponseCode.EVENT_ACK]))


def _delivered(ctx: RequesterContext) -> list[tuple[Exchange, Exchange | None]]:
    found = [pair for run in ctx.runs for pair in _answers(run)]
    if not found:
        ctx.skip("the requester received no SEND_EVENT: it never sent SUBSCRIBE_EVENT_TYPES and then "
                 "GET_ENCAPSULATED_REQUEST in a session")
    return found


@case("requester.events.without-cap", "GET_SUPPORTED_EVENT_TYPES and SUBSCRIBE_EVENT_TYPES go only to a "
      "device with EVENT_CAP (the device here has none), in a session or in the clear",
      "DSP0274 1.3 §10.4 Table 11, §10.22-10.23", without=CapabilityFlags.EVENT_CAP)
def without_event_cap(ctx: RequesterContext) -> None:
    for run in ctx.runs:
        ctx.succeeded(run)
        sent = [e for e in run.exchanges if len(e.request) >= 2 and e.request[1] in EVENT_REQUESTS]
        ctx.check("no event request goes to a device without EVENT_CAP", not sent,
                  expected="no GET_SUPPORTED_EVENT_TYPES or SUBSCRIBE_EVENT_TYPES",
                  actual=f"{len(sent)} event request(s)", exchange=sent[0] if sent else run.last_clear)


@case("requester.events.ack", "A subscriber subscribes inside a session and answers each SEND_EVENT it "
      "polls with EVENT_ACK (same RequestID, its SPDM version)", EVENTS_CLAUSE, device=event_device)
def acknowledged(ctx: RequesterContext) -> None:
    for run in ctx.runs:
        ctx.succeeded(run)
        for exchange in run.exchanges:
            if exchange.request[1:2] in (bytes([c]) for c in EVENT_REQUESTS):
                ctx.check("event requests travel inside a session", exchange.session_id is not None,
                          expected="a secured request", actual="in the clear", exchange=exchange)
    for delivered, answer in _delivered(ctx):
        ctx.check("the SEND_EVENT is answered with EVENT_ACK", _acked(delivered, answer),
                  expected="DELIVER_ENCAPSULATED_RESPONSE with the RequestID, carrying EVENT_ACK",
                  actual="nothing more in the session" if answer is None else answer.request[:6].hex(),
                  exchange=answer or delivered)
        if answer is not None and _acked(delivered, answer):
            ctx.equal("EVENT_ACK is at the session's SPDM version", delivered.response[0], answer.request[4],
                      exchange=answer)


def _refused(ctx: RequesterContext, what: str) -> None:
    for delivered, answer in _delivered(ctx):
        ctx.check(f"a SEND_EVENT whose {what} is not acknowledged", not _acked(delivered, answer),
                  expected="an ERROR (or no answer), not EVENT_ACK", actual="EVENT_ACK",
                  exchange=answer or delivered)


@case("requester.events.count-lies", "A SEND_EVENT whose EventCount claims one event more than it "
      "carries is not acknowledged", EVENTS_CLAUSE, device=event_device,
      misbehaviour=lambda: SendEventRewrite(_overstate_count))
def count_lies(ctx: RequesterContext) -> None:
    _refused(ctx, "EventCount lies")


@case("requester.events.detail-overrun", "A SEND_EVENT whose last EventDetailLen runs 16 bytes past its "
      "end is not acknowledged", EVENTS_CLAUSE, device=event_device,
      misbehaviour=lambda: SendEventRewrite(_overrun_detail))
def detail_overrun(ctx: RequesterContext) -> None:
    _refused(ctx, "EventDetailLen overruns the message")
