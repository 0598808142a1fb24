"""The provisioning cases (spdm.provision.*) on ``devsec emulate --state``'s device, and their mutants.

The healthy device is the provisionable one (CSR_CAP, SET_CERT_CAP, its key
pair and slots in a state file); it passes every provisioning case at 1.2
and 1.3 and is left unprovisioned by them.  Each mutant breaks one rule and is
caught by the case named for it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from devsec.cli import build_parser
from devsec.cli.emulate import device_from_args, provisionable_from_args
from devsec.conformance import Verdict, run_suite, select
from spdm.transport import DoeTransport

from .devices import Mutant, MutantState, assert_caught
from .test_endpoint_mutants import _Mutating

GROUP = "spdm.provision"
GET_CSR, SET_CERTIFICATE = 0xED, 0xEE
CSR, SET_CERTIFICATE_RSP, ERROR = 0x6D, 0x6E, 0x7F


def factory(state_file: Path, mutant: Mutant | None) -> Callable[[], DoeTransport]:
    args = build_parser().parse_args(["emulate", "--state", str(state_file)])
    device = device_from_args(args, provisionable_from_args(args)).spdm
    if mutant is None:
        return device.pipe
    state = MutantState()
    return lambda: _Mutating(device.pipe(), mutant, state)


def _garbled_csr(state: MutantState, request: bytes, response: bytes) -> bytes:
    if request[1] == GET_CSR and response[1] == CSR:
        return response[:-1] + bytes([response[-1] ^ 0x01])
    return response


def _accept_set_certificate(state: MutantState, request: bytes, response: bytes) -> bytes:
    if request[1] == SET_CERTIFICATE and response[1] == ERROR:
        return bytes([request[0], SET_CERTIFICATE_RSP, request[2] & 0x0F, 0])
    return response


MUTANTS = (
    Mutant("CSR signature broken", "spdm.provision.csr", _garbled_csr),
    Mutant("junk chain installed", "spdm.provision.set-certificate-malformed-chain", _accept_set_certificate),
    Mutant("slot 9 installed", "spdm.provision.set-certificate-bad-slot", _accept_set_certificate),
)


def test_the_provisionable_device_passes_every_case_and_stays_blank(tmp_path: Path) -> None:
    state_file = tmp_path / "device.json"
    suite = run_suite(factory(state_file, None), select(include=(GROUP,)))
    assert suite.counts[Verdict.FAIL] == suite.counts[Verdict.ERROR] == 0
    passed = {r.run.case.id for r in suite.results if r.verdict is Verdict.PASS}
    assert passed == {c.id for c in select(include=(GROUP,))}
    args = build_parser().parse_args(["emulate", "--state", str(state_file)])
    assert not provisionable_from_args(args).slots


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_the_mutant_is_caught_by_its_case(mutant: Mutant, tmp_path: Path) -> None:
    suite = run_suite(factory(tmp_path / "device.json", mutant), select(include=(GROUP,)))
    assert_caught(suite, mutant)
