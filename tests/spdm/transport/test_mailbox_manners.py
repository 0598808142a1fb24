"""How the host mailbox driver shares a real device's DOE mailbox (issue 11 items 11 and 12).

Polling sleeps and backs off (a slow device is not read thousands of times a
second); a mailbox another agent uses is waited for, never aborted; one of
devsec's own exchanges that timed out is followed by a reset, so the next
exchange (and the next connection) is not poisoned; certificate portions fit
a DOE bridge with a small buffer.  Time is a clock that moves only by what is
slept plus one microsecond per reading, so nothing waits for real and a
driver that spins shows up as a huge read count.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache

import pytest

from spdm.cma import authenticate
from spdm.config import DEFAULT_CERTIFICATE_PORTION, RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.driver import SECURED_SPDM_PROTOCOL, SPDM_PROTOCOL
from spdm.errors import TransportTimeout
from spdm.messages.codes import BaseAsymAlgo, RequestCode
from spdm.responder import Responder
from spdm.transport.configspace import ModelConfigSpace, open_mailbox
from spdm.transport.doe import DataObject, decode_data_object, encode_data_object
from spdm.transport.endpoint import DoeEndpoint
from spdm.transport.mailbox import (
    DOE_CONTROL,
    DOE_CONTROL_ABORT,
    DOE_CONTROL_GO,
    DOE_READ_MAILBOX,
    DOE_STATUS,
    DOE_STATUS_DATA_OBJECT_READY,
    DOE_WRITE_MAILBOX,
    FIRST_POLL_INTERVAL,
    POLL_INTERVAL,
    DoeMailbox,
    DoeMailboxModel,
    MailboxInUse,
)

GET_VERSION = encode_data_object(DataObject(1, 1, b"\x10\x84\x00\x00"))
NOW = datetime.now(UTC)
READ_TICK = 1e-6


class SlowClock:
    """Monotonic time that moves by what is slept, and a microsecond per reading."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        self.now += READ_TICK
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


class CountingConfig(ModelConfigSpace):
    """A modelled config space that counts DOE Status reads and records register writes."""

    def __init__(self, models: list[DoeMailboxModel]) -> None:
        super().__init__(models)
        self.status_reads = 0
        self.writes: list[tuple[int, int]] = []

    def read32(self, offset: int) -> int:
        if offset == self.doe_offsets[0] + DOE_STATUS:
            self.status_reads += 1
        return super().read32(offset)

    def write32(self, offset: int, value: int) -> None:
        self.writes.append((offset - self.doe_offsets[0], value))
        super().write32(offset, value)


def echo(request: bytes) -> bytes:
    return request


def device(endpoint: Callable[[bytes], bytes | None] = echo, *, delay: float = 0.0,
           clock: SlowClock | None = None) -> tuple[CountingConfig, DoeMailboxModel, SlowClock]:
    clock = clock or SlowClock()
    model = DoeMailboxModel(endpoint, response_delay=delay, clock=clock.clock)
    return CountingConfig([model]), model, clock


def host(config: CountingConfig, clock: SlowClock, *, timeout: float = 1.0,
         poll_interval: float = POLL_INTERVAL, force: bool = False) -> DoeMailbox:
    return open_mailbox(config, clock=clock.clock, sleep=clock.sleep, timeout=timeout,
                        poll_interval=poll_interval, force=force)


def another_agent_sends(model: DoeMailboxModel, data: bytes = GET_VERSION) -> None:
    """What the kernel's DOE driver does: write an object and Go (its response then pending)."""
    for (dword,) in struct.iter_unpack("<I", data):
        model.write32(DOE_WRITE_MAILBOX, dword)
    model.write32(DOE_CONTROL, DOE_CONTROL_GO)


def another_agent_reads(model: DoeMailboxModel) -> bytes:
    dwords = []
    while model.read32(DOE_STATUS) & DOE_STATUS_DATA_OBJECT_READY:
        dwords.append(model.read32(DOE_READ_MAILBOX))
        model.write32(DOE_READ_MAILBOX, 0)
    return struct.pack(f"<{len(dwords)}I", *dwords)


def read_bound(wait: float) -> int:
    """Status reads a polite driver needs to see an answer that takes ``wait`` seconds.

    The back-off to POLL_INTERVAL, then one read per POLL_INTERVAL, plus the
    first read, the one that sees the answer and one for rounding.
    """
    ramp = math.ceil(math.log2(POLL_INTERVAL / FIRST_POLL_INTERVAL))
    return ramp + math.ceil(wait / POLL_INTERVAL) + 3


# --- item 12: polling ----------------------------------------------------------------------------


@pytest.mark.parametrize("delay_ms", [0, 1, 5, 50, 900, 2_000, 5_000])
def test_status_reads_stay_bounded_while_the_device_works(delay_ms: int) -> None:
    config, _, clock = device(delay=delay_ms / 1000)
    mailbox = host(config, clock)
    assert mailbox.exchange(GET_VERSION, timeout=10.0) == GET_VERSION
    assert config.status_reads <= read_bound(delay_ms / 1000)
    assert delay_ms / 1000 <= clock.now < delay_ms / 1000 + POLL_INTERVAL + 0.001
    if delay_ms == 0:
        assert clock.sleeps == []  # an object answered at once costs no sleep at all


def test_a_device_taking_seconds_is_read_about_128_times_a_second() -> None:
    config, _, clock = device(delay=3.0)
    host(config, clock).exchange(GET_VERSION, timeout=5.0)
    assert 3 * 128 <= config.status_reads <= 3 * 128 + 12


def test_sleeps_start_small_double_and_never_pass_the_deadline() -> None:
    config, _, clock = device(lambda request: None)  # the device never answers
    mailbox = host(config, clock, timeout=0.1)
    with pytest.raises(TransportTimeout, match="no response within 0.1 s"):
        mailbox.exchange(GET_VERSION)
    waits = clock.sleeps[:clock.sleeps.index(POLL_INTERVAL) + 1]
    doubling = [FIRST_POLL_INTERVAL * 2**i for i in range(len(waits) - 1)]
    assert waits == pytest.approx([*doubling, POLL_INTERVAL])
    assert max(clock.sleeps) == POLL_INTERVAL
    assert 0.1 <= clock.now < 0.1 + 0.001  # the last sleep was cut to the deadline


def test_poll_interval_is_the_back_off_ceiling() -> None:
    config, _, clock = device(delay=0.1)
    host(config, clock, poll_interval=0.001).exchange(GET_VERSION)
    assert max(clock.sleeps) == 0.001


# --- item 11: another agent's exchange -------------------------------------------------------------


def test_a_pending_response_of_another_agent_is_waited_for_not_aborted() -> None:
    config, model, clock = device()
    another_agent_sends(model, encode_data_object(DataObject(1, 1, b"kernel's")))
    theirs: list[bytes] = []
    slept = clock.sleep

    def sleep(seconds: float) -> None:
        slept(seconds)
        if len(clock.sleeps) == 5:  # the other agent comes back for its response
            theirs.append(another_agent_reads(model))

    mailbox = open_mailbox(config, clock=clock.clock, sleep=sleep)
    assert mailbox.exchange(GET_VERSION) == GET_VERSION
    assert theirs == [encode_data_object(DataObject(1, 1, b"kernel's"))]  # intact
    assert (DOE_CONTROL, DOE_CONTROL_ABORT) not in config.writes


def test_a_busy_mailbox_is_waited_for() -> None:
    config, model, clock = device(delay=0.3)
    another_agent_sends(model)
    config.writes.clear()
    slept = clock.sleep
    theirs: list[bytes] = []

    def sleep(seconds: float) -> None:
        slept(seconds)
        if not theirs and model.read32(DOE_STATUS) & DOE_STATUS_DATA_OBJECT_READY:
            theirs.append(another_agent_reads(model))  # the other agent reads its answer at once

    mailbox = open_mailbox(config, clock=clock.clock, sleep=sleep)
    assert mailbox.exchange(GET_VERSION, timeout=2.0) == GET_VERSION
    assert theirs == [GET_VERSION]
    assert config.writes[0] == (DOE_WRITE_MAILBOX, 0x0001_0001)  # no abort: it waited
    assert clock.now >= 0.3 + 0.3  # the other agent's answer, then ours


@pytest.mark.parametrize("left_pending", [True, False], ids=["response-unread", "busy-forever"])
def test_a_mailbox_another_agent_keeps_fails_typed_and_untouched(left_pending: bool) -> None:
    config, model, clock = device(delay=0.0 if left_pending else 100.0)
    another_agent_sends(model)
    config.writes.clear()
    mailbox = host(config, clock, timeout=0.5)
    expected = "holding a response devsec did not ask for" if left_pending else "Busy"
    with pytest.raises(MailboxInUse, match=f"in use by another agent: it was {expected}"):
        mailbox.exchange(GET_VERSION)
    assert config.writes == []  # nothing written, nothing aborted
    assert 0.5 <= clock.now < 0.51
    assert config.status_reads <= read_bound(0.5)


def test_force_resets_a_mailbox_nobody_releases() -> None:
    config, model, clock = device()
    another_agent_sends(model)  # a response nobody will ever read (a crashed agent)
    config.writes.clear()
    mailbox = host(config, clock, timeout=0.2, force=True)
    assert mailbox.exchange(GET_VERSION) == GET_VERSION
    assert config.writes[0] == (DOE_CONTROL, DOE_CONTROL_ABORT)
    assert clock.now >= 0.2  # only after waiting for the other agent in vain


# --- item 12: reset after a timeout -----------------------------------------------------------------


def test_the_exchange_after_a_timeout_resets_the_mailbox_first() -> None:
    config, model, clock = device(DoeEndpoint({(1, 1): lambda payload: payload}).handle)
    mailbox = host(config, clock)
    with pytest.raises(TransportTimeout):
        mailbox.exchange(encode_data_object(DataObject(1, 3, b"lost")))  # no handler: dropped
    # The device answers the lost object late, after devsec gave up on it: that response is
    # devsec's own leftover, not another agent's, so it is reset, not waited for.
    another_agent_sends(model)
    config.writes.clear()
    assert decode_data_object(mailbox.exchange(GET_VERSION)).payload == b"\x10\x84\x00\x00"
    assert config.writes[0] == (DOE_CONTROL, DOE_CONTROL_ABORT)
    config.writes.clear()
    mailbox.exchange(GET_VERSION)
    assert (DOE_CONTROL, DOE_CONTROL_ABORT) not in config.writes  # reset once, not forever


def test_an_abort_that_did_not_complete_is_retried_before_the_next_exchange() -> None:
    config, model, clock = device(lambda request: None)
    mailbox = host(config, clock, timeout=0.05)
    aborts = 0
    write = config.write32

    def stuck_abort(offset: int, value: int) -> None:
        nonlocal aborts
        if offset == config.doe_offsets[0] + DOE_CONTROL and value & DOE_CONTROL_ABORT:
            aborts += 1
            if aborts == 1:
                another_agent_sends(model)  # the first abort "does not take": still Busy
                return
        write(offset, value)

    config.write32 = stuck_abort  # type: ignore[method-assign]
    with pytest.raises(TransportTimeout, match="no response"):  # the timeout, not the failed abort
        mailbox.exchange(GET_VERSION)
    with pytest.raises(TransportTimeout, match="no response"):
        mailbox.exchange(GET_VERSION)  # reset first (abort 2), then the device drops this one too
    assert aborts == 3


# --- the whole flow over a mailbox: a lost object, a small bridge -------------------------------


@cache
def device_model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)


def spdm_endpoint(bridge_buffer: int | None = None,
                  drop: RequestCode | None = None) -> Callable[[bytes], bytes | None]:
    """A responder behind a DOE bridge: objects over ``bridge_buffer`` bytes, and the first
    response to ``drop``, are silently lost (QEMU's DOE-to-SPDM bridge drops what its buffer
    cannot hold)."""
    responder = Responder(ResponderConfig(), device_model(), now=lambda: NOW)
    endpoint = DoeEndpoint({SPDM_PROTOCOL: responder.handle, SECURED_SPDM_PROTOCOL: responder.handle_secured})
    dropped: list[int] = []

    def bridge(request: bytes) -> bytes | None:
        response = endpoint.handle(request)
        code = request[9]
        if drop is not None and code == drop and not dropped:
            dropped.append(code)
            return None
        if response is not None and bridge_buffer is not None and len(response) > bridge_buffer:
            return None
        return response
    return bridge


def requester_config(certificate_portion: int = DEFAULT_CERTIFICATE_PORTION) -> RequesterConfig:
    return RequesterConfig(trust_anchors=(device_model().root_certificate(),),
                           certificate_portion=certificate_portion)


def test_one_lost_object_does_not_poison_the_next_connection() -> None:
    config, _, clock = device(spdm_endpoint(drop=RequestCode.GET_CERTIFICATE))
    with pytest.raises(TransportTimeout):
        authenticate(host(config, clock), requester_config(), now=NOW, sleep=clock.sleep)
    report = authenticate(host(config, clock), requester_config(), now=NOW, sleep=clock.sleep)
    assert report.chain.certificates[-1] == device_model().slots[0].certificates[-1]


def test_default_certificate_portions_fit_a_small_doe_bridge() -> None:
    """A bridge whose buffer holds 0x600 bytes: the chain (about 1.7 KB) must come in portions."""
    assert DEFAULT_CERTIFICATE_PORTION == 0x400
    config, _, clock = device(spdm_endpoint(bridge_buffer=0x600))
    report = authenticate(host(config, clock), requester_config(), now=NOW, sleep=clock.sleep)
    assert report.chain.certificates[-1] == device_model().slots[0].certificates[-1]
    with pytest.raises(TransportTimeout):  # asking for everything at once loses the object
        authenticate(host(config, clock), requester_config(certificate_portion=0xFFFF), now=NOW,
                     sleep=clock.sleep)
