"""spdm.vendor-defined.*: the TEE-IO emulator passes them at 1.4, and each faulty form is caught.

The cases speak IDE_KM QUERY in a session, so the faults act on the device
side, on the plaintext answer before the responder seals it
(:meth:`spdm.responder.Responder.register_session_filter`): one device answers
a LargeReq in the small form, another answers every request in the large form,
a third answers a LargeReq even when the requester has no LARGE_RESP_CAP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from devsec.conformance import Verdict, run_suite, select
from devsec.emulator import SecureDevice
from spdm.config import DEFAULT_RESPONDER_CAPS, ResponderConfig
from spdm.messages import VendorDefinedRequest, VendorDefinedResponse
from spdm.messages.codes import CapabilityFlags as F
from spdm.transport import DoeTransport

from .devices import device_model, secure_device

GROUP = "spdm.vendor-defined"
CASE, UNADVERTISED = "spdm.vendor-defined.large-form", "spdm.vendor-defined.large-form-unadvertised"
VENDOR_DEFINED_REQUEST, VENDOR_DEFINED_RESPONSE, ERROR = 0xFE, 0x7E, 0x7F
LARGE_REQ = 0x80

Form = Callable[[VendorDefinedResponse], bool]


def _verdicts(open_transport: Callable[[], DoeTransport]) -> dict[tuple[str, int | None], Verdict]:
    suite = run_suite(open_transport, select(include=(GROUP,)), versions=(0x13, 0x14))
    return {(r.run.case.id, r.run.version): r.verdict for r in suite.results}


def _all(verdict_13: Verdict, verdict_14: Verdict) -> dict[tuple[str, int | None], Verdict]:
    return {(case, version): verdict for case in (CASE, UNADVERTISED)
            for version, verdict in ((0x13, verdict_13), (0x14, verdict_14))}


def _answering_in(form: Form) -> Callable[[], DoeTransport]:
    """The TEE-IO emulator whose in-session VENDOR_DEFINED_RESPONSEs take ``form``'s LargeResp bit."""
    device = secure_device()

    def reform(session_id: int, request: bytes, response: bytes) -> bytes:
        if response[1:2] != bytes([VENDOR_DEFINED_RESPONSE]) or response[0] < 0x14:
            return response
        answer = VendorDefinedResponse.decode(response)
        return replace(answer, large=form(answer)).encode()

    device.spdm.responder.register_session_filter(reform)
    return device.spdm.pipe


def test_the_tee_io_device_passes_at_14_and_has_it_skipped_before() -> None:
    assert _verdicts(secure_device().spdm.pipe) == _all(Verdict.SKIP, Verdict.PASS)


def test_a_device_without_large_resp_cap_has_it_skipped() -> None:
    config = ResponderConfig(capabilities=DEFAULT_RESPONDER_CAPS & ~F.LARGE_RESP_CAP)
    verdicts = _verdicts(SecureDevice(config, device_model()).spdm.pipe)
    assert verdicts == _all(Verdict.SKIP, Verdict.SKIP)


FAULTS: tuple[tuple[str, Form], ...] = (
    ("a LargeReq answered in the small form", lambda answer: False),
    ("a small-form request answered in the large form", lambda answer: True),
)


@pytest.mark.parametrize(("name", "form"), FAULTS, ids=[f[0] for f in FAULTS])
def test_the_faulty_form_is_caught(name: str, form: Form) -> None:
    suite = run_suite(_answering_in(form), select(include=(CASE,)), versions=(0x14,))
    [result] = [r for r in suite.results if r.run.case.id == CASE]
    assert result.verdict is Verdict.FAIL, name
    [failure] = result.failures
    assert failure.reference.startswith("DSP0274 1.4")
    assert failure.exchange is not None and failure.exchange.response[1] == VENDOR_DEFINED_RESPONSE


def _answering_unadvertised() -> Callable[[], DoeTransport]:
    """The TEE-IO emulator answering a LargeReq (in the large form) whatever the requester advertised."""
    device = secure_device()

    def answer(session_id: int, request: bytes, response: bytes) -> bytes:
        if request[1] != VENDOR_DEFINED_REQUEST or not request[2] & LARGE_REQ or response[1] != ERROR:
            return response
        query = VendorDefinedRequest.decode(request)
        payload = device.ide.handle(query.payload, session_id)
        return VendorDefinedResponse(spdm_version=query.spdm_version, standard_id=query.standard_id,
                                     vendor_id=query.vendor_id, payload=payload, large=True).encode()

    device.spdm.responder.register_session_filter(answer)
    return device.spdm.pipe


def test_a_large_form_answered_without_the_requesters_cap_is_caught() -> None:
    suite = run_suite(_answering_unadvertised(), select(include=(GROUP,)), versions=(0x14,))
    verdicts = {r.run.case.id: r.verdict for r in suite.results}
    assert verdicts == {CASE: Verdict.PASS, UNADVERTISED: Verdict.FAIL}
    [result] = [r for r in suite.results if r.verdict is Verdict.FAIL]
    [failure] = result.failures
    assert failure.reference.startswith("DSP0274 1.4")
    assert failure.exchange is not None and failure.exchange.response[1] == VENDOR_DEFINED_RESPONSE
