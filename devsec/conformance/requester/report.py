"""Requester conformance results and how they read: progress lines, a table per group, JUnit XML, JSON.

The same shapes as the responder side's :mod:`devsec.conformance.report`
(its :func:`~devsec.conformance.report.assertion_text` and verdicts are
reused), keyed by requester cases: a requester case has no SPDM version of
its own (the requester picks it) and no device profile.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from ..context import Assertion
from ..report import assertion_text
from ..runner import Verdict
from .case import RequesterCase

__all__ = ["RequesterResult", "RequesterSuiteResult", "group_table", "progress_line", "to_json",
           "to_junit_xml"]


@dataclass(frozen=True, slots=True)
class RequesterResult:
    """One requester case's verdict and everything it judged (reason: why skipped or erred)."""

    case: RequesterCase
    verdict: Verdict
    assertions: tuple[Assertion, ...] = ()
    seconds: float = 0.0
    reason: str = ""

    @property
    def failures(self) -> tuple[Assertion, ...]:
        """The assertions that did not hold."""
        return tuple(a for a in self.assertions if not a.passed)


@dataclass(frozen=True, slots=True)
class RequesterSuiteResult:
    """A whole requester run: every case result and the wall time."""

    results: tuple[RequesterResult, ...]
    seconds: float
    counts: dict[Verdict, int] = field(init=False)

    def __post_init__(self) -> None:
        counts = {v: 0 for v in Verdict}
        for r in self.results:
            counts[r.verdict] += 1
        object.__setattr__(self, "counts", counts)

    @property
    def ok(self) -> bool:
        """No failure and no error (skips say why)."""
        return not self.counts[Verdict.FAIL] and not self.counts[Verdict.ERROR]


def progress_line(result: RequesterResult) -> str:
    """The line printed as a case finishes (plus one indented line per failure or the reason)."""
    held = sum(a.passed for a in result.assertions)
    line = f"{result.verdict.value.upper():5} {result.case.id}"
    if result.verdict is not Verdict.SKIP:
        line += f"  ({held}/{len(result.assertions)} assertions, {result.seconds * 1000:.0f} ms)"
    details = [f"      {assertion_text(a)}" for a in result.failures]
    if result.reason:
        details.append(f"      {result.reason}")
    return "\n".join([line, *details])


def _groups(results: tuple[RequesterResult, ...]) -> dict[str, list[RequesterResult]]:
    groups: dict[str, list[RequesterResult]] = {}
    for r in results:
        groups.setdefault(r.case.group, []).append(r)
    return groups


def group_table(suite: RequesterSuiteResult) -> str:
    """The end-of-run table: per group pass / fail / skip / error and assertions held of judged."""
    header = f"{'group':28} {'pass':>5} {'fail':>5} {'skip':>5} {'error':>5} {'assertions':>11}"
    rows = [header, "-" * len(header)]
    for group, results in _groups(suite.results).items():
        counts = {v: sum(r.verdict is v for r in results) for v in Verdict}
        judged = [a for r in results for a in r.assertions]
        rows.append(f"{group:28} {counts[Verdict.PASS]:5} {counts[Verdict.FAIL]:5} {counts[Verdict.SKIP]:5} "
                    f"{counts[Verdict.ERROR]:5} {sum(a.passed for a in judged):5}/{len(judged):<5}")
    c = suite.counts
    rows.append(f"{c[Verdict.PASS]} passed, {c[Verdict.FAIL]} failed, {c[Verdict.SKIP]} skipped, "
                f"{c[Verdict.ERROR]} errors in {suite.seconds:.2f} s")
    return "\n".join(rows)


def _failure_text(result: RequesterResult) -> str:
    lines = []
    for a in result.failures:
        lines.append(assertion_text(a))
        if a.exchange is not None:
            lines.append(f"  request:  {a.exchange.request.hex()}")
            lines.append(f"  response: {a.exchange.response.hex()}")
    return "\n".join(lines)


def to_junit_xml(suite: RequesterSuiteResult, name: str = "devsec requester conformance") -> bytes:
    """The run as JUnit XML: a testsuite per group, a testcase per case."""
    root = ET.Element("testsuites", name=name, tests=str(len(suite.results)),
                      failures=str(suite.counts[Verdict.FAIL]), errors=str(suite.counts[Verdict.ERROR]),
                      skipped=str(suite.counts[Verdict.SKIP]), time=f"{suite.seconds:.3f}")
    for group, results in _groups(suite.results).items():
        element = ET.SubElement(root, "testsuite", name=group, tests=str(len(results)),
                                failures=str(sum(r.verdict is Verdict.FAIL for r in results)),
                                errors=str(sum(r.verdict is Verdict.ERROR for r in results)),
                                skipped=str(sum(r.verdict is Verdict.SKIP for r in results)),
                                time=f"{sum(r.seconds for r in results):.3f}")
        for r in results:
            testcase = ET.SubElement(element, "testcase", classname=group, name=r.case.id,
                                     time=f"{r.seconds:.3f}", assertions=str(len(r.assertions)))
            properties = ET.SubElement(testcase, "properties")
            ET.SubElement(properties, "property", name="reference", value=r.case.reference)
            ET.SubElement(properties, "property", name="title", value=r.case.title)
            if r.verdict is Verdict.FAIL:
                failure = ET.SubElement(testcase, "failure", type="AssertionFailure",
                                        message=assertion_text(r.failures[0]))
                failure.text = _failure_text(r)
            elif r.verdict is Verdict.ERROR:
                error = ET.SubElement(testcase, "error", type="CaseError", message=r.reason)
                error.text = r.reason
            elif r.verdict is Verdict.SKIP:
                ET.SubElement(testcase, "skipped", message=r.reason)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _assertion_dict(a: Assertion) -> dict[str, Any]:
    entry: dict[str, Any] = {"what": a.what, "passed": a.passed, "expected": a.expected,
                             "actual": a.actual, "reference": a.reference}
    if not a.passed and a.exchange is not None:
        entry["exchange"] = {"request": a.exchange.request.hex(), "response": a.exchange.response.hex()}
    return entry


def to_json(suite: RequesterSuiteResult, command: str) -> dict[str, Any]:
    """The run as a JSON-ready dict; failing assertions carry their exchange's bytes as hex."""
    return {
        "requester": command,
        "ok": suite.ok,
        "seconds": round(suite.seconds, 3),
        "summary": {v.value: n for v, n in suite.counts.items()},
        "cases": [
            {
                "id": r.case.id, "group": r.case.group, "title": r.case.title,
                "reference": r.case.reference, "adversarial": r.case.adversarial,
                "verdict": r.verdict.value, "seconds": round(r.seconds, 4), "reason": r.reason,
                "assertions": [_assertion_dict(a) for a in r.assertions],
            }
            for r in suite.results
        ],
    }
