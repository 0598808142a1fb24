"""Each deliberately broken responder is caught by the case named for it; the healthy one by none."""

from __future__ import annotations

import pytest

from devsec.conformance import Verdict, catalogue, run_suite

from .devices import MUTANTS, Mutant, assert_caught, healthy_device, mutant_factory


def test_every_mutant_names_a_catalogued_case() -> None:
    ids = {c.id for c in catalogue()}
    assert {m.catches for m in MUTANTS} <= ids


def test_the_healthy_device_fails_no_case() -> None:
    suite = run_suite(healthy_device().pipe, catalogue())
    assert suite.counts[Verdict.FAIL] == suite.counts[Verdict.ERROR] == 0


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_the_mutant_is_caught_by_its_case(mutant: Mutant) -> None:
    suite = run_suite(mutant_factory(mutant), catalogue())
    assert_caught(suite, mutant, ("DSP0274", "PCIe"))
    assert not suite.ok
