"""The IDE_KM device model (``ide_km.device``): one test per rule, driven by raw requests and
by the real requester (``device.handle(payload, session_id)``, as the SPDM responder calls it)."""

from __future__ import annotations

import pytest

from ide_km import (
    IdeKmDevice,
    IdeKmDeviceConfig,
    IdeKmRequester,
    InvalidFieldError,
    KeySetNotProgrammedError,
    KeySetProgrammed,
    PortConfig,
    SessionMismatchError,
    StreamState,
    UnsecuredRequestError,
    UnsupportedObjectError,
)
from ide_km.messages import (
    Direction,
    IdeCapability,
    IdeRegisterBlock,
    KeyProg,
    KeySet,
    KeySubStream,
    KGoStopAck,
    KpAck,
    KpAckStatus,
    KSetGo,
    KSetStop,
    LinkStream,
    Query,
    QueryResp,
    StreamControl,
    SubStream,
)
from spdm.errors import ConfigurationError, DecodeError, LocalProtocolError, SpdmErrorCode

from .pair import SESSION, Counter, pump

OTHER = 0xFFFE_FFFE
SLOTS = [(d, s) for d in (Direction.RX, Direction.TX) for s in SubStream]
KEY = bytes(range(32))

LINK_PORT = PortConfig(
    IdeRegisterBlock(
        capability=IdeCapability(link_ide=True, selective_ide=True, ide_km=True, link_tc_count=1,
                             selective_stream_count=1),
        link_streams=(LinkStream(StreamControl(stream_id=9)),),
        selective_streams=PortConfig.selective((4,)).registers.selective_streams,
    ),
    dev_func_num=0x10, bus_num=0x3A, segment=1,
)


@pytest.fixture
def device() -> IdeKmDevice:
    return IdeKmDevice(IdeKmDeviceConfig((PortConfig.selective((0, 5)), LINK_PORT)))


def kss(key_set: KeySet, direction: Direction, sub_stream: int) -> KeySubStream:
    return KeySubStream(key_set, direction, sub_stream)


def key_prog(stream: int, key_set: KeySet, direction: Direction, sub_stream: int, port: int = 0,
             ifv: int = 1) -> bytes:
    return KeyProg(stream, kss(key_set, direction, sub_stream), port, KEY, ifv).encode()


def go(stream: int, key_set: KeySet, direction: Direction, sub_stream: int, port: int = 0) -> bytes:
    return KSetGo(stream, kss(key_set, direction, sub_stream), port).encode()


def stop(stream: int, key_set: KeySet, direction: Direction, sub_stream: int, port: int = 0) -> bytes:
    return KSetStop(stream, kss(key_set, direction, sub_stream), port).encode()


def ack_status(device: IdeKmDevice, payload: bytes, session: int = SESSION) -> KpAckStatus:
    ack = KpAck.decode(device.handle(payload, session))
    return ack.status


def program(device: IdeKmDevice, stream: int, key_set: KeySet, port: int = 0, session: int = SESSION) -> None:
    for d, s in SLOTS:
        assert ack_status(device, key_prog(stream, key_set, d, s, port), session) == KpAckStatus.SUCCESS


def go_all(device: IdeKmDevice, stream: int, key_set: KeySet, port: int = 0, session: int = SESSION) -> None:
    for d, s in SLOTS:
        device.handle(go(stream, key_set, d, s, port), session)


def secure(device: IdeKmDevice, stream: int = 5, port: int = 0, session: int = SESSION) -> None:
    program(device, stream, KeySet.K0, port, session)
    go_all(device, stream, KeySet.K0, port, session)
    assert device.stream_state(port, stream) == StreamState.SECURE


def insecure_calls(device: IdeKmDevice) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []
    device.on_stream_insecure(lambda port, stream: calls.append((port, stream)))
    return calls


# --- the whole flow ------------------------------------------------------------------------------


def test_requester_flow_secure_then_stop(device: IdeKmDevice) -> None:
    calls = insecure_calls(device)
    requester = IdeKmRequester(rng=Counter())
    requester.query(0)
    pump(requester, device)
    requester.program_key_set(5, KeySet.K0)
    (programmed,) = pump(requester, device)
    assert isinstance(programmed, KeySetProgrammed)
    assert device.stream_state(0, 5) == StreamState.INSECURE
    requester.set_go(5, KeySet.K0)
    pump(requester, device)
    assert device.stream_state(0, 5) == StreamState.SECURE
    assert device.stream_session(0, 5) == SESSION
    assert device.active_key_set(0, 5) == KeySet.K0
    assert device.stream_state(0, 0) == StreamState.INSECURE
    # The device holds the keys the host was handed (checked on the model's private state).
    slots = device._streams[0][5].slots
    assert {(k.direction, k.sub_stream): k.key for k in programmed.keys} == {
        key: slot.keys[KeySet.K0].key for key, slot in slots.items()}
    requester.set_stop(5, KeySet.K0)
    pump(requester, device)
    assert device.stream_state(0, 5) == StreamState.INSECURE
    assert calls == [(0, 5)]
    assert device.stream_session(0, 5) == SESSION  # bound until the session ends


def test_secure_only_when_all_six_run(device: IdeKmDevice) -> None:
    program(device, 5, KeySet.K0)
    for d, s in SLOTS[:-1]:
        device.handle(go(5, KeySet.K0, d, s), SESSION)
        assert device.stream_state(0, 5) == StreamState.INSECURE
    device.handle(go(5, KeySet.K0, *SLOTS[-1]), SESSION)
    assert device.stream_state(0, 5) == StreamState.SECURE


def test_query_reports_location_and_live_stream_state(device: IdeKmDevice) -> None:
    secure(device, stream=9, port=1)
    response = QueryResp.decode(device.handle(Query(1).encode(), SESSION))
    assert (response.port_index, response.dev_func_num, response.bus_num, response.segment,
            response.max_port_index) == (1, 0x10, 0x3A, 1, 1)
    assert response.registers.link_streams[0].status.state == StreamState.SECURE
    assert response.registers.selective_streams[0].status.state == StreamState.INSECURE
    assert response.registers.capability == LINK_PORT.registers.capability


def test_key_refresh_keeps_the_stream_secure(device: IdeKmDevice) -> None:
    calls = insecure_calls(device)
    requester = IdeKmRequester(rng=Counter())
    requester.program_key_set(5, KeySet.K0)
    requester_events = pump(requester, device)
    requester.set_go(5, KeySet.K0)
    requester_events += pump(requester, device)
    requester.refresh(5)
    while requester.busy:
        payload = requester.data_to_send()
        requester.receive_data(device.handle(payload, SESSION))
        assert device.stream_state(0, 5) == StreamState.SECURE
    assert device.active_key_set(0, 5) == KeySet.K1
    assert requester.active_key_set(5) == KeySet.K1
    assert calls == []
    # The old set was stopped and discarded: going back to it needs new keys.
    with pytest.raises(KeySetNotProgrammedError):
        device.handle(go(5, KeySet.K0, Direction.RX, SubStream.PR), SESSION)


def test_refresh_one_slot_at_a_time(device: IdeKmDevice) -> None:
    """Key sets switch per slot: a half-switched stream stays Secure (mixed K0/K1)."""
    secure(device)
    program(device, 5, KeySet.K1)
    device.handle(go(5, KeySet.K1, Direction.RX, SubStream.PR), SESSION)
    assert device.stream_state(0, 5) == StreamState.SECURE
    assert device.active_key_set(0, 5) is None


# --- refusals, one per rule --------------------------------------------------------------------


def test_in_the_clear_refused(device: IdeKmDevice) -> None:
    for payload in (Query(0).encode(), key_prog(5, KeySet.K0, Direction.RX, SubStream.PR),
                    go(5, KeySet.K0, Direction.RX, SubStream.PR), b"\x00", b""):
        with pytest.raises(UnsecuredRequestError) as info:
            device.handle(payload, None)
        assert info.value.error_code == SpdmErrorCode.UNEXPECTED_REQUEST
    assert device.stream_session(0, 5) is None


def test_other_session_refused_while_keys_are_bound(device: IdeKmDevice) -> None:
    """Keys only from the session that programmed the first key; TIV 5.1 drops even QUERY."""
    assert ack_status(device, key_prog(5, KeySet.K0, Direction.RX, SubStream.PR)) == KpAckStatus.SUCCESS
    for payload in (Query(0).encode(), key_prog(5, KeySet.K0, Direction.RX, SubStream.NPR),
                    key_prog(0, KeySet.K0, Direction.RX, SubStream.PR),
                    go(5, KeySet.K0, Direction.RX, SubStream.PR),
                    stop(5, KeySet.K0, Direction.RX, SubStream.PR)):
        with pytest.raises(SessionMismatchError) as info:
            device.handle(payload, OTHER)
        assert info.value.error_code == SpdmErrorCode.UNEXPECTED_REQUEST
    assert device.stream_session(0, 5) == SESSION
    assert ack_status(device, key_prog(5, KeySet.K0, Direction.RX, SubStream.NPR)) == KpAckStatus.SUCCESS


def test_another_session_may_program_after_the_first_ends(device: IdeKmDevice) -> None:
    """TIV 5.2."""
    secure(device)
    device.session_ended(SESSION)
    secure(device, session=OTHER)
    assert device.stream_session(0, 5) == OTHER


@pytest.mark.parametrize("length", [8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 47, 49, 52])
def test_key_prog_wrong_length_gets_status_1(device: IdeKmDevice, length: int) -> None:
    """TIV 2.2 (lengths 8 to 44 step 4), and longer ones such as CXL's 52-byte KEY_PROG."""
    full = key_prog(5, KeySet.K1, Direction.TX, SubStream.NPR, port=1)
    payload = (full + bytes(8))[:length]
    ack = KpAck.decode(device.handle(payload, SESSION))
    assert ack == KpAck(5, KpAckStatus.INCORRECT_LENGTH, kss(KeySet.K1, Direction.TX, SubStream.NPR), 1)
    assert device.stream_session(0, 5) is None


@pytest.mark.parametrize("port", [2, 0xFF])
def test_key_prog_bad_port_gets_status_2(device: IdeKmDevice, port: int) -> None:
    """TIV 2.3: PortIndex > MaxPortIndex."""
    ack = KpAck.decode(device.handle(key_prog(5, KeySet.K0, Direction.RX, SubStream.PR, port), SESSION))
    assert (ack.status, ack.port_index, ack.stream_id) == (KpAckStatus.UNSUPPORTED_PORT_INDEX, port, 5)


def test_key_prog_bad_stream_gets_status_3(device: IdeKmDevice) -> None:
    """TIV 2.6: a StreamID the port does not have (9 is port 1's link stream)."""
    for stream in (1, 9, 0xFF):
        assert ack_status(device, key_prog(stream, KeySet.K0, Direction.RX, SubStream.PR)) \
            == KpAckStatus.UNSUPPORTED_VALUE
    assert device.stream_session(0, 0) is None


@pytest.mark.parametrize("sub_stream", range(3, 16))
def test_key_prog_bad_sub_stream_gets_status_3(device: IdeKmDevice, sub_stream: int) -> None:
    """TIV 2.4, with the refused byte echoed."""
    ack = KpAck.decode(device.handle(key_prog(5, KeySet.K0, Direction.TX, sub_stream), SESSION))
    assert ack.status == KpAckStatus.UNSUPPORTED_VALUE
    assert ack.key_sub_stream == kss(KeySet.K0, Direction.TX, sub_stream)


@pytest.mark.parametrize("ifv", [0, 2, 0xFF, 1 << 32])
def test_key_prog_bad_ifv_gets_status_3(device: IdeKmDevice, ifv: int) -> None:
    """TIV 2.5: the initial invocation field must be 1."""
    assert ack_status(device, key_prog(5, KeySet.K0, Direction.RX, SubStream.PR, ifv=ifv)) \
        == KpAckStatus.UNSUPPORTED_VALUE


def test_key_prog_into_the_running_key_set_gets_status_3(device: IdeKmDevice) -> None:
    """The active key set of a slot cannot be overwritten: a refresh programs the other one."""
    secure(device)
    assert ack_status(device, key_prog(5, KeySet.K0, Direction.TX, SubStream.CPL)) \
        == KpAckStatus.UNSUPPORTED_VALUE
    assert ack_status(device, key_prog(5, KeySet.K1, Direction.TX, SubStream.CPL)) == KpAckStatus.SUCCESS
    assert device.stream_state(0, 5) == StreamState.SECURE


def test_go_before_the_key_is_programmed(device: IdeKmDevice) -> None:
    with pytest.raises(KeySetNotProgrammedError) as info:
        device.handle(go(5, KeySet.K0, Direction.RX, SubStream.PR), SESSION)
    assert info.value.error_code == SpdmErrorCode.UNEXPECTED_REQUEST
    assert ack_status(device, key_prog(5, KeySet.K0, Direction.RX, SubStream.PR)) == KpAckStatus.SUCCESS
    with pytest.raises(KeySetNotProgrammedError):
        device.handle(go(5, KeySet.K1, Direction.RX, SubStream.PR), SESSION)   # the other set
    with pytest.raises(KeySetNotProgrammedError):
        device.handle(go(5, KeySet.K0, Direction.RX, SubStream.NPR), SESSION)  # the next slot
    assert KGoStopAck.decode(device.handle(go(5, KeySet.K0, Direction.RX, SubStream.PR), SESSION)) \
        == KGoStopAck(5, kss(KeySet.K0, Direction.RX, SubStream.PR), 0)


@pytest.mark.parametrize(("payload", "match"), [
    (go(5, KeySet.K0, Direction.RX, SubStream.PR, port=2), "PortIndex 2"),
    (stop(5, KeySet.K0, Direction.RX, SubStream.PR, port=7), "PortIndex 7"),
    (go(1, KeySet.K0, Direction.RX, SubStream.PR), "no stream 1"),
    (stop(9, KeySet.K0, Direction.RX, SubStream.PR), "no stream 9"),
    (go(5, KeySet.K0, Direction.RX, 3), "sub-stream 3"),
    (stop(5, KeySet.K1, Direction.TX, 0xF), "sub-stream 15"),
], ids=["go-port", "stop-port", "go-stream", "stop-stream", "go-sub-stream", "stop-sub-stream"])
def test_go_stop_bad_fields_get_invalid_request(device: IdeKmDevice, payload: bytes, match: str) -> None:
    with pytest.raises(InvalidFieldError, match=match) as info:
        device.handle(payload, SESSION)
    assert info.value.error_code == SpdmErrorCode.INVALID_REQUEST


def test_query_bad_port_gets_invalid_request(device: IdeKmDevice) -> None:
    with pytest.raises(InvalidFieldError) as info:
        device.handle(Query(2).encode(), SESSION)
    assert info.value.error_code == SpdmErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("object_id", [0x01, 0x03, 0x06, 0x07, 0x08, 0x80, 0xFF])
def test_objects_that_are_no_request_get_unsupported_request(device: IdeKmDevice, object_id: int) -> None:
    """0x07 is CXL IDE_KM's GET_KEY; 1/3/6 are responses."""
    with pytest.raises(UnsupportedObjectError) as info:
        device.handle(bytes([0, object_id]) + bytes(6), SESSION)
    assert (info.value.error_code, info.value.error_data) == (SpdmErrorCode.UNSUPPORTED_REQUEST, 0xFE)


@pytest.mark.parametrize("payload", [b"", b"\x00", b"\x01\x00\x00\x00", b"\x00\x00\x00",
                                     b"\x00\x00\x00\x00\x00", b"\x00\x02\x00\x00\x00\x00\x00",
                                     b"\x00\x04\x00\x00\x00\x00\x00", b"\x00\x05" + bytes(7)])
def test_malformed_requests_get_invalid_request(device: IdeKmDevice, payload: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        device.handle(payload, SESSION)
    assert info.value.error_code == SpdmErrorCode.INVALID_REQUEST


def test_session_end_makes_streams_insecure(device: IdeKmDevice) -> None:
    calls = insecure_calls(device)
    secure(device)
    program(device, 0, KeySet.K0)   # bound, not Secure: no call for stream 0
    device.session_ended(OTHER)
    assert device.stream_state(0, 5) == StreamState.SECURE
    device.session_ended(SESSION)
    assert calls == [(0, 5)]
    assert device.stream_state(0, 5) == StreamState.INSECURE
    assert device.stream_session(0, 5) is None and device.stream_session(0, 0) is None
    with pytest.raises(KeySetNotProgrammedError):   # the keys went with the session
        device.handle(go(5, KeySet.K0, Direction.RX, SubStream.PR), OTHER)


def test_integrity_failure_makes_the_stream_insecure(device: IdeKmDevice) -> None:
    calls = insecure_calls(device)
    secure(device)
    device.report_integrity_failure(0, 5)
    assert calls == [(0, 5)]
    assert device.stream_state(0, 5) == StreamState.INSECURE
    assert device.stream_session(0, 5) == SESSION
    secure(device)


def test_stop_of_an_idle_or_other_key_set_is_acknowledged(device: IdeKmDevice) -> None:
    calls = insecure_calls(device)
    device.handle(stop(5, KeySet.K1, Direction.RX, SubStream.PR), SESSION)
    secure(device)
    program(device, 5, KeySet.K1)
    device.handle(stop(5, KeySet.K1, Direction.RX, SubStream.PR), SESSION)   # discards K1 there only
    assert device.stream_state(0, 5) == StreamState.SECURE
    with pytest.raises(KeySetNotProgrammedError):
        device.handle(go(5, KeySet.K1, Direction.RX, SubStream.PR), SESSION)
    assert calls == []


# --- configuration and queries -------------------------------------------------------------------


@pytest.mark.parametrize("ports", [
    (),
    (PortConfig.selective((0,)),) * 257,
    (PortConfig.selective((3, 3)),),
    (PortConfig(IdeRegisterBlock(), stream_ids=frozenset({256})),),
])
def test_configuration_errors(ports: tuple[PortConfig, ...]) -> None:
    with pytest.raises(ConfigurationError):
        IdeKmDevice(IdeKmDeviceConfig(ports))


def test_selective_port_needs_a_stream() -> None:
    with pytest.raises(ConfigurationError):
        PortConfig.selective(())


def test_unknown_stream_or_port_is_the_callers_error(device: IdeKmDevice) -> None:
    for port, stream in ((0, 9), (2, 0), (-1, 0)):
        with pytest.raises(LocalProtocolError):
            device.stream_state(port, stream)
        with pytest.raises(LocalProtocolError):
            device.stream_session(port, stream)
    with pytest.raises(LocalProtocolError):
        device.report_integrity_failure(0, 9)
    assert device.max_port_index == 1
