"""The device does not decide how long the host waits (fuzz finding 11).

ResponseNotReady's RDTExponent used to be obeyed as sent: 2**40 us is 12.7
days per poll, and from 54 on ``time.sleep`` raised OverflowError out of
``authenticate``.  Now the engine waits at most 2**MAX_RDT_EXPONENT us per
poll, and the driver gives each request REQUEST_DEADLINE seconds in all
(TransportTimeout past it).  Time is injected: the clock moves only when the
driver sleeps or the transport says an exchange took time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

import pytest

from devsec.emulator import EmulatedDevice
from spdm.config import RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.driver import REQUEST_DEADLINE, RequesterDriver
from spdm.errors import RemoteProtocolError, SpdmErrorCode, TransportTimeout
from spdm.messages import ErrorResponse
from spdm.messages.codes import BaseAsymAlgo, RequestCode
from spdm.requester import Requester
from spdm.requester.core import MAX_RDT_EXPONENT
from spdm.transport import PipeTransport
from spdm.transport.doe import (
    PCI_SIG_VENDOR_ID,
    DataObject,
    DataObjectType,
    decode_data_object,
    encode_data_object,
)

LONGEST_WAIT = (1 << MAX_RDT_EXPONENT) / 1e6


@cache
def _model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)


class FakeTime:
    """A monotonic clock that moves when the driver sleeps (or an exchange takes time)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class StallingDevice:
    """A device's transport that answers ``stalled`` requests (and every poll) with ERROR
    ``error`` (and its extended data), and takes ``exchange_seconds`` of the fake clock for
    every exchange."""

    def __init__(self, pipe: PipeTransport, time: FakeTime, *, stalled: frozenset[int] = frozenset(),
                 error: tuple[SpdmErrorCode, bytes] | None = None, exchange_seconds: float = 0.0) -> None:
        self.pipe, self.time = pipe, time
        self.stalled, self.error, self.exchange_seconds = stalled, error, exchange_seconds

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        self.time.now += self.exchange_seconds
        message = decode_data_object(request).payload
        if self.error is not None and message[1] in self.stalled | {RequestCode.RESPOND_IF_READY}:
            code, extended = self.error
            error = ErrorResponse(spdm_version=message[0], error_code=code, extended_data=extended)
            return encode_data_object(DataObject(PCI_SIG_VENDOR_ID, DataObjectType.SPDM, error.encode()))
        return self.pipe.exchange(request, timeout=timeout)

    def close(self) -> None:
        self.pipe.close()


def _not_ready(exponent: int) -> tuple[SpdmErrorCode, bytes]:
    return SpdmErrorCode.RESPONSE_NOT_READY, bytes([exponent, RequestCode.GET_DIGESTS, 0, 1])


def _negotiated_driver(transport: StallingDevice, time: FakeTime,
                       config: RequesterConfig | None = None) -> tuple[RequesterDriver, Requester]:
    requester = Requester(config or RequesterConfig(trust_anchors=(_model().root_certificate(),)))
    driver = RequesterDriver(transport, requester, sleep=time.sleep, clock=time.clock)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms):
        driver.run(command)
    return driver, requester


@pytest.mark.parametrize("exponent", [40, 54, 63, 255])
def test_a_huge_rdt_exponent_is_capped_and_the_request_hits_its_deadline(exponent: int) -> None:
    time = FakeTime()
    device = EmulatedDevice(ResponderConfig(), _model())
    stalling = StallingDevice(device.pipe(), time, stalled=frozenset({RequestCode.GET_DIGESTS}),
                              error=_not_ready(exponent))
    driver, requester = _negotiated_driver(stalling, time)
    with pytest.raises(TransportTimeout, match="deadline"):
        driver.run(requester.get_digests)
    assert time.sleeps and all(s == LONGEST_WAIT for s in time.sleeps)
    assert time.now <= REQUEST_DEADLINE


def test_an_rdt_exponent_within_the_cap_is_obeyed_until_the_polls_run_out() -> None:
    time = FakeTime()
    device = EmulatedDevice(ResponderConfig(), _model())
    stalling = StallingDevice(device.pipe(), time, stalled=frozenset({RequestCode.GET_DIGESTS}),
                              error=_not_ready(10))
    driver, requester = _negotiated_driver(stalling, time)
    with pytest.raises(RemoteProtocolError, match="still not ready"):
        driver.run(requester.get_digests)
    assert time.sleeps == [1024 / 1e6] * requester.config.max_not_ready_polls


def test_busy_for_ever_hits_the_deadline_too() -> None:
    time = FakeTime()
    device = EmulatedDevice(ResponderConfig(), _model())
    stalling = StallingDevice(device.pipe(), time, stalled=frozenset({RequestCode.GET_DIGESTS}),
                              error=(SpdmErrorCode.BUSY, b""))
    config = RequesterConfig(trust_anchors=(_model().root_certificate(),), busy_retries=1000,
                             busy_retry_delay=1.0)
    driver, requester = _negotiated_driver(stalling, time, config)
    with pytest.raises(TransportTimeout):
        driver.run(requester.get_digests)
    assert time.now <= REQUEST_DEADLINE
    assert len(time.sleeps) == int(REQUEST_DEADLINE)


def test_the_deadline_is_per_request_not_per_flow() -> None:
    # every request of the flow is held back once for the longest wait, and every exchange
    # takes 20 s: each request takes 48 s, the whole authentication far more than a deadline
    time = FakeTime()
    held = frozenset({RequestCode.GET_DIGESTS, RequestCode.GET_CERTIFICATE, RequestCode.CHALLENGE,
                      RequestCode.GET_MEASUREMENTS})
    device = EmulatedDevice(ResponderConfig(not_ready_requests=held, rdt_exponent=MAX_RDT_EXPONENT),
                            _model())
    stalling = StallingDevice(device.pipe(), time, exchange_seconds=20.0)
    driver, requester = _negotiated_driver(stalling, time)
    driver.run(requester.get_digests)
    driver.run(lambda: requester.get_certificate(0, now=datetime.now(UTC)))
    driver.run(lambda: requester.challenge(0))
    driver.run(requester.get_measurements)
    assert time.sleeps == [LONGEST_WAIT] * len(held)
    assert time.now > 2 * REQUEST_DEADLINE
