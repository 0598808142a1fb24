"""Mutual authentication, responder side: the encapsulated requests and the requester's signatures.

With ``ResponderConfig.mutual_auth`` the device asks a requester that can
(MUT_AUTH_CAP, ENCAP_CAP) to authenticate itself, two ways:

* in KEY_EXCHANGE_RSP with MutAuthRequested 0x02: pulled by
  GET_ENCAPSULATED_REQUEST / DELIVER_ENCAPSULATED_RESPONSE it asks for the
  requester's DIGESTS and certificate chain, validates the chain against the
  requester trust anchors, and checks the requester's signature in FINISH;
* in CHALLENGE_AUTH with BasicMutAuthReq (basic mutual authentication): the
  same two requests in the clear, then an encapsulated CHALLENGE whose
  CHALLENGE_AUTH the requester signs over M2 = [A] || mut_B || mut_C.

It also initiates key updates of its own direction: after
:meth:`Responder.request_key_update`, the requester's next in-session
GET_ENCAPSULATED_REQUEST gets an encapsulated KEY_UPDATE (UpdateKey), then
VerifyNewKey under the new key.  Otherwise, when a subscribed session has
events waiting, it gets an encapsulated SEND_EVENT (:mod:`.event`).

(PROTOCOLS.md §3.6, §3.8-3.9, §3.11, §5.2, §5.4.)
"""

from __future__ import annotations

import logging
from dataclasses import field, replace

from ..crypto import (
    SpdmCertChain,
    constant_time_equal,
    digest,
    parse_spdm_cert_chain,
    signature_size,
    validate_cert_chain,
    verify,
)
from ..errors import DecodeError, RemoteProtocolError, SpdmErrorCode, VerificationError
from ..messages import (
    NONCE_SIZE,
    REQUESTER_CONTEXT_SIZE,
    Certificate,
    Challenge,
    ChallengeAuth,
    DeliverEncapsulatedResponse,
    Digests,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    GetCertificate,
    GetDigests,
    GetEncapsulatedRequest,
    KeyUpdate,
    KeyUpdateAck,
    peek_code,
)
from ..messages.codes import RequestCode, ResponseCode
from ..record import record
from ..session import Session, SessionPhase
from ..transcript import MAX_MESSAGE_B_SIZE
from . import event as events
from ._connection import Connection, invalid_request

__all__ = [
    "BASIC_MUT_AUTH_REQ",
    "MAX_REQUESTER_CHAIN_SIZE",
    "MUT_AUTH_ENCAPSULATED",
    "REQUESTER_CHALLENGE_CONTEXT",
    "EncapState",
    "deliver_encapsulated_response",
    "get_encapsulated_request",
]

logger = logging.getLogger(__name__)

MUT_AUTH_ENCAPSULATED = 0x02
BASIC_MUT_AUTH_REQ = 0x80
"""CHALLENGE_AUTH Param1 b7."""
REQUESTER_CHALLENGE_CONTEXT = "requester-challenge_auth signing"
_PAYLOAD_NONE, _PAYLOAD_REQUEST = 0, 1
_UPDATE_KEY, _VERIFY_NEW_KEY = 1, 3

MAX_REQUESTER_CHAIN_SIZE = 0xFFFF
"""The largest requester certificate chain the device collects: 65535 bytes.

An SPDM 1.0-1.3 certificate chain states its own Length in 16 bits, and
GET_CERTIFICATE's Offset is 16 bits, so no chain can be longer (the requester
engine bounds a device's chain the same way).  A requester whose portions and
RemainderLength add up to more is refused before anything is kept: without
the bound, repeating one DELIVER_ENCAPSULATED_RESPONSE grew the device's
memory by twice the portion each time (fuzz finding 09)."""


@record
class EncapState:
    """Where one session's encapsulated flow stands.

    Attributes:
        request_id: the ID of the encapsulated request in flight (0: none yet).
        asked: the code of that request.
        digests: the requester's DIGESTS response (D_encap with MULTI_KEY_CONN).
        slot_id: the requester slot whose chain is fetched.
        chain: the chain so far.
        validated: the requester's chain, once validated.
        session: the session being established (None: basic mutual auth after CHALLENGE),
            or the established session whose key we update.
        key_update_tag: set for a responder-initiated key update (the tag sent).
        inner: the encapsulated request in flight, as sent.
        mut_b: the encapsulated digests/certificate exchanges (M2's mut_B).
    """

    session: Session | None = None
    key_update_tag: int | None = None
    request_id: int = 0
    asked: int = 0
    inner: bytes = field(default=b"", repr=False)
    mut_b: bytearray = field(default_factory=bytearray, repr=False)
    digests: bytes = field(default=b"", repr=False)
    digest_of_slot: bytes = field(default=b"", repr=False)
    slot_id: int = 0
    chain: bytearray = field(default_factory=bytearray, repr=False)
    validated: SpdmCertChain | None = field(default=None, repr=False)


def _unexpected(reason: str) -> RemoteProtocolError:
    return RemoteProtocolError(reason, error_code=SpdmErrorCode.UNEXPECTED_REQUEST)


def _flow(conn: Connection) -> EncapState:
    """The encapsulated flow a request belongs to, carried the way it must be."""
    state = conn.encap
    if state is None or (state.validated is not None and state.session is not None):
        raise _unexpected("no encapsulated request is pending")
    session = state.session
    in_the_clear = session is None or (
        session.handshake_in_the_clear and session.phase != SessionPhase.ESTABLISHED)
    if in_the_clear != (conn.current_session is None) or (
            session is not None and conn.current_session not in (None, session)):
        raise _unexpected("encapsulated messages must travel the way their flow does")
    return state


def _start_key_update(conn: Connection, session: Session) -> bytes:
    """The established session's GET_ENCAPSULATED_REQUEST: our KEY_UPDATE, if one is wanted."""
    if session.session_id not in conn.key_updates_wanted:
        if session.version >= 0x13:
            raise RemoteProtocolError("no encapsulated request pending",
                                      error_code=SpdmErrorCode.NO_PENDING_REQUESTS)
        raise _unexpected("no encapsulated request pending")
    conn.key_updates_wanted.discard(session.session_id)
    tag = conn.rng(1)[0]
    inner = KeyUpdate(spdm_version=session.version, key_operation=_UPDATE_KEY, tag=tag).encode()
    conn.encap = EncapState(session=session, key_update_tag=tag, request_id=1, asked=inner[1],
                            inner=inner)
    return EncapsulatedRequest(spdm_version=session.version, request_id=1,
                               encapsulated_request=inner).encode()


def _key_update_answer(conn: Connection, state: EncapState, answer: bytes) -> bytes:
    """KEY_UPDATE_ACK delivered: switch our sending key, then ask for VerifyNewKey; then done."""
    session = state.session
    assert session is not None
    try:
        ack = KeyUpdateAck.decode(answer, conn.session.codec(), padded=True)
    except DecodeError as exc:
        raise invalid_request(f"malformed encapsulated KEY_UPDATE_ACK: {exc}") from exc
    sent = KeyUpdate.decode(state.inner, conn.session.codec())
    if (ack.key_operation, ack.tag) != (sent.key_operation, sent.tag):
        raise invalid_request("encapsulated KEY_UPDATE_ACK does not echo the operation and tag")
    if sent.key_operation == _VERIFY_NEW_KEY:
        conn.encap = None
        return _ack(conn, state, _PAYLOAD_NONE, b"")
    # The reply to this DELIVER is sealed after this returns, with the new key.
    session.current_keys().update_response()
    verify_new = KeyUpdate(spdm_version=session.version, key_operation=_VERIFY_NEW_KEY,
                           tag=conn.rng(1)[0]).encode()
    return _ack(conn, state, _PAYLOAD_REQUEST, verify_new)


def get_encapsulated_request(conn: Connection, request: GetEncapsulatedRequest) -> bytes:
    """Hand out the first encapsulated request: GET_DIGESTS (or, in a session, KEY_UPDATE)."""
    current = conn.current_session
    if current is not None and current.phase == SessionPhase.ESTABLISHED:
        send_event = None if current.session_id in conn.key_updates_wanted else (
            events.next_send_event(conn, current, polled=True))
        if send_event is None:
            return _start_key_update(conn, current)
        conn.encap = EncapState(session=current, request_id=1, asked=send_event[1], inner=send_event)
        return EncapsulatedRequest(spdm_version=current.version, request_id=1,
                                   encapsulated_request=send_event).encode()
    state = _flow(conn)
    if state.request_id or state.validated is not None:
        raise _unexpected("the encapsulated flow has already started")
    version = conn.session.version
    inner = GetDigests(spdm_version=version).encode()
    state.request_id, state.asked, state.inner = 1, inner[1], inner
    return EncapsulatedRequest(spdm_version=version, request_id=1,
                               encapsulated_request=inner).encode()


def deliver_encapsulated_response(conn: Connection, request: DeliverEncapsulatedResponse) -> bytes:
    """Take the requester's answer and send the next request, or say the flow is done.

    Raises:
        RemoteProtocolError: InvalidRequest for a wrong request ID or a
            malformed or unexpected answer; the requester's chain failing
            validation is InvalidRequest too, and ends the handshake.  A chain
            too large to keep is InvalidResponseCode and ends the flow (and
            the handshake): see :func:`_check_bounds`.
    """
    state = _flow(conn)
    if not state.request_id or request.request_id != state.request_id:
        raise invalid_request(f"DELIVER_ENCAPSULATED_RESPONSE for request {request.request_id}, "
                              f"{state.request_id} is pending")
    negotiated = conn.session
    answer = request.encapsulated_response
    if state.key_update_tag is not None:
        return _key_update_answer(conn, state, answer)
    if state.asked == RequestCode.SEND_EVENT and state.session is not None:
        conn.encap = None  # the flow ends here unless another SEND_EVENT follows
        following = events.acknowledged(conn, state.session, state.inner, answer)
        if following is None:
            return _ack(conn, state, _PAYLOAD_NONE, b"")
        conn.encap = state
        return _ack(conn, state, _PAYLOAD_REQUEST, following)
    try:
        _, code = peek_code(answer)
        if code != state.asked & 0x7F:
            raise invalid_request(f"encapsulated answer 0x{code:02x} to request 0x{state.asked:02x}")
        if code == ResponseCode.CHALLENGE_AUTH:
            _check_challenge_auth(conn, state, answer)
            return _ack(conn, state, _PAYLOAD_NONE, b"")
        if code == ResponseCode.DIGESTS:
            digests = Digests.decode(answer, replace(
                negotiated.codec(), multi_key=negotiated.multi_key_req), padded=True)
            slots = digests.by_slot()
            if not slots:
                raise invalid_request("the requester has no certificate chain")
            state.digests = digests.raw
            state.slot_id = min(slots)
            state.digest_of_slot = slots[state.slot_id]
            state.mut_b += state.inner + digests.raw
        else:
            portion = Certificate.decode(answer, padded=True)
            if portion.slot_id != state.slot_id:
                raise invalid_request(f"certificate of slot {portion.slot_id}, asked {state.slot_id}")
            _check_bounds(conn, state, portion)
            state.chain += portion.cert_chain
            state.mut_b += state.inner + portion.raw
            if portion.remainder_length == 0:
                _validate(conn, state)
                if state.session is not None:
                    return _ack(conn, state, _PAYLOAD_NONE, b"")
                return _ack(conn, state, _PAYLOAD_REQUEST, Challenge(
                    spdm_version=negotiated.version, slot_id=state.slot_id, nonce=conn.rng(NONCE_SIZE),
                    requester_context=(conn.rng(REQUESTER_CONTEXT_SIZE)
                                       if negotiated.version >= 0x13 else None)).encode())
            if not portion.cert_chain:
                raise invalid_request("an empty certificate portion with data remaining")
    except DecodeError as exc:
        raise invalid_request(f"malformed encapsulated answer: {exc}") from exc
    inner = GetCertificate(spdm_version=negotiated.version, slot_id=state.slot_id,
                           offset=len(state.chain), length=0xFFFF).encode()
    return _ack(conn, state, _PAYLOAD_REQUEST, inner)


def _check_bounds(conn: Connection, state: EncapState, portion: Certificate) -> None:
    """A delivered CERTIFICATE portion must keep the chain and mut_B within their bounds.

    Raises:
        RemoteProtocolError: InvalidResponseCode, and the encapsulated flow is
            over (a handshake waiting on it ends too): the chain would pass
            :data:`MAX_REQUESTER_CHAIN_SIZE` or mut_B
            :data:`~spdm.transcript.MAX_MESSAGE_B_SIZE`.  libspdm's responder
            answers InvalidResponseCode and leaves its encapsulated state
            whenever a delivered response cannot be processed.
    """
    chain_size = len(state.chain) + len(portion.cert_chain) + portion.remainder_length
    mut_b_size = len(state.mut_b) + len(state.inner) + len(portion.raw)
    if chain_size <= MAX_REQUESTER_CHAIN_SIZE and mut_b_size <= MAX_MESSAGE_B_SIZE:
        return
    _abandon(conn, state)
    raise RemoteProtocolError(
        f"the requester's certificate chain would be {chain_size} bytes (at most "
        f"{MAX_REQUESTER_CHAIN_SIZE}) and mut_B {mut_b_size} (at most {MAX_MESSAGE_B_SIZE})",
        error_code=SpdmErrorCode.INVALID_RESPONSE_CODE,
    )


def _abandon(conn: Connection, state: EncapState) -> None:
    """End an encapsulated flow that failed; a handshake waiting on it ends with it."""
    conn.encap = None
    session = state.session
    if session is not None:
        conn.sessions.pop(session.session_id, None)
        conn.handshaking = None
        conn.ending.append(session)


def _ack(conn: Connection, state: EncapState, payload_type: int, inner: bytes) -> bytes:
    version = conn.session.version
    acked = state.request_id
    if payload_type == _PAYLOAD_NONE:
        state.request_id, state.asked, state.inner = 0, 0, b""
        if state.session is None:
            conn.encap = None  # basic mutual authentication is over
    else:
        state.request_id, state.asked, state.inner = (acked % 255) + 1, inner[1], inner
    return EncapsulatedResponseAck(
        spdm_version=version, request_id=state.request_id, payload_type=payload_type,
        ack_request_id=acked if version >= 0x12 else None, encapsulated_request=inner,
    ).encode()


def _check_challenge_auth(conn: Connection, state: EncapState, answer: bytes) -> None:
    """The requester's encapsulated CHALLENGE_AUTH: signed over M2 with its leaf key.

    Raises:
        RemoteProtocolError: InvalidRequest when it is malformed, names the
            wrong slot or chain, or its signature does not verify.
    """
    negotiated = conn.session
    assert state.validated is not None
    challenge = Challenge.decode(state.inner, negotiated.codec())
    size = signature_size(negotiated.req_signing_alg)
    response = ChallengeAuth.decode(answer, replace(negotiated.codec(), signature_size=size),
                                    padded=True)
    if response.slot_id != state.slot_id or response.requester_context != challenge.requester_context:
        raise invalid_request("encapsulated CHALLENGE_AUTH names another slot or context")
    if not constant_time_equal(response.cert_chain_hash, digest(negotiated.hash_alg, state.validated.raw)):
        raise invalid_request("encapsulated CHALLENGE_AUTH CertChainHash is not the delivered chain's")
    a = bytes(conn.transcript.a) if negotiated.version >= 0x12 else b""
    m2 = a + bytes(state.mut_b) + state.inner + response.raw[: len(response.raw) - size]
    try:
        verify(state.validated.leaf.public_key(), negotiated.req_signing_alg, negotiated.hash_alg,
               negotiated.version, REQUESTER_CHALLENGE_CONTEXT, m2, response.signature)
    except VerificationError as exc:
        raise invalid_request(f"the requester's CHALLENGE_AUTH does not verify: {exc}") from exc
    logger.debug("requester authenticated (basic mutual authentication)")


def _validate(conn: Connection, state: EncapState) -> None:
    """The requester's chain must match its digest and lead to a requester trust anchor."""
    negotiated = conn.session
    raw = bytes(state.chain)
    try:
        if not constant_time_equal(digest(negotiated.hash_alg, raw), state.digest_of_slot):
            raise VerificationError("the requester's chain does not match its DIGESTS entry")
        chain = parse_spdm_cert_chain(raw, negotiated.hash_alg)
        validate_cert_chain(chain, conn.config.requester_trust_anchors, negotiated.req_signing_alg,
                            now=conn.clock(), role="requester")
    except (VerificationError, DecodeError) as exc:
        logger.debug("requester chain refused: %s", exc)
        _abandon(conn, state)
        raise invalid_request(f"the requester's certificate chain is not trusted: {exc}") from exc
    state.validated = chain
