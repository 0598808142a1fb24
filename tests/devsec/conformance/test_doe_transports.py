"""The DOE cases on each way to a device: in process, the spdm-emu socket, and the DOE mailbox registers.

A dropped object must be judged quickly everywhere: the pipe and the socket
say "no response" at once; the mailbox only by timing out, so these tests
give its driver a short timeout.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from devsec.conformance import Verdict, run_suite, select
from devsec.emulator import serving
from spdm.transport import DoeTransport, EmuSocketClient

from .devices import healthy_device

MAILBOX_ONLY = {"spdm.doe.mailbox-abort", "spdm.doe.mailbox-busy"}
LENGTH_CASES = {"spdm.doe.length-mismatch", "spdm.doe.length-too-small"}


def _verdicts(factory: Callable[[], DoeTransport]) -> dict[str, Verdict]:
    suite = run_suite(factory, select(include=("spdm.doe",)))
    assert suite.counts[Verdict.FAIL] == suite.counts[Verdict.ERROR] == 0, [
        (r.run.id, r.reason, [a.what for a in r.failures]) for r in suite.results]
    return {r.run.id: r.verdict for r in suite.results}


def test_in_process_every_framing_case_passes_and_the_mailbox_cases_skip() -> None:
    verdicts = _verdicts(healthy_device().pipe)
    assert {i for i, v in verdicts.items() if v is Verdict.SKIP} == MAILBOX_ONLY


def test_over_the_socket_dropped_objects_are_judged_at_once() -> None:
    with serving(healthy_device()) as url:
        started = time.perf_counter()
        verdicts = _verdicts(lambda: EmuSocketClient.from_url(url))
        elapsed = time.perf_counter() - started
    assert {i for i, v in verdicts.items() if v is Verdict.SKIP} == MAILBOX_ONLY
    assert elapsed < 5.0


def test_on_the_mailbox_the_register_cases_run_and_the_length_cases_skip() -> None:
    device = healthy_device()
    verdicts = _verdicts(lambda: device.mailbox(timeout=0.05))
    assert {i for i, v in verdicts.items() if v is Verdict.SKIP} == LENGTH_CASES
    assert all(verdicts[i] is Verdict.PASS for i in MAILBOX_ONLY)


class _LengthPlusOne:
    """A device whose every response object's Length counts one dword too many."""

    def __init__(self) -> None:
        self._inner = healthy_device().pipe()

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        response = self._inner.exchange(request, timeout=timeout)
        (dw1,) = struct.unpack_from("<I", response, 4)
        return response[:4] + struct.pack("<I", dw1 + 1) + response[8:]

    def close(self) -> None:
        self._inner.close()


def test_a_device_framing_every_response_wrong_fails_cases_instead_of_stopping_the_run() -> None:
    suite = run_suite(_LengthPlusOne, select(include=("spdm.version", "spdm.doe.framing")))
    verdicts = {r.run.id: r.verdict for r in suite.results}
    assert suite.profile.versions == ()
    assert verdicts["spdm.doe.framing"] is Verdict.FAIL
    assert verdicts["spdm.version.entries"] is Verdict.FAIL
    [failure] = next(r for r in suite.results if r.run.id == "spdm.version.entries").failures
    assert failure.reference == "PCIe 6.x §6.30.1" and failure.exchange is not None
