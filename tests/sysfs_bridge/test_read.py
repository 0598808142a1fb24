"""sysfs_bridge.read: round trips, a tree shaped like the kernel's /sys, and garbage refused with its path."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from spdm.errors import ConfigurationError, DecodeError
from spdm.messages.codes import BaseAsymAlgo, SpdmVersion
from sysfs_bridge import (
    DeviceEvidence,
    PciIdentity,
    TsmState,
    list_devices,
    read_device,
    read_device_dir,
    render,
    verify_log,
)
from tests.sysfs_bridge.helpers import BDF, CASE_IDS, CASES, teeio_evidence
from tests.sysfs_bridge.helpers import evidence as make_evidence


@pytest.mark.parametrize(("asym", "version"), CASES, ids=CASE_IDS)
def test_round_trip(tmp_path: Path, asym: BaseAsymAlgo, version: SpdmVersion) -> None:
    ev = replace(make_evidence(asym, version), next_requester_nonce=b"\x01" * 32,
                 tsm=TsmState(connect="tsm0", dsm=BDF, bound="tsm0", lock="tsm0", accept="1"))
    render(ev, tmp_path)
    assert read_device(tmp_path, BDF) == ev


def test_round_trip_of_a_tee_io_device(tmp_path: Path) -> None:
    ev = teeio_evidence()
    render(ev, tmp_path)
    read = read_device(tmp_path, BDF)
    assert read == ev and read.spdm is not None and read.spdm.vendor_protocols == ("ide_km", "tdisp")
    assert read_device_dir(tmp_path / "bus/pci/devices" / BDF) == ev
    assert read_device_dir((tmp_path / "bus/pci/devices" / BDF).resolve()) == ev


def test_round_trip_of_minimal_evidence(tmp_path: Path) -> None:
    for ev in (DeviceEvidence(BDF, False), DeviceEvidence("0000:00:1f.7", ""),
               DeviceEvidence("0001:ff:00.1", "tsm2", tsm=TsmState())):
        render(ev, tmp_path)
        assert read_device(tmp_path, ev.bdf) == ev
    assert list_devices(tmp_path) == ["0000:00:1f.7", BDF, "0001:ff:00.1"]
    assert list_devices(tmp_path / "nothing") == []


def _kernel_tree(root: Path) -> Path:
    """A device as a kernel with CMA-SPDM and PCI/TSM shows it: bus link, extra attributes, no
    measurements, a log without devsec's _asym_algorithm, binary text without newlines."""
    ev = make_evidence()
    device = root / "devices/pci0000:00/0000:00:01.0"
    (device / "certificates").mkdir(parents=True)
    (root / "bus/pci/devices").mkdir(parents=True)
    (root / "bus/pci/devices/0000:00:01.0").symlink_to("../../../devices/pci0000:00/0000:00:01.0")
    (root / "bus/pci/devices/0000:00:02.0").symlink_to("../../../devices/pci0000:00/0000:00:02.0")
    (root / "devices/pci0000:00/0000:00:02.0").mkdir()  # a device without CMA or TSM at all
    for name, data in (("vendor", b"0x8086\n"), ("device", b"0x0d58\n"), ("config", b"\0" * 64),
                       ("authenticated", b"1\n")):
        (device / name).write_bytes(data)
    (device / "certificates/slot0").write_bytes(ev.certificates[0])
    (device / "certificates/slot1").write_bytes(b"")  # slots 2..7 not even present
    (device / "doe_features").mkdir()
    for name in ("0001:00", "0001:01"):
        (device / "doe_features" / name).write_bytes(name.encode() + b"\n")
    sig = device / "signatures"
    sig.mkdir()
    entry = ev.signatures[0]
    for suffix, data in (("signature", entry.signature), ("transcript", entry.transcript),
                         ("requester_nonce", entry.requester_nonce),
                         ("responder_nonce", entry.responder_nonce),
                         ("hash_algorithm", b"sha384"), ("combined_spdm_prefix", entry.combined_spdm_prefix),
                         ("type", entry.type.encode())):
        (sig / f"7_{suffix}").write_bytes(data)
    (sig / "7_certificate_chain").symlink_to("../certificates/slot0")
    (device / "tsm").mkdir()
    (device / "tsm/connect").write_bytes(b"tsm0\n")
    (device / "tsm/disconnect").write_bytes(b"")
    (device / "tsm/disconnect").chmod(0o200)  # write-only, as in the kernel
    return device


def test_kernel_shaped_tree(tmp_path: Path) -> None:
    device = _kernel_tree(tmp_path)
    assert list_devices(tmp_path) == ["0000:00:01.0", "0000:00:02.0"]
    ev = read_device(tmp_path, "0000:00:01.0")
    original = make_evidence()
    assert ev.authenticated is True
    assert ev.certificates == {0: original.certificates[0]}
    assert ev.doe_features == ((1, 0), (1, 1))
    assert ev.measurements == () and ev.next_requester_nonce == b""
    assert ev.tsm == TsmState(connect="tsm0")
    assert ev.pci == PciIdentity(vendor=0x8086, device=0x0D58) and ev.spdm is None
    assert ev.signatures == (replace(original.signatures[0], number=7, asym_algorithm=""),)
    assert [(v.number, v.ok) for v in verify_log(device)] == [(7, True)]
    assert ev.supported_slots == (0, 1)
    assert read_device(tmp_path, "0000:00:02.0") == DeviceEvidence("0000:00:02.0", False, supported_slots=())


def test_missing_device_and_bad_address(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no device"):
        read_device(tmp_path, BDF)
    (tmp_path / "bus/pci/devices").mkdir(parents=True)
    (tmp_path / "bus/pci/devices" / BDF).symlink_to("../../../devices/devsec/gone")
    with pytest.raises(ConfigurationError, match="the link leads nowhere"):
        read_device(tmp_path, BDF)
    with pytest.raises(ConfigurationError):
        read_device(tmp_path, "../../etc")


def _garble(device: Path, relative: str, data: bytes | None) -> None:
    path = device / relative
    if path.is_symlink() or data is None:
        path.unlink()
    if data is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


GARBAGE = [
    ("authenticated", b"\xff\n"),
    ("authenticated", b"../tsm\n"),
    ("certificates/slot0", b"garbage"),
    ("doe_features/zz", b""),
    ("measurements/1/representation", b"hashed\n"),
    ("measurements/1/value_type", None),
    ("measurements/x/value", b""),
    ("signatures/0_hash_algorithm", None),
    ("signatures/0_certificate_chain", b"../certificates/slot0"),
    ("signatures/0_type", b"two\nlines\n"),
    ("tsm/connect", b"a/b\n"),
    ("spdm/version", b"\xff\n"),
    ("spdm/version", b"2.7\n"),
    ("spdm/version", None),
    ("spdm/hash_algorithm", b"SHA 384\n"),
    ("spdm/capabilities", b"CERT_CAP cert-cap\n"),
    ("spdm/vendor_protocols", b"ide_km cxl\n"),
    ("spdm/surprise", b"1\n"),
    ("vendor", b"8086\n"),
    ("device", b"0x12345\n"),
    ("class", b"0x1000000\n"),
]


@pytest.mark.parametrize(("relative", "data"), GARBAGE, ids=[g[0] for g in GARBAGE])
def test_garbage_is_refused_naming_the_path(tmp_path: Path, relative: str, data: bytes | None) -> None:
    ev = replace(teeio_evidence(), tsm=TsmState(connect="tsm0"))
    device = render(ev, tmp_path)
    _garble(device, relative, data)
    with pytest.raises(DecodeError) as info:
        read_device(tmp_path, BDF)
    path = device.resolve() / relative
    assert f"{path}:" in str(info.value) or f"{path.parent}:" in str(info.value)
