"""The chunk error cases (spdm.chunk-errors.*) on a device with CHUNK_CAP, and a mutant for each that it
catches.

The healthy device (test_chunk_mutants' emulator: CHUNK_CAP, DataTransferSize
0x200, MaxSPDMmsgSize 0x10000) passes every case at 1.2 and 1.3.  Each mutant
is a device that takes what it should refuse: an early error turned into a
plain ACK for the chunk its case breaks, an oversize request's RequestTooLarge
turned into the UnsupportedRequest a device that never looked at the size
would answer, a CHUNK_GET with nothing pending answered with a chunk.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devsec.conformance import Verdict, run_suite, select
from spdm.errors import SpdmErrorCode
from spdm.messages import ChunkResponse, ErrorResponse

from .devices import Mutant, MutantState, assert_caught
from .test_chunk_mutants import _seq, factory

GROUP = "spdm.chunk-errors"
CHUNK_SEND, CHUNK_GET = 0x85, 0x86
CHUNK_SEND_ACK, ERROR = 0x05, 0x7F


def _takes(when: Callable[[bytes], bool]) -> Callable[[MutantState, bytes, bytes], bytes]:
    """An ACK with EarlyErrorDetected for a CHUNK_SEND ``when`` picks turned into a plain ACK."""
    def corrupt(state: MutantState, request: bytes, response: bytes) -> bytes:
        if request[1] == CHUNK_SEND and response[1] == CHUNK_SEND_ACK and response[2] & 1 and when(request):
            return response[:2] + bytes([0]) + response[3:6]
        return response
    return corrupt


def _ignores_the_size(state: MutantState, request: bytes, response: bytes) -> bytes:
    if response[1] == ERROR and response[2] == SpdmErrorCode.REQUEST_TOO_LARGE and request[1] != CHUNK_SEND:
        return ErrorResponse(spdm_version=request[0], error_code=SpdmErrorCode.UNSUPPORTED_REQUEST,
                             error_data=request[1]).encode()
    return response


def _serves_nothing(state: MutantState, request: bytes, response: bytes) -> bytes:
    if request[1] == CHUNK_GET and response[1] == ERROR:
        return ChunkResponse(spdm_version=request[0], handle=request[3], chunk_seq_no=_seq(request),
                             large_message_size=0x400, chunk=bytes(0x100)).encode()
    return response


def _oversize(request: bytes) -> bool:
    return len(request) > 0x200


MUTANTS = (
    Mutant("oversize request decoded anyway", f"{GROUP}.request-too-large", _ignores_the_size),
    Mutant("oversize chunk acknowledged", f"{GROUP}.send-chunk-too-large", _takes(_oversize)),
    Mutant("chunk of another handle acknowledged", f"{GROUP}.send-handle-changed",
           _takes(lambda r: _seq(r) == 1 and r[3] == 1)),
    Mutant("early LastChunk acknowledged", f"{GROUP}.send-last-early",
           _takes(lambda r: _seq(r) == 1 and bool(r[2] & 1))),
    Mutant("missing LastChunk acknowledged", f"{GROUP}.send-last-missing", _takes(lambda r: _seq(r) >= 2)),
    Mutant("empty chunk acknowledged", f"{GROUP}.send-empty-chunk",
           _takes(lambda r: _seq(r) == 1 and len(r) == 12)),
    Mutant("restarted sequence acknowledged", f"{GROUP}.send-restart", _takes(lambda r: _seq(r) == 0)),
    Mutant("chunk without a first acknowledged", f"{GROUP}.send-without-first",
           _takes(lambda r: _seq(r) == 1)),
    Mutant("chunk served with nothing pending", f"{GROUP}.get-without-pending", _serves_nothing),
)


def test_the_healthy_device_passes_every_chunk_error_case() -> None:
    suite = run_suite(factory(None), select(include=(GROUP,)))
    verdicts = {(r.run.case.id, r.run.version): (r.verdict, r.failures) for r in suite.results}
    assert suite.counts[Verdict.FAIL] == suite.counts[Verdict.ERROR] == 0, verdicts
    passed = {case for (case, _), (verdict, _) in verdicts.items() if verdict is Verdict.PASS}
    assert passed == {c.id for c in select(include=(GROUP,))}


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_the_mutant_is_caught_by_its_case(mutant: Mutant) -> None:
    suite = run_suite(factory(mutant), select(include=(GROUP,)))
    assert_caught(suite, mutant)
