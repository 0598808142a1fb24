"""Mutual authentication, responder side: the encapsulated requests and the requester's FINISH signature.

With ``ResponderConfig.mutual_auth`` the device answers KEY_EXCHANGE with
MutAuthRequested 0x02, then, pulled by GET_ENCAPSULATED_REQUEST and
DELIVER_ENCAPSULATED_RESPONSE, asks the requester for its DIGESTS and its
certificate chain, validates that chain against the configured requester
trust anchors, and finally checks the requester's signature in FINISH
(PROTOCOLS.md §3.8-3.9, §5.4).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ..crypto import SpdmCertChain, constant_time_equal, digest, parse_spdm_cert_chain, validate_cert_chain
from ..errors import DecodeError, RemoteProtocolError, SpdmErrorCode, VerificationError
from ..messages import (
    Certificate,
    DeliverEncapsulatedResponse,
    Digests,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    GetCertificate,
    GetDigests,
    GetEncapsulatedRequest,
    peek_code,
)
from ..messages.codes import ResponseCode
from ..session import Session
from ._connection import Connection, invalid_request

logger = logging.getLogger(__name__)

MUT_AUTH_ENCAPSULATED = 0x02
_PAYLOAD_NONE, _PAYLOAD_REQUEST = 0, 1


@dataclass
class EncapState:
    """Where one session's encapsulated flow stands.

    Attributes:
        request_id: the ID of the encapsulated request in flight (0: none yet).
        asked: the code of that request.
        digests: the requester's DIGESTS response (D_encap with MULTI_KEY_CONN).
        slot_id: the requester slot whose chain is fetched.
        chain: the chain so far.
        done: the requester's chain was validated; FINISH may come.
    """

    request_id: int = 0
    asked: int = 0
    digests: bytes = field(default=b"", repr=False)
    digest_of_slot: bytes = field(default=b"", repr=False)
    slot_id: int = 0
    chain: bytearray = field(default_factory=bytearray, repr=False)
    validated: SpdmCertChain | None = field(default=None, repr=False)


def _unexpected(reason: str) -> RemoteProtocolError:
    return RemoteProtocolError(reason, error_code=SpdmErrorCode.UNEXPECTED_REQUEST)


def _encap_session(conn: Connection) -> tuple[Session, EncapState]:
    session = conn.handshaking
    state = conn.encap
    if session is None or not session.mut_auth or state is None or state.validated is not None:
        raise _unexpected("no encapsulated request is pending")
    if session.handshake_in_the_clear != (conn.current_session is None):
        raise _unexpected("encapsulated messages must travel the way the handshake does")
    return session, state


def get_encapsulated_request(conn: Connection, request: GetEncapsulatedRequest) -> bytes:
    """Hand out the first encapsulated request: GET_DIGESTS."""
    session, state = _encap_session(conn)
    if state.request_id:
        raise _unexpected("the encapsulated flow has already started")
    inner = GetDigests(spdm_version=session.version).encode()
    state.request_id, state.asked = 1, inner[1]
    return EncapsulatedRequest(spdm_version=session.version, request_id=1,
                               encapsulated_request=inner).encode()


def deliver_encapsulated_response(conn: Connection, request: DeliverEncapsulatedResponse) -> bytes:
    """Take the requester's answer and send the next request, or say the flow is done.

    Raises:
        RemoteProtocolError: InvalidRequest for a wrong request ID or a
            malformed or unexpected answer; the requester's chain failing
            validation is InvalidRequest too, and ends the handshake.
    """
    session, state = _encap_session(conn)
    if not state.request_id or request.request_id != state.request_id:
        raise invalid_request(f"DELIVER_ENCAPSULATED_RESPONSE for request {request.request_id}, "
                              f"{state.request_id} is pending")
    negotiated = conn.session
    answer = request.encapsulated_response
    try:
        _, code = peek_code(answer)
        if code != state.asked & 0x7F:
            raise invalid_request(f"encapsulated answer 0x{code:02x} to request 0x{state.asked:02x}")
        if code == ResponseCode.DIGESTS:
            digests = Digests.decode(answer, negotiated.codec(), padded=True)
            slots = digests.by_slot()
            if not slots:
                raise invalid_request("the requester has no certificate chain")
            state.digests = digests.raw
            state.slot_id = min(slots)
            state.digest_of_slot = slots[state.slot_id]
        else:
            portion = Certificate.decode(answer, padded=True)
            if portion.slot_id != state.slot_id:
                raise invalid_request(f"certificate of slot {portion.slot_id}, asked {state.slot_id}")
            state.chain += portion.cert_chain
            if portion.remainder_length == 0:
                _validate(conn, session, state)
                return _ack(session, state, _PAYLOAD_NONE, b"")
            if not portion.cert_chain:
                raise invalid_request("an empty certificate portion with data remaining")
    except DecodeError as exc:
        raise invalid_request(f"malformed encapsulated answer: {exc}") from exc
    inner = GetCertificate(spdm_version=session.version, slot_id=state.slot_id,
                           offset=len(state.chain), length=0xFFFF).encode()
    return _ack(session, state, _PAYLOAD_REQUEST, inner)


def _ack(session: Session, state: EncapState, payload_type: int, inner: bytes) -> bytes:
    acked = state.request_id
    if payload_type == _PAYLOAD_NONE:
        state.request_id, state.asked = 0, 0
    else:
        state.request_id, state.asked = (acked % 255) + 1, inner[1]
    return EncapsulatedResponseAck(
        spdm_version=session.version, request_id=state.request_id, payload_type=payload_type,
        ack_request_id=acked if session.version >= 0x12 else None, encapsulated_request=inner,
    ).encode()


def _validate(conn: Connection, session: Session, state: EncapState) -> None:
    """The requester's chain must match its digest and lead to a requester trust anchor."""
    negotiated = conn.session
    raw = bytes(state.chain)
    try:
        if not constant_time_equal(digest(negotiated.hash_alg, raw), state.digest_of_slot):
            raise VerificationError("the requester's chain does not match its DIGESTS entry")
        chain = parse_spdm_cert_chain(raw, negotiated.hash_alg)
        validate_cert_chain(chain, conn.config.requester_trust_anchors, negotiated.req_asym_alg,
                            now=conn.clock(), role="requester")
    except (VerificationError, DecodeError) as exc:
        logger.debug("session 0x%08x: requester chain refused: %s", session.session_id, exc)
        conn.sessions.pop(session.session_id, None)
        conn.handshaking = None
        conn.encap = None
        conn.ending.append(session)
        raise invalid_request(f"the requester's certificate chain is not trusted: {exc}") from exc
    state.validated = chain
