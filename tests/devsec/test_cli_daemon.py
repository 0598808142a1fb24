"""``devsec udev-hook`` run the way udev runs it, and ``devsec daemon`` until SIGTERM, against the emulator.

Both reach an emulated device over ``--via tcp://`` (``devsec emulate`` in a
subprocess) and act on a directory shaped like the kernel's ``/sys`` with a
registered TSM, so the whole path runs: authenticate, render, decide, write
``tsm/connect``.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from spdm.crypto import generate_device_identity
from spdm.messages.codes import BaseAsymAlgo
from sysfs_bridge import list_devices, read_device
from tests.devsec.test_cli import emulate
from tsm import LinkState
from tsm.service import ServiceTsm, shutdown, spawn

REPO = Path(__file__).resolve().parent.parent.parent
BDF = "0000:01:00.0"
DEVPATH = f"/devices/pci0000:00/0000:00:01.0/{BDF}"
TIMEOUT = 60


def kernel_sysfs(tmp_path: Path, *bdfs: str) -> Path:
    """A /sys with tsm0 registered and PCI devices that have the TSM attributes."""
    sysfs = tmp_path / "sys"
    (sysfs / "devices/virtual/tsm/tsm0").mkdir(parents=True)
    (sysfs / "class/tsm").mkdir(parents=True)
    (sysfs / "class/tsm/tsm0").symlink_to("../../devices/virtual/tsm/tsm0")
    for bdf in bdfs:
        (sysfs / "bus/pci/devices" / bdf / "tsm").mkdir(parents=True)
        (sysfs / "bus/pci/devices" / bdf / "tsm/connect").write_text("\n")
        (sysfs / "bus/pci/devices" / bdf / "tsm/disconnect").write_text("")
    return sysfs


def udev_environment(action: str, bdf: str = BDF) -> dict[str, str]:
    """What udev puts in a RUN+= program's environment for a PCI event (plus PATH for python)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "ACTION": action, "DEVPATH": f"/devices/pci0000:00/0000:00:01.0/{bdf}", "SUBSYSTEM": "pci",
        "PCI_SLOT_NAME": bdf, "PCI_ID": "1AF4:1234", "PCI_SUBSYS_ID": "1AF4:1100", "PCI_CLASS": "10800",
        "MODALIAS": "pci:v00001AF4d00001234sv00001AF4sd00001100bc01sc08i00", "SEQNUM": "4711",
        "USEC_INITIALIZED": "12345678",
    }


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with emulate(tmp_path) as (url, root):
        policy = tmp_path / "policy.toml"
        policy.write_text(f'[trust]\nroots = ["{root.name}"]\n')
        yield url, policy


def hook(env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devsec", "udev-hook", *flags], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)


@pytest.mark.socket
def test_udev_hook_allows_renders_and_connects(emulator: tuple[str, Path], tmp_path: Path) -> None:
    url, policy = emulator
    sysfs = kernel_sysfs(tmp_path, BDF)
    flags = ("--policy", str(policy), "--sysfs", str(tmp_path / "devsec"), "--kernel-sysfs", str(sysfs),
             "--via", url)
    result = hook(udev_environment("add"), *flags, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["allow"] is True
    logged = [json.loads(line.partition(": ")[2]) for line in result.stderr.splitlines()
              if line.startswith("sysfs_bridge.admission: {")]
    assert [(d["bdf"], d["allow"], d["action"]) for d in logged] == [(BDF, True, "connect")]
    assert read_device(tmp_path / "devsec", BDF).authenticated is True
    assert (sysfs / "bus/pci/devices" / BDF / "tsm/connect").read_text() == "tsm0\n"

    result = hook(udev_environment("change"), *flags)  # already connected: still allowed
    assert result.returncode == 0 and "ALLOW (connect)" in result.stdout, result.stderr

    result = hook(udev_environment("remove"), *flags)
    assert result.returncode == 0 and "evidence removed" in result.stdout, result.stderr
    assert list_devices(tmp_path / "devsec") == []


@pytest.mark.socket
def test_udev_hook_acts_through_a_running_tsm_service(emulator: tuple[str, Path], tmp_path: Path) -> None:
    """``--tsm-service``: a hook lives for one event, so it drives a TSM that outlives it."""
    url, policy = emulator
    sysfs = kernel_sysfs(tmp_path, BDF)
    out = tmp_path / "devsec"
    with tempfile.TemporaryDirectory(prefix="devsec-", dir="/tmp") as short:  # Unix socket paths are short
        service = Path(short) / "tsm.sock"
        pid = spawn(service, "native", [str(tmp_path / "root.pem")])
        try:
            flags = ("--policy", str(policy), "--sysfs", str(out), "--kernel-sysfs", str(sysfs), "--via", url,
                     "--tsm-service", str(service))
            result = hook(udev_environment("add"), *flags)
            assert result.returncode == 0 and "ALLOW (connect)" in result.stdout, result.stderr
            assert ServiceTsm(service).info(BDF).state == LinkState.CONNECTED
            tree = read_device(out, BDF)
            assert tree.authenticated == "native" and tree.tsm is not None and tree.tsm.connect == "native"
            assert (sysfs / "bus/pci/devices" / BDF / "tsm/connect").read_text() == "\n"  # not the kernel's
            signed = len(tree.signatures)
            # The service holds the emulator's one connection: a second SPDM connection through --via
            # would wait and fail. The change is judged on measurements the session signs now.
            result = hook(udev_environment("change"), *flags)
            assert result.returncode == 0 and "ALLOW (connect)" in result.stdout, result.stderr
            assert len(read_device(out, BDF).signatures) == signed + 1
            result = hook(udev_environment("remove"), *flags)
            assert result.returncode == 0 and "evidence removed" in result.stdout, result.stderr
            assert ServiceTsm(service).info(BDF).state == LinkState.DISCONNECTED
            assert list_devices(out) == []
        finally:
            shutdown(service)
            os.waitpid(pid, 0)


@pytest.mark.socket
def test_udev_hook_denies_an_untrusted_device(emulator: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = emulator
    (tmp_path / "other.pem").write_bytes(generate_device_identity(BaseAsymAlgo.ECDSA_P256).root.to_pem())
    policy = tmp_path / "other.toml"
    policy.write_text('[trust]\nroots = ["other.pem"]\n')
    sysfs = kernel_sysfs(tmp_path, BDF)
    result = hook(udev_environment("add"), "--policy", str(policy), "--sysfs", str(tmp_path / "devsec"),
                  "--kernel-sysfs", str(sysfs), "--via", url)
    assert result.returncode == 1, result.stderr
    assert "DENY (refuse)" in result.stdout and "authentication failed: VerificationError" in result.stdout
    assert (sysfs / "bus/pci/devices" / BDF / "tsm/connect").read_text() == "\n"
    assert read_device(tmp_path / "devsec", BDF).authenticated is False


def test_udev_hook_usage_errors(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    (tmp_path / "root.pem").write_bytes(generate_device_identity(BaseAsymAlgo.ECDSA_P256).root.to_pem())
    policy.write_text('[trust]\nroots = ["root.pem"]\n')
    flags = ("--policy", str(policy), "--sysfs", str(tmp_path / "devsec"))
    env = udev_environment("add")
    for missing in ("ACTION", "PCI_SLOT_NAME"):  # the others: tests/sysfs_bridge/test_uevent.py
        result = hook({k: v for k, v in env.items() if k != missing}, *flags)
        assert result.returncode == 2, (missing, result.stderr)
        assert "ConfigurationError" in result.stderr and missing in result.stderr
    result = hook({**env, "ACTION": "bind"}, *flags)
    assert result.returncode == 2 and "not a PCI add, change or remove event" in result.stderr
    result = hook(env, "--sysfs", str(tmp_path / "devsec"))  # no --policy: argparse says so
    assert result.returncode == 2 and "--policy" in result.stderr
    assert not (tmp_path / "devsec").exists()


def _netlink_allowed() -> bool:
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 15) as probe:
            probe.bind((0, 1))
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EACCES):
            return False
        raise
    return True


def run_daemon(tmp_path: Path, policy: Path, sysfs: Path, url: str, decisions: int,
               *flags: str) -> tuple[list[dict[str, object]], str]:
    """``devsec daemon`` until it logged ``decisions`` decisions, then SIGTERM.

    Returns the decisions and what it printed after them (its summary).
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "devsec", "daemon", "--policy", str(policy), "--sysfs",
         str(tmp_path / "devsec"), "--kernel-sysfs", str(sysfs), "--via", url, *flags],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        logged: list[dict[str, object]] = []
        for line in proc.stderr:  # the startup rescan: one JSON line per present device
            if line.startswith("sysfs_bridge.admission: {"):
                logged.append(json.loads(line.partition(": ")[2]))
                if len(logged) == decisions:
                    break
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0
        return logged, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=TIMEOUT)


@pytest.mark.socket
def test_daemon_admits_present_devices_and_stops_on_sigterm(emulator: tuple[str, Path],
                                                            tmp_path: Path) -> None:
    if not _netlink_allowed():
        pytest.skip("binding a NETLINK_KOBJECT_UEVENT socket was refused here")
    url, policy = emulator
    present = (BDF, "0000:02:00.0")
    sysfs = kernel_sysfs(tmp_path, *present)
    decisions, last = run_daemon(tmp_path, policy, sysfs, url, len(present), "--workers", "1")
    assert sorted((d["bdf"], d["allow"]) for d in decisions) == [(b, True) for b in present]
    assert "2 allowed, 0 denied" in last
    assert list_devices(tmp_path / "devsec") == sorted(present)
    for bdf in present:
        assert (sysfs / "bus/pci/devices" / bdf / "tsm/connect").read_text() == "tsm0\n"


@pytest.mark.socket
@pytest.mark.parametrize("backend", ["native", "psp-proxy"])
def test_daemon_with_its_own_tsm_connects_the_device_itself(emulator: tuple[str, Path], tmp_path: Path,
                                                             backend: str) -> None:
    """``--backend``: for hosts without a kernel TSM, the daemon's own TSM carries the decision out."""
    if not _netlink_allowed():
        pytest.skip("binding a NETLINK_KOBJECT_UEVENT socket was refused here")
    url, policy = emulator
    sysfs = kernel_sysfs(tmp_path, BDF)  # one device: the emulator serves one connection, which the TSM keeps
    [decision], last = run_daemon(tmp_path, policy, sysfs, url, 1, "--backend", backend)
    assert decision["allow"] and decision["action"] == "connect", decision
    assert "1 allowed, 0 denied" in last
    tree = read_device(tmp_path / "devsec", BDF)  # TSM mode: the daemon's TSM holds the device
    assert tree.authenticated == backend and tree.tsm is not None and tree.tsm.connect == backend
    assert tree.spdm is not None and "ide_km" in tree.spdm.vendor_protocols  # IDE keys were programmed
    assert (sysfs / "bus/pci/devices" / BDF / "tsm/connect").read_text() == "\n"  # the kernel's untouched


def test_daemon_backend_usage_errors(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text('[trust]\nroot_hashes = ["sha256:' + "00" * 32 + '"]\n')

    def daemon(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "devsec", "daemon", "--policy",
                               str(tmp_path / "policy.toml"), "--sysfs", str(tmp_path / "devsec"),
                               "--backend", "native", *flags],
                              cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT, check=False)

    refused = daemon()
    assert refused.returncode == 2 and "trust roots as certificate files" in refused.stderr
    refused = daemon("--tsm", "tsm0")
    assert refused.returncode == 2 and "choose one" in refused.stderr
