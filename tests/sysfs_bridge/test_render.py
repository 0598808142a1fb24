"""sysfs_bridge.rendering: the tree's layout, atomic re-rendering, the log's numbering and cap, safety."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from spdm.errors import ConfigurationError
from spdm.messages.codes import BaseAsymAlgo, SpdmVersion
from sysfs_bridge import DeviceEvidence, PciIdentity, TsmState, read_device, render
from sysfs_bridge.rendering import device_files, entry_files, remove_device
from tests.sysfs_bridge.helpers import BDF, CASE_IDS, CASES, teeio_evidence
from tests.sysfs_bridge.helpers import evidence as make_evidence

ENTRY_SUFFIXES = ("signature", "transcript", "requester_nonce", "responder_nonce", "hash_algorithm",
                  "combined_spdm_prefix", "type", "certificate_chain", "asym_algorithm")


@pytest.mark.parametrize(("asym", "version"), CASES, ids=CASE_IDS)
def test_tree_has_every_path_of_the_table(tmp_path: Path, asym: BaseAsymAlgo, version: SpdmVersion) -> None:
    ev = replace(make_evidence(asym, version), tsm=TsmState(connect="tsm0", dsm="0000:03:00.0"))
    supported = (0,) if version >= SpdmVersion.V13 else tuple(range(8))  # the device's SupportedSlotMask
    assert ev.supported_slots == supported
    device = render(ev, tmp_path)
    assert device == tmp_path / "bus/pci/devices" / BDF
    assert device.is_symlink() and os.readlink(device).startswith("../../../devices/devsec/")
    assert (device / "authenticated").read_bytes() == b"1\n"
    assert (device / "certificates/slot0").read_bytes() == ev.certificates[0]
    for slot in range(1, 8):
        assert (device / f"certificates/slot{slot}").exists() == (slot in supported)
        if slot in supported:
            assert (device / f"certificates/slot{slot}").read_bytes() == b""
    names = set(os.listdir(device / "signatures"))
    assert names == {"next_requester_nonce"} | {f"{n}_{s}" for n in (0, 1) for s in ENTRY_SUFFIXES}
    entry = ev.signatures[0]
    assert (device / "signatures/0_transcript").read_bytes() == entry.transcript
    assert (device / "signatures/0_type").read_bytes() == b"responder-challenge_auth signing\n"
    assert (device / "signatures/1_hash_algorithm").read_bytes() == b"sha384\n"
    assert (device / "signatures/0_combined_spdm_prefix").read_bytes() == entry.combined_spdm_prefix
    link = device / "signatures/0_certificate_chain"
    assert os.readlink(link) == "../certificates/slot0"
    assert link.read_bytes() == ev.certificates[0]
    assert sorted(os.listdir(device / "doe_features")) == ["0001:01", "0001:02", "doe_discovery"]
    assert (device / "doe_features/0001:01").read_bytes() == b"0001:01\n"
    assert (device / "doe_features/doe_discovery").read_bytes() == b"0001:00\n"
    first = ev.measurements[0]
    assert (device / f"measurements/{first.index}/value").read_bytes() == first.value
    assert (device / f"measurements/{first.index}/value_type").read_bytes() == b"immutable-rom\n"
    assert (device / f"measurements/{first.index}/representation").read_bytes() == b"digest\n"
    assert (device / f"measurements/{first.index}/source").read_bytes() == b"spdm\n"
    assert sorted(os.listdir(device / "tsm")) == ["bound", "connect", "disconnect", "dsm"]
    assert (device / "tsm/connect").read_bytes() == b"tsm0\n"
    tsm = tmp_path / "class/tsm/tsm0"
    assert tsm.is_symlink() and tsm.resolve() == (tmp_path / "devices/virtual/tsm/tsm0").resolve()


def test_tsm_mode_authenticated_and_no_tsm_dir(tmp_path: Path) -> None:
    device = render(DeviceEvidence(BDF, "tsm3"), tmp_path)
    assert (device / "authenticated").read_bytes() == b"tsm3\n"
    assert not (device / "tsm").exists()
    assert (tmp_path / "class/tsm/tsm3").is_dir()
    device = render(DeviceEvidence("0000:04:00.0", False), tmp_path)
    assert (device / "authenticated").read_bytes() == b"0\n"


def test_no_temporary_files_or_old_trees_are_left(tmp_path: Path) -> None:
    ev = make_evidence()
    for _ in range(3):
        render(ev, tmp_path)
    assert len(os.listdir(tmp_path / "devices/devsec")) == 1
    for _, dirs, files in os.walk(tmp_path):
        assert not [n for n in files + dirs if n.startswith(".")]


def test_pure_renderings() -> None:
    ev = make_evidence()
    files = device_files(ev)
    assert files["authenticated"] == b"1\n" and files["certificates/slot0"] == ev.certificates[0]
    assert "certificates/slot7" not in files  # SPDM 1.3: the device supports slot 0 only
    assert set(entry_files(ev.signatures[0])) == {
        f"0_{s}" for s in ENTRY_SUFFIXES if s != "certificate_chain"}


def test_numbering_continues_across_renders(tmp_path: Path) -> None:
    ev = make_evidence()
    device = render(ev, tmp_path)
    render(replace(ev, signatures=ev.signatures[:1]), tmp_path)  # already logged: not repeated
    assert [s.number for s in read_device(tmp_path, BDF).signatures] == [0, 1]
    fresh = make_evidence(*CASES[1])  # another authentication: new signatures numbered 0, 1
    render(replace(ev, signatures=fresh.signatures), tmp_path)
    log = read_device(tmp_path, BDF).signatures
    assert [s.number for s in log] == [0, 1, 2, 3]
    assert [s.transcript for s in log] == [s.transcript for s in ev.signatures + fresh.signatures]
    assert (device / "signatures/3_transcript").read_bytes() == fresh.signatures[1].transcript


def test_entries_already_logged_under_other_numbers_are_not_logged_again(tmp_path: Path) -> None:
    """A TSM reports its connect's signatures again with every later operation, numbered from 0."""
    cma, tsm = make_evidence(), make_evidence(*CASES[1])
    render(cma, tmp_path)  # entries 0, 1
    render(replace(cma, signatures=tsm.signatures[:1]), tmp_path)  # the TSM's connect: 2
    render(replace(cma, signatures=tsm.signatures), tmp_path)  # the same again plus one: only 3 is new
    log = read_device(tmp_path, BDF).signatures
    assert [s.number for s in log] == [0, 1, 2, 3]
    assert [s.signature for s in log] == [s.signature for s in cma.signatures + tsm.signatures]
    # the same signature over other bytes is not the same entry: it is logged
    forged = replace(tsm.signatures[0], transcript=tsm.signatures[0].transcript + b"\x00")
    render(replace(cma, signatures=(forged,)), tmp_path)
    assert [s.number for s in read_device(tmp_path, BDF).signatures] == [0, 1, 2, 3, 4]


def test_cap_purges_the_oldest_and_keeps_the_newest(tmp_path: Path) -> None:
    ev = make_evidence()
    other = make_evidence(*CASES[1])
    render(ev, tmp_path, max_signatures=3)
    render(replace(ev, signatures=other.signatures), tmp_path, max_signatures=3)
    log = read_device(tmp_path, BDF).signatures
    assert [s.number for s in log] == [1, 2, 3]
    assert log[-1].transcript == other.signatures[-1].transcript
    third = make_evidence(*CASES[2])
    render(replace(ev, signatures=third.signatures[:1]), tmp_path, max_signatures=1)
    log = read_device(tmp_path, BDF).signatures
    assert [s.number for s in log] == [4] and log[0].transcript == third.signatures[0].transcript
    with pytest.raises(ConfigurationError):
        render(ev, tmp_path, max_signatures=0)


def test_tampered_entries_are_carried_over_byte_for_byte(tmp_path: Path) -> None:
    ev = make_evidence()
    device = render(ev, tmp_path)
    (device / "signatures/0_signature").write_bytes(b"forged")
    render(replace(ev, signatures=()), tmp_path)
    assert (device / "signatures/0_signature").read_bytes() == b"forged"


def test_concurrent_reader_never_sees_a_mix(tmp_path: Path) -> None:
    one = make_evidence()
    two = replace(make_evidence(*CASES[1]), signatures=(), authenticated="tsm1",
                  tsm=TsmState(connect="tsm1"))
    one = replace(one, signatures=())
    render(one, tmp_path)
    stop = threading.Event()
    seen: list[DeviceEvidence | BaseException] = []

    def reader() -> None:
        while not stop.is_set() and len(seen) < 2000:
            try:
                seen.append(read_device(tmp_path, BDF))
            except BaseException as exc:  # noqa: BLE001 - every failure is a finding
                seen.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(40):
            render(two if i % 2 == 0 else one, tmp_path)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert seen
    assert all(s in (one, two) for s in seen), next(s for s in seen if s not in (one, two))


@pytest.mark.parametrize("bdf", ["../../../etc", "0000:03:00.0/../../x", "0000:03:00.0/..", "."])
def test_path_tricks_in_the_address_are_refused(tmp_path: Path, bdf: str) -> None:
    ev = make_evidence()
    object.__setattr__(ev, "bdf", bdf)  # past the constructor's check: render checks again
    with pytest.raises(ConfigurationError):
        render(ev, tmp_path / "root")
    assert not (tmp_path / "etc").exists() and not (tmp_path / "x").exists()


def test_symlinks_leading_out_of_the_root_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    (root / "bus/pci").mkdir(parents=True)
    (root / "bus/pci/devices").symlink_to(outside)
    with pytest.raises(ConfigurationError, match="symlink"):
        render(make_evidence(), root)
    assert os.listdir(outside) == []
    root2 = tmp_path / "root2"
    (root2 / "bus/pci/devices").mkdir(parents=True)
    (root2 / "bus/pci/devices" / BDF).symlink_to(outside)
    with pytest.raises(ConfigurationError):
        render(make_evidence(), root2)
    assert os.listdir(outside) == []


def test_a_device_directory_devsec_did_not_render_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "bus/pci/devices" / BDF).mkdir(parents=True)
    with pytest.raises(ConfigurationError, match="not rendered by devsec"):
        render(make_evidence(), tmp_path)


def test_remove_device_takes_the_whole_tree_and_nothing_else(tmp_path: Path) -> None:
    ev = replace(make_evidence(), tsm=TsmState(connect="tsm0"))
    device = render(ev, tmp_path)
    other = render(replace(make_evidence(), bdf="0000:04:00.0"), tmp_path)
    target = device.resolve()
    assert remove_device(BDF, tmp_path) is True
    assert not os.path.lexists(device) and not target.exists()
    assert read_device(tmp_path, "0000:04:00.0") == read_device(tmp_path, other.name)
    assert (tmp_path / "class/tsm/tsm0").is_symlink()  # other devices may name the TSM
    assert remove_device(BDF, tmp_path) is False
    render(ev, tmp_path)  # a device that comes back starts a fresh log
    assert sorted(os.listdir(device / "signatures"))[0].startswith("0_")


def test_remove_device_leaves_what_devsec_did_not_render(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "root/bus/pci/devices").mkdir(parents=True)
    (tmp_path / "root/bus/pci/devices" / BDF).symlink_to(outside)
    with pytest.raises(ConfigurationError, match="outside the root"):
        remove_device(BDF, tmp_path / "root")
    (tmp_path / "plain/bus/pci/devices" / BDF).mkdir(parents=True)
    with pytest.raises(ConfigurationError, match="not rendered by devsec"):
        remove_device(BDF, tmp_path / "plain")
    assert outside.is_dir() and (tmp_path / "plain/bus/pci/devices" / BDF).is_dir()
    with pytest.raises(ConfigurationError):
        remove_device("../../etc", tmp_path / "root")


def test_spdm_facts_and_pci_identity_files(tmp_path: Path) -> None:
    ev = replace(teeio_evidence(), pci=PciIdentity(0x1AF4, 0x1234, 0x1AF4, 0x0001, 0x010802))
    device = render(ev, tmp_path)
    spdm = {name: (device / "spdm" / name).read_bytes() for name in os.listdir(device / "spdm")}
    assert spdm == {
        "version": b"1.3\n", "hash_algorithm": b"sha384\n", "asym_algorithm": b"ecdsa-p384\n",
        "measurement_hash_algorithm": b"sha384\n", "dhe_group": b"secp384r1\n",
        "aead_suite": b"aes-256-gcm\n", "vendor_protocols": b"ide_km tdisp\n",
        "capabilities": b"CERT_CAP CHAL_CAP ENCRYPT_CAP HBEAT_CAP KEY_EX_CAP KEY_UPD_CAP MAC_CAP "
                        b"MEAS_CAP_SIG MEAS_FRESH_CAP\n",
    }
    # The kernel's formats (drivers/pci/pci-sysfs.c: "0x%04x\n", class "0x%06x\n").
    assert [(device / name).read_bytes() for name in
            ("vendor", "device", "subsystem_vendor", "subsystem_device", "class")] == [
        b"0x1af4\n", b"0x1234\n", b"0x1af4\n", b"0x0001\n", b"0x010802\n"]
    no_session = make_evidence()
    device = render(replace(no_session, bdf="0000:04:00.0"), tmp_path)
    assert (device / "spdm/dhe_group").read_bytes() == b"\n"
    assert (device / "spdm/vendor_protocols").read_bytes() == b"\n"
    assert not (device / "vendor").exists() and not (device / "class").exists()
    device = render(DeviceEvidence("0000:05:00.0", True), tmp_path)
    assert not (device / "spdm").exists()
