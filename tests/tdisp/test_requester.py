"""The TDISP requester engine (tdisp.requester) against scripted responses: API rules and broken peers."""

from __future__ import annotations

import pytest

from spdm.errors import ConfigurationError, DecodeError, NegotiationError, RemoteProtocolError
from tdisp import (
    InterfaceLocked,
    InterfaceReportReceived,
    InterfaceStarted,
    InterfaceStateReceived,
    InterfaceStopped,
    LockInterfaceFlags,
    TdispErrorCode,
    TdispErrorReceived,
    TdispErrorResponse,
    TdispLocalError,
    TdispRequestCode,
    TdispRequester,
    TdispRequesterConfig,
    TdispVersionNegotiated,
    TdiState,
)
from tdisp.messages import (
    DeviceInterfaceReport,
    DeviceInterfaceState,
    GetDeviceInterfaceReport,
    LockInterfaceRequest,
    LockInterfaceResponse,
    RegistryId,
    StartInterfaceRequest,
    StartInterfaceResponse,
    StopInterfaceResponse,
    TdispCapabilities,
    TdispErrorMessage,
    TdispMessage,
    TdispVersion,
    VendorErrorData,
    decode_request,
)
from tdisp.messages.codes import MANDATORY_REQUESTS

from .test_report import REFERENCE_REPORT

IID = 0xBEEF
NONCE = bytes(range(32))


def requester(**config: object) -> TdispRequester:
    return TdispRequester(TdispRequesterConfig(IID, **config))  # type: ignore[arg-type]


def answer(r: TdispRequester, response: TdispMessage | bytes) -> object:
    """Drain the request, feed ``response``, return the next event."""
    assert r.data_to_send()
    r.receive_data(response if isinstance(response, bytes) else response.encode())
    return r.next_event()


def state_of(r: TdispRequester) -> TdiState | None:
    """The requester's view of the TDI (a call, so that a type checker does not narrow it)."""
    return r.state


def negotiated(**config: object) -> TdispRequester:
    r = requester(**config)
    r.get_version()
    assert isinstance(answer(r, TdispVersion(IID, version_num_entries=(0x10,))), TdispVersionNegotiated)
    return r


def with_caps(**caps: object) -> TdispRequester:
    r = negotiated()
    r.get_capabilities()
    fields: dict[str, object] = {"req_msgs_supported": MANDATORY_REQUESTS,
                                 "lock_interface_flags_supported": LockInterfaceFlags(0x7)}
    fields.update(caps)
    answer(r, TdispCapabilities(IID, **fields))  # type: ignore[arg-type]
    return r


def test_version_negotiation_picks_the_highest_common_version() -> None:
    r = requester(versions=(0x10, 0x11))
    assert r.version is None and not r.busy
    r.get_version()
    assert r.busy
    request = r.data_to_send()
    assert request == bytes.fromhex("01 10 81 00 00 ef be 00 00") + bytes(8)
    assert r.data_to_send() == b""  # drained
    r.receive_data(TdispVersion(IID, version_num_entries=(0x10, 0x11, 0x12)).encode())
    event = r.next_event()
    assert event == TdispVersionNegotiated(IID, 0x11, (0x10, 0x11, 0x12))
    assert r.version == 0x11 and not r.busy
    assert r.next_event() is None
    r.get_state()
    assert r.data_to_send()[1] == 0x11  # the negotiated version from now on
    r.receive_data(DeviceInterfaceState(IID, version=0x11).encode())
    assert isinstance(r.next_event(), InterfaceStateReceived)
    r.get_version()  # asked again: still in 1.0, answered in 1.0
    assert r.data_to_send()[1] == 0x10
    r.receive_data(TdispVersion(IID, version_num_entries=(0x10, 0x11)).encode())
    assert r.next_event() == TdispVersionNegotiated(IID, 0x11, (0x10, 0x11))


def test_no_common_version() -> None:
    r = requester()
    r.get_version()
    r.data_to_send()
    r.receive_data(TdispVersion(IID, version_num_entries=(0x20,)).encode())
    with pytest.raises(NegotiationError):
        r.next_event()
    with pytest.raises(TdispLocalError):
        r.get_version()  # poisoned


def test_commands_need_a_version_first() -> None:
    r = requester()
    for command, args in (("get_capabilities", ()), ("lock", (LockInterfaceFlags(0), 0)),
                          ("get_report", ()), ("get_state", ()), ("stop", ()), ("bind_p2p", (1,)),
                          ("start", (NONCE,))):
        with pytest.raises(TdispLocalError):
            getattr(r, command)(*args)
    assert not r.busy


def test_one_request_at_a_time() -> None:
    r = negotiated()
    r.get_state()
    with pytest.raises(TdispLocalError):
        r.get_state()
    with pytest.raises(TdispLocalError):
        r.receive_data(b"x")  # not sent yet
    r.data_to_send()
    r.receive_data(DeviceInterfaceState(IID).encode())
    with pytest.raises(TdispLocalError):
        r.receive_data(DeviceInterfaceState(IID).encode())  # one response already buffered
    assert isinstance(r.next_event(), InterfaceStateReceived)
    with pytest.raises(TdispLocalError):
        r.receive_data(DeviceInterfaceState(IID).encode())  # nothing outstanding


def test_lock_and_start_use_the_nonce() -> None:
    r = with_caps()
    with pytest.raises(TdispLocalError):
        r.start()  # no LOCK yet
    r.lock(LockInterfaceFlags.NO_FW_UPDATE | LockInterfaceFlags.LOCK_MSIX, 3, -0x1000, 0)
    request = r.data_to_send()
    assert decode_request(request) == LockInterfaceRequest(
        IID, flags=LockInterfaceFlags(0x5), default_stream_id=3, mmio_reporting_offset=-0x1000)
    r.receive_data(LockInterfaceResponse(IID, start_interface_nonce=NONCE).encode())
    event = r.next_event()
    assert isinstance(event, InterfaceLocked) and event.start_interface_nonce == NONCE
    assert NONCE.hex() not in repr(event)
    assert (state_of(r), r.start_interface_nonce) == (TdiState.CONFIG_LOCKED, NONCE)
    r.start()
    assert decode_request(r.data_to_send()) == StartInterfaceRequest(IID, start_interface_nonce=NONCE)
    r.receive_data(StartInterfaceResponse(IID).encode())
    assert isinstance(r.next_event(), InterfaceStarted)
    assert (state_of(r), r.start_interface_nonce) == (TdiState.RUN, None)
    with pytest.raises(TdispLocalError):
        r.start(b"short")
    r.stop()
    assert isinstance(answer(r, StopInterfaceResponse(IID)), InterfaceStopped)
    assert state_of(r) == TdiState.CONFIG_UNLOCKED


def test_capabilities_hold_back_what_the_device_cannot_do() -> None:
    r = with_caps()
    with pytest.raises(TdispLocalError):
        r.lock(LockInterfaceFlags.BIND_P2P, 0)
    for command, arg in (("bind_p2p", 1), ("unbind_p2p", 1)):
        with pytest.raises(TdispLocalError):
            getattr(r, command)(arg)
    assert not r.busy
    assert r.capabilities is not None and r.capabilities.dev_addr_width == 0
    r = with_caps(req_msgs_supported=MANDATORY_REQUESTS | {TdispRequestCode.BIND_P2P_STREAM_REQUEST})
    r.bind_p2p(1)
    assert r.busy


def test_values_that_do_not_fit_are_local_errors() -> None:
    r = negotiated()
    with pytest.raises(TdispLocalError):
        r.bind_p2p(256)
    with pytest.raises(TdispLocalError):
        r.lock(LockInterfaceFlags(0), 0, mmio_reporting_offset=1 << 63)
    assert not r.busy


def test_tdisp_error_is_an_event() -> None:
    r = negotiated()
    r.start(NONCE)
    event = answer(r, TdispErrorMessage(IID, error_code=TdispErrorCode.INVALID_NONCE))
    assert isinstance(event, TdispErrorReceived)
    assert (event.request_code, event.error_code, event.name) == (
        TdispRequestCode.START_INTERFACE_REQUEST, TdispErrorCode.INVALID_NONCE, "INVALID_NONCE")
    error = event.to_error()
    assert isinstance(error, TdispErrorResponse) and isinstance(error, RemoteProtocolError)
    assert error.tdisp_code == TdispErrorCode.INVALID_NONCE and "INVALID_NONCE" in str(error)
    r.get_state()  # still usable
    assert not isinstance(answer(r, DeviceInterfaceState(IID)), TdispErrorReceived)


def test_vendor_specific_error_event() -> None:
    r = negotiated()
    r.get_state()
    vendor = VendorErrorData(RegistryId.PCI_SIG, b"\x86\x80", b"\x2a")
    event = answer(r, TdispErrorMessage.vendor_specific(IID, vendor))
    assert isinstance(event, TdispErrorReceived) and event.vendor_error == vendor
    assert event.error_data == 5
    r.get_state()
    event = answer(r, TdispErrorMessage(IID, error_code=0x4242))
    assert isinstance(event, TdispErrorReceived) and event.name == "0x4242" and event.vendor_error is None


def test_report_in_portions() -> None:
    r = negotiated(report_portion=0x40)
    r.get_report()
    first = decode_request(r.data_to_send())
    assert first == GetDeviceInterfaceReport(IID, offset=0, length=0x40)
    r.receive_data(DeviceInterfaceReport(IID, remainder_length=0x24, report_bytes=REFERENCE_REPORT[:0x40])
                   .encode())
    assert r.next_event() is None and r.busy
    second = decode_request(r.data_to_send())
    assert second == GetDeviceInterfaceReport(IID, offset=0x40, length=0x24)
    r.receive_data(DeviceInterfaceReport(IID, remainder_length=0, report_bytes=REFERENCE_REPORT[0x40:])
                   .encode())
    event = r.next_event()
    assert isinstance(event, InterfaceReportReceived) and event.raw == REFERENCE_REPORT
    assert r.report == event.report and len(event.report.mmio_ranges) == 4
    assert not r.busy


def test_a_refused_portion_abandons_the_read() -> None:
    r = negotiated(report_portion=0x40)
    r.get_report()
    r.data_to_send()
    r.receive_data(DeviceInterfaceReport(IID, remainder_length=0x24, report_bytes=REFERENCE_REPORT[:0x40])
                   .encode())
    r.next_event()
    event = answer(r, TdispErrorMessage(IID, error_code=TdispErrorCode.INVALID_INTERFACE_STATE))
    assert isinstance(event, TdispErrorReceived) and not r.busy
    r.get_report()  # starts over at offset 0
    assert decode_request(r.data_to_send()) == GetDeviceInterfaceReport(IID, offset=0, length=0x40)


@pytest.mark.parametrize(("portions", "problem"), [
    ([(b"x" * 0x41, 0)], "answers a"),  # longer than asked
    ([(b"x" * 0x10, 0x30), (b"x" * 0x10, 0x30)], "does not follow"),  # remainder did not shrink
    ([(b"", 5)], "empty report portion"),
    ([(REFERENCE_REPORT[:20], 0)], "malformed InterfaceReport"),
])
def test_broken_report_portions(portions: list[tuple[bytes, int]], problem: str) -> None:
    r = negotiated(report_portion=0x40)
    r.get_report()
    with pytest.raises(RemoteProtocolError, match=problem):
        for data, remainder in portions:
            r.data_to_send()
            r.receive_data(DeviceInterfaceReport(IID, remainder_length=remainder, report_bytes=data).encode())
            r.next_event()
    with pytest.raises(TdispLocalError):
        r.get_state()


def test_report_longer_than_offset_can_address() -> None:
    r = negotiated(report_portion=0xFFFF)
    r.get_report()
    r.data_to_send()
    r.receive_data(DeviceInterfaceReport(IID, remainder_length=0x20, report_bytes=b"x" * 0xFFFF).encode())
    assert r.next_event() is None
    assert decode_request(r.data_to_send()) == GetDeviceInterfaceReport(IID, offset=0xFFFF, length=0x20)
    r.receive_data(DeviceInterfaceReport(IID, remainder_length=0x10, report_bytes=b"x" * 0x10).encode())
    with pytest.raises(RemoteProtocolError, match="OFFSET"):
        r.next_event()


@pytest.mark.parametrize(("response", "problem"), [
    (DeviceInterfaceState(0xBEEE), "about TDI"),
    (DeviceInterfaceState(IID, version=0x11), "TDISPVersion"),
    (StopInterfaceResponse(IID), "answered with"),
    (bytes.fromhex("01 10 33 00 00 ef be 00 00") + bytes(8), "answered with"),
    (b"\x01\x10\x05", "shorter than the TDISP header"),
    (DeviceInterfaceState(IID).encode() + b"\x00", "unexpected byte"),
])
def test_broken_responses_poison_the_engine(response: TdispMessage | bytes, problem: str) -> None:
    r = negotiated()
    r.get_state()
    r.data_to_send()
    r.receive_data(response if isinstance(response, bytes) else response.encode())
    with pytest.raises(RemoteProtocolError, match=problem):
        r.next_event()
    assert not r.busy
    for call in (r.get_state, r.next_event, lambda: r.receive_data(b"")):
        with pytest.raises(TdispLocalError):
            call()


def test_malformed_response_is_a_decode_error() -> None:
    r = negotiated()
    r.get_state()
    r.data_to_send()
    r.receive_data(bytes.fromhex("01 10 05 00 00 ef be 00 00") + bytes(8) + b"\x07")
    with pytest.raises(DecodeError):
        r.next_event()


def test_state_follows_reports_and_successes() -> None:
    r = negotiated()
    assert r.state is None
    r.get_state()
    answer(r, DeviceInterfaceState(IID, tdi_state=TdiState.ERROR))
    assert r.state == TdiState.ERROR
    r.stop()
    answer(r, StopInterfaceResponse(IID))
    assert r.state == TdiState.CONFIG_UNLOCKED
    r.lock(LockInterfaceFlags(0), 0)
    answer(r, TdispErrorMessage(IID, error_code=TdispErrorCode.INVALID_REQUEST))
    assert r.state == TdiState.CONFIG_UNLOCKED and r.start_interface_nonce is None
    r.lock(LockInterfaceFlags(0), 0)
    answer(r, LockInterfaceResponse(IID, start_interface_nonce=NONCE))
    r.get_state()
    answer(r, DeviceInterfaceState(IID, tdi_state=TdiState.ERROR))
    assert r.start_interface_nonce is None  # the device dropped it when leaving CONFIG_LOCKED


@pytest.mark.parametrize("config", [
    {"interface_id": 1 << 32}, {"report_portion": 0}, {"report_portion": 0x10000},
    {"versions": ()}, {"versions": (0x20,)},
])
def test_bad_configurations(config: dict[str, object]) -> None:
    fields: dict[str, object] = {"interface_id": IID}
    fields.update(config)
    with pytest.raises(ConfigurationError):
        TdispRequesterConfig(**fields)  # type: ignore[arg-type]
