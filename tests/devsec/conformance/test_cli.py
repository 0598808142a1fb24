"""``devsec conformance run`` over the spdm-emu socket: progress, table, exit status, JUnit XML, JSON."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from devsec.cli import main
from devsec.conformance import catalogue
from devsec.emulator import serving
from spdm.transport import EmuSocketServer

from .devices import MUTANTS, healthy_device, mutant_endpoint

VERSION_MUTANT = next(m for m in MUTANTS if m.catches == "spdm.version.request-version")


@pytest.fixture
def target() -> Iterator[str]:
    with serving(healthy_device()) as url:
        yield url


def test_list_prints_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", "run", "--list"]) == 0
    out = capsys.readouterr().out
    for case in catalogue():
        assert case.id in out
    assert out.rstrip().endswith(f"{len(catalogue())} cases")


def test_run_against_the_emulator_passes_and_writes_reports(
        target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    assert main(["conformance", "run", target, "--junit", str(junit), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "PASS  spdm.version.entries" in out
    assert "SKIP  spdm.capabilities.transfer-sizes@1.0" in out
    assert "spdm.algorithms" in out.split("\n\n")[-1]

    root = ET.parse(junit).getroot()
    testcases = root.findall("./testsuite/testcase")
    document = json.loads(report.read_text())
    assert len(testcases) == len(document["cases"]) == int(root.attrib["tests"])
    assert root.attrib["failures"] == root.attrib["errors"] == "0"
    assert {t.attrib["name"] for t in testcases} == {c["id"] for c in document["cases"]}
    assert {s.attrib["name"] for s in root.findall("testsuite")} == {
        "spdm.version", "spdm.capabilities", "spdm.algorithms", *{c.group for c in catalogue()}}
    skipped = [t for t in testcases if t.find("skipped") is not None]
    assert skipped and all(t.find("skipped").attrib["message"] for t in skipped)  # type: ignore[union-attr]
    assert document["ok"] is True
    assert document["profile"]["versions"] == ["1.0", "1.1", "1.2", "1.3"]
    assert document["summary"]["fail"] == document["summary"]["error"] == 0


def test_case_and_skip_patterns_select(target: str, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    assert main(["conformance", "run", target, "--case", "spdm.version", "--skip", "*.resets-connection",
                 "--json", str(report)]) == 0
    ids = [c["id"] for c in json.loads(report.read_text())["cases"]]
    assert ids == ["spdm.version.framing", "spdm.version.entries", "spdm.version.request-version",
                   "spdm.version.reserved-fields"]


def test_a_failing_device_exits_nonzero_and_reports_the_rule_and_bytes(tmp_path: Path) -> None:
    server = EmuSocketServer(mutant_endpoint(VERSION_MUTANT), "127.0.0.1", 0)
    worker = threading.Thread(target=server.serve_forever, daemon=True)
    worker.start()
    host, port = server.address
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    try:
        status = main(["conformance", "run", f"tcp://{host}:{port}", "--case", "spdm.version",
                       "--junit", str(junit), "--json", str(report)])
    finally:
        server.stop()
        worker.join()
        server.close()
    assert status == 1
    [failure] = ET.parse(junit).getroot().findall("./testsuite/testcase/failure")
    assert "VersionMismatch" in failure.attrib["message"] or "VERSION_MISMATCH" in failure.attrib["message"]
    assert "DSP0274 1.3 §10.3, §10.12" in failure.attrib["message"]
    assert "response: 107f0100" in (failure.text or "")
    [case] = [c for c in json.loads(report.read_text())["cases"] if c["verdict"] == "fail"]
    assert case["id"] == "spdm.version.request-version"
    [assertion] = [a for a in case["assertions"] if not a["passed"]]
    assert assertion["expected"] == "ERROR VERSION_MISMATCH"
    assert assertion["actual"] == "ERROR INVALID_REQUEST"
    assert assertion["exchange"] == {"request": "11840000", "response": "107f0100"}
