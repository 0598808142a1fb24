"""Each broken IDE_KM / TDISP responder is caught by the case named for it; the healthy one by none."""

from __future__ import annotations

import pytest

from devsec.conformance import Verdict, catalogue, run_suite, select

from .devices import VDM_MUTANTS, VdmMutant, secure_device, vdm_mutant_factory

VDM_SUITES = ("ide_km", "tdisp")


def test_every_vdm_mutant_names_a_catalogued_case_of_its_suites() -> None:
    ids = {c.id for c in catalogue()}
    assert {m.catches for m in VDM_MUTANTS} <= ids
    assert {m.catches.split(".")[0] for m in VDM_MUTANTS} == set(VDM_SUITES)
    assert len(VDM_MUTANTS) >= 8


def test_the_healthy_tee_io_device_fails_no_case() -> None:
    suite = run_suite(secure_device().spdm.pipe, catalogue())
    assert suite.counts[Verdict.FAIL] == suite.counts[Verdict.ERROR] == 0


@pytest.mark.parametrize("mutant", VDM_MUTANTS, ids=lambda m: m.name)
def test_the_vdm_mutant_is_caught_by_its_case(mutant: VdmMutant) -> None:
    suite = run_suite(vdm_mutant_factory(mutant), select(VDM_SUITES))
    failed = {r.run.case.id for r in suite.results if r.verdict is Verdict.FAIL}
    assert mutant.catches in failed
    [result] = [r for r in suite.results if r.run.case.id == mutant.catches]
    for assertion in result.failures:
        assert assertion.reference.startswith("PCIe")
        assert assertion.exchange is not None and assertion.exchange.response
        assert assertion.exchange.request[0] in (0x00, 0x01)  # the vendor payload in the clear, not a record
