"""What a requester case judges: the requester's runs (exit status, output, exchanges) and its assertions.

Assertions use the responder side's :class:`~devsec.conformance.Assertion`,
each naming the exchange it judged, so a report shows the exact request the
requester sent and what the device answered.
"""

from __future__ import annotations

from spdm.record import record

from ..context import Assertion, Exchange, value_text

__all__ = ["CaseSkipped", "RequesterContext", "RequesterRun", "SUCCESS"]

SUCCESS = 0
"""The exit status by which a requester reports success."""


@record(frozen=True, slots=True)
class RequesterRun:
    """One run of the requester under test.

    Attributes:
        status: its exit status (None: it did not exit in time and was killed).
        exchanges: every SPDM request it sent and the device's response, in
            order; those inside a session as plaintext, with their SessionID.
        output: the tail of what it printed (stdout then stderr), for the report.
        triggered: responses the device's misbehaviour changed (0 when healthy).
        dropped: secured records the device could not open (an unknown
            SessionID, a record that fails authentication), as they came.
    """

    status: int | None
    exchanges: tuple[Exchange, ...]
    output: str
    triggered: int = 0
    dropped: tuple[Exchange, ...] = ()

    @property
    def clear(self) -> tuple[Exchange, ...]:
        """The exchanges outside any session."""
        return tuple(e for e in self.exchanges if e.session_id is None)

    @property
    def last_clear(self) -> Exchange | None:
        """The last exchange outside a session: what a verdict on the whole run shows.

        Never one inside a session: its plaintext may be a vendor protocol's
        secret (IDE_KM KEY_PROG carries keys), which a report must not show
        unless a case judges that very exchange.
        """
        clear = self.clear
        return clear[-1] if clear else None

    @property
    def codes(self) -> tuple[int, ...]:
        """The request codes, in order."""
        return tuple(e.request[1] for e in self.exchanges if len(e.request) >= 2)

    def requests(self, code: int) -> list[Exchange]:
        """The exchanges whose request has ``code``."""
        return [e for e in self.exchanges if len(e.request) >= 2 and e.request[1] == code]

    @property
    def status_text(self) -> str:
        """The exit status in words."""
        return "killed: no exit in time" if self.status is None else f"exit status {self.status}"


class CaseSkipped(Exception):
    """The requester did not reach what the case judges; the reason says what it did instead."""


class RequesterContext:
    """One requester case's runs and assertion record."""

    def __init__(self, runs: list[RequesterRun], reference: str) -> None:
        """Args:
            runs: the requester's runs, in order.
            reference: the case's clause, the default for its assertions.
        """
        self.runs = runs
        self.reference = reference
        self.assertions: list[Assertion] = []

    @property
    def exchanges(self) -> list[Exchange]:
        """Every run's exchanges, in order."""
        return [e for run in self.runs for e in run.exchanges]

    def check(self, what: str, passed: bool, *, expected: object, actual: object,
              exchange: Exchange | None = None, reference: str | None = None) -> bool:
        """Record an assertion (about ``exchange`` when it concerns one); returns whether it passed."""
        self.assertions.append(Assertion(what, bool(passed), value_text(expected), value_text(actual),
                                         reference or self.reference, exchange))
        return bool(passed)

    def equal(self, what: str, expected: object, actual: object, *, exchange: Exchange | None = None,
              reference: str | None = None) -> bool:
        """Record that ``actual == expected``."""
        return self.check(what, expected == actual, expected=expected, actual=actual,
                          exchange=exchange, reference=reference)

    def skip(self, reason: str) -> None:
        """Stop the case: it cannot judge this requester.

        Raises:
            CaseSkipped: always.
        """
        raise CaseSkipped(reason)

    def succeeded(self, run: RequesterRun) -> bool:
        """Record that a run against a healthy device reported success (exit status 0)."""
        last = run.last_clear
        return self.check("the requester succeeds against a healthy device", run.status == SUCCESS,
                          expected=f"exit status {SUCCESS}", actual=f"{run.status_text}; {run.output}",
                          exchange=last, reference="DSP0274 1.3 §9")

    def refused(self, what: str) -> bool:
        """Record that every run exited non-zero: the requester never reported success.

        Args:
            what: how the device misbehaved (the assertion's wording).
        """
        ok = True
        for run in self.runs:
            last = run.last_clear
            ok &= self.check(f"the requester fails when {what}", run.status not in (SUCCESS, None),
                             expected="a non-zero exit status", actual=f"{run.status_text}; {run.output}",
                             exchange=last)
        return ok
