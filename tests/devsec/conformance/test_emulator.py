"""The whole catalogue against the in-process emulator: every case passes or says why it was skipped."""

from __future__ import annotations

import time

from devsec.conformance import Verdict, catalogue, run_suite
from devsec.emulator import EmulatedDevice
from spdm.config import DEFAULT_RESPONDER_CAPS, ResponderConfig
from spdm.device import DeviceModel
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags

from .devices import device_model, healthy_device

SUITE_BUDGET_SECONDS = 60.0
"""Issue 12: the SPDM suite against the in-process emulator runs in under a minute."""


def test_every_case_passes_or_is_skipped_with_a_reason() -> None:
    device = healthy_device()
    started = time.perf_counter()
    suite = run_suite(device.pipe, catalogue())
    elapsed = time.perf_counter() - started
    assert suite.profile.versions == (0x10, 0x11, 0x12, 0x13)
    bad = [(r.run.id, r.verdict, r.reason, [a.what for a in r.failures]) for r in suite.results
           if r.verdict in (Verdict.FAIL, Verdict.ERROR)]
    assert bad == []
    assert all(r.reason for r in suite.results if r.verdict is Verdict.SKIP)
    assert all(r.assertions for r in suite.results if r.verdict is Verdict.PASS)
    assert {r.run.case.id for r in suite.results} == {c.id for c in catalogue()}
    assert suite.ok
    assert elapsed < SUITE_BUDGET_SECONDS


def test_per_version_cases_run_at_every_version_the_device_lists() -> None:
    suite = run_suite(healthy_device().pipe, [c for c in catalogue() if c.id == "spdm.capabilities.layout"])
    assert [r.run.id for r in suite.results] == [f"spdm.capabilities.layout@1.{m}" for m in range(4)]


def test_a_version_limit_narrows_the_runs_and_skips_say_why() -> None:
    cases = [c for c in catalogue() if c.id == "spdm.capabilities.transfer-sizes"]
    suite = run_suite(healthy_device().pipe, cases, versions=(0x11,))
    [result] = suite.results
    assert result.verdict is Verdict.SKIP
    assert result.reason == "the rule exists from SPDM 1.2; this run is at SPDM 1.1"



def test_trust_roots_decide_the_requester_flow_case() -> None:
    cases = [c for c in catalogue() if c.id == "spdm.challenge.requester-flow"]
    own = run_suite(healthy_device().pipe, cases, versions=(0x12,),
                    trust_roots=(device_model().root_certificate(),))
    assert [r.verdict for r in own.results] == [Verdict.PASS]
    stranger = DeviceModel.generate(BaseAsymAlgo.ECDSA_P256).root_certificate()
    other = run_suite(healthy_device().pipe, cases, versions=(0x12,), trust_roots=(stranger,))
    [result] = other.results
    assert result.verdict is Verdict.FAIL
    [failure] = result.failures
    assert failure.actual.startswith("VerificationError")
    assert failure.exchange is not None and failure.exchange.response[1] == 0x02  # the last CERTIFICATE


def test_a_device_without_measurements_skips_their_cases_saying_why() -> None:
    caps = DEFAULT_RESPONDER_CAPS & ~(CapabilityFlags.MEAS_CAP_SIG | CapabilityFlags.MEAS_FRESH_CAP)
    device = EmulatedDevice(ResponderConfig(capabilities=caps), device_model())
    cases = [c for c in catalogue() if c.group == "spdm.measurements"]
    suite = run_suite(device.pipe, cases, versions=(0x12,))
    assert {r.verdict for r in suite.results} == {Verdict.SKIP}
    assert {r.reason for r in suite.results} == {
        "the device advertises none of MEAS_CAP_NO_SIG or MEAS_CAP_SIG at SPDM 1.2"}
