"""Mutual authentication, requester side: the encapsulated-request flow and the signed FINISH.

When KEY_EXCHANGE_RSP asks for mutual authentication with encapsulated
requests (MutAuthRequested 0x02), the requester pulls the responder's
requests with GET_ENCAPSULATED_REQUEST, answers each (GET_DIGESTS,
GET_CERTIFICATE) from its own :class:`~spdm.backend.IdentityBackend` in
DELIVER_ENCAPSULATED_RESPONSE, and when the responder says it is done, signs
FINISH with its slot key.  MutAuthRequested 0x01 skips the encapsulated part.

What was delivered (the requester's DIGESTS and certificate chain) is tracked
from the DELIVER requests themselves, so a follower (``devsec dump``) that
adopts captured DELIVERs ends up with the same transcript as the live side.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from ..config import DEFAULT_DATA_TRANSFER_SIZE
from ..crypto import digest, parse_spdm_cert_chain, signature_size, verify
from ..errors import DecodeError, LocalProtocolError, RemoteProtocolError, SpdmErrorCode
from ..events import KeyUpdated, MutualAuthCompleted
from ..messages import (
    REQUEST_TYPES,
    Certificate,
    Challenge,
    ChallengeAuth,
    DeliverEncapsulatedResponse,
    Digests,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    ErrorResponse,
    Finish,
    GetCertificate,
    GetDigests,
    GetEncapsulatedRequest,
    KeyUpdate,
    KeyUpdateAck,
    Message,
    peek_code,
)
from ..messages.codes import RequestCode, ResponseCode
from ..negotiation import Negotiated
from ..session import FINISH_CONTEXT, Session, SessionPhase
from ..slots import certificate_portion, digests_of, provisioned_chains
from .core import RequesterCore

REQUESTER_CHALLENGE_CONTEXT = "requester-challenge_auth signing"
MUT_AUTH_FINISH_ONLY = 0x01
MUT_AUTH_ENCAPSULATED = 0x02
_PAYLOAD_NONE, _PAYLOAD_REQUEST, _PAYLOAD_SLOT = 0, 1, 2
_UPDATE_KEY, _VERIFY_NEW_KEY = 1, 3
_MAX_ENCAPSULATED = 16
"""Encapsulated requests one flow may carry before the requester calls it a loop."""


class EncapCommands(RequesterCore):
    """Answer the responder's encapsulated requests and sign FINISH."""

    _HANDLERS: ClassVar[dict[int, tuple[type[Message], str]]] = {
        RequestCode.GET_ENCAPSULATED_REQUEST: (EncapsulatedRequest, "_on_encapsulated_request"),
        RequestCode.DELIVER_ENCAPSULATED_RESPONSE: (
            EncapsulatedResponseAck, "_on_encapsulated_response_ack"),
    }

    def _start_basic_mutual_auth(self, negotiated: Negotiated) -> None:
        """CHALLENGE_AUTH set BasicMutAuthReq: answer the responder's encapsulated
        GET_DIGESTS, GET_CERTIFICATE and CHALLENGE in the clear (1.1 basic mutual auth).

        A requester without an identity leaves the request unanswered: it did
        not offer MUT_AUTH_CAP, so a conforming responder does not ask.
        """
        if self._backend is None and not self._passive:
            return
        self._reset_encap(None, 0)
        self._begin(RequestCode.GET_ENCAPSULATED_REQUEST)
        self._send(GetEncapsulatedRequest(spdm_version=negotiated.version))

    def _reset_encap(self, session: Session | None, slot: int) -> None:
        self._encap_session = session
        self._encap_basic = session is None
        self._encap_slot = slot
        self._encap_count = 0
        self._delivered_digests = b""
        self._delivered_chain = bytearray()
        self._mut_b = bytearray()

    def _start_mutual_auth(self, negotiated: Negotiated, session: Session, mode: int,
                           req_slot_id: int) -> None:
        """Begin what MutAuthRequested asks for, after KEY_EXCHANGE_RSP."""
        if mode not in (MUT_AUTH_FINISH_ONLY, MUT_AUTH_ENCAPSULATED):
            raise RemoteProtocolError(f"MutAuthRequested 0x{mode:02x} is not supported")
        if self._backend is None and not self._passive:
            raise RemoteProtocolError(
                "the responder asks for mutual authentication, but this requester has no identity")
        self._reset_encap(session, req_slot_id)
        if mode == MUT_AUTH_FINISH_ONLY:
            self._finish(negotiated, session)
            return
        self._begin(RequestCode.GET_ENCAPSULATED_REQUEST)
        self._send(GetEncapsulatedRequest(spdm_version=negotiated.version),
                   session=self._handshake_carrier(session))

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
        self._reset_encap(session, 0)
        self._send(GetEncapsulatedRequest(spdm_version=negotiated.version), session=session)

    # ------------------------------------------------------------------ the flow

    def _on_encapsulated_request(self, request: Message, response: Message) -> None:
        assert isinstance(response, EncapsulatedRequest)
        self._deliver(response.request_id, response.encapsulated_request)

    def _deliver(self, request_id: int, inner: bytes) -> None:
        session = self._encap_session
        self._encap_count += 1
        if self._encap_count > _MAX_ENCAPSULATED:
            raise RemoteProtocolError(f"more than {_MAX_ENCAPSULATED} encapsulated requests")
        self._encap_inner = inner
        negotiated = self.negotiated
        assert negotiated is not None
        answer = b"" if self._passive else self._answer_encapsulated(negotiated, inner)
        if session is not None and session.phase == SessionPhase.ESTABLISHED:
            self._apply_encapsulated_key_update(negotiated, session, inner)
        self._begin(RequestCode.DELIVER_ENCAPSULATED_RESPONSE)
        self._send(DeliverEncapsulatedResponse(spdm_version=negotiated.version,
                                               request_id=request_id, encapsulated_response=answer),
                   session=self._handshake_carrier(session))

    def _on_encapsulated_response_ack(self, request: Message, response: Message) -> None:
        assert isinstance(request, DeliverEncapsulatedResponse)
        assert isinstance(response, EncapsulatedResponseAck)
        self._note_delivered(request.encapsulated_response)
        if response.payload_type == _PAYLOAD_REQUEST:
            self._deliver(response.request_id, response.encapsulated_request)
            return
        if response.payload_type == _PAYLOAD_SLOT:
            if not response.encapsulated_request:
                raise RemoteProtocolError("ENCAPSULATED_RESPONSE_ACK names no requester slot")
            self._encap_slot = response.encapsulated_request[0] & 0x0F
        elif response.payload_type != _PAYLOAD_NONE:
            raise RemoteProtocolError(f"ENCAPSULATED_RESPONSE_ACK payload type {response.payload_type}")
        session = self._encap_session
        negotiated = self.negotiated
        assert negotiated is not None
        if session is None:
            self._events.append(MutualAuthCompleted(None))  # basic mutual auth: nothing follows
            return
        if session.phase == SessionPhase.ESTABLISHED:
            self._events.append(KeyUpdated(session.session_id, False, responder_initiated=True))
            return
        self._finish(negotiated, session)

    def _note_delivered(self, inner_response: bytes) -> None:
        """Keep what the transcript needs of a delivered answer (our DIGESTS, our chain)."""
        negotiated = self.negotiated
        assert negotiated is not None
        _, code = peek_code(inner_response)
        if code == ResponseCode.DIGESTS:
            digests = Digests.decode(inner_response, negotiated.codec(), padded=True)
            self._delivered_digests = digests.raw
            self._mut_b += self._encap_inner + digests.raw
        elif code == ResponseCode.CERTIFICATE:
            portion = Certificate.decode(inner_response, padded=True)
            self._delivered_chain += portion.cert_chain
            self._mut_b += self._encap_inner + portion.raw
        elif code == ResponseCode.CHALLENGE_AUTH and self._passive:
            self._check_captured_challenge_auth(negotiated, inner_response)

    # ------------------------------------------------------------------ answering

    def _answer_encapsulated(self, negotiated: Negotiated, inner: bytes) -> bytes:
        """Our answer to one encapsulated request (ERROR for what a host does not serve)."""
        hash_alg = negotiated.hash_alg
        try:
            _, code = peek_code(inner)
            request_type = REQUEST_TYPES.get(code)
            if request_type is None:
                raise DecodeError(f"encapsulated request 0x{code:02x}")
            request = request_type.decode(inner, negotiated.codec(), padded=True)
        except DecodeError as exc:
            return _error(negotiated, SpdmErrorCode.INVALID_REQUEST, 0, str(exc))
        if isinstance(request, KeyUpdate) and self._encap_session is not None:
            if request.key_operation not in (_UPDATE_KEY, _VERIFY_NEW_KEY):
                return _error(negotiated, SpdmErrorCode.INVALID_REQUEST, 0, "only UpdateKey")
            return KeyUpdateAck(spdm_version=negotiated.version, key_operation=request.key_operation,
                                tag=request.tag).encode()
        backend = self._backend
        if backend is None:
            return _error(negotiated, SpdmErrorCode.UNSUPPORTED_REQUEST, code, "no requester identity")
        chains = provisioned_chains(backend, hash_alg)
        if isinstance(request, GetDigests):
            return digests_of(negotiated.version, hash_alg, chains).encode(negotiated.codec())
        if isinstance(request, GetCertificate):
            chain = chains.get(request.slot_id)
            if chain is None or request.offset >= len(chain):
                return _error(negotiated, SpdmErrorCode.INVALID_REQUEST, 0, "no such chain portion")
            room = (negotiated.responder_data_transfer_size or DEFAULT_DATA_TRANSFER_SIZE) - 8
            return certificate_portion(negotiated.version, request.slot_id, chain, request.offset,
                                       min(request.length, room)).encode()
        if isinstance(request, Challenge) and request.slot_id in chains:
            return self._sign_challenge_auth(negotiated, request, chains, inner)
        return _error(negotiated, SpdmErrorCode.UNSUPPORTED_REQUEST, code,
                      "the requester serves GET_DIGESTS, GET_CERTIFICATE and CHALLENGE")

    @staticmethod
    def _apply_encapsulated_key_update(negotiated: Negotiated, session: Session, inner: bytes) -> None:
        """A responder-initiated UpdateKey moves the response direction as our ACK goes out."""
        try:
            request = KeyUpdate.decode(inner, negotiated.codec(), padded=True)
        except DecodeError:
            return  # not a KEY_UPDATE: nothing to switch (the answer said so)
        if request.key_operation == _UPDATE_KEY:
            session.current_keys().update_response()

    # ------------------------------------------------------------------ basic mutual auth

    def _m2(self, negotiated: Negotiated, challenge: bytes, unsigned: bytes) -> bytes:
        """M2 = [A if 1.2+] || mut_B || CHALLENGE || CHALLENGE_AUTH without signature."""
        a = bytes(self.transcript.a) if negotiated.version >= 0x12 else b""
        return a + bytes(self._mut_b) + challenge + unsigned

    def _sign_challenge_auth(self, negotiated: Negotiated, request: Challenge,
                             chains: dict[int, bytes], inner: bytes) -> bytes:
        backend = self._backend
        assert backend is not None
        chain = chains[request.slot_id]
        ctx = replace(negotiated.codec(), signature_size=0)
        unsigned = ChallengeAuth(
            spdm_version=negotiated.version, attributes=request.slot_id,
            slot_mask=sum(1 << slot for slot in chains),
            cert_chain_hash=digest(negotiated.hash_alg, chain), nonce=self._random(32),
            requester_context=request.requester_context,
        ).encode(ctx)
        signature = backend.sign(request.slot_id, negotiated.hash_alg, negotiated.version,
                                 REQUESTER_CHALLENGE_CONTEXT,
                                 self._m2(negotiated, request.raw or inner, unsigned))
        return unsigned + signature

    def _check_captured_challenge_auth(self, negotiated: Negotiated, answer: bytes) -> None:
        """A follower verifies the requester's CHALLENGE_AUTH over M2 with the delivered chain."""
        size = signature_size(negotiated.req_asym_alg)
        response = ChallengeAuth.decode(answer, replace(negotiated.codec(), signature_size=size),
                                        padded=True)
        chain = parse_spdm_cert_chain(bytes(self._delivered_chain), negotiated.hash_alg)
        unsigned = response.raw[: len(response.raw) - size]
        transcript = self._m2(negotiated, self._encap_inner, unsigned)
        verify(chain.leaf.public_key(), negotiated.req_asym_alg, negotiated.hash_alg,
               negotiated.version, REQUESTER_CHALLENGE_CONTEXT, transcript, response.signature)

    # ------------------------------------------------------------------ FINISH

    def _finish(self, negotiated: Negotiated, session: Session) -> None:
        """Queue FINISH: signed when the responder asked for mutual authentication."""
        self._finishing = session
        if session.mut_auth:
            request = self._sign_finish(negotiated, session)
            if self._passive:
                return  # a follower waits for the captured FINISH (check_captured_finish)
        else:
            session.th += Finish(spdm_version=negotiated.version).encode(
                replace(negotiated.codec(), hash_size=0))
            request = Finish(spdm_version=negotiated.version,
                             requester_verify_data=session.add_request_verify_data())
        self._begin(RequestCode.FINISH)
        self._send(request, session=self._handshake_carrier(session))

    def _sign_finish(self, negotiated: Negotiated, session: Session) -> Finish:
        """FINISH carrying the requester's signature over TH (mutual authentication).

        The transcript gains [D_encap] || Hash(CM) before the FINISH header
        (PROTOCOLS.md §5.4).
        """
        th = session.th
        chain = self._requester_chain(negotiated)
        if negotiated.multi_key:
            th += self._delivered_digests
        th += digest(negotiated.hash_alg, chain)
        header = Finish(spdm_version=negotiated.version, attributes=1,
                        req_slot_id=self._encap_slot, signature=b"")
        th += header.encode(replace(negotiated.codec(), hash_size=0, req_signature_size=0))
        if self._passive:
            return header  # the captured FINISH brings the signature (see adopt_finish)
        backend = self._backend
        assert backend is not None
        signature = backend.sign(self._encap_slot, negotiated.hash_alg, negotiated.version,
                                 FINISH_CONTEXT, bytes(th))
        th += signature
        return Finish(spdm_version=negotiated.version, attributes=1, req_slot_id=self._encap_slot,
                      signature=signature, requester_verify_data=session.add_request_verify_data())

    def _requester_chain(self, negotiated: Negotiated) -> bytes:
        if self._delivered_chain:
            return bytes(self._delivered_chain)
        backend = self._backend
        chain = None if backend is None else backend.certificate_chain(
            self._encap_slot, negotiated.hash_alg)
        if chain is None:
            raise LocalProtocolError(f"no requester certificate chain in slot {self._encap_slot}")
        return chain

    def check_captured_finish(self, finish: Finish) -> None:
        """A follower's check of a captured signed FINISH: signature, then verify data.

        Raises:
            VerificationError: the signature or the verify data does not verify.
        """
        session = self._finishing
        negotiated = self.negotiated
        assert session is not None and negotiated is not None and finish.signature is not None
        chain = parse_spdm_cert_chain(self._requester_chain(negotiated), negotiated.hash_alg)
        verify(chain.leaf.public_key(), negotiated.req_asym_alg, negotiated.hash_alg,
               negotiated.version, FINISH_CONTEXT, bytes(session.th), finish.signature)
        session.th += finish.signature
        session.check_request_verify_data(finish.requester_verify_data, what="captured FINISH")


def _error(negotiated: Negotiated, code: int, data: int, reason: str) -> bytes:
    del reason  # the answer carries only the code; the reason is for our own logs
    return ErrorResponse(spdm_version=negotiated.version, error_code=code, error_data=data).encode()
