"""The tree speaks the kernel's ABI: DOE feature names, PCI/TSM attributes, slots, modes (11.7, 11.8)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from spdm.errors import ConfigurationError
from spdm.messages.codes import BaseAsymAlgo, SpdmVersion
from sysfs_bridge import DeviceEvidence, TsmState, evidence_from_tsm, read_device, render
from tdisp.messages import TdiState
from tests.sysfs_bridge.helpers import BDF, VF, tsm_info
from tests.sysfs_bridge.helpers import evidence as make_evidence
from tsm import LinkState


def _trees(link: LinkState, *tdis: tuple[str, TdiState]) -> dict[str, DeviceEvidence]:
    return {ev.bdf: ev for ev in evidence_from_tsm(tsm_info(link, *tdis))}


# ------------------------------------------------------------------ 11.7: doe_features


def test_the_discovery_protocol_is_named_doe_discovery(tmp_path: Path) -> None:
    ev = make_evidence()
    assert (1, 0) in ev.doe_features
    device = render(ev, tmp_path)
    assert "0001:00" not in os.listdir(device / "doe_features")
    assert (device / "doe_features/doe_discovery").read_bytes() == b"0001:00\n"
    assert read_device(tmp_path, BDF).doe_features == ev.doe_features


def test_a_tree_naming_discovery_0001_00_still_reads(tmp_path: Path) -> None:
    device = render(make_evidence(), tmp_path).resolve()
    os.rename(device / "doe_features/doe_discovery", device / "doe_features/0001:00")
    assert (1, 0) in read_device(tmp_path, BDF).doe_features


# ------------------------------------------------------------------ 11.8: PCI/TSM attributes


def test_connected_device_and_its_functions() -> None:
    trees = _trees(LinkState.CONNECTED, (BDF, TdiState.RUN), (VF, TdiState.CONFIG_LOCKED))
    assert trees[BDF].authenticated == trees[VF].authenticated == "tsm0"
    assert trees[BDF].tsm == TsmState(dsm=BDF, bound="tsm0", connect="tsm0", lock="tsm0", accept="1")
    assert trees[VF].tsm == TsmState(dsm=BDF, bound="tsm0", lock="tsm0", accept="0")  # no connect


@pytest.mark.parametrize(("state", "bound", "accept"), [
    (TdiState.CONFIG_LOCKED, "tsm0", "0"), (TdiState.RUN, "tsm0", "1"), (TdiState.ERROR, "tsm0", "0"),
    (TdiState.CONFIG_UNLOCKED, "", "0")])
def test_bound_and_lock_follow_the_tdi(state: TdiState, bound: str, accept: str) -> None:
    tsm = _trees(LinkState.CONNECTED, (VF, state))[VF].tsm
    assert tsm is not None and (tsm.bound, tsm.lock, tsm.accept) == (bound, bound, accept)


def test_a_function_that_is_no_tdi_has_no_lock() -> None:
    tsm = _trees(LinkState.CONNECTED)[BDF].tsm
    assert tsm == TsmState(dsm=BDF, connect="tsm0")


def test_without_a_tsm_context_everything_is_empty() -> None:
    trees = _trees(LinkState.DISCONNECTED, (VF, TdiState.CONFIG_UNLOCKED))
    assert trees[BDF].authenticated == trees[VF].authenticated == ""
    assert trees[BDF].tsm == TsmState(dsm="", bound="", connect="")
    assert trees[VF].tsm == TsmState(dsm="", bound="", lock="", accept="0")


def test_a_lost_session_keeps_the_context_but_authenticates_nothing() -> None:
    trees = _trees(LinkState.ERROR, (VF, TdiState.ERROR))
    assert trees[BDF].authenticated == trees[VF].authenticated == ""
    dsm = trees[BDF].tsm
    assert dsm is not None and dsm.connect == "tsm0"
    assert trees[VF].tsm == TsmState(dsm=BDF, bound="tsm0", lock="tsm0", accept="0")


def test_write_only_attributes_are_empty_write_only_files(tmp_path: Path) -> None:
    for ev in _trees(LinkState.CONNECTED, (BDF, TdiState.RUN), (VF, TdiState.RUN)).values():
        render(ev, tmp_path)
    dsm = tmp_path / "bus/pci/devices" / BDF / "tsm"
    vf = tmp_path / "bus/pci/devices" / VF / "tsm"
    assert sorted(os.listdir(dsm)) == ["accept", "bound", "connect", "disconnect", "dsm", "lock", "unlock"]
    assert sorted(os.listdir(vf)) == ["accept", "bound", "dsm", "lock", "unlock"]
    for path in (dsm / "disconnect", dsm / "unlock", vf / "unlock"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o200 and path.stat().st_size == 0
    assert (dsm / "lock").read_bytes() == b"tsm0\n" and (dsm / "accept").read_bytes() == b"1\n"
    assert (vf / "dsm").read_bytes() == f"{BDF}\n".encode()
    assert read_device(tmp_path, VF).tsm == TsmState(dsm=BDF, bound="tsm0", lock="tsm0", accept="1")


def test_tsm_attribute_values_are_checked() -> None:
    for bad in ({"dsm": "tsm0"}, {"bound": "a/b"}, {"accept": "yes"}, {"lock": "../x"}):
        with pytest.raises(ConfigurationError):
            TsmState(**bad)


# ------------------------------------------------------------------ 11.8: slots


def test_certificate_slots_follow_the_supported_slot_mask(tmp_path: Path) -> None:
    v13 = make_evidence(BaseAsymAlgo.ECDSA_P384, SpdmVersion.V13)
    v11 = make_evidence(BaseAsymAlgo.ECDSA_P256, SpdmVersion.V11)
    assert v13.supported_slots == (0,)  # DIGESTS' SupportedSlotMask
    assert v11.supported_slots == tuple(range(8))  # before 1.3 the kernel shows all eight
    device = render(v13, tmp_path)
    assert os.listdir(device / "certificates") == ["slot0"]
    assert read_device(tmp_path, BDF).supported_slots == (0,)
    with pytest.raises(ConfigurationError, match="not among the supported slots"):
        replace(v13, supported_slots=(1,))


def test_a_tsm_renders_the_slots_it_reported() -> None:
    assert _trees(LinkState.CONNECTED)[BDF].supported_slots == (0,)
    assert _trees(LinkState.CONNECTED, (VF, TdiState.RUN))[VF].supported_slots == ()


# ------------------------------------------------------------------ 11.8: modes


@pytest.fixture
def strict_umask() -> Iterator[None]:
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def test_files_are_world_readable_and_directories_0755(tmp_path: Path, strict_umask: None) -> None:
    ev = replace(make_evidence(), tsm=TsmState(dsm=BDF, connect="tsm0"))
    device = render(ev, tmp_path).resolve()
    for directory, _dirs, files in os.walk(device):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o755, directory
        for name in files:
            path = Path(directory) / name
            if path.is_symlink():
                continue
            expected = 0o200 if name == "disconnect" else 0o444
            assert stat.S_IMODE(path.lstat().st_mode) == expected, path
