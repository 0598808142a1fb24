"""A device holding a PSK: the PSK cases run (not skipped), pass, and catch their mutants."""

from __future__ import annotations

import pytest

from devsec.conformance import Verdict, run_suite, select

from .devices import PSK_MUTANTS, Mutant, healthy_device, mutant_factory_on, psk_device


def test_the_psk_device_passes_the_psk_cases() -> None:
    suite = run_suite(psk_device().pipe, select(include=("spdm.psk.unknown-hint",)))
    verdicts = {r.run.id: r.verdict for r in suite.results}
    assert verdicts == {"spdm.psk.unknown-hint@1.0": Verdict.SKIP, "spdm.psk.unknown-hint@1.1": Verdict.PASS,
                        "spdm.psk.unknown-hint@1.2": Verdict.PASS, "spdm.psk.unknown-hint@1.3": Verdict.PASS}


def test_a_device_without_psk_skips_them_saying_why() -> None:
    suite = run_suite(healthy_device().pipe, select(include=("spdm.psk",)))
    reasons = {r.run.id: r.reason for r in suite.results}
    assert "PSK_CAP" in reasons["spdm.psk.unknown-hint@1.2"]


@pytest.mark.parametrize("mutant", PSK_MUTANTS, ids=lambda m: m.name)
def test_the_psk_mutant_is_caught_by_its_case(mutant: Mutant) -> None:
    suite = run_suite(mutant_factory_on(psk_device(), mutant), select(include=(mutant.catches,)))
    failed = [r for r in suite.results if r.verdict is Verdict.FAIL]
    assert failed, [(r.run.id, r.verdict, r.reason) for r in suite.results]
    for result in failed:
        for assertion in result.failures:
            assert assertion.reference.startswith("DSP0274")
            assert assertion.exchange is not None and assertion.exchange.response
