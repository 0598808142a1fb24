"""Each deliberately broken requester (``broken_requester.py``) is caught by the case named for it."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from devsec.cli import main
from devsec.conformance.requester import catalogue

from .broken_requester import CAUGHT_BY

SCRIPT = Path(__file__).with_name("broken_requester.py")


def _command(fault: str) -> str:
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(SCRIPT))} {fault} {{port}} {{root}}"


def test_every_broken_requester_names_a_catalogued_case() -> None:
    assert set(CAUGHT_BY.values()) <= {c.id for c in catalogue()}


@pytest.mark.parametrize("fault", sorted(CAUGHT_BY))
def test_the_broken_requester_is_caught_by_its_case(fault: str, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    status = main(["conformance", "serve", "--requester-cmd", _command(fault), "--case", CAUGHT_BY[fault],
                   "--json", str(report)])
    [case] = json.loads(report.read_text())["cases"]
    assert status == 1
    assert case["verdict"] == "fail"
    failed = [a for a in case["assertions"] if not a["passed"]]
    assert failed and all(a["reference"].startswith(("DSP0274", "DSP0277")) for a in failed)
    assert all("exchange" in a for a in failed)


def test_a_broken_requester_still_passes_the_cases_it_does_not_break(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    status = main(["conformance", "serve", "--requester-cmd", _command("success-on-busy"),
                   "--case", "requester.vca.version-first", "--json", str(report)])
    assert status == 0
    assert json.loads(report.read_text())["ok"] is True


def test_a_requester_that_does_not_exit_in_time_is_killed_and_fails(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    hang = f"{shlex.quote(sys.executable)} -c 'import time; time.sleep(30)' {{port}}"
    status = main(["conformance", "serve", "--requester-cmd", hang, "--timeout", "0.5",
                   "--case", "requester.vca.version-first", "--json", str(report)])
    assert status == 1
    [case] = json.loads(report.read_text())["cases"]
    assert case["verdict"] == "fail" and case["seconds"] < 5
    assert any(a["actual"].startswith("killed: no exit in time") for a in case["assertions"])
