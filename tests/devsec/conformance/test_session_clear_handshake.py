"""A device with HANDSHAKE_IN_THE_CLEAR_CAP: the clear-handshake cases run, and catch its mutants."""

from __future__ import annotations

import pytest

from devsec.conformance import Verdict, run_suite, select

from .devices import CLEAR_HANDSHAKE_MUTANTS, Mutant, clear_handshake_device, mutant_factory_on

CASES = ("spdm.key-exchange", "spdm.secured", "spdm.key-update", "spdm.end-session")


def test_the_clear_handshake_device_passes_and_runs_the_clear_cases() -> None:
    suite = run_suite(clear_handshake_device().pipe, select(include=CASES))
    verdicts = {r.run.id: r.verdict for r in suite.results}
    assert Verdict.FAIL not in verdicts.values() and Verdict.ERROR not in verdicts.values(), [
        (r.run.id, r.reason, r.failures) for r in suite.results if r.verdict in (Verdict.FAIL, Verdict.ERROR)]
    for version in ("1.1", "1.2", "1.3"):
        assert verdicts[f"spdm.key-exchange.handshake-in-the-clear@{version}"] is Verdict.PASS
        assert verdicts[f"spdm.key-exchange.bad-verify-data@{version}"] is Verdict.PASS


@pytest.mark.parametrize("mutant", CLEAR_HANDSHAKE_MUTANTS, ids=lambda m: m.name)
def test_the_clear_handshake_mutant_is_caught_by_its_case(mutant: Mutant) -> None:
    suite = run_suite(mutant_factory_on(clear_handshake_device(), mutant), select(include=(mutant.catches,)))
    failed = [r for r in suite.results if r.verdict is Verdict.FAIL]
    assert failed, [(r.run.id, r.verdict, r.reason) for r in suite.results]
    for result in failed:
        for assertion in result.failures:
            assert assertion.reference.startswith(("DSP0274", "DSP0277"))
            assert assertion.exchange is not None and assertion.exchange.response
