"""The IDE_KM and TDISP suites against the TEE-IO emulator (they pass) and a plain SPDM device (skipped)."""

from __future__ import annotations

from devsec.conformance import Verdict, run_suite, select
from devsec.conformance.options import DEFAULT_TDI
from devsec.emulator import default_tdis

from .devices import healthy_device, secure_device

VDM_SUITES = ("ide_km", "tdisp")


def test_every_vdm_case_passes_or_is_skipped_with_a_reason_on_the_tee_io_emulator() -> None:
    suite = run_suite(secure_device().spdm.pipe, select(VDM_SUITES))
    bad = [(r.run.id, r.verdict, r.reason, [(a.what, a.actual) for a in r.failures]) for r in suite.results
           if r.verdict in (Verdict.FAIL, Verdict.ERROR)]
    assert bad == []
    passed = {r.run.id for r in suite.results if r.verdict is Verdict.PASS}
    assert {"ide_km.query.ports", "ide_km.k-set.go-before-prog", "tdisp.start.nonce",
            "tdisp.report.portions", "tdisp.state.session-end", "tdisp.state.stream-insecure"} <= passed
    skipped = {r.run.id: r.reason for r in suite.results if r.verdict is Verdict.SKIP}
    assert skipped == {"tdisp.state.optional-requests": "TDISP_CAPABILITIES advertises neither "
                       "BIND_P2P_STREAM_REQUEST nor SET_MMIO_ATTRIBUTE_REQUEST"}
    assert all(r.assertions for r in suite.results if r.verdict is Verdict.PASS)


def test_the_default_tdi_is_the_emulators_pf() -> None:
    assert default_tdis((DEFAULT_TDI, 0x0101))[0].physical_function is None


def test_a_device_without_ide_km_or_tdisp_skips_every_vdm_case_saying_why() -> None:
    suite = run_suite(healthy_device().pipe, select(VDM_SUITES))
    assert {r.verdict for r in suite.results} == {Verdict.SKIP}
    reasons = {r.run.case.id.split(".")[0]: r.reason for r in suite.results}
    assert reasons == {
        "ide_km": "the device does not serve IDE_KM: QUERY in a session gets SPDM ERROR UnsupportedRequest",
        "tdisp": "the device does not serve TDISP: GET_TDISP_VERSION in a session gets SPDM ERROR "
                 "UnsupportedRequest",
    }
