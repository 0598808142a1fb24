"""ERROR Busy and ResponseNotReady in the middle of a chunk transfer, as our requester meets them.

A device that is Busy for a moment answers one CHUNK_GET (or CHUNK_SEND)
with ERROR Busy; the requester sends the very same chunk request again after
its Busy delay and the transfer completes, the signatures over the
reassembled messages verifying.  A device Busy for good exhausts the
requester's Busy retries, and ResponseNotReady to a chunk request (no chunk
needs time to compute) ends the transfer: both are RemoteProtocolErrors.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from devsec.emulator import EmulatedDevice
from spdm.cma import authenticate
from spdm.config import DEFAULT_REQUESTER_CAPS, DEFAULT_RESPONDER_CAPS, RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.errors import RemoteProtocolError, SpdmErrorCode
from spdm.events import VendorResponseReceived
from spdm.messages import ErrorResponse
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, RequestCode, SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import Requester
from spdm.transport import DoeTransport
from spdm.transport.doe import DataObject, decode_data_object, encode_data_object

NOW = datetime.now(UTC)
DTS, MAX = 0x100, 0x10000
CHUNK = CapabilityFlags.CHUNK_CAP


@pytest.fixture(scope="module")
def device_model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)


def device(model: DeviceModel) -> EmulatedDevice:
    prefs = replace(AlgorithmPreferences(), asym_algs=(model.asym_alg,))
    return EmulatedDevice(ResponderConfig(versions=(SpdmVersion.V13,), algorithms=prefs,
                                          capabilities=DEFAULT_RESPONDER_CAPS | CHUNK,
                                          data_transfer_size=DTS, max_spdm_msg_size=MAX), model)


def requester_config(model: DeviceModel, **changes: object) -> RequesterConfig:
    config = RequesterConfig(trust_anchors=(model.root_certificate(),),
                             capabilities=DEFAULT_REQUESTER_CAPS | CHUNK, data_transfer_size=DTS,
                             max_spdm_msg_size=MAX, busy_retry_delay=0.0)
    return replace(config, **changes)  # type: ignore[arg-type]


class Stalling:
    """Answers the ``nth`` request of ``code`` (and, with ``times``, that many in a row) with ``error``."""

    def __init__(self, inner: DoeTransport, code: int, nth: int, error: bytes, times: int = 1) -> None:
        self.inner, self.code, self.nth, self.error, self.times = inner, code, nth, error, times
        self.seen = 0
        self.stalled = 0
        self.codes: list[int] = []

    def exchange(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        request = decode_data_object(obj)
        if request.object_type == 1:
            self.codes.append(request.payload[1])
            if request.payload[1] == self.code:
                self.seen += 1
                if self.seen >= self.nth and self.stalled < self.times:
                    self.stalled += 1
                    return encode_data_object(DataObject(request.vendor_id, request.object_type, self.error))
        return self.inner.exchange(obj, timeout=timeout)

    def close(self) -> None:
        self.inner.close()


BUSY = ErrorResponse(spdm_version=SpdmVersion.V13, error_code=SpdmErrorCode.BUSY).encode()


def test_a_chunk_get_answered_busy_is_sent_again(device_model: DeviceModel) -> None:
    transport = Stalling(device(device_model).mailbox(), RequestCode.CHUNK_GET, 2, BUSY)
    report = authenticate(transport, requester_config(device_model), now=NOW)
    assert report.measurements is not None and report.measurements.evidence is not None
    assert transport.stalled == 1
    # the stalled CHUNK_GET was sent again: two in a row with the same code, then on
    second = [i for i, c in enumerate(transport.codes) if c == RequestCode.CHUNK_GET][1]
    assert transport.codes[second:second + 2] == [RequestCode.CHUNK_GET] * 2


def test_a_chunk_send_answered_busy_is_sent_again(device_model: DeviceModel) -> None:
    emulated = device(device_model)
    emulated.responder.register_vendor_handler(0x7F, b"\x99", lambda payload, _: payload[::-1])
    transport = Stalling(emulated.pipe(), RequestCode.CHUNK_SEND, 2, BUSY)
    requester = Requester(requester_config(device_model))
    driver = RequesterDriver(transport, requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms):
        driver.run(command)
    payload = bytes(range(256)) * 3
    events = driver.run(lambda: requester.vendor_defined(0x7F, b"\x99", payload))
    (answer,) = [e for e in events if isinstance(e, VendorResponseReceived)]
    assert answer.payload == payload[::-1]
    assert transport.stalled == 1 and transport.codes.count(RequestCode.CHUNK_SEND) == 5


def test_busy_for_good_exhausts_the_retries(device_model: DeviceModel) -> None:
    transport = Stalling(device(device_model).mailbox(), RequestCode.CHUNK_GET, 2, BUSY, times=100)
    with pytest.raises(RemoteProtocolError, match="CHUNK_GET was answered ERROR BUSY"):
        authenticate(transport, requester_config(device_model, busy_retries=3), now=NOW)
    assert transport.stalled == 4


def test_response_not_ready_to_a_chunk_get_ends_the_transfer(device_model: DeviceModel) -> None:
    not_ready = ErrorResponse(spdm_version=SpdmVersion.V13, error_code=SpdmErrorCode.RESPONSE_NOT_READY,
                              extended_data=bytes([1, RequestCode.CHUNK_GET, 7, 1])).encode()
    transport = Stalling(device(device_model).mailbox(), RequestCode.CHUNK_GET, 2, not_ready)
    with pytest.raises(RemoteProtocolError, match="CHUNK_GET was answered ERROR RESPONSE_NOT_READY"):
        authenticate(transport, requester_config(device_model), now=NOW)
