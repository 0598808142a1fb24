"""sysfs_bridge.daemon: events to admissions, a 1000-device burst, coalescing, slow devices, rescans, stop."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from spdm.errors import ConfigurationError, TransportError
from spdm.transport import DoeTransport
from sysfs_bridge import Policy, list_devices
from sysfs_bridge.daemon import DaemonStats, PolicyDaemon, kernel_devices
from sysfs_bridge.uevent import QueueUeventSource, Uevent, UeventsLost, UeventSourceClosed, Work
from tests.sysfs_bridge.fleet import Fleet, RecordingActor, admission, bdfs, decision_lines, write_policy
from tests.sysfs_bridge.test_uevent import pci

WAIT = 30.0
"""Seconds a test waits for a thread before failing (never reached when things work)."""

TSM_CHANGE = Uevent("change", "/devices/virtual/tsm/tsm0", "tsm",
                    {"ACTION": "change", "DEVPATH": "/devices/virtual/tsm/tsm0", "SUBSYSTEM": "tsm"})


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    return write_policy(tmp_path)


class CountingSource(QueueUeventSource):
    """Counts receive calls: once call N+1 began, the daemon has queued the first N events."""

    def __init__(self, events: list[Uevent]) -> None:
        super().__init__(events)
        self.calls = 0
        self._called = threading.Condition()

    def receive(self, timeout: float) -> Uevent | None:
        with self._called:
            self.calls += 1
            self._called.notify_all()
        return super().receive(timeout)

    def wait_queued(self, events: int) -> None:
        with self._called:
            assert self._called.wait_for(lambda: self.calls > events, WAIT)


def daemon(policy: Policy, root: Path, events: list[Uevent], *, fleet: Fleet | None = None,
           actor: RecordingActor | None = None, devices: list[str] | None = None, close: bool = True,
           workers: int = 4, opener: Callable[[str], DoeTransport] | None = None,
           ) -> tuple[PolicyDaemon, CountingSource, RecordingActor]:
    source = CountingSource(events)
    if close:
        source.close()
    actor = actor if actor is not None else RecordingActor()
    subject = PolicyDaemon(source, admission(policy, root, fleet or Fleet(), actor, opener=opener),
                           devices=lambda: list(devices or ()), poll_interval=0.02, workers=workers)
    return subject, source, actor


@pytest.mark.slow
def test_burst_of_1000_add_events_is_handled_once_each(
        tmp_path: Path, policy: Policy, caplog: pytest.LogCaptureFixture) -> None:
    """1000 emulated devices (distinct addresses, full SPDM authentication each) hot-added at once:
    exactly 1000 decisions and 1000 trees, none lost, none twice.

    One worker over the in-process pipe: the work is CPU-bound, and a second worker only adds
    GIL contention (measured: 20.6 s with one, 28.5 s with two); the DOE mailbox path and
    several workers are exercised by the other tests.
    """
    addresses = bdfs(1000)
    fleet = Fleet()
    subject, _, actor = daemon(policy, tmp_path / "sysfs", [pci("add", b) for b in addresses], fleet=fleet,
                               workers=1, opener=lambda bdf: fleet.device(bdf).pipe())
    start = time.monotonic()
    with caplog.at_level(logging.INFO, logger="sysfs_bridge.admission"):
        stats = subject.run()
    elapsed = time.monotonic() - start
    assert stats == DaemonStats(allowed=1000)
    lines = decision_lines(caplog)
    assert len(lines) == 1000 and {line["bdf"] for line in lines} == set(addresses)
    assert all(line["allow"] and line["action"] == "connect" for line in lines)
    assert list_devices(tmp_path / "sysfs") == sorted(addresses)
    assert Counter(actor.calls) == Counter(("connect", b) for b in addresses)
    print(f"1000 devices in {elapsed:.1f} s")


def test_pending_events_for_one_device_coalesce(tmp_path: Path, policy: Policy,
                                                caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "sysfs"
    subject, _, actor = daemon(policy, root, [], workers=1)
    for event in (pci("add", "0000:01:00.0"), pci("change", "0000:01:00.0"),  # one admission
                  pci("add", "0000:02:00.0"),
                  pci("add", "0000:03:00.0"), pci("remove", "0000:03:00.0"),  # gone before handled
                  pci("remove", "0000:04:00.0"), pci("add", "0000:04:00.0")):  # back again: admitted
        work = None if event.subsystem != "pci" else Work(
            "forget" if event.action == "remove" else "admit", event.pci_device or "")
        assert work is not None
        subject.submit(work)
    with caplog.at_level(logging.INFO, logger="sysfs_bridge.admission"):
        stats = subject.run()
    assert stats == DaemonStats(allowed=3, forgotten=1)
    # One worker: in the order each device's first pending event arrived, each device once.
    assert [line["bdf"] for line in decision_lines(caplog)] == ["0000:01:00.0", "0000:02:00.0",
                                                                "0000:04:00.0"]
    assert list_devices(root) == ["0000:01:00.0", "0000:02:00.0", "0000:04:00.0"]
    assert actor.calls == [("connect", "0000:01:00.0"), ("connect", "0000:02:00.0"),
                           ("forget", "0000:03:00.0"), ("connect", "0000:04:00.0")]


class Gate:
    """An opener that holds one device's authentication until released."""

    def __init__(self, fleet: Fleet, held: str) -> None:
        self.fleet, self.held = fleet, held
        self.entered, self.release = threading.Event(), threading.Event()
        self.opened: Counter[str] = Counter()

    def open(self, bdf: str) -> DoeTransport:
        self.opened[bdf] += 1
        if bdf == self.held and self.opened[bdf] == 1:
            self.entered.set()
            assert self.release.wait(WAIT)
        return self.fleet.open(bdf)


def test_an_event_for_a_device_being_handled_runs_again_after_it(tmp_path: Path, policy: Policy) -> None:
    fleet = Fleet()
    gate = Gate(fleet, "0000:01:00.0")
    subject, source, _ = daemon(policy, tmp_path / "sysfs", [pci("add", "0000:01:00.0")], fleet=fleet,
                                close=False, workers=2, opener=gate.open)
    result: list[DaemonStats] = []
    runner = threading.Thread(target=lambda: result.append(subject.run()))
    runner.start()
    assert gate.entered.wait(WAIT)
    source.put(pci("change", "0000:01:00.0"))  # the device changed while being authenticated
    source.put(pci("change", "0000:01:00.0"))  # coalesces with the first change
    source.close()
    source.wait_queued(3)
    gate.release.set()
    runner.join(WAIT)
    assert result == [DaemonStats(allowed=2)] and gate.opened["0000:01:00.0"] == 2


def test_a_slow_device_does_not_hold_up_the_others(tmp_path: Path, policy: Policy) -> None:
    fleet = Fleet()
    gate = Gate(fleet, "0000:01:00.0")
    others = bdfs(11)[1:]
    actor = RecordingActor()
    subject, source, _ = daemon(policy, tmp_path / "sysfs", [pci("add", b) for b in bdfs(11)], fleet=fleet,
                                actor=actor, close=False, workers=2, opener=gate.open)
    result: list[DaemonStats] = []
    runner = threading.Thread(target=lambda: result.append(subject.run()))
    runner.start()
    deadline = time.monotonic() + WAIT
    while len(actor.calls) < len(others) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(actor.calls) == [("connect", b) for b in others]  # all done while one hangs
    assert not gate.release.is_set()
    gate.release.set()
    source.close()
    runner.join(WAIT)
    assert result == [DaemonStats(allowed=11)]


def test_failing_devices_are_denied_and_bugs_do_not_stop_the_workers(
        tmp_path: Path, policy: Policy, caplog: pytest.LogCaptureFixture) -> None:
    fleet = Fleet()

    def opener(bdf: str) -> DoeTransport:
        if bdf == "0000:01:00.1":
            raise TransportError("DOE mailbox at 0x100 set Error")
        if bdf == "0000:01:00.2":
            raise RuntimeError("a bug")
        return fleet.open(bdf)

    events = [pci("add", b) for b in bdfs(4)] + [Uevent("add", "/devices/pci0000:00/x", "pci", {})]
    subject, _, actor = daemon(policy, tmp_path / "sysfs", events, fleet=fleet, workers=2,
                               opener=opener)
    stats = subject.run()
    assert stats == DaemonStats(allowed=2, denied=1, failed=1)
    assert ("refuse", "0000:01:00.1") in actor.calls
    assert "0000:01:00.2: admit failed; nothing was acted on" in caplog.text
    assert "RuntimeError: a bug" in caplog.text  # with its traceback
    assert "ignored a malformed event" in caplog.text  # the pci event without PCI_SLOT_NAME


def test_tsm_registration_and_lost_events_rescan_every_device(tmp_path: Path, policy: Policy) -> None:
    present = bdfs(3)
    subject, _, actor = daemon(policy, tmp_path / "sysfs", [TSM_CHANGE], devices=present)
    assert subject.run() == DaemonStats(allowed=3, rescans=1)
    assert sorted(actor.calls) == [("connect", b) for b in present]

    class Overflowing:
        """A source whose socket buffer overflowed once, then ran dry."""

        def __init__(self) -> None:
            self.calls = 0

        def receive(self, timeout: float) -> Uevent | None:
            self.calls += 1
            if self.calls == 1:
                raise UeventsLost("uevents were lost (receive buffer overflow)")
            raise UeventSourceClosed("done")

        def close(self) -> None:
            pass

    lost = PolicyDaemon(Overflowing(), admission(policy, tmp_path / "other", Fleet(), RecordingActor()),
                        devices=lambda: present, poll_interval=0.02)
    assert lost.run() == DaemonStats(allowed=3, rescans=1)


def test_remove_event_drops_the_evidence(tmp_path: Path, policy: Policy) -> None:
    root = tmp_path / "sysfs"
    subject, _, _ = daemon(policy, root, [pci("add", "0000:01:00.0"), pci("add", "0000:01:00.1")],
                           workers=1)
    subject.run()
    subject, _, _ = daemon(policy, root, [pci("remove", "0000:01:00.0")])
    assert subject.run() == DaemonStats(forgotten=1)
    assert list_devices(root) == ["0000:01:00.1"]


def test_stop_finishes_the_jobs_in_progress_and_drops_the_rest(tmp_path: Path, policy: Policy) -> None:
    fleet = Fleet()
    gate = Gate(fleet, "0000:01:00.0")
    subject, source, _ = daemon(policy, tmp_path / "sysfs", [pci("add", b) for b in bdfs(5)], fleet=fleet,
                                close=False, workers=1, opener=gate.open)
    result: list[DaemonStats] = []
    runner = threading.Thread(target=lambda: result.append(subject.run()))
    runner.start()
    assert gate.entered.wait(WAIT)
    source.wait_queued(5)  # the other four wait behind the held one
    subject.stop()
    gate.release.set()
    runner.join(WAIT)
    assert not runner.is_alive()
    assert result == [DaemonStats(allowed=1, dropped=4)]
    assert list_devices(tmp_path / "sysfs") == ["0000:01:00.0"]
    source.close()


def test_source_failure_ends_the_run(tmp_path: Path, policy: Policy) -> None:
    class Failing:
        def receive(self, timeout: float) -> Uevent | None:
            raise TransportError("uevent socket: Bad file descriptor")

        def close(self) -> None:
            pass

    subject = PolicyDaemon(Failing(), admission(policy, tmp_path, Fleet(), RecordingActor()),
                           devices=list)
    with pytest.raises(TransportError, match="Bad file descriptor"):
        subject.run()


def test_kernel_devices_and_arguments(tmp_path: Path, policy: Policy) -> None:
    for bdf in ("0000:00:00.0", "0000:00:1f.3"):
        (tmp_path / "sys/bus/pci/devices" / bdf).mkdir(parents=True)
    (tmp_path / "sys/bus/pci/devices/not-a-device").mkdir()
    assert kernel_devices(tmp_path / "sys")() == ["0000:00:00.0", "0000:00:1f.3"]
    subject = admission(policy, tmp_path, Fleet(), RecordingActor())
    with pytest.raises(ConfigurationError):
        PolicyDaemon(QueueUeventSource(), subject, devices=list, workers=0)
    with pytest.raises(ConfigurationError):
        PolicyDaemon(QueueUeventSource(), subject, devices=list, poll_interval=0.0)
