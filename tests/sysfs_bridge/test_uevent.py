"""Tests for sysfs_bridge.uevent: the kernel's uevent datagrams, udev's environment, the sources."""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Iterator

import pytest
from pyroute2.netlink import NETLINK_KOBJECT_UEVENT
from pyroute2.netlink.uevent import MarshalUevent

from spdm.errors import DecodeError, TransportError
from sysfs_bridge.uevent import (
    NetlinkUeventSource,
    QueueUeventSource,
    Uevent,
    UeventSourceClosed,
    Work,
    parse_uevent,
    uevent_from_environment,
    uevent_from_message,
    work_for,
)

DEVPATH = "/devices/pci0000:00/0000:00:01.0/0000:01:00.0"
# What the kernel's pci_uevent() sends for a hot-added function (lib/kobject_uevent.c framing).
PCI_ADD = (
    f"add@{DEVPATH}\0ACTION=add\0DEVPATH={DEVPATH}\0SUBSYSTEM=pci\0PCI_CLASS=10800\0"
    "PCI_ID=1AF4:1234\0PCI_SUBSYS_ID=1AF4:1100\0PCI_SLOT_NAME=0000:01:00.0\0"
    "MODALIAS=pci:v00001AF4d00001234sv00001AF4sd00001100bc01sc08i00\0SEQNUM=4711\0"
).encode()
TSM_CHANGE = b"change@/devices/virtual/tsm/tsm0\0ACTION=change\0DEVPATH=/devices/virtual/tsm/tsm0\0" \
             b"SUBSYSTEM=tsm\0SEQNUM=4712\0"


def pci(action: str, bdf: str = "0000:01:00.0") -> Uevent:
    path = f"/devices/pci0000:00/0000:00:01.0/{bdf}"
    return Uevent(action, path, "pci", {"ACTION": action, "DEVPATH": path, "SUBSYSTEM": "pci",
                                        "PCI_SLOT_NAME": bdf})


def test_kernel_datagram() -> None:
    event = parse_uevent(PCI_ADD)
    assert (event.action, event.devpath, event.subsystem) == ("add", DEVPATH, "pci")
    assert event.env["SEQNUM"] == "4711" and event.env["PCI_ID"] == "1AF4:1234"
    assert event.pci_device == "0000:01:00.0"
    assert work_for(event) == Work("admit", "0000:01:00.0")


def test_pyroute2_parses_the_same_event() -> None:
    """pyroute2's own parser (an independent reading of the same bytes) yields the same event."""
    for data in (PCI_ADD, TSM_CHANGE):
        (message,) = MarshalUevent().parse(data)
        assert uevent_from_message(message) == parse_uevent(data)


def test_udev_environment() -> None:
    env = {"ACTION": "add", "DEVPATH": DEVPATH, "SUBSYSTEM": "pci", "PCI_SLOT_NAME": "0000:01:00.0",
           "SEQNUM": "4711", "PATH": "/usr/bin", "UDEV_LOG": "3", "lower": "x"}
    event = uevent_from_environment(env)
    assert (event.action, event.devpath, event.subsystem) == ("add", DEVPATH, "pci")
    assert event.env.keys() == {"ACTION", "DEVPATH", "SUBSYSTEM", "PCI_SLOT_NAME", "SEQNUM", "PATH",
                                "UDEV_LOG"}  # lower-case names are no uevent keys
    assert event.pci_device == "0000:01:00.0" and work_for(event) == Work("admit", "0000:01:00.0")
    with pytest.raises(DecodeError, match="without ACTION"):
        uevent_from_environment({"DEVPATH": DEVPATH, "SUBSYSTEM": "pci"})


@pytest.mark.parametrize(("data", "match"), [
    (b"add /devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=pci\0", "not ACTION@DEVPATH"),
    (b"add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM\0", "not KEY=VALUE"),
    (b"add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0subsystem=pci\0", "not KEY=VALUE"),
    (b"add@/devices/x\0ACTION=add\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=pci\0", "repeats ACTION"),
    (b"add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0", "without SUBSYSTEM"),
    (b"add@/devices/x\0ACTION=remove\0DEVPATH=/devices/x\0SUBSYSTEM=pci\0", "disagrees"),
    (b"add@/devices/x\0ACTION=add\0DEVPATH=/devices/\xff\0SUBSYSTEM=pci\0", "not UTF-8"),
    # udevd's re-broadcasts (group 2): a binary header, then the pairs; never the kernel's format
    (b"libudev\0\xfe\xed\xca\xfe" + bytes(28) + b"ACTION=add\0", "not UTF-8"),
    (b"libudev\0" + bytes(32) + b"ACTION=add\0", "not ACTION@DEVPATH"),
])
def test_malformed_datagrams(data: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        parse_uevent(data)


def test_what_each_event_asks_for() -> None:
    assert work_for(pci("change")) == Work("admit", "0000:01:00.0")
    assert work_for(pci("remove")) == Work("forget", "0000:01:00.0")
    assert work_for(pci("bind")) is None
    assert work_for(parse_uevent(TSM_CHANGE)) == Work("rescan")
    assert work_for(Uevent("add", "/devices/virtual/tsm/tsm0", "tsm")) is None
    assert work_for(Uevent("add", "/devices/usb1", "usb")) is None
    assert pci("add", "0000:0A:00.1").pci_device == "0000:0a:00.1"  # the kernel's form is lower case
    for slot in ("", "../../etc", "0000:01:00.8"):
        event = Uevent("add", DEVPATH, "pci", {"PCI_SLOT_NAME": slot})
        with pytest.raises(DecodeError, match="PCI_SLOT_NAME"):
            work_for(event)


def test_queue_source_delivers_in_order_then_reports_closed() -> None:
    source = QueueUeventSource([pci("add"), pci("remove")])
    assert source.receive(0.01) == pci("add")
    assert source.receive(0.01) == pci("remove")
    start = time.monotonic()
    assert source.receive(0.05) is None
    assert time.monotonic() - start >= 0.04
    source.put(pci("change"))
    source.close()
    source.close()
    with pytest.raises(UeventSourceClosed):
        source.put(pci("add"))
    assert source.receive(0.01) == pci("change")  # queued before close: still delivered
    for _ in range(2):
        with pytest.raises(UeventSourceClosed):
            source.receive(0.01)


@pytest.fixture
def netlink() -> Iterator[NetlinkUeventSource]:
    try:
        source = NetlinkUeventSource()
    except TransportError as exc:
        cause = exc.__cause__
        if isinstance(cause, OSError) and cause.errno in (errno.EPERM, errno.EACCES):
            pytest.skip(f"binding a NETLINK_KOBJECT_UEVENT socket was refused here: {cause}")
        raise
    yield source
    source.close()


def test_netlink_source_binds_times_out_and_drops_forgeries(
        netlink: NetlinkUeventSource, caplog: pytest.LogCaptureFixture) -> None:
    """The real pyroute2 socket: bound to the kernel group, a receive timeout, and a datagram
    unicast by a local process (a forged remove) dropped because it is not from the kernel."""
    start = time.monotonic()
    assert netlink.receive(0.05) is None
    assert 0.04 <= time.monotonic() - start < 2
    forged = pci("remove")
    payload = f"remove@{forged.devpath}\0" + "".join(f"{k}={v}\0" for k, v in forged.env.items())
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_KOBJECT_UEVENT) as sender:
        sender.bind((0, 0))
        try:
            sender.sendto(payload.encode(), (netlink.port, 0))
        except PermissionError as exc:
            pytest.skip(f"this kernel refuses a unicast to a uevent socket: {exc}")
    with caplog.at_level(logging.WARNING, logger="sysfs_bridge.uevent"):
        assert netlink.receive(2.0) is None
    assert "not the kernel" in caplog.text
    netlink.close()
    netlink.close()
    with pytest.raises(UeventSourceClosed):
        netlink.receive(0.01)
