"""Runs cases against a device, each on its own fresh transport, and collects verdicts.

A case that fails leaves its connection in whatever state the device chose;
the next case opens a new transport and starts with GET_VERSION (which resets
the device's connection state), so one failure does not poison the next.

Verdicts: *pass* (every assertion held), *fail* (an assertion did not),
*skip* (the device does not claim what the case needs; the reason says what),
*error* (the case could not judge: the transport failed, or the case itself
broke; never counted as a pass).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import field
from enum import Enum

from spdm.crypto import Certificate
from spdm.messages import Capabilities, GetVersion, Version
from spdm.record import record
from spdm.transport import DoeTransport

from .case import Case, CaseRun, DeviceProfile
from .context import Assertion, CaseAborted, CaseContext, CaseSkipped
from .options import NO_OPTIONS, RunOptions
from .requests import get_capabilities

__all__ = [
    "DEFAULT_VERSIONS",
    "SUPPORTED_VERSIONS",
    "CaseResult",
    "SuiteResult",
    "Verdict",
    "probe",
    "run_suite",
    "verdict_counts",
]

SUPPORTED_VERSIONS = (0x10, 0x11, 0x12, 0x13, 0x14)
"""The SPDM versions the suite speaks."""
DEFAULT_VERSIONS = (0x10, 0x11, 0x12, 0x13)
"""The versions a run covers unless told otherwise: 1.4 is opt-in (``--version 1.4``), as for a requester."""

TransportFactory = Callable[[], DoeTransport]


class Verdict(Enum):
    """A case run's outcome."""

    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"


def verdict_counts(verdicts: Iterable[Verdict]) -> dict[Verdict, int]:
    """How many of each verdict (every verdict present, zero where none)."""
    counts = {v: 0 for v in Verdict}
    for verdict in verdicts:
        counts[verdict] += 1
    return counts


@record(frozen=True, slots=True)
class CaseResult:
    """One case run's verdict and everything it judged.

    Attributes:
        run: the case and the version it ran at.
        verdict: pass / fail / skip / error.
        assertions: every assertion, in order.
        seconds: wall time of the run.
        reason: why it was skipped, or what the error was ("" otherwise).
    """

    run: CaseRun
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
        """The run's id (the case id, with ``@version`` for a per-version run)."""
        return self.run.id

    @property
    def group(self) -> str:
        """The report group."""
        return self.run.case.group

    @property
    def reference(self) -> str:
        """The rule's document and clause."""
        return self.run.case.reference

    @property
    def title(self) -> str:
        """What a passing device does."""
        return self.run.case.title


@record(frozen=True, slots=True)
class SuiteResult:
    """A whole run: the probe's profile, every case result, the wall time, the options it ran with."""

    profile: DeviceProfile
    results: tuple[CaseResult, ...]
    seconds: float
    options: RunOptions = NO_OPTIONS
    counts: dict[Verdict, int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", verdict_counts(r.verdict for r in self.results))

    @property
    def ok(self) -> bool:
        """No failure and no error (skips are fine: they say why)."""
        return not self.counts[Verdict.FAIL] and not self.counts[Verdict.ERROR]


def probe(open_transport: TransportFactory, versions: Sequence[int] = DEFAULT_VERSIONS) -> DeviceProfile:
    """Ask the device its versions and, at each, its capabilities.

    A device whose VERSION does not decode gets an empty profile: the cases
    that need a version are skipped and the GET_VERSION cases say what is wrong.

    Args:
        open_transport: opens a fresh transport to the device.
        versions: the versions the user allows (``--version``).
    """
    transport = open_transport()
    try:
        ctx = CaseContext(transport, DeviceProfile((), {}), 0x10, "probe")
        try:
            listed = ctx.decode(Version, ctx.send(GetVersion())).versions
        except CaseAborted:
            return DeviceProfile((), {})
        common = tuple(sorted(set(listed) & set(versions) & set(SUPPORTED_VERSIONS)))
        flags: dict[int, int] = {}
        for version in common:
            ctx.send(GetVersion())
            try:
                flags[version] = ctx.decode(Capabilities, ctx.send(get_capabilities(version))).flags
            except CaseAborted:
                flags[version] = 0
        return DeviceProfile(common, flags)
    finally:
        transport.close()


def run_case(open_transport: TransportFactory, run: CaseRun, profile: DeviceProfile,
             trust_roots: tuple[Certificate, ...] = (), *,
             open_fresh: TransportFactory | None = None,
             options: RunOptions = NO_OPTIONS) -> CaseResult:
    """Run one case on a fresh transport and judge it."""
    reason = run.skip_reason(profile)
    if reason is not None:
        return CaseResult(run, Verdict.SKIP, reason=reason)
    assert run.version is not None
    started = time.perf_counter()
    ctx: CaseContext | None = None
    try:
        transport = open_transport()
        try:
            ctx = CaseContext(transport, profile, run.version, run.case.reference, trust_roots,
                              open_fresh=open_fresh, options=options)
            run.case.body(ctx)
        finally:
            transport.close()
    except CaseAborted:
        pass
    except CaseSkipped as skipped:
        return CaseResult(run, Verdict.SKIP, seconds=time.perf_counter() - started, reason=str(skipped))
    except Exception as exc:  # noqa: BLE001 - any failure to judge is an error verdict, never a crash
        assertions = tuple(ctx.assertions) if ctx else ()
        return CaseResult(run, Verdict.ERROR, assertions, time.perf_counter() - started,
                          f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - started
    assert ctx is not None
    assertions = tuple(ctx.assertions)
    if not assertions:
        return CaseResult(run, Verdict.ERROR, assertions, seconds, "the case judged nothing")
    verdict = Verdict.FAIL if any(not a.passed for a in assertions) else Verdict.PASS
    return CaseResult(run, verdict, assertions, seconds)


def run_suite(open_transport: TransportFactory, cases: Iterable[Case], *,
              versions: Sequence[int] = DEFAULT_VERSIONS, trust_roots: tuple[Certificate, ...] = (),
              options: RunOptions = NO_OPTIONS,
              on_result: Callable[[CaseResult], None] | None = None,
              open_fresh: TransportFactory | None = None) -> SuiteResult:
    """Probe the device, then run every case (each version of the per-version ones).

    Args:
        open_transport: opens a fresh transport to the device; called once per run.
        cases: the cases to run, in order.
        versions: the SPDM versions the user allows.
        trust_roots: the roots the device's certificate chains must lead to.
        options: the device's PSK and the TDI to lock (cases needing a PSK skip without one).
        on_result: called with each result as it comes (the progress line).
        open_fresh: opens a transport to the same kind of device just out of reset (no
            GET_VERSION yet), for the cases judging that state; None (a real device the
            suite cannot reset) skips them.

    Raises:
        TransportError: the device could not be reached for the probe.
    """
    started = time.perf_counter()
    profile = probe(open_transport, versions)
    results = []
    for case in cases:
        for run in case.runs(profile):
            result = run_case(open_transport, run, profile, trust_roots, open_fresh=open_fresh,
                              options=options)
            if on_result is not None:
                on_result(result)
            results.append(result)
    return SuiteResult(profile, tuple(results), time.perf_counter() - started, options)
