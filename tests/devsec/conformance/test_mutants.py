"""Each deliberately broken responder is caught by the case named for it; the healthy one by none."""

from __future__ import annotations

import pytest

from devsec.conformance import Verdict, catalogue, run_suite

from .devices import MUTANTS, Mutant, healthy_device, mutant_factory


def test_every_mutant_names_a_catalogued_case() -> None:
    ids = {c.id for c in catalogue()}
    assert {m.catches for m in MUTANTS} <= ids


def test_the_healthy_device_fails_no_case() -> None:
    suite = run_suite(healthy_device().pipe, catalogue())
    assert suite.counts[Verdict.FAIL] == suite.counts[Verdict.ERROR] == 0


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_the_mutant_is_caught_by_its_case(mutant: Mutant) -> None:
    suite = run_suite(mutant_factory(mutant), catalogue())
    failed = {r.run.case.id for r in suite.results if r.verdict is Verdict.FAIL}
    assert mutant.catches in failed
    assert not suite.ok
    for result in suite.results:
        if result.run.case.id == mutant.catches and result.verdict is Verdict.FAIL:
            for assertion in result.failures:
                assert assertion.reference.startswith(("DSP0274", "PCIe"))
                assert assertion.exchange is not None and assertion.exchange.response
