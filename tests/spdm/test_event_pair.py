"""Events between our requester and our emulated device over the pipe.

The device (Event Notifier) offers the DMTF EventLost and MeasurementChanged
types; the requester subscribes in a session, the device's measurements
change (a firmware update: a new model), and the requester's next
GET_ENCAPSULATED_REQUEST brings the event as an encapsulated SEND_EVENT,
which it acknowledges and reports as :class:`DeviceEventReceived`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import cache

import pytest

from devsec.emulator import EmulatedDevice
from spdm.config import DEFAULT_REQUESTER_CAPS, DEFAULT_RESPONDER_CAPS, RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.errors import LocalProtocolError, RemoteErrorResponse
from spdm.events import (
    DeviceEventReceived,
    EventTypesSubscribed,
    MeasurementsReceived,
    SessionEstablished,
    SupportedEventTypesReceived,
)
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, SpdmVersion
from spdm.messages.event import DmtfEventType, EventGroup, parse_event_lost
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import Requester
from spdm.responder.event import MAX_QUEUED_EVENTS

NOW = datetime.now(UTC)
F = CapabilityFlags
EVENT_CAPS = F.EVENT_CAP | F.ENCAP_CAP


@cache
def model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)


def connect(*, version: SpdmVersion = SpdmVersion.V13,
            responder_caps: F = DEFAULT_RESPONDER_CAPS | EVENT_CAPS,
            ) -> tuple[Requester, RequesterDriver, EmulatedDevice, int]:
    """A requester with an established session to a fresh emulated device."""
    prefs = replace(AlgorithmPreferences(), asym_algs=(BaseAsymAlgo.ECDSA_P384,))
    device = EmulatedDevice(
        ResponderConfig(versions=(version,), capabilities=responder_caps, algorithms=prefs), model())
    requester = Requester(RequesterConfig(
        trust_anchors=(model().root_certificate(),), capabilities=DEFAULT_REQUESTER_CAPS | F.ENCAP_CAP,
        algorithms=prefs))
    driver = RequesterDriver(device.pipe(), requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests, lambda: requester.get_certificate(0, now=NOW)):
        driver.run(command)
    [established] = [e for e in driver.run(requester.key_exchange) if isinstance(e, SessionEstablished)]
    return requester, driver, device, established.session_id


def measured(requester: Requester, driver: RequesterDriver, session_id: int) -> dict[int, bytes]:
    [event] = driver.run(lambda: requester.get_measurements(session_id=session_id))
    assert isinstance(event, MeasurementsReceived)
    return {block.index: block.value for block in event.blocks}


def test_supported_event_types_are_the_dmtf_group() -> None:
    requester, driver, _, session_id = connect()
    assert driver.run(lambda: requester.get_supported_event_types(session_id)) == [
        SupportedEventTypesReceived(session_id, (EventGroup(event_types=(1, 2)),))]


def test_a_measurement_change_reaches_the_subscribed_requester() -> None:
    requester, driver, device, session_id = connect()
    assert driver.run(lambda: requester.subscribe_event_types(session_id)) == [
        EventTypesSubscribed(session_id, (EventGroup(attributes=1),))]
    with pytest.raises(RemoteErrorResponse, match="NO_PENDING_REQUESTS"):
        driver.run(lambda: requester.poll_encapsulated(session_id))
    before = measured(requester, driver, session_id)
    changed = device.responder.update_measurements(model().with_measurement(2, b"firmware v2"))
    assert changed == {2}
    [event] = driver.run(lambda: requester.poll_encapsulated(session_id))
    assert isinstance(event, DeviceEventReceived)
    assert (event.session_id, event.event_instance_id, event.event_type_id) == (
        session_id, 1, DmtfEventType.MEASUREMENT_CHANGED)
    assert event.changed_measurements == {2}
    with pytest.raises(RemoteErrorResponse, match="NO_PENDING_REQUESTS"):  # acknowledged: gone
        driver.run(lambda: requester.poll_encapsulated(session_id))
    after = measured(requester, driver, session_id)  # the device answers from the new firmware
    assert {i for i in before if before[i] != after[i]} == {2}


def test_events_queue_until_polled_and_come_in_order() -> None:
    requester, driver, device, session_id = connect()
    driver.run(lambda: requester.subscribe_event_types(session_id, (EventGroup(event_types=(2,)),)))
    for n in range(3):
        device.responder.update_measurements(model().with_measurement(1 + n % 2, b"v%d" % n))
    events = driver.run(lambda: requester.poll_encapsulated(session_id))
    assert [e.event_instance_id for e in events if isinstance(e, DeviceEventReceived)] == [1, 2, 3]


def test_a_full_queue_loses_events_and_says_so() -> None:
    requester, driver, device, session_id = connect()
    driver.run(lambda: requester.subscribe_event_types(session_id))
    for n in range(MAX_QUEUED_EVENTS + 3):
        device.responder.update_measurements(model().with_measurement(1, b"v%d" % n))
    events = [e for e in driver.run(lambda: requester.poll_encapsulated(session_id))
              if isinstance(e, DeviceEventReceived)]
    assert [e.event_type_id for e in events] == [2] * MAX_QUEUED_EVENTS + [DmtfEventType.EVENT_LOST]
    assert parse_event_lost(events[-1].event_detail) == (MAX_QUEUED_EVENTS, MAX_QUEUED_EVENTS + 3)
    assert events[-1].event_instance_id == MAX_QUEUED_EVENTS + 4
    device.responder.update_measurements(model().with_measurement(1, b"after"))  # delivery resumes
    [after] = driver.run(lambda: requester.poll_encapsulated(session_id))
    assert isinstance(after, DeviceEventReceived) and after.event_instance_id == MAX_QUEUED_EVENTS + 5


def test_unsubscribed_sessions_get_nothing() -> None:
    requester, driver, device, session_id = connect()
    device.responder.update_measurements(model().with_measurement(2, b"unseen"))
    driver.run(lambda: requester.subscribe_event_types(session_id))
    driver.run(lambda: requester.unsubscribe_events(session_id))
    device.responder.update_measurements(model().with_measurement(2, b"unseen either"))
    with pytest.raises(RemoteErrorResponse, match="NO_PENDING_REQUESTS"):
        driver.run(lambda: requester.poll_encapsulated(session_id))


def test_event_requests_need_a_session_and_event_cap() -> None:
    requester, driver, _, session_id = connect(responder_caps=DEFAULT_RESPONDER_CAPS | F.ENCAP_CAP)
    with pytest.raises(LocalProtocolError, match="EVENT_CAP"):
        requester.get_supported_event_types(session_id)
    requester, driver, _, session_id = connect(version=SpdmVersion.V12)
    with pytest.raises(LocalProtocolError, match="1.3"):
        requester.subscribe_event_types(session_id)
    with pytest.raises(LocalProtocolError):
        connect()[0].get_supported_event_types(0x1234)
