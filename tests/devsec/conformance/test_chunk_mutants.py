"""The chunking cases (spdm.chunk.*) on a device with CHUNK_CAP, and a mutant for each that it catches.

The healthy device is the emulator with CHUNK_CAP, a DataTransferSize of
0x200 and a MaxSPDMmsgSize of 0x10000; it passes every chunk case at 1.2 and
1.3.  Each mutant rewrites one kind of chunk answer and is caught by the case
named for it; a device without CHUNK_CAP is not judged.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devsec.conformance import Verdict, run_suite, select
from devsec.emulator import EmulatedDevice
from spdm.config import DEFAULT_RESPONDER_CAPS, ResponderConfig
from spdm.messages.codes import CapabilityFlags as F
from spdm.transport import DoeTransport

from .devices import Mutant, MutantState, assert_caught, device_model
from .test_endpoint_mutants import _Mutating

GROUP = "spdm.chunk"
CHUNK_SEND, CHUNK_GET = 0x85, 0x86
CHUNK_SEND_ACK, CHUNK_RESPONSE, ERROR = 0x05, 0x06, 0x7F


def chunking_device() -> EmulatedDevice:
    config = ResponderConfig(capabilities=DEFAULT_RESPONDER_CAPS | F.CHUNK_CAP, data_transfer_size=0x200,
                             max_spdm_msg_size=0x10000)
    return EmulatedDevice(config, device_model())


def factory(mutant: Mutant | None) -> Callable[[], DoeTransport]:
    device = chunking_device()
    if mutant is None:
        return device.pipe
    state = MutantState()
    return lambda: _Mutating(device.pipe(), mutant, state)


def _seq(request: bytes) -> int:
    return int.from_bytes(request[4:6], "little")


def _wrong_seq_echo(state: MutantState, request: bytes, response: bytes) -> bytes:
    if request[1] == CHUNK_GET and response[1] == CHUNK_RESPONSE and _seq(request) == 1:
        return response[:4] + bytes([response[4] ^ 0x02]) + response[5:]
    return response


def _served_instead(when: Callable[[int], bool]) -> Callable[[MutantState, bytes, bytes], bytes]:
    """A refused CHUNK_GET answered with a CHUNK_RESPONSE remembered from earlier."""
    def corrupt(state: MutantState, request: bytes, response: bytes) -> bytes:
        good = state.good.get((CHUNK_RESPONSE, request[0]))
        if request[1] == CHUNK_GET and response[1] == ERROR and good is not None and when(_seq(request)):
            return good
        return response
    return corrupt


def _early_error_on_good_ack(state: MutantState, request: bytes, response: bytes) -> bytes:
    good_ack = response[1] == CHUNK_SEND_ACK and not response[2] & 1
    if request[1] == CHUNK_SEND and good_ack and _seq(request) == 1:
        return response[:2] + bytes([response[2] | 1]) + response[3:]
    return response


def _hide_early_error(seq_no: int) -> Callable[[MutantState, bytes, bytes], bytes]:
    """An ACK with EarlyErrorDetected for chunk ``seq_no`` turned into a plain ACK (its ERROR dropped)."""
    def corrupt(state: MutantState, request: bytes, response: bytes) -> bytes:
        if request[1] == CHUNK_SEND and response[1] == CHUNK_SEND_ACK and response[2] & 1 \
                and _seq(request) == seq_no:
            return response[:2] + bytes([0]) + response[3:6]
        return response
    return corrupt


MUTANTS = (
    Mutant("chunk sequence number not echoed", "spdm.chunk.get-sequence", _wrong_seq_echo),
    Mutant("chunk of another handle served", "spdm.chunk.get-bad-handle", _served_instead(lambda s: s == 0)),
    Mutant("chunk 1 served first", "spdm.chunk.get-bad-sequence", _served_instead(lambda s: s == 1)),
    Mutant("chunk served after the last", "spdm.chunk.get-after-last", _served_instead(lambda s: s >= 2)),
    Mutant("early error on a good chunk", "spdm.chunk.send-sequence", _early_error_on_good_ack),
    Mutant("skipped chunk acknowledged", "spdm.chunk.send-bad-sequence", _hide_early_error(2)),
    Mutant("oversize message acknowledged", "spdm.chunk.send-oversize", _hide_early_error(0)),
)


def test_the_healthy_device_passes_every_chunk_case() -> None:
    suite = run_suite(factory(None), select(include=(GROUP,)))
    verdicts = {(r.run.case.id, r.run.version): (r.verdict, r.failures) for r in suite.results}
    assert suite.counts[Verdict.FAIL] == suite.counts[Verdict.ERROR] == 0, verdicts
    passed = {case for (case, _), (verdict, _) in verdicts.items() if verdict is Verdict.PASS}
    assert passed == {c.id for c in select(include=(GROUP,))}


def test_a_device_without_chunk_cap_is_not_judged() -> None:
    suite = run_suite(EmulatedDevice(ResponderConfig(), device_model()).pipe, select(include=(GROUP,)))
    assert suite.counts[Verdict.PASS] == suite.counts[Verdict.FAIL] == 0


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_the_mutant_is_caught_by_its_case(mutant: Mutant) -> None:
    suite = run_suite(factory(mutant), select(include=(GROUP,)))
    assert_caught(suite, mutant)
