"""Each state, error, ResponseNotReady and DOE mutant is caught by its case; the healthy devices by none."""

from __future__ import annotations

import pytest

from devsec.conformance import Verdict, catalogue, run_suite, select

from .devices import healthy_device
from .mutants_state import STATE_MUTANTS, StateMutant, not_ready_device

GROUPS = ("spdm.state", "spdm.errors", "spdm.not-ready", "spdm.doe")


def test_every_state_mutant_names_a_catalogued_case() -> None:
    ids = {c.id for c in catalogue()}
    assert {m.catches for m in STATE_MUTANTS} <= ids
    assert len(STATE_MUTANTS) >= 8


def test_the_healthy_device_fails_no_state_case() -> None:
    fresh = lambda: healthy_device().pipe()  # noqa: E731 - a device out of reset per transport
    suite = run_suite(healthy_device().pipe, select(include=GROUPS), open_fresh=fresh)
    verdicts = {r.run.id: r.verdict for r in suite.results}
    assert Verdict.FAIL not in verdicts.values() and Verdict.ERROR not in verdicts.values()
    assert verdicts["spdm.state.in-session-clear-only@1.3"] is Verdict.PASS
    assert verdicts["spdm.doe.discovery"] is Verdict.PASS
    assert verdicts["spdm.state.before-version@1.3"] is Verdict.PASS
    assert verdicts["spdm.not-ready.release@1.2"] is Verdict.SKIP


def test_a_device_holding_responses_back_passes_the_not_ready_cases() -> None:
    suite = run_suite(not_ready_device().pipe, select(include=("spdm.not-ready",)))
    assert {r.verdict for r in suite.results} == {Verdict.PASS}


@pytest.mark.parametrize("mutant", STATE_MUTANTS, ids=lambda m: m.name)
def test_the_state_mutant_is_caught_by_its_case(mutant: StateMutant) -> None:
    fresh = mutant.fresh() if mutant.fresh is not None else None
    suite = run_suite(mutant.factory(), select(include=(mutant.catches,)), open_fresh=fresh)
    failed = [r for r in suite.results if r.verdict is Verdict.FAIL]
    assert failed, [(r.run.id, r.verdict, r.reason) for r in suite.results]
    for result in failed:
        for assertion in result.failures:
            assert assertion.reference.startswith(("DSP0274", "DSP0277", "PCIe"))
            assert assertion.exchange is not None and assertion.exchange.response
