"""Tests for spdm.transport.ownership: a device the kernel's TSM holds is refused (issue 11 item 11).

A fake sysfs holds a device 0000:01:00.0 (a DSM with a DOE capability in its
``config`` file), a second function 0000:01:00.1 and a virtual function
0000:01:02.0 behind a ``virtfn0`` link, with the PCI/TSM attributes mainline
6.19 defines; every way the kernel's TSM can hold the device must keep devsec
off its mailbox unless forced.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from spdm.errors import TransportError
from spdm.transport import (
    DeviceMailbox,
    KernelTsmHoldsDevice,
    MailboxInUse,
    ModelConfigSpace,
    device_directory,
    kernel_tsm_claims,
)
from spdm.transport.endpoint import DoeEndpoint
from spdm.transport.mailbox import DoeMailboxModel
from spdm.transport.targets import open_target, open_transport

DSM = "0000:01:00.0"


def config_bytes() -> bytes:
    config = ModelConfigSpace([DoeMailboxModel(DoeEndpoint({}).handle)])
    return b"".join(struct.pack("<I", config.read32(offset)) for offset in range(0, 0x1000, 4))


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    """The devices with empty TSM attributes: nothing holds them."""
    root = tmp_path / "sys"
    devices = root / "bus" / "pci" / "devices"
    for name in (DSM, "0000:01:00.1", "0000:01:02.0"):
        (devices / name / "tsm").mkdir(parents=True)
        (devices / name / "config").write_bytes(config_bytes())
        (devices / name / "tsm" / "bound").write_text("\n")
        (devices / name / "tsm" / "dsm").write_text(f"{DSM}\n")
    (devices / DSM / "tsm" / "connect").write_text("\n")
    (devices / DSM / "virtfn0").symlink_to(devices / "0000:01:02.0")
    (devices / "0000:02:00.0" / "tsm").mkdir(parents=True)  # another device: never looked at
    (devices / "0000:02:00.0" / "tsm" / "bound").write_text("tsm0\n")
    return root


def attribute(sysfs: Path, function: str, name: str) -> Path:
    return sysfs / "bus" / "pci" / "devices" / function / "tsm" / name


def test_a_device_nothing_holds_opens(sysfs: Path) -> None:
    assert kernel_tsm_claims(device_directory(DSM, sysfs)) == []
    open_target(DSM, sysfs_root=str(sysfs)).close()


def test_a_kernel_without_pci_tsm_claims_nothing(tmp_path: Path) -> None:
    device = tmp_path / "bus" / "pci" / "devices" / DSM
    device.mkdir(parents=True)
    (device / "config").write_bytes(config_bytes())
    assert kernel_tsm_claims(device) == []
    DeviceMailbox(DSM, str(tmp_path)).close()


@pytest.mark.parametrize(
    ("function", "name", "says"),
    [
        (DSM, "connect", f"{DSM} tsm/connect is 'tsm0' (connected to that TSM)"),
        (DSM, "bound", f"{DSM} tsm/bound is 'tsm0' (a TDI bound through that TSM)"),
        ("0000:01:00.1", "bound", "0000:01:00.1 tsm/bound is 'tsm0'"),
        ("0000:01:02.0", "bound", "0000:01:02.0 tsm/bound is 'tsm0'"),
    ],
    ids=["connected", "dsm-bound", "function-bound", "vf-bound"],
)
def test_a_device_the_kernel_tsm_holds_is_refused_before_anything_opens(
    sysfs: Path, function: str, name: str, says: str
) -> None:
    attribute(sysfs, function, name).write_text("tsm0\n")
    # Without its config file, opening the mailbox would fail otherwise: the refusal
    # below shows that nothing was opened (a count of open descriptors is not, with
    # other tests' threads closing sockets meanwhile).
    (device_directory(DSM, sysfs) / "config").unlink()
    with pytest.raises(KernelTsmHoldsDevice, match="held by the kernel's TSM") as refused:
        open_target(DSM, sysfs_root=str(sysfs))
    assert says in str(refused.value) and "force" in str(refused.value)
    assert isinstance(refused.value, MailboxInUse) and isinstance(refused.value, TransportError)
    with pytest.raises(KernelTsmHoldsDevice):
        with open_transport("01:00.0", sysfs_root=str(sysfs)):
            pass


def test_force_opens_a_held_device(sysfs: Path) -> None:
    attribute(sysfs, DSM, "connect").write_text("tsm0\n")
    with open_transport(DSM, sysfs_root=str(sysfs), force=True) as transport:
        assert isinstance(transport, DeviceMailbox)


def test_an_attribute_that_cannot_be_read_counts_as_held(sysfs: Path) -> None:
    path = attribute(sysfs, DSM, "connect")
    path.unlink()
    path.mkdir()  # reading it fails (EISDIR), as a permission error would
    [claim] = kernel_tsm_claims(device_directory(DSM, sysfs))
    assert claim.startswith(f"{DSM} tsm/connect cannot be read") and "unknown" in claim
    with pytest.raises(KernelTsmHoldsDevice):
        open_target(DSM, sysfs_root=str(sysfs))


def test_attribute_reads_are_bounded_and_never_block(sysfs: Path) -> None:
    connect = attribute(sysfs, DSM, "connect")
    connect.unlink()
    connect.symlink_to("/dev/zero")  # endless: one page is read, and it is not empty
    bound = attribute(sysfs, DSM, "bound")
    bound.unlink()
    os.mkfifo(bound)  # no writer: a blocking open or read would hang
    claims = kernel_tsm_claims(device_directory(DSM, sysfs))
    assert len(claims) == 1 and claims[0].startswith(f"{DSM} tsm/connect is '\\x00")
