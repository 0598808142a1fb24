"""The TSM interface test-suite, run against every backend (``native`` and ``psp-proxy``).

Real devices (the emulator behind its DOE mailbox registers), real crypto:
connect authenticates, opens a session and programs the IDE stream; bind,
accept and unbind drive TDISP; disconnect tears it all down — and every
result is checked against what the device itself holds (its chain, its
measurements, its stream and TDI states).  Then SR-IOV (16 TDIs through one
session and one stream), several devices at once from threads, devices that
fail (pulled, untrusted) without disturbing the others, and session loss
moving a device and its TDIs to ERROR.

One TSM per backend serves the whole module (the psp-proxy process is
started once); every test brings its own devices on buses of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

from ide_km import StreamState
from spdm.config import RequesterConfig
from spdm.driver import RequesterDriver
from spdm.errors import (
    ConfigurationError,
    DecodeError,
    LocalProtocolError,
    ProtocolError,
    TransportError,
    VerificationError,
)
from spdm.messages import MeasurementBlock
from spdm.messages.codes import BaseAsymAlgo, SpdmVersion
from spdm.requester import Requester
from tdisp.messages import InterfaceReport, TdiState
from tsm import (
    DeviceInfo,
    DeviceTarget,
    LinkState,
    TdiTarget,
    Tsm,
    TsmConfig,
    backend_names,
    open_backend,
)
from tsm.interface import register_backend

from .helpers import Board, bdf, chain_der, check_signature, model, new_board, stranger, tsm_config

T = TypeVar("T")

DOE_DISCOVERY, DOE_SPDM, DOE_SECURED_SPDM = (1, 0), (1, 1), (1, 2)
NONCE = bytes(range(0x40, 0x60))


@pytest.fixture(scope="module", params=["native", "psp-proxy"])
def tsm(request: pytest.FixtureRequest) -> Iterator[Tsm]:
    backend = open_backend(request.param, tsm_config())
    yield backend
    backend.close()


def expected_measurements(info: DeviceInfo) -> tuple[MeasurementBlock, ...]:
    """What the device model measures, as the TSM should report it."""
    return tuple(model().measurement_blocks(info.measurement_hash_alg, raw_requested=False))


def device_session(board: Board) -> int:
    """The one SPDM session the device holds."""
    [session_id] = board.device.spdm.responder._conn.sessions
    return session_id


def connected(tsm: Tsm, *boards: Board) -> list[DeviceInfo]:
    return [tsm.connect(b.target) for b in boards]


def outcome(call: Callable[[], T]) -> T | Exception:
    try:
        return call()
    except Exception as exc:
        return exc


# ------------------------------------------------------------------------------------ the flow


def test_backends_are_registered() -> None:
    assert backend_names() == ("native", "psp-proxy")


def test_connect_reports_the_device_evidence(tsm: Tsm) -> None:
    board = new_board()
    steps: list[str] = []
    info = tsm.connect(board.target, steps.append)

    assert info.bdf == board.dsm and info.tsm == tsm.name
    assert info.state == LinkState.CONNECTED
    assert info.version == SpdmVersion.V13 and info.asym_alg == BaseAsymAlgo.ECDSA_P384
    assert {DOE_DISCOVERY, DOE_SPDM, DOE_SECURED_SPDM} <= set(info.doe_features)
    assert info.certificates == {0: chain_der(model())}
    contexts = [s.context for s in info.signatures]
    assert contexts == ["responder-challenge_auth signing", "responder-measurements signing"]
    for evidence in info.signatures:
        check_signature(evidence, model().slots[0].leaf)
    assert info.measurements == expected_measurements(info)
    assert info.streams == (0,) and info.tdis == ()
    assert any("KEY_EXCHANGE" in s for s in steps) and any("K_SET_GO" in s for s in steps)
    # The device's side: its stream runs with keys from the TSM's session.
    ide = board.device.ide
    assert ide.stream_state(0, 0) == StreamState.SECURE
    assert ide.stream_session(0, 0) == device_session(board)
    assert tsm.info(board.dsm) == info


def test_bind_accept_unbind_drive_the_tdi(tsm: Tsm) -> None:
    board = new_board()
    tsm.connect(board.target)
    vf = board.tdis[1]
    tdisp = board.device.tdisp

    bound = tsm.bind(vf)
    assert (bound.bdf, bound.dsm, bound.interface_id) == (vf.bdf, board.dsm, vf.interface_id)
    assert bound.state == TdiState.CONFIG_LOCKED == tdisp.state(vf.interface_id)
    report = InterfaceReport.decode(bound.report)
    assert report.mmio_ranges == tdisp.mmio_ranges(vf.interface_id)
    assert bound.mmio_ranges == len(report.mmio_ranges) == 1
    assert report.device_specific_info == b"devsec-tdi"

    running = tsm.accept(vf)
    assert running.state == TdiState.RUN == tdisp.state(vf.interface_id)
    assert running.report == bound.report
    assert tsm.info(board.dsm).tdis == (running,)
    assert tdisp.state(board.tdis[0].interface_id) == TdiState.CONFIG_UNLOCKED  # the PF was not touched
    assert tsm.tdi_info(vf) == running  # one TDI's info: state and interface report
    with pytest.raises(LocalProtocolError, match="never been bound"):
        tsm.tdi_info(board.tdis[2])

    stopped = tsm.unbind(vf)
    assert stopped.state == TdiState.CONFIG_UNLOCKED == tdisp.state(vf.interface_id)
    # Unbound, it can be bound again through the same session.
    assert tsm.bind(vf).state == TdiState.CONFIG_LOCKED
    assert tsm.accept(vf).state == TdiState.RUN


def test_disconnect_stops_everything_on_the_device(tsm: Tsm) -> None:
    board = new_board(4)
    tsm.connect(board.target)
    pf, running, locked, untouched = board.tdis
    tsm.bind(running)
    tsm.accept(running)
    tsm.bind(locked)
    steps: list[str] = []

    info = tsm.disconnect(board.dsm, steps.append)

    assert info.state == LinkState.DISCONNECTED and info.streams == ()
    assert {t.bdf: t.state for t in info.tdis} == {
        running.bdf: TdiState.CONFIG_UNLOCKED, locked.bdf: TdiState.CONFIG_UNLOCKED}
    assert any("K_SET_STOP" in s for s in steps) and any("END_SESSION" in s for s in steps)
    device = board.device
    assert device.ide.stream_state(0, 0) == StreamState.INSECURE
    assert device.ide.stream_session(0, 0) is None
    assert all(device.tdisp.state(i) == TdiState.CONFIG_UNLOCKED for i in board.requester_ids())
    assert device.spdm.responder._conn.sessions == {}
    assert board.transports[-1].exchanges > 0
    # What was learned stays readable; the link does not.
    assert tsm.info(board.dsm).state == LinkState.DISCONNECTED
    with pytest.raises(LocalProtocolError):
        tsm.bind(pf)
    with pytest.raises(LocalProtocolError):
        tsm.disconnect(board.dsm)
    # And the device can be connected again.
    assert tsm.connect(board.target).state == LinkState.CONNECTED
    assert tsm.bind(pf).state == TdiState.CONFIG_LOCKED


def test_refresh_evidence_signs_over_the_callers_nonce(tsm: Tsm) -> None:
    board = new_board()
    before = tsm.connect(board.target)

    after = tsm.refresh_evidence(board.dsm, NONCE)

    assert after.state == LinkState.CONNECTED
    assert after.signatures[:-1] == before.signatures
    fresh = after.signatures[-1]
    assert fresh.context == "responder-measurements signing"
    assert fresh.requester_nonce == NONCE
    assert NONCE in fresh.transcript
    check_signature(fresh, model().slots[0].leaf)
    assert after.measurements == expected_measurements(after)


@pytest.mark.parametrize("size", [0, 16, 31, 33])
def test_refresh_evidence_wants_a_32_byte_nonce(tsm: Tsm, size: int) -> None:
    board = new_board()
    before = tsm.connect(board.target)
    with pytest.raises(LocalProtocolError, match="32 bytes"):
        tsm.refresh_evidence(board.dsm, bytes(size))
    assert tsm.info(board.dsm) == before


# ------------------------------------------------------------------------------------ misuse


def test_operations_on_an_unknown_device_are_refused(tsm: Tsm) -> None:
    board = new_board()
    for call in (lambda: tsm.info(board.dsm), lambda: tsm.bind(board.tdis[0]),
                 lambda: tsm.accept(board.tdis[0]), lambda: tsm.unbind(board.tdis[0]),
                 lambda: tsm.disconnect(board.dsm), lambda: tsm.refresh_evidence(board.dsm, NONCE)):
        with pytest.raises(LocalProtocolError):
            call()
    assert board.transports == []  # nothing was opened


def test_tdi_operations_out_of_order_are_refused(tsm: Tsm) -> None:
    board = new_board()
    tsm.connect(board.target)
    pf, vf, _ = board.tdis
    with pytest.raises(LocalProtocolError, match="not bound"):
        tsm.accept(vf)
    with pytest.raises(LocalProtocolError, match="not bound"):
        tsm.unbind(vf)
    tsm.bind(vf)
    with pytest.raises(LocalProtocolError, match="already bound"):
        tsm.bind(vf)
    tsm.accept(vf)
    with pytest.raises(LocalProtocolError, match="RUN"):
        tsm.accept(vf)
    # None of it disturbed the device or the link.
    assert board.device.tdisp.state(vf.interface_id) == TdiState.RUN
    assert tsm.info(board.dsm).state == LinkState.CONNECTED
    assert tsm.bind(pf).state == TdiState.CONFIG_LOCKED


def test_connecting_twice_is_refused_and_keeps_the_first_link(tsm: Tsm) -> None:
    board = new_board()
    first = tsm.connect(board.target)
    with pytest.raises(LocalProtocolError, match="already connected"):
        tsm.connect(board.target)
    assert tsm.info(board.dsm) == first
    assert tsm.bind(board.tdis[1]).state == TdiState.CONFIG_LOCKED


def test_a_tdi_the_device_lacks_is_refused_by_the_device(tsm: Tsm) -> None:
    board = new_board()
    tsm.connect(board.target)
    missing = TdiTarget(board.dsm, bdf(board.requester_ids()[-1] + 1))
    with pytest.raises(ProtocolError) as raised:
        tsm.bind(missing)
    assert not isinstance(raised.value, LocalProtocolError)
    info = tsm.info(board.dsm)
    assert info.state == LinkState.CONNECTED and info.tdis == ()
    assert tsm.bind(board.tdis[1]).state == TdiState.CONFIG_LOCKED


def test_an_untrusted_device_fails_connect_and_leaves_no_evidence(tsm: Tsm) -> None:
    board = new_board(device_model=stranger())
    with pytest.raises(VerificationError):
        tsm.connect(board.target)
    with pytest.raises(LocalProtocolError):
        tsm.info(board.dsm)
    assert board.device.spdm.responder._conn.sessions == {}
    assert board.device.ide.stream_state(0, 0) == StreamState.INSECURE


def test_unknown_backend_and_bad_configuration() -> None:
    with pytest.raises(ConfigurationError, match="no TSM backend 'amd-sev'.*native, psp-proxy"):
        open_backend("amd-sev", tsm_config())
    with pytest.raises(ConfigurationError, match="already registered"):
        register_backend("native", lambda config: pytest.fail("never called"))
    with pytest.raises(ConfigurationError, match="trust anchor"):
        TsmConfig(RequesterConfig())
    with pytest.raises(DecodeError):
        DeviceTarget("0000:01:20.0", lambda: pytest.fail("never called"))
    with pytest.raises(DecodeError):
        TdiTarget("0000:01:00.0", "01:00.1")


# ------------------------------------------------------------------------------------ SR-IOV, many devices


def test_sixteen_tdis_share_one_session_and_one_stream(tsm: Tsm) -> None:
    board = new_board(16)
    tsm.connect(board.target)
    session_id = device_session(board)

    for tdi in board.tdis:
        assert tsm.bind(tdi).state == TdiState.CONFIG_LOCKED
        assert tsm.accept(tdi).state == TdiState.RUN

    info = tsm.info(board.dsm)
    assert [t.bdf for t in info.tdis] == [t.bdf for t in board.tdis]
    assert {t.state for t in info.tdis} == {TdiState.RUN}
    assert len({t.report for t in info.tdis}) == 16  # each TDI's own report (its own MMIO range)
    assert info.streams == (0,)
    # On the device: still the one session; every TDI locked by it, on stream 0.
    assert device_session(board) == session_id
    assert board.device.ide.stream_session(0, 0) == session_id
    for function_id in board.requester_ids():
        held = board.device.tdisp._tdi(function_id)
        assert (held.state, held.locked_session, held.default_stream) == (TdiState.RUN, session_id, 0)

    tsm.disconnect(board.dsm)
    assert all(board.device.tdisp.state(i) == TdiState.CONFIG_UNLOCKED for i in board.requester_ids())


def test_devices_connect_concurrently_and_failures_stay_their_own(tsm: Tsm) -> None:
    good = [new_board(2) for _ in range(4)]
    pulled = new_board(2, die_after=6)  # gone in the middle of certificate retrieval
    untrusted = new_board(2, device_model=stranger())
    boards = [*good, pulled, untrusted]

    with ThreadPoolExecutor(len(boards)) as pool:
        results = list(pool.map(lambda b: outcome(lambda: tsm.connect(b.target)), boards))

    for board, result in zip(good, results[:4], strict=True):
        assert isinstance(result, DeviceInfo) and result.state == LinkState.CONNECTED, result
        assert result.bdf == board.dsm and result.certificates == {0: chain_der(model())}
    assert isinstance(results[4], TransportError)
    assert isinstance(results[5], VerificationError)
    for failed in (pulled, untrusted):
        with pytest.raises(LocalProtocolError):
            tsm.info(failed.dsm)

    # All the good devices' TDIs, bound and started from threads at once.
    tdis = [t for b in good for t in b.tdis]
    with ThreadPoolExecutor(len(good)) as pool:
        started = list(pool.map(lambda t: (tsm.bind(t), tsm.accept(t))[1], tdis))
    assert [s.state for s in started] == [TdiState.RUN] * len(tdis)
    for board in good:
        assert all(board.device.tdisp.state(i) == TdiState.RUN for i in board.requester_ids())
        assert tsm.info(board.dsm).state == LinkState.CONNECTED


def test_a_pulled_device_goes_to_error_and_the_others_stay(tsm: Tsm) -> None:
    lost, other = new_board(3), new_board(3)
    connected(tsm, lost, other)
    tsm.bind(lost.tdis[1])
    tsm.accept(lost.tdis[1])
    tsm.bind(lost.tdis[2])
    tsm.bind(other.tdis[1])

    lost.kill()
    with pytest.raises(TransportError):
        tsm.accept(lost.tdis[2])

    info = tsm.info(lost.dsm)
    assert info.state == LinkState.ERROR
    assert {t.state for t in info.tdis} == {TdiState.ERROR}
    assert info.certificates == {0: chain_der(model())}  # the evidence is still reported
    with pytest.raises(LocalProtocolError):
        tsm.bind(lost.tdis[0])
    # The other device never noticed.
    assert tsm.info(other.dsm).state == LinkState.CONNECTED
    assert tsm.accept(other.tdis[1]).state == TdiState.RUN
    # The pulled device, back after a reset (its old session gone), can be connected anew.
    lost.device.spdm.responder._conn.reset()
    assert tsm.connect(lost.target).state == LinkState.CONNECTED
    assert tsm.bind(lost.tdis[0]).state == TdiState.CONFIG_LOCKED


def test_a_session_the_device_ends_moves_its_tdis_to_error(tsm: Tsm) -> None:
    lost, other = new_board(3, transport="pipe"), new_board(3, transport="pipe")
    connected(tsm, lost, other)
    for tdi in lost.tdis[1:]:
        tsm.bind(tdi)
    tsm.accept(lost.tdis[1])
    tsm.bind(other.tdis[1])

    # Someone else on the device's mailbox restarts SPDM (GET_VERSION): the device ends every session.
    stranger_host = Requester(RequesterConfig(trust_anchors=(model().root_certificate(),)))
    RequesterDriver(lost.device.spdm.pipe(), stranger_host).run(stranger_host.get_version)
    assert lost.device.tdisp.state(lost.tdis[1].interface_id) == TdiState.ERROR
    assert lost.device.ide.stream_state(0, 0) == StreamState.INSECURE

    with pytest.raises(TransportError):
        tsm.unbind(lost.tdis[1])  # the device drops the record of a session it no longer has

    info = tsm.info(lost.dsm)
    assert info.state == LinkState.ERROR
    assert [t.state for t in info.tdis] == [TdiState.ERROR, TdiState.ERROR]
    assert tsm.info(other.dsm).state == LinkState.CONNECTED
    assert tsm.accept(other.tdis[1]).state == TdiState.RUN
    assert other.device.ide.stream_state(0, 0) == StreamState.SECURE


def test_a_tdi_left_in_error_by_a_lost_session_can_be_bound_after_reconnect(tsm: Tsm) -> None:
    board = new_board(2, transport="pipe")
    tsm.connect(board.target)
    tsm.bind(board.tdis[1])
    board.kill()
    with pytest.raises(TransportError):
        tsm.accept(board.tdis[1])
    board.device.spdm.responder._conn.reset()  # the device comes back; its TDI is in ERROR
    assert board.device.tdisp.state(board.tdis[1].interface_id) == TdiState.ERROR
    assert tsm.connect(board.target).state == LinkState.CONNECTED
    assert tsm.bind(board.tdis[1]).state == TdiState.CONFIG_LOCKED
