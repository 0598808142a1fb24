"""Mutants of the state machine, the generic errors, ResponseNotReady and DOE framing, each with its case.

Most rewrite the emulator's answers in the transport, as :mod:`.devices` does;
DOE mutants rewrite whole data objects.  The one that must act inside a secured
session breaks the device instead (a responder that lets CHALLENGE through a
session), so nothing is ever decrypted in the transport.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from devsec.emulator import EmulatedDevice
from spdm.config import ResponderConfig
from spdm.errors import SpdmErrorCode
from spdm.messages.codes import RequestCode
from spdm.transport import (
    DoeMailboxModel,
    DoeTransport,
    ModelConfigSpace,
    open_mailbox,
)
from spdm.transport.doe import DataObject, decode_data_object, encode_data_object
from spdm.transport.mailbox import (
    DOE_CONTROL,
    DOE_CONTROL_ABORT,
    DOE_STATUS,
    DOE_STATUS_DATA_OBJECT_READY,
    DOE_WRITE_MAILBOX,
)

from .devices import (
    CAPABILITIES,
    CHALLENGE_AUTH,
    DIGESTS,
    ERROR,
    GET_CAPABILITIES,
    GET_DIGESTS,
    GET_VERSION,
    NEGOTIATE_ALGORITHMS,
    SHA384_SIZE,
    Corrupt,
    Mutant,
    MutantState,
    _accept_instead,
    _error,
    device_model,
    healthy_device,
    mutant_factory_on,
)

__all__ = ["STATE_MUTANTS", "StateMutant", "not_ready_device"]

Factory = Callable[[], DoeTransport]
RESPOND_IF_READY = 0xFF
MAILBOX_TIMEOUT = 0.05
"""Seconds the mailbox driver waits in these tests (a dropped object costs that much)."""


@dataclass(frozen=True)
class StateMutant:
    """A device with one state, error, ResponseNotReady or DOE rule broken.

    Attributes:
        name: what is broken.
        catches: the id of the case that must fail on it.
        factory: builds the device and returns its transport factory.
        fresh: builds the factory of devices of the same fault just out of reset
            (``run_suite(open_fresh=...)``), for the mutants only such a device shows.
    """

    name: str
    catches: str
    factory: Callable[[], Factory]
    fresh: Callable[[], Factory] | None = None


def not_ready_device() -> EmulatedDevice:
    """The emulator holding GET_CERTIFICATE and CHALLENGE back behind ResponseNotReady once each."""
    held = frozenset({RequestCode.GET_CERTIFICATE, RequestCode.CHALLENGE})
    return EmulatedDevice(ResponderConfig(not_ready_requests=held), device_model())


def _answers(corrupt: Corrupt,
             device: Callable[[], EmulatedDevice] = healthy_device) -> Callable[[], Factory]:
    """A mutant rewriting SPDM answers (:class:`.devices.Mutant`'s way) on a fresh ``device``."""
    return lambda: mutant_factory_on(device(), Mutant("", "", corrupt))


# --- SPDM answers ---------------------------------------------------------------------------


def _digests_out_of_reset(state: MutantState, request: bytes, response: bytes) -> bytes:
    if request[1] == GET_DIGESTS and response[1] == ERROR and state.previous == 0:
        return bytes([request[0], DIGESTS, 0, 1]) + bytes(SHA384_SIZE)
    return response


def _fresh(corrupt: Corrupt) -> Callable[[], Factory]:
    """Each transport a new device out of reset, its answers rewritten by ``corrupt``."""
    return lambda: lambda: mutant_factory_on(healthy_device(), Mutant("", "", corrupt))()


def _digests_after_version(state: MutantState, request: bytes, response: bytes) -> bytes:
    if request[1] == GET_DIGESTS and response[1] == ERROR and state.previous == GET_VERSION:
        return bytes([request[0], DIGESTS, 0, 1]) + bytes(SHA384_SIZE)
    return response


def _undefined_as_invalid(state: MutantState, request: bytes, response: bytes) -> bytes:
    if request[1] == 0x80 and response[1] == ERROR:
        return _error(SpdmErrorCode.INVALID_REQUEST, request[0])
    return response


def _other_version_accepted(state: MutantState, request: bytes, response: bytes) -> bytes:
    if request[1] == GET_DIGESTS and response[1:3] == bytes([ERROR, SpdmErrorCode.VERSION_MISMATCH]):
        return bytes([request[0], DIGESTS, 0, 1]) + bytes(SHA384_SIZE)
    return response


def _unsupported_as_unexpected(state: MutantState, request: bytes, response: bytes) -> bytes:
    refused = response[1:3] == bytes([ERROR, SpdmErrorCode.UNSUPPORTED_REQUEST])
    if request[1] == RequestCode.GET_CSR and refused:
        return response[:2] + bytes([SpdmErrorCode.UNEXPECTED_REQUEST]) + response[3:]
    return response


def _after_algorithms(state: MutantState, request: bytes) -> bool:
    return state.previous == NEGOTIATE_ALGORITHMS


def _not_ready(change: Callable[[bytes], bytes]) -> Corrupt:
    def corrupt(state: MutantState, request: bytes, response: bytes) -> bytes:
        if response[1:3] == bytes([ERROR, SpdmErrorCode.RESPONSE_NOT_READY]):
            return change(response)
        return response
    return corrupt


def _released_on_any_token(state: MutantState, request: bytes, response: bytes) -> bytes:
    if request[1] == RESPOND_IF_READY and response[1:3] == bytes([ERROR, SpdmErrorCode.INVALID_REQUEST]):
        return bytes([request[0], request[2] & 0x7F, 0, 0])
    return response


def _released_with_nothing_pending(state: MutantState, request: bytes, response: bytes) -> bytes:
    if request[1] == RESPOND_IF_READY and response[1:3] == bytes([ERROR, SpdmErrorCode.UNEXPECTED_REQUEST]):
        return bytes([request[0], request[2] & 0x7F, 0, 0])
    return response


# --- the device: CHALLENGE inside a session -------------------------------------------------


def _challenge_in_session() -> Factory:
    """A device that answers CHALLENGE inside a session (where DSP0274 forbids it) with CHALLENGE_AUTH:
    its refusal is rewritten before sealing, through the responder's session filter."""
    device = healthy_device()

    def answer(session_id: int, request: bytes, response: bytes) -> bytes:
        if request[1] == RequestCode.CHALLENGE and response[1] == ERROR:
            return bytes([request[0], CHALLENGE_AUTH, request[2], 1 << request[2]])
        return response

    device.responder.register_session_filter(answer)
    return device.pipe


# --- DOE objects ----------------------------------------------------------------------------

ObjectChange = Callable[[bytes, Callable[[bytes], bytes]], bytes]
"""(request object, send it to the device) -> the response object sent back."""


class _ObjectTransport:
    """A DoeTransport passing whole objects through an :data:`ObjectChange`."""

    def __init__(self, inner: DoeTransport, change: ObjectChange) -> None:
        self._inner, self._change = inner, change

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        return self._change(request, lambda obj: self._inner.exchange(obj, timeout=timeout))

    def close(self) -> None:
        self._inner.close()


def _objects(change: ObjectChange) -> Callable[[], Factory]:
    def factory() -> Factory:
        device = healthy_device()
        return lambda: _ObjectTransport(device.pipe(), change)
    return factory


def _no_secured_type(request: bytes, send: Callable[[bytes], bytes]) -> bytes:
    response = send(request)
    if request[2] == 0 and len(request) == 12 and request[8] == 1:  # Discovery, index 1 (type 1)
        return response[:-1] + b"\x00"  # Next Index 0: the walk ends before type 2
    return response


def _discovery_length_plus_one(request: bytes, send: Callable[[bytes], bytes]) -> bytes:
    response = send(request)
    if request[2] != 0:
        return response
    (dw1,) = struct.unpack_from("<I", response, 4)
    return response[:4] + struct.pack("<I", dw1 + 1) + response[8:]


def _unknown_type_answered(request: bytes, send: Callable[[bytes], bytes]) -> bytes:
    obj = decode_data_object(request)
    if obj.object_type == 0xF0:
        answer = decode_data_object(send(encode_data_object(DataObject(obj.vendor_id, 1, obj.payload))))
        return encode_data_object(DataObject(obj.vendor_id, obj.object_type, answer.payload))
    return send(request)


def _length_repaired(request: bytes, send: Callable[[bytes], bytes]) -> bytes:
    """Ignore the Length field: frame the object by its size, as a careless device would."""
    if len(request) >= 8 and (struct.unpack_from("<I", request, 4)[0] & 0x3FFFF) * 4 != len(request):
        request = request[:4] + struct.pack("<I", len(request) // 4) + request[8:]
    return send(request)


# --- DOE mailbox registers -----------------------------------------------------------------


class _AbortIgnored(DoeMailboxModel):
    """A mailbox whose Abort does nothing: a pending response survives it."""

    def write32(self, reg: int, value: int) -> None:
        if not (reg == DOE_CONTROL and value & DOE_CONTROL_ABORT):
            super().write32(reg, value)


class _PendingReplaced(DoeMailboxModel):
    """A mailbox that takes a new request over a pending response, silently dropping the response."""

    def write32(self, reg: int, value: int) -> None:
        if reg == DOE_WRITE_MAILBOX and self.read32(DOE_STATUS) & DOE_STATUS_DATA_OBJECT_READY:
            super().write32(DOE_CONTROL, DOE_CONTROL_ABORT)
        super().write32(reg, value)


def _mailbox(model: Callable[[Callable[[bytes], bytes | None]], DoeMailboxModel]) -> Callable[[], Factory]:
    def factory() -> Factory:
        config = ModelConfigSpace([model(healthy_device().endpoint.handle)])
        return lambda: open_mailbox(config, timeout=MAILBOX_TIMEOUT)
    return factory


STATE_MUTANTS = (
    StateMutant("GET_DIGESTS answered out of reset, before GET_VERSION", "spdm.state.before-version",
                _answers(_digests_out_of_reset), _fresh(_digests_out_of_reset)),
    StateMutant("GET_DIGESTS answered after VERSION only", "spdm.state.after-version",
                _answers(_digests_after_version)),
    StateMutant("GET_CAPABILITIES answered again after ALGORITHMS", "spdm.state.after-algorithms",
                _answers(_accept_instead(GET_CAPABILITIES, CAPABILITIES, when=_after_algorithms))),
    StateMutant("GET_CSR (not advertised) refused UnexpectedRequest", "spdm.state.unadvertised",
                _answers(_unsupported_as_unexpected)),
    StateMutant("CHALLENGE answered inside a session", "spdm.state.in-session-clear-only",
                _challenge_in_session),
    StateMutant("undefined code 0x80 refused InvalidRequest", "spdm.errors.undefined-code",
                _answers(_undefined_as_invalid)),
    StateMutant("GET_DIGESTS at another version accepted", "spdm.errors.version-mismatch",
                _answers(_other_version_accepted)),
    StateMutant("RESPOND_IF_READY with nothing pending answered", "spdm.not-ready.nothing-pending",
                _answers(_released_with_nothing_pending)),
    StateMutant("ResponseNotReady RDTExponent 30", "spdm.not-ready.fields",
                _answers(_not_ready(lambda r: r[:4] + b"\x1e" + r[5:]), not_ready_device)),
    StateMutant("ResponseNotReady names another request", "spdm.not-ready.fields",
                _answers(_not_ready(lambda r: r[:5] + b"\x84" + r[6:]), not_ready_device)),
    StateMutant("RESPOND_IF_READY with a wrong token answered", "spdm.not-ready.wrong-token",
                _answers(_released_on_any_token, not_ready_device)),
    StateMutant("DOE Discovery ends before secured CMA/SPDM", "spdm.doe.discovery",
                _objects(_no_secured_type)),
    StateMutant("DOE Discovery response Length one dword too many", "spdm.doe.framing",
                _objects(_discovery_length_plus_one)),
    StateMutant("DOE object of an unknown type answered", "spdm.doe.unknown-type",
                _objects(_unknown_type_answered)),
    StateMutant("DOE Length ignored (object framed by its size)", "spdm.doe.length-mismatch",
                _objects(_length_repaired)),
    StateMutant("DOE Abort keeps the pending response", "spdm.doe.mailbox-abort", _mailbox(_AbortIgnored)),
    StateMutant("DOE request taken over a pending response", "spdm.doe.mailbox-busy",
                _mailbox(_PendingReplaced)),
)
"""The mutants (tests/devsec/conformance/test_state_mutants.py), each with its catching case."""
