"""The SPDM responder engine (sans-IO): the device side of VCA, authentication and measurements.

Feed one whole request to :meth:`Responder.receive_data` (or call
:meth:`Responder.handle`, which a DOE endpoint handler does); exactly one
response is queued for :meth:`Responder.data_to_send` and one
:class:`~spdm.events.RequestAnswered` event for :meth:`Responder.next_event`.

No input makes the engine raise.  Every malformed, truncated, out-of-order or
unsupported request is answered with an SPDM ERROR carrying the code the spec
requires, and an ERROR never changes the connection state.  Handlers
(:mod:`.vca`, :mod:`.auth`, :mod:`.measurements`) raise typed protocol errors;
``Responder._answer`` is the one place that turns them into ERROR responses.
Any other exception escaping is a bug.

ResponseNotReady is emulated on request (``ResponderConfig.not_ready_requests``):
the response is computed, held back, and released by a RESPOND_IF_READY on
the channel (the clear, or the same session) its request came on.

A request larger than our DataTransferSize that does not come by CHUNK_SEND
is RequestTooLarge before any other check, once 1.2+ CAPABILITIES announced
that size (:func:`.chunk.check_request_size`).  Otherwise the order of the
checks follows libspdm's responder: an unknown or
unsupported code is UnsupportedRequest, a known one that is illegal in the
current state (:mod:`spdm.state`) UnexpectedRequest, one that only exists
inside a session but came in the clear SessionRequired (UnexpectedRequest
before SPDM 1.2), a header version other
than the negotiated one VersionMismatch, and bytes that do not decode
InvalidRequest.  Secure sessions live in :mod:`.session` (mutual
authentication in :mod:`.encap`); records arrive through
:meth:`Responder.handle_secured`.  The table of implemented requests is
:mod:`.routes`.  Chunking (CHUNK_GET, CHUNK_SEND) is in :mod:`.chunk`; endpoint
info, the MEL and key-pair info in :mod:`.endpoint` (with a backend that has
them); CSR/SET_CERTIFICATE in :mod:`.provision` (with a backend that can be
provisioned, :class:`spdm.provisioning.ProvisioningBackend`).  Events are not
implemented and are answered UnsupportedRequest.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import field
from datetime import datetime
from typing import Any

from ..backend import ResponderBackend
from ..config import ResponderConfig
from ..crypto import hash_size, measurement_hash_size
from ..errors import (
    ConfigurationError,
    DecodeError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    SpdmErrorCode,
    VerificationError,
)
from ..events import Event, RequestAnswered
from ..messages import (
    NO_CONTEXT,
    ErrorResponse,
    RespondIfReady,
)
from ..messages.codes import CapabilityFlags, RequestCode, ResponseCode, SpdmVersion
from ..negotiation import MEAS_CAPS, Negotiated
from ..record import record
from ..secured import open_record, record_session_id, seal
from ..session import Session, SessionPhase
from ..state import ConnectionState, next_state
from ..transcript import Transcript
from . import chunk as chunking
from . import event
from ._connection import (
    Connection,
    VendorHandler,
    invalid_request,
    unsupported_request,
)
from .routes import CLEAR, HANDSHAKE, ROUTES, SECURED, Route

logger = logging.getLogger(__name__)

SessionFilter = Callable[[int, bytes, bytes], bytes]
"""(SessionID, request plaintext, response plaintext) -> the response to seal."""

_HANDSHAKE_REQUESTS = frozenset({
    RequestCode.FINISH, RequestCode.PSK_FINISH,
    RequestCode.GET_ENCAPSULATED_REQUEST, RequestCode.DELIVER_ENCAPSULATED_RESPONSE,
})
"""What may travel inside a session before its FINISH."""

RDTM = 1
"""ResponseNotReady RDTM: wait at most 1 x 2**RDTExponent us (the response is already ready)."""

# Compared on every request, as plain ints: on Python 3.11 an enum class attribute is a slow
# lookup (EnumType defines __getattr__), some five times a dict lookup.
_GET_VERSION = int(RequestCode.GET_VERSION)
_GET_CAPABILITIES = int(RequestCode.GET_CAPABILITIES)
_RESPOND_IF_READY = int(RequestCode.RESPOND_IF_READY)
_ERROR = int(ResponseCode.ERROR)
_VERSION_10 = (int(SpdmVersion.V10),)




@record(frozen=True)
class _Pending:
    """A response computed but held back behind ResponseNotReady.

    ``session`` is the session the request came in (None: in the clear); only a
    RESPOND_IF_READY on that very session gets the response.
    """

    request_code: int
    token: int
    response: bytes = field(repr=False)
    session: Session | None = field(repr=False)


def _check_config(config: ResponderConfig) -> None:
    prefs = config.algorithms
    for hash_alg in prefs.hash_algs:
        hash_size(hash_alg)
    for measurement_hash in prefs.measurement_hash_algs:
        measurement_hash_size(measurement_hash)
    if int(config.capabilities) & int(MEAS_CAPS) and not prefs.measurement_hash_algs:
        raise ConfigurationError("MEAS_CAP is advertised but no measurement hash is preferred")


def _code_name(code: int) -> str:
    try:
        return RequestCode(code).name
    except ValueError:
        return f"0x{code:02x}"


class Responder:
    """One SPDM connection, device side.

    Args:
        config: what the device supports and prefers.
        backend: the device's certificates, keys and measurements.
        rng: source of nonces (inject a deterministic one in tests).
        now: the caller's clock, for checking a requester's certificates
            (needed with ``config.mutual_auth``).

    Raises:
        ConfigurationError: the preferences name a hash devsec cannot compute,
            or the device measures without a measurement hash to offer; caught
            here so that no request can run into it later.
    """

    def __init__(
        self,
        config: ResponderConfig,
        backend: ResponderBackend,
        *,
        rng: Callable[[int], bytes] = os.urandom,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        _check_config(config)
        if config.mutual_auth and (now is None or not config.requester_trust_anchors):
            raise ConfigurationError(
                "mutual authentication needs requester trust anchors and a clock to check them at")
        self.config = config
        self._conn = Connection(config=config, backend=backend, rng=rng, now=now)
        self._conn.chunks = chunking.ChunkContext(
            answer=lambda request: self._answer(request, reassembled=True)[0])
        self._outbound: deque[bytes] = deque()
        self._events: deque[Event] = deque()
        self._pending: _Pending | None = None
        self._not_ready_done: set[int] = set()
        self._next_token = 0
        self._session_filters: list[SessionFilter] = []

    # --- public surface -------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """Where VCA stands."""
        return self._conn.state

    @property
    def negotiated(self) -> Negotiated | None:
        """What NEGOTIATE_ALGORITHMS settled, or None before."""
        return self._conn.negotiated

    @property
    def transcript(self) -> Transcript:
        """The connection's transcripts (read them; do not modify them)."""
        return self._conn.transcript

    def register_vendor_handler(
        self, standard_id: int, vendor_id: bytes, handler: VendorHandler
    ) -> None:
        """Serve a vendor-defined protocol (IDE_KM, TDISP...) over VENDOR_DEFINED_REQUEST.

        Args:
            standard_id: the registry ID (3 = PCI-SIG).
            vendor_id: the VendorID bytes as on the wire (``b"\\x01\\x00"`` for PCI-SIG).
            handler: (request payload, the SessionID it came in or None) ->
                response payload.  It may raise a :class:`ProtocolError`; the
                requester then gets ERROR with its code.
        """
        self._conn.vendor_handlers[(standard_id, bytes(vendor_id))] = handler

    def register_session_listener(self, listener: Callable[[int], None]) -> None:
        """Be told the SessionID of every session that ends (END_SESSION, a failed
        record, GET_VERSION): vendor protocols bound to a session (IDE_KM streams,
        locked TDISP interfaces) must react to that."""
        self._conn.session_listeners.append(listener)

    def register_session_filter(self, session_filter: SessionFilter) -> None:
        """See every in-session request and its response in plaintext, before sealing.

        ``session_filter(session_id, request, response)`` returns the response
        to seal (``response`` itself to only observe).  Requester conformance
        records what a host sends inside a session this way and, in its
        adversarial cases, breaks a sealed response (a wrong FINISH_RSP verify
        data, a wrong KEY_UPDATE_ACK tag) on the device side: the session keys
        never leave the engine, and nothing here logs the plaintext.  Filters
        run in registration order, each on the previous one's result.
        """
        self._session_filters.append(session_filter)

    def request_key_update(self, session_id: int) -> None:
        """Renew this device's sending key in a session, at the requester's next
        in-session GET_ENCAPSULATED_REQUEST (an encapsulated KEY_UPDATE).

        Raises:
            LocalProtocolError: no such established session.
        """
        session = self._conn.sessions.get(session_id)
        if session is None or session.phase != SessionPhase.ESTABLISHED:
            raise LocalProtocolError(f"no established session 0x{session_id:08x}")
        self._conn.key_updates_wanted.add(session_id)

    def update_measurements(self, backend: ResponderBackend) -> frozenset[int]:
        """The device's measured state changed (a firmware update): answer from ``backend`` from now on.

        Sessions subscribed to MeasurementChanged get the event, carrying the
        indices whose blocks differ, at their next in-session
        GET_ENCAPSULATED_REQUEST (:mod:`.event`).

        Returns:
            The measurement indices that changed.
        """
        return event.measurements_updated(self._conn, backend)

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Process one whole request and queue its response and event.

        Args:
            data: one SPDM request (any bytes-like object), possibly followed by
                up to 3 zero DOE pad bytes.
        """
        request = bytes(data)
        response, event = self._answer(request)
        self._end_sessions()
        self._outbound.append(response)
        self._events.append(event)

    def data_to_send(self) -> bytes:
        """The oldest queued response (one per request received), or b"" when none is left."""
        return self._outbound.popleft() if self._outbound else b""

    def next_event(self) -> Event | None:
        """The next :class:`RequestAnswered`, or None."""
        return self._events.popleft() if self._events else None

    def handle(self, request: bytes | bytearray | memoryview) -> bytes:
        """Answer one request: :meth:`receive_data` then :meth:`data_to_send`."""
        self.receive_data(request)
        return self.data_to_send()

    def handle_secured(self, record: bytes | bytearray | memoryview) -> bytes | None:
        """Answer one DSP0277 record (a DOE type-2 object's payload) with a sealed record.

        A record for an unknown session, one that fails authentication, or one
        that is malformed gets no answer at all (the device stays silent, as a
        DOE mailbox does for objects it drops); a failed record also ends its
        session, since DSP0277 forbids using anything in it.

        Returns:
            The sealed response record, or None when the record was dropped.
        """
        conn = self._conn
        data = bytes(record)
        try:
            session = conn.sessions.get(record_session_id(data))
            if session is None:
                raise RemoteProtocolError("a record for an unknown session")
            keys = session.current_keys()
            try:
                request = open_record(keys.request, data, expected_session_id=session.session_id)
            except (VerificationError, DecodeError):
                conn.sessions.pop(session.session_id, None)
                if conn.handshaking is session:
                    conn.handshaking = None
                conn.session_gone(session)
                raise
        except (RemoteProtocolError, VerificationError) as exc:
            logger.debug("secured record dropped: %s", exc)
            self._events.append(RequestAnswered(0, 0, None, f"record dropped: {exc}"))
            return None
        conn.current_session = session
        try:
            response, event = self._answer(request)
        finally:
            conn.current_session = None
        for session_filter in self._session_filters:
            response = session_filter(session.session_id, request, response)
        sealed = seal(keys.response, session.session_id, response)
        self._end_sessions()
        self._events.append(event)
        return sealed

    def _end_sessions(self) -> None:
        """Forget the keys of sessions whose last answer has now been sealed."""
        for session in self._conn.ending:
            self._conn.session_gone(session)
        self._conn.ending.clear()

    # --- processing -----------------------------------------------------------------------

    def _error_version(self, data: bytes) -> int:
        """SPDMVersion of an ERROR: the chosen version, 0x10 before one is chosen.

        Like libspdm, a GET_CAPABILITIES whose version we offer is answered in
        that version even when its other fields are refused.
        """
        conn = self._conn
        if len(data) >= 2 and data[1] == RequestCode.GET_VERSION:
            return SpdmVersion.V10
        if conn.version is not None:
            return conn.version
        if (conn.state == ConnectionState.AFTER_VERSION and len(data) >= 2
                and data[1] == RequestCode.GET_CAPABILITIES and data[0] in conn.config.versions):
            return data[0]
        return SpdmVersion.V10

    def _answer(self, data: bytes, *, reassembled: bool = False) -> tuple[bytes, RequestAnswered]:
        """Produce the response to one request; the one place errors become ERROR.

        ``reassembled``: the request came by CHUNK_SEND (it may exceed our DataTransferSize).
        """
        code = data[1] if len(data) >= 2 else 0
        try:
            response = self._dispatch(data, reassembled=reassembled)
        except ProtocolError as exc:
            self._conn.transcript.failed(code, self._conn.current_session)
            error = ErrorResponse(
                spdm_version=self._error_version(data),
                error_code=exc.error_code,
                error_data=exc.error_data,
                extended_data=exc.extended_data,
            ).encode()
            logger.debug("%s refused: %s", _code_name(code), exc.error_code.name)
            return error, RequestAnswered(code, ResponseCode.ERROR, exc.error_code, str(exc))
        if self._conn.chunking:
            response = chunking.large_response(self._conn, response)
            if response[1] == _ERROR and response[2] == SpdmErrorCode.LARGE_RESPONSE:
                return response, RequestAnswered(
                    code, ResponseCode.ERROR, SpdmErrorCode.LARGE_RESPONSE, "large response: CHUNK_GET it")
        if logger.isEnabledFor(logging.DEBUG):  # the name is not looked up for a log that is off
            logger.debug("%s answered with response 0x%02x", _code_name(code), response[1])
        # The only other ERROR _dispatch returns rather than raises is ResponseNotReady.
        if response[1] == _ERROR:
            return response, RequestAnswered(
                code, ResponseCode.ERROR, SpdmErrorCode.RESPONSE_NOT_READY, "response not ready")
        return response, RequestAnswered(code, response[1])

    def _dispatch(self, data: bytes, *, reassembled: bool = False) -> bytes:
        """Check a request against the code table, state table and version, then run it."""
        conn = self._conn
        if len(data) < 4:
            raise invalid_request(f"a {len(data)}-byte request is shorter than the SPDM header")
        version, code = data[0], data[1]
        if not reassembled:
            chunking.check_request_size(conn, data)
        if code == _RESPOND_IF_READY:
            return self._respond_if_ready(data)
        self._pending = None  # a new request abandons a held-back response
        if conn.chunks is not None:
            conn.chunks.request_arrived(code, conn.current_session)  # and the chunk transfers it ends
        route = ROUTES.get(code)
        if route is None:
            raise unsupported_request(code, f"request {_code_name(code)} is not supported")
        if conn.version is not None and conn.version < route.since:
            raise unsupported_request(
                code, f"{_code_name(code)} exists from SPDM {route.since.text}; this connection is at "
                      f"SPDM {SpdmVersion(conn.version).text}")
        if route.needs and not int(conn.config.capabilities) & int(route.needs):
            raise unsupported_request(
                code, f"{_code_name(code)} needs {route.needs.name}, which we do not advertise")
        state_before = conn.state
        after = next_state(state_before, code)
        if after is None:
            raise RemoteProtocolError(
                f"{_code_name(code)} is not allowed in state {state_before.value!r}",
                error_code=SpdmErrorCode.UNEXPECTED_REQUEST,
            )
        self._check_where(route, code)
        self._check_version(code, version)
        response = route.run(conn, data)
        if conn.state is state_before:  # a chunked request's own transition stands
            conn.state = after
        if code == _GET_VERSION:
            self._not_ready_done.clear()
        if (code in self.config.not_ready_requests and state_before == ConnectionState.NEGOTIATED
                and code not in self._not_ready_done):
            return self._hold_back(code, response)
        return response

    def _check_where(self, route: Route[Any], code: int) -> None:
        """A request must come the way its route allows (see :class:`.routes.Route`)."""
        conn = self._conn
        current = conn.current_session
        where = route.where
        if where == HANDSHAKE:
            where = CLEAR if conn.session.both(CapabilityFlags.HANDSHAKE_IN_THE_CLEAR_CAP) else SECURED
        if current is None and where == SECURED:
            raise RemoteProtocolError(
                f"{_code_name(code)} is only legal {where}",
                error_code=(SpdmErrorCode.SESSION_REQUIRED if conn.session_version >= SpdmVersion.V12
                            else SpdmErrorCode.UNEXPECTED_REQUEST),
            )
        if current is not None and where == CLEAR:
            raise RemoteProtocolError(
                f"{_code_name(code)} is only legal {where}",
                error_code=SpdmErrorCode.UNEXPECTED_REQUEST,
            )
        if (current is not None and current.phase != SessionPhase.ESTABLISHED
                and code not in _HANDSHAKE_REQUESTS):
            raise RemoteProtocolError(
                f"{_code_name(code)} inside session 0x{current.session_id:08x} before its FINISH",
                error_code=SpdmErrorCode.UNEXPECTED_REQUEST,
            )

    def _check_version(self, code: int, version: int) -> None:
        """GET_VERSION carries 0x10; GET_CAPABILITIES one we offer; the rest the chosen one."""
        conn = self._conn
        if code == _GET_VERSION:
            allowed: tuple[int, ...] = _VERSION_10
        elif code == _GET_CAPABILITIES:
            allowed = tuple(conn.config.versions)
        else:
            allowed = (conn.session_version,)
        if version not in allowed:
            raise RemoteProtocolError(
                f"{_code_name(code)} carries version 0x{version:02x}, expected one of "
                + ", ".join(f"0x{v:02x}" for v in allowed),
                error_code=SpdmErrorCode.VERSION_MISMATCH,
            )

    def _hold_back(self, code: int, response: bytes) -> bytes:
        """Keep a finished response and answer ResponseNotReady (config.not_ready_requests).

        The response was computed as if sent, so the transcript already holds
        it: RESPOND_IF_READY and the ERROR never enter a transcript.
        """
        token = self._next_token
        self._next_token = (token + 1) & 0xFF
        self._not_ready_done.add(code)
        self._pending = _Pending(code, token, response, self._conn.current_session)
        logger.debug("%s held back behind ResponseNotReady (token %d)", _code_name(code), token)
        return ErrorResponse(
            spdm_version=self._conn.session_version,
            error_code=SpdmErrorCode.RESPONSE_NOT_READY,
            extended_data=bytes([self.config.rdt_exponent, code, token, RDTM]),
        ).encode()

    def _respond_if_ready(self, data: bytes) -> bytes:
        """Release the held-back response when RESPOND_IF_READY names its request and token.

        A held-back response is released only on the channel its request came
        on: the same session, or the clear for a request sent in the clear.
        Any other channel has no response pending (UnexpectedRequest, as with
        nothing held back), and the response stays held for its own channel:
        otherwise anyone on the mailbox could read, in plaintext, what was
        asked for under a session's encryption (fuzz finding 15).

        Raises:
            RemoteProtocolError: UnexpectedRequest with nothing held back for
                this channel, VersionMismatch, or InvalidRequest for malformed
                bytes or a request code or token that does not match.
        """
        pending = self._pending
        if pending is None or pending.session is not self._conn.current_session:
            raise RemoteProtocolError(
                "RESPOND_IF_READY with no response pending "
                + ("in the clear" if self._conn.current_session is None else "in this session"),
                error_code=SpdmErrorCode.UNEXPECTED_REQUEST,
            )
        self._check_version(RequestCode.RESPOND_IF_READY, data[0])
        request = RespondIfReady.decode(data, NO_CONTEXT, padded=True)
        if (request.request_code, request.token) != (pending.request_code, pending.token):
            raise invalid_request(
                f"RESPOND_IF_READY for request 0x{request.request_code:02x} token "
                f"{request.token}; pending is 0x{pending.request_code:02x} token {pending.token}"
            )
        self._pending = None
        return pending.response


__all__ = ["Responder", "SessionFilter"]
