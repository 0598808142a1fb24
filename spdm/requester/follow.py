"""Following a conversation someone else holds: the requester engine wrapped as a passive monitor.

``devsec dump`` (and the vector tests) run a :class:`Follower` over a captured
conversation.  It wraps an ordinary :class:`~spdm.requester.Requester`: the
requests are the capture's, adopted here instead of being generated; the
response checks, transcripts, keys and signatures are the engine's own.  So
whatever a follower verifies, a live requester would verify the same way.

The engine does not know it is being followed.  The follower plugs in a
:class:`CapturedIdentity` that produces nothing the real requester produced
(records, encapsulated answers, FINISH signatures, verify data): the engine
then leaves those requests to be adopted, and the follower checks the
captured ones -- a FINISH's signature and verify data, a PSK_FINISH's verify
data, an encapsulated CHALLENGE_AUTH's signature -- the way a responder would.

Everything the followed requester chose comes from the capture, never from
devsec's own preferences: the version is the one its GET_CAPABILITIES carries
(it must be one the responder's VERSION listed), the capabilities are its
GET_CAPABILITIES flags, and ALGORITHMS is checked against exactly what its
NEGOTIATE_ALGORITHMS offered (hash, asym, req-asym, DHE, AEAD, key schedule,
opaque data formats).  The measurement specification, other parameters and
measurement hash are the responder's selections, which the engine checks as
a live requester would.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from enum import IntFlag
from typing import TypeVar

from ..config import ALL_VERSIONS, RequesterConfig
from ..crypto import parse_spdm_cert_chain, signature_size, verify
from ..errors import LocalProtocolError, NegotiationError, RemoteProtocolError, VerificationError
from ..events import Event, VersionNegotiated
from ..messages import (
    REQUEST_TYPES,
    Challenge,
    ChallengeAuth,
    ChunkGet,
    ChunkSend,
    CodecContext,
    DeliverEncapsulatedResponse,
    Finish,
    GetCapabilities,
    GetCertificate,
    GetMeasurements,
    GetVersion,
    KeyExchange,
    KeyUpdate,
    Message,
    NegotiateAlgorithms,
    PskFinish,
    peek_code,
)
from ..messages.codes import (
    AeadSuite,
    AlgType,
    BaseAsymAlgo,
    BaseHashAlgo,
    DheGroup,
    KemAlgo,
    KeyScheduleAlgo,
    OpaqueDataFormat,
    PqcAsymAlgo,
    RequestCode,
    ResponseCode,
    SpdmVersion,
)
from ..negotiation import AlgorithmPreferences, Negotiated
from ..secured import DOE_RECORDS, RecordFormat, open_record, record_session_id
from ..session import FINISH_CONTEXT, Session, SessionPhase
from ..state import HandshakeState, KeyUpdateOperation
from . import ROUTES, Requester
from .core import _Pending
from .flows import KnownSecret
from .follow_chunks import ChunkedRequest
from .identity import REQUESTER_CHALLENGE_CONTEXT

__all__ = ["CapturedIdentity", "Follower", "offered_preferences"]

_FlagT = TypeVar("_FlagT", bound=IntFlag)
_OPAQUE_FORMATS = 0x0F
"""OtherParamsSupport b3:0, the opaque data formats (b4 is MULTI_KEY_CONN)."""


def _bits(kind: type[_FlagT], mask: int) -> tuple[_FlagT, ...]:
    return tuple(kind(1 << bit) for bit in range(mask.bit_length()) if mask >> bit & 1)


def offered_preferences(request: NegotiateAlgorithms) -> AlgorithmPreferences:
    """What a captured NEGOTIATE_ALGORITHMS offered, as the preferences ALGORITHMS is checked against.

    Bits devsec has no name for are kept: a selection of one of them was
    offered, and what cannot be computed with fails later, where it is used.
    """
    return AlgorithmPreferences(
        hash_algs=_bits(BaseHashAlgo, request.base_hash_algo),
        asym_algs=_bits(BaseAsymAlgo, request.base_asym_algo),
        dhe_groups=_bits(DheGroup, request.alg_supported(AlgType.DHE)),
        aead_suites=_bits(AeadSuite, request.alg_supported(AlgType.AEAD)),
        req_asym_algs=_bits(BaseAsymAlgo, request.alg_supported(AlgType.REQ_BASE_ASYM_ALG)),
        key_schedules=_bits(KeyScheduleAlgo, request.alg_supported(AlgType.KEY_SCHEDULE)),
        opaque_formats=_bits(OpaqueDataFormat, request.other_params_support & _OPAQUE_FORMATS),
        pqc_asym_algs=_bits(PqcAsymAlgo, request.pqc_asym_algo),
        req_pqc_asym_algs=_bits(PqcAsymAlgo, request.alg_supported(AlgType.REQ_PQC_ASYM_ALG)),
        kem_algs=_bits(KemAlgo, request.alg_supported(AlgType.KEM)),
    )


class CapturedIdentity:
    """The requester's part comes from the capture: this identity produces none of it."""

    @property
    def can_authenticate(self) -> bool:
        """Whether the requester authenticated itself is for the capture to show."""
        return True

    def seal(self, session: Session, message: bytes) -> tuple[bytes, bool]:
        """Nothing is sealed: the capture's records were sealed by the real requester."""
        del session
        return message, False

    def answer_encapsulated(self, negotiated: Negotiated, inner: bytes, *, in_session: bool,
                            m2_prefix: bytes) -> bytes:
        """No answer: the captured DELIVER carries the real one."""
        del negotiated, inner, in_session, m2_prefix
        return b""

    def requester_chain(self, slot_id: int, hash_alg: BaseHashAlgo) -> bytes | None:
        """Only a delivered chain is known."""
        del slot_id, hash_alg
        return None

    def sign(self, negotiated: Negotiated, slot_id: int, context: str, transcript: bytes) -> None:
        """No signature: the captured FINISH brings it."""
        del negotiated, slot_id, context, transcript

    def verify_data(self, session: Session) -> None:
        """No verify data: the captured FINISH/PSK_FINISH brings it."""
        del session

    def finish_opaque(self, negotiated: Negotiated) -> None:
        """No FINISH: the captured one is adopted, its header and (1.4) opaque data enter TH."""
        del negotiated


class Follower:
    """A requester engine that follows a conversation someone else holds.

    Args:
        config: the followed requester's configuration (trust anchors, or
            DEFER_TRUST to report chains without judging them).
        record_format: the secured-record parameters of the capture's
            transport binding (PCI DOE's by default).
    """

    def __init__(self, config: RequesterConfig, *, record_format: RecordFormat = DOE_RECORDS) -> None:
        # The followed requester chose the version, so every version devsec speaks is allowed
        # (the default requester's offer stops at 1.3; a capture may be 1.4).
        self.engine = Requester(replace(config, versions=ALL_VERSIONS), record_format=record_format)
        self.engine._identity = CapturedIdentity()
        self._listed_versions: tuple[int, ...] = ()
        """The versions the followed responder's VERSION listed."""
        self._chunked: ChunkedRequest | None = None
        """The large request whose CHUNK_SENDs are being followed."""

    # ------------------------------------------------------------------ the engine's surface

    @property
    def busy(self) -> bool:
        """A captured request (or CHUNK_SEND) awaits its response."""
        return self.engine.busy or (self._chunked is not None and self._chunked.ack_due)

    @property
    def outstanding_code(self) -> int | None:
        """The code of the request awaiting its response (None: none)."""
        return self.engine.outstanding_code

    @property
    def last_received(self) -> bytes:
        """The last response as an SPDM message (opened when it came sealed)."""
        return self.engine.last_received

    def response_context(self, request: Message | None) -> CodecContext:
        """How the response to ``request`` decodes on this connection."""
        return self.engine.response_context(request)

    def receive_data(self, data: bytes, *, secured: bool = False) -> None:
        """The captured response to the adopted request (see :meth:`Requester.receive_data`).

        After SET_CERTIFICATE the followed requester still holds the chain it
        retrieved for that slot (a live devsec requester forgets it and reads
        the slot again): the reference responder keeps signing with the chain it
        booted with until it restarts, and the reference requester goes on to
        KEY_EXCHANGE with the slot it just wrote (``spdm13-p384-csr-setcert``).
        """
        code = self.engine.outstanding_code
        retrieved = dict(self.engine.chains) if code == RequestCode.SET_CERTIFICATE else {}
        if self._chunked is not None and self._chunked.ack_due:
            self._receive_chunk_ack(data, secured)
        else:
            self.engine.receive_data(data, secured=secured)
        for slot, chain in retrieved.items():
            self.engine.chains.setdefault(slot, chain)
        if code == RequestCode.GET_VERSION:
            for event in self.engine._events:
                if isinstance(event, VersionNegotiated):
                    self._listed_versions = event.responder_versions

    def next_event(self) -> Event | None:
        """The next event of the followed conversation, or None."""
        return self.engine.next_event()

    # ------------------------------------------------------------------ following

    def skip(self, request_code: int) -> None:
        """Note a request this engine does not follow passing by.

        Its transcript resets still apply, so the following signatures verify
        (e.g. the encapsulated mutual-auth requests between CHALLENGE and
        GET_MEASUREMENTS in a captured 1.3 conversation).

        Raises:
            LocalProtocolError: a request is outstanding, or the engine failed earlier.
        """
        engine = self.engine
        engine._check_usable()
        if engine._pending is not None:
            raise LocalProtocolError(f"request 0x{request_code:02x} passed while another is outstanding")
        engine.transcript.begin(request_code)

    def adopt(
        self, request: bytes, *, now: datetime, secured: bool = False, secret: bytes | None = None
    ) -> Message:
        """Make a request someone else sent the outstanding one.

        A follow-up the engine queued itself (the next certificate portion, a
        DELIVER_ENCAPSULATED_RESPONSE, VerifyNewKey) is replaced by the
        captured one; a captured FINISH or PSK_FINISH must carry exactly the
        signature and verify data our transcript gives.

        Args:
            request: the captured request, or (``secured``) its DSP0277 record.
            now: the time certificate validity is checked against.
            secured: ``request`` is a record of one of the followed sessions.
            secret: for KEY_EXCHANGE the DHE shared secret, for PSK_EXCHANGE the
                PSK (from the capture's secrets file).

        Returns:
            The decoded request.

        Raises:
            DecodeError: the request does not decode.
            VerificationError: a record does not open, or a captured signature
                or verify data does not verify against the transcript.
            LocalProtocolError: it is not legal now, not followable, or a
                session request comes without its secret.
        """
        engine = self.engine
        engine._check_usable()
        session = None
        if secured:
            session = engine.sessions.get(record_session_id(request))
            if session is None:
                raise LocalProtocolError("a record of a session that is not being followed")
            request = open_record(session.current_keys().request, request,
                                  expected_session_id=session.session_id)
        if engine.get_timer() is not None:
            return self._adopt_retry(request, session)
        _, code = peek_code(request)
        pending = engine._pending
        if code == RequestCode.CHUNK_SEND and (pending is None or pending.chunks is None):
            return self._adopt_chunk_send(request, session, now)
        return self._adopt_whole(request, session, now, secret)

    def _adopt_whole(self, request: bytes, session: Session | None, now: datetime,
                     secret: bytes | None) -> Message:
        """:meth:`adopt` for a request in one message (opened, when it came in a record)."""
        engine = self.engine
        _, code = peek_code(request)
        pending = engine._pending
        if pending is not None and pending.chunks is not None and pending.session is session:
            return self._adopt_chunk(request)
        request_type = REQUEST_TYPES.get(code)
        if request_type is None or code not in ROUTES:
            raise LocalProtocolError(f"request 0x{code:02x} cannot be followed")
        message = request_type.decode(request, engine.response_context(None), padded=True)
        if pending is not None and pending.request.CODE == code and pending.session is session:
            # The engine queued this follow-up itself; the captured bytes are what was sent.
            engine._outbox.clear()
            if isinstance(message, DeliverEncapsulatedResponse):
                self._check_challenge_auth(message.encapsulated_response)
            pending.request = message
            return message
        engine._begin(RequestCode(code))
        self._apply(message, session, now, secret)
        engine.transcript.begin(code, session)
        engine._pending = _Pending(message, engine.response_context(message), session=session,
                                   resend=message.raw)
        return message

    def _adopt_chunk_send(self, request: bytes, session: Session | None, now: datetime) -> Message:
        """A CHUNK_SEND of a large request the followed requester chunked (:mod:`.follow_chunks`).

        Raises:
            DecodeError: it does not decode.
            LocalProtocolError: it does not continue the transfer in flight.
        """
        if self.engine._pending is not None:
            raise LocalProtocolError("CHUNK_SEND while another request is outstanding")
        chunk = ChunkSend.decode(request, padded=True)
        if self._chunked is None:
            self._chunked = ChunkedRequest.first(chunk, session)
        whole = self._chunked.add(chunk, session)
        if whole is not None:
            self._adopt_whole(whole, session, now, None)
        return chunk

    def _receive_chunk_ack(self, data: bytes, secured: bool) -> None:
        """The CHUNK_SEND_ACK to the chunk just adopted; the last one's response is the request's.

        Raises:
            RemoteProtocolError: a record in the clear for a session transfer (or
                the reverse), or an ACK that does not fit (see :class:`ChunkedRequest`).
            VerificationError: its record does not open.
        """
        chunked = self._chunked
        assert chunked is not None and chunked.sent is not None
        session = chunked.session
        if secured != (session is not None):
            raise RemoteProtocolError("CHUNK_SEND_ACK outside the session its CHUNK_SEND came in")
        engine = self.engine
        if session is not None:
            data = open_record(session.current_keys().response, data, expected_session_id=session.session_id)
        engine.last_received = data
        ack = chunked.check_ack(data)
        if not chunked.sent.last:
            return
        self._chunked = None
        pending = engine._pending
        assert pending is not None
        try:  # as Requester.receive_data does with a response it opened itself
            engine._receive(pending, ack.response)
        except (RemoteProtocolError, VerificationError, NegotiationError) as exc:
            engine._poisoned = exc
            engine._pending = None
            raise

    def _adopt_chunk(self, request: bytes) -> Message:
        """A CHUNK_GET / CHUNK_SEND of the transfer in flight: it must be the very one the engine queued.

        Raises:
            LocalProtocolError: the captured chunk request differs from ours.
        """
        engine = self.engine
        pending = engine._pending
        assert pending is not None and pending.chunks is not None
        ours = pending.chunks.next_request()
        kind = ChunkGet if request[1] == RequestCode.CHUNK_GET else ChunkSend
        message = kind.decode(request, padded=True)
        if message.raw != ours:
            raise LocalProtocolError(
                f"captured chunk request {message.raw[:8].hex()} differs from ours {ours[:8].hex()}")
        engine._outbox.clear()
        return message

    def _adopt_retry(self, request: bytes, session: Session | None) -> Message:
        """The retry the engine is waiting to send: RESPOND_IF_READY after ResponseNotReady,
        the same request again after Busy.

        The response to it is the outstanding request's, checked against the
        transcript that request began -- as for a live requester, whose retry
        the engine queues when its timer runs out.

        Raises:
            DecodeError: the request does not decode.
            LocalProtocolError: it is not exactly that retry, or comes in another
                session (or in the clear for a session request).
        """
        engine = self.engine
        pending = engine._pending
        assert pending is not None  # the engine runs a timer only while a request is outstanding
        _, code = peek_code(request)
        request_type = REQUEST_TYPES.get(code)
        message = None if request_type is None else request_type.decode(
            request, engine.response_context(None), padded=True)
        if message is None or message.raw != pending.resend or pending.session is not session:
            raise LocalProtocolError(
                f"request 0x{code:02x} is not the retry of the outstanding "
                f"{type(pending.request).__name__} the responder asked for")
        engine.handle_timer()
        engine._outbox.clear()
        return message

    def _apply(self, message: Message, session: Session | None, now: datetime,
               secret: bytes | None) -> None:
        """What the command that would have sent ``message`` does to the engine's flows."""
        engine = self.engine
        self._check_signer_known(message)
        if isinstance(message, GetVersion):
            engine._forget_connection()  # as get_version() does
            self._listed_versions = ()
        elif isinstance(message, GetCapabilities):
            # The followed requester chose the version (not devsec's preference).
            if message.spdm_version not in self._listed_versions:
                raise LocalProtocolError(
                    f"GET_CAPABILITIES at SPDM {message.spdm_version:#04x}, a version the "
                    f"responder's VERSION did not list")
            engine.version = SpdmVersion(message.spdm_version)
            engine._request_capabilities = message
        elif isinstance(message, NegotiateAlgorithms):
            engine.config = replace(engine.config, algorithms=offered_preferences(message))
        elif isinstance(message, GetCertificate):
            engine._cert.start(message.slot_id, now)
            engine._cert.machine.advance(RequestCode.GET_CERTIFICATE)
        elif message.CODE in (RequestCode.KEY_EXCHANGE, RequestCode.PSK_EXCHANGE):
            if secret is None:
                raise LocalProtocolError(f"{type(message).__name__}: no secret to follow the session with")
            engine._handshake.machine.advance(message.CODE)
            if message.CODE == RequestCode.KEY_EXCHANGE:
                engine._handshake.dhe = KnownSecret(secret)
            else:
                engine._handshake.psk = secret
        elif isinstance(message, Finish):
            self._check_finish(message)
        elif isinstance(message, PskFinish):
            handshake = self._handshake_at(HandshakeState.PSK_FINISHING, "PSK_FINISH")
            # TH gains PSK_FINISH as sent: its header and (1.4) opaque data, then the verify data.
            handshake.add_th(message.raw[: len(message.raw) - len(message.requester_verify_data)])
            handshake.check_request_verify_data(message.requester_verify_data, what="captured PSK_FINISH")
        elif isinstance(message, KeyUpdate) and session is not None:
            operation = message.key_operation
            if operation in (KeyUpdateOperation.UPDATE_KEY, KeyUpdateOperation.UPDATE_ALL_KEYS):
                # As key_update() does after sending: the response comes under the new keys.
                engine._key_update.machine.advance(operation)
                session.current_keys().update(both=operation == KeyUpdateOperation.UPDATE_ALL_KEYS)
        elif (message.CODE == RequestCode.GET_ENCAPSULATED_REQUEST and session is not None
              and session.phase == SessionPhase.ESTABLISHED):
            engine._encap.start(session, 0)  # as poll_encapsulated() does
            engine._encap.machine.advance(RequestCode.GET_ENCAPSULATED_REQUEST)

    def _check_signer_known(self, message: Message) -> None:
        """A request whose answer is signed needs the signing slot's chain, as the live commands do.

        A capture may name a slot whose chain it never retrieved (the real
        requester had it from an earlier connection, or the capture was cut):
        nothing in it can then be verified, and following stops here.

        Raises:
            LocalProtocolError: the capture has not shown the slot's chain.
        """
        slot: int | None = None
        if isinstance(message, Challenge | KeyExchange):
            slot = message.slot_id
        elif isinstance(message, GetMeasurements) and message.signature_requested:
            slot = message.slot_id if message.slot_id is not None else 0  # 1.0: slot 0
        if slot is not None and slot not in self.engine.chains:
            raise LocalProtocolError(
                f"{type(message).__name__} names slot {slot}, whose certificate chain the capture "
                f"does not show: its signature cannot be checked")

    def _handshake_at(self, state: HandshakeState, what: str) -> Session:
        handshake = self.engine._handshake
        if handshake.machine.state is not state or handshake.session is None:
            raise LocalProtocolError(f"{what} outside the handshake that expects it")
        return handshake.session

    def _check_finish(self, finish: Finish) -> None:
        """A captured FINISH: its signature (mutual authentication), then its verify data.

        As a responder checks it: TH gains the FINISH as sent -- its header and
        (1.4) opaque data, with mutual authentication after [D_encap] and
        Hash(CM) -- before the signature and the verify data are checked over it.

        Raises:
            VerificationError: the signature or the verify data does not verify.
        """
        engine = self.engine
        session = self._handshake_at(HandshakeState.FINISHING, "FINISH")
        negotiated = engine.negotiated
        assert negotiated is not None
        raw, verify_data = finish.raw, finish.requester_verify_data
        if session.mut_auth:
            if finish.signature is None:
                raise LocalProtocolError("captured FINISH carries no signature, mutual auth was asked")
            chain_raw = engine._requester_chain(negotiated)
            chain = parse_spdm_cert_chain(chain_raw, negotiated.hash_alg)
            header = raw[: len(raw) - len(finish.signature) - len(verify_data)]
            signed = session.add_requester_identity(
                engine._encap.delivered_digests if negotiated.multi_key_req else b"", chain_raw, header)
            verify(chain.leaf.public_key(), negotiated.req_signing_alg, negotiated.hash_alg,
                   negotiated.version, FINISH_CONTEXT, signed, finish.signature)
            session.add_th(finish.signature)
        else:
            session.add_th(raw[: len(raw) - len(verify_data)])
        session.check_request_verify_data(verify_data, what="captured FINISH")

    def _check_challenge_auth(self, answer: bytes) -> None:
        """A delivered CHALLENGE_AUTH (basic mutual auth) must verify over M2 with the delivered chain.

        Raises:
            VerificationError: the signature does not verify.
        """
        if len(answer) < 2 or answer[1] != ResponseCode.CHALLENGE_AUTH:
            return
        engine = self.engine
        negotiated = engine.negotiated
        assert negotiated is not None
        size = signature_size(negotiated.req_signing_alg)
        response = ChallengeAuth.decode(answer, replace(negotiated.codec(), signature_size=size),
                                        padded=True)
        chain = parse_spdm_cert_chain(bytes(engine._encap.delivered_chain), negotiated.hash_alg)
        unsigned = response.raw[: len(response.raw) - size]
        transcript = engine._m2_prefix(negotiated) + engine._encap.inner + unsigned
        verify(chain.leaf.public_key(), negotiated.req_signing_alg, negotiated.hash_alg,
               negotiated.version, REQUESTER_CHALLENGE_CONTEXT, transcript, response.signature)
