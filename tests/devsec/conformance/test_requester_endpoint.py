"""The requester endpoint and chunk cases (requester.endpoint/mel/key-pairs/chunk): devsec's requester
passes them when it asks for the 1.3 endpoint evidence and takes large responses in chunks, skips them
when it does not, and each broken requester (``broken_endpoint_requester.py``) is caught by its case."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from devsec.cli import main
from devsec.conformance.requester import catalogue

from .broken_endpoint_requester import CAUGHT_BY
from .provision_requester import CAUGHT_BY as PROVISION_CAUGHT_BY

SCRIPT = Path(__file__).with_name("broken_endpoint_requester.py")
GROUPS = ("requester.endpoint", "requester.mel", "requester.key-pairs", "requester.chunk")
CONNECT = f"{shlex.quote(sys.executable)} -m devsec connect tcp://{{host}}:{{port}} --trust-root {{root}}"


def _serve(command: str, report: Path, *cases: str) -> tuple[int, list[dict[str, object]]]:
    selection = [arg for c in cases for arg in ("--case", c)]
    status = main(["conformance", "serve", "--requester-cmd", command, *selection, "--json", str(report)])
    return status, json.loads(report.read_text())["cases"]


def test_every_broken_requester_names_a_catalogued_case() -> None:
    assert set(CAUGHT_BY.values()) <= {c.id for c in catalogue()}
    chunking = {case for case in PROVISION_CAUGHT_BY.values() if case.startswith("requester.chunk.")}
    assert {c.id for c in catalogue() if c.group in GROUPS} == set(CAUGHT_BY.values()) | chunking


def test_devsec_connect_passes_them_when_it_asks(tmp_path: Path) -> None:
    command = CONNECT + (" --endpoint-info signed --mel --key-pairs --data-transfer-size 0x100 "
                         "--max-spdm-msg-size 0x10000 --cert-portion 0xffff")
    status, cases = _serve(command, tmp_path / "report.json", *GROUPS)
    assert status == 0
    verdicts = {c["id"]: c["verdict"] for c in cases}
    assert {case: verdicts[case] for case in CAUGHT_BY.values()} == dict.fromkeys(CAUGHT_BY.values(), "pass")
    # it sends nothing large (chunk.send plays a blank device to provision), all else passes
    assert {verdicts[c] for c in verdicts if c not in CAUGHT_BY.values()} == {"pass", "skip"}
    assert verdicts["requester.chunk.send"] == "skip"


def test_they_are_skipped_when_the_requester_does_not_ask(tmp_path: Path) -> None:
    status, cases = _serve(CONNECT, tmp_path / "report.json", *GROUPS)
    assert status == 0
    assert {c["verdict"] for c in cases} == {"skip"}
    assert all("never sent" in str(c["reason"]) for c in cases)


@pytest.mark.parametrize("fault", sorted(CAUGHT_BY))
def test_the_broken_requester_is_caught_by_its_case(fault: str, tmp_path: Path) -> None:
    command = f"{shlex.quote(sys.executable)} {shlex.quote(str(SCRIPT))} {fault} {{port}} {{root}}"
    status, [case] = _serve(command, tmp_path / "report.json", CAUGHT_BY[fault])
    assert status == 1 and case["verdict"] == "fail"
    failed = [a for a in case["assertions"] if not a["passed"]]  # type: ignore[attr-defined]
    assert failed and all(a["reference"].startswith("DSP0274") for a in failed)
