"""How a conformance run reads: progress lines, a table per group, JUnit XML and JSON.

JUnit XML is written with the standard library's ``xml.etree``: the format
Jenkins and GitLab read is small (testsuites > testsuite > testcase with
failure / error / skipped children), and ``ElementTree`` escapes every
attribute and text correctly, so a dependency would add nothing.  One
``testsuite`` per group, one ``testcase`` per case run.  The JSON carries the
same content plus the request/response bytes (hex) of every failing exchange.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from .case import version_text
from .context import Assertion
from .runner import SuiteResult, Verdict

__all__ = ["Reported", "ReportedSuite", "assertion_dict", "assertion_text", "dumps", "group_table",
           "progress_line", "to_json", "to_junit_xml"]


class Reported(Protocol):
    """What the reports read of one result: a responder case run or a requester case."""

    @property
    def id(self) -> str: ...
    @property
    def group(self) -> str: ...
    @property
    def reference(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def verdict(self) -> Verdict: ...
    @property
    def seconds(self) -> float: ...
    @property
    def reason(self) -> str: ...
    @property
    def assertions(self) -> tuple[Assertion, ...]: ...
    @property
    def failures(self) -> tuple[Assertion, ...]: ...


class ReportedSuite(Protocol):
    """What the reports read of a whole run."""

    @property
    def results(self) -> Sequence[Reported]: ...
    @property
    def counts(self) -> Mapping[Verdict, int]: ...
    @property
    def seconds(self) -> float: ...

_MARK = {Verdict.PASS: "PASS", Verdict.FAIL: "FAIL", Verdict.SKIP: "SKIP", Verdict.ERROR: "ERROR"}


def assertion_text(a: Assertion) -> str:
    """One failing assertion in a line: the rule, expected, actual, clause."""
    return f"{a.what}: expected {a.expected}, got {a.actual} [{a.reference}]"


def progress_line(result: Reported) -> str:
    """The line printed as a case finishes (plus one indented line per failure or the reason)."""
    held = sum(a.passed for a in result.assertions)
    line = f"{_MARK[result.verdict]:5} {result.id}"
    if result.verdict is not Verdict.SKIP:
        line += f"  ({held}/{len(result.assertions)} assertions, {result.seconds * 1000:.0f} ms)"
    details = [f"      {assertion_text(a)}" for a in result.failures]
    if result.reason:
        details.append(f"      {result.reason}")
    return "\n".join([line, *details])


def _groups(results: Iterable[Reported]) -> dict[str, list[Reported]]:
    groups: dict[str, list[Reported]] = {}
    for r in results:
        groups.setdefault(r.group, []).append(r)
    return groups


def group_table(suite: ReportedSuite) -> str:
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


def _failure_text(result: Reported) -> str:
    lines = []
    for a in result.failures:
        lines.append(assertion_text(a))
        if a.exchange is not None:
            lines.append(f"  request:  {a.exchange.request.hex()}")
            lines.append(f"  response: {a.exchange.response.hex()}")
    return "\n".join(lines)


def to_junit_xml(suite: ReportedSuite, name: str = "devsec conformance") -> bytes:
    """The run as JUnit XML: a testsuite per group, a testcase per case run."""
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
            testcase = ET.SubElement(element, "testcase", classname=group, name=r.id,
                                     time=f"{r.seconds:.3f}", assertions=str(len(r.assertions)))
            properties = ET.SubElement(testcase, "properties")
            ET.SubElement(properties, "property", name="reference", value=r.reference)
            ET.SubElement(properties, "property", name="title", value=r.title)
            if r.verdict is Verdict.FAIL:
                first = r.failures[0]
                failure = ET.SubElement(testcase, "failure", type="AssertionFailure",
                                        message=assertion_text(first))
                failure.text = _failure_text(r)
            elif r.verdict is Verdict.ERROR:
                error = ET.SubElement(testcase, "error", type="CaseError", message=r.reason)
                error.text = r.reason
            elif r.verdict is Verdict.SKIP:
                ET.SubElement(testcase, "skipped", message=r.reason)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def assertion_dict(a: Assertion) -> dict[str, Any]:
    """One assertion as JSON; a failing one carries its exchange's bytes in hex."""
    entry: dict[str, Any] = {"what": a.what, "passed": a.passed, "expected": a.expected,
                             "actual": a.actual, "reference": a.reference}
    if not a.passed and a.exchange is not None:
        entry["exchange"] = {"request": a.exchange.request.hex(), "response": a.exchange.response.hex()}
        if a.exchange.session_id is not None:
            entry["exchange"]["session_id"] = f"0x{a.exchange.session_id:08x}"
    return entry


def to_json(suite: SuiteResult, target: str) -> dict[str, Any]:
    """The run as a JSON-ready dict: options, profile, summary, every case with its assertions.

    The options say whether a PSK was given, never the key (a report is not a secret).

    Failing assertions carry their exchange's bytes as hex (``exchange.request``
    / ``exchange.response``, the SPDM messages as carried in the DOE payload).
    """
    return {
        "target": target,
        "ok": suite.ok,
        "seconds": round(suite.seconds, 3),
        "options": suite.options.report(),
        "profile": {
            "versions": [version_text(v) for v in suite.profile.versions],
            "flags": {version_text(v): f"0x{f:08x}" for v, f in suite.profile.flags.items()},
        },
        "summary": {v.value: n for v, n in suite.counts.items()},
        "cases": [
            {
                "id": r.run.id, "case": r.run.case.id, "group": r.run.case.group,
                "title": r.run.case.title, "reference": r.run.case.reference,
                "version": None if r.run.version is None else version_text(r.run.version),
                "verdict": r.verdict.value, "seconds": round(r.seconds, 4), "reason": r.reason,
                "assertions": [assertion_dict(a) for a in r.assertions],
            }
            for r in suite.results
        ],
    }


def dumps(document: dict[str, Any]) -> str:
    """The JSON text of :func:`to_json`'s document."""
    return json.dumps(document, indent=2)
