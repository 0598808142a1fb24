"""The TDISP device model against the real requester: one test per rule of PCIe 6.x §11.2-§11.3.

Requester and device talk in memory through ``device.handle(payload,
session_id)``; ``keyed_on`` stands in for the IDE_KM device's record of which
stream was keyed on which session.  Requests the requester will not build
(wrong version, unknown codes, malformed bodies) go to ``handle`` directly.
"""

from __future__ import annotations

import pytest

from spdm.errors import ConfigurationError, DecodeError, RemoteProtocolError, SpdmErrorCode
from tdisp import (
    InterfaceInfo,
    InterfaceLocked,
    InterfaceReportReceived,
    InterfaceStarted,
    InterfaceStateReceived,
    InterfaceStopped,
    LockInterfaceFlags,
    MmioAttributes,
    MmioAttributeSet,
    MmioRange,
    P2pStreamBound,
    P2pStreamUnbound,
    TdispCapabilitiesReceived,
    TdispDevice,
    TdispDeviceConfig,
    TdispErrorCode,
    TdispErrorReceived,
    TdispEvent,
    TdispRequestCode,
    TdispVersionNegotiated,
    TdiState,
)
from tdisp.messages import (
    BindP2pStreamRequest,
    DeviceInterfaceReport,
    GetDeviceInterfaceReport,
    GetDeviceInterfaceState,
    GetTdispVersion,
    LockInterfaceRequest,
    SetMmioAttributeRequest,
    StopInterfaceRequest,
    TdispErrorMessage,
    TdispMessage,
    VdmRequest,
    decode_response,
)
from tdisp.messages.codes import MANDATORY_REQUESTS

from .helpers import (
    OTHER_SESSION,
    REFERENCE_TDI,
    SESSION,
    FixedRng,
    Pair,
    full_device,
    keyed_on,
    reference_config,
    reference_tdi,
)

FLAGS = LockInterfaceFlags.NO_FW_UPDATE | LockInterfaceFlags.LOCK_MSIX
P2P_FLAGS = FLAGS | LockInterfaceFlags.BIND_P2P
OFFSET = 0xD0000000
PF, VF1, VF2 = 0x0100, 0x0101, 0x0102


def refused(event: TdispEvent, code: TdispErrorCode, data: int = 0) -> None:
    assert isinstance(event, TdispErrorReceived), event
    assert (event.error_code, event.error_data) == (code, data), event


def ask(device: TdispDevice, message: TdispMessage, session_id: int | None = SESSION) -> TdispMessage:
    return decode_response(device.handle(message.encode(), session_id))


def locked_pair(device: TdispDevice | None = None, flags: LockInterfaceFlags = FLAGS,
                interface_id: int = REFERENCE_TDI) -> Pair:
    pair = Pair(device or full_device(), interface_id)
    pair.negotiate()
    assert isinstance(pair.run("lock", flags, 0, OFFSET), InterfaceLocked)
    return pair


def running_pair(device: TdispDevice | None = None, flags: LockInterfaceFlags = FLAGS,
                 interface_id: int = REFERENCE_TDI) -> Pair:
    pair = locked_pair(device, flags, interface_id)
    assert isinstance(pair.run("start"), InterfaceStarted)
    return pair


def in_state(state: TdiState) -> Pair:
    """A negotiated pair whose TDI is in ``state``."""
    pair = Pair(full_device())
    pair.negotiate()
    if state != TdiState.CONFIG_UNLOCKED:
        pair.run("lock", P2P_FLAGS, 0, OFFSET)
    if state == TdiState.RUN:
        pair.run("start")
    if state == TdiState.ERROR:
        pair.device.config_changed(REFERENCE_TDI)
    assert pair.device.state(REFERENCE_TDI) == state
    return pair


# --- the whole flow --------------------------------------------------------------------------

def test_full_flow() -> None:
    pair = Pair(full_device(), report_portion=0x40)
    version = pair.run("get_version")
    assert isinstance(version, TdispVersionNegotiated) and version.version == 0x10
    caps = pair.run("get_capabilities")
    assert isinstance(caps, TdispCapabilitiesReceived)
    assert caps.req_msgs_supported == set(TdispRequestCode) - {TdispRequestCode.VDM_REQUEST}
    locked = pair.run("lock", FLAGS, 0, OFFSET)
    assert isinstance(locked, InterfaceLocked) and len(locked.start_interface_nonce) == 32
    report = pair.run("get_report")
    assert isinstance(report, InterfaceReportReceived)
    assert len(pair.sent) == 5  # two portions of 0x40 and 0x24
    assert report.report.interface_info == InterfaceInfo.NO_FW_UPDATE | InterfaceInfo.DMA_WITHOUT_PASID
    assert [r.first_page for r in report.report.mmio_ranges] == [0xD0000, 0xD8000, 0xE0000, 0xF0000]
    assert isinstance(pair.run("start"), InterfaceStarted)
    state = pair.run("get_state")
    assert isinstance(state, InterfaceStateReceived) and state.state == TdiState.RUN
    assert isinstance(pair.run("stop"), InterfaceStopped)
    state = pair.run("get_state")
    assert isinstance(state, InterfaceStateReceived) and state.state == TdiState.CONFIG_UNLOCKED


# --- LOCK_INTERFACE_REQUEST (§11.3.8) ----------------------------------------------------------

def test_lock_twice() -> None:
    pair = locked_pair()
    refused(pair.run("lock", FLAGS, 0, OFFSET), TdispErrorCode.INVALID_INTERFACE_STATE)
    pair.run("start")
    refused(pair.run("lock", FLAGS, 0, OFFSET), TdispErrorCode.INVALID_INTERFACE_STATE)
    assert pair.device.state(REFERENCE_TDI) == TdiState.RUN


def test_lock_without_ide_keys_on_this_session() -> None:
    pair = Pair(full_device(ide_check=keyed_on()))
    pair.negotiate()
    refused(pair.run("lock", FLAGS, 0, OFFSET), TdispErrorCode.INVALID_REQUEST)
    assert pair.device.state(REFERENCE_TDI) == TdiState.CONFIG_UNLOCKED
    # keys on this session, but for another stream than the default one asked for
    pair = Pair(full_device())
    pair.negotiate()
    refused(pair.run("lock", FLAGS, 5, OFFSET), TdispErrorCode.INVALID_REQUEST)


def test_lock_from_another_session() -> None:
    # the stream was keyed on SESSION: a LOCK arriving on another session is refused
    pair = Pair(full_device(ide_check=keyed_on((0, SESSION))), session_id=OTHER_SESSION)
    pair.negotiate()
    refused(pair.run("lock", FLAGS, 0, OFFSET), TdispErrorCode.INVALID_REQUEST)
    assert isinstance(pair.run("lock", FLAGS, 0, OFFSET, session_id=SESSION), InterfaceLocked)
    # ... and the nonce is good only on the session that locked (every move from one session)
    refused(pair.run("start"), TdispErrorCode.INVALID_NONCE)
    assert isinstance(pair.run("start", session_id=SESSION), InterfaceStarted)


def test_lock_with_unsupported_flags() -> None:
    device = TdispDevice(reference_config(), keyed_on((0, SESSION)), rng=FixedRng())
    pair = Pair(device)
    pair.run("get_version")  # no capabilities: the requester does not know to hold back
    refused(pair.run("lock", LockInterfaceFlags.BIND_P2P, 0, 0), TdispErrorCode.INVALID_REQUEST)
    assert device.state(REFERENCE_TDI) == TdiState.CONFIG_UNLOCKED


@pytest.mark.parametrize(("first_page", "offset"), [
    (0, -1),  # underflow
    (0x10, -0x10001),
    ((1 << 52) - 8, 0x1000),  # the range's end passes 2**64
    (1 << 51, (1 << 63) - 1),
])
def test_lock_with_an_offset_that_overflows(first_page: int, offset: int) -> None:
    tdi = reference_tdi(mmio_ranges=(MmioRange(first_page, 8, MmioAttributes(0), 0),))
    pair = Pair(full_device(tdi))
    pair.negotiate()
    refused(pair.run("lock", FLAGS, 0, offset), TdispErrorCode.INVALID_REQUEST)
    assert isinstance(pair.run("lock", FLAGS, 0, 0), InterfaceLocked)


def test_lock_with_a_negative_offset() -> None:
    tdi = reference_tdi(mmio_ranges=(MmioRange(0x80000, 2, MmioAttributes(0), 0),))
    pair = Pair(full_device(tdi))
    pair.negotiate()
    pair.run("lock", FLAGS, 0, -0x7000_0000)
    report = pair.run("get_report")
    assert isinstance(report, InterfaceReportReceived)
    assert report.report.mmio_ranges[0].first_page == 0x80000 - 0x70000


def test_lock_without_entropy() -> None:
    device = TdispDevice(reference_config(), keyed_on((0, SESSION)), rng=FixedRng(b"short"))
    pair = Pair(device)
    pair.negotiate()
    refused(pair.run("lock", FLAGS, 0, 0), TdispErrorCode.INSUFFICIENT_ENTROPY)
    assert device.state(REFERENCE_TDI) == TdiState.CONFIG_UNLOCKED
    assert isinstance(pair.run("lock", FLAGS, 0, 0), InterfaceLocked)


# --- START_INTERFACE_REQUEST (§11.3.14) --------------------------------------------------------

def test_start_with_a_wrong_nonce() -> None:
    pair = locked_pair()
    refused(pair.run("start", b"\x00" * 32), TdispErrorCode.INVALID_NONCE)
    assert pair.device.state(REFERENCE_TDI) == TdiState.CONFIG_LOCKED
    assert isinstance(pair.run("start"), InterfaceStarted)


@pytest.mark.parametrize("state", [TdiState.CONFIG_UNLOCKED, TdiState.RUN, TdiState.ERROR])
def test_start_outside_config_locked(state: TdiState) -> None:
    pair = in_state(state)
    refused(pair.run("start", b"\x01" * 32), TdispErrorCode.INVALID_INTERFACE_STATE)
    assert pair.device.state(REFERENCE_TDI) == state


def test_the_nonce_dies_when_the_tdi_leaves_config_locked() -> None:
    pair = locked_pair()
    old = pair.requester.start_interface_nonce
    assert old is not None
    pair.device.config_changed(REFERENCE_TDI)  # CONFIG_LOCKED -> ERROR
    pair.run("stop")
    pair.run("lock", FLAGS, 0, OFFSET)
    assert pair.requester.start_interface_nonce != old
    refused(pair.run("start", old), TdispErrorCode.INVALID_NONCE)
    assert isinstance(pair.run("start"), InterfaceStarted)
    # and once used, it is gone: a second START is in the wrong state anyway
    refused(pair.run("start", old), TdispErrorCode.INVALID_INTERFACE_STATE)


# --- GET_DEVICE_INTERFACE_REPORT (§11.3.10) ----------------------------------------------------

@pytest.mark.parametrize("state", [TdiState.CONFIG_UNLOCKED, TdiState.ERROR])
def test_report_outside_locked_or_run(state: TdiState) -> None:
    refused(in_state(state).run("get_report"), TdispErrorCode.INVALID_INTERFACE_STATE)


def test_report_in_run() -> None:
    assert isinstance(running_pair().run("get_report"), InterfaceReportReceived)


def test_report_content_follows_the_lock() -> None:
    tdi = reference_tdi(
        msi_x_message_control=0x8007, lnr_control=0x11, tph_control=0x22,
        mmio_ranges=(MmioRange(0x100, 1, MmioAttributes.MSIX_TABLE, 0),
                     MmioRange(0x101, 1, MmioAttributes.MSIX_PBA, 0),
                     MmioRange(0x200, 16, MmioAttributes(0), 2)))
    for flags, pages, msix, tph in ((LockInterfaceFlags.LOCK_MSIX, [0x100, 0x101, 0x200], 0x8007, 0x22),
                                    (LockInterfaceFlags(0), [0x200], 0, 0)):
        pair = locked_pair(full_device(tdi), flags)
        event = pair.run("get_report")
        assert isinstance(event, InterfaceReportReceived)
        report = event.report
        assert [r.first_page - (OFFSET >> 12) for r in report.mmio_ranges] == pages
        assert (report.msi_x_message_control, report.lnr_control, report.tph_control) == (msix, 0x11, tph)
        assert report.interface_info == InterfaceInfo.DMA_WITHOUT_PASID  # no NO_FW_UPDATE asked


def test_report_portions_are_capped_by_the_device() -> None:
    pair = locked_pair(full_device(report_portion=7))
    pair.sent.clear()
    assert isinstance(pair.run("get_report"), InterfaceReportReceived)
    assert len(pair.sent) == -(-100 // 7)


def test_report_offset_and_length_checked() -> None:
    device = locked_pair().device
    for offset, length in ((5, 0x10), (0, 0)):
        answer = ask(device, GetDeviceInterfaceReport(REFERENCE_TDI, offset=offset, length=length))
        assert isinstance(answer, TdispErrorMessage) and answer.error_code == TdispErrorCode.INVALID_REQUEST
    whole = ask(device, GetDeviceInterfaceReport(REFERENCE_TDI, offset=0, length=0xFFFF))
    assert isinstance(whole, DeviceInterfaceReport)
    assert (whole.portion_length, whole.remainder_length) == (100, 0)


def test_requests_between_report_portions() -> None:
    device = locked_pair().device
    first = ask(device, GetDeviceInterfaceReport(REFERENCE_TDI, offset=0, length=0x40))
    assert isinstance(first, DeviceInterfaceReport) and first.remainder_length == 0x24
    # Table 11-27: "any command between multiple GET_DEVICE_INTERFACE_REPORT"
    answer = ask(device, GetTdispVersion(REFERENCE_TDI))
    assert isinstance(answer, TdispErrorMessage)
    assert answer.error_code == TdispErrorCode.INVALID_INTERFACE_STATE
    # ... except the state query, and the read goes on where it stood
    assert ask(device, GetDeviceInterfaceState(REFERENCE_TDI)).CODE == 0x05
    wrong = ask(device, GetDeviceInterfaceReport(REFERENCE_TDI, offset=0x20, length=0x40))
    assert isinstance(wrong, TdispErrorMessage) and wrong.error_code == TdispErrorCode.INVALID_REQUEST
    rest = ask(device, GetDeviceInterfaceReport(REFERENCE_TDI, offset=0x40, length=0x40))
    assert isinstance(rest, DeviceInterfaceReport) and rest.remainder_length == 0
    assert ask(device, GetTdispVersion(REFERENCE_TDI)).CODE == 0x01
    # STOP abandons a read
    ask(device, GetDeviceInterfaceReport(REFERENCE_TDI, offset=0, length=0x10))
    assert ask(device, StopInterfaceRequest(REFERENCE_TDI)).CODE == 0x07
    assert ask(device, GetTdispVersion(REFERENCE_TDI)).CODE == 0x01


# --- BIND / UNBIND / SET_MMIO_ATTRIBUTE (§11.3.18-§11.3.22) -----------------------------------

@pytest.mark.parametrize("state", [TdiState.CONFIG_UNLOCKED, TdiState.CONFIG_LOCKED, TdiState.ERROR])
@pytest.mark.parametrize("command", ["bind_p2p", "unbind_p2p", "set_mmio_attribute"])
def test_run_only_requests_outside_run(state: TdiState, command: str) -> None:
    pair = in_state(state)
    arg = MmioRange(0xD8000, 4, MmioAttributes.IS_NON_TEE_MEM, 2) if command == "set_mmio_attribute" else 1
    refused(pair.run(command, arg), TdispErrorCode.INVALID_INTERFACE_STATE)
    assert pair.device.state(REFERENCE_TDI) == state


def test_bind_and_unbind_p2p() -> None:
    pair = running_pair(flags=P2P_FLAGS)
    bound = pair.run("bind_p2p", 1)
    assert isinstance(bound, P2pStreamBound) and bound.p2p_stream_id == 1
    assert pair.device.p2p_streams(REFERENCE_TDI) == {1}
    refused(pair.run("bind_p2p", 1), TdispErrorCode.INVALID_REQUEST)  # already bound
    refused(pair.run("bind_p2p", 0), TdispErrorCode.INVALID_REQUEST)  # the default stream
    refused(pair.run("bind_p2p", 9), TdispErrorCode.INVALID_REQUEST)  # not keyed on the locking session
    unbound = pair.run("unbind_p2p", 1)
    assert isinstance(unbound, P2pStreamUnbound) and unbound.p2p_stream_id == 1
    refused(pair.run("unbind_p2p", 1), TdispErrorCode.INVALID_REQUEST)  # no longer bound
    assert pair.device.p2p_streams(REFERENCE_TDI) == frozenset()


def test_bind_p2p_needs_the_lock_flag() -> None:
    pair = running_pair(flags=FLAGS)
    refused(pair.run("bind_p2p", 1), TdispErrorCode.INVALID_REQUEST)
    refused(pair.run("unbind_p2p", 1), TdispErrorCode.INVALID_REQUEST)


def test_set_mmio_attribute() -> None:
    pair = running_pair()
    report = pair.run("get_report")
    assert isinstance(report, InterfaceReportReceived)
    target = report.report.mmio_ranges[1]
    assert target.range_attributes == MmioAttributes.IS_MEM_ATTR_UPDATABLE
    wanted = MmioRange(target.first_page, target.number_of_pages, MmioAttributes.IS_NON_TEE_MEM, 2)
    event = pair.run("set_mmio_attribute", wanted)
    assert isinstance(event, MmioAttributeSet) and event.mmio_range == wanted
    assert pair.device.mmio_ranges(REFERENCE_TDI)[1].range_attributes == \
        MmioAttributes.IS_NON_TEE_MEM | MmioAttributes.IS_MEM_ATTR_UPDATABLE
    # the report keeps the attributes the range was locked with (Table 11-15)
    again = pair.run("get_report")
    assert isinstance(again, InterfaceReportReceived) and again.raw == report.raw
    back = MmioRange(target.first_page, target.number_of_pages, MmioAttributes(0), 2)
    assert isinstance(pair.run("set_mmio_attribute", back), MmioAttributeSet)
    assert pair.device.mmio_ranges(REFERENCE_TDI)[1].range_attributes == MmioAttributes.IS_MEM_ATTR_UPDATABLE
    fixed = report.report.mmio_ranges[0]  # IS_NON_TEE_MEM, not updatable
    refused(pair.run("set_mmio_attribute", MmioRange(fixed.first_page, 1, MmioAttributes(0), 1)),
            TdispErrorCode.INVALID_REQUEST)
    refused(pair.run("set_mmio_attribute", MmioRange(0x1234, 4, MmioAttributes(0), 2)),
            TdispErrorCode.INVALID_REQUEST)  # not a range of the TDI
    refused(pair.run("set_mmio_attribute", MmioRange(target.first_page, 4, MmioAttributes.MSIX_TABLE, 2)),
            TdispErrorCode.INVALID_REQUEST)  # only IS_NON_TEE_MEM may be set


# --- STOP_INTERFACE_REQUEST (§11.3.16) ---------------------------------------------------------

@pytest.mark.parametrize("state", list(TdiState))
def test_stop_from_each_state(state: TdiState) -> None:
    pair = in_state(state)
    assert isinstance(pair.run("stop"), InterfaceStopped)
    assert pair.device.state(REFERENCE_TDI) == TdiState.CONFIG_UNLOCKED
    assert pair.device.mmio_ranges(REFERENCE_TDI) == ()
    assert isinstance(pair.run("lock", FLAGS, 0, OFFSET), InterfaceLocked)


# --- faults (§11.2, §11.4.3, §11.4.5, §11.4.9) -------------------------------------------------

@pytest.mark.parametrize("state", [TdiState.CONFIG_LOCKED, TdiState.RUN])
def test_session_end_moves_the_tdi_to_error(state: TdiState) -> None:
    pair = in_state(state)
    pair.device.session_ended(OTHER_SESSION)
    assert pair.device.state(REFERENCE_TDI) == state
    pair.device.session_ended(SESSION)
    assert pair.device.state(REFERENCE_TDI) == TdiState.ERROR
    event = pair.run("get_state")
    assert isinstance(event, InterfaceStateReceived) and event.state == TdiState.ERROR
    refused(pair.run("get_report"), TdispErrorCode.INVALID_INTERFACE_STATE)


def test_session_end_leaves_unlocked_tdis_alone() -> None:
    pair = in_state(TdiState.CONFIG_UNLOCKED)
    pair.device.session_ended(SESSION)
    assert pair.device.state(REFERENCE_TDI) == TdiState.CONFIG_UNLOCKED


@pytest.mark.parametrize("state", [TdiState.CONFIG_LOCKED, TdiState.RUN])
def test_stream_insecure_moves_the_tdi_to_error(state: TdiState) -> None:
    pair = in_state(state)
    pair.device.stream_insecure(3)
    assert pair.device.state(REFERENCE_TDI) == state
    pair.device.stream_insecure(0)
    assert pair.device.state(REFERENCE_TDI) == TdiState.ERROR


def test_a_bound_p2p_stream_going_insecure_moves_the_tdi_to_error() -> None:
    pair = running_pair(flags=P2P_FLAGS)
    pair.run("bind_p2p", 2)
    pair.device.stream_insecure(2)
    assert pair.device.state(REFERENCE_TDI) == TdiState.ERROR


@pytest.mark.parametrize("state", [TdiState.CONFIG_LOCKED, TdiState.RUN])
def test_config_change_moves_the_tdi_to_error(state: TdiState) -> None:
    pair = in_state(state)
    pair.device.config_changed(REFERENCE_TDI)
    assert pair.device.state(REFERENCE_TDI) == TdiState.ERROR
    refused(pair.run("start", b"\x00" * 32), TdispErrorCode.INVALID_INTERFACE_STATE)
    pair.device.config_changed(REFERENCE_TDI)  # ERROR stays ERROR
    assert pair.device.state(REFERENCE_TDI) == TdiState.ERROR
    with pytest.raises(ConfigurationError):
        pair.device.config_changed(0x1234)


def test_function_level_reset_of_a_pf_hits_its_vfs() -> None:
    device = full_device(reference_tdi(PF), reference_tdi(VF1, physical_function=PF),
                         reference_tdi(VF2, physical_function=PF), reference_tdi(0x0200))
    for tdi in (PF, VF1, VF2, 0x0200):
        running_pair(device, interface_id=tdi)
    device.function_level_reset(VF1)
    assert [device.state(t) for t in (PF, VF1, VF2, 0x0200)] == \
        [TdiState.RUN, TdiState.ERROR, TdiState.RUN, TdiState.RUN]
    device.function_level_reset(PF)
    assert [device.state(t) for t in (PF, VF1, VF2, 0x0200)] == \
        [TdiState.ERROR, TdiState.ERROR, TdiState.ERROR, TdiState.RUN]


# --- interface IDs, support, versions, transport -----------------------------------------------

def test_unknown_tdi() -> None:
    pair = Pair(full_device(), interface_id=0xBEEE)
    event = pair.run("get_version")
    assert isinstance(event, TdispErrorReceived) and event.error_code == TdispErrorCode.INVALID_INTERFACE
    answer = ask(pair.device, GetDeviceInterfaceState(0xBEEE))
    assert isinstance(answer, TdispErrorMessage) and answer.interface_id == 0xBEEE


def test_interface_id_segment() -> None:
    device = full_device(segment=2)
    for function_id, ok in ((0x0002_BEEF, True), (0x0102_BEEF, True), (0x0103_BEEF, False),
                            (0xFE00_BEEF, True)):  # b31:25 reserved; b24 validates b23:16
        answer = ask(device, GetDeviceInterfaceState(function_id))
        assert isinstance(answer, TdispErrorMessage) != ok, hex(function_id)
        assert answer.interface_id == function_id


def test_unsupported_optional_requests() -> None:
    device = TdispDevice(reference_config(), keyed_on((0, SESSION)), rng=FixedRng())
    pair = Pair(device)
    pair.run("get_version")  # the requester would refuse them knowing the capabilities
    for command, arg, code in (("bind_p2p", 1, 0x88), ("unbind_p2p", 1, 0x89),
                               ("set_mmio_attribute", MmioRange(0, 1), 0x8A)):
        refused(pair.run(command, arg), TdispErrorCode.UNSUPPORTED_REQUEST, code)
    answer = ask(device, VdmRequest(REFERENCE_TDI, vendor_id=b"\x86\x80"))  # no vendor behind VDMs
    assert isinstance(answer, TdispErrorMessage)
    assert (answer.error_code, answer.error_data) == (TdispErrorCode.UNSUPPORTED_REQUEST, 0x8B)
    for code in (0x80, 0x8C, 0xFF, 0x01):  # undefined request codes, and a response code
        raw = bytes([0x01, 0x10, code, 0, 0]) + REFERENCE_TDI.to_bytes(4, "little") + bytes(8)
        answer = decode_response(device.handle(raw, SESSION))
        assert isinstance(answer, TdispErrorMessage)
        assert (answer.error_code, answer.error_data) == (TdispErrorCode.UNSUPPORTED_REQUEST, code)


def test_capabilities_list_what_is_configured() -> None:
    pair = Pair(TdispDevice(reference_config(), keyed_on(), rng=FixedRng()))
    pair.run("get_version")
    caps = pair.run("get_capabilities")
    assert isinstance(caps, TdispCapabilitiesReceived)
    assert caps.req_msgs_supported == MANDATORY_REQUESTS
    assert caps.lock_interface_flags_supported == LockInterfaceFlags(0x7)
    assert (caps.dev_addr_width, caps.num_req_this, caps.num_req_all) == (0x30, 0, 0)


def test_tdisp_in_the_clear_is_not_honoured() -> None:
    device = full_device()
    with pytest.raises(RemoteProtocolError) as info:
        device.handle(GetTdispVersion(REFERENCE_TDI).encode(), None)
    assert info.value.error_code == SpdmErrorCode.UNEXPECTED_REQUEST
    # nothing happened to the TDI
    with pytest.raises(RemoteProtocolError):
        device.handle(LockInterfaceRequest(REFERENCE_TDI, flags=FLAGS).encode(), None)
    assert device.state(REFERENCE_TDI) == TdiState.CONFIG_UNLOCKED


def test_payloads_without_a_tdisp_header_raise() -> None:
    device = full_device()
    for payload in (b"", b"\x01", b"\x01\x10\x81", GetTdispVersion(REFERENCE_TDI).encode()[:-1]):
        with pytest.raises(DecodeError):
            device.handle(payload, SESSION)
    ide_km = b"\x00" + GetTdispVersion(REFERENCE_TDI).encode()[1:]
    with pytest.raises(DecodeError) as info:
        device.handle(ide_km, SESSION)
    assert info.value.error_code == SpdmErrorCode.INVALID_REQUEST


def test_malformed_bodies_are_invalid_request() -> None:
    device = full_device()
    for payload in (GetTdispVersion(REFERENCE_TDI).encode() + b"\x00",
                    LockInterfaceRequest(REFERENCE_TDI).encode()[:-1],
                    BindP2pStreamRequest(REFERENCE_TDI, p2p_stream_id=1).encode() + b"\x00"):
        answer = decode_response(device.handle(payload, SESSION))
        assert isinstance(answer, TdispErrorMessage) and answer.error_code == TdispErrorCode.INVALID_REQUEST


def test_versions() -> None:
    device = full_device()
    for version, code, ok in ((0x10, 0x81, True), (0x11, 0x81, True), (0x20, 0x81, False),
                              (0x00, 0x81, False), (0x11, 0x85, False), (0x20, 0x85, False)):
        raw = bytes([0x01, version, code, 0, 0]) + REFERENCE_TDI.to_bytes(4, "little") + bytes(8)
        answer = decode_response(device.handle(raw, SESSION))
        assert answer.version == 0x10
        if ok:
            assert answer.CODE == code - 0x80
        else:
            assert isinstance(answer, TdispErrorMessage)
            assert answer.error_code == TdispErrorCode.VERSION_MISMATCH


def test_several_tdis_are_independent() -> None:
    device = full_device(reference_tdi(PF), reference_tdi(VF1, physical_function=PF),
                         reference_tdi(VF2, physical_function=PF, device_specific_info=b"vf2"))
    pf = running_pair(device, interface_id=PF)
    vf1 = locked_pair(device, interface_id=VF1)
    vf2 = Pair(device, interface_id=VF2)
    vf2.negotiate()
    assert [device.state(t) for t in (PF, VF1, VF2)] == [TdiState.RUN, TdiState.CONFIG_LOCKED,
                                                        TdiState.CONFIG_UNLOCKED]
    # one TDI's nonce does not start another
    pf_nonce = pf.requester.start_interface_nonce
    assert pf_nonce is None  # spent by START
    vf2.run("lock", FLAGS, 0, 0)
    refused(vf2.run("start", vf1.requester.start_interface_nonce), TdispErrorCode.INVALID_NONCE)
    # reports are per TDI
    event = vf2.run("get_report")
    assert isinstance(event, InterfaceReportReceived) and event.report.device_specific_info == b"vf2"
    # a fault on one TDI leaves the others alone
    device.config_changed(VF1)
    assert [device.state(t) for t in (PF, VF1, VF2)] == [TdiState.RUN, TdiState.ERROR,
                                                        TdiState.CONFIG_LOCKED]
    assert isinstance(pf.run("stop"), InterfaceStopped)
    assert [device.state(t) for t in (PF, VF1, VF2)] == [TdiState.CONFIG_UNLOCKED, TdiState.ERROR,
                                                        TdiState.CONFIG_LOCKED]
    # a report read on one TDI does not block another
    first = ask(device, GetDeviceInterfaceReport(VF2, offset=0, length=8))
    assert isinstance(first, DeviceInterfaceReport) and first.remainder_length
    assert isinstance(vf1.run("stop"), InterfaceStopped)


# --- configuration ------------------------------------------------------------------------------

def test_no_ide_requirement() -> None:
    config = reference_config(ide_required=False)
    pair = Pair(TdispDevice(config, rng=FixedRng()))
    pair.negotiate()
    assert isinstance(pair.run("lock", FLAGS, 7, 0), InterfaceLocked)
    # with ide_required False an ide_check is not consulted
    pair = Pair(TdispDevice(config, keyed_on(), rng=FixedRng()))
    pair.negotiate()
    assert isinstance(pair.run("lock", FLAGS, 7, 0), InterfaceLocked)


def test_bad_configurations() -> None:
    with pytest.raises(ConfigurationError):
        TdispDevice(reference_config())  # IDE required, nobody to ask
    with pytest.raises(ConfigurationError):
        TdispDeviceConfig(())
    with pytest.raises(ConfigurationError):
        reference_config(reference_tdi(0x0001_BEEF), reference_tdi(0xBEEF))
    with pytest.raises(ConfigurationError):
        reference_config(optional_requests=frozenset({TdispRequestCode.VDM_REQUEST}))
    with pytest.raises(ConfigurationError):
        reference_config(report_portion=0)
    device = full_device()
    with pytest.raises(ConfigurationError):
        device.state(0x1234)


def test_set_mmio_attribute_request_round_trips_through_the_device() -> None:
    pair = running_pair()
    wanted = MmioRange(0xD8000, 4, MmioAttributes.IS_NON_TEE_MEM, 2)
    answer = ask(pair.device, SetMmioAttributeRequest(REFERENCE_TDI, mmio_range=wanted))
    assert answer.CODE == 0x0A
