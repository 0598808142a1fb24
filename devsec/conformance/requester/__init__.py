"""Requester conformance: devsec plays the device and judges a host requester (``devsec conformance serve``).

Each case (:class:`RequesterCase`, registered in :mod:`.registry`) serves a
fresh emulated device over the spdm-emu socket protocol, runs the requester
under test once per run with ``{port}`` substituted, and judges its exit
status together with every request it sent.  Checking cases play a healthy
device and check the requester's conduct (:mod:`.checks`); adversarial
cases break one rule and require a non-zero exit (:mod:`.adversarial`).
"""

from __future__ import annotations

from .case import RequesterCase
from .context import RequesterContext, RequesterRun
from .device import CaseDevice, Misbehaviour
from .registry import catalogue, select
from .report import RequesterResult, RequesterSuiteResult
from .runner import RUN_TIMEOUT, Requester, run_requester_suite

__all__ = [
    "RUN_TIMEOUT", "CaseDevice", "Misbehaviour", "Requester", "RequesterCase", "RequesterContext",
    "RequesterResult", "RequesterRun", "RequesterSuiteResult", "catalogue", "run_requester_suite", "select",
]
