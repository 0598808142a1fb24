"""PSK devices with one rule broken, each naming the PSK case that must catch it.

PSK_EXCHANGE_RSP and a PSK_FINISH sent outside a handshake travel in the
clear, so those mutants rewrite the response bytes in the transport
(:func:`.devices.mutant_factory_on`).  PSK_FINISH and the session's requests
are sealed, so their mutants break the device itself, never decrypting in the
transport: one skips the responder's RequesterVerifyData check, one answers
a HEARTBEAT it served (known from the responder's own ``RequestAnswered``
events) with a HEARTBEAT_ACK in the clear instead of its sealed record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

from devsec.emulator import EmulatedDevice
from spdm.config import ResponderConfig
from spdm.events import RequestAnswered
from spdm.messages.codes import CapabilityFlags
from spdm.transport import DoeTransport, PipeTransport
from spdm.transport.doe import (
    PCI_SIG_VENDOR_ID,
    DataObject,
    DataObjectType,
    decode_data_object,
    encode_data_object,
)

from .devices import Corrupt, Mutant, MutantState, _clear_error, device_model, mutant_factory_on, psk_device

__all__ = ["PSK", "PSK_HINT", "PSK_SESSION_MUTANTS", "PskMutant", "psk_only_context_device"]

PSK, PSK_HINT = bytes(32), b"devsec"
"""The key :func:`.devices.psk_device` holds, and its hint."""

PSK_EXCHANGE, PSK_FINISH, HEARTBEAT = 0xE6, 0xE7, 0xE8
PSK_EXCHANGE_RSP, PSK_FINISH_RSP, HEARTBEAT_ACK = 0x66, 0x67, 0x68
SHA384_SIZE = 48
ERROR = 0x7F
"""The PSK device selects SHA-384 from devsec's offer."""

Transports = Callable[[], DoeTransport]


@dataclass(frozen=True)
class PskMutant:
    """A PSK device with one rule broken.

    Attributes:
        name: what is broken.
        catches: the id of the case that must fail on it.
        device: opens the mutated device (a factory of fresh transports) for as long as it is entered.
    """

    name: str
    catches: str
    device: Callable[[], AbstractContextManager[Transports]]


def _on_wire(name: str, catches: str, corrupt: Corrupt) -> PskMutant:
    """A mutant rewriting the PSK device's responses in the clear."""
    mutant = Mutant(name, catches, corrupt)
    return PskMutant(name, catches, lambda: nullcontext(mutant_factory_on(psk_device(), mutant)))


def _psk_rsp(change: Callable[[bytes, bytes, int], bytes]) -> Corrupt:
    """Rewrite a PSK_EXCHANGE_RSP; ``change`` gets (request, response, where its verify data ends)."""
    def corrupt(state: MutantState, request: bytes, response: bytes) -> bytes:
        if request[1] != PSK_EXCHANGE or response[1] != PSK_EXCHANGE_RSP:
            return response
        summary = SHA384_SIZE if request[2] else 0
        context, opaque = (int.from_bytes(response[o:o + 2], "little") for o in (8, 10))
        return change(request, response, 12 + summary + context + opaque + SHA384_SIZE)
    return corrupt


def _flip_verify_data(request: bytes, response: bytes, end: int) -> bytes:
    return response[:end - 1] + bytes([response[end - 1] ^ 0x01]) + response[end:]


def _no_context(request: bytes, response: bytes, end: int) -> bytes:
    summary = SHA384_SIZE if request[2] else 0
    context = int.from_bytes(response[8:10], "little")
    at = 12 + summary
    return response[:8] + bytes(2) + response[10:at] + response[at + context:]


def _zero_summary(request: bytes, response: bytes, end: int) -> bytes:
    return response[:12] + bytes(SHA384_SIZE) + response[12 + SHA384_SIZE:] if request[2] else response


@contextmanager
def _finish_unchecked() -> Iterator[Transports]:
    """The device answers a PSK_FINISH it refused (a wrong RequesterVerifyData) with PSK_FINISH_RSP,
    rewritten before sealing through the responder's session filter (nothing decrypts on the wire)."""
    device = psk_device()

    def accept(session_id: int, request: bytes, response: bytes) -> bytes:
        if request[1:2] == bytes([PSK_FINISH]) and response[1:2] == bytes([ERROR]):
            return bytes([request[0], PSK_FINISH_RSP, 0, 0])
        return response

    device.responder.register_session_filter(accept)
    yield device.pipe


@contextmanager
def _clear_heartbeat_ack() -> Iterator[Transports]:
    """The device answers a HEARTBEAT it served in a session with a HEARTBEAT_ACK in the clear."""
    device = psk_device()

    def endpoint(obj: bytes) -> bytes | None:
        answer = device.endpoint.handle(obj)
        served = list(iter(device.responder.next_event, None))
        negotiated = device.responder.negotiated
        heartbeat = any(isinstance(e, RequestAnswered) and (e.request_code, e.response_code)
                        == (HEARTBEAT, HEARTBEAT_ACK) for e in served)
        secured = decode_data_object(obj).object_type == DataObjectType.SECURED_SPDM
        if secured and heartbeat and negotiated is not None:
            ack = bytes([negotiated.version, HEARTBEAT_ACK, 0, 0])
            return encode_data_object(DataObject(PCI_SIG_VENDOR_ID, DataObjectType.SPDM, ack))
        return answer

    yield lambda: PipeTransport(endpoint)


def psk_only_context_device() -> EmulatedDevice:
    """The emulator holding the PSK and advertising PSK_CAP (no context): no PSK_FINISH."""
    caps = ResponderConfig().capabilities | CapabilityFlags.PSK_CAP
    return EmulatedDevice(ResponderConfig(capabilities=caps), device_model().with_psks({PSK_HINT: PSK}))


PSK_SESSION_MUTANTS = (
    _on_wire("PSK_EXCHANGE_RSP ResponderVerifyData off by one", "spdm.psk.session",
             _psk_rsp(_flip_verify_data)),
    _on_wire("PSK_EXCHANGE_RSP RspSessionID zero", "spdm.psk.session",
             _psk_rsp(lambda q, r, end: r[:4] + b"\x00\x00" + r[6:])),
    _on_wire("PSK_EXCHANGE_RSP without ResponderContext (PSK_CAP_WITH_CONTEXT)", "spdm.psk.session",
             _psk_rsp(_no_context)),
    _on_wire("PSK_EXCHANGE_RSP MeasurementSummaryHash all zeros", "spdm.psk.summary-hash",
             _psk_rsp(_zero_summary)),
    PskMutant("PSK_FINISH with a wrong RequesterVerifyData accepted", "spdm.psk.bad-verify-data",
              _finish_unchecked),
    PskMutant("HEARTBEAT in the PSK session answered in the clear", "spdm.psk.in-session",
              _clear_heartbeat_ack),
    _on_wire("PSK_FINISH without PSK_EXCHANGE answered PSK_FINISH_RSP", "spdm.psk.finish-without-exchange",
             _clear_error(PSK_FINISH, lambda q, r: bytes([q[0], PSK_FINISH_RSP, 0, 0]))),
)
"""The PSK mutants (tests/devsec/conformance/test_psk_mutants.py), each with its catching case."""
