"""sysfs_bridge.actor: the kernel TSM ABI, on a directory shaped like mainline 6.19's /sys."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from spdm.errors import ConfigurationError, TransportError
from sysfs_bridge.actor import KernelTsmActor

BDF = "0000:01:00.0"


def kernel(tmp_path: Path, *tsms: str, connected: str = "") -> Path:
    """A /sys with TSM class devices and one PCI device whose tsm/ attributes exist."""
    sysfs = tmp_path / "sys"
    for name in tsms:
        (sysfs / "devices/virtual/tsm" / name).mkdir(parents=True)
        (sysfs / "class/tsm").mkdir(parents=True, exist_ok=True)
        (sysfs / "class/tsm" / name).symlink_to(f"../../devices/virtual/tsm/{name}")
    attributes = sysfs / "bus/pci/devices" / BDF / "tsm"
    attributes.mkdir(parents=True)
    (attributes / "connect").write_text(f"{connected}\n")  # connect_show: the TSM's name or ""
    (attributes / "disconnect").write_text("")
    return sysfs


def attribute(sysfs: Path, name: str) -> str:
    return (sysfs / "bus/pci/devices" / BDF / "tsm" / name).read_text()


def test_connect_writes_the_only_tsm_name(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    sysfs = kernel(tmp_path, "tsm0")
    actor = KernelTsmActor(sysfs)
    assert actor.tsm_name() == "tsm0"
    with caplog.at_level(logging.INFO, logger="sysfs_bridge.actor"):
        actor.connect(BDF)
    assert attribute(sysfs, "connect") == "tsm0\n"
    before = (sysfs / "bus/pci/devices" / BDF / "tsm/connect").stat().st_mtime_ns
    actor.connect(BDF)  # already connected to it: nothing written (the kernel would say EBUSY)
    assert (sysfs / "bus/pci/devices" / BDF / "tsm/connect").stat().st_mtime_ns == before
    assert "connected to tsm0" in caplog.text


def test_connect_needs_one_tsm_or_a_chosen_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no TSM is registered"):
        KernelTsmActor(kernel(tmp_path / "none")).connect(BDF)
    sysfs = kernel(tmp_path / "two", "tsm0", "tsm1")
    with pytest.raises(ConfigurationError, match=r"several TSMs .*\(tsm0, tsm1\): choose one"):
        KernelTsmActor(sysfs).connect(BDF)
    KernelTsmActor(sysfs, tsm="tsm1").connect(BDF)
    assert attribute(sysfs, "connect") == "tsm1\n"
    with pytest.raises(ConfigurationError):
        KernelTsmActor(sysfs, tsm="../tsm0")


def test_connect_failures_are_transport_errors(tmp_path: Path) -> None:
    sysfs = kernel(tmp_path, "tsm0", connected="tsm7")
    with pytest.raises(TransportError, match="connected to tsm7, not tsm0"):
        KernelTsmActor(sysfs).connect(BDF)
    with pytest.raises(TransportError, match="cannot read"):
        KernelTsmActor(sysfs).connect("0000:02:00.0")  # no such device (or no TSM support)
    (sysfs / "bus/pci/devices" / BDF / "tsm/connect").unlink()
    (sysfs / "bus/pci/devices" / BDF / "tsm/connect").mkdir()
    with pytest.raises(TransportError, match="cannot read"):
        KernelTsmActor(sysfs).connect(BDF)


def test_write_never_creates_an_attribute(tmp_path: Path) -> None:
    sysfs = kernel(tmp_path, "tsm0", connected="tsm0")
    (sysfs / "bus/pci/devices" / BDF / "tsm/disconnect").unlink()
    with pytest.raises(TransportError, match="cannot write 'tsm0'"):
        KernelTsmActor(sysfs).refuse(BDF, ("bad measurement",))
    assert not (sysfs / "bus/pci/devices" / BDF / "tsm/disconnect").exists()


def test_bind_connects_and_leaves_the_bind_to_the_vmm(tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    sysfs = kernel(tmp_path, "tsm0")
    with caplog.at_level(logging.INFO, logger="sysfs_bridge.actor"):
        KernelTsmActor(sysfs).bind(BDF)
    assert attribute(sysfs, "connect") == "tsm0\n"
    assert "left to the VMM" in caplog.text


def test_refuse_disconnects_a_connected_device_and_says_why(tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    sysfs = kernel(tmp_path, "tsm0", connected="tsm0")
    with caplog.at_level(logging.WARNING, logger="sysfs_bridge.actor"):
        KernelTsmActor(sysfs).refuse(BDF, ("measurement 2 is not a reference value", "SPDM 1.1"))
    assert attribute(sysfs, "disconnect") == "tsm0\n"
    assert "refused: measurement 2 is not a reference value; SPDM 1.1" in caplog.text
    assert "disconnected from tsm0" in caplog.text


def test_refuse_leaves_an_unconnected_device_alone(tmp_path: Path) -> None:
    sysfs = kernel(tmp_path, "tsm0")
    KernelTsmActor(sysfs).refuse(BDF, ("no DOE",))
    assert attribute(sysfs, "disconnect") == ""
    KernelTsmActor(sysfs).refuse("0000:05:00.0", ("no DOE",))  # no tsm/ at all: nothing to undo
