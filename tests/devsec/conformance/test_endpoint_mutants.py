"""The SPDM 1.3 endpoint cases (spdm.endpoint.*, spdm.mel.*, spdm.key-pairs.*) on a device that offers them.

The healthy device is the emulator with EP_INFO_CAP (signed), MEL_CAP,
GET_KEY_PAIR_INFO_CAP and SET_KEY_PAIR_INFO_CAP and a MEL of three entries; it passes every case of
these groups at 1.3.  Each mutant breaks one rule in its answers and is
caught by the case named for it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devsec.conformance import Verdict, run_suite, select
from devsec.emulator import EmulatedDevice
from spdm.config import DEFAULT_RESPONDER_CAPS, ResponderConfig
from spdm.device_endpoint import EndpointData
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.codes import DmtfValueType
from spdm.messages.mel import Mel, MelEntry
from spdm.transport import DoeTransport
from spdm.transport.doe import DataObject, decode_data_object, encode_data_object

from .devices import Mutant, MutantState, assert_caught, device_model

GROUPS = ("spdm.endpoint", "spdm.mel", "spdm.key-pairs")
CAPS = (DEFAULT_RESPONDER_CAPS | F.EP_INFO_CAP_SIG | F.MEL_CAP | F.GET_KEY_PAIR_INFO_CAP
        | F.SET_KEY_PAIR_INFO_CAP)
GET_ENDPOINT_INFO, GET_MEL, GET_KEY_PAIR_INFO, SET_KEY_PAIR_INFO = 0x87, 0xEF, 0xFC, 0xFD
ENDPOINT_INFO, MEL, KEY_PAIR_INFO, SET_KEY_PAIR_INFO_ACK, ERROR = 0x07, 0x6F, 0x7C, 0x7D, 0x7F
RAW = 0x80
LOG = Mel(entries=(MelEntry(1, 0x11, RAW | DmtfValueType.INFORMATIONAL, b"ROM"),
                   MelEntry(2, 0x11, RAW | DmtfValueType.INFORMATIONAL, b"Boot FW"),
                   MelEntry(3, 0x11, RAW | DmtfValueType.MUTABLE_FIRMWARE_VERSION, bytes.fromhex("0a030001")),
                   ))


def endpoint_device() -> EmulatedDevice:
    model = device_model()
    endpoint = EndpointData.for_slots(sum(1 << s for s in model.slots), int(model.asym_alg))
    endpoint.mel = LOG
    return EmulatedDevice(ResponderConfig(capabilities=CAPS), model.with_endpoint(endpoint))


class _Mutating:
    """A DoeTransport passing each response through a mutant's ``corrupt``."""

    def __init__(self, inner: DoeTransport, mutant: Mutant, state: MutantState) -> None:
        self._inner, self._mutant, self._state = inner, mutant, state

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        response = decode_data_object(self._inner.exchange(request, timeout=timeout))
        payload = decode_data_object(request).payload
        if len(payload) >= 2 and len(response.payload) >= 2 and response.payload[1] != ERROR:
            self._state.good[(response.payload[1], response.payload[0])] = response.payload
        changed = self._mutant.corrupt(self._state, payload, response.payload)
        return encode_data_object(DataObject(response.vendor_id, response.object_type, changed))

    def close(self) -> None:
        self._inner.close()


def factory(mutant: Mutant | None) -> Callable[[], DoeTransport]:
    device = endpoint_device()
    if mutant is None:
        return device.pipe
    state = MutantState()
    return lambda: _Mutating(device.pipe(), mutant, state)


def _on(request_code: int, response_code: int,
        change: Callable[[bytes, bytes], bytes]) -> Callable[[MutantState, bytes, bytes], bytes]:
    def corrupt(state: MutantState, request: bytes, response: bytes) -> bytes:
        if request[1] == request_code and response[1] == response_code:
            return change(request, response)
        return response
    return corrupt


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1:]


def _garbled_ep_info(request: bytes, response: bytes) -> bytes:
    """Unsigned answers only: NumIdentifiers one more than the elements that follow."""
    return _flip(response, 12) if not request[4] & 1 else response


def _bad_signature(request: bytes, response: bytes) -> bytes:
    return _flip(response, len(response) - 1) if request[4] & 1 else response


def _remainder_plus_one(request: bytes, response: bytes) -> bytes:
    remainder = int.from_bytes(response[8:12], "little") + 1
    return response[:8] + remainder.to_bytes(4, "little") + response[12:]


def _other_key_pair(request: bytes, response: bytes) -> bytes:
    return response[:5] + bytes([response[5] + 1]) + response[6:] if request[4] == 2 else response


def _accept_instead(request_code: int, response_code: int,
                    when: Callable[[bytes], bool]) -> Callable[[MutantState, bytes, bytes], bytes]:
    """Answer a request the device refused with a good response remembered from earlier."""
    def corrupt(state: MutantState, request: bytes, response: bytes) -> bytes:
        good = state.good.get((response_code, request[0]))
        if request[1] == request_code and response[1] == ERROR and good is not None and when(request):
            return good
        return response
    return corrupt


def _ack_set_key_pair(state: MutantState, request: bytes, response: bytes) -> bytes:
    """SET_KEY_PAIR_INFO acknowledged whatever the device said."""
    if request[1] == SET_KEY_PAIR_INFO and response[1] == ERROR:
        return bytes([request[0], SET_KEY_PAIR_INFO_ACK, 0, 0])
    return response


MUTANTS = (
    Mutant("garbled endpoint info", "spdm.endpoint.info-unsigned",
           _on(GET_ENDPOINT_INFO, ENDPOINT_INFO, _garbled_ep_info)),
    Mutant("endpoint info bad signature", "spdm.endpoint.info-signed",
           _on(GET_ENDPOINT_INFO, ENDPOINT_INFO, _bad_signature)),
    Mutant("reserved subcode answered", "spdm.endpoint.info-bad-subcode",
           _accept_instead(GET_ENDPOINT_INFO, ENDPOINT_INFO, lambda request: request[2] == 0)),
    Mutant("MEL remainder off by one", "spdm.mel.portions", _on(GET_MEL, MEL, _remainder_plus_one)),
    Mutant("MEL offset past the end answered", "spdm.mel.bounds",
           _accept_instead(GET_MEL, MEL, lambda request: True)),
    Mutant("key pair ID not echoed", "spdm.key-pairs.info",
           _on(GET_KEY_PAIR_INFO, KEY_PAIR_INFO, _other_key_pair)),
    Mutant("key pair 0 answered", "spdm.key-pairs.invalid-id",
           _accept_instead(GET_KEY_PAIR_INFO, KEY_PAIR_INFO, lambda request: True)),
    Mutant("missing key pair erased", "spdm.key-pairs.set-invalid-id", _ack_set_key_pair),
)


def test_the_healthy_device_passes_every_endpoint_case() -> None:
    suite = run_suite(factory(None), select(include=GROUPS))
    verdicts = {(r.run.case.id, r.run.version): r.verdict for r in suite.results}
    assert suite.counts[Verdict.FAIL] == suite.counts[Verdict.ERROR] == 0, verdicts
    passed = {case for (case, version), verdict in verdicts.items() if verdict is Verdict.PASS}
    assert passed == {c.id for c in select(include=GROUPS)}


def test_a_device_without_the_capabilities_is_not_judged() -> None:
    device = EmulatedDevice(ResponderConfig(), device_model())
    suite = run_suite(device.pipe, select(include=GROUPS))
    assert suite.counts[Verdict.PASS] == suite.counts[Verdict.FAIL] == 0


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_the_mutant_is_caught_by_its_case(mutant: Mutant) -> None:
    suite = run_suite(factory(mutant), select(include=GROUPS))
    assert_caught(suite, mutant)

