"""The whole TEE-IO flow between our host side and our emulated device, over a secure session.

SPDM authentication and KEY_EXCHANGE, then IDE_KM (QUERY, KEY_PROG x6, K_SET_GO),
TDISP (version, capabilities, LOCK, report, START, state RUN), a key refresh
while RUN, STOP and K_SET_STOP — on every transport — and the rules that
tie the protocols together (LOCK needs this session's keys; a stream going
Insecure or the session ending moves a locked TDI to ERROR).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache

import pytest

from devsec.emulator import SecureDevice
from ide_km import IdeKmRequester, KeySet, KeySetProgrammed, StreamState
from spdm.config import RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.events import SessionEstablished
from spdm.messages.codes import BaseAsymAlgo
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import Requester
from spdm.transport import DoeTransport, EmuSocketClient
from tdisp import TdispRequester, TdispRequesterConfig
from tdisp.errors import TdispErrorCode
from tdisp.events import InterfaceReportReceived, TdispErrorReceived
from tdisp.messages import LockInterfaceFlags, TdiState
from tsm.link import VendorChannel, bind_tdi, run, secure_link

NOW = datetime.now(UTC)
VF = 0x0101
FLAGS = LockInterfaceFlags.NO_FW_UPDATE


@cache
def model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)


def new_device() -> SecureDevice:
    prefs = replace(AlgorithmPreferences(), asym_algs=(BaseAsymAlgo.ECDSA_P384,))
    return SecureDevice(ResponderConfig(algorithms=prefs), model())


@contextmanager
def transport(device: SecureDevice, kind: str) -> Iterator[DoeTransport]:
    if kind == "pipe":
        yield device.spdm.pipe()
    elif kind == "mailbox":
        yield device.spdm.mailbox()
    else:
        server = device.spdm.server("127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        client = EmuSocketClient("127.0.0.1", server.address[1], timeout=10)
        try:
            yield client
        finally:
            client.close()
            server.stop()
            thread.join(5)
            server.close()


def open_channel(link: DoeTransport) -> VendorChannel:
    requester = Requester(RequesterConfig(trust_anchors=(model().root_certificate(),)))
    driver = RequesterDriver(link, requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests, lambda: requester.get_certificate(0, now=NOW)):
        driver.run(command)
    [established] = [e for e in driver.run(requester.key_exchange) if isinstance(e, SessionEstablished)]
    return VendorChannel(driver, requester, established.session_id)


@pytest.mark.parametrize("kind", ["pipe", "mailbox", pytest.param("socket", marks=pytest.mark.socket)])
def test_the_whole_flow_on_every_transport(kind: str) -> None:
    device = new_device()
    with transport(device, kind) as link:
        channel = open_channel(link)
        ide = IdeKmRequester()
        events = secure_link(channel, ide)
        assert any(isinstance(e, KeySetProgrammed) and len(e.keys) == 6 for e in events)
        assert device.ide.stream_state(0, 0) == StreamState.SECURE
        tdisp = TdispRequester(TdispRequesterConfig(interface_id=VF))
        events = bind_tdi(channel, tdisp, flags=FLAGS)
        report = next(e.report for e in events if isinstance(e, InterfaceReportReceived))
        assert report.mmio_ranges and device.tdisp.state(VF) == TdiState.RUN
        # Key refresh while RUN: the other key set takes over, the TDI stays in RUN.
        ide.refresh(0)
        run(channel, ide)
        assert ide.active_key_set(0) == KeySet.K1
        assert device.ide.stream_state(0, 0) == StreamState.SECURE
        assert device.tdisp.state(VF) == TdiState.RUN
        tdisp.stop()
        run(channel, tdisp)
        assert device.tdisp.state(VF) == TdiState.CONFIG_UNLOCKED
        ide.set_stop(0, KeySet.K1)
        run(channel, ide)
        assert device.ide.stream_state(0, 0) == StreamState.INSECURE
        channel.driver.run(lambda: channel.requester.end_session(channel.session_id))


def test_lock_needs_this_sessions_keys() -> None:
    device = new_device()
    channel = open_channel(device.spdm.pipe())
    tdisp = TdispRequester(TdispRequesterConfig(interface_id=VF))
    for command in (tdisp.get_version, tdisp.get_capabilities, lambda: tdisp.lock(FLAGS, 0)):
        command()
        events = run(channel, tdisp)
    [error] = [e for e in events if isinstance(e, TdispErrorReceived)]
    assert error.error_code == TdispErrorCode.INVALID_REQUEST
    assert device.tdisp.state(VF) == TdiState.CONFIG_UNLOCKED


def test_stream_going_insecure_moves_a_running_tdi_to_error() -> None:
    device = new_device()
    channel = open_channel(device.spdm.pipe())
    ide = IdeKmRequester()
    secure_link(channel, ide)
    bind_tdi(channel, TdispRequester(TdispRequesterConfig(interface_id=VF)), flags=FLAGS)
    ide.set_stop(0, KeySet.K0)
    run(channel, ide)
    assert device.tdisp.state(VF) == TdiState.ERROR
    assert device.tdisp.state(0x0102) == TdiState.CONFIG_UNLOCKED  # another VF is untouched


def test_session_end_moves_a_running_tdi_to_error_and_the_stream_to_insecure() -> None:
    device = new_device()
    channel = open_channel(device.spdm.pipe())
    secure_link(channel, IdeKmRequester())
    bind_tdi(channel, TdispRequester(TdispRequesterConfig(interface_id=VF)), flags=FLAGS)
    channel.driver.run(lambda: channel.requester.end_session(channel.session_id))
    assert device.tdisp.state(VF) == TdiState.ERROR
    assert device.ide.stream_state(0, 0) == StreamState.INSECURE


def test_keys_from_another_session_are_refused() -> None:
    device = new_device()
    first = open_channel(device.spdm.pipe())
    secure_link(first, IdeKmRequester())
    second = VendorChannel(first.driver, first.requester, next(
        e.session_id for e in first.driver.run(first.requester.key_exchange)
        if isinstance(e, SessionEstablished)))
    ide = IdeKmRequester()
    ide.program_key_set(0, KeySet.K1)
    events = run(second, ide)
    assert any(type(e).__name__ == "RequestRefused" for e in events)
