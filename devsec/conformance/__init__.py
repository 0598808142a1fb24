"""``devsec conformance``: the suite a device vendor runs against an SPDM responder.

Cases are data (:class:`Case`: id, title, clause, what the device must claim,
a body), registered by group in :mod:`.registry`; :func:`run_suite` runs
them, each on a fresh transport, and :mod:`.report` renders the verdicts as
progress lines, a table per group, JUnit XML and JSON.  The cases build
their requests with the shared codec (:mod:`spdm.messages`) and send them
over the DOE transport, so they judge any responder devsec can reach.
"""

from __future__ import annotations

from .case import Case, CaseRun, DeviceProfile
from .context import Assertion, CaseContext, Exchange
from .options import RunOptions
from .registry import SUITES, catalogue, select
from .runner import DEFAULT_VERSIONS, SUPPORTED_VERSIONS, CaseResult, SuiteResult, Verdict, probe, run_suite

__all__ = [
    "DEFAULT_VERSIONS", "SUITES", "SUPPORTED_VERSIONS", "Assertion", "Case", "CaseContext", "CaseResult",
    "CaseRun",
    "DeviceProfile", "Exchange", "RunOptions", "SuiteResult",
    "Verdict", "catalogue", "probe", "run_suite", "select",
]
