"""TDISP against the shared captures (spdm-emu's requester and TDISP sample device, decrypted).

Every captured TDISP payload decodes and re-encodes to the same bytes; our
device model, configured like the reference device, answers the captured
requests in order with the same responses (byte for byte, apart from the
report's MMIO first pages: we add MMIO_REPORTING_OFFSET as PCIe 6.x §11.3.8
says, the sample does not -- PROTOCOLS.md §9.4); and our requester, asked for
the same steps, sends the captured requests byte for byte and accepts the
captured responses.

``vendor_exchanges`` gives every StandardID 3 exchange; CXL's TSP also uses
Protocol ID 0x01 (under VendorID 0x1E98), so the TDISP ones are picked by the
reference decoder's line for the request (spdm_dump, stored with the capture).
"""

from __future__ import annotations

from functools import cache

import pytest

from tdisp import (
    InterfaceLocked,
    InterfaceReportReceived,
    InterfaceStarted,
    InterfaceStateReceived,
    InterfaceStopped,
    TdispCapabilitiesReceived,
    TdispDevice,
    TdispEvent,
    TdispRequester,
    TdispRequesterConfig,
    TdispVersionNegotiated,
    TdiState,
)
from tdisp.messages import (
    MANDATORY_REQUESTS,
    DeviceInterfaceReport,
    GetDeviceInterfaceReport,
    InterfaceReport,
    LockInterfaceFlags,
    LockInterfaceRequest,
    LockInterfaceResponse,
    TdispCapabilities,
    TdispRequestCode,
    decode_request,
    decode_response,
)
from tests.vectors import CXL_VENDOR, SETS, VendorExchange, dump_lines, vendor_exchanges

from .helpers import REFERENCE_OFFSET, REFERENCE_TDI, FixedRng, keyed_on, reference_config
from .test_report import REFERENCE_REPORT

RUN_LENGTH = 11
"""Each captured TDISP run: version, caps, state, lock, state, report x2, start, state, stop, state."""


@cache
def tdisp_exchanges(name: str) -> tuple[VendorExchange, ...]:
    """The capture's TDISP exchanges (PCI-SIG VendorID, Protocol ID 1), in order."""
    lines = {}
    for line in dump_lines(name):
        number = line.split(" ", 1)[0]
        if number.isdigit():
            lines[int(number)] = line
    # spdm_dump numbers records from 1; the loader's index is 0-based
    return tuple(e for e in vendor_exchanges(name)
                 if e.protocol == 1 and "(vendor_id=0x0001) (ProtID=0x01) TDISP(" in lines[e.index + 1])


def runs(name: str) -> list[list[VendorExchange]]:
    """The captured TDISP flows, each starting with GET_TDISP_VERSION."""
    out: list[list[VendorExchange]] = []
    for exchange in tdisp_exchanges(name):
        if exchange.request[2] == TdispRequestCode.GET_TDISP_VERSION:
            out.append([])
        out[-1].append(exchange)
    return out


@pytest.mark.parametrize("name", SETS)
def test_every_tdisp_payload_round_trips(name: str) -> None:
    exchanges = tdisp_exchanges(name)
    assert len(exchanges) == RUN_LENGTH * len(runs(name)) >= 2 * RUN_LENGTH
    for exchange in exchanges:
        request = decode_request(exchange.request)
        response = decode_response(exchange.response)
        assert request.raw == exchange.request and request.encode() == exchange.request
        assert response.raw == exchange.response and response.encode() == exchange.response
        assert response.CODE == request.CODE - 0x80
        assert request.interface_id == response.interface_id == REFERENCE_TDI


@pytest.mark.parametrize("name", SETS)
def test_only_cxl_tsp_is_left_out(name: str) -> None:
    # vendor_exchanges() keeps PCI-SIG's VendorID only; CXL's TSP (VendorID 0x1E98, also
    # Protocol ID 1) is all in the CXL listing, and every PCI-SIG protocol-1 exchange is TDISP.
    assert set(tdisp_exchanges(name)) == {e for e in vendor_exchanges(name) if e.protocol == 1}
    cxl = [e for e in vendor_exchanges(name, CXL_VENDOR) if e.protocol == 1]
    cxl_lines = [line for line in dump_lines(name) if "REQ->RSP" in line and "CXL_TSP(" in line]
    assert len(cxl) == len(cxl_lines) > 0


@pytest.mark.parametrize("name", SETS)
def test_trace_facts(name: str) -> None:
    # PROTOCOLS.md §9 TRACE
    for run in runs(name):
        assert run[0].request == bytes.fromhex("01 10 81 00 00 ef be 00 00") + bytes(8)
        caps = decode_response(run[1].response)
        assert isinstance(caps, TdispCapabilities) and caps.req_msgs_supported == MANDATORY_REQUESTS
        assert run[1].response[21] == 0xFE
        lock = decode_request(run[3].request)
        assert isinstance(lock, LockInterfaceRequest)
        assert (lock.flags, lock.default_stream_id, lock.mmio_reporting_offset) == (
            LockInterfaceFlags(0x7), 0, 0xD0000000)
        first, second = (decode_response(e.response) for e in run[5:7])
        assert isinstance(first, DeviceInterfaceReport) and isinstance(second, DeviceInterfaceReport)
        assert (first.portion_length, first.remainder_length) == (0x40, 0x24)
        assert (second.portion_length, second.remainder_length) == (0x24, 0)
        report = InterfaceReport.decode(first.report_bytes + second.report_bytes)
        assert report.raw == REFERENCE_REPORT
        assert len(report.mmio_ranges) == 4 and len(report.device_specific_info) == 16


def _nonces(run: list[VendorExchange]) -> list[bytes]:
    out = []
    for exchange in run:
        response = decode_response(exchange.response)
        if isinstance(response, LockInterfaceResponse):
            out.append(response.start_interface_nonce)
    return out


def _report(portions: list[bytes]) -> InterfaceReport:
    body = b""
    for payload in portions:
        response = decode_response(payload)
        assert isinstance(response, DeviceInterfaceReport)
        body += response.report_bytes
    return InterfaceReport.decode(body)


@pytest.mark.parametrize("name", SETS)
def test_our_device_answers_the_captured_requests(name: str) -> None:
    for run in runs(name):
        # the nonce is random: draw the one the reference drew, so LOCK's answer matches too
        device = TdispDevice(reference_config(), keyed_on((0, run[0].session_id)),
                             rng=FixedRng(*_nonces(run)))
        ours: list[bytes] = []
        theirs: list[bytes] = []
        for exchange in run:
            answer = device.handle(exchange.request, exchange.session_id)
            assert answer[:3] == exchange.response[:3]  # same message type
            if exchange.request[2] == TdispRequestCode.GET_DEVICE_INTERFACE_REPORT:
                ours.append(answer)
                theirs.append(exchange.response)
                assert answer[:21] == exchange.response[:21]  # same header, portion and remainder lengths
            else:
                assert answer == exchange.response, decode_request(exchange.request)
        mine, reference = _report(ours), _report(theirs)
        # ... and the same report, but for the MMIO_REPORTING_OFFSET the sample does not add
        shift = REFERENCE_OFFSET >> 12
        assert [r.first_page for r in mine.mmio_ranges] == \
            [r.first_page + shift for r in reference.mmio_ranges]
        assert [(r.number_of_pages, r.range_attributes, r.range_id) for r in mine.mmio_ranges] == \
            [(r.number_of_pages, r.range_attributes, r.range_id) for r in reference.mmio_ranges]
        assert (mine.interface_info, mine.msi_x_message_control, mine.lnr_control, mine.tph_control,
                mine.device_specific_info) == (
            reference.interface_info, reference.msi_x_message_control, reference.lnr_control,
            reference.tph_control, reference.device_specific_info)


def _command(requester: TdispRequester, exchange: VendorExchange) -> None:
    """Ask our requester for the step the reference requester took."""
    request = decode_request(exchange.request)
    code = request.CODE
    if code == TdispRequestCode.GET_TDISP_VERSION:
        requester.get_version()
    elif code == TdispRequestCode.GET_TDISP_CAPABILITIES:
        requester.get_capabilities()
    elif isinstance(request, LockInterfaceRequest):
        requester.lock(request.flags, request.default_stream_id, request.mmio_reporting_offset,
                       request.bind_p2p_address_mask)
    elif isinstance(request, GetDeviceInterfaceReport):
        if request.offset == 0:
            requester.get_report()  # the later portions our requester asks for by itself
    elif code == TdispRequestCode.GET_DEVICE_INTERFACE_STATE:
        requester.get_state()
    elif code == TdispRequestCode.START_INTERFACE_REQUEST:
        requester.start()
    else:
        assert code == TdispRequestCode.STOP_INTERFACE_REQUEST
        requester.stop()


@pytest.mark.parametrize("name", SETS)
def test_our_requester_sends_the_captured_requests(name: str) -> None:
    for run in runs(name):
        requester = TdispRequester(TdispRequesterConfig(REFERENCE_TDI, report_portion=0x40))
        events: list[TdispEvent] = []
        for exchange in run:
            _command(requester, exchange)
            assert requester.data_to_send() == exchange.request
            requester.receive_data(exchange.response)
            event = requester.next_event()
            if event is not None:
                events.append(event)
        assert not requester.busy
        kinds = [type(e) for e in events]
        assert kinds == [TdispVersionNegotiated, TdispCapabilitiesReceived, InterfaceStateReceived,
                         InterfaceLocked, InterfaceStateReceived, InterfaceReportReceived, InterfaceStarted,
                         InterfaceStateReceived, InterfaceStopped, InterfaceStateReceived]
        states = [e.state for e in events if isinstance(e, InterfaceStateReceived)]
        assert states == [TdiState.CONFIG_UNLOCKED, TdiState.CONFIG_LOCKED, TdiState.RUN,
                          TdiState.CONFIG_UNLOCKED]
        report = events[5]
        assert isinstance(report, InterfaceReportReceived) and report.raw == REFERENCE_REPORT
