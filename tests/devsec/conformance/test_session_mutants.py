"""Each deliberately broken session responder is caught by the session or state case named for it."""

from __future__ import annotations

import pytest

from devsec.conformance import Verdict, catalogue, run_suite, select

from .devices import SESSION_MUTANTS, Mutant, healthy_device, mutant_factory

GROUPS = ("spdm.key-exchange", "spdm.heartbeat", "spdm.key-update", "spdm.end-session", "spdm.secured",
          "spdm.state")


def test_every_session_mutant_names_a_catalogued_case() -> None:
    ids = {c.id for c in catalogue()}
    assert {m.catches for m in SESSION_MUTANTS} <= ids
    assert len(SESSION_MUTANTS) >= 8


def test_the_healthy_device_passes_every_session_case() -> None:
    suite = run_suite(healthy_device().pipe, select(include=GROUPS))
    verdicts = {r.run.id: r.verdict for r in suite.results}
    assert Verdict.FAIL not in verdicts.values() and Verdict.ERROR not in verdicts.values()
    assert verdicts["spdm.secured.bad-tag"] is Verdict.PASS
    assert verdicts["spdm.key-update.operations@1.3"] is Verdict.PASS


@pytest.mark.parametrize("mutant", SESSION_MUTANTS, ids=lambda m: m.name)
def test_the_session_mutant_is_caught_by_its_case(mutant: Mutant) -> None:
    suite = run_suite(mutant_factory(mutant), select(include=(mutant.catches,)))
    failed = [r for r in suite.results if r.verdict is Verdict.FAIL]
    assert failed, [(r.run.id, r.verdict, r.reason) for r in suite.results]
    for result in failed:
        for assertion in result.failures:
            assert assertion.reference.startswith(("DSP0274", "DSP0277", "PCIe"))
            assert assertion.exchange is not None and assertion.exchange.response
