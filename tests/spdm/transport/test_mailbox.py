"""Tests for spdm.transport.mailbox: the DOE register model and the host driver.

The host driver runs against the model through ModelConfigSpace; time is a
fake clock that advances on every reading, so nothing sleeps and timeouts are
exact poll counts.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from spdm.errors import DecodeError, LocalProtocolError, TransportError, TransportTimeout
from spdm.transport import DoeTransport
from spdm.transport.configspace import ModelConfigSpace, open_mailbox
from spdm.transport.doe import DataObject, decode_data_object, discover, encode_data_object
from spdm.transport.endpoint import DoeEndpoint
from spdm.transport.mailbox import (
    DOE_CAPABILITIES,
    DOE_CONTROL,
    DOE_CONTROL_ABORT,
    DOE_CONTROL_GO,
    DOE_READ_MAILBOX,
    DOE_STATUS,
    DOE_STATUS_BUSY,
    DOE_STATUS_DATA_OBJECT_READY,
    DOE_STATUS_ERROR,
    DOE_WRITE_MAILBOX,
    EXT_CAP_ID_DOE,
    FIRST_POLL_INTERVAL,
    POLL_INTERVAL,
    DoeMailbox,
    DoeMailboxModel,
    MailboxInUse,
)

GET_VERSION = encode_data_object(DataObject(1, 1, b"\x10\x84\x00\x00"))
TICK = 0.01


class FakeClock:
    """Monotonic time that moves TICK per reading and by whatever is slept."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        self.now += TICK
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def echo_endpoint() -> DoeEndpoint:
    """SPDM handler that answers with the request payload reversed."""
    return DoeEndpoint({(1, 1): lambda p: p[::-1], (1, 2): lambda p: None})


def make_host(
    endpoint: Callable[[bytes], bytes | None] | None = None,
    *,
    busy_polls: int = 0,
    max_object_dwords: int = 1 << 18,
    timeout: float = 1.0,
    poll_interval: float = POLL_INTERVAL,
) -> tuple[DoeMailbox, DoeMailboxModel, FakeClock]:
    model = DoeMailboxModel(
        endpoint or echo_endpoint().handle,
        busy_polls=busy_polls,
        max_object_dwords=max_object_dwords,
    )
    clock = FakeClock()
    host = open_mailbox(
        ModelConfigSpace([model]),
        timeout=timeout,
        clock=clock.clock,
        sleep=clock.sleep,
        poll_interval=poll_interval,
    )
    return host, model, clock


def write_object(model: DoeMailboxModel, data: bytes) -> None:
    for (dword,) in struct.iter_unpack("<I", data):
        model.write32(DOE_WRITE_MAILBOX, dword)


def status(model: DoeMailboxModel) -> int:
    return model.read32(DOE_STATUS)


# --- the model on its own --------------------------------------------------------------------


def test_model_header_and_read_only_registers() -> None:
    model = DoeMailboxModel(echo_endpoint().handle)
    assert model.read32(0) == EXT_CAP_ID_DOE | 1 << 16
    for reg in (0, DOE_CAPABILITIES, DOE_STATUS):
        model.write32(reg, 0xFFFF_FFFF)
    assert model.read32(DOE_CAPABILITIES) == 0
    assert model.read32(DOE_CONTROL) == 0
    assert model.read32(DOE_WRITE_MAILBOX) == 0
    assert status(model) == 0


def test_model_go_read_and_pop() -> None:
    model = DoeMailboxModel(echo_endpoint().handle)
    request = encode_data_object(DataObject(1, 1, b"\x01\x02\x03\x04\x05\x06\x07\x08"))
    write_object(model, request)
    assert status(model) == 0
    model.write32(DOE_CONTROL, DOE_CONTROL_GO)
    expected = struct.unpack("<4I", encode_data_object(DataObject(1, 1, bytes(range(8, 0, -1)))))
    for dword in expected:
        assert status(model) == DOE_STATUS_DATA_OBJECT_READY
        assert model.read32(DOE_READ_MAILBOX) == dword
        assert model.read32(DOE_READ_MAILBOX) == dword  # reading does not advance
        model.write32(DOE_READ_MAILBOX, 0x1234)  # any value pops
    assert status(model) == 0
    assert model.read32(DOE_READ_MAILBOX) == 0  # nothing ready: 0, no Error
    assert status(model) == 0


def test_model_reports_busy_for_the_given_polls() -> None:
    model = DoeMailboxModel(echo_endpoint().handle, busy_polls=3)
    write_object(model, GET_VERSION)
    model.write32(DOE_CONTROL, DOE_CONTROL_GO)
    assert model.read32(DOE_READ_MAILBOX) == 0  # not visible while busy
    assert [status(model) for _ in range(4)] == [DOE_STATUS_BUSY] * 3 + [DOE_STATUS_DATA_OBJECT_READY]


def test_model_dropped_object_never_becomes_ready() -> None:
    model = DoeMailboxModel(echo_endpoint().handle, busy_polls=1)
    write_object(model, encode_data_object(DataObject(1, 2, b"\x00" * 4)))
    model.write32(DOE_CONTROL, DOE_CONTROL_GO)
    assert [status(model) for _ in range(3)] == [DOE_STATUS_BUSY, 0, 0]


def _too_many_dwords(model: DoeMailboxModel) -> None:
    write_object(model, GET_VERSION + b"\x00" * 4)


def _header_too_long_for_buffer(model: DoeMailboxModel) -> None:
    write_object(model, encode_data_object(DataObject(1, 1, b"\x00" * 12))[:8])


def _reserved_header_bits(model: DoeMailboxModel) -> None:
    write_object(model, struct.pack("<II", 0x0001_0001, 3 | 1 << 20))


def _length_one(model: DoeMailboxModel) -> None:
    write_object(model, struct.pack("<II", 0x0001_0001, 1))


def _go_incomplete(model: DoeMailboxModel) -> None:
    write_object(model, GET_VERSION[:8])
    model.write32(DOE_CONTROL, DOE_CONTROL_GO)


def _go_empty(model: DoeMailboxModel) -> None:
    model.write32(DOE_CONTROL, DOE_CONTROL_GO)


def _go_while_response_pending(model: DoeMailboxModel) -> None:
    write_object(model, GET_VERSION)
    model.write32(DOE_CONTROL, DOE_CONTROL_GO)
    model.write32(DOE_CONTROL, DOE_CONTROL_GO)


def _write_while_response_pending(model: DoeMailboxModel) -> None:
    write_object(model, GET_VERSION)
    model.write32(DOE_CONTROL, DOE_CONTROL_GO)
    write_object(model, GET_VERSION)


def _pop_with_nothing_ready(model: DoeMailboxModel) -> None:
    model.write32(DOE_READ_MAILBOX, 0)


@pytest.mark.parametrize(
    "misuse",
    [
        _too_many_dwords,
        _header_too_long_for_buffer,
        _reserved_header_bits,
        _length_one,
        _go_incomplete,
        _go_empty,
        _go_while_response_pending,
        _write_while_response_pending,
        _pop_with_nothing_ready,
    ],
)
def test_model_sets_error_on_misuse_and_abort_clears_it(
    misuse: Callable[[DoeMailboxModel], None],
) -> None:
    calls: list[bytes] = []

    def endpoint(request: bytes) -> bytes | None:
        calls.append(request)
        return echo_endpoint().handle(request)

    model = DoeMailboxModel(endpoint, max_object_dwords=4)
    misuse(model)
    assert status(model) & DOE_STATUS_ERROR
    calls.clear()
    write_object(model, GET_VERSION)  # ignored while Error is set
    model.write32(DOE_CONTROL, DOE_CONTROL_GO)
    assert calls == []
    model.write32(DOE_CONTROL, DOE_CONTROL_ABORT)
    assert status(model) == 0
    write_object(model, GET_VERSION)
    model.write32(DOE_CONTROL, DOE_CONTROL_GO)
    assert calls == [GET_VERSION]
    assert status(model) == DOE_STATUS_DATA_OBJECT_READY


def test_model_go_while_busy_is_an_error() -> None:
    model = DoeMailboxModel(echo_endpoint().handle, busy_polls=5)
    write_object(model, GET_VERSION)
    model.write32(DOE_CONTROL, DOE_CONTROL_GO)
    model.write32(DOE_CONTROL, DOE_CONTROL_GO)
    assert status(model) == DOE_STATUS_BUSY | DOE_STATUS_ERROR


def test_abort_clears_busy_response_and_partial_request() -> None:
    model = DoeMailboxModel(echo_endpoint().handle, busy_polls=5)
    write_object(model, GET_VERSION)
    model.write32(DOE_CONTROL, DOE_CONTROL_GO)
    write_object(model, GET_VERSION[:4])
    model.write32(DOE_CONTROL, DOE_CONTROL_ABORT | DOE_CONTROL_GO)  # Abort wins
    assert status(model) == 0
    assert model.read32(DOE_READ_MAILBOX) == 0
    write_object(model, GET_VERSION)  # a fresh object, not appended to the old one
    model.write32(DOE_CONTROL, DOE_CONTROL_GO)
    assert status(model) & ~DOE_STATUS_BUSY == 0  # no Error
    assert model.read32(DOE_READ_MAILBOX) == 0


@pytest.mark.parametrize("reg", [-4, 1, 0x18, 0x100])
def test_model_rejects_bad_registers(reg: int) -> None:
    model = DoeMailboxModel(echo_endpoint().handle)
    with pytest.raises(LocalProtocolError):
        model.read32(reg)
    with pytest.raises(LocalProtocolError):
        model.write32(reg, 0)


@pytest.mark.parametrize("value", [-1, 1 << 32])
def test_model_rejects_bad_values(value: int) -> None:
    with pytest.raises(LocalProtocolError):
        DoeMailboxModel(echo_endpoint().handle).write32(DOE_WRITE_MAILBOX, value)


@pytest.mark.parametrize(
    ("max_object_dwords", "busy_polls", "response_delay"),
    [(1, 0, 0.0), ((1 << 18) + 1, 0, 0.0), (4, -1, 0.0), (4, 0, -0.5)],
)
def test_model_rejects_bad_limits(max_object_dwords: int, busy_polls: int, response_delay: float) -> None:
    with pytest.raises(LocalProtocolError):
        DoeMailboxModel(echo_endpoint().handle, max_object_dwords=max_object_dwords, busy_polls=busy_polls,
                        response_delay=response_delay)


@pytest.mark.parametrize("response", [b"\x01\x00\x01\x00\x03\x00\x00\x00\x00", bytes(20)])
def test_model_refuses_an_endpoint_answer_that_does_not_fit(response: bytes) -> None:
    model = DoeMailboxModel(lambda r: response, max_object_dwords=4)
    write_object(model, GET_VERSION)
    with pytest.raises(LocalProtocolError, match="endpoint"):
        model.write32(DOE_CONTROL, DOE_CONTROL_GO)


# --- host driver against the model ------------------------------------------------------------


def test_host_is_a_doe_transport() -> None:
    assert isinstance(make_host()[0], DoeTransport)


@pytest.mark.parametrize("payload_dwords", [0, 1, 2, 3, 100, 4096])
def test_host_exchanges_objects_of_every_size(payload_dwords: int) -> None:
    host, model, _ = make_host()
    payload = bytes(i % 251 for i in range(payload_dwords * 4))
    response = host.exchange(encode_data_object(DataObject(1, 1, payload)))
    assert decode_data_object(response) == DataObject(1, 1, payload[::-1])
    assert status(model) == 0


def test_host_exchanges_the_largest_object() -> None:
    host, _, _ = make_host(lambda r: r)
    request = encode_data_object(DataObject(1, 1, bytes(range(256)) * 4095 + bytes(248)))
    assert len(request) == 1 << 20
    assert host.exchange(request) == request


def test_host_discovers_through_the_mailbox() -> None:
    host, _, _ = make_host()
    assert discover(host.exchange) == [(1, 0), (1, 1), (1, 2)]


def test_host_polls_through_busy_backing_off() -> None:
    host, model, clock = make_host(busy_polls=7, poll_interval=0.001)
    assert decode_data_object(host.exchange(GET_VERSION)).payload == b"\x00\x00\x84\x10"
    assert clock.sleeps == pytest.approx([FIRST_POLL_INTERVAL * 2**i for i in range(4)] + [0.001] * 3)
    assert status(model) == 0


def test_host_times_out_when_the_device_drops_the_object() -> None:
    host, model, clock = make_host(timeout=0.5)
    with pytest.raises(TransportTimeout, match="no response"):
        host.exchange(encode_data_object(DataObject(1, 3, b"\x00" * 4)))
    assert 0.5 <= clock.now < 0.6
    assert max(clock.sleeps) == POLL_INTERVAL
    assert status(model) == 0
    assert host.exchange(GET_VERSION)  # aborted: the mailbox is usable again


def test_host_aborts_first_when_error_is_set() -> None:
    host, model, _ = make_host()
    model.write32(DOE_READ_MAILBOX, 0)  # pop with nothing ready: Error
    assert status(model) & DOE_STATUS_ERROR
    assert decode_data_object(host.exchange(GET_VERSION)).object_type == 1


def test_host_leaves_another_agents_exchange_alone() -> None:
    host, model, _ = make_host(busy_polls=10)
    write_object(model, GET_VERSION)  # another agent's request in flight, its response never read
    model.write32(DOE_CONTROL, DOE_CONTROL_GO)
    with pytest.raises(MailboxInUse, match="in use by another agent: it was Busy"):
        host.exchange(GET_VERSION)
    # Nothing was written or aborted: the other agent still finds its response.
    assert status(model) == DOE_STATUS_DATA_OBJECT_READY
    assert model.read32(DOE_READ_MAILBOX) == 0x0001_0001


def test_host_drains_extra_dwords() -> None:
    # The device announces 3 dwords but holds 5.
    response = bytes.fromhex("01000100 03000000 10040000 deadbeef cafef00d")
    host, model, _ = make_host(lambda r: response)
    assert host.exchange(GET_VERSION) == response[:12]
    assert status(model) == 0


def test_host_reports_a_short_response_as_error() -> None:
    # The device announces 6 dwords but holds 4: popping beyond sets Error.
    response = bytes.fromhex("01000100 06000000 10040000 00000000")
    host, model, _ = make_host(lambda r: response)
    with pytest.raises(TransportError, match="Error during the read"):
        host.exchange(GET_VERSION)
    assert status(model) == 0  # aborted


def test_host_rejects_a_malformed_response_header_and_aborts() -> None:
    response = bytes.fromhex("01000100 03000400 10040000")  # DW1 reserved bit 18
    host, model, _ = make_host(lambda r: response)
    with pytest.raises(DecodeError):
        host.exchange(GET_VERSION)
    assert status(model) == 0


@pytest.mark.parametrize("request_bytes", [b"", GET_VERSION[:8], GET_VERSION + b"\x00", b"\x01" * 12])
def test_host_refuses_malformed_requests(request_bytes: bytes) -> None:
    host, model, _ = make_host()
    with pytest.raises(LocalProtocolError):
        host.exchange(request_bytes)
    assert status(model) == 0


def test_closed_host_refuses_exchanges() -> None:
    host, _, _ = make_host()
    host.close()
    with pytest.raises(LocalProtocolError, match="closed"):
        host.exchange(GET_VERSION)


@pytest.mark.parametrize(
    ("offset", "kwargs"),
    [(0xFC, {}), (0x102, {}), (0xFEC, {}), (0x100, {"timeout": 0.0}), (0x100, {"poll_interval": -1.0}),
     (0x100, {"poll_interval": 0.0})],
)
def test_host_rejects_bad_parameters(offset: int, kwargs: dict[str, float]) -> None:
    timeout = kwargs.get("timeout", 1.0)
    poll_interval = kwargs.get("poll_interval", POLL_INTERVAL)
    with pytest.raises(LocalProtocolError):
        DoeMailbox(ModelConfigSpace([]), offset, timeout=timeout, poll_interval=poll_interval)


# --- host driver against misbehaving registers -----------------------------------------------


class ScriptedConfig:
    """Config space whose DOE Status is scripted; records every write."""

    def __init__(self, status: Callable[[int], int], read_data: int = 0) -> None:
        self.status = status
        self.read_data = read_data
        self.status_reads = 0
        self.writes: list[tuple[int, int]] = []

    def read32(self, offset: int) -> int:
        if offset == 0x100 + DOE_STATUS:
            self.status_reads += 1
            return self.status(self.status_reads)
        if offset == 0x100 + DOE_READ_MAILBOX:
            return self.read_data
        return 0

    def write32(self, offset: int, value: int) -> None:
        self.writes.append((offset - 0x100, value))


def scripted_host(config: ScriptedConfig) -> tuple[DoeMailbox, FakeClock]:
    clock = FakeClock()
    return DoeMailbox(config, 0x100, clock=clock.clock, sleep=clock.sleep), clock


def test_host_never_ready_times_out_then_aborts() -> None:
    config = ScriptedConfig(lambda n: 0)
    host, clock = scripted_host(config)
    with pytest.raises(TransportTimeout):
        host.exchange(GET_VERSION)
    assert config.writes[-1] == (DOE_CONTROL, DOE_CONTROL_ABORT)
    assert 1.0 <= clock.now < 1.1


def test_host_error_after_go_aborts_then_raises() -> None:
    # Idle at first, Error once Go is written, clear again after the abort.
    config = ScriptedConfig(lambda n: DOE_STATUS_ERROR if n == 2 else 0)
    host, _ = scripted_host(config)
    with pytest.raises(TransportError, match="Error after Go"):
        host.exchange(GET_VERSION)
    assert config.writes[-1] == (DOE_CONTROL, DOE_CONTROL_ABORT)
    assert (DOE_CONTROL, DOE_CONTROL_GO) in config.writes


def test_host_abort_that_never_completes_times_out() -> None:
    config = ScriptedConfig(lambda n: DOE_STATUS_ERROR)
    host, clock = scripted_host(config)
    with pytest.raises(TransportTimeout, match="abort"):
        host.exchange(GET_VERSION)
    assert config.writes == [(DOE_CONTROL, DOE_CONTROL_ABORT)]  # nothing sent
    assert 1.0 <= clock.now < 1.1


def test_host_gives_up_when_data_object_ready_never_clears() -> None:
    # Idle, then ready forever; every dword read is 2 (a 2-dword object).
    config = ScriptedConfig(lambda n: DOE_STATUS_DATA_OBJECT_READY if n > 1 else 0, read_data=2)
    host, _ = scripted_host(config)
    with pytest.raises(TransportError, match="never cleared"):
        host.exchange(GET_VERSION)
    assert config.writes[-1] == (DOE_CONTROL, DOE_CONTROL_ABORT)


def test_exchange_timeout_extends_but_never_shortens_the_wait() -> None:
    """The requester passes CT-derived timeouts; the mailbox keeps at least its own 1 s."""
    clock = FakeClock()
    mailbox_model = DoeMailboxModel(lambda request: None)  # never answers
    config = ModelConfigSpace([mailbox_model])
    mailbox = open_mailbox(config, clock=clock.clock, sleep=clock.sleep, poll_interval=0.25)
    request = encode_data_object(DataObject(1, 1, b"\x10\x84\x00\x00"))
    with pytest.raises(TransportTimeout, match="within 1.0 s"):
        mailbox.exchange(request, timeout=0.1)
    with pytest.raises(TransportTimeout, match="within 8.5 s"):
        mailbox.exchange(request, timeout=8.5)
