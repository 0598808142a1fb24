"""The requester as Event Recipient: its answer to each encapsulated SEND_EVENT, and what it reports.

Unit checks of :func:`spdm.requester.event_receipt.answer_send_event` on the
negotiated parameters of a real connection, then a device whose poll answer
is broken in the session (a SEND_EVENT with an instance-ID gap): the
requester refuses it, reports nothing, and the device, left unacknowledged,
sends the events again at the next poll.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from spdm.errors import SpdmErrorCode
from spdm.events import DeviceEventReceived
from spdm.messages import EncapsulatedRequest, ErrorResponse
from spdm.messages.codes import CapabilityFlags, RequestCode
from spdm.messages.event import DmtfEventType, EventAck, SendEvent, SpdmEvent, index_mask
from spdm.negotiation import Negotiated
from spdm.requester.event_receipt import answer_send_event, delivered_events
from tests.spdm.test_event_pair import connect, model

V = 0x13
CHANGED = index_mask([1])
GOOD = SendEvent(V, events=(SpdmEvent(5, DmtfEventType.MEASUREMENT_CHANGED, CHANGED),
                            SpdmEvent(4, DmtfEventType.MEASUREMENT_CHANGED, index_mask([2])))).encode()


@pytest.fixture(scope="module")
def negotiated() -> Negotiated:
    result = connect()[0].negotiated
    assert result is not None
    return result


def _error(answer: bytes | None) -> int:
    assert answer is not None
    return ErrorResponse.decode(answer).error_code


def test_a_good_send_event_is_acknowledged(negotiated: Negotiated) -> None:
    assert answer_send_event(negotiated, GOOD, in_session=True) == EventAck(V).encode()


def test_other_requests_are_not_its_to_answer(negotiated: Negotiated) -> None:
    assert answer_send_event(negotiated, bytes([V, RequestCode.GET_DIGESTS, 0, 0]), in_session=True) is None
    assert answer_send_event(negotiated, b"\x13", in_session=True) is None


@pytest.mark.parametrize(("inner", "code"), [
    (SendEvent(V).encode(), SpdmErrorCode.INVALID_REQUEST),  # no event
    (SendEvent(V, events=(SpdmEvent(1, 2, CHANGED), SpdmEvent(3, 2, CHANGED))).encode(),
     SpdmErrorCode.INVALID_REQUEST),  # a gap
    (SendEvent(V, events=(SpdmEvent(1, 2, b"\x01"),)).encode(), SpdmErrorCode.INVALID_REQUEST),  # DMTF size
    (GOOD[:-1], SpdmErrorCode.INVALID_REQUEST),  # truncated
    (bytes([0x12]) + GOOD[1:], SpdmErrorCode.VERSION_MISMATCH),
], ids=["empty", "gap", "detail-size", "truncated", "version"])
def test_bad_send_events_are_refused(negotiated: Negotiated, inner: bytes, code: int) -> None:
    assert _error(answer_send_event(negotiated, inner, in_session=True)) == code


def test_send_event_needs_a_session_and_event_cap(negotiated: Negotiated) -> None:
    assert _error(answer_send_event(negotiated, GOOD, in_session=False)) == SpdmErrorCode.SESSION_REQUIRED
    without = replace(negotiated, responder_flags=negotiated.responder_flags & ~CapabilityFlags.EVENT_CAP)
    assert _error(answer_send_event(without, GOOD, in_session=True)) == SpdmErrorCode.UNSUPPORTED_REQUEST


def test_events_are_reported_in_instance_order_once_acknowledged() -> None:
    events = delivered_events(7, GOOD, EventAck(V).encode())
    assert [(e.session_id, e.event_instance_id) for e in events] == [(7, 4), (7, 5)]
    assert events[0].changed_measurements == {2}
    assert delivered_events(7, GOOD, ErrorResponse(V, error_code=1).encode()) == []


def test_a_broken_send_event_is_refused_and_the_device_sends_again() -> None:
    requester, driver, device, session_id = connect()
    broken = [True]

    def gap(sid: int, request: bytes, response: bytes) -> bytes:
        if not (broken[0] and request[1] == RequestCode.GET_ENCAPSULATED_REQUEST and response[1] == 0x6A):
            return response
        broken[0] = False
        ids = SpdmEvent(1, 2, CHANGED), SpdmEvent(3, 2, CHANGED)
        return EncapsulatedRequest(V, request_id=1, encapsulated_request=SendEvent(V, events=ids).encode()
                                   ).encode()

    device.responder.register_session_filter(gap)
    driver.run(lambda: requester.subscribe_event_types(session_id))
    device.responder.update_measurements(model().with_measurement(1, b"v2"))
    assert [e for e in driver.run(lambda: requester.poll_encapsulated(session_id))
            if isinstance(e, DeviceEventReceived)] == []
    [event] = driver.run(lambda: requester.poll_encapsulated(session_id))
    assert isinstance(event, DeviceEventReceived) and event.event_instance_id == 1
