"""A device the kernel's TSM holds is left alone: its mailbox is not driven, its link not refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from spdm.transport import DoeTransport, KernelTsmHoldsDevice
from sysfs_bridge import read_device
from sysfs_bridge.admission import HELD_ACTION

from .fleet import Fleet, RecordingActor, admission, decision_lines, write_policy

BDF = "0000:3a:00.0"


@pytest.fixture
def fleet() -> Fleet:
    return Fleet()


def test_a_device_the_kernel_tsm_holds_is_not_re_judged_nor_refused(
        tmp_path: Path, fleet: Fleet, caplog: pytest.LogCaptureFixture) -> None:
    policy = write_policy(tmp_path, "")
    actor = RecordingActor()
    gate = admission(policy, tmp_path / "sysfs", fleet, actor)
    assert gate.admit(BDF).allow  # first seen: authenticated and connected by the actor
    before = read_device(tmp_path / "sysfs", BDF)

    def held(bdf: str) -> DoeTransport:
        raise KernelTsmHoldsDevice(f"{bdf}: tsm/connect names tsm0")

    held_gate = admission(policy, tmp_path / "sysfs", fleet, actor, opener=held)
    caplog.set_level("INFO", logger="sysfs_bridge.admission")
    decision = held_gate.admit(BDF)
    assert (decision.allow, decision.action) == (False, HELD_ACTION)
    assert "not re-judged" in decision.reasons[0] and "tsm0" in decision.reasons[0]
    assert actor.calls == [("connect", BDF)]  # no refuse: the kernel's link is not torn down
    assert read_device(tmp_path / "sysfs", BDF) == before  # the tree is not re-rendered
    assert decision_lines(caplog)[-1]["action"] == HELD_ACTION
