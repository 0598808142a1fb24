"""A chunk transfer belongs to the channel it started on (spdm.responder.chunk).

A large response computed inside a session is fetched by CHUNK_GET inside
that session only: a CHUNK_GET sent in the clear on the same mailbox, for any
handle, finds nothing pending, so nobody reads session plaintext in the clear.
The device reassembles one large request at a time: a CHUNK_SEND starting
another one in the clear while a session's is in progress is answered Busy,
a later chunk there is an early error, and the session's transfer completes
as if nothing had happened.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from devsec.emulator import EmulatedDevice
from spdm.config import DEFAULT_REQUESTER_CAPS, DEFAULT_RESPONDER_CAPS, RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.errors import SpdmErrorCode
from spdm.events import MeasurementsReceived, SessionEstablished, VendorResponseReceived
from spdm.messages import ChunkGet, ChunkSend, ChunkSendAck, ErrorResponse
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, ResponseCode, SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import Requester
from spdm.transport import DoeTransport

NOW = datetime.now(UTC)
DTS, MAX = 0x100, 0x10000
CHUNK = CapabilityFlags.CHUNK_CAP
V13 = SpdmVersion.V13
SECURED = 2


@pytest.fixture(scope="module")
def device_model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)


class Meddler:
    """A DOE transport that, once armed, runs ``meddle`` on the device after the next secured exchange."""

    def __init__(self, device: EmulatedDevice) -> None:
        self.device = device
        self.inner: DoeTransport = device.pipe()
        self.armed = False
        self.answers: list[bytes] = []
        self.requests: list[bytes] = []

    def exchange(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        response = self.inner.exchange(obj, timeout=timeout)
        if self.armed and obj[2] == SECURED:
            self.armed = False
            self.answers = [self.device.responder.handle(request) for request in self.requests]
        return response

    def close(self) -> None:
        self.inner.close()


def in_session(device_model: DeviceModel) -> tuple[Meddler, Requester, RequesterDriver, int]:
    prefs = replace(AlgorithmPreferences(), asym_algs=(device_model.asym_alg,))
    device = EmulatedDevice(ResponderConfig(versions=(V13,), algorithms=prefs,
                                            capabilities=DEFAULT_RESPONDER_CAPS | CHUNK,
                                            data_transfer_size=DTS, max_spdm_msg_size=MAX), device_model)
    device.responder.register_vendor_handler(0x7F, b"\x99", lambda payload, _: payload[::-1])
    transport = Meddler(device)
    requester = Requester(RequesterConfig(trust_anchors=(device_model.root_certificate(),),
                                          capabilities=DEFAULT_REQUESTER_CAPS | CHUNK, data_transfer_size=DTS,
                                          max_spdm_msg_size=MAX))
    driver = RequesterDriver(transport, requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests, lambda: requester.get_certificate(0, now=NOW)):
        driver.run(command)
    [sid] = [e.session_id for e in driver.run(requester.key_exchange) if isinstance(e, SessionEstablished)]
    return transport, requester, driver, sid


def test_a_session_large_response_cannot_be_fetched_in_the_clear(device_model: DeviceModel) -> None:
    transport, requester, driver, sid = in_session(device_model)
    # right after the device answers GET_MEASUREMENTS in the session with ERROR(LargeResponse),
    # someone on the mailbox asks for chunk 0 of every handle in the clear
    transport.requests = [ChunkGet(spdm_version=V13, handle=handle).encode() for handle in range(256)]
    transport.armed = True
    events = driver.run(lambda: requester.get_measurements(signed=False, session_id=sid))
    assert len(transport.answers) == 256
    for answer in transport.answers:
        assert answer[1] == ResponseCode.ERROR
        assert ErrorResponse.decode(answer).error_code == SpdmErrorCode.UNEXPECTED_REQUEST
    # and the session's own transfer went on undisturbed
    (measurements,) = [e for e in events if isinstance(e, MeasurementsReceived)]
    assert measurements.blocks and len(requester.last_received) > DTS  # it came by CHUNK_GET


def test_a_second_large_request_on_another_channel_is_busy(device_model: DeviceModel) -> None:
    transport, requester, driver, sid = in_session(device_model)
    payload = bytes(range(256)) * 3
    start = ChunkSend(spdm_version=V13, handle=9, large_message_size=600, chunk=bytes(DTS - 16)).encode()
    later = ChunkSend(spdm_version=V13, handle=9, chunk_seq_no=1, chunk=bytes(DTS - 12)).encode()
    transport.requests = [start, later]
    transport.armed = True  # after the session's first CHUNK_SEND
    events = driver.run(lambda: requester.vendor_defined(0x7F, b"\x99", payload, session_id=sid))
    busy, early = transport.answers
    assert ErrorResponse.decode(busy).error_code == SpdmErrorCode.BUSY
    ack = ChunkSendAck.decode(early)
    assert ack.early_error and ErrorResponse.decode(ack.response).error_code == SpdmErrorCode.INVALID_REQUEST
    (answer,) = [e for e in events if isinstance(e, VendorResponseReceived)]
    assert answer.payload == payload[::-1]
    # once the session's large request is answered, the clear may start one
    assert not ChunkSendAck.decode(transport.device.responder.handle(start)).early_error
