"""The devices the conformance tests judge: the healthy emulator, and mutants of it.

A mutant is the emulator behind a transport that rewrites its responses to
break exactly one rule; each names the case that must catch it.  The
responder itself is untouched, so a mutant is as healthy as the emulator in
everything but its one fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import ide_km
import tdisp
from devsec.conformance import SuiteResult, Verdict
from devsec.emulator import EmulatedDevice, SecureDevice
from spdm.config import ResponderConfig
from spdm.device import DeviceModel
from spdm.errors import RemoteProtocolError, SpdmErrorCode
from spdm.messages import PCI_SIG_STANDARD_ID, PCI_SIG_VENDOR_ID, ErrorResponse
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags
from spdm.transport import DoeTransport
from spdm.transport.doe import DataObject, decode_data_object, encode_data_object

__all__ = [
    "MUTANTS", "Mutant", "MutantState", "assert_caught", "device_model", "healthy_device", "mutant_endpoint",
    "mutant_factory",
]

GET_VERSION, GET_CAPABILITIES, NEGOTIATE_ALGORITHMS = 0x84, 0xE1, 0xE3
GET_DIGESTS, GET_CERTIFICATE, CHALLENGE, GET_MEASUREMENTS = 0x81, 0x82, 0x83, 0xE0
VERSION, CAPABILITIES, ALGORITHMS, ERROR = 0x04, 0x61, 0x63, 0x7F
DIGESTS, CERTIFICATE, CHALLENGE_AUTH, MEASUREMENTS = 0x01, 0x02, 0x03, 0x60
SHA384_SIZE = 48
"""The healthy device selects SHA-384 from devsec's offer (its first preference)."""


@cache
def device_model() -> DeviceModel:
    """The healthy device's identity (one per test run: keys are slow to make)."""
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)


def healthy_device() -> EmulatedDevice:
    """The emulator with its defaults (every version, certificates, measurements, sessions)."""
    return EmulatedDevice(ResponderConfig(), device_model())


@dataclass
class MutantState:
    """What a mutant remembers across exchanges.

    Attributes:
        previous: the previous request's code.
        good: the last non-ERROR response, by (response code, SPDMVersion).
    """

    previous: int = 0
    good: dict[tuple[int, int], bytes] = field(default_factory=dict)


Corrupt = Callable[[MutantState, bytes, bytes], bytes]


@dataclass(frozen=True)
class Mutant:
    """A responder with one rule broken.

    Attributes:
        name: what is broken, in a word or three.
        catches: the id of the case that must fail on it.
        corrupt: (state, request payload, response payload) -> the payload sent instead.
    """

    name: str
    catches: str
    corrupt: Corrupt


class _MutatingTransport:
    """A DoeTransport that passes each response through a mutant's ``corrupt``."""

    def __init__(self, inner: DoeTransport, corrupt: Corrupt, state: MutantState) -> None:
        self._inner, self._corrupt, self._state = inner, corrupt, state

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        response = decode_data_object(self._inner.exchange(request, timeout=timeout))
        payload = decode_data_object(request).payload
        if len(payload) >= 2 and len(response.payload) >= 2 and response.payload[1] != ERROR:
            self._state.good[(response.payload[1], response.payload[0])] = response.payload
        changed = self._corrupt(self._state, payload, response.payload)
        self._state.previous = payload[1] if len(payload) >= 2 else 0
        return encode_data_object(DataObject(response.vendor_id, response.object_type, changed))

    def close(self) -> None:
        self._inner.close()


def mutant_factory(mutant: Mutant) -> Callable[[], DoeTransport]:
    """Opens fresh transports to one mutated device (one device and one memory for the whole run)."""
    device = healthy_device()
    state = MutantState()
    return lambda: _MutatingTransport(device.pipe(), mutant.corrupt, state)


def mutant_endpoint(mutant: Mutant) -> Callable[[bytes], bytes]:
    """The mutated device as a DOE endpoint (one DOE object in, one out), to serve over a socket."""
    return mutant_factory(mutant)().exchange


def assert_caught(suite: SuiteResult, mutant: Mutant, references: tuple[str, ...] = ("DSP0274",)) -> None:
    """The mutant's case failed, and each failed assertion cites a clause and the exchange it judged."""
    failed = {r.run.case.id for r in suite.results if r.verdict is Verdict.FAIL}
    assert mutant.catches in failed
    for result in suite.results:
        if result.run.case.id == mutant.catches and result.verdict is Verdict.FAIL:
            for assertion in result.failures:
                assert assertion.reference.startswith(references)
                assert assertion.exchange is not None and assertion.exchange.response


def _error(code: SpdmErrorCode, version: int = 0x10) -> bytes:
    return ErrorResponse(spdm_version=version, error_code=code).encode()


def _when(request_code: int, response_code: int, change: Callable[[bytes, bytes], bytes]) -> Corrupt:
    def corrupt(state: MutantState, request: bytes, response: bytes) -> bytes:
        if request[1] == request_code and response[1] == response_code:
            return change(request, response)
        return response
    return corrupt


def _set_u32(data: bytes, offset: int, change: Callable[[int], int]) -> bytes:
    value = change(int.from_bytes(data[offset:offset + 4], "little"))
    return data[:offset] + value.to_bytes(4, "little") + data[offset + 4:]


def _accept_instead(request_code: int, response_code: int, *,
                    when: Callable[[MutantState, bytes], bool]) -> Corrupt:
    """Answer a request the device refused with a good response remembered from earlier."""
    def corrupt(state: MutantState, request: bytes, response: bytes) -> bytes:
        good = state.good.get((response_code, request[0]))
        if request[1] == request_code and response[1] == ERROR and good is not None and when(state, request):
            return good
        return response
    return corrupt


def _two_hash_bits(value: int) -> int:
    return value | (0b100 if not value & 0b100 else 0b001)


def _small_transfer(request: bytes, response: bytes) -> bytes:
    return _set_u32(response, 12, lambda _: 41) if response[0] >= 0x12 else response


def _bad_dts(state: MutantState, request: bytes) -> bool:
    return len(request) >= 16 and int.from_bytes(request[12:16], "little") < 42


def _bad_length(state: MutantState, request: bytes) -> bool:
    return int.from_bytes(request[4:6], "little") != len(request.rstrip(b"\x00")) and \
        int.from_bytes(request[4:6], "little") > len(request)


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1:]


def _fixed_nonce(request: bytes, response: bytes) -> bytes:
    start = 4 + SHA384_SIZE
    return response[:start] + bytes(range(32)) + response[start + 32:]


def _remainder_plus_one(request: bytes, response: bytes) -> bytes:
    remainder = int.from_bytes(response[6:8], "little") + 1
    return response[:6] + remainder.to_bytes(2, "little") + response[8:]


def _other_slot(state: MutantState, request: bytes) -> bool:
    return request[2] & 0x0F != 0


def _overstated_count(request: bytes, response: bytes) -> bytes:
    return response[:2] + bytes([response[2] + 1]) + response[3:] if request[3] == 0 else response


def _one_index(state: MutantState, request: bytes) -> bool:
    return request[3] not in (0x00, 0xFF)


def _after_version(state: MutantState, request: bytes) -> bool:
    return state.previous == GET_VERSION


MUTANTS = (
    Mutant("GET_VERSION 1.1 answered InvalidRequest", "spdm.version.request-version",
           lambda s, q, r: _error(SpdmErrorCode.INVALID_REQUEST)
           if q[1] == GET_VERSION and q[0] != 0x10 else r),
    Mutant("VERSION lists no entries", "spdm.version.entries",
           _when(GET_VERSION, VERSION, lambda q, r: bytes.fromhex("100400000000"))),
    Mutant("VERSION in 1.2 framing", "spdm.version.framing",
           _when(GET_VERSION, VERSION, lambda q, r: b"\x12" + r[1:])),
    Mutant("CAPABILITIES always says 1.0", "spdm.capabilities.layout",
           _when(GET_CAPABILITIES, CAPABILITIES, lambda q, r: b"\x10" + r[1:] if q[0] >= 0x12 else r)),
    Mutant("CAPABILITIES sets a reserved flag", "spdm.capabilities.flags",
           _when(GET_CAPABILITIES, CAPABILITIES, lambda q, r: _set_u32(r, 8, lambda f: f | 1 << 31))),
    Mutant("CAPABILITIES MEAS_CAP = 11b", "spdm.capabilities.flags",
           _when(GET_CAPABILITIES, CAPABILITIES, lambda q, r: _set_u32(r, 8, lambda f: f | 0b11 << 3))),
    Mutant("CTExponent 30", "spdm.capabilities.ct-exponent",
           _when(GET_CAPABILITIES, CAPABILITIES, lambda q, r: r[:5] + b"\x1e" + r[6:])),
    Mutant("DataTransferSize 41", "spdm.capabilities.transfer-sizes",
           _when(GET_CAPABILITIES, CAPABILITIES, _small_transfer)),
    Mutant("GET_CAPABILITIES with DataTransferSize 41 accepted", "spdm.capabilities.invalid-transfer-size",
           _accept_instead(GET_CAPABILITIES, CAPABILITIES, when=_bad_dts)),
    Mutant("GET_CAPABILITIES at an unlisted version answered InvalidRequest",
           "spdm.capabilities.version-mismatch",
           lambda s, q, r: _error(SpdmErrorCode.INVALID_REQUEST)
           if q[1] == GET_CAPABILITIES and q[0] > 0x13 else r),
    Mutant("ALGORITHMS selects two hashes", "spdm.algorithms.selection",
           _when(NEGOTIATE_ALGORITHMS, ALGORITHMS, lambda q, r: _set_u32(r, 16, _two_hash_bits))),
    Mutant("ALGORITHMS ignores the offer (always SHA-384)", "spdm.algorithms.narrow-offer",
           _when(NEGOTIATE_ALGORITHMS, ALGORITHMS, lambda q, r: _set_u32(r, 16, lambda _: 0b10))),
    Mutant("ALGORITHMS Length off by one", "spdm.algorithms.layout",
           _when(NEGOTIATE_ALGORITHMS, ALGORITHMS,
                 lambda q, r: r[:4] + (int.from_bytes(r[4:6], "little") + 1).to_bytes(2, "little") + r[6:])),
    Mutant("NEGOTIATE_ALGORITHMS with a wrong Length accepted", "spdm.algorithms.invalid-length",
           _accept_instead(NEGOTIATE_ALGORITHMS, ALGORITHMS, when=_bad_length)),
    Mutant("NEGOTIATE_ALGORITHMS accepted straight after VERSION", "spdm.algorithms.before-capabilities",
           _accept_instead(NEGOTIATE_ALGORITHMS, ALGORITHMS, when=_after_version)),
    Mutant("DIGESTS entry not the chain's hash", "spdm.digests.match-chains",
           _when(GET_DIGESTS, DIGESTS, lambda q, r: _flip(r, 4))),
    Mutant("DIGESTS without slot 0", "spdm.digests.slots",
           _when(GET_DIGESTS, DIGESTS, lambda q, r: r[:3] + b"\x02" + r[4:])),
    Mutant("CERTIFICATE RemainderLength one too many", "spdm.certificate.portions",
           _when(GET_CERTIFICATE, CERTIFICATE, _remainder_plus_one)),
    Mutant("CERTIFICATE served for an empty slot", "spdm.certificate.invalid-slot",
           _accept_instead(GET_CERTIFICATE, CERTIFICATE, when=_other_slot)),
    Mutant("CHALLENGE_AUTH signature off by one byte", "spdm.challenge.requester-flow",
           _when(CHALLENGE, CHALLENGE_AUTH, lambda q, r: _flip(r, len(r) - 20))),
    Mutant("CHALLENGE_AUTH repeats one nonce", "spdm.challenge.fresh-nonces",
           _when(CHALLENGE, CHALLENGE_AUTH, _fixed_nonce)),
    Mutant("count query overstates NumberOfIndices", "spdm.measurements.all-blocks",
           _when(GET_MEASUREMENTS, MEASUREMENTS, _overstated_count)),
    Mutant("GET_MEASUREMENTS for a missing index answered", "spdm.measurements.invalid-index",
           _accept_instead(GET_MEASUREMENTS, MEASUREMENTS, when=_one_index)),
)
"""The mutants, each with the case that must catch it."""


# IDE_KM and TDISP mutants.  Their messages travel encrypted inside the session,
# so these break the device's PCI-SIG vendor handler instead of the transport:
# the device's own IDE_KM and TDISP models answer, and the mutant rewrites the
# answer (a payload, or the SPDM ERROR the model raised) before it is sealed.

VdmAnswer = bytes | RemoteProtocolError
VdmCorrupt = Callable[[bytes, VdmAnswer], VdmAnswer]
TDISP_HEADER = 17
"""Protocol ID and the TDISP header: a TDISP payload's fields start here."""


@dataclass(frozen=True)
class VdmMutant:
    """A TEE-IO device with one IDE_KM or TDISP rule broken.

    Attributes:
        name: what is broken.
        catches: the id of the case that must fail on it.
        corrupt: (request payload, the models' answer) -> the answer sent instead.
    """

    name: str
    catches: str
    corrupt: VdmCorrupt


def secure_device() -> SecureDevice:
    """The TEE-IO emulator with its defaults (IDE_KM on two ports, TDIs 0x0100-0x0102)."""
    return SecureDevice(ResponderConfig(), device_model())


def vdm_mutant_factory(mutant: VdmMutant) -> Callable[[], DoeTransport]:
    """Opens fresh transports to one TEE-IO device whose vendor answers pass through ``mutant``."""
    device = secure_device()
    handlers = {ide_km.PROTOCOL_ID: device.ide.handle, tdisp.PROTOCOL_ID: device.tdisp.handle}

    def handle(payload: bytes, session_id: int | None) -> bytes:
        handler = handlers.get(payload[0]) if payload else None
        if handler is None:
            raise RemoteProtocolError("not served", error_code=SpdmErrorCode.UNSUPPORTED_REQUEST)
        answer: VdmAnswer
        try:
            answer = handler(payload, session_id)
        except RemoteProtocolError as exc:
            answer = exc
        changed = mutant.corrupt(payload, answer)
        if isinstance(changed, RemoteProtocolError):
            raise changed
        return changed

    device.spdm.responder.register_vendor_handler(PCI_SIG_STANDARD_ID, PCI_SIG_VENDOR_ID, handle)
    return device.spdm.pipe


def _ide(object_id: int, change: Callable[[bytes, bytes], bytes]) -> VdmCorrupt:
    """Rewrite the IDE_KM answer with ``object_id``."""
    def corrupt(request: bytes, answer: VdmAnswer) -> VdmAnswer:
        if isinstance(answer, bytes) and answer[:2] == bytes([ide_km.PROTOCOL_ID, object_id]):
            return change(request, answer)
        return answer
    return corrupt


def _tdisp(code: int, change: Callable[[bytes, bytes], bytes]) -> VdmCorrupt:
    """Rewrite the TDISP answer with message code ``code``."""
    def corrupt(request: bytes, answer: VdmAnswer) -> VdmAnswer:
        if isinstance(answer, bytes) and answer[0] == tdisp.PROTOCOL_ID and answer[2] == code:
            return change(request, answer)
        return answer
    return corrupt


def _set(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + bytes([value]) + data[offset + 1:]


def _tdisp_error_code(answer: bytes) -> int:
    return int.from_bytes(answer[TDISP_HEADER:TDISP_HEADER + 4], "little")


def _accepted_instead(request_code: int, refusal: int, response: Callable[[bytes], bytes]) -> VdmCorrupt:
    """Answer the TDISP request refused with ``refusal`` with ``response(request)`` instead."""
    def change(request: bytes, answer: bytes) -> bytes:
        if request[2] == request_code and _tdisp_error_code(answer) == refusal:
            return response(request)
        return answer
    return _tdisp(0x7F, change)


def _go_accepted(request: bytes, answer: VdmAnswer) -> VdmAnswer:
    if request[1:2] == b"\x04" and isinstance(answer, RemoteProtocolError):
        return _set(request, 1, 0x06)  # K_GOSTOP_ACK echoing the K_SET_GO
    return answer


def _later_portion_flipped(request: bytes, answer: bytes) -> bytes:
    offset = int.from_bytes(request[TDISP_HEADER:TDISP_HEADER + 2], "little")
    if offset and len(answer) > TDISP_HEADER + 4:
        return _set(answer, len(answer) - 1, answer[-1] ^ 0x01)
    return answer


def _tdisp_response(request: bytes, code: int, body: bytes = b"") -> bytes:
    return _set(request[:TDISP_HEADER], 2, code) + body


VDM_MUTANTS = (
    VdmMutant("QUERY_RESP always says PortIndex 0", "ide_km.query.ports",
              _ide(0x01, lambda q, r: _set(r, 3, 0))),
    VdmMutant("KP_ACK status 3 for an unsupported PortIndex", "ide_km.key-prog.bad-port",
              _ide(0x03, lambda q, r: _set(r, 5, 3) if r[5] == 2 else r)),
    VdmMutant("KEY_PROG of a wrong length acknowledged with Success", "ide_km.key-prog.wrong-length",
              _ide(0x03, lambda q, r: _set(r, 5, 0) if r[5] == 1 else r)),
    VdmMutant("K_SET_GO accepted before KEY_PROG", "ide_km.k-set.go-before-prog", _go_accepted),
    VdmMutant("TDISP_VERSION carries TDISPVersion 0x20", "tdisp.version.entries",
              _tdisp(0x01, lambda q, r: _set(r, 1, 0x20))),
    VdmMutant("TDISPVersion 0x20 refused as UNSPECIFIED", "tdisp.version.mismatch",
              _tdisp(0x7F, lambda q, r: _set(r, TDISP_HEADER, 0x05) if _tdisp_error_code(r) == 0x41 else r)),
    VdmMutant("LOCK_INTERFACE accepted from CONFIG_LOCKED", "tdisp.state.lock",
              _accepted_instead(0x83, 0x0004, lambda q: _tdisp_response(q, 0x03, bytes(range(32))))),
    VdmMutant("START_INTERFACE accepted with a wrong nonce", "tdisp.start.nonce",
              _accepted_instead(0x86, 0x0102, lambda q: _tdisp_response(q, 0x06))),
    VdmMutant("interface report portions disagree", "tdisp.report.portions",
              _tdisp(0x04, _later_portion_flipped)),
    VdmMutant("STOP_INTERFACE answered with START_INTERFACE_RESPONSE's code", "tdisp.stop.locked-and-run",
              _tdisp(0x07, lambda q, r: _set(r, 2, 0x06))),
    VdmMutant("a TDI stays CONFIG_LOCKED when its session ends", "tdisp.state.session-end",
              _tdisp(0x05, lambda q, r: _set(r, TDISP_HEADER, 1) if r[TDISP_HEADER] == 3 else r)),
)
"""The IDE_KM and TDISP mutants, each with the case that must catch it."""

__all__ += ["VDM_MUTANTS", "VdmMutant", "secure_device", "vdm_mutant_factory"]


KEY_EXCHANGE, FINISH, HEARTBEAT, KEY_UPDATE, END_SESSION = 0xE4, 0xE5, 0xE8, 0xE9, 0xEC
KEY_EXCHANGE_RSP = 0x64


def _clear_error(request_code: int, change: Callable[[bytes, bytes], bytes]) -> Corrupt:
    """Rewrite a 4-byte ERROR in the clear answering ``request_code`` (never a secured record)."""
    def corrupt(state: MutantState, request: bytes, response: bytes) -> bytes:
        if request[1] == request_code and len(response) == 4 and response[1] == ERROR:
            return change(request, response)
        return response
    return corrupt


def _is_record(data: bytes) -> bool:
    """A DSP0277 record over DOE: SessionID, Length (of the rest), ciphertext and a 16-byte MAC."""
    return len(data) >= 22 and int.from_bytes(data[4:6], "little") == len(data) - 6


def _session_required_as_unexpected(state: MutantState, request: bytes, response: bytes) -> bytes:
    if len(response) == 4 and response[1] == ERROR and response[2] == SpdmErrorCode.SESSION_REQUIRED \
            and response[0] >= 0x12:
        return response[:2] + bytes([SpdmErrorCode.UNEXPECTED_REQUEST]) + response[3:]
    return response


def _digests_early(state: MutantState, request: bytes, response: bytes) -> bytes:
    if request[1] == GET_DIGESTS and response[1] == ERROR and state.previous == GET_CAPABILITIES:
        return bytes([request[0], DIGESTS, 0, 1]) + bytes(SHA384_SIZE)
    return response


def _bad_record_mac(state: MutantState, request: bytes, response: bytes) -> bytes:
    return _flip(response, len(response) - 1) if _is_record(request) and _is_record(response) else response


SESSION_MUTANTS = (
    Mutant("KEY_EXCHANGE_RSP signature off by one byte", "spdm.key-exchange.requester-flow",
           _when(KEY_EXCHANGE, KEY_EXCHANGE_RSP, lambda q, r: _flip(r, len(r) - SHA384_SIZE - 20))),
    Mutant("sealed responses with a bad MAC", "spdm.key-exchange.requester-flow", _bad_record_mac),
    Mutant("KEY_EXCHANGE_RSP RspSessionID zero", "spdm.key-exchange.session-ids",
           _when(KEY_EXCHANGE, KEY_EXCHANGE_RSP, lambda q, r: r[:4] + b"\x00\x00" + r[6:])),
    Mutant("KEY_EXCHANGE_RSP always the same RspSessionID", "spdm.key-exchange.session-ids",
           _when(KEY_EXCHANGE, KEY_EXCHANGE_RSP, lambda q, r: r[:4] + b"\x34\x12" + r[6:])),
    Mutant("SessionRequired answered UnexpectedRequest at 1.2+", "spdm.state.session-only",
           _session_required_as_unexpected),
    Mutant("HEARTBEAT_ACK answered in the clear", "spdm.state.session-only",
           _clear_error(HEARTBEAT, lambda q, r: bytes([q[0], 0x68, 0, 0]))),
    Mutant("KEY_UPDATE_ACK in the clear echoing a wrong tag", "spdm.state.session-only",
           _clear_error(KEY_UPDATE, lambda q, r: bytes([q[0], 0x69, q[2], q[3] ^ 1]))),
    Mutant("END_SESSION_ACK answered in the clear", "spdm.state.session-only",
           _clear_error(END_SESSION, lambda q, r: bytes([q[0], 0x6C, 0, 0]))),
    Mutant("GET_DIGESTS before NEGOTIATE_ALGORITHMS answered", "spdm.state.after-capabilities",
           _digests_early),
    Mutant("FINISH without KEY_EXCHANGE answered FINISH_RSP", "spdm.state.finish-without-key-exchange",
           _clear_error(FINISH, lambda q, r: bytes([q[0], 0x65, 0, 0]) + bytes(SHA384_SIZE))),
)
"""The session mutants (tests/devsec/conformance/test_session_mutants.py), each with its catching case."""


FINISH_RSP = 0x65


def clear_handshake_device() -> EmulatedDevice:
    """The emulator also advertising HANDSHAKE_IN_THE_CLEAR_CAP (FINISH/FINISH_RSP unsealed)."""
    caps = ResponderConfig().capabilities | CapabilityFlags.HANDSHAKE_IN_THE_CLEAR_CAP
    return EmulatedDevice(ResponderConfig(capabilities=caps), device_model())


def psk_device() -> EmulatedDevice:
    """The emulator holding one PSK (hint ``devsec``) and advertising PSK_CAP_WITH_CONTEXT."""
    caps = ResponderConfig().capabilities | CapabilityFlags.PSK_CAP_WITH_CONTEXT
    model = device_model().with_psks({b"devsec": bytes(32)})
    return EmulatedDevice(ResponderConfig(capabilities=caps), model)


def mutant_factory_on(device: EmulatedDevice, mutant: Mutant) -> Callable[[], DoeTransport]:
    """:func:`mutant_factory` over another device (one whose optional features a mutant must reach)."""
    state = MutantState()
    return lambda: _MutatingTransport(device.pipe(), mutant.corrupt, state)


CLEAR_HANDSHAKE_MUTANTS = (
    Mutant("FINISH_RSP verify data off by one (handshake in the clear)",
           "spdm.key-exchange.handshake-in-the-clear",
           _when(FINISH, FINISH_RSP, lambda q, r: _flip(r, len(r) - 1))),
    Mutant("bad FINISH verify data accepted (handshake in the clear)", "spdm.key-exchange.bad-verify-data",
           lambda s, q, r: bytes([q[0], FINISH_RSP, 0, 0]) + bytes(SHA384_SIZE)
           if q[1] == FINISH and len(r) == 4 and r[1] == ERROR else r),
)
"""Mutants of :func:`clear_handshake_device`, each with its catching case."""


PSK_EXCHANGE, PSK_EXCHANGE_RSP = 0xE6, 0x66

PSK_MUTANTS = (
    Mutant("PSK_EXCHANGE with an unknown PSKHint answered", "spdm.psk.unknown-hint",
           _clear_error(PSK_EXCHANGE, lambda q, r: bytes([q[0], PSK_EXCHANGE_RSP, 0, 0]) + bytes(64))),
)
"""Mutants of :func:`psk_device`, each with its catching case."""
