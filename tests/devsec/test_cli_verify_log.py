"""``devsec verify-log`` takes a device directory or, where users naturally point, its ``signatures/``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from devsec.cli import main
from sysfs_bridge import render, verify_log
from tests.sysfs_bridge.helpers import evidence


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render(evidence(), tmp_path_factory.mktemp("sysfs"))


def test_the_signatures_directory_is_verified_as_its_device(device: Path) -> None:
    by_device = verify_log(device)
    assert len(by_device) == 2 and all(v.ok for v in by_device)
    assert verify_log(device / "signatures") == by_device
    assert verify_log(Path(str(device / "signatures") + "/")) == by_device


def test_the_current_directory_inside_the_log_is_the_log(device: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(device / "signatures")
    assert [v.ok for v in verify_log(Path("."))] == [True, True]


def test_a_copied_log_under_another_name_is_recognised_by_its_entries(device: Path, tmp_path: Path) -> None:
    copy = tmp_path / "dev"
    (copy / "log").mkdir(parents=True)
    os.symlink(device / "certificates", copy / "certificates")
    for entry in (device / "signatures").iterdir():
        if entry.is_symlink():  # N_certificate_chain -> ../certificates/slotX
            os.symlink(os.readlink(entry), copy / "log" / entry.name)
        else:
            (copy / "log" / entry.name).write_bytes(entry.read_bytes())
    assert [v.ok for v in verify_log(copy / "log")] == [True, True]


def test_a_directory_without_a_log_has_no_verdicts(tmp_path: Path) -> None:
    assert verify_log(tmp_path) == [] and verify_log(tmp_path / "missing") == []


def test_the_cli_accepts_the_signatures_directory(device: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify-log", str(device / "signatures")]) == 0
    assert "2 of 2 signatures verify" in capsys.readouterr().out
    assert main(["verify-log", str(device / "signatures"), "--json"]) == 0
    assert [v["ok"] for v in json.loads(capsys.readouterr().out)] == [True, True]


def test_the_cli_says_what_it_expects_when_there_is_no_log(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify-log", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "no signature log" in out and "signatures/ directory" in out
    assert "0 of 0" not in out
