"""A locked TDI belongs to the SPDM session that locked it (fuzz finding 16).

Session A keys IDE stream 0, locks and starts a TDI; session B must neither
read its report nor STOP, bind, unbind or reconfigure it (PCIe 6.x §11.6.3:
every move of a TDI comes from one session), and gets TDISP_ERROR
INVALID_REQUEST.  State queries stay open, and once A ends B may recover the
TDI from ERROR.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pytest

from devsec.emulator import SecureDevice
from ide_km import IdeKmRequester, KeySet
from spdm.config import ResponderConfig
from spdm.device import DeviceModel
from spdm.messages.codes import BaseAsymAlgo
from tdisp import (
    InterfaceStateReceived,
    InterfaceStopped,
    LockInterfaceFlags,
    MmioAttributes,
    MmioRange,
    P2pStreamBound,
    TdispErrorCode,
    TdispErrorReceived,
    TdispEvent,
    TdispRequester,
    TdispRequesterConfig,
    TdiState,
)
from tdisp.messages import (
    DeviceInterfaceReport,
    GetDeviceInterfaceReport,
    StopInterfaceRequest,
    TdispErrorMessage,
    decode_response,
)

from .helpers import OTHER_SESSION, REFERENCE_TDI, SESSION, Pair, full_device

A, B = 0xFFFFFFFF, 0xFFFEFFFE
TDI = 0x0101


@cache
def _model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)


def _running_on_a() -> SecureDevice:
    """The reproducer's device: session A keyed stream 0, locked and started TDI 0x0101."""
    dev = SecureDevice(ResponderConfig(), _model(), functions=(0x0100, TDI))
    ide = IdeKmRequester()
    keying: tuple[Callable[[], None], ...] = (
        lambda: ide.query(0), lambda: ide.program_key_set(0, KeySet.K0, 0),
        lambda: ide.set_go(0, KeySet.K0, 0))
    for command in keying:
        command()
        while payload := ide.data_to_send():
            ide.receive_data(dev.ide.handle(payload, A))
    td = TdispRequester(TdispRequesterConfig(interface_id=TDI))
    for step in (td.get_version, td.get_capabilities, lambda: td.lock(LockInterfaceFlags.NO_FW_UPDATE, 0, 0),
                 td.get_report, td.start):
        step()
        while payload := td.data_to_send():
            td.receive_data(dev.tdisp.handle(payload, A))
            while td.next_event() is not None:
                pass
    assert dev.tdisp.state(TDI) == TdiState.RUN
    return dev


def _refused_invalid_request(answer: bytes) -> None:
    message = decode_response(answer)
    assert isinstance(message, TdispErrorMessage)
    assert message.error_code == TdispErrorCode.INVALID_REQUEST


def test_another_session_cannot_read_the_report_of_a_running_tdi() -> None:
    dev = _running_on_a()
    report = GetDeviceInterfaceReport(TDI, offset=0, length=0xFFFF).encode()
    _refused_invalid_request(dev.tdisp.handle(report, B))
    assert isinstance(decode_response(dev.tdisp.handle(report, A)), DeviceInterfaceReport)


def test_another_session_cannot_stop_a_running_tdi() -> None:
    dev = _running_on_a()
    _refused_invalid_request(dev.tdisp.handle(StopInterfaceRequest(TDI).encode(), B))
    assert dev.tdisp.state(TDI) == TdiState.RUN
    assert not isinstance(decode_response(dev.tdisp.handle(StopInterfaceRequest(TDI).encode(), A)),
                          TdispErrorMessage)
    assert dev.tdisp.state(TDI) == TdiState.CONFIG_UNLOCKED


def test_once_the_locking_session_ends_another_session_may_stop_the_tdi() -> None:
    dev = _running_on_a()
    dev.tdisp.session_ended(A)
    assert dev.tdisp.state(TDI) == TdiState.ERROR
    assert not isinstance(decode_response(dev.tdisp.handle(StopInterfaceRequest(TDI).encode(), B)),
                          TdispErrorMessage)
    assert dev.tdisp.state(TDI) == TdiState.CONFIG_UNLOCKED


def _check(event: TdispEvent) -> None:
    assert isinstance(event, TdispErrorReceived), event
    assert event.error_code == TdispErrorCode.INVALID_REQUEST


RANGE = MmioRange(0x08000 + 0xD0000, 4, MmioAttributes.IS_NON_TEE_MEM, 2)


@pytest.mark.parametrize(("command", "args"), [
    ("get_report", ()),
    ("stop", ()),
    ("bind_p2p", (1,)),
    ("unbind_p2p", (2,)),
    ("set_mmio_attribute", (RANGE,)),
])
def test_every_request_about_the_locked_tdi_is_bound_to_its_session(
        command: str, args: tuple[object, ...]) -> None:
    pair = Pair(full_device())
    pair.negotiate()
    pair.run("lock", LockInterfaceFlags.BIND_P2P, 0, 0xD0000000)
    pair.run("get_report")
    pair.run("start")
    assert isinstance(pair.run("bind_p2p", 2), P2pStreamBound)
    _check(pair.run(command, *args, session_id=OTHER_SESSION))
    device, tdi = pair.device, REFERENCE_TDI
    assert device.state(tdi) == TdiState.RUN and device.p2p_streams(tdi) == frozenset({2})
    # the state query describes the device, not the TVM's TDI: any session may ask
    state = pair.run("get_state", session_id=OTHER_SESSION)
    assert isinstance(state, InterfaceStateReceived) and state.state == TdiState.RUN
    assert isinstance(pair.run("stop", session_id=SESSION), InterfaceStopped)
