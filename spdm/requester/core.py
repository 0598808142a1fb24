"""The requester engine's core: the I/O surface, sending, receiving, errors and retries.

The commands and response handlers live in :mod:`.vca`, :mod:`.auth`,
:mod:`.session` and :mod:`.encap`, one module per message group; this module
knows no message layout, only how a request becomes outstanding, how its
answer is routed (through the :class:`Route` table, ``spdm.requester.ROUTES``)
and how an ERROR ends it.  The state of the multi-message flows lives in
:mod:`.flows`; what needs the requester's own keys in :mod:`.identity`.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from ..backend import IdentityBackend
from ..config import RequesterConfig
from ..crypto import SpdmCertChain
from ..errors import (
    DevsecError,
    LocalProtocolError,
    NegotiationError,
    RemoteProtocolError,
    SpdmErrorCode,
    VerificationError,
)
from ..events import ErrorResponseReceived, Event
from ..messages import (
    REQUESTER_CONTEXT_SIZE,
    RESPONSE_TYPES,
    Capabilities,
    CodecContext,
    ErrorResponse,
    GetCapabilities,
    Message,
    RespondIfReady,
    peek_code,
)
from ..messages.codes import (
    CapabilityFlags,
    RequestCode,
    ResponseCode,
    SpdmVersion,
)
from ..negotiation import CMA_MAX_CT_EXPONENT, MEAS_CAPS, Negotiated
from ..record import record
from ..secured import DOE_RECORDS, RecordFormat, SequenceExhausted, open_record
from ..session import Session, SessionPhase
from ..slot_keys import SlotKey
from ..state import ConnectionState, next_state
from ..transcript import Transcript
from .chunk import ChunkFetch, ChunkSender
from .flows import CertificateRetrieval, EncapsulatedFlow, Handshake, KeyUpdateFlow
from .identity import Identity, LiveIdentity

__all__ = ["MAX_RDT_EXPONENT", "ST1_SECONDS", "RequesterCore", "Route"]

logger = logging.getLogger(__name__)

ST1_SECONDS = 0.1
"""DSP0274 ST1: the time a responder has for a response that needs no crypto."""

MAX_RDT_EXPONENT = CMA_MAX_CT_EXPONENT
"""The largest RDTExponent obeyed: one ResponseNotReady wait lasts at most 2**23 us (8.4 s).

RDT is the time the device says it needs to produce the response; the device
picks the exponent (up to 255, i.e. 2**255 us).  Obeyed as sent it made the
host sleep for days, or overflow the platform's sleep (fuzz finding 11).  No
response may need longer than the slowest thing a CMA device may do, which
CMA bounds as CT <= 2**23 us (:data:`~spdm.negotiation.CMA_MAX_CT_EXPONENT`),
so a larger exponent is waited as 23.  How often the wait repeats is
``RequesterConfig.max_not_ready_polls``; the total time of one request is the
driver's deadline (:data:`spdm.driver.REQUEST_DEADLINE`)."""

_CHUNK_CAP = int(CapabilityFlags.CHUNK_CAP)
_MEAS_CAPS = int(MEAS_CAPS)
# Compared on every request or response, as plain ints: on Python 3.11 an enum class attribute
# is a slow lookup (EnumType defines __getattr__), some five times a dict lookup.
_GET_VERSION = int(RequestCode.GET_VERSION)
_ERROR = int(ResponseCode.ERROR)

_CRYPTO_REQUESTS = frozenset({
    RequestCode.CHALLENGE, RequestCode.KEY_EXCHANGE, RequestCode.FINISH,
    RequestCode.PSK_EXCHANGE, RequestCode.PSK_FINISH,
})
"""Requests a responder may take CT (not ST1) to answer."""


@record(slots=True)
class _Pending:
    """The request in flight and how to decode its response.

    ``resend`` is the plain SPDM message to send again after Busy or
    ResponseNotReady; inside a session it is sealed afresh each time, since a
    record must never be replayed.  ``chunks`` is the chunk transfer (a large
    request going out, a large response coming in) the answer travels in.
    """

    request: Message
    ctx: CodecContext
    session: Session | None = None
    busy_retries: int = 0
    not_ready_polls: int = 0
    resend: bytes = b""
    chunks: ChunkFetch | ChunkSender | None = None


_Req = TypeVar("_Req", bound=Message)
_Rsp = TypeVar("_Rsp", bound=Message)


@record(frozen=True, slots=True)
class Route(Generic[_Req, _Rsp]):
    """How the response to one request is decoded and which handler checks it.

    The handler gets the engine, the request as sent and the decoded
    response; it raises on anything the response breaks, and otherwise
    records what the response means (events, transcripts, the next request
    of its flow).
    """

    response_code: int
    handler: Callable[[Any, _Req, _Rsp], None]

    @property
    def response(self) -> type[Message]:
        """The response's message class (its message group loads with the first such response)."""
        return RESPONSE_TYPES[self.response_code]


class RequesterCore:
    """State and plumbing shared by every requester command."""

    _ROUTES: ClassVar[Mapping[int, Route[Any, Any]]] = {}
    """Request code -> route of its response; the table is :data:`spdm.requester.ROUTES`."""

    def __init__(
        self,
        config: RequesterConfig,
        *,
        rng: Callable[[int], bytes] = os.urandom,
        backend: IdentityBackend | None = None,
        record_format: RecordFormat = DOE_RECORDS,
    ) -> None:
        """Create an engine in the NOT_STARTED state.

        Args:
            config: what to offer and whom to trust.
            rng: source of nonces and contexts (inject a deterministic one in tests).
            backend: the requester's own certificate slots and keys, for mutual
                authentication (None: the requester cannot authenticate itself).
            record_format: the transport binding's secured-record parameters
                (the transport is the caller's, so is this choice).
        """
        self.config = config
        self.record_format = record_format
        self._rng = rng
        self._backend = backend
        self.state = ConnectionState.NOT_STARTED
        self.transcript = Transcript()
        self.version: SpdmVersion | None = None
        self.responder_capabilities: Capabilities | None = None
        self._request_capabilities: GetCapabilities | None = None
        self.negotiated: Negotiated | None = None
        self.digests: dict[int, bytes] = {}
        self.slot_keys: dict[int, SlotKey] = {}
        """Slot -> key pair, model and usage, from a multi-key DIGESTS (1.3)."""
        self.chains: dict[int, SpdmCertChain] = {}
        self._pending: _Pending | None = None
        self.sessions: dict[int, Session] = {}
        self._answered_session: Session | None = None
        """The session of the response being handled (None in the clear)."""
        self._digests_raw = b""
        # The multi-message flows, each with its state table (spdm.state).
        self._cert = CertificateRetrieval()
        self._handshake = Handshake()
        self._encap = EncapsulatedFlow()
        self._key_update = KeyUpdateFlow()
        self._identity: Identity = LiveIdentity(backend, self._random,
                                                finish_opaque=config.finish_opaque_data)
        """Who speaks for the requester: seals, answers, signs (a follower swaps in its own)."""
        self.last_received = b""
        """The last response as an SPDM message (opened when it came sealed), for monitors."""
        self._outbox: deque[tuple[bytes, bool]] = deque()
        self._events: deque[Event] = deque()
        self._timer: float | None = None
        self._poisoned: DevsecError | None = None
        self._chunk_send_handle = 0

    # ------------------------------------------------------------------ I/O surface

    def data_to_send(self) -> bytes:
        """The next request's bytes (b"" when nothing is queued).

        A secured request comes out as a whole DSP0277 record (DOE type 2);
        check :attr:`sending_secured` first to frame it.
        """
        return self._outbox.popleft()[0] if self._outbox else b""

    @property
    def sending_secured(self) -> bool:
        """The next :meth:`data_to_send` is a secured record, not a plain message."""
        return bool(self._outbox) and self._outbox[0][1]

    def next_event(self) -> Event | None:
        """The next event, or None when nothing more happened."""
        return self._events.popleft() if self._events else None

    @property
    def outstanding_code(self) -> int | None:
        """The code of the outstanding request (None when nothing is outstanding)."""
        return None if self._pending is None else self._pending.request.CODE

    @property
    def busy(self) -> bool:
        """A request is outstanding (its response has not been processed)."""
        return self._pending is not None

    def get_timer(self) -> float | None:
        """Seconds to wait before calling :meth:`handle_timer`, or None.

        At most ``RequesterConfig.busy_retry_delay`` after Busy, and at most
        2**:data:`MAX_RDT_EXPONENT` us after ResponseNotReady, whatever the
        device asks.
        """
        return self._timer

    def handle_timer(self) -> None:
        """The wait asked for by :meth:`get_timer` is over: resend or poll."""
        self._check_usable()
        pending = self._pending
        if self._timer is None or pending is None:
            raise LocalProtocolError("no timer is running")
        self._timer = None
        self._queue(pending.resend, pending.session)

    def response_timeout(self) -> float:
        """Seconds the responder may take for the outstanding request.

        ST1 for requests without crypto, CT = 2**CTExponent microseconds (at
        most the CMA limit of 2**23) for those with it.
        """
        pending = self._pending
        if pending is None:
            return 0.0
        code = pending.request.CODE
        # a signed GET_MEASUREMENTS or (1.3) GET_ENDPOINT_INFO: the responder signs, CT applies
        signed = bool(getattr(pending.request, "signature_requested", False))
        if (code in _CRYPTO_REQUESTS or signed) and self.negotiated is not None:
            exponent = min(self.negotiated.responder_ct_exponent, CMA_MAX_CT_EXPONENT)
            return ST1_SECONDS + (1 << exponent) / 1e6
        return ST1_SECONDS

    def receive_data(self, data: bytes, *, secured: bool = False) -> None:
        """Process the response to the outstanding request.

        Args:
            data: one whole SPDM response, or (``secured``) one DSP0277 record;
                DOE zero padding allowed.
            secured: ``data`` came as a secured object (DOE type 2).

        Raises:
            LocalProtocolError: no request is outstanding, or the engine failed earlier.
            RemoteProtocolError: the response breaks the protocol (engine poisoned).
            VerificationError: a digest, chain, signature, verify-data or record
                check failed (engine poisoned; a record failure also ends its session).
        """
        self._check_usable()
        pending = self._pending
        if pending is None:
            raise LocalProtocolError("a response arrived but no request is outstanding")
        if self._timer is not None:
            raise LocalProtocolError("a response arrived while waiting to retry")
        try:
            self.last_received = self._unwrap(pending, bytes(data), secured)
            self._receive(pending, self.last_received)
        except (RemoteProtocolError, VerificationError, NegotiationError) as exc:
            self._poisoned = exc
            self._pending = None
            raise

    def receive_error(self, error_code: int, error_data: int = 0) -> None:
        """The responder answered the outstanding request with an ERROR a carrier reported out of band.

        SPDM ERRORs normally arrive in band, through :meth:`receive_data`; this
        is for a carrier (a relay, a security processor) that reports only the
        code.  It is handled exactly like an in-band ERROR without extended
        data: Busy is retried, anything else ends the request with
        :class:`~spdm.events.ErrorResponseReceived` (a ResponseNotReady needs
        its extended data, so here it ends the request too).  In the middle of
        a chunk transfer it answers the chunk request in flight, as an in-band
        ERROR would (:mod:`.chunk`).

        Raises:
            LocalProtocolError: no request is outstanding, or the engine failed earlier.
            RemoteProtocolError: an ERROR other than Busy to a chunk request
                (engine poisoned).
        """
        self._check_usable()
        pending = self._pending
        if pending is None:
            raise LocalProtocolError("an ERROR arrived but no request is outstanding")
        if self._timer is not None:
            raise LocalProtocolError("an ERROR arrived while waiting to retry")
        error = ErrorResponse(spdm_version=pending.request.spdm_version, error_code=error_code,
                              error_data=error_data)
        if pending.chunks is None:
            self._on_error(pending, error)
            return
        try:  # it answers the chunk request in flight: the chunk transfer judges it
            self._receive(pending, error.encode())
        except RemoteProtocolError as exc:
            self._poisoned = exc
            self._pending = None
            raise

    def _unwrap(self, pending: _Pending, data: bytes, secured: bool) -> bytes:
        """The SPDM message inside a response, opening the record of a session request."""
        session = pending.session
        if session is None:
            if secured:
                raise RemoteProtocolError("a secured record answered a request sent in the clear")
            return data
        if not secured:
            raise RemoteProtocolError(
                f"session 0x{session.session_id:08x}: a response arrived in the clear")
        try:
            return open_record(session.current_keys().response, data,
                               expected_session_id=session.session_id)
        except VerificationError:
            # DSP0277: a record that fails authentication ends the session; nothing in it is used.
            self._drop_session(session)
            raise

    def _established_session(self, session_id: int | None) -> Session | None:
        """The established session ``session_id`` names (None stays None: in the clear)."""
        if session_id is None:
            return None
        session = self.sessions.get(session_id)
        if session is None or session.phase != SessionPhase.ESTABLISHED:
            raise LocalProtocolError(f"no established session 0x{session_id:08x}")
        return session

    def _end_flows(self) -> None:
        """Every multi-message flow is over (an ERROR answered one of its requests)."""
        self._cert.end()
        self._handshake.end()
        self._encap.end()
        self._key_update.end()

    def _drop_session(self, session: Session) -> None:
        session.end()
        self.sessions.pop(session.session_id, None)

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
        if code == _GET_VERSION:
            return SpdmVersion.V10
        assert self.version is not None  # every state past NOT_STARTED has a version
        return self.version

    def _need_negotiated(self, code: RequestCode) -> Negotiated:
        self._begin(code)
        assert self.negotiated is not None
        return self.negotiated

    @staticmethod
    def _need_caps(negotiated: Negotiated, flag: CapabilityFlags, what: str) -> None:
        if not int(negotiated.responder_flags) & int(flag):  # ints: no new Flag member per check
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

    def _send(self, request: Message, *, session: Session | None = None) -> None:
        """Make ``request`` the outstanding one and queue it (sealed when in a session)."""
        ctx = self.response_context(request)
        raw = request.encode(ctx)
        self._check_size(request, raw)
        request = request.with_raw(raw)
        self.transcript.begin(request.CODE, session)
        self._pending = _Pending(request, ctx, session=session, resend=raw)
        first = self._first_request(self._pending)
        try:
            self._queue(first, session)
        except SequenceExhausted:
            # DSP0277: a sequence number must never wrap.  Nothing was sent; the
            # session cannot carry another record, so it ends here (a caller that
            # wants to keep it refreshes keys with KEY_UPDATE before this point).
            self._pending = None
            assert session is not None
            self._drop_session(session)
            raise
        if logger.isEnabledFor(logging.DEBUG):  # asked per request: no call into a log that is off
            logger.debug("-> %s (%d bytes)", type(request).__name__, len(raw))

    def _first_request(self, pending: _Pending) -> bytes:
        """The request itself, or (larger than the responder's DataTransferSize) its first CHUNK_SEND.

        Sending it again (after Busy) starts a new CHUNK_SEND transfer with the next handle.
        """
        raw = pending.request.raw
        negotiated = self.negotiated
        limit = negotiated.responder_data_transfer_size if negotiated is not None else 0
        if not (limit and len(raw) > limit and self._chunking()):
            return raw
        assert negotiated is not None  # limit says so
        pending.chunks = ChunkSender(pending.request.spdm_version, self._chunk_send_handle, raw, limit,
                                     receive_limit=negotiated.requester_data_transfer_size)
        self._chunk_send_handle = (self._chunk_send_handle + 1) & 0xFF
        return pending.chunks.next_request()

    def _check_size(self, request: Message, raw: bytes) -> None:
        """A request must fit what the responder said it takes (1.2+, its CAPABILITIES sizes).

        Over DataTransferSize it can only go by CHUNK_SEND, which needs CHUNK_CAP on both
        sides, and then at most MaxSPDMmsgSize whole (DSP0274 1.2 §10.4 / CHUNK_SEND).  A
        device that cannot take it would drop or truncate it (a real DOE mailbox has no
        room past its buffer), so it is refused here before anything changes.

        Raises:
            LocalProtocolError: the request is too large for the responder.
        """
        negotiated = self.negotiated
        if negotiated is None or not negotiated.responder_data_transfer_size:
            return
        limit = negotiated.responder_data_transfer_size
        name = type(request).__name__
        if len(raw) > limit and not self._chunking():
            raise LocalProtocolError(
                f"a {len(raw)}-byte {name} exceeds the responder's DataTransferSize {limit} "
                "and CHUNK_CAP is not set on both sides")
        largest = negotiated.responder_max_spdm_msg_size
        if largest and len(raw) > largest:
            raise LocalProtocolError(
                f"a {len(raw)}-byte {name} exceeds the responder's MaxSPDMmsgSize {largest}")

    def _chunking(self) -> bool:
        """Both sides set CHUNK_CAP at 1.2+: large messages go in chunks (:mod:`.chunk`)."""
        negotiated = self.negotiated
        # plain ints: Flag's & builds a new enum member per operation (asked on every request)
        return (negotiated is not None and negotiated.version >= SpdmVersion.V12 and bool(
            int(negotiated.requester_flags) & int(negotiated.responder_flags) & _CHUNK_CAP))

    def _queue(self, message: bytes, session: Session | None) -> None:
        if session is None:
            self._outbox.append((message, False))
        else:
            self._outbox.append(self._identity.seal(session, message))

    def response_context(self, request: Message | None) -> CodecContext:
        """How the response to ``request`` must be decoded on this connection."""
        negotiated = self.negotiated
        if negotiated is None:
            return CodecContext()
        # CHALLENGE, KEY_EXCHANGE and PSK_EXCHANGE ask for a summary hash the same way;
        # a responder without MEAS_CAP omits it whatever was asked.
        summary = bool(getattr(request, "measurement_summary_hash_type", 0)
                       and int(negotiated.responder_flags) & _MEAS_CAPS)
        # GET_MEASUREMENTS and GET_ENDPOINT_INFO (1.3) say so in their attributes
        signed = bool(getattr(request, "signature_requested", False))
        return negotiated.codec(measurement_summary=summary, signed=signed)

    # ------------------------------------------------------------------ internals: receiving

    def _receive(self, pending: _Pending, data: bytes) -> None:
        if pending.chunks is not None:
            if self._chunk_busy(pending, pending.chunks, data):
                return
            whole = pending.chunks.take(data)
            if whole is None:
                self._queue(pending.chunks.next_request(), pending.session)
                return
            pending.chunks = None
            data = self.last_received = whole
        version, code = peek_code(data)
        request = pending.request
        expected = request.CODE & 0x7F
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("<- code 0x%02x (%d bytes) for %s", code, len(data), type(request).__name__)
        if code == _ERROR:
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
        route = self._ROUTES[request.CODE]
        response = route.response.decode(data, pending.ctx, padded=True)
        self._pending = None
        self._answered_session = pending.session
        route.handler(self, request, response)
        new_state = next_state(self.state, request.CODE)
        assert new_state is not None  # _begin checked the request was legal
        self.state = new_state

    def _chunk_busy(self, pending: _Pending, chunks: ChunkFetch | ChunkSender, data: bytes) -> bool:
        """ERROR Busy in the middle of a chunk transfer: the same chunk request again after the delay.

        Decided: Busy is transient whatever the request (DSP0274 §10.12), so a
        CHUNK_GET or CHUNK_SEND answered Busy is retried like any request,
        within the same ``busy_retries``; ResponseNotReady is for requests the
        responder needs time to compute and no chunk is one, so it ends the
        transfer (:mod:`.chunk` refuses any other ERROR).
        """
        if len(data) < 3 or data[1] != ResponseCode.ERROR or data[2] != SpdmErrorCode.BUSY \
                or pending.busy_retries >= self.config.busy_retries:
            return False
        pending.busy_retries += 1
        pending.resend = chunks.next_request()
        self._timer = self.config.busy_retry_delay
        logger.debug("Busy: retry %d of a chunk request", pending.busy_retries)
        return True

    def _on_error(self, pending: _Pending, error: ErrorResponse) -> None:
        request = pending.request
        code = error.error_code
        if error.large_response_handle is not None and self._chunking():
            assert self.negotiated is not None  # _chunking() says so
            pending.chunks = ChunkFetch(request.spdm_version, error.large_response_handle,
                                        self.negotiated.requester_max_spdm_msg_size,
                                        receive_limit=self.negotiated.requester_data_transfer_size)
            self._queue(pending.chunks.next_request(), pending.session)
            return
        if code == SpdmErrorCode.BUSY and pending.busy_retries < self.config.busy_retries:
            pending.busy_retries += 1
            pending.resend = self._first_request(pending)
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
            self._timer = min(not_ready.wait_us, 1 << MAX_RDT_EXPONENT) / 1e6
            return
        # The request is over, and so is any flow it belonged to; transcripts
        # follow the reference's reset-on-error rules.
        self._pending = None
        self._end_flows()
        self.transcript.failed(request.CODE, pending.session)
        if request.CODE == RequestCode.GET_VERSION or self.state != ConnectionState.NEGOTIATED:
            # VCA cannot go on after an error: the caller must start over.
            self.state = ConnectionState.NOT_STARTED
        self._events.append(
            ErrorResponseReceived(request.CODE, code, error.error_data, error.extended_data)
        )
