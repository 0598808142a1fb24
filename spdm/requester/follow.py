"""Following a conversation someone else holds: the engine as a passive monitor.

``devsec dump`` (and the vector tests) run the requester engine over a
captured conversation: the requests are the capture's, adopted here instead of
being generated; the response checks, transcripts, keys and signatures are the
engine's own.  So whatever a follower verifies, a live requester would verify
the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

from ..config import RequesterConfig
from ..crypto import constant_time_equal
from ..errors import LocalProtocolError, VerificationError
from ..messages import REQUEST_TYPES, Finish, GetCapabilities, GetCertificate, Message, peek_code
from ..messages.codes import RequestCode
from ..secured import open_record, record_session_id
from .core import KnownSecret, _Pending
from .encap import EncapCommands


class FollowCommands(EncapCommands):
    """Adopt captured requests; skip the ones the engine does not follow."""

    def skip(self, request_code: int) -> None:
        """Note a request this engine does not follow passing by (passive monitoring).

        Its transcript resets still apply, so the following signatures verify
        (e.g. the encapsulated mutual-auth requests between CHALLENGE and
        GET_MEASUREMENTS in a captured 1.3 conversation).

        Raises:
            LocalProtocolError: a request is outstanding.
        """
        self._check_usable()
        if self._pending is not None:
            raise LocalProtocolError(f"request 0x{request_code:02x} passed while another is outstanding")
        self.transcript.begin(request_code)

    @classmethod
    def follower(cls, config: RequesterConfig) -> Self:
        """An engine that follows a conversation someone else holds (``devsec dump``).

        It never seals: requests come from :meth:`adopt`, already sealed by the
        real requester; only the checks, transcripts and keys are this engine's.
        """
        engine = cls(config)
        engine._passive = True
        return engine

    def adopt(
        self, request: bytes, *, now: datetime, secured: bool = False, secret: bytes | None = None
    ) -> Message:
        """Make a request someone else sent the outstanding one (passive monitoring).

        ``devsec dump`` follows a captured conversation this way: the requests
        are the capture's, the response checks, transcripts and keys are ours.
        A follow-up the engine queued itself (the next certificate portion,
        FINISH, VerifyNewKey) is replaced by the captured one; a captured FINISH
        or PSK_FINISH must carry exactly the verify data our transcript gives.

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
            VerificationError: a record does not open, or a captured verify data
                is not the one the transcript gives.
            LocalProtocolError: it is not legal now, not followable, or a
                session request comes without its secret.
        """
        self._check_usable()
        session = None
        if secured:
            session = self.sessions.get(record_session_id(request))
            if session is None:
                raise LocalProtocolError("a record of a session that is not being followed")
            request = open_record(session.current_keys().request, request,
                                  expected_session_id=session.session_id)
        _, code = peek_code(request)
        request_type = REQUEST_TYPES.get(code)
        if request_type is None or code not in self._HANDLERS:
            raise LocalProtocolError(f"request 0x{code:02x} cannot be followed")
        message = request_type.decode(request, self.response_context(None), padded=True)
        pending = self._pending
        if pending is not None and pending.request.CODE == code and pending.session is session:
            # The engine queued this follow-up itself; the captured bytes are what was sent.
            self._outbox.clear()
            expected = getattr(pending.request, "requester_verify_data", None)
            if expected is not None and not constant_time_equal(
                    expected, getattr(message, "requester_verify_data", b"")):
                raise VerificationError(f"captured {request_type.__name__} verify data does not "
                                        "match the session transcript")
            pending.request = message
            return message
        self._begin(RequestCode(code))
        if isinstance(message, Finish) and self._finishing is not None and self._finishing.mut_auth:
            self.check_captured_finish(message)
        if isinstance(message, GetCapabilities):
            self._request_capabilities = message
        if isinstance(message, GetCertificate):
            self._cert = (message.slot_id, bytearray(), now)
        if code in (RequestCode.KEY_EXCHANGE, RequestCode.PSK_EXCHANGE):
            if secret is None:
                raise LocalProtocolError(f"{request_type.__name__}: no secret to follow the session with")
            if code == RequestCode.KEY_EXCHANGE:
                self._dhe = KnownSecret(secret)
            else:
                self._psk = secret
        ctx = self.response_context(message)
        self.transcript.begin(code, session)
        if code == RequestCode.KEY_UPDATE and session is not None:
            operation = getattr(message, "key_operation", 0)
            if operation in (1, 2):  # UpdateKey / UpdateAllKeys, as key_update() does after sending
                session.current_keys().update(both=operation == 2)
        self._pending = _Pending(message, ctx, session=session, resend=message.raw)
        return message
