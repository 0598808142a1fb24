"""DMTF's reference requester's IDE_KM + TDISP flow runs to its end against ``devsec emulate``'s device.

The captures (vectors/libspdm-doe, decrypted by ``tests.vectors``) hold every
vendor-defined request spdm-emu's requester sent: IDE_KM QUERY and KEY_PROG x6
and K_SET_GO x6 on PortIndex 1, TDISP version / capabilities / state / LOCK /
report / START / STOP on interface 0xBEEF, IDE_KM K_SET_STOP x6, then CXL's
IDE_KM and TSP (VendorID 0x1E98).  Here each is sent, in capture order, through
a real SPDM session of devsec's requester to the device ``devsec emulate``
builds with its default flags, one of our sessions per captured session (ended
where the capture ends it).  The requests go byte for byte, except where the
reference requester itself adapts to its device: START_INTERFACE echoes the
nonce our LOCK_INTERFACE_RSP returned, and the report is read in portions as
our device's RemainderLength says.  Every PCI-SIG request must succeed
(KP_ACK Success, no TDISP_ERROR, the TDI reaching RUN and back); every CXL
request is refused with ERROR UnsupportedRequest, and the session still works.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from functools import partial

import pytest

from devsec.cli import build_parser
from devsec.cli.emulate import device_from_args, model_from_args
from devsec.emulator import SecureDevice
from ide_km import KpAckStatus, ObjectId
from spdm.config import RequesterConfig
from spdm.driver import RequesterDriver
from spdm.errors import RemoteErrorResponse, SpdmErrorCode
from spdm.events import HeartbeatAcknowledged, SessionEstablished, VendorResponseReceived
from spdm.messages import PCI_SIG_STANDARD_ID, PCI_SIG_VENDOR_ID
from spdm.requester import Requester
from tdisp.messages import (
    DeviceInterfaceReport,
    GetDeviceInterfaceReport,
    InterfaceReport,
    LockInterfaceResponse,
    StartInterfaceRequest,
    TdispRequestCode,
    TdispResponseCode,
    TdiState,
    decode_request,
    decode_response,
)
from tests.ide_km.test_vectors import end_session_records
from tests.vectors import CXL_VENDOR, PCI_SIG_VENDOR, SETS, VendorExchange, vendor_exchanges

NOW = datetime.now(UTC)
TDISP, IDE_KM = 1, 0


class Host:
    """devsec's requester in the reference requester's place, one session per captured session."""

    def __init__(self, device: SecureDevice, roots: RequesterConfig) -> None:
        self.requester = Requester(roots)
        self.driver = RequesterDriver(device.spdm.pipe(), self.requester)
        for command in (self.requester.get_version, self.requester.get_capabilities,
                        self.requester.negotiate_algorithms, self.requester.get_digests,
                        lambda: self.requester.get_certificate(0, now=NOW)):
            self.driver.run(command)
        self.sessions: dict[int, int] = {}

    def session(self, captured: int) -> int:
        if captured not in self.sessions:
            [established] = [e for e in self.driver.run(self.requester.key_exchange)
                             if isinstance(e, SessionEstablished)]
            self.sessions[captured] = established.session_id
        return self.sessions[captured]

    def end(self, captured: int) -> None:
        if captured in self.sessions:
            session_id = self.sessions.pop(captured)
            self.driver.run(lambda: self.requester.end_session(session_id))

    def send(self, captured: int, vendor_id: bytes, payload: bytes) -> bytes:
        session_id = self.session(captured)
        events = self.driver.run(lambda: self.requester.vendor_defined(
            PCI_SIG_STANDARD_ID, vendor_id, payload, session_id=session_id))
        return next(e.payload for e in events if isinstance(e, VendorResponseReceived))


def emulated_device() -> tuple[SecureDevice, RequesterConfig]:
    """What ``devsec emulate`` (no flags) serves, and a requester configuration trusting it."""
    args = build_parser().parse_args(["emulate"])
    model = model_from_args(args)
    roots = tuple(model.root_certificate(slot) for slot in model.slots)
    return device_from_args(args, model), RequesterConfig(trust_anchors=roots)


def captured_flow(name: str) -> list[tuple[bytes, VendorExchange]]:
    """Every StandardID-3 exchange of the capture, PCI-SIG's and CXL's, in capture order."""
    flow = [(PCI_SIG_VENDOR, e) for e in vendor_exchanges(name)]
    flow += [(CXL_VENDOR, e) for e in vendor_exchanges(name, CXL_VENDOR)]
    return sorted(flow, key=lambda item: item[1].index)


class Replay:
    """The checks on each answer, and what the reference requester would carry over (the nonce)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.nonce = b""
        self.states: list[TdiState] = []
        self.acks = 0

    def ide_km(self, exchange: VendorExchange) -> None:
        answer = self.host.send(exchange.session_id, PCI_SIG_VENDOR_ID, exchange.request)
        assert answer[1] == exchange.response[1], exchange  # the same response object
        if answer[1] == ObjectId.KP_ACK:
            assert answer[5] == KpAckStatus.SUCCESS
            self.acks += 1
        if answer[1] in (ObjectId.KP_ACK, ObjectId.K_GOSTOP_ACK):
            assert answer == exchange.response  # stream, sub-stream, port 1 echoed as the reference does

    def tdisp(self, exchange: VendorExchange) -> None:
        request = decode_request(exchange.request)
        if isinstance(request, GetDeviceInterfaceReport):
            if request.offset == 0:
                self._report(exchange, request)
            return
        if isinstance(request, StartInterfaceRequest):
            request = dataclasses.replace(request, start_interface_nonce=self.nonce)
        answer = decode_response(self.host.send(exchange.session_id, PCI_SIG_VENDOR_ID, request.encode()))
        assert answer.CODE == decode_response(exchange.response).CODE != TdispResponseCode.TDISP_ERROR
        if isinstance(answer, LockInterfaceResponse):
            self.nonce = answer.start_interface_nonce
        if request.CODE == TdispRequestCode.GET_DEVICE_INTERFACE_STATE:
            self.states.append(TdiState(answer.raw[-1]))
            assert answer.raw == exchange.response  # the same state as the reference device's

    def _report(self, exchange: VendorExchange, first: GetDeviceInterfaceReport) -> None:
        """Portions of the captured length, from offset 0 until our RemainderLength is 0."""
        body, offset = b"", 0
        while True:
            ask = dataclasses.replace(first, offset=offset)
            answer = decode_response(self.host.send(exchange.session_id, PCI_SIG_VENDOR_ID, ask.encode()))
            assert isinstance(answer, DeviceInterfaceReport)
            body += answer.report_bytes
            offset += len(answer.report_bytes)
            if not answer.remainder_length:
                break
        assert InterfaceReport.decode(body).mmio_ranges


@pytest.mark.parametrize("name", SETS)
def test_the_reference_requesters_flow_runs_to_its_end(name: str) -> None:
    device, config = emulated_device()
    host = Host(device, config)
    replay = Replay(host)
    ends = end_session_records(name)
    done = -1
    refused_cxl = 0
    for vendor_id, exchange in captured_flow(name):
        for index in sorted(i for i in ends if done < i < exchange.index):
            host.end(ends[index])
        done = exchange.index
        if vendor_id == CXL_VENDOR:
            with pytest.raises(RemoteErrorResponse) as info:
                host.send(exchange.session_id, CXL_VENDOR, exchange.request)
            assert info.value.code == SpdmErrorCode.UNSUPPORTED_REQUEST
            refused_cxl += 1
        elif exchange.protocol == IDE_KM:
            replay.ide_km(exchange)
        else:
            assert exchange.protocol == TDISP
            replay.tdisp(exchange)
    # the flow ran: every key acknowledged, every TDISP run through RUN and back, CXL refused
    assert replay.acks >= 12 and replay.acks % 6 == 0
    runs = replay.states.count(TdiState.RUN)
    assert runs >= 2 and replay.states.count(TdiState.CONFIG_LOCKED) == runs
    assert replay.states[-1] == TdiState.CONFIG_UNLOCKED and refused_cxl > 0
    for captured, session_id in host.sessions.items():  # sessions left open still answer
        answered = host.driver.run(partial(host.requester.heartbeat, session_id))
        assert isinstance(answered[0], HeartbeatAcknowledged), captured
