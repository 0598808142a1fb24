"""The policy's decisions carried out through devsec's own TSM (``devsec daemon --backend``), both backends.

Real devices (the TEE-IO emulator behind its DOE mailbox), real crypto, the
real admission path: authenticate, render, evaluate, then the TSM connects
(and binds) the device; a device the TSM holds is re-admitted on evidence
its session signs, without a second SPDM connection on its mailbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ide_km import StreamState
from spdm.transport import DoeTransport
from sysfs_bridge import list_devices, read_device, render
from sysfs_bridge.admission import Admission
from sysfs_bridge.tsm_actor import TsmActor
from sysfs_bridge.tsm_evidence import evidence_from_tsm
from tdisp.messages import TdiState
from tests.tsm.helpers import Board, model, new_board, tsm_config
from tsm import DeviceInfo, LinkState, Tsm, open_backend

from .fleet import write_policy

NONCE = bytes(range(0xA0, 0xC0))
ALLOW_BIND = 'action = "bind"\n[require]\ncapabilities = ["measurements", "sessions", "ide", "tdisp"]\n'
DENY_OLD = 'action = "connect"\n[spdm]\nversions = ["1.1"]\n'  # the device speaks 1.3: denied


@pytest.fixture(scope="module", params=["native", "psp-proxy"])
def tsm(request: pytest.FixtureRequest) -> Iterator[Tsm]:
    backend = open_backend(request.param, tsm_config())
    yield backend
    backend.close()


class Host:
    """One board, the admission in front of it, and the TSM actor behind it."""

    def __init__(self, tsm: Tsm, tmp_path: Path, policy: str) -> None:
        self.board: Board = new_board(2)
        self.root = tmp_path / "sysfs"
        self.tmp = tmp_path
        self.actor = TsmActor(tsm, self.open, after=self.render_all, nonce=lambda: NONCE)
        self.admission = self.judge(policy)

    def open(self, bdf: str) -> DoeTransport:
        assert bdf == self.board.dsm
        return self.board.target.open()

    def render_all(self, info: DeviceInfo) -> None:
        for evidence in evidence_from_tsm(info):
            render(evidence, self.root)

    def judge(self, policy: str) -> Admission:
        """An admission under ``policy`` (the same actor, so the same TSM state)."""
        rules = write_policy(self.tmp, policy, root_pem=model().root_certificate_pem())
        self.admission = Admission(rules, self.root, opener=self.open, actor=self.actor)
        return self.admission


def device_sessions(board: Board) -> list[int]:
    return list(board.device.spdm.responder._conn.sessions)


def test_an_allowed_device_is_connected_and_bound_by_the_tsm(tsm: Tsm, tmp_path: Path) -> None:
    host = Host(tsm, tmp_path, ALLOW_BIND)
    dsm = host.board.dsm
    decision = host.admission.admit(dsm)
    assert decision.allow and decision.action == "bind", decision.reasons
    info = tsm.info(dsm)
    assert info.state == LinkState.CONNECTED and info.streams == (0,)
    assert [(t.bdf, t.state) for t in info.tdis] == [(dsm, TdiState.CONFIG_LOCKED)]
    assert host.board.device.ide.stream_state(0, 0) == StreamState.SECURE
    # one mailbox opening to authenticate (with the IDE/TDISP probe), one the TSM keeps
    assert len(host.board.transports) == 2
    tree = read_device(host.root, dsm)  # TSM mode, as the kernel shows a device a TSM holds
    assert tree.authenticated == tsm.name and tree.tsm is not None
    assert (tree.tsm.connect, tree.tsm.bound, tree.tsm.lock) == (tsm.name, tsm.name, tsm.name)
    assert (tree.tsm.dsm, tree.tsm.accept) == (dsm, "0")  # locked, not yet accepted into a guest
    assert tree.interface_report != b""  # the report it was locked with


def test_a_held_device_is_readmitted_on_evidence_its_session_signs(tsm: Tsm, tmp_path: Path) -> None:
    host = Host(tsm, tmp_path, ALLOW_BIND)
    dsm = host.board.dsm
    assert host.admission.admit(dsm).allow
    [session] = device_sessions(host.board)
    opened = len(host.board.transports)
    decision = host.admission.admit(dsm)  # a change event
    assert decision.allow, decision.reasons
    assert len(host.board.transports) == opened  # the mailbox was not opened again
    assert device_sessions(host.board) == [session]  # no GET_VERSION ended the TSM's session
    newest = read_device(host.root, dsm).signatures[-1]
    assert newest.requester_nonce == NONCE  # signed just now, over the nonce asked
    assert tsm.info(dsm).tdis[0].state == TdiState.CONFIG_LOCKED  # bound once, not again


def test_a_held_device_the_policy_now_refuses_is_disconnected(tsm: Tsm, tmp_path: Path) -> None:
    host = Host(tsm, tmp_path, ALLOW_BIND)
    dsm = host.board.dsm
    assert host.admission.admit(dsm).allow
    decision = host.judge(DENY_OLD).admit(dsm)
    assert not decision.allow and any("1.3" in r for r in decision.reasons), decision.reasons
    assert tsm.info(dsm).state == LinkState.DISCONNECTED
    assert host.board.device.ide.stream_state(0, 0) == StreamState.INSECURE
    assert device_sessions(host.board) == []
    tree = read_device(host.root, dsm)
    assert tree.authenticated == "" and tree.tsm is not None and tree.tsm.connect == ""
    # allowed again later: authenticated afresh through the mailbox, connected afresh
    assert host.judge(ALLOW_BIND).admit(dsm).allow
    assert tsm.info(dsm).state == LinkState.CONNECTED


def test_a_device_that_went_away_is_dropped(tsm: Tsm, tmp_path: Path) -> None:
    host = Host(tsm, tmp_path, ALLOW_BIND)
    dsm = host.board.dsm
    assert host.admission.admit(dsm).allow
    host.board.transports[-1].kill()  # pulled: the goodbye cannot be heard
    assert host.admission.forget(dsm) is True
    assert list_devices(host.root) == []
    assert tsm.info(dsm).state != LinkState.CONNECTED
