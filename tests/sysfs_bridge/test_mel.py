"""devsec's ``mel/``: the Measurement Extension Log rendered raw and parsed, read back, checked."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from spdm.errors import ConfigurationError, DecodeError
from spdm.messages.codes import DMTF_RAW_BIT_STREAM, DmtfValueType
from spdm.messages.mel import Mel, MelEntry
from sysfs_bridge.evidence import DeviceEvidence
from sysfs_bridge.mel import mel_files, read_mel
from sysfs_bridge.read import read_device
from sysfs_bridge.rendering import render

BDF = "0000:3a:00.0"
LOG = Mel(entries=(MelEntry(1, 0x11, DMTF_RAW_BIT_STREAM | DmtfValueType.INFORMATIONAL, b"ROM"),
                   MelEntry(2, 0x11, DmtfValueType.MUTABLE_FIRMWARE, bytes(48)))).encode()


def test_the_files_are_the_log_and_its_entries() -> None:
    files = mel_files(LOG)
    assert files["log"] == LOG
    assert files["entries"] == (b"1 0x11 informational raw 524f4d\n"
                                b"2 0x11 mutable-firmware digest " + b"00" * 48 + b"\n")


def test_the_log_round_trips_through_the_tree(tmp_path: Path) -> None:
    evidence = DeviceEvidence(bdf=BDF, authenticated=True, mel=LOG)
    render(evidence, tmp_path)
    assert read_device(tmp_path, BDF) == evidence
    assert read_device(tmp_path, BDF).mel == LOG
    render(replace(evidence, mel=b""), tmp_path)
    assert not (tmp_path / "bus/pci/devices" / BDF / "mel").exists()


def test_a_tampered_view_or_log_is_refused(tmp_path: Path) -> None:
    render(DeviceEvidence(bdf=BDF, authenticated=True, mel=LOG), tmp_path)
    directory = tmp_path / "bus/pci/devices" / BDF / "mel"
    entries = directory / "entries"
    entries.chmod(0o644)
    entries.write_bytes(b"1 0x12 informational raw 524f4d\n")
    with pytest.raises(DecodeError, match="disagrees"):
        read_mel(directory.parent)
    log = directory / "log"
    log.chmod(0o644)
    log.write_bytes(LOG[:-1])
    with pytest.raises(DecodeError, match="log"):
        read_mel(directory.parent)


def test_evidence_refuses_a_log_that_does_not_parse() -> None:
    with pytest.raises(ConfigurationError, match="MEL does not parse"):
        DeviceEvidence(bdf=BDF, authenticated=True, mel=b"\x01")
