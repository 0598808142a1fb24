"""A response held back behind ResponseNotReady is released only on the channel it was asked on.

Fuzz finding 15: an in-session GET_MEASUREMENTS answered ResponseNotReady
used to be released to a RESPOND_IF_READY sent in the clear, handing anyone
on the mailbox the in-session MEASUREMENTS in plaintext.  Now a
RESPOND_IF_READY on any other channel (the clear, another session) finds no
response pending (UnexpectedRequest) and the response stays held for the
session that asked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from devsec.emulator import EmulatedDevice
from spdm.config import RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.errors import SpdmErrorCode
from spdm.events import MeasurementsReceived, SessionEstablished
from spdm.messages import ErrorResponse, GetMeasurements, RespondIfReady
from spdm.messages.codes import BaseAsymAlgo, RequestCode, ResponseCode
from spdm.requester import Requester
from spdm.secured import open_record, seal

V = 0x13
RIF = RespondIfReady(spdm_version=V, request_code=RequestCode.GET_MEASUREMENTS, token=0).encode()


@cache
def _model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)


def _connected(not_ready: frozenset[RequestCode]) -> tuple[EmulatedDevice, Requester, list[int]]:
    """A device holding back ``not_ready`` requests, and a requester with two sessions on it."""
    device = EmulatedDevice(ResponderConfig(not_ready_requests=not_ready), _model())
    requester = Requester(RequesterConfig(trust_anchors=(_model().root_certificate(),)))
    driver = RequesterDriver(device.pipe(), requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests, lambda: requester.get_certificate(0, now=datetime.now(UTC))):
        driver.run(command)
    sessions = [e.session_id for _ in range(2) for e in driver.run(requester.key_exchange)
                if isinstance(e, SessionEstablished)]
    return device, requester, sessions


def _unexpected(answer: bytes) -> None:
    assert answer[1] == ResponseCode.ERROR
    assert ErrorResponse.decode(answer).error_code == SpdmErrorCode.UNEXPECTED_REQUEST


def _in_session(requester: Requester, device: EmulatedDevice, session_id: int, message: bytes) -> bytes:
    """Send ``message`` sealed in a session of ``requester``; the opened answer."""
    keys = requester.sessions[session_id].current_keys()
    sealed = device.responder.handle_secured(seal(keys.request, session_id, message))
    assert sealed is not None
    return open_record(keys.response, sealed, expected_session_id=session_id)


def test_an_in_session_response_is_not_released_in_the_clear_nor_in_another_session() -> None:
    device, requester, (first, second) = _connected(frozenset({RequestCode.GET_MEASUREMENTS}))
    responder = device.responder
    requester.get_measurements(session_id=first)
    held = responder.handle_secured(requester.data_to_send())
    assert held is not None
    requester.receive_data(held, secured=True)  # ResponseNotReady: the requester waits to poll
    assert requester.get_timer() is not None

    _unexpected(responder.handle(RIF))  # anyone on the mailbox, in the clear
    _unexpected(_in_session(requester, device, second, RIF))  # the same requester's other session

    requester.handle_timer()  # the session that asked polls, and gets its MEASUREMENTS
    released = responder.handle_secured(requester.data_to_send())
    assert released is not None
    requester.receive_data(released, secured=True)
    assert isinstance(requester.next_event(), MeasurementsReceived)


def test_a_response_asked_in_the_clear_is_not_released_in_a_session() -> None:
    device, requester, (first, _) = _connected(frozenset({RequestCode.GET_MEASUREMENTS}))
    responder = device.responder
    unsigned = GetMeasurements(spdm_version=V, attributes=0, operation=0xFF,
                               requester_context=bytes(8)).encode()
    assert responder.handle(unsigned)[1] == ResponseCode.ERROR  # held back: ResponseNotReady, token 0
    _unexpected(_in_session(requester, device, first, RIF))
    assert responder.handle(RIF)[1] == ResponseCode.MEASUREMENTS
