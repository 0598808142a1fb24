"""Responder side of secure sessions: KEY_EXCHANGE, FINISH, PSK_*, HEARTBEAT, KEY_UPDATE, END_SESSION.

Each handler mirrors the requester's checks (spdm/requester/session.py) over
the same :class:`spdm.session.Session` transcript, so both sides derive the
same keys by construction.  Sealing and opening records is the dispatcher's
(``Responder.handle_secured``): it captures the session's keys *before* a
handler runs and seals the response with them, which is exactly the key
timing DSP0274 asks for (FINISH_RSP under the handshake keys although the
handler already switched to data keys; KEY_UPDATE_ACK for UpdateAllKeys under
the new response key).
"""

from __future__ import annotations

import logging

from ..crypto import generate_dhe_key, kem_encapsulate, verify
from ..errors import DecodeError, RemoteProtocolError, SpdmErrorCode, VerificationError
from ..messages import (
    EndSession,
    EndSessionAck,
    Finish,
    FinishRsp,
    Heartbeat,
    HeartbeatAck,
    KeyExchange,
    KeyExchangeRsp,
    KeyUpdate,
    KeyUpdateAck,
    PskExchange,
    PskExchangeRsp,
    PskFinish,
    PskFinishRsp,
)
from ..messages.codes import CapabilityFlags, MeasurementSummaryHashType, RequestCode, SpdmVersion
from ..messages.opaque import (
    SECURED_MESSAGE_VERSIONS,
    decode_opaque,
    encode_opaque,
    parse_secured_message_versions,
    version_selection_element,
)
from ..negotiation import MEAS_CAPS, Negotiated
from ..session import (
    FINISH_CONTEXT,
    KEY_EXCHANGE_RSP_CONTEXT,
    MAX_SESSIONS,
    Session,
    SessionPhase,
    session_id_of,
)
from ._connection import Connection, invalid_request
from .auth import measurement_summary_hash
from .encap import MUT_AUTH_ENCAPSULATED, EncapState

__all__ = [
    "RANDOM_DATA_SIZE",
    "end_session",
    "finish",
    "heartbeat",
    "key_exchange",
    "key_update",
    "psk_exchange",
    "psk_finish",
]

logger = logging.getLogger(__name__)

RANDOM_DATA_SIZE = 32
UPDATE_KEY, UPDATE_ALL_KEYS, VERIFY_NEW_KEY = 1, 2, 3


def _decrypt_error(reason: str) -> RemoteProtocolError:
    return RemoteProtocolError(reason, error_code=SpdmErrorCode.DECRYPT_ERROR)


def _unexpected(reason: str) -> RemoteProtocolError:
    return RemoteProtocolError(reason, error_code=SpdmErrorCode.UNEXPECTED_REQUEST)


def _select_secured_version(conn: Connection, opaque: bytes) -> int:
    """The highest DSP0277 version in both lists (InvalidRequest when none)."""
    try:
        offered = parse_secured_message_versions(decode_opaque(opaque, conn.session.version))
    except DecodeError as exc:
        raise invalid_request(f"malformed opaque data: {exc}") from exc
    common = set(offered or ()) & set(SECURED_MESSAGE_VERSIONS)
    if not common:
        raise invalid_request(f"no common secured-message version in {offered!r}")
    return max(common)


def _new_session(conn: Connection, req_session_id: int, *, psk: bool, opaque: bytes) -> Session:
    negotiated = conn.session
    if len(conn.sessions) >= MAX_SESSIONS:
        raise RemoteProtocolError(
            f"already {len(conn.sessions)} sessions", error_code=SpdmErrorCode.SESSION_LIMIT_EXCEEDED)
    if conn.handshaking is not None:
        # One handshake at a time: FINISH in the clear could not tell two apart.
        raise _unexpected("another session is still in its handshake")
    used = {sid >> 16 for sid in conn.sessions}
    rsp_half = next(h for h in range(0xFFFF, 0, -1) if h not in used)
    return Session(
        session_id=session_id_of(req_session_id, rsp_half),
        version=negotiated.version,
        hash_alg=negotiated.hash_alg,
        aead=negotiated.aead_suite,
        psk=psk,
        handshake_in_the_clear=not psk and negotiated.both(CapabilityFlags.HANDSHAKE_IN_THE_CLEAR_CAP),
        mac_only=not negotiated.both(CapabilityFlags.ENCRYPT_CAP),
        heartbeat_period=conn.config.heartbeat_period,
        secured_version=_select_secured_version(conn, opaque),
        record_format=conn.config.record_format,
    )


def _check_summary(conn: Connection, summary: int) -> None:
    if summary not in (0, MeasurementSummaryHashType.TCB, MeasurementSummaryHashType.ALL):
        raise invalid_request(f"measurement summary hash type 0x{summary:02x}")
    if summary and not conn.responder_flags & MEAS_CAPS:
        raise invalid_request("a measurement summary hash needs MEAS_CAP")


def _key_exchange_data(negotiated: Negotiated, peer: bytes) -> tuple[bytes, bytes]:
    """Our KEY_EXCHANGE_RSP ExchangeData and the shared secret, from the requester's ExchangeData.

    DHE: a fresh key's public value, and the DH secret. A 1.4 KEM: the ciphertext of a
    fresh secret encapsulated to the requester's encapsulation key, and that secret.

    Raises:
        DecodeError: a malformed peer value.
    """
    if negotiated.kem_alg:
        return kem_encapsulate(negotiated.kem_alg, peer)
    dhe = generate_dhe_key(negotiated.dhe_group)
    return dhe.public_bytes(), dhe.shared_secret(peer)


def key_exchange(conn: Connection, request: KeyExchange) -> bytes:
    """Answer KEY_EXCHANGE_RSP and enter the handshake (PROTOCOLS.md §3.8, §5.4).

    Raises:
        RemoteProtocolError: InvalidRequest for an unprovisioned slot, a bad
            summary type, a malformed DHE share or opaque data; SessionLimitExceeded.
    """
    negotiated = conn.session
    chain = conn.slot_chain(request.slot_id, signing_for=RequestCode.KEY_EXCHANGE)
    _check_summary(conn, request.measurement_summary_hash_type)
    session = _new_session(conn, request.req_session_id, psk=False, opaque=request.opaque_data)
    try:
        exchange_data, secret = _key_exchange_data(negotiated, request.exchange_data)
    except DecodeError as exc:
        raise invalid_request(f"KEY_EXCHANGE ExchangeData: {exc}") from exc
    ctx = negotiated.codec(measurement_summary=bool(request.measurement_summary_hash_type))
    size = ctx.hash_size
    if conn.config.mutual_auth and negotiated.both(CapabilityFlags.MUT_AUTH_CAP) and negotiated.both(
            CapabilityFlags.ENCAP_CAP):
        session.mut_auth = MUT_AUTH_ENCAPSULATED
    response = KeyExchangeRsp(
        spdm_version=negotiated.version,
        heartbeat_period=session.heartbeat_period,
        rsp_session_id=session.session_id >> 16,
        mut_auth_requested=session.mut_auth,
        random_data=conn.rng(RANDOM_DATA_SIZE),
        exchange_data=exchange_data,
        measurement_summary_hash=measurement_summary_hash(conn, request.measurement_summary_hash_type),
        opaque_data=encode_opaque(negotiated.version, [version_selection_element(session.secured_version)]),
        signature=bytes(negotiated.signature_size),
        responder_verify_data=b"" if session.handshake_in_the_clear else bytes(size),
    ).encode(ctx)
    unsigned = response[: len(response) - negotiated.signature_size
                        - (0 if session.handshake_in_the_clear else size)]
    signed = session.begin_th(bytes(conn.transcript.a), request.raw, unsigned, cert_chain=chain,
                              digests=conn.digests if negotiated.multi_key else b"")
    signature = conn.sign(request.slot_id, KEY_EXCHANGE_RSP_CONTEXT, signed)
    session.add_th(signature)
    session.start_handshake(secret)
    verify_data = b""
    if not session.handshake_in_the_clear:
        verify_data = session.add_response_verify_data()
    conn.sessions[session.session_id] = session
    conn.handshaking = session
    conn.encap = EncapState(session=session) if session.mut_auth else None
    logger.debug("session 0x%08x: handshake started", session.session_id)
    return unsigned + signature + verify_data


def finish(conn: Connection, request: Finish) -> bytes:
    """Check FINISH's verify data and establish the session.

    Raises:
        RemoteProtocolError: UnexpectedRequest outside a KEY_EXCHANGE handshake
            (or inside another session; which way FINISH must travel the
            dispatcher checks), DecryptError when the verify data is wrong
            (the session is then gone).
    """
    session = conn.handshaking
    if session is None or session.psk:
        raise _unexpected("FINISH without a KEY_EXCHANGE handshake")
    if not session.handshake_in_the_clear and conn.current_session is not session:
        raise _unexpected("FINISH inside another session than the one in its handshake")
    if bool(request.attributes & 1) != bool(session.mut_auth):
        raise invalid_request("FINISH carries a signature exactly when mutual authentication was asked")
    if session.mut_auth:
        _check_requester_signature(conn, session, request)
    else:
        session.add_th(request.raw[: len(request.raw) - len(request.requester_verify_data)])
    _check_verify_data(conn, session, request.requester_verify_data, "FINISH")
    header = FinishRsp(spdm_version=session.version, opaque_data=_finish_rsp_opaque(conn, session)).encode()
    session.add_th(header)
    verify_data = b""
    if session.handshake_in_the_clear:
        verify_data = session.add_response_verify_data()
    _establish(conn, session)
    return header + verify_data


def _check_requester_signature(conn: Connection, session: Session, request: Finish) -> None:
    """Mutual authentication: FINISH is signed over TH || [D_encap] || Hash(CM) || header.

    Raises:
        RemoteProtocolError: UnexpectedRequest before the encapsulated flow
            delivered a trusted chain; DecryptError for a bad signature (the
            session is then gone).
    """
    negotiated = conn.session
    state = conn.encap
    if state is None or state.validated is None:
        raise _unexpected("FINISH before the requester's certificate chain was delivered")
    if request.req_slot_id != state.slot_id:
        raise invalid_request(f"FINISH names requester slot {request.req_slot_id}, "
                              f"slot {state.slot_id} was delivered")
    assert request.signature is not None
    # Signed: FINISH up to its signature, the header and (1.4) the opaque data.
    unsigned = request.raw[:len(request.raw) - len(request.signature) - len(request.requester_verify_data)]
    signed = session.add_requester_identity(state.digests if negotiated.multi_key_req else b"",
                                            state.validated.raw, unsigned)
    try:
        verify(state.validated.leaf.public_key(), negotiated.req_signing_alg, negotiated.hash_alg,
               negotiated.version, FINISH_CONTEXT, signed, request.signature)
    except VerificationError as exc:
        _abandon(conn, session)
        raise _decrypt_error(f"FINISH signature: {exc}") from exc
    session.add_th(request.signature)
    conn.encap = None


def psk_exchange(conn: Connection, request: PskExchange) -> bytes:
    """Answer PSK_EXCHANGE_RSP; without a responder context the session is up at once.

    Raises:
        RemoteProtocolError: InvalidRequest for an unknown PSK hint, a bad
            summary type or opaque data; SessionLimitExceeded.
    """
    negotiated = conn.session
    _check_summary(conn, request.measurement_summary_hash_type)
    psk = conn.backend.psk(request.psk_hint)
    if psk is None:
        hint = request.psk_hint.hex() or "(empty)"
        raise invalid_request(f"no PSK for the hint {hint} (hints match byte for byte)")
    session = _new_session(conn, request.req_session_id, psk=True, opaque=request.opaque_data)
    with_context = bool(conn.responder_flags & CapabilityFlags.PSK_CAP_WITH_CONTEXT)
    ctx = negotiated.codec(measurement_summary=bool(request.measurement_summary_hash_type))
    response = PskExchangeRsp(
        spdm_version=negotiated.version,
        heartbeat_period=session.heartbeat_period,
        rsp_session_id=session.session_id >> 16,
        measurement_summary_hash=measurement_summary_hash(conn, request.measurement_summary_hash_type),
        responder_context=conn.rng(negotiated.hash_size) if with_context else b"",
        opaque_data=encode_opaque(negotiated.version, [version_selection_element(session.secured_version)]),
        responder_verify_data=bytes(negotiated.hash_size),
    ).encode(ctx)
    unsigned = response[: len(response) - negotiated.hash_size]
    session.begin_th(bytes(conn.transcript.a), request.raw, unsigned)
    session.start_handshake(psk)
    verify_data = session.add_response_verify_data()
    conn.sessions[session.session_id] = session
    if with_context:
        conn.handshaking = session
    else:
        _establish(conn, session)
    return unsigned + verify_data


def psk_finish(conn: Connection, request: PskFinish) -> bytes:
    """Check PSK_FINISH's verify data and establish the session.

    Raises:
        RemoteProtocolError: UnexpectedRequest outside a PSK handshake,
            DecryptError for wrong verify data (the session is then gone).
    """
    session = conn.handshaking
    if session is None or not session.psk or conn.current_session is not session:
        raise _unexpected("PSK_FINISH outside a PSK handshake")
    session.add_th(request.raw[: len(request.raw) - len(request.requester_verify_data)])
    _check_verify_data(conn, session, request.requester_verify_data, "PSK_FINISH")
    response = PskFinishRsp(spdm_version=session.version,
                            opaque_data=_finish_rsp_opaque(conn, session)).encode()
    session.add_th(response)
    _establish(conn, session)
    return response


def _finish_rsp_opaque(conn: Connection, session: Session) -> bytes:
    """The configured FINISH_RSP / PSK_FINISH_RSP OpaqueData from 1.4 on (the field does not exist before).

    Decided: the content is the device's choice and not interpreted on either
    side (DSP0277 defines no FINISH element); the transcript covers it.
    """
    return conn.config.finish_rsp_opaque_data if session.version >= SpdmVersion.V14 else b""


def _check_verify_data(conn: Connection, session: Session, received: bytes, what: str) -> None:
    """The requester's verify data must verify; a wrong one ends the handshake (DecryptError)."""
    try:
        session.check_request_verify_data(received, what=what)
    except VerificationError as exc:
        _abandon(conn, session)
        raise _decrypt_error(str(exc)) from exc


def _establish(conn: Connection, session: Session) -> None:
    session.establish()
    conn.handshaking = None
    logger.info("session 0x%08x established", session.session_id)


def _abandon(conn: Connection, session: Session) -> None:
    """A failed handshake leaves no session behind (its keys are forgotten after this answer)."""
    conn.handshaking = None
    conn.encap = None
    conn.sessions.pop(session.session_id, None)
    conn.ending.append(session)


def _established(conn: Connection, what: str) -> Session:
    session = conn.current_session
    if session is None or session.phase != SessionPhase.ESTABLISHED:
        raise _unexpected(f"{what} is only legal inside an established session")
    return session


def heartbeat(conn: Connection, request: Heartbeat) -> bytes:
    """HEARTBEAT_ACK."""
    session = _established(conn, "HEARTBEAT")
    return HeartbeatAck(spdm_version=session.version).encode()


def key_update(conn: Connection, request: KeyUpdate) -> bytes:
    """Apply a key update and acknowledge it (PROTOCOLS.md §3.11).

    UpdateKey renews the request direction; UpdateAllKeys both (the ACK is
    then sealed with the new response key); VerifyNewKey arrives under the
    new request key and changes nothing.

    Raises:
        RemoteProtocolError: InvalidRequest for an unknown operation.
    """
    session = _established(conn, "KEY_UPDATE")
    operation = request.key_operation
    if operation not in (UPDATE_KEY, UPDATE_ALL_KEYS, VERIFY_NEW_KEY):
        raise invalid_request(f"KEY_UPDATE operation {operation}")
    if operation != VERIFY_NEW_KEY:
        keys = session.current_keys()
        keys.update(both=operation == UPDATE_ALL_KEYS)
        keys.commit_update()
    return KeyUpdateAck(spdm_version=session.version, key_operation=operation,
                        tag=request.tag).encode()


def end_session(conn: Connection, request: EndSession) -> bytes:
    """END_SESSION_ACK; the session's keys go once the ACK is sealed."""
    session = _established(conn, "END_SESSION")
    conn.sessions.pop(session.session_id, None)
    conn.ending.append(session)
    return EndSessionAck(spdm_version=session.version).encode()
