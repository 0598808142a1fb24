"""Requester conformance results, and their JSON document.

Progress lines, the group table and JUnit XML are the responder side's
(:mod:`devsec.conformance.report` reads any result with an id, a group, a
reference and a title); only the JSON differs: a requester case has no SPDM
version of its own (the requester picks it) and no device profile.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from spdm.record import record

from ..context import Assertion
from ..report import assertion_dict
from ..runner import Verdict, verdict_counts
from .case import RequesterCase

__all__ = ["RequesterResult", "RequesterSuiteResult", "to_json"]


@record(frozen=True, slots=True)
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

    @property
    def id(self) -> str:
        """The case's id."""
        return self.case.id

    @property
    def group(self) -> str:
        """The report group."""
        return self.case.group

    @property
    def reference(self) -> str:
        """The rule's document and clause."""
        return self.case.reference

    @property
    def title(self) -> str:
        """What a conformant requester does."""
        return self.case.title


@record(frozen=True, slots=True)
class RequesterSuiteResult:
    """A whole requester run: every case result and the wall time."""

    results: tuple[RequesterResult, ...]
    seconds: float
    counts: dict[Verdict, int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", verdict_counts(r.verdict for r in self.results))

    @property
    def ok(self) -> bool:
        """No failure and no error (skips say why)."""
        return not self.counts[Verdict.FAIL] and not self.counts[Verdict.ERROR]


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
                "assertions": [assertion_dict(a) for a in r.assertions],
            }
            for r in suite.results
        ],
    }
