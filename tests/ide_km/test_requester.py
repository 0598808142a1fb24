"""The IDE_KM requester engine (``ide_km.requester``): sequences, events, checks, misuse, secrets."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from ide_km import (
    IdeKmDevice,
    IdeKmDeviceConfig,
    IdeKmRequester,
    KeyProgrammingFailed,
    KeySetActivated,
    KeySetProgrammed,
    KeySetStopped,
    KeysRefreshed,
    PortConfig,
    PortQueried,
    RequestRefused,
    ResponseMismatchError,
)
from ide_km.messages import (
    Direction,
    KeyProg,
    KeySet,
    KeySubStream,
    KGoStopAck,
    KpAck,
    KpAckStatus,
    KSetGo,
    Query,
    QueryResp,
    SubStream,
    decode_request,
)
from spdm.errors import DecodeError, LocalProtocolError, SpdmErrorCode

from .pair import SESSION, Counter, pump


@pytest.fixture
def device() -> IdeKmDevice:
    return IdeKmDevice(IdeKmDeviceConfig((PortConfig.selective((0, 5)), PortConfig.selective((2,)))))


@pytest.fixture
def requester() -> IdeKmRequester:
    return IdeKmRequester(rng=Counter())


def running(requester: IdeKmRequester, device: IdeKmDevice, stream: int = 5) -> None:
    requester.program_key_set(stream, KeySet.K0)
    pump(requester, device)
    requester.set_go(stream, KeySet.K0)
    pump(requester, device)


def test_query_event(requester: IdeKmRequester, device: IdeKmDevice) -> None:
    requester.query(1)
    assert requester.busy
    (event,) = pump(requester, device)
    assert isinstance(event, PortQueried)
    assert (event.port_index, event.max_port_index) == (1, 1)
    assert event.registers.selective_streams[0].control.stream_id == 2
    assert QueryResp.decode(event.raw).registers == event.registers
    assert not requester.busy


def test_key_programming_sequence_and_key_hand_over(requester: IdeKmRequester, device: IdeKmDevice) -> None:
    """§8.3: PR, NPR, CPL for Rx then Tx (TRACE order 00 10 20 02 12 22); fresh keys, IFV 1."""
    requester.program_key_set(5, KeySet.K1, 0)
    sent: list[KeyProg] = []
    while (payload := requester.data_to_send()):
        assert requester.data_to_send() == b""        # one outstanding request at a time
        request = decode_request(payload)
        assert isinstance(request, KeyProg)
        sent.append(request)
        requester.receive_data(device.handle(payload, SESSION))
    assert [r.encode()[6] for r in sent] == [0x01, 0x11, 0x21, 0x03, 0x13, 0x23]
    (event,) = pump(requester, device)
    assert isinstance(event, KeySetProgrammed)
    assert (event.port_index, event.stream_id, event.key_set) == (0, 5, KeySet.K1)
    assert [(k.direction, k.sub_stream) for k in event.keys] == [
        (d, s) for d in (Direction.RX, Direction.TX) for s in SubStream]
    assert [k.key for k in event.keys] == [bytes([n]) * 32 for n in range(1, 7)]
    assert [k.key for k in event.keys] == [r.key for r in sent]
    assert all(k.ifv == 1 and r.ifv == 1 for k, r in zip(event.keys, sent, strict=True))


def test_go_rx_then_tx_and_stop(requester: IdeKmRequester, device: IdeKmDevice) -> None:
    requester.program_key_set(5, KeySet.K0)
    pump(requester, device)
    requester.set_go(5, KeySet.K0, direction=Direction.RX)
    assert pump(requester, device) == [KeySetActivated(0, 5, KeySet.K0, Direction.RX)]
    assert requester.active_key_set(5) is None
    requester.set_go(5, KeySet.K0, direction=Direction.TX)
    assert pump(requester, device) == [KeySetActivated(0, 5, KeySet.K0, Direction.TX)]
    assert requester.active_key_set(5) == KeySet.K0
    requester.set_stop(5, KeySet.K0)
    assert pump(requester, device) == [KeySetStopped(0, 5, KeySet.K0, Direction.RX),
                                       KeySetStopped(0, 5, KeySet.K0, Direction.TX)]
    assert requester.active_key_set(5) is None


def test_go_order_within_a_direction(requester: IdeKmRequester) -> None:
    requester.set_go(5, KeySet.K0)
    bytes6 = []
    while (payload := requester.data_to_send()):
        request = KSetGo.decode(payload)
        bytes6.append(payload[6])
        ack = KGoStopAck(request.stream_id, request.key_sub_stream, request.port_index)
        requester.receive_data(ack.encode())
    assert bytes6 == [0x00, 0x10, 0x20, 0x02, 0x12, 0x22]


def test_refresh_events(requester: IdeKmRequester, device: IdeKmDevice) -> None:
    running(requester, device)
    requester.refresh(5)
    events = pump(requester, device)
    assert [type(e) for e in events] == [KeySetProgrammed, KeySetActivated, KeySetActivated,
                                         KeySetStopped, KeySetStopped, KeysRefreshed]
    assert events[0].key_set == KeySet.K1  # type: ignore[attr-defined]
    assert events[-1] == KeysRefreshed(0, 5, KeySet.K1)
    requester.refresh(5)
    assert pump(requester, device)[-1] == KeysRefreshed(0, 5, KeySet.K0)


def test_refresh_needs_a_running_key_set(requester: IdeKmRequester, device: IdeKmDevice) -> None:
    with pytest.raises(LocalProtocolError, match="no key set runs"):
        requester.refresh(5)
    requester.program_key_set(5, KeySet.K0)
    pump(requester, device)
    requester.set_go(5, KeySet.K0, direction=Direction.RX)
    pump(requester, device)
    with pytest.raises(LocalProtocolError):
        requester.refresh(5)
    assert not requester.busy


def test_refused_key_ends_the_command(requester: IdeKmRequester, device: IdeKmDevice) -> None:
    requester.program_key_set(1, KeySet.K0)   # port 0 has no stream 1
    events = pump(requester, device)
    assert events == [KeyProgrammingFailed(0, 1, KeySubStream(KeySet.K0, Direction.RX, SubStream.PR),
                                           KpAckStatus.UNSUPPORTED_VALUE)]
    assert not requester.busy
    requester.query(0)                         # still usable
    assert isinstance(pump(requester, device)[0], PortQueried)


def test_last_key_refused(requester: IdeKmRequester) -> None:
    requester.program_key_set(5, KeySet.K0)
    status = KpAckStatus.SUCCESS
    while (payload := requester.data_to_send()):
        request = KeyProg.decode(payload)
        if request.key_sub_stream == KeySubStream(KeySet.K0, Direction.TX, SubStream.CPL):
            status = KpAckStatus.UNSPECIFIED_FAILURE
        requester.receive_data(KpAck(request.stream_id, status, request.key_sub_stream, 0).encode())
    assert [type(e) for e in iter(requester.next_event, None)] == [KeyProgrammingFailed]


def test_failed_refresh_leaves_the_running_set(requester: IdeKmRequester, device: IdeKmDevice) -> None:
    running(requester, device)
    requester.refresh(5)
    requester.receive_data(KpAck.decode(device.handle(requester.data_to_send(), SESSION)).encode())
    payload = requester.data_to_send()
    request = KeyProg.decode(payload)
    requester.receive_data(KpAck(request.stream_id, KpAckStatus.UNSPECIFIED_FAILURE,
                                 request.key_sub_stream, request.port_index).encode())
    assert [type(e) for e in pump(requester, device)] == [KeyProgrammingFailed]
    assert requester.active_key_set(5) == KeySet.K0


def test_spdm_error_ends_the_command(requester: IdeKmRequester, device: IdeKmDevice) -> None:
    requester.set_go(5, KeySet.K0)             # no key programmed: the device answers ERROR
    events = pump(requester, device)
    assert events == [RequestRefused("K_SET_GO", SpdmErrorCode.UNEXPECTED_REQUEST, 0)]
    assert not requester.busy
    with pytest.raises(LocalProtocolError):
        requester.receive_error(SpdmErrorCode.UNSPECIFIED)


def test_in_the_clear_the_device_refuses(requester: IdeKmRequester, device: IdeKmDevice) -> None:
    requester.query(0)
    assert pump(requester, device, session_id=None) == [
        RequestRefused("QUERY", SpdmErrorCode.UNEXPECTED_REQUEST, 0)]


# --- responses that break the protocol poison the engine ---------------------------------------


def _answer_and_expect(requester: IdeKmRequester, response: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        requester.receive_data(response)
    with pytest.raises(LocalProtocolError, match="failed earlier"):
        requester.query(0)
    with pytest.raises(LocalProtocolError):
        requester.receive_data(response)
    assert not requester.busy and requester.data_to_send() == b""


@pytest.mark.parametrize(("field", "response"), [
    ("stream", KpAck(6, KpAckStatus.SUCCESS, KeySubStream(KeySet.K0, Direction.RX, SubStream.PR), 0)),
    ("sub-stream", KpAck(5, KpAckStatus.SUCCESS, KeySubStream(KeySet.K0, Direction.RX, SubStream.NPR), 0)),
    ("key set", KpAck(5, KpAckStatus.SUCCESS, KeySubStream(KeySet.K1, Direction.RX, SubStream.PR), 0)),
    ("direction", KpAck(5, KpAckStatus.SUCCESS, KeySubStream(KeySet.K0, Direction.TX, SubStream.PR), 0)),
    ("port", KpAck(5, KpAckStatus.SUCCESS, KeySubStream(KeySet.K0, Direction.RX, SubStream.PR), 1)),
    ("object", KGoStopAck(5, KeySubStream(KeySet.K0, Direction.RX, SubStream.PR), 0)),
])
def test_echo_mismatch(requester: IdeKmRequester, field: str, response: KpAck | KGoStopAck) -> None:
    requester.program_key_set(5, KeySet.K0)
    requester.data_to_send()
    _answer_and_expect(requester, response.encode(), ResponseMismatchError)


@pytest.mark.parametrize("response", [
    QueryResp(1, 0, 0, 0, 7, PortConfig.selective().registers),   # another port
    QueryResp(3, 0, 0, 0, 2, PortConfig.selective().registers),   # MaxPortIndex below PortIndex (TIV 1.1.4)
])
def test_query_resp_checks(requester: IdeKmRequester, response: QueryResp) -> None:
    requester.query(3 if response.port_index == 3 else 0)
    requester.data_to_send()
    _answer_and_expect(requester, response.encode(), ResponseMismatchError)


@pytest.mark.parametrize("response", [b"", b"\x00\x03\x00", Query(0).encode(), b"\x00\x03" + bytes(7)])
def test_undecodable_response(requester: IdeKmRequester, response: bytes) -> None:
    requester.query(0)
    requester.data_to_send()
    _answer_and_expect(requester, response, DecodeError)


# --- misuse --------------------------------------------------------------------------------------


def test_one_command_at_a_time(requester: IdeKmRequester) -> None:
    requester.query(0)
    commands: list[Callable[[], None]] = [
        lambda: requester.query(1), lambda: requester.program_key_set(0, KeySet.K0),
        lambda: requester.set_go(0, KeySet.K0), lambda: requester.set_stop(0, KeySet.K0),
        lambda: requester.refresh(0)]
    for command in commands:
        with pytest.raises(LocalProtocolError):
            command()
    assert Query.decode(requester.data_to_send()) == Query(0)


def test_response_without_request(requester: IdeKmRequester) -> None:
    with pytest.raises(LocalProtocolError, match="no request is outstanding"):
        requester.receive_data(KGoStopAck(0, KeySubStream(KeySet.K0, Direction.RX, SubStream.PR), 0).encode())
    requester.query(0)                         # queued, not yet sent: still nothing outstanding
    with pytest.raises(LocalProtocolError):
        requester.receive_error(SpdmErrorCode.BUSY)


@pytest.mark.parametrize("command", [
    lambda r: r.query(256),
    lambda r: r.program_key_set(256, KeySet.K0),
    lambda r: r.program_key_set(0, 2),
    lambda r: r.set_go(0, KeySet.K0, 300),
    lambda r: r.set_stop(0, KeySet.K0, direction=5),
    lambda r: r.set_go(-1, KeySet.K0),
])
def test_bad_arguments_queue_nothing(requester: IdeKmRequester, command: object) -> None:
    with pytest.raises(LocalProtocolError):
        command(requester)  # type: ignore[operator]
    assert not requester.busy and requester.data_to_send() == b""


def test_no_key_in_logs_or_reprs(caplog: pytest.LogCaptureFixture, device: IdeKmDevice) -> None:
    """R13: the keys appear neither in DEBUG logs nor in any event's repr."""
    caplog.set_level(logging.DEBUG)
    requester = IdeKmRequester(rng=lambda n: bytes.fromhex("a5c3") * (n // 2))
    requester.query(0)
    events = pump(requester, device)
    running(requester, device)
    requester.refresh(5)
    events += pump(requester, device)
    programmed = [e for e in events if isinstance(e, KeySetProgrammed)]
    assert programmed and all(k.key == bytes.fromhex("a5c3") * 16 for k in programmed[0].keys)
    text = caplog.text + "".join(repr(e) for e in events) + repr(programmed[0].keys)
    for needle in ("a5c3", "c3a5", "\\xa5", "165, 195"):
        assert needle not in text.lower()
    assert "KeyProg" in caplog.text and "Secure" in caplog.text
