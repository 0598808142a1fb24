"""The device's event requests and SEND_EVENT delivery, driven with raw in-session messages.

A requester opens the session (VCA, KEY_EXCHANGE, FINISH); the tests then seal
their own requests with its session keys, so what is checked is the bytes the
device answers: SUPPORTED_EVENT_TYPES, the subscriptions it accepts and
refuses, the encapsulated SEND_EVENT, and what it does with answers that are
not EVENT_ACK.
"""

from __future__ import annotations

import pytest

from spdm.errors import SpdmErrorCode
from spdm.messages import (
    DeliverEncapsulatedResponse,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    ErrorResponse,
    GetEncapsulatedRequest,
)
from spdm.messages.codes import RequestCode
from spdm.messages.event import (
    DmtfEventType,
    EventAck,
    EventGroup,
    GetSupportedEventTypes,
    SendEvent,
    SpdmEvent,
    SubscribeEventTypes,
    SubscribeEventTypesAck,
    SupportedEventTypes,
    index_mask,
    mask_indices,
)
from spdm.secured import open_record, seal
from tests.spdm.test_event_pair import connect, model

V = 0x13
INVALID = SpdmErrorCode.INVALID_REQUEST


class Sealed:
    """Raw requests inside an established session, sealed with the requester's keys."""

    def __init__(self) -> None:
        self.requester, _, self.device, self.session_id = connect()

    def ask(self, request: bytes) -> bytes:
        keys = self.requester.sessions[self.session_id].current_keys()
        record = self.device.responder.handle_secured(seal(keys.request, self.session_id, request))
        assert record is not None
        return open_record(keys.response, record, expected_session_id=self.session_id)

    def error_code(self, request: bytes) -> int:
        return ErrorResponse.decode(self.ask(request)).error_code

    def subscribe(self, *groups: EventGroup) -> bytes:
        return self.ask(SubscribeEventTypes(V, groups=groups).encode())

    def change(self, index: int, data: bytes) -> None:
        self.device.responder.update_measurements(model().with_measurement(index, data))

    def poll(self) -> bytes:
        return self.ask(GetEncapsulatedRequest(V).encode())


@pytest.fixture
def sealed() -> Sealed:
    return Sealed()


def test_supported_event_types(sealed: Sealed) -> None:
    response = SupportedEventTypes.decode(sealed.ask(GetSupportedEventTypes(V).encode()))
    assert response.groups == (EventGroup(event_types=(DmtfEventType.EVENT_LOST,
                                                       DmtfEventType.MEASUREMENT_CHANGED)),)


def test_event_requests_in_the_clear_need_a_session(sealed: Sealed) -> None:
    for request in (GetSupportedEventTypes(V), SubscribeEventTypes(V)):
        answer = ErrorResponse.decode(sealed.device.responder.handle(request.encode()))
        assert answer.error_code == SpdmErrorCode.SESSION_REQUIRED


def test_send_event_from_the_requester_is_not_served(sealed: Sealed) -> None:
    event = SpdmEvent(1, DmtfEventType.CERTIFICATE_CHANGED, b"\x01")
    assert sealed.error_code(SendEvent(V, events=(event,)).encode()) == SpdmErrorCode.UNSUPPORTED_REQUEST


@pytest.mark.parametrize("group", [
    EventGroup(registry_id=3, vendor_id=b"\x01\x00", attributes=1),  # not the DMTF group
    EventGroup(event_types=(DmtfEventType.CERTIFICATE_CHANGED,)),    # a type the device does not send
    EventGroup(event_types=(1,), attributes=1),                      # types listed with "all"
    EventGroup(),                                                    # no type, not "all"
], ids=["vendor-group", "unsupported-type", "all-and-listed", "empty"])
def test_subscriptions_the_device_refuses(sealed: Sealed, group: EventGroup) -> None:
    assert ErrorResponse.decode(sealed.subscribe(group)).error_code == INVALID
    sealed.change(2, b"v2")  # the refused subscription subscribed to nothing
    assert ErrorResponse.decode(sealed.poll()).error_code == SpdmErrorCode.NO_PENDING_REQUESTS


def test_the_dmtf_group_twice_is_refused(sealed: Sealed) -> None:
    assert ErrorResponse.decode(sealed.subscribe(EventGroup(attributes=1), EventGroup(attributes=1))
                                ).error_code == INVALID


def test_the_event_goes_as_an_encapsulated_send_event(sealed: Sealed) -> None:
    assert SubscribeEventTypesAck.decode(sealed.subscribe(EventGroup(event_types=(2,))))
    sealed.change(3, b"v2")
    request = EncapsulatedRequest.decode(sealed.poll())
    send_event = SendEvent.decode(request.encapsulated_request)
    [event] = send_event.events
    assert (event.event_instance_id, event.event_type_id) == (1, DmtfEventType.MEASUREMENT_CHANGED)
    assert mask_indices(event.event_detail) == {3} and event.event_detail == index_mask([3])
    ack = EncapsulatedResponseAck.decode(sealed.ask(DeliverEncapsulatedResponse(
        V, request_id=request.request_id, encapsulated_response=EventAck(V).encode()).encode()))
    assert (ack.payload_type, ack.ack_request_id, ack.encapsulated_request) == (0, request.request_id, b"")
    assert ErrorResponse.decode(sealed.poll()).error_code == SpdmErrorCode.NO_PENDING_REQUESTS


@pytest.mark.parametrize("answer", [
    ErrorResponse(V, error_code=SpdmErrorCode.BUSY).encode(),
    b"\x13\x70\x00\x00",  # SUBSCRIBE_EVENT_TYPES_ACK, not EVENT_ACK
    b"\x13\x71\x00",      # a truncated EVENT_ACK
], ids=["error", "wrong-code", "truncated"])
def test_an_unacknowledged_event_stays_queued(sealed: Sealed, answer: bytes) -> None:
    sealed.subscribe(EventGroup(attributes=1))
    sealed.change(1, b"v2")
    first = EncapsulatedRequest.decode(sealed.poll())
    reply = sealed.ask(DeliverEncapsulatedResponse(V, request_id=first.request_id,
                                                   encapsulated_response=answer).encode())
    if answer[1] == 0x7F:
        assert EncapsulatedResponseAck.decode(reply).payload_type == 0
    else:
        assert ErrorResponse.decode(reply).error_code == INVALID
    again = EncapsulatedRequest.decode(sealed.poll())
    assert again.encapsulated_request == first.encapsulated_request  # the same event, again


def test_a_deliver_for_another_request_id_is_refused(sealed: Sealed) -> None:
    sealed.subscribe(EventGroup(attributes=1))
    sealed.change(1, b"v2")
    request = EncapsulatedRequest.decode(sealed.poll())
    assert sealed.error_code(DeliverEncapsulatedResponse(
        V, request_id=request.request_id + 1, encapsulated_response=EventAck(V).encode()).encode()) == INVALID


def test_a_poll_carries_a_bounded_number_of_send_events(sealed: Sealed) -> None:
    sealed.subscribe(EventGroup(attributes=1))
    sealed.device.responder._conn.requester_sizes = (64, 64)  # room for one event per SEND_EVENT
    for n in range(6):
        sealed.change(1, b"v%d" % n)
    reply = sealed.poll()
    delivered = 0
    while reply[1] != 0x7F:
        if reply[1] == 0x6A:
            message = EncapsulatedRequest.decode(reply)
            request_id, inner = message.request_id, message.encapsulated_request
        else:
            ack = EncapsulatedResponseAck.decode(reply)
            if ack.payload_type == 0:
                break
            request_id, inner = ack.request_id, ack.encapsulated_request
        assert len(SendEvent.decode(inner).events) == 1 and inner[1] == RequestCode.SEND_EVENT
        delivered += 1
        reply = sealed.ask(DeliverEncapsulatedResponse(
            V, request_id=request_id, encapsulated_response=EventAck(V).encode()).encode())
    assert delivered == 4  # MAX_SEND_EVENTS_PER_POLL; the other two wait for the next poll
    assert len(SendEvent.decode(EncapsulatedRequest.decode(sealed.poll()).encapsulated_request).events) == 1
