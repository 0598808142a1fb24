"""The SPDM event conformance cases: a healthy event device passes them, each faulty one fails its case.

The faulty devices are the emulator with one rule broken: in-session answers
are changed before they are sealed (:meth:`spdm.responder.Responder.register_session_filter`),
answers in the clear in the DOE object.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from devsec.conformance import Verdict, catalogue, run_suite, select
from devsec.emulator import EmulatedDevice
from spdm.config import ResponderConfig
from spdm.errors import SpdmErrorCode
from spdm.messages import EncapsulatedRequest, ErrorResponse
from spdm.messages.codes import CapabilityFlags, RequestCode
from spdm.messages.event import EventGroup, SendEvent, SpdmEvent, SupportedEventTypes, index_mask
from spdm.transport import DoeTransport
from spdm.transport.doe import decode_data_object, encode_data_object

from .devices import device_model

F = CapabilityFlags
GROUP = "spdm.events"
Filter = Callable[[bytes, bytes], bytes]


def event_device() -> EmulatedDevice:
    """The emulator offering events (EVENT_CAP, with ENCAP_CAP to deliver them)."""
    config = ResponderConfig()
    return EmulatedDevice(replace(config, capabilities=config.capabilities | F.EVENT_CAP | F.ENCAP_CAP),
                          device_model())


class _CleanAnswers:
    """A DoeTransport answering requests in the clear through ``change`` (request, response -> response)."""

    def __init__(self, inner: DoeTransport, change: Filter) -> None:
        self._inner, self._change = inner, change

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        response = decode_data_object(self._inner.exchange(request, timeout=timeout))
        payload = decode_data_object(request).payload
        return encode_data_object(replace(response, payload=self._change(payload, response.payload)))

    def close(self) -> None:
        self._inner.close()


@dataclass(frozen=True)
class EventMutant:
    """An event device with one rule broken, in the session (``inside``) or in the clear (``clear``)."""

    name: str
    catches: str
    inside: Filter | None = None
    clear: Filter | None = None

    def factory(self) -> Callable[[], DoeTransport]:
        device = event_device()
        inside = self.inside
        if inside is not None:
            device.responder.register_session_filter(lambda sid, q, r: inside(q, r))
        clear = self.clear
        if clear is None:
            return device.pipe
        return lambda: _CleanAnswers(device.pipe(), clear)


def _on(code: int, change: Filter) -> Filter:
    return lambda q, r: change(q, r) if q[1:2] == bytes([code]) else r


def _supported_without_event_lost(q: bytes, r: bytes) -> bytes:
    return SupportedEventTypes(spdm_version=q[0], groups=(EventGroup(event_types=(2,)),)).encode()


def _refused(q: bytes, r: bytes) -> bytes:
    return ErrorResponse(spdm_version=q[0], error_code=SpdmErrorCode.INVALID_REQUEST).encode()


def _events_with_a_gap(q: bytes, r: bytes) -> bytes:
    changed = SpdmEvent(1, 2, index_mask([1])), SpdmEvent(3, 2, index_mask([2]))
    inner = SendEvent(spdm_version=q[0], events=changed).encode()
    return EncapsulatedRequest(spdm_version=q[0], request_id=1, encapsulated_request=inner).encode()


def _answered_in_the_clear(q: bytes, r: bytes) -> bytes:
    return SupportedEventTypes(spdm_version=q[0], groups=(EventGroup(event_types=(1, 2)),)).encode()


MUTANTS = (
    EventMutant("SUPPORTED_EVENT_TYPES without EventLost", "spdm.events.supported-types",
                inside=_on(RequestCode.GET_SUPPORTED_EVENT_TYPES, _supported_without_event_lost)),
    EventMutant("SUBSCRIBE_EVENT_TYPES refused", "spdm.events.subscribe",
                inside=_on(RequestCode.SUBSCRIBE_EVENT_TYPES, _refused)),
    EventMutant("SEND_EVENT with an instance-ID gap", "spdm.events.poll",
                inside=_on(RequestCode.GET_ENCAPSULATED_REQUEST, _events_with_a_gap)),
    EventMutant("SUPPORTED_EVENT_TYPES answered in the clear", "spdm.events.session-only",
                clear=_on(RequestCode.GET_SUPPORTED_EVENT_TYPES, _answered_in_the_clear)),
)


def test_every_event_mutant_names_a_catalogued_case() -> None:
    ids = {c.id for c in catalogue()}
    assert {m.catches for m in MUTANTS} == {i for i in ids if i.startswith(GROUP + ".")}


def test_the_healthy_event_device_passes_every_event_case() -> None:
    suite = run_suite(event_device().pipe, select(include=(GROUP,)), versions=(0x13,))
    verdicts = {r.run.id: r.verdict for r in suite.results}
    assert verdicts and set(verdicts.values()) == {Verdict.PASS}, [
        (r.run.id, r.verdict, r.reason) for r in suite.results]


def test_a_device_without_events_skips_them() -> None:
    suite = run_suite(EmulatedDevice(ResponderConfig(), device_model()).pipe, select(include=(GROUP,)),
                      versions=(0x13,))
    assert {r.verdict for r in suite.results} == {Verdict.SKIP}


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_the_event_mutant_is_caught_by_its_case(mutant: EventMutant) -> None:
    suite = run_suite(mutant.factory(), select(include=(mutant.catches,)), versions=(0x13,))
    failed = [r for r in suite.results if r.verdict is Verdict.FAIL]
    assert failed, [(r.run.id, r.verdict, r.reason) for r in suite.results]
    for result in failed:
        assert all(a.reference.startswith("DSP0274") for a in result.failures)
