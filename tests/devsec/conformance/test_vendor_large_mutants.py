"""spdm.vendor-defined.large-form: the TEE-IO emulator passes it at 1.4, and each faulty form is caught.

The case speaks IDE_KM QUERY in a session, so the faults act on the device
side, on the plaintext answer before the responder seals it
(:meth:`spdm.responder.Responder.register_session_filter`): one device answers
a LargeReq in the small form, another answers every request in the large form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from devsec.conformance import Verdict, run_suite, select
from devsec.emulator import SecureDevice
from spdm.config import DEFAULT_RESPONDER_CAPS, ResponderConfig
from spdm.messages import VendorDefinedResponse
from spdm.messages.codes import CapabilityFlags as F
from spdm.transport import DoeTransport

from .devices import device_model, secure_device

CASE = "spdm.vendor-defined.large-form"
VENDOR_DEFINED_RESPONSE = 0x7E

Form = Callable[[VendorDefinedResponse], bool]


def _verdicts(open_transport: Callable[[], DoeTransport]) -> dict[int | None, Verdict]:
    suite = run_suite(open_transport, select(include=(CASE,)), versions=(0x13, 0x14))
    return {r.run.version: r.verdict for r in suite.results}


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
    assert _verdicts(secure_device().spdm.pipe) == {0x13: Verdict.SKIP, 0x14: Verdict.PASS}


def test_a_device_without_large_resp_cap_has_it_skipped() -> None:
    config = ResponderConfig(capabilities=DEFAULT_RESPONDER_CAPS & ~F.LARGE_RESP_CAP)
    verdicts = _verdicts(SecureDevice(config, device_model()).spdm.pipe)
    assert verdicts == {0x13: Verdict.SKIP, 0x14: Verdict.SKIP}


FAULTS: tuple[tuple[str, Form], ...] = (
    ("a LargeReq answered in the small form", lambda answer: False),
    ("a small-form request answered in the large form", lambda answer: True),
)


@pytest.mark.parametrize(("name", "form"), FAULTS, ids=[f[0] for f in FAULTS])
def test_the_faulty_form_is_caught(name: str, form: Form) -> None:
    suite = run_suite(_answering_in(form), select(include=(CASE,)), versions=(0x14,))
    [result] = suite.results
    assert result.verdict is Verdict.FAIL, name
    [failure] = result.failures
    assert failure.reference.startswith("DSP0274 1.4")
    assert failure.exchange is not None and failure.exchange.response[1] == VENDOR_DEFINED_RESPONSE
