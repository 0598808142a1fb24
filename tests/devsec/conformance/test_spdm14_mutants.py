"""The SPDM 1.4 conformance cases pass on the healthy emulator at 1.4 and each catches its faulty device.

Each mutant breaks one 1.4 rule only when the request is 1.4 (the earlier
versions' cases stay green on it), so catching it proves the case runs at 1.4.
"""

from __future__ import annotations

import pytest

from devsec.conformance import SUPPORTED_VERSIONS, Verdict, run_suite, select

from .devices import Mutant, MutantState, healthy_device, mutant_factory

GET_CAPABILITIES, NEGOTIATE_ALGORITHMS, GET_CERTIFICATE = 0xE1, 0xE3, 0x82
CAPABILITIES, ALGORITHMS, CERTIFICATE = 0x61, 0x63, 0x02
SET_KEY_PAIR_RESET_CAP = 1 << 30
SET_KEY_PAIR_INFO_CAP = 1 << 29
ML_DSA_65 = 1 << 1
CASES = ("spdm.capabilities", "spdm.algorithms", "spdm.certificate.large-form")


def _small_form(state: MutantState, request: bytes, response: bytes) -> bytes:
    """A LargeCertChain CERTIFICATE rewritten into the 16-bit form (Param1 b7 cleared)."""
    if request[1] != GET_CERTIFICATE or response[1] != CERTIFICATE or not response[2] & 0x80:
        return response
    portion, remainder = response[8:12], response[12:16]
    return (response[:2] + bytes([response[2] & 0x7F]) + response[3:4] + portion[:2] + remainder[:2]
            + response[16:])


def _pqc_besides_classic(state: MutantState, request: bytes, response: bytes) -> bytes:
    """A 1.4 ALGORITHMS that selects ML-DSA-65 in PqcAsymSel (offset 20) besides its BaseAsymSel."""
    if request[1] != NEGOTIATE_ALGORITHMS or response[1] != ALGORITHMS or response[0] < 0x14:
        return response
    return response[:20] + ML_DSA_65.to_bytes(4, "little") + response[24:]


def _reset_without_set(state: MutantState, request: bytes, response: bytes) -> bytes:
    """A 1.4 CAPABILITIES claiming SET_KEY_PAIR_RESET_CAP without SET_KEY_PAIR_INFO_CAP."""
    if request[1] != GET_CAPABILITIES or response[1] != CAPABILITIES or response[0] < 0x14:
        return response
    flags = (int.from_bytes(response[8:12], "little") | SET_KEY_PAIR_RESET_CAP) & ~SET_KEY_PAIR_INFO_CAP
    return response[:8] + flags.to_bytes(4, "little") + response[12:]


MUTANTS_14 = (
    Mutant("CERTIFICATE answers a LargeCertChain request in the 16-bit form", "spdm.certificate.large-form",
           _small_form),
    Mutant("ALGORITHMS 1.4 selects ML-DSA-65 besides its BaseAsymSel", "spdm.algorithms.pqc-offer",
           _pqc_besides_classic),
    Mutant("CAPABILITIES 1.4 SET_KEY_PAIR_RESET_CAP without SET_KEY_PAIR_INFO_CAP", "spdm.capabilities.flags",
           _reset_without_set),
)


def test_the_healthy_device_passes_the_14_cases() -> None:
    suite = run_suite(healthy_device().pipe, select(include=CASES), versions=(0x14,))
    ran = {r.run.case.id for r in suite.results if r.verdict is Verdict.PASS}
    assert {"spdm.certificate.large-form", "spdm.algorithms.pqc-offer", "spdm.capabilities.flags"} <= ran
    assert suite.counts[Verdict.FAIL] == suite.counts[Verdict.ERROR] == 0


@pytest.mark.parametrize("mutant", MUTANTS_14, ids=lambda m: m.name)
def test_the_14_mutant_is_caught_by_its_case(mutant: Mutant) -> None:
    suite = run_suite(mutant_factory(mutant), select(include=CASES), versions=SUPPORTED_VERSIONS)
    failed = {r.run.case.id for r in suite.results if r.verdict is Verdict.FAIL}
    assert mutant.catches in failed
    for result in suite.results:
        if result.verdict is Verdict.FAIL:
            assert result.run.version == 0x14
            assert all(a.reference.startswith("DSP0274") for a in result.failures)
