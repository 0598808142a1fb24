"""Each broken authentication responder is caught by the case named for it; healthy devices by none."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devsec.conformance import SuiteResult, Verdict, catalogue, run_suite, select
from spdm.device import DeviceModel
from spdm.messages.codes import BaseAsymAlgo
from spdm.transport import DoeTransport

from .devices import Mutant, device_model, healthy_device
from .mutants_auth import (
    AUTH_MUTANTS,
    MODEL_MUTANTS,
    TWO_SLOT_MUTANTS,
    ModelMutant,
    auth_mutant_factory,
    two_slot_device,
)

GROUPS = ("spdm.version", "spdm.capabilities", "spdm.algorithms", "spdm.digests", "spdm.certificate",
          "spdm.challenge", "spdm.measurements")


def _bad(suite: SuiteResult) -> list[tuple[str, Verdict, str, list[str]]]:
    return [(r.run.id, r.verdict, r.reason, [f"{a.what}: {a.actual}" for a in r.failures])
            for r in suite.results if r.verdict in (Verdict.FAIL, Verdict.ERROR)]


WARM_UP = ("spdm.challenge.fresh-nonces", "spdm.measurements.all-blocks")
"""Cases run before the judged one, so a mutant answering a refused request with a good response has one."""


def _assert_caught(open_transport: Callable[[], DoeTransport], case_id: str) -> None:
    suite = run_suite(open_transport, select(include=(*WARM_UP, case_id)))
    failed = [r for r in suite.results if r.verdict is Verdict.FAIL and r.run.case.id == case_id]
    assert failed, [(r.run.id, r.verdict, r.reason) for r in suite.results]
    for result in failed:
        assert result.failures
        for assertion in result.failures:
            assert assertion.reference.startswith(("DSP0274", "PCIe"))
            assert assertion.exchange is not None and assertion.exchange.response


def test_every_auth_mutant_names_a_catalogued_case() -> None:
    ids = {c.id for c in catalogue()}
    catches = [m.catches for m in (*AUTH_MUTANTS, *TWO_SLOT_MUTANTS)] + [m.catches for m in MODEL_MUTANTS]
    assert set(catches) <= ids
    assert len(catches) >= 10


def test_the_healthy_devices_fail_no_authentication_case() -> None:
    assert _bad(run_suite(healthy_device().pipe, select(include=GROUPS))) == []
    two = run_suite(two_slot_device().pipe, select(include=("spdm.certificate", "spdm.challenge")))
    assert _bad(two) == []
    verdicts = {r.run.id: r.verdict for r in two.results}
    assert verdicts["spdm.challenge.slots-and-summaries@1.3"] is Verdict.PASS


def test_root_hash_passes_with_the_devices_root_and_fails_with_a_strangers() -> None:
    cases = select(include=("spdm.certificate.root-hash",))
    own = run_suite(healthy_device().pipe, cases, versions=(0x12,),
                    trust_roots=(device_model().root_certificate(),))
    assert [r.verdict for r in own.results] == [Verdict.PASS]
    stranger = DeviceModel.generate(BaseAsymAlgo.ECDSA_P384).root_certificate()
    other = run_suite(healthy_device().pipe, cases, versions=(0x12,), trust_roots=(stranger,))
    [result] = other.results
    assert result.verdict is Verdict.FAIL
    assert {a.what for a in result.failures} == {"slot 0's RootHash is the hash of a --trust-root",
                                                 "slot 0's chain leads to a --trust-root"}


@pytest.mark.parametrize("mutant", [*AUTH_MUTANTS, *TWO_SLOT_MUTANTS], ids=lambda m: m.name)
def test_the_auth_mutant_is_caught_by_its_case(mutant: Mutant) -> None:
    _assert_caught(auth_mutant_factory(mutant), mutant.catches)


@pytest.mark.parametrize("mutant", MODEL_MUTANTS, ids=lambda m: m.name)
def test_the_model_mutant_is_caught_by_its_case(mutant: ModelMutant) -> None:
    _assert_caught(mutant.factory(), mutant.catches)
