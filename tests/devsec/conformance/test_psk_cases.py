"""The PSK session cases against healthy PSK devices: they pass with the PSK, and skip saying why without."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devsec.conformance import RunOptions, Verdict, run_suite, select
from devsec.emulator import EmulatedDevice

from .devices import psk_device
from .mutants_psk import PSK, PSK_HINT, psk_only_context_device

OPTIONS = RunOptions(psk=PSK, psk_hint=PSK_HINT)
SESSION_CASES = ("spdm.psk.session", "spdm.psk.in-session", "spdm.psk.summary-hash")
CONTEXT_CASES = ("spdm.psk.bad-verify-data", "spdm.psk.finish-without-exchange")


def _verdicts(device: EmulatedDevice, options: RunOptions = OPTIONS) -> dict[str, tuple[Verdict, str]]:
    suite = run_suite(device.pipe, select(include=("spdm.psk",)), options=options)
    return {r.run.id: (r.verdict, r.reason) for r in suite.results}


@pytest.mark.parametrize("device", [psk_device, psk_only_context_device], ids=["with-context", "no-context"])
def test_every_psk_case_passes_from_1_1_on(device: Callable[[], EmulatedDevice]) -> None:
    verdicts = _verdicts(device())
    for case in SESSION_CASES:
        assert [verdicts[f"{case}@1.{m}"][0] for m in (1, 2, 3)] == [Verdict.PASS] * 3, verdicts
        assert verdicts[f"{case}@1.0"] == (
            Verdict.SKIP, "the rule exists from SPDM 1.1; this run is at SPDM 1.0")


def test_the_context_cases_run_only_where_the_device_uses_a_context() -> None:
    with_context, without = _verdicts(psk_device()), _verdicts(psk_only_context_device())
    for case in CONTEXT_CASES:
        assert with_context[f"{case}@1.2"][0] is Verdict.PASS
        assert without[f"{case}@1.2"] == (
            Verdict.SKIP, "the device does not advertise PSK_CAP_WITH_CONTEXT at SPDM 1.2")


def test_without_a_psk_the_session_cases_skip_saying_so() -> None:
    verdicts = _verdicts(psk_device(), RunOptions())
    for case in (*SESSION_CASES, "spdm.psk.bad-verify-data"):
        verdict, reason = verdicts[f"{case}@1.2"]
        assert verdict is Verdict.SKIP and reason.startswith("no --psk given")
    assert verdicts["spdm.psk.unknown-hint@1.2"][0] is Verdict.PASS
    assert verdicts["spdm.psk.finish-without-exchange@1.2"][0] is Verdict.PASS


def test_a_wrong_psk_fails_the_session_case_on_the_verify_data() -> None:
    suite = run_suite(psk_device().pipe, select(include=("spdm.psk.session",)), versions=(0x12,),
                      options=RunOptions(psk=b"\x01" * 32, psk_hint=PSK_HINT))
    [result] = suite.results
    assert result.verdict is Verdict.FAIL
    [failure] = result.failures
    assert "ResponderVerifyData" in failure.actual
