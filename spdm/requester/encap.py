"""Mutual authentication, requester side: the encapsulated-request flow and the signed FINISH.

When KEY_EXCHANGE_RSP asks for mutual authentication with encapsulated
requests (MutAuthRequested 0x02), the requester pulls the responder's
requests with GET_ENCAPSULATED_REQUEST, answers each (GET_DIGESTS,
GET_CERTIFICATE) in DELIVER_ENCAPSULATED_RESPONSE, and when the responder says
it is done, signs FINISH with its slot key.  MutAuthRequested 0x01 skips the
encapsulated part.  The answers and signatures are the
:class:`~.identity.Identity`'s; this module runs the flow
(:class:`~.flows.EncapsulatedFlow`, :data:`spdm.state.ENCAPSULATED_TRANSITIONS`).

What was delivered (the requester's DIGESTS and certificate chain) is tracked
from the DELIVER requests themselves, so a follower (``devsec dump``) that
adopts captured DELIVERs ends up with the same transcript as the live side.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..errors import DecodeError, LocalProtocolError, RemoteProtocolError
from ..messages import Certificate, Digests, peek_code
from ..messages.codes import RequestCode, ResponseCode
from ..negotiation import Negotiated
from ..session import FINISH_CONTEXT, Session, SessionPhase
from ..state import KeyUpdateOperation
from .core import RequesterCore
from .event_receipt import delivered_events

if TYPE_CHECKING:
    from ..messages import (
        DeliverEncapsulatedResponse,
        EncapsulatedRequest,
        EncapsulatedResponseAck,
        GetEncapsulatedRequest,
    )

__all__ = ["MUT_AUTH_ENCAPSULATED", "MUT_AUTH_FINISH_ONLY", "EncapCommands"]

MUT_AUTH_FINISH_ONLY = 0x01
MUT_AUTH_ENCAPSULATED = 0x02
_PAYLOAD_NONE, _PAYLOAD_REQUEST, _PAYLOAD_SLOT = 0, 1, 2
_MAX_ENCAPSULATED = 16
"""Encapsulated requests one flow may carry before the requester calls it a loop."""


class EncapCommands(RequesterCore):
    """Answer the responder's encapsulated requests and sign FINISH."""

    def _start_basic_mutual_auth(self, negotiated: Negotiated) -> None:
        """CHALLENGE_AUTH set BasicMutAuthReq: answer the responder's encapsulated
        GET_DIGESTS, GET_CERTIFICATE and CHALLENGE in the clear (1.1 basic mutual auth).

        A requester without an identity leaves the request unanswered: it did
        not offer MUT_AUTH_CAP, so a conforming responder does not ask.
        """
        if not self._identity.can_authenticate:
            return
        self._encap.start(None, 0)
        self._pull(negotiated, None)

    def _start_mutual_auth(self, negotiated: Negotiated, session: Session, mode: int,
                           req_slot_id: int) -> None:
        """Begin what MutAuthRequested asks for, after KEY_EXCHANGE_RSP."""
        if mode not in (MUT_AUTH_FINISH_ONLY, MUT_AUTH_ENCAPSULATED):
            raise RemoteProtocolError(f"MutAuthRequested 0x{mode:02x} is not supported")
        if not self._identity.can_authenticate:
            raise RemoteProtocolError(
                "the responder asks for mutual authentication, but this requester has no identity")
        self._encap.start(session, req_slot_id)
        if mode == MUT_AUTH_FINISH_ONLY:
            self._finish(negotiated, session)
            return
        self._handshake.machine.advance(RequestCode.GET_ENCAPSULATED_REQUEST)
        self._pull(negotiated, self._handshake_carrier(session))

    def _pull(self, negotiated: Negotiated, carrier: Session | None) -> None:
        """Queue GET_ENCAPSULATED_REQUEST: the first step of every encapsulated flow."""
        from ..messages import GetEncapsulatedRequest
        self._begin(RequestCode.GET_ENCAPSULATED_REQUEST)
        self._encap.machine.advance(RequestCode.GET_ENCAPSULATED_REQUEST)
        self._send(GetEncapsulatedRequest(spdm_version=negotiated.version), session=carrier)

    @staticmethod
    def _handshake_carrier(session: Session | None) -> Session | None:
        """Handshake messages go sealed with the handshake keys unless in the clear;
        in an established session everything is sealed."""
        if session is None:
            return None
        if session.handshake_in_the_clear and session.phase != SessionPhase.ESTABLISHED:
            return None
        return session

    def poll_encapsulated(self, session_id: int) -> None:
        """Ask the responder whether it has a request for us in a session (GET_ENCAPSULATED_REQUEST).

        This is how a responder initiates a key update of its own direction:
        it answers with an encapsulated KEY_UPDATE, which the engine applies
        and acknowledges (then VerifyNewKey) and reports as :class:`KeyUpdated`
        with ``responder_initiated``.  With nothing pending the responder
        answers ERROR (NoPendingRequests from 1.3).
        """
        session = self._established_session(session_id)
        assert session is not None
        negotiated = self._need_negotiated(RequestCode.GET_ENCAPSULATED_REQUEST)
        self._encap.start(session, 0)
        self._pull(negotiated, session)

    # ------------------------------------------------------------------ the flow

    def _on_encapsulated_request(self, request: GetEncapsulatedRequest,
                                 response: EncapsulatedRequest) -> None:
        self._deliver(response.request_id, response.encapsulated_request)

    def _deliver(self, request_id: int, inner: bytes) -> None:
        from ..messages import DeliverEncapsulatedResponse
        flow = self._encap
        session = flow.session
        flow.count += 1
        if flow.count > _MAX_ENCAPSULATED:
            raise RemoteProtocolError(f"more than {_MAX_ENCAPSULATED} encapsulated requests")
        flow.inner = inner
        negotiated = self.negotiated
        assert negotiated is not None
        in_session = session is not None and session.phase == SessionPhase.ESTABLISHED
        answer = self._identity.answer_encapsulated(negotiated, inner, in_session=in_session,
                                                    m2_prefix=self._m2_prefix(negotiated))
        if in_session:
            assert session is not None
            self._apply_encapsulated_key_update(negotiated, session, inner)
        self._begin(RequestCode.DELIVER_ENCAPSULATED_RESPONSE)
        flow.machine.advance(RequestCode.DELIVER_ENCAPSULATED_RESPONSE)
        if self._handshake.machine.active:
            self._handshake.machine.advance(RequestCode.DELIVER_ENCAPSULATED_RESPONSE)
        self._send(DeliverEncapsulatedResponse(spdm_version=negotiated.version,
                                               request_id=request_id, encapsulated_response=answer),
                   session=self._handshake_carrier(session))

    def _m2_prefix(self, negotiated: Negotiated) -> bytes:
        """[A if 1.2+] || mut_B: what M2 holds before the encapsulated CHALLENGE exchange."""
        a = bytes(self.transcript.a) if negotiated.version >= 0x12 else b""
        return a + bytes(self._encap.mut_b)

    def _on_encapsulated_response_ack(self, request: DeliverEncapsulatedResponse,
                                      response: EncapsulatedResponseAck) -> None:
        from ..events import KeyUpdated, MutualAuthCompleted
        self._note_delivered(request.encapsulated_response)
        flow = self._encap
        if flow.session is not None:
            self._events.extend(delivered_events(flow.session.session_id, flow.inner,
                                                 request.encapsulated_response))
        if response.payload_type == _PAYLOAD_REQUEST:
            self._deliver(response.request_id, response.encapsulated_request)
            return
        if response.payload_type == _PAYLOAD_SLOT:
            if not response.encapsulated_request:
                raise RemoteProtocolError("ENCAPSULATED_RESPONSE_ACK names no requester slot")
            flow.slot_id = response.encapsulated_request[0] & 0x0F
        elif response.payload_type != _PAYLOAD_NONE:
            raise RemoteProtocolError(f"ENCAPSULATED_RESPONSE_ACK payload type {response.payload_type}")
        flow.end()
        session = flow.session
        negotiated = self.negotiated
        assert negotiated is not None
        if session is None:
            self._events.append(MutualAuthCompleted(None))  # basic mutual auth: nothing follows
            return
        if session.phase == SessionPhase.ESTABLISHED:
            # only a KEY_UPDATE moved keys: another request (1.3: GET_ENDPOINT_INFO) changed nothing
            if flow.inner[1:2] == bytes([RequestCode.KEY_UPDATE]):
                self._events.append(KeyUpdated(session.session_id, False, responder_initiated=True))
            return
        self._finish(negotiated, session)

    def _note_delivered(self, inner_response: bytes) -> None:
        """Keep what the transcript needs of a delivered answer (our DIGESTS, our chain)."""
        negotiated = self.negotiated
        assert negotiated is not None
        flow = self._encap
        _, code = peek_code(inner_response)
        if code == ResponseCode.DIGESTS:
            digests = Digests.decode(inner_response, replace(
                negotiated.codec(), multi_key=negotiated.multi_key_req), padded=True)
            flow.delivered_digests = digests.raw
            flow.mut_b += flow.inner + digests.raw
        elif code == ResponseCode.CERTIFICATE:
            portion = Certificate.decode(inner_response, padded=True)
            flow.delivered_chain += portion.cert_chain
            flow.mut_b += flow.inner + portion.raw

    @staticmethod
    def _apply_encapsulated_key_update(negotiated: Negotiated, session: Session, inner: bytes) -> None:
        """A responder-initiated UpdateKey moves the response direction as our ACK goes out."""
        from ..messages import KeyUpdate
        try:
            request = KeyUpdate.decode(inner, negotiated.codec(), padded=True)
        except DecodeError:
            return  # not a KEY_UPDATE: nothing to switch (the answer said so)
        if request.key_operation == KeyUpdateOperation.UPDATE_KEY:
            session.current_keys().update_response()

    # ------------------------------------------------------------------ FINISH

    def _finish(self, negotiated: Negotiated, session: Session) -> None:
        """Queue FINISH, signed when the responder asked for mutual authentication.

        With 1.4 it carries the identity's OpaqueData, which TH covers with the
        header.  When the identity produces no FINISH (a follower), nothing is
        queued and nothing enters TH: the FINISH that was really sent is
        adopted instead, with its own opaque data.
        """
        from ..messages import Finish
        # Our chain first: without one nothing may change (LocalProtocolError).
        chain = self._requester_chain(negotiated) if session.mut_auth else b""
        self._handshake.session = session
        self._handshake.machine.advance(RequestCode.FINISH)
        opaque = self._identity.finish_opaque(negotiated)
        if opaque is None:
            return
        signature: bytes | None = None
        if session.mut_auth:
            slot_id = self._encap.slot_id
            header = Finish(spdm_version=negotiated.version, attributes=1, req_slot_id=slot_id,
                            opaque_data=opaque, signature=b"").encode(
                replace(negotiated.codec(), hash_size=0, req_signature_size=0))
            signed = session.add_requester_identity(
                self._encap.delivered_digests if negotiated.multi_key_req else b"", chain, header)
            signature = self._identity.sign(negotiated, slot_id, FINISH_CONTEXT, signed)
            if signature is None:
                return
            session.add_th(signature)
        else:
            session.add_th(Finish(spdm_version=negotiated.version, opaque_data=opaque).encode(
                replace(negotiated.codec(), hash_size=0)))
        verify_data = self._identity.verify_data(session)
        if verify_data is None:
            return
        request = Finish(spdm_version=negotiated.version, attributes=1 if session.mut_auth else 0,
                         req_slot_id=self._encap.slot_id if session.mut_auth else 0, opaque_data=opaque,
                         signature=signature, requester_verify_data=verify_data)
        self._begin(RequestCode.FINISH)
        self._send(request, session=self._handshake_carrier(session))

    def _requester_chain(self, negotiated: Negotiated) -> bytes:
        """The requester's chain mutual authentication is about: as delivered, else our identity's.

        Raises:
            LocalProtocolError: there is none.
        """
        flow = self._encap
        if flow.delivered_chain:
            return bytes(flow.delivered_chain)
        chain = self._identity.requester_chain(flow.slot_id, negotiated.hash_alg)
        if chain is None:
            raise LocalProtocolError(f"no requester certificate chain in slot {flow.slot_id}")
        return chain
