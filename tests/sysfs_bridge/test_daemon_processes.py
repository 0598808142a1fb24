"""sysfs_bridge.daemon with ``processes``: admissions run in forked processes, the daemon keeps the counts.

The devices' trees are rendered by the processes that decided them, on the shared disk, and the
counts come back to the daemon; a device whose admission fails in a process is counted as failed
and the others carry on.  (What a process's actor records stays in that process: the trees and
the counts are what the parent can see.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spdm.errors import ConfigurationError, TransportError
from spdm.transport import DoeTransport
from sysfs_bridge import Policy, list_devices
from sysfs_bridge.daemon import DaemonStats, PolicyDaemon
from sysfs_bridge.uevent import QueueUeventSource
from tests.sysfs_bridge.fleet import Fleet, RecordingActor, admission, bdfs, write_policy
from tests.sysfs_bridge.test_uevent import pci


@pytest.fixture
def policy(tmp_path: Path) -> Policy:
    return write_policy(tmp_path)


def test_a_burst_is_decided_in_two_processes(tmp_path: Path, policy: Policy) -> None:
    addresses = bdfs(12)
    source = QueueUeventSource(pci("add", b) for b in addresses)
    source.close()
    root = tmp_path / "sysfs"
    fleet = Fleet()  # its emulated devices are forked into each process with the admission
    performers = tmp_path / "pids"

    def opener(bdf: str) -> DoeTransport:
        with performers.open("a") as log:  # the disk is what the processes share with the test
            log.write(f"{os.getpid()}\n")
        return fleet.open(bdf)

    subject = PolicyDaemon(source, admission(policy, root, fleet, RecordingActor(), opener=opener),
                           devices=list, workers=2, processes=2, poll_interval=0.02)
    assert subject.run() == DaemonStats(allowed=12)
    assert list_devices(root) == sorted(addresses)
    pids = performers.read_text().split()
    assert len(pids) == 12 and str(os.getpid()) not in pids and 1 <= len(set(pids)) <= 2


def test_a_decision_made_in_a_process_is_counted(tmp_path: Path, policy: Policy) -> None:
    """An unreachable device is denied in its process; the parent counts the deny."""
    addresses = bdfs(4)
    source = QueueUeventSource(pci("add", b) for b in addresses)
    source.close()
    fleet = Fleet()

    def opener(bdf: str) -> DoeTransport:
        if bdf == addresses[1]:
            raise TransportError("the mailbox is gone")
        return fleet.open(bdf)

    root = tmp_path / "sysfs"
    subject = PolicyDaemon(source, admission(policy, root, fleet, RecordingActor(), opener=opener),
                           devices=list, workers=2, processes=2, poll_interval=0.02)
    assert subject.run() == DaemonStats(allowed=3, denied=1)
    assert list_devices(root) == sorted(addresses)


def test_processes_may_not_be_negative(policy: Policy, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        PolicyDaemon(QueueUeventSource(), admission(policy, tmp_path, Fleet(), RecordingActor()),
                     devices=list, processes=-1)

