"""The SPDM 1.3 event messages: layouts, round trips, refusals, DMTF details; the fuzz builders."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spdm.codec import NO_CONTEXT, CodecContext, Message
from spdm.errors import DecodeError
from spdm.messages import REQUEST_TYPES, RESPONSE_TYPES
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
    check_event_list,
    event_lost_detail,
    index_mask,
    mask_indices,
    parse_event_lost,
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)

groups = st.builds(EventGroup, registry_id=u8, vendor_id=st.binary(max_size=4),
                   event_types=st.lists(u16, max_size=4).map(tuple), version=u16, attributes=u32)
events = st.builds(SpdmEvent, event_instance_id=u32, event_type_id=u16, event_detail=st.binary(max_size=40),
                   registry_id=u8, vendor_id=st.binary(max_size=4))

EventBuilder = Callable[[st.DrawFn, int, CodecContext], Message]
EVENT_BUILDERS: dict[type[Message], EventBuilder] = {
    GetSupportedEventTypes: lambda draw, v, ctx: GetSupportedEventTypes(spdm_version=v),
    SupportedEventTypes: lambda draw, v, ctx: SupportedEventTypes(
        spdm_version=v, groups=tuple(draw(st.lists(groups, max_size=3)))),
    SubscribeEventTypes: lambda draw, v, ctx: SubscribeEventTypes(
        spdm_version=v, groups=tuple(draw(st.lists(groups, max_size=3)))),
    SubscribeEventTypesAck: lambda draw, v, ctx: SubscribeEventTypesAck(spdm_version=v),
    SendEvent: lambda draw, v, ctx: SendEvent(
        spdm_version=v, events=tuple(draw(st.lists(events, max_size=3)))),
    EventAck: lambda draw, v, ctx: EventAck(spdm_version=v),
}
"""Generators of valid event messages, for tests/spdm/test_messages_fuzz.py."""

DMTF_ALL = EventGroup(event_types=(1, 2, 3, 4))

EVENT_CASES = [
    # SPDM 1.3 events (issue 13), for tests/spdm/test_messages.py's generic codec checks
    pytest.param(GetSupportedEventTypes(spdm_version=0x13), NO_CONTEXT, id="get_supported_event_types"),
    pytest.param(SupportedEventTypes(spdm_version=0x13, groups=(DMTF_ALL,)), NO_CONTEXT,
                 id="supported_event_types"),
    pytest.param(SubscribeEventTypes(spdm_version=0x13), NO_CONTEXT, id="subscribe_event_types-none"),
    pytest.param(SubscribeEventTypes(spdm_version=0x13, groups=(EventGroup(attributes=1),)), NO_CONTEXT,
                 id="subscribe_event_types-all"),
    pytest.param(SubscribeEventTypesAck(spdm_version=0x13), NO_CONTEXT, id="subscribe_event_types_ack"),
    pytest.param(SendEvent(spdm_version=0x13, events=(
        SpdmEvent(1, DmtfEventType.MEASUREMENT_CHANGED, index_mask([2])),
        SpdmEvent(2, DmtfEventType.EVENT_LOST, event_lost_detail(1, 1)))), NO_CONTEXT, id="send_event"),
    pytest.param(EventAck(spdm_version=0x13), NO_CONTEXT, id="event_ack"),
]


def test_the_codes_are_in_the_shared_tables() -> None:
    requests: tuple[type[Message], ...] = (GetSupportedEventTypes, SubscribeEventTypes, SendEvent)
    responses: tuple[type[Message], ...] = (SupportedEventTypes, SubscribeEventTypesAck, EventAck)
    assert all(REQUEST_TYPES[cls.CODE] is cls for cls in requests)
    assert all(RESPONSE_TYPES[cls.CODE] is cls for cls in responses)
    assert (GetSupportedEventTypes.CODE, SubscribeEventTypes.CODE, SendEvent.CODE) == (0xE2, 0xF0, 0xF1)
    assert (SupportedEventTypes.CODE, SubscribeEventTypesAck.CODE, EventAck.CODE) == (0x62, 0x70, 0x71)


def test_supported_event_types_layout() -> None:
    data = SupportedEventTypes(0x13, groups=(DMTF_ALL,)).encode()
    assert data == bytes.fromhex(
        "13620100" "1a000000"            # EventGroupCount 1, list length 26
        "0000" "0400" "0100" "00000000"  # DMTF, no VendorID, 4 types, version 1, attributes
        "01000000" "02000000" "03000000" "04000000")
    assert SupportedEventTypes.decode(data).groups == (DMTF_ALL,)


def test_supported_event_types_refuses_a_list_that_does_not_fill_its_length() -> None:
    data = bytearray(SupportedEventTypes(0x13, groups=(DMTF_ALL,)).encode())
    with pytest.raises(DecodeError):
        SupportedEventTypes.decode(bytes(data[:4]) + (27).to_bytes(4, "little") + bytes(data[8:]) + b"\x00")
    data[2] = 2  # two groups announced, one listed
    with pytest.raises(DecodeError):
        SupportedEventTypes.decode(bytes(data))


def test_subscribe_with_no_group_is_the_bare_header() -> None:
    assert SubscribeEventTypes(0x13).encode() == bytes.fromhex("13f00000")
    assert SubscribeEventTypes.decode(bytes.fromhex("13f00000")).groups == ()
    with pytest.raises(DecodeError):
        SubscribeEventTypes.decode(bytes.fromhex("13f00000" "00000000"))


def test_subscribe_all_of_the_dmtf_group() -> None:
    request = SubscribeEventTypes(0x13, groups=(EventGroup(attributes=1),))
    data = request.encode()
    assert data == bytes.fromhex("13f00100" "0a000000" "0000" "0000" "0100" "01000000")
    decoded = SubscribeEventTypes.decode(data)
    assert decoded == request and decoded.groups[0].subscribes_all and decoded.groups[0].is_dmtf


def test_send_event_layout() -> None:
    event = SpdmEvent(7, DmtfEventType.CERTIFICATE_CHANGED, b"\x01")
    data = SendEvent(0x13, events=(event,)).encode()
    assert data == bytes.fromhex("13f10000" "01000000" "07000000" "00000000" "0000" "0400" "0100" "01")
    assert SendEvent.decode(data).events == (event,)
    with pytest.raises(DecodeError):
        SendEvent.decode(data[:-1])
    with pytest.raises(DecodeError):
        SendEvent.decode(data + b"\x00")


def test_acks_are_bare_headers() -> None:
    assert EventAck(0x13).encode() == bytes.fromhex("13710000")
    assert SubscribeEventTypesAck(0x13).encode() == bytes.fromhex("13700000")
    with pytest.raises(DecodeError):
        EventAck.decode(bytes.fromhex("1371000000"))


def test_measurement_index_masks() -> None:
    mask = index_mask([0, 2, 9, 255])
    assert len(mask) == 32 and mask[0] == 0b101 and mask[1] == 0b10 and mask[31] == 0x80
    assert mask_indices(mask) == {0, 2, 9, 255}
    with pytest.raises(ValueError):
        index_mask([256])


def test_event_lost_detail() -> None:
    detail = event_lost_detail(4, 9)
    assert detail == bytes.fromhex("04000000" "09000000")
    assert parse_event_lost(detail) == (4, 9)


def test_event_list_checks() -> None:
    changed = index_mask([1])
    assert check_event_list([SpdmEvent(3, 2, changed), SpdmEvent(2, 1, event_lost_detail(1, 1))]) is None
    assert check_event_list([]) is not None
    assert check_event_list([SpdmEvent(1, 2, changed), SpdmEvent(3, 2, changed)]) is not None  # gap
    assert check_event_list([SpdmEvent(1, 2, changed), SpdmEvent(1, 2, changed)]) is not None  # repeat
    assert check_event_list([SpdmEvent(1, 2, b"\x00")]) is not None  # DMTF size
    assert check_event_list([SpdmEvent(1, 9, b"")]) is not None  # unknown DMTF type
    assert check_event_list([SpdmEvent(1, 9, b"", registry_id=3, vendor_id=b"\x01\x00")]) is None


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(listed=st.lists(events, max_size=4))
def test_send_event_round_trip(listed: list[SpdmEvent]) -> None:
    message = SendEvent(0x13, events=tuple(listed))
    assert SendEvent.decode(message.encode()) == message
    assert len(message.encode()) == 8 + sum(e.wire_size for e in listed)
