"""``devsec conformance serve`` judging devsec's own requester (``devsec connect``): every case passes."""

from __future__ import annotations

import json
import shlex
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from devsec.cli import main
from devsec.conformance.requester import RequesterCase, catalogue

CONNECT = (f"{shlex.quote(sys.executable)} -m devsec connect tcp://{{host}}:{{port}} --trust-root {{root}} "
           "--endpoint-info signed --mel --key-pairs --session")
"""devsec's requester, reading the 1.3 endpoint evidence and opening a session too (so the endpoint
and in-session cases judge it).  It takes every response whole, so the chunk cases skip here
(test_requester_endpoint.py runs them with a small DataTransferSize)."""
CHUNK_GROUP = "requester.chunk"
PROVISION_GROUP = "requester.provision"
PASSED_BY_CONNECT = frozenset({"requester.provision.without-cap"})
"""The provisioning cases ``devsec connect`` passes (it sends no GET_CSR); it skips the others."""
SUBSCRIBING = frozenset({"requester.events.ack", "requester.events.count-lies",
                         "requester.events.detail-overrun"})
"""The event cases for a subscriber: ``devsec connect`` subscribes to nothing (test_requester_events.py)."""


def _skipped_by_connect(case: RequesterCase) -> bool:
    return (case.group == CHUNK_GROUP or case.id in SUBSCRIBING
            or (case.group == PROVISION_GROUP and case.id not in PASSED_BY_CONNECT))


def test_list_prints_the_requester_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", "serve", "--list"]) == 0
    out = capsys.readouterr().out
    for case in catalogue():
        assert case.id in out
    assert out.rstrip().endswith(f"{len(catalogue())} cases")


def test_devsec_connect_passes_every_requester_case(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit, report, root = tmp_path / "junit.xml", tmp_path / "report.json", tmp_path / "root.pem"
    status = main(["conformance", "serve", "--listen", "127.0.0.1:0", "--requester-cmd", CONNECT,
                   "--root-out", str(root), "--junit", str(junit), "--json", str(report)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert root.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    document = json.loads(report.read_text())
    assert document["ok"] is True
    assert {c["id"]: c["verdict"] for c in document["cases"]} == {
        c.id: "skip" if _skipped_by_connect(c) else "pass" for c in catalogue()}
    assert any(c["adversarial"] for c in document["cases"]) and not all(
        c["adversarial"] for c in document["cases"])
    testcases = ET.parse(junit).getroot().findall("./testsuite/testcase")
    assert {t.attrib["name"] for t in testcases} == {c.id for c in catalogue()}
    assert "PASS  requester.challenge.bad-signature" in out
    skipped = sum(_skipped_by_connect(c) for c in catalogue())
    assert f"{len(catalogue()) - skipped} passed, 0 failed" in out


def test_without_a_session_the_session_cases_are_skipped_saying_why(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    command = CONNECT.removesuffix(" --session")
    assert main(["conformance", "serve", "--requester-cmd", command, "--case", "requester.session",
                 "--json", str(report)]) == 0
    cases = json.loads(report.read_text())["cases"]
    assert {c["id"] for c in cases} == {c.id for c in catalogue() if c.group == "requester.session"}
    for case in cases:
        assert case["verdict"] == "skip"
        assert "no session was opened" in case["reason"]


def test_serve_needs_a_port_in_the_command() -> None:
    assert main(["conformance", "serve", "--requester-cmd", "true"]) == 2
