"""The SPDM requester engine (sans-IO): VCA, certificates, challenge, measurements.

Commands (:meth:`Requester.get_version`, :meth:`Requester.challenge`, ...)
queue one request; :meth:`Requester.data_to_send` hands out its bytes;
:meth:`Requester.receive_data` takes the response; :meth:`Requester.next_event`
reports what it meant.  One request is outstanding at a time.  The engine
never touches a socket or a clock: when it must wait (ResponseNotReady, Busy)
it says how long through :meth:`Requester.get_timer` and resumes on
:meth:`Requester.handle_timer`.

Failures are typed: a command that is illegal now raises
:class:`LocalProtocolError` and changes nothing; a response that breaks the
protocol raises :class:`RemoteProtocolError` (or :class:`DecodeError`), one
that fails a check raises :class:`VerificationError`.  Either of the last two
poisons the engine: every later call raises, because a connection that once
lied cannot be trusted again without a fresh GET_VERSION on a new engine.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from .config import RequesterConfig
from .crypto import (
    SpdmCertChain,
    constant_time_equal,
    digest,
    measurement_hash_size,
    parse_spdm_cert_chain,
    signing_context_prefix,
    validate_cert_chain,
    verify,
)
from .errors import (
    DevsecError,
    LocalProtocolError,
    NegotiationError,
    RemoteProtocolError,
    SpdmErrorCode,
    VerificationError,
)
from .events import (
    AlgorithmsNegotiated,
    CapabilitiesReceived,
    CertificateChainReceived,
    ChallengeAuthenticated,
    DigestsReceived,
    ErrorResponseReceived,
    Event,
    MeasurementsReceived,
    SignedEvidence,
    VendorResponseReceived,
    VersionNegotiated,
)
from .messages import (
    NONCE_SIZE,
    REQUESTER_CONTEXT_SIZE,
    Algorithms,
    AlgStruct,
    Capabilities,
    Certificate,
    Challenge,
    ChallengeAuth,
    CodecContext,
    Digests,
    ErrorResponse,
    GetCapabilities,
    GetCertificate,
    GetDigests,
    GetMeasurements,
    GetVersion,
    Measurements,
    Message,
    NegotiateAlgorithms,
    RespondIfReady,
    VendorDefinedRequest,
    VendorDefinedResponse,
    Version,
    peek_code,
)
from .messages.codes import (
    AlgType,
    CapabilityFlags,
    MeasurementAttributes,
    MeasurementOperation,
    MeasurementSpecification,
    MeasurementSummaryHashType,
    RequestCode,
    ResponseCode,
    SpdmVersion,
)
from .negotiation import (
    CMA_MAX_CT_EXPONENT,
    MEAS_CAPS,
    MIN_DATA_TRANSFER_SIZE_12,
    Negotiated,
    check_algorithms_response,
    highest_common_version,
    mask_of,
    negotiated_from,
)
from .state import ConnectionState, next_state
from .transcript import Transcript

logger = logging.getLogger(__name__)

ST1_SECONDS = 0.1
"""DSP0274 ST1: the time a responder has for a response that needs no crypto."""

CHALLENGE_CONTEXT = "responder-challenge_auth signing"
MEASUREMENTS_CONTEXT = "responder-measurements signing"

_CRYPTO_REQUESTS = frozenset({
    RequestCode.CHALLENGE, RequestCode.KEY_EXCHANGE, RequestCode.FINISH,
    RequestCode.PSK_EXCHANGE, RequestCode.PSK_FINISH,
})
"""Requests a responder may take CT (not ST1) to answer."""

MAX_CERT_CHAIN_SIZE = 0xFFFF


@dataclass(slots=True)
class _Pending:
    """The request in flight and what to do with its response."""

    request: Message
    ctx: CodecContext
    handler: Callable[[Message, Message], None]
    busy_retries: int = 0
    not_ready_polls: int = 0
    resend: bytes = b""


class Requester:
    """One SPDM connection, seen from the requester (host or TSM) side."""

    def __init__(
        self, config: RequesterConfig, *, rng: Callable[[int], bytes] = os.urandom
    ) -> None:
        """Create an engine in the NOT_STARTED state.

        Args:
            config: what to offer and whom to trust.
            rng: source of nonces and contexts (inject a deterministic one in tests).
        """
        self.config = config
        self._rng = rng
        self.state = ConnectionState.NOT_STARTED
        self.transcript = Transcript()
        self.version: SpdmVersion | None = None
        self.responder_capabilities: Capabilities | None = None
        self._request_capabilities: GetCapabilities | None = None
        self.negotiated: Negotiated | None = None
        self.digests: dict[int, bytes] = {}
        self.chains: dict[int, SpdmCertChain] = {}
        self._pending: _Pending | None = None
        self._outbox: deque[bytes] = deque()
        self._events: deque[Event] = deque()
        self._timer: float | None = None
        self._poisoned: DevsecError | None = None
        self._cert: tuple[int, bytearray, datetime] | None = None

    # ------------------------------------------------------------------ I/O surface

    def data_to_send(self) -> bytes:
        """The next request's bytes (b"" when nothing is queued)."""
        return self._outbox.popleft() if self._outbox else b""

    def next_event(self) -> Event | None:
        """The next event, or None when nothing more happened."""
        return self._events.popleft() if self._events else None

    @property
    def busy(self) -> bool:
        """A request is outstanding (its response has not been processed)."""
        return self._pending is not None

    def get_timer(self) -> float | None:
        """Seconds to wait before calling :meth:`handle_timer`, or None."""
        return self._timer

    def handle_timer(self) -> None:
        """The wait asked for by :meth:`get_timer` is over: resend or poll."""
        self._check_usable()
        pending = self._pending
        if self._timer is None or pending is None:
            raise LocalProtocolError("no timer is running")
        self._timer = None
        self._outbox.append(pending.resend)

    def response_timeout(self) -> float:
        """Seconds the responder may take for the outstanding request.

        ST1 for requests without crypto, CT = 2**CTExponent microseconds (at
        most the CMA limit of 2**23) for those with it.
        """
        pending = self._pending
        if pending is None:
            return 0.0
        code = pending.request.CODE
        signed_meas = code == RequestCode.GET_MEASUREMENTS and bool(
            getattr(pending.request, "attributes", 0) & MeasurementAttributes.SIGNATURE_REQUESTED
        )
        if (code in _CRYPTO_REQUESTS or signed_meas) and self.negotiated is not None:
            exponent = min(self.negotiated.responder_ct_exponent, CMA_MAX_CT_EXPONENT)
            return ST1_SECONDS + (1 << exponent) / 1e6
        return ST1_SECONDS

    def receive_data(self, data: bytes) -> None:
        """Process the response to the outstanding request.

        Args:
            data: one whole SPDM response (DOE zero padding allowed).

        Raises:
            LocalProtocolError: no request is outstanding, or the engine failed earlier.
            RemoteProtocolError: the response breaks the protocol (engine poisoned).
            VerificationError: a digest, chain or signature check failed (engine poisoned).
        """
        self._check_usable()
        pending = self._pending
        if pending is None:
            raise LocalProtocolError("a response arrived but no request is outstanding")
        if self._timer is not None:
            raise LocalProtocolError("a response arrived while waiting to retry")
        try:
            self._receive(pending, bytes(data))
        except (RemoteProtocolError, VerificationError, NegotiationError) as exc:
            self._poisoned = exc
            self._pending = None
            raise

    # ------------------------------------------------------------------ commands: VCA

    def get_version(self) -> None:
        """Queue GET_VERSION; this resets the connection and all transcripts."""
        self._begin(RequestCode.GET_VERSION)
        self.version = None
        self.negotiated = None
        self.digests.clear()
        self.chains.clear()
        self._send(GetVersion(), CodecContext(), self._on_version)

    def get_capabilities(self) -> None:
        """Queue GET_CAPABILITIES with the configured flags and sizes."""
        version = self._begin(RequestCode.GET_CAPABILITIES)
        c = self.config
        request = GetCapabilities(
            spdm_version=version,
            ct_exponent=c.ct_exponent,
            flags=int(c.capabilities) if version >= SpdmVersion.V11 else 0,
            data_transfer_size=c.data_transfer_size,
            max_spdm_msg_size=c.max_spdm_msg_size,
        )
        self._request_capabilities = request
        self._send(request, CodecContext(), self._on_capabilities)

    def negotiate_algorithms(self) -> None:
        """Queue NEGOTIATE_ALGORITHMS offering the configured preferences."""
        version = self._begin(RequestCode.NEGOTIATE_ALGORITHMS)
        prefs = self.config.algorithms.for_version(version)
        structs: list[AlgStruct] = []
        if version >= SpdmVersion.V11:
            for alg_type, algs in (
                (AlgType.DHE, prefs.dhe_groups),
                (AlgType.AEAD, prefs.aead_suites),
                (AlgType.REQ_BASE_ASYM_ALG, prefs.req_asym_algs),
                (AlgType.KEY_SCHEDULE, prefs.key_schedules),
            ):
                if mask_of(algs):
                    structs.append(AlgStruct(alg_type, mask_of(algs)))
        other = 0
        if version >= SpdmVersion.V12:
            other = mask_of(prefs.opaque_formats)
            if version >= SpdmVersion.V13 and self.config.multi_key_conn:
                other |= 0x10
        request = NegotiateAlgorithms(
            spdm_version=version,
            measurement_specification=MeasurementSpecification.DMTF,
            other_params_support=other,
            base_asym_algo=mask_of(prefs.asym_algs),
            base_hash_algo=mask_of(prefs.hash_algs),
            mel_specification=self.config.mel_specification if version >= SpdmVersion.V13 else 0,
            alg_structs=tuple(structs),
        )
        self._send(request, CodecContext(), self._on_algorithms)

    # ------------------------------------------------------------------ commands: authentication

    def get_digests(self) -> None:
        """Queue GET_DIGESTS."""
        negotiated = self._need_negotiated(RequestCode.GET_DIGESTS)
        self._need_caps(negotiated, CapabilityFlags.CERT_CAP, "GET_DIGESTS")
        self._send(GetDigests(spdm_version=negotiated.version), negotiated.codec(),
                   self._on_digests)

    def get_certificate(self, slot_id: int, *, now: datetime) -> None:
        """Retrieve slot ``slot_id``'s whole chain (as many GET_CERTIFICATEs as it takes).

        Args:
            slot_id: 0-7.
            now: the time certificate validity is checked against.
        """
        negotiated = self._need_negotiated(RequestCode.GET_CERTIFICATE)
        self._need_caps(negotiated, CapabilityFlags.CERT_CAP, "GET_CERTIFICATE")
        if not 0 <= slot_id <= 7:
            raise LocalProtocolError(f"certificate slot {slot_id} is not 0-7")
        self._cert = (slot_id, bytearray(), now)
        self._request_portion(negotiated)

    def challenge(
        self,
        slot_id: int = 0,
        summary: MeasurementSummaryHashType = MeasurementSummaryHashType.NONE,
    ) -> None:
        """Queue CHALLENGE for a slot whose chain was retrieved.

        Args:
            slot_id: the slot whose key must sign.
            summary: which measurement summary hash to ask for.
        """
        negotiated = self._need_negotiated(RequestCode.CHALLENGE)
        self._need_caps(negotiated, CapabilityFlags.CHAL_CAP, "CHALLENGE")
        if slot_id not in self.chains:
            raise LocalProtocolError(f"CHALLENGE slot {slot_id}: retrieve its certificate chain first")
        summary = MeasurementSummaryHashType(summary)
        if summary and not negotiated.responder_flags & MEAS_CAPS:
            raise LocalProtocolError("a measurement summary hash needs a responder with MEAS_CAP")
        request = Challenge(
            spdm_version=negotiated.version,
            slot_id=slot_id,
            measurement_summary_hash_type=summary,
            nonce=self._random(NONCE_SIZE),
            requester_context=self._context(negotiated),
        )
        ctx = negotiated.codec(measurement_summary=summary != MeasurementSummaryHashType.NONE)
        self._send(request, ctx, self._on_challenge_auth)

    def get_measurements(
        self,
        operation: int = MeasurementOperation.ALL,
        *,
        signed: bool = True,
        raw_bit_stream: bool = False,
        new_measurement: bool = False,
        slot_id: int = 0,
    ) -> None:
        """Queue GET_MEASUREMENTS.

        Args:
            operation: 0 = number of indices, 0xFF = all blocks, else one index.
            signed: ask for a signature (needs the slot's chain).
            raw_bit_stream: ask for raw values instead of digests (1.2+).
            new_measurement: ask for fresh measurements (1.3+).
            slot_id: the slot whose key signs.
        """
        negotiated = self._need_negotiated(RequestCode.GET_MEASUREMENTS)
        flags = negotiated.responder_flags
        if not flags & MEAS_CAPS:
            raise LocalProtocolError("the responder does not support measurements (no MEAS_CAP)")
        if signed and not flags & CapabilityFlags.MEAS_CAP_SIG:
            raise LocalProtocolError("the responder cannot sign measurements (MEAS_CAP without signature)")
        if signed and slot_id not in self.chains:
            raise LocalProtocolError(f"signed measurements from slot {slot_id}: retrieve its chain first")
        if not 0 <= operation <= 0xFF:
            raise LocalProtocolError(f"measurement operation {operation} is not a byte")
        attributes = MeasurementAttributes(0)
        if signed:
            attributes |= MeasurementAttributes.SIGNATURE_REQUESTED
        if raw_bit_stream:
            if negotiated.version < SpdmVersion.V12:
                raise LocalProtocolError("raw bit stream measurements need SPDM 1.2")
            attributes |= MeasurementAttributes.RAW_BIT_STREAM_REQUESTED
        if new_measurement:
            if negotiated.version < SpdmVersion.V13:
                raise LocalProtocolError("new-measurement requests need SPDM 1.3")
            attributes |= MeasurementAttributes.NEW_MEASUREMENT_REQUESTED
        request = GetMeasurements(
            spdm_version=negotiated.version,
            attributes=int(attributes),
            operation=operation,
            nonce=self._random(NONCE_SIZE) if signed else None,
            slot_id=slot_id if signed and negotiated.version >= SpdmVersion.V11 else None,
            requester_context=self._context(negotiated),
        )
        self._send(request, negotiated.codec(signed=signed), self._on_measurements)

    def vendor_defined(self, standard_id: int, vendor_id: bytes, payload: bytes) -> None:
        """Queue VENDOR_DEFINED_REQUEST (the carrier of IDE_KM and TDISP)."""
        negotiated = self._need_negotiated(RequestCode.VENDOR_DEFINED_REQUEST)
        request = VendorDefinedRequest(
            spdm_version=negotiated.version,
            standard_id=standard_id,
            vendor_id=vendor_id,
            payload=payload,
        )
        self._send(request, negotiated.codec(), self._on_vendor_defined)

    # ------------------------------------------------------------------ internals: sending

    def _check_usable(self) -> None:
        if self._poisoned is not None:
            raise LocalProtocolError(
                f"this connection failed earlier and cannot be used: {self._poisoned}"
            ) from self._poisoned

    def _begin(self, code: RequestCode) -> SpdmVersion:
        """Check a command is legal now; return the version its request carries."""
        self._check_usable()
        if self._pending is not None:
            raise LocalProtocolError(
                f"{code.name}: {type(self._pending.request).__name__} is still outstanding"
            )
        if next_state(self.state, code) is None:
            raise LocalProtocolError(f"{code.name} is not allowed in state '{self.state.value}'")
        if code == RequestCode.GET_VERSION:
            return SpdmVersion.V10
        assert self.version is not None  # every state past NOT_STARTED has a version
        return self.version

    def _need_negotiated(self, code: RequestCode) -> Negotiated:
        self._begin(code)
        assert self.negotiated is not None
        return self.negotiated

    @staticmethod
    def _need_caps(negotiated: Negotiated, flag: CapabilityFlags, what: str) -> None:
        if not negotiated.responder_flags & flag:
            raise LocalProtocolError(f"{what}: the responder does not advertise {flag.name}")

    def _random(self, size: int) -> bytes:
        value = self._rng(size)
        if len(value) != size:
            raise LocalProtocolError(f"the random source returned {len(value)} bytes, not {size}")
        return value

    def _context(self, negotiated: Negotiated) -> bytes | None:
        if negotiated.version >= SpdmVersion.V13:
            return self._random(REQUESTER_CONTEXT_SIZE)
        return None

    def _send(
        self, request: Message, ctx: CodecContext, handler: Callable[[Message, Message], None]
    ) -> None:
        raw = request.encode(ctx)
        request = replace(request, raw=raw)
        self.transcript.begin(request.CODE)
        self._pending = _Pending(request, ctx, handler, resend=raw)
        self._outbox.append(raw)
        logger.debug("-> %s (%d bytes)", type(request).__name__, len(raw))

    def _request_portion(self, negotiated: Negotiated) -> None:
        assert self._cert is not None
        slot_id, chain, _ = self._cert
        request = GetCertificate(
            spdm_version=negotiated.version,
            slot_id=slot_id,
            offset=len(chain),
            length=self.config.certificate_portion,
        )
        self._send(request, negotiated.codec(), self._on_certificate)

    # ------------------------------------------------------------------ internals: receiving

    def _receive(self, pending: _Pending, data: bytes) -> None:
        version, code = peek_code(data)
        request = pending.request
        expected = request.CODE & 0x7F
        logger.debug("<- code 0x%02x (%d bytes) for %s", code, len(data), type(request).__name__)
        if code == ResponseCode.ERROR:
            self._on_error(pending, ErrorResponse.decode(data, padded=True))
            return
        if code != expected:
            raise RemoteProtocolError(
                f"{type(request).__name__} was answered with code 0x{code:02x}, "
                f"expected 0x{expected:02x}",
                error_code=SpdmErrorCode.INVALID_RESPONSE_CODE,
            )
        if version != request.spdm_version:
            raise RemoteProtocolError(
                f"{type(request).__name__}: response carries SPDM version 0x{version:02x}, "
                f"expected 0x{request.spdm_version:02x}"
            )
        response_type = _RESPONSE_FOR[request.CODE]
        response = response_type.decode(data, pending.ctx, padded=True)
        self._pending = None
        pending.handler(request, response)
        new_state = next_state(self.state, request.CODE)
        assert new_state is not None  # _begin checked the request was legal
        self.state = new_state

    def _on_error(self, pending: _Pending, error: ErrorResponse) -> None:
        request = pending.request
        code = error.error_code
        if code == SpdmErrorCode.BUSY and pending.busy_retries < self.config.busy_retries:
            pending.busy_retries += 1
            pending.resend = request.raw
            self._timer = self.config.busy_retry_delay
            logger.debug("Busy: retry %d of %s", pending.busy_retries, type(request).__name__)
            return
        not_ready = error.not_ready
        if not_ready is not None:
            if not_ready.request_code != request.CODE:
                raise RemoteProtocolError(
                    f"ResponseNotReady names request 0x{not_ready.request_code:02x}, "
                    f"but 0x{request.CODE:02x} is outstanding"
                )
            if pending.not_ready_polls >= self.config.max_not_ready_polls:
                raise RemoteProtocolError(
                    f"{type(request).__name__}: still not ready after "
                    f"{pending.not_ready_polls} RESPOND_IF_READY polls"
                )
            pending.not_ready_polls += 1
            poll = RespondIfReady(
                spdm_version=request.spdm_version,
                request_code=request.CODE,
                token=not_ready.token,
            )
            pending.resend = poll.encode()
            self._timer = not_ready.wait_us / 1e6
            return
        # The request is over; transcripts follow the reference's reset-on-error rules.
        self._pending = None
        self._cert = None
        if request.CODE == RequestCode.GET_MEASUREMENTS:
            self.transcript.measurements_done()
        elif request.CODE == RequestCode.CHALLENGE:
            self.transcript.challenge_done(success=False)
        if request.CODE == RequestCode.GET_VERSION or self.state != ConnectionState.NEGOTIATED:
            # VCA cannot go on after an error: the caller must start over.
            self.state = ConnectionState.NOT_STARTED
        self._events.append(
            ErrorResponseReceived(request.CODE, code, error.error_data, error.extended_data)
        )

    # VCA ----------------------------------------------------------------------------

    def _on_version(self, request: Message, response: Message) -> None:
        assert isinstance(response, Version)
        if response.spdm_version != SpdmVersion.V10:
            raise RemoteProtocolError(
                f"VERSION must carry SPDMVersion 0x10, not 0x{response.spdm_version:02x}"
            )
        self.version = highest_common_version(self.config.versions, response.versions)
        self.transcript.add_vca(request.raw, response.raw)
        self._events.append(VersionNegotiated(self.version, response.versions))

    def _on_capabilities(self, request: Message, response: Message) -> None:
        assert isinstance(response, Capabilities)
        version = self.version
        assert version is not None
        if version >= SpdmVersion.V12:
            if response.data_transfer_size < MIN_DATA_TRANSFER_SIZE_12:
                raise RemoteProtocolError(
                    f"CAPABILITIES DataTransferSize {response.data_transfer_size} is below "
                    f"the minimum of {MIN_DATA_TRANSFER_SIZE_12}"
                )
            if response.max_spdm_msg_size < response.data_transfer_size:
                raise RemoteProtocolError("CAPABILITIES MaxSPDMmsgSize is below DataTransferSize")
        flags = CapabilityFlags(response.flags)
        if flags & MEAS_CAPS == MEAS_CAPS:
            raise RemoteProtocolError("CAPABILITIES MEAS_CAP has the reserved value 11b")
        self.responder_capabilities = response
        self.transcript.add_vca(request.raw, response.raw)
        self._events.append(CapabilitiesReceived(
            flags, response.ct_exponent, response.data_transfer_size, response.max_spdm_msg_size,
        ))

    def _on_algorithms(self, request: Message, response: Message) -> None:
        assert isinstance(response, Algorithms)
        version = self.version
        caps = self.responder_capabilities
        ours = self._request_capabilities
        assert version is not None and caps is not None and ours is not None
        check_algorithms_response(
            response,
            version=version,
            offered=self.config.algorithms,
            requester_flags=CapabilityFlags(ours.flags),
            responder_flags=CapabilityFlags(caps.flags),
        )
        self.negotiated = negotiated_from(
            response,
            version=version,
            requester_flags=CapabilityFlags(ours.flags),
            responder_flags=CapabilityFlags(caps.flags),
            requester_ct_exponent=ours.ct_exponent,
            responder_ct_exponent=caps.ct_exponent,
            requester_sizes=(ours.data_transfer_size, ours.max_spdm_msg_size),
            responder_sizes=(caps.data_transfer_size, caps.max_spdm_msg_size),
        )
        self.transcript.add_vca(request.raw, response.raw)
        self._events.append(AlgorithmsNegotiated(self.negotiated))

    # authentication -------------------------------------------------------------------

    def _on_digests(self, request: Message, response: Message) -> None:
        assert isinstance(response, Digests)
        self.transcript.add_b(request.raw, response.raw)
        self.digests = response.by_slot()
        self._events.append(DigestsReceived(
            dict(self.digests), response.supported_slot_mask, response.provisioned_slot_mask,
        ))

    def _on_certificate(self, request: Message, response: Message) -> None:
        assert isinstance(response, Certificate) and self._cert is not None
        negotiated = self.negotiated
        assert negotiated is not None
        slot_id, chain, now = self._cert
        if response.slot_id != slot_id:
            raise RemoteProtocolError(
                f"CERTIFICATE for slot {response.slot_id}, but slot {slot_id} was asked for"
            )
        self.transcript.add_b(request.raw, response.raw)
        portion = response.cert_chain
        asked = self.config.certificate_portion
        if len(portion) > asked:
            raise RemoteProtocolError(f"CERTIFICATE portion of {len(portion)} bytes, asked for {asked}")
        chain += portion
        total = len(chain) + response.remainder_length
        if total > MAX_CERT_CHAIN_SIZE:
            raise RemoteProtocolError(f"certificate chain of {total} bytes exceeds 65535")
        if len(chain) >= 2 and int.from_bytes(chain[:2], "little") != total:
            raise RemoteProtocolError(
                f"slot {slot_id}: chain header says {int.from_bytes(chain[:2], 'little')} bytes, "
                f"portions add up to {total}"
            )
        if response.remainder_length:
            if not portion:
                raise RemoteProtocolError("CERTIFICATE returned an empty portion with data remaining")
            self._request_portion(negotiated)
            return
        self._cert = None
        self._finish_chain(negotiated, slot_id, bytes(chain), now)

    def _finish_chain(self, negotiated: Negotiated, slot_id: int, raw: bytes, now: datetime) -> None:
        chain = parse_spdm_cert_chain(raw, negotiated.hash_alg)
        expected = self.digests.get(slot_id)
        if expected is not None and not constant_time_equal(digest(negotiated.hash_alg, raw), expected):
            raise VerificationError(f"slot {slot_id}: the chain does not match its DIGESTS entry")
        anchors = self.config.trust_anchors
        validate_cert_chain(
            chain, anchors or chain.certificates[:1], negotiated.asym_alg, now=now, role="responder",
        )
        self.chains[slot_id] = chain
        self._events.append(CertificateChainReceived(slot_id, chain, trusted=bool(anchors)))

    def _on_challenge_auth(self, request: Message, response: Message) -> None:
        assert isinstance(response, ChallengeAuth)
        negotiated = self.negotiated
        assert negotiated is not None and isinstance(request, Challenge)
        chain = self.chains[request.slot_id]
        if response.slot_id != request.slot_id:
            raise RemoteProtocolError(
                f"CHALLENGE_AUTH for slot {response.slot_id}, slot {request.slot_id} was challenged"
            )
        if response.requester_context != request.requester_context:
            raise RemoteProtocolError("CHALLENGE_AUTH does not echo the RequesterContext")
        if not constant_time_equal(response.cert_chain_hash, digest(negotiated.hash_alg, chain.raw)):
            raise VerificationError(
                f"CHALLENGE_AUTH CertChainHash is not the hash of slot {request.slot_id}'s chain"
            )
        unsigned = response.raw[: len(response.raw) - len(response.signature)]
        transcript = self.transcript.m1(request.raw, unsigned)
        evidence = self._evidence(
            negotiated, CHALLENGE_CONTEXT, request.slot_id, transcript, response.signature,
            request.nonce, response.nonce,
        )
        try:
            self._verify(negotiated, chain, evidence)
        except VerificationError:
            self.transcript.challenge_done(success=False)
            raise
        self.transcript.challenge_done(success=True)
        self._events.append(ChallengeAuthenticated(
            request.slot_id, response.measurement_summary_hash, response.basic_mut_auth_req,
            evidence,
        ))

    def _on_measurements(self, request: Message, response: Message) -> None:
        assert isinstance(response, Measurements)
        negotiated = self.negotiated
        assert negotiated is not None and isinstance(request, GetMeasurements)
        self._check_blocks(negotiated, request, response)
        if response.requester_context != request.requester_context:
            raise RemoteProtocolError("MEASUREMENTS does not echo the RequesterContext")
        unsigned = response.raw[: len(response.raw) - len(response.signature)]
        self.transcript.add_measurements(request.raw, unsigned)
        evidence = None
        if request.signature_requested:
            assert request.nonce is not None and request.slot_id is not None
            try:
                if response.slot_id != request.slot_id:
                    raise RemoteProtocolError(
                        f"MEASUREMENTS signed with slot {response.slot_id}, "
                        f"slot {request.slot_id} was asked for"
                    )
                evidence = self._evidence(
                    negotiated, MEASUREMENTS_CONTEXT, request.slot_id,
                    self.transcript.l1(negotiated.version), response.signature,
                    request.nonce, response.nonce,
                )
                self._verify(negotiated, self.chains[request.slot_id], evidence)
            finally:
                self.transcript.measurements_done()
        self._events.append(MeasurementsReceived(
            request.operation, response.total_indices, response.blocks,
            response.content_changed, evidence,
        ))

    @staticmethod
    def _check_blocks(negotiated: Negotiated, request: GetMeasurements, response: Measurements) -> None:
        op = request.operation
        blocks = response.blocks
        if op == MeasurementOperation.QUERY_COUNT and blocks:
            raise RemoteProtocolError("MEASUREMENTS carries blocks in answer to a count query")
        if op not in (MeasurementOperation.QUERY_COUNT, MeasurementOperation.ALL) and (
            len(blocks) != 1 or blocks[0].index != op
        ):
            raise RemoteProtocolError(
                f"MEASUREMENTS for index {op} carries indices {[b.index for b in blocks]}"
            )
        indices = [b.index for b in blocks]
        if len(set(indices)) != len(indices):
            raise RemoteProtocolError(f"MEASUREMENTS repeats an index: {indices}")
        size = measurement_hash_size(negotiated.measurement_hash_alg)
        for block in blocks:
            if not block.raw_bit_stream and len(block.value) != size:
                raise RemoteProtocolError(
                    f"measurement {block.index}: a {len(block.value)}-byte digest, "
                    f"the measurement hash makes {size}"
                )

    def _on_vendor_defined(self, request: Message, response: Message) -> None:
        assert isinstance(response, VendorDefinedResponse)
        self._events.append(
            VendorResponseReceived(response.standard_id, response.vendor_id, response.payload)
        )

    # signatures ----------------------------------------------------------------------

    @staticmethod
    def _evidence(
        negotiated: Negotiated, context: str, slot_id: int, transcript: bytes,
        signature: bytes, requester_nonce: bytes, responder_nonce: bytes,
    ) -> SignedEvidence:
        prefix = (
            signing_context_prefix(negotiated.version, context)
            if negotiated.version >= SpdmVersion.V12 else b""
        )
        return SignedEvidence(
            context=context, version=negotiated.version, hash_alg=negotiated.hash_alg,
            asym_alg=negotiated.asym_alg, slot_id=slot_id, transcript=transcript,
            signature=signature, requester_nonce=requester_nonce,
            responder_nonce=responder_nonce, combined_prefix=prefix,
        )

    @staticmethod
    def _verify(negotiated: Negotiated, chain: SpdmCertChain, evidence: SignedEvidence) -> None:
        verify(
            chain.leaf.public_key(), negotiated.asym_alg, negotiated.hash_alg, negotiated.version,
            evidence.context, evidence.transcript, evidence.signature,
        )


_RESPONSE_FOR: dict[int, type[Message]] = {
    RequestCode.GET_VERSION: Version,
    RequestCode.GET_CAPABILITIES: Capabilities,
    RequestCode.NEGOTIATE_ALGORITHMS: Algorithms,
    RequestCode.GET_DIGESTS: Digests,
    RequestCode.GET_CERTIFICATE: Certificate,
    RequestCode.CHALLENGE: ChallengeAuth,
    RequestCode.GET_MEASUREMENTS: Measurements,
    RequestCode.VENDOR_DEFINED_REQUEST: VendorDefinedResponse,
}
"""The response type each request is answered with (RESPOND_IF_READY returns the original's)."""
