"""Requester commands and checks for secure sessions.

KEY_EXCHANGE (then FINISH, queued by the engine), PSK_EXCHANGE (then
PSK_FINISH when the responder uses a context), HEARTBEAT, KEY_UPDATE (with
the VerifyNewKey that follows) and END_SESSION.  The session transcript and
key switches are :class:`spdm.session.Session`'s; this module decides what to
send and checks what comes back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..crypto import generate_dhe_key, generate_kem_key, verify
from ..errors import LocalProtocolError, RemoteProtocolError, VerificationError
from ..messages import CodecContext
from ..messages.codes import CapabilityFlags, MeasurementSummaryHashType, RequestCode
from ..negotiation import Negotiated
from ..secured import SequenceExhausted
from ..session import (
    KEY_EXCHANGE_RSP_CONTEXT,
    MAX_SESSIONS,
    Session,
    session_id_of,
)
from ..slot_keys import check_key_usage
from ..state import KeyUpdateOperation
from .encap import EncapCommands

if TYPE_CHECKING:
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

__all__ = ["RANDOM_DATA_SIZE", "SessionCommands"]

RANDOM_DATA_SIZE = 32



class SessionCommands(EncapCommands):
    """Open, use, refresh and close secure sessions."""

    # ------------------------------------------------------------------ opening

    def key_exchange(
        self,
        slot_id: int = 0,
        summary: MeasurementSummaryHashType = MeasurementSummaryHashType.NONE,
        *,
        session_policy: int = 0,
    ) -> None:
        """Queue KEY_EXCHANGE; FINISH follows by itself and ends in :class:`SessionEstablished`.

        Args:
            slot_id: the responder's certificate slot that signs (its chain must
                have been retrieved).
            summary: which measurement summary hash to ask for.
            session_policy: SessionPolicy (1.2+; b0 = end the session on a
                runtime firmware update).
        """
        from ..messages import KeyExchange
        negotiated = self._session_prerequisites(RequestCode.KEY_EXCHANGE, CapabilityFlags.KEY_EX_CAP)
        if slot_id not in self.chains:
            raise LocalProtocolError(f"KEY_EXCHANGE slot {slot_id}: retrieve its certificate chain first")
        check_key_usage(negotiated, self.slot_keys, slot_id, RequestCode.KEY_EXCHANGE)
        if not (negotiated.dhe_group or negotiated.kem_alg):
            raise LocalProtocolError("KEY_EXCHANGE needs a negotiated DHE group or KEM")
        # With a 1.4 KEM our ExchangeData is the encapsulation key and the response's the
        # ciphertext we decapsulate: the same two calls as a DHE key's.
        dhe = (generate_kem_key(negotiated.kem_alg) if negotiated.kem_alg
               else generate_dhe_key(negotiated.dhe_group))
        request = KeyExchange(
            spdm_version=negotiated.version,
            measurement_summary_hash_type=MeasurementSummaryHashType(summary),
            slot_id=slot_id,
            req_session_id=self._free_half_id(),
            session_policy=session_policy,
            random_data=self._random(RANDOM_DATA_SIZE),
            exchange_data=dhe.public_bytes(),
            opaque_data=_versions_offer(negotiated.version),
        )
        self._handshake.machine.advance(RequestCode.KEY_EXCHANGE)
        self._handshake.dhe = dhe
        self._send(request)

    def psk_exchange(
        self,
        psk: bytes,
        psk_hint: bytes = b"",
        *,
        summary: MeasurementSummaryHashType = MeasurementSummaryHashType.NONE,
        session_policy: int = 0,
    ) -> None:
        """Queue PSK_EXCHANGE (PSK_FINISH follows when the responder uses a context).

        Args:
            psk: the pre-shared key; held only until the handshake secret is derived.
            psk_hint: tells the responder which PSK to use.
            summary: which measurement summary hash to ask for.
            session_policy: SessionPolicy (1.2+).
        """
        from ..messages import PskExchange
        negotiated = self._session_prerequisites(RequestCode.PSK_EXCHANGE, CapabilityFlags.PSK_CAP)
        if not psk:
            raise LocalProtocolError("an empty PSK cannot key a session")
        request = PskExchange(
            spdm_version=negotiated.version,
            measurement_summary_hash_type=MeasurementSummaryHashType(summary),
            session_policy=session_policy,
            req_session_id=self._free_half_id(),
            psk_hint=psk_hint,
            requester_context=self._random(negotiated.hash_size),
            opaque_data=_versions_offer(negotiated.version),
        )
        self._handshake.machine.advance(RequestCode.PSK_EXCHANGE)
        self._handshake.psk = psk
        self._send(request)

    def _session_prerequisites(self, code: RequestCode, cap: CapabilityFlags) -> Negotiated:
        negotiated = self._need_negotiated(code)
        if negotiated.version < 0x11:
            raise LocalProtocolError("secure sessions need SPDM 1.1 or later")
        flags = CapabilityFlags.PSK_CAP | CapabilityFlags.PSK_CAP_WITH_CONTEXT
        responder_has = negotiated.responder_flags & (flags if cap == CapabilityFlags.PSK_CAP else cap)
        if not responder_has or not negotiated.requester_flags & cap:
            raise LocalProtocolError(f"{code.name}: both sides must advertise {cap.name}")
        if not negotiated.aead_suite:
            raise LocalProtocolError(f"{code.name} needs a negotiated AEAD suite")
        if len(self.sessions) >= MAX_SESSIONS:
            raise LocalProtocolError(f"already {len(self.sessions)} sessions open")
        return negotiated

    def _free_half_id(self) -> int:
        """ReqSessionID: from 0xFFFF downwards, as libspdm allocates (first session 0xFFFF)."""
        used = {sid & 0xFFFF for sid in self.sessions}
        return next(h for h in range(0xFFFF, 0, -1) if h not in used)

    def _new_session(self, negotiated: Negotiated, session_id: int, *, psk: bool,
                     heartbeat: int, mut_auth: int, opaque: bytes) -> Session:
        if session_id in self.sessions:
            raise RemoteProtocolError(f"the responder reused session ID 0x{session_id:08x}")
        from ..messages.opaque import SECURED_MESSAGE_VERSIONS, decode_opaque, parse_version_selection

        selected = parse_version_selection(decode_opaque(opaque, negotiated.version))
        if selected is None or selected not in SECURED_MESSAGE_VERSIONS:
            raise RemoteProtocolError(
                f"the responder selected secured-message version {selected!r}, "
                f"not one of the offered {[f'0x{v:04x}' for v in SECURED_MESSAGE_VERSIONS]}"
            )
        return Session(
            session_id=session_id,
            version=negotiated.version,
            hash_alg=negotiated.hash_alg,
            aead=negotiated.aead_suite,
            psk=psk,
            handshake_in_the_clear=not psk and negotiated.both(
                CapabilityFlags.HANDSHAKE_IN_THE_CLEAR_CAP),
            mac_only=not negotiated.both(CapabilityFlags.ENCRYPT_CAP),
            mut_auth=mut_auth,
            heartbeat_period=heartbeat,
            secured_version=selected,
            record_format=self.record_format,
        )

    # KEY_EXCHANGE -----------------------------------------------------------------------

    def _on_key_exchange_rsp(self, request: KeyExchange, response: KeyExchangeRsp) -> None:
        negotiated = self.negotiated
        dhe = self._handshake.dhe
        assert negotiated is not None and dhe is not None
        self._handshake.dhe = None
        session = self._new_session(
            negotiated, session_id_of(request.req_session_id, response.rsp_session_id), psk=False,
            heartbeat=response.heartbeat_period, mut_auth=response.mut_auth_requested,
            opaque=response.opaque_data,
        )
        chain = self.chains[request.slot_id]
        signature_at = len(response.raw) - len(response.responder_verify_data) - len(response.signature)
        signed = session.begin_th(bytes(self.transcript.a), request.raw, response.raw[:signature_at],
                                  digests=self._digests_raw if negotiated.multi_key else b"",
                                  cert_chain=chain.raw)
        verify(chain.leaf.public_key(), negotiated.signing_alg, negotiated.hash_alg, negotiated.version,
               KEY_EXCHANGE_RSP_CONTEXT, signed, response.signature)
        session.add_th(response.signature)
        session.start_handshake(dhe.shared_secret(response.exchange_data))
        if not session.handshake_in_the_clear:
            session.check_response_verify_data(response.responder_verify_data, what="KEY_EXCHANGE_RSP")
        self.sessions[session.session_id] = session
        self._handshake.measurement_summary = response.measurement_summary_hash
        if session.mut_auth:
            self._start_mutual_auth(negotiated, session, session.mut_auth, response.req_slot_id)
        else:
            self._finish(negotiated, session)

    def _on_finish_rsp(self, request: Finish, response: FinishRsp) -> None:
        session = self._handshake.session
        assert session is not None
        if session.handshake_in_the_clear:
            session.add_th(response.raw[: len(response.raw) - len(response.responder_verify_data)])
            try:
                session.check_response_verify_data(response.responder_verify_data)
            except VerificationError:
                self._drop_session(session)
                raise
        else:
            session.add_th(response.raw)
        self._established(session)

    def _established(self, session: Session) -> None:
        from ..events import SessionEstablished
        session.establish()
        self._events.append(SessionEstablished(
            session.session_id, psk=session.psk, heartbeat_period=session.heartbeat_period,
            secured_message_version=session.secured_version,
            measurement_summary_hash=self._handshake.measurement_summary,
            mutual_auth=session.mut_auth,
        ))
        self._handshake.end()

    # PSK_EXCHANGE -----------------------------------------------------------------------

    def _on_psk_exchange_rsp(self, request: PskExchange, response: PskExchangeRsp) -> None:
        from ..messages import PskFinish
        negotiated = self.negotiated
        psk = self._handshake.psk
        assert negotiated is not None and psk is not None
        self._handshake.psk = None
        session = self._new_session(
            negotiated, session_id_of(request.req_session_id, response.rsp_session_id), psk=True,
            heartbeat=response.heartbeat_period, mut_auth=0, opaque=response.opaque_data,
        )
        with_context = bool(negotiated.responder_flags & CapabilityFlags.PSK_CAP_WITH_CONTEXT)
        if with_context != bool(response.responder_context):
            raise RemoteProtocolError(
                "PSK_EXCHANGE_RSP ResponderContext must be present exactly when the responder "
                "advertises PSK with context"
            )
        session.begin_th(bytes(self.transcript.a), request.raw,
                         response.raw[: len(response.raw) - len(response.responder_verify_data)])
        session.start_handshake(psk)
        session.check_response_verify_data(response.responder_verify_data, what="PSK_EXCHANGE_RSP")
        self.sessions[session.session_id] = session
        self._handshake.measurement_summary = response.measurement_summary_hash
        if not with_context:
            self._established(session)  # PSK without context: no PSK_FINISH (PROTOCOLS.md §3.10)
            return
        self._handshake.session = session
        self._handshake.machine.advance(RequestCode.PSK_FINISH)
        opaque = self._identity.finish_opaque(negotiated)
        if opaque is None:
            return  # a follower adopts the PSK_FINISH that was sent, its header and opaque data
        session.add_th(PskFinish(spdm_version=negotiated.version, opaque_data=opaque).encode(CodecContext()))
        verify_data = self._identity.verify_data(session)
        if verify_data is None:
            return
        self._begin(RequestCode.PSK_FINISH)
        self._send(PskFinish(spdm_version=negotiated.version, opaque_data=opaque,
                             requester_verify_data=verify_data), session=session)

    def _on_psk_finish_rsp(self, request: PskFinish, response: PskFinishRsp) -> None:
        session = self._handshake.session
        assert session is not None
        session.add_th(response.raw)
        self._established(session)

    # ------------------------------------------------------------------ using

    def heartbeat(self, session_id: int) -> None:
        """Queue HEARTBEAT in a session."""
        from ..messages import Heartbeat
        session = self._session_for(RequestCode.HEARTBEAT, session_id, CapabilityFlags.HBEAT_CAP)
        self._send(Heartbeat(spdm_version=session.version), session=session)

    def key_update(self, session_id: int, *, all_keys: bool = False) -> None:
        """Queue KEY_UPDATE (UpdateKey, or UpdateAllKeys); VerifyNewKey follows by itself.

        The request goes under the old request key; for UpdateAllKeys the ACK
        is expected under the new response key; the new request key is used
        from VerifyNewKey on (PROTOCOLS.md §3.11).
        """
        from ..messages import KeyUpdate
        session = self._session_for(RequestCode.KEY_UPDATE, session_id, CapabilityFlags.KEY_UPD_CAP)
        operation = KeyUpdateOperation.UPDATE_ALL_KEYS if all_keys else KeyUpdateOperation.UPDATE_KEY
        tag = self._random(1)[0]
        self._key_update.machine.advance(operation)
        try:
            self._send(KeyUpdate(spdm_version=session.version, key_operation=operation, tag=tag),
                       session=session)
        except SequenceExhausted:
            self._key_update.end()
            raise
        session.current_keys().update(both=all_keys)

    def end_session(self, session_id: int, *, clear_negotiated_state: bool = False) -> None:
        """Queue END_SESSION; the keys are forgotten when it is acknowledged."""
        from ..messages import EndSession
        session = self._session_for(RequestCode.END_SESSION, session_id)
        self._send(EndSession(spdm_version=session.version,
                              attributes=1 if clear_negotiated_state else 0), session=session)

    def _session_for(self, code: RequestCode, session_id: int,
                     cap: CapabilityFlags | None = None) -> Session:
        negotiated = self._need_negotiated(code)
        session = self._established_session(session_id)
        assert session is not None  # a SessionID was given
        if cap and not negotiated.both(cap):
            raise LocalProtocolError(f"{code.name}: both sides must advertise {cap.name}")
        return session

    def _on_heartbeat_ack(self, request: Heartbeat, response: HeartbeatAck) -> None:
        from ..events import HeartbeatAcknowledged
        session = self._answered_session
        assert session is not None
        self._events.append(HeartbeatAcknowledged(session.session_id))

    def _on_key_update_ack(self, request: KeyUpdate, response: KeyUpdateAck) -> None:
        from ..events import KeyUpdated
        from ..messages import KeyUpdate
        session = self._answered_session
        assert session is not None
        keys = session.current_keys()
        if (response.key_operation, response.tag) != (request.key_operation, request.tag):
            keys.rollback_update()
            raise RemoteProtocolError(
                f"KEY_UPDATE_ACK echoes operation {response.key_operation} tag {response.tag}, "
                f"sent {request.key_operation} tag {request.tag}"
            )
        flow = self._key_update
        if request.key_operation == KeyUpdateOperation.VERIFY_NEW_KEY:
            flow.end()
            self._events.append(KeyUpdated(session.session_id, flow.all_keys))
            return
        keys.commit_update()
        flow.all_keys = request.key_operation == KeyUpdateOperation.UPDATE_ALL_KEYS
        flow.machine.advance(KeyUpdateOperation.VERIFY_NEW_KEY)
        self._send(KeyUpdate(spdm_version=session.version, key_operation=KeyUpdateOperation.VERIFY_NEW_KEY,
                             tag=self._random(1)[0]), session=session)

    def _on_end_session_ack(self, request: EndSession, response: EndSessionAck) -> None:
        from ..events import SessionEnded
        session = self._answered_session
        assert session is not None
        self._drop_session(session)
        self._events.append(SessionEnded(session.session_id))


def _versions_offer(version: int) -> bytes:
    """KEY_EXCHANGE's / PSK_EXCHANGE's OpaqueData: the secured-message versions we speak.

    The opaque-data tables (construct) load with a process's first session,
    not with every requester.
    """
    from ..messages.opaque import encode_opaque, supported_versions_element

    return encode_opaque(version, [supported_versions_element()])
