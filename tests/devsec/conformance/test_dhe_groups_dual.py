"""spdm.key-exchange.dhe-groups at 1.4 on a device with both classic DHE and ML-KEM.

Offered the suite's whole 1.4 set, such a device selects ML-KEM, and the
case used to see "no DHE group selected" for every group it tried: it passed
without judging one, so a device whose DHE sessions were broken passed too.
The case now offers each DHE group without a KEM: on the healthy dual device
every group the device supports carries a session, and the mutant whose DHE
sessions are broken (its KEM sessions untouched) fails.
"""

from __future__ import annotations

from collections.abc import Callable

from devsec.conformance import Verdict, run_suite, select
from devsec.emulator import EmulatedDevice
from spdm.config import ResponderConfig
from spdm.messages import Algorithms
from spdm.messages.codes import AlgType, KemAlgo, SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from spdm.transport import DoeTransport

from .devices import SHA384_SIZE, Mutant, MutantState, device_model, mutant_factory_on

CASE = "spdm.key-exchange.dhe-groups"
KEY_EXCHANGE, KEY_EXCHANGE_RSP, ALGORITHMS = 0xE4, 0x64, 0x63
DUAL = AlgorithmPreferences(kem_algs=(KemAlgo.ML_KEM_768,))
"""devsec's default DHE groups and ML-KEM-768 (which the device prefers when offered)."""


def dual_device() -> EmulatedDevice:
    return EmulatedDevice(ResponderConfig(versions=(SpdmVersion.V14,), algorithms=DUAL), device_model())


def _broken_dhe_sessions(state: MutantState, request: bytes, response: bytes) -> bytes:
    """KEY_EXCHANGE_RSP's signature off by one byte, on connections that selected a DHE group."""
    if request[1] != KEY_EXCHANGE or response[1] != KEY_EXCHANGE_RSP:
        return response
    if not Algorithms.decode(state.good[(ALGORITHMS, response[0])]).alg_supported(AlgType.DHE):
        return response
    offset = len(response) - SHA384_SIZE - 20
    return response[:offset] + bytes([response[offset] ^ 0x01]) + response[offset + 1:]


BROKEN_DHE = Mutant("DHE sessions broken on a DHE + ML-KEM device", CASE, _broken_dhe_sessions)


def _result(factory: Callable[[], DoeTransport]) -> tuple[Verdict, list[str], list[str]]:
    suite = run_suite(factory, select(include=(CASE,)), versions=(0x14,),
                      trust_roots=(device_model().root_certificate(),))
    [result] = suite.results
    return (result.verdict, [a.what for a in result.assertions if a.passed],
            [a.what for a in result.failures])


def test_the_dual_device_has_each_dhe_group_judged() -> None:
    verdict, passed, failed = _result(dual_device().pipe)
    assert verdict is Verdict.PASS, failed
    assert "a session works with SECP_384_R1" in passed
    assert "a session works with SECP_256_R1" in passed


def test_broken_dhe_sessions_on_a_dual_device_fail_the_case() -> None:
    verdict, _, failed = _result(mutant_factory_on(dual_device(), BROKEN_DHE))
    assert verdict is Verdict.FAIL
    assert "a session works with SECP_384_R1" in failed
