"""The requester event cases (requester.events): devsec's subscriber acknowledges every well-formed
SEND_EVENT and refuses the malformed ones, ``devsec connect`` (no subscription) has them skipped, and
each broken subscriber (``event_requester.py``) is caught by its case."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from devsec.cli import main
from devsec.conformance.requester import catalogue

from .event_requester import CAUGHT_BY

SCRIPT = Path(__file__).with_name("event_requester.py")
SUBSCRIBING = ("requester.events.ack", "requester.events.count-lies", "requester.events.detail-overrun")
Case = dict[str, object]


def _command(mode: str) -> str:
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(SCRIPT))} {mode} {{port}} {{root}}"


def _serve(command: str, report: Path, *cases: str) -> tuple[int, list[Case]]:
    selection = [arg for c in cases for arg in ("--case", c)]
    status = main(["conformance", "serve", "--requester-cmd", command, *selection, "--json", str(report)])
    found: list[Case] = json.loads(report.read_text())["cases"]
    return status, found


def test_every_broken_subscriber_names_a_catalogued_case() -> None:
    assert set(CAUGHT_BY.values()) == set(SUBSCRIBING)
    assert set(SUBSCRIBING) <= {c.id for c in catalogue()}


def test_devsec_subscriber_passes_them(tmp_path: Path) -> None:
    status, cases = _serve(_command("subscriber"), tmp_path / "report.json", *SUBSCRIBING)
    assert status == 0
    assert {str(c["id"]): c["verdict"] for c in cases} == dict.fromkeys(SUBSCRIBING, "pass")
    for case in cases:
        assertions = case["assertions"]
        assert isinstance(assertions, list) and any("SEND_EVENT" in a["what"] for a in assertions)


def test_they_are_skipped_for_a_requester_that_does_not_subscribe(tmp_path: Path) -> None:
    connect = f"{shlex.quote(sys.executable)} -m devsec connect tcp://{{host}}:{{port}} --trust-root {{root}}"
    status, cases = _serve(connect, tmp_path / "report.json", *SUBSCRIBING)
    assert status == 0
    assert {c["verdict"] for c in cases} == {"skip"}
    assert all("received no SEND_EVENT" in str(c["reason"]) for c in cases)


@pytest.mark.parametrize("mode", sorted(CAUGHT_BY))
def test_the_broken_subscriber_is_caught_by_its_case(mode: str, tmp_path: Path) -> None:
    status, [case] = _serve(_command(mode), tmp_path / "report.json", CAUGHT_BY[mode])
    assert status == 1 and case["verdict"] == "fail", case
    assertions = case["assertions"]
    assert isinstance(assertions, list)
    failed = [a for a in assertions if not a["passed"]]
    assert failed and all(str(a["reference"]).startswith("DSP0274") for a in failed)
