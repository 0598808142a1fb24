"""Each broken PSK responder is caught by the PSK case named for it; the healthy PSK devices by none."""

from __future__ import annotations

import pytest

from devsec.conformance import RunOptions, Verdict, catalogue, run_suite, select

from .mutants_psk import PSK, PSK_HINT, PSK_SESSION_MUTANTS, PskMutant

OPTIONS = RunOptions(psk=PSK, psk_hint=PSK_HINT)


def test_every_psk_mutant_names_a_catalogued_psk_case() -> None:
    ids = {c.id for c in catalogue()}
    assert {m.catches for m in PSK_SESSION_MUTANTS} <= ids
    assert {m.catches.split(".")[1] for m in PSK_SESSION_MUTANTS} == {"psk"}
    assert len(PSK_SESSION_MUTANTS) >= 4


@pytest.mark.parametrize("mutant", PSK_SESSION_MUTANTS, ids=lambda m: m.name)
def test_the_psk_mutant_is_caught_by_its_case(mutant: PskMutant) -> None:
    with mutant.device() as transports:
        suite = run_suite(transports, select(include=(mutant.catches,)), options=OPTIONS)
    failed = [r for r in suite.results if r.verdict is Verdict.FAIL]
    assert [r.run.id for r in failed] == [f"{mutant.catches}@1.{m}" for m in (1, 2, 3)], \
        [(r.run.id, r.verdict, r.reason) for r in suite.results]
    for result in failed:
        for assertion in result.failures:
            assert assertion.reference.startswith("DSP0274")
            assert assertion.exchange is not None and assertion.exchange.response
