"""Who speaks for the requester: what the engine sends that only the requester itself can produce.

The engine decides *what* to send; an :class:`Identity` produces the parts
that need the requester's own keys: sealing records, answering the
responder's encapsulated requests (mutual authentication, its key update),
signing FINISH, and the FINISH/PSK_FINISH verify data.
:class:`LiveIdentity` is the live requester's, backed by its
:class:`~spdm.backend.IdentityBackend`; a capture follower
(:mod:`.follow`) plugs in one that produces nothing, because the capture
already holds what the real requester sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from ..backend import IdentityBackend
from ..config import DEFAULT_DATA_TRANSFER_SIZE
from ..crypto import digest
from ..errors import DecodeError, SpdmErrorCode
from ..messages import (
    REQUEST_TYPES,
    Challenge,
    ChallengeAuth,
    ErrorResponse,
    GetCertificate,
    GetDigests,
    peek_code,
)
from ..messages.codes import BaseHashAlgo, SpdmVersion
from ..negotiation import Negotiated
from ..secured import seal
from ..session import Session
from ..slot_keys import digests_for
from ..slots import certificate_portion, digests_of, provisioned_chains
from ..state import KeyUpdateOperation
from .event_receipt import answer_send_event

__all__ = ["REQUESTER_CHALLENGE_CONTEXT", "Identity", "LiveIdentity"]

REQUESTER_CHALLENGE_CONTEXT = "requester-challenge_auth signing"


class Identity(Protocol):
    """What the requester contributes itself; ``None`` answers mean "someone else sends it"."""

    @property
    def can_authenticate(self) -> bool:
        """The requester can take part in mutual authentication."""
        ...

    def seal(self, session: Session, message: bytes) -> tuple[bytes, bool]:
        """The bytes to send for ``message`` in ``session``, and whether they are a secured record."""
        ...

    def answer_encapsulated(self, negotiated: Negotiated, inner: bytes, *, in_session: bool,
                            m2_prefix: bytes) -> bytes:
        """Our answer to one encapsulated request (``m2_prefix``: [A] || mut_B, for CHALLENGE_AUTH)."""
        ...

    def requester_chain(self, slot_id: int, hash_alg: BaseHashAlgo) -> bytes | None:
        """Our SPDM certificate chain in ``slot_id``, or None."""
        ...

    def sign(self, negotiated: Negotiated, slot_id: int, context: str, transcript: bytes) -> bytes | None:
        """Our signature over ``transcript`` with the slot's key, or None."""
        ...

    def verify_data(self, session: Session) -> bytes | None:
        """The RequesterVerifyData to send now (added to TH), or None."""
        ...

    def finish_opaque(self, negotiated: Negotiated) -> bytes | None:
        """The OpaqueData of our FINISH / PSK_FINISH (b"" before 1.4), or None: the FINISH
        someone else sent is adopted, and its own header and opaque data enter TH."""
        ...


class LiveIdentity:
    """The live requester: seals with the session keys, signs with its backend's keys.

    Args:
        backend: our certificate slots and keys (None: we cannot authenticate ourselves).
        random: the engine's random source (nonces of our CHALLENGE_AUTH).
        finish_opaque: the OpaqueData our 1.4 FINISH and PSK_FINISH carry.
    """

    def __init__(self, backend: IdentityBackend | None, random: Callable[[int], bytes], *,
                 finish_opaque: bytes = b"") -> None:
        self._backend = backend
        self._random = random
        self._finish_opaque = finish_opaque

    @property
    def can_authenticate(self) -> bool:
        """We have an identity to prove."""
        return self._backend is not None

    def seal(self, session: Session, message: bytes) -> tuple[bytes, bool]:
        """A DSP0277 record under the session's current request key."""
        return seal(session.current_keys().request, session.session_id, message), True

    def requester_chain(self, slot_id: int, hash_alg: BaseHashAlgo) -> bytes | None:
        """The backend's chain for the slot."""
        return None if self._backend is None else self._backend.certificate_chain(slot_id, hash_alg)

    def sign(self, negotiated: Negotiated, slot_id: int, context: str, transcript: bytes) -> bytes | None:
        """The backend's signature (None without a backend)."""
        if self._backend is None:
            return None
        return self._backend.sign(slot_id, negotiated.hash_alg, negotiated.version, context, transcript)

    def verify_data(self, session: Session) -> bytes:
        """HMAC(request finished key, Hash(TH)), added to TH."""
        return session.add_request_verify_data()

    def finish_opaque(self, negotiated: Negotiated) -> bytes:
        """The configured OpaqueData from 1.4 on; none before (the field does not exist)."""
        return self._finish_opaque if negotiated.version >= SpdmVersion.V14 else b""

    def answer_encapsulated(self, negotiated: Negotiated, inner: bytes, *, in_session: bool,
                            m2_prefix: bytes) -> bytes:
        """Our answer to one encapsulated request (ERROR for what a host does not serve)."""
        from ..messages import KeyUpdate, KeyUpdateAck
        hash_alg = negotiated.hash_alg
        event_ack = answer_send_event(negotiated, inner, in_session=in_session)
        if event_ack is not None:
            return event_ack
        try:
            _, code = peek_code(inner)
            request_type = REQUEST_TYPES.get(code)
            if request_type is None:
                raise DecodeError(f"encapsulated request 0x{code:02x}")
            request = request_type.decode(inner, negotiated.codec(), padded=True)
        except DecodeError:
            return _error(negotiated, SpdmErrorCode.INVALID_REQUEST, 0)
        if isinstance(request, KeyUpdate) and in_session:
            if request.key_operation not in (KeyUpdateOperation.UPDATE_KEY,
                                             KeyUpdateOperation.VERIFY_NEW_KEY):
                return _error(negotiated, SpdmErrorCode.INVALID_REQUEST, 0)  # only UpdateKey
            return KeyUpdateAck(spdm_version=negotiated.version, key_operation=request.key_operation,
                                tag=request.tag).encode()
        backend = self._backend
        if backend is None:
            return _error(negotiated, SpdmErrorCode.UNSUPPORTED_REQUEST, code)
        chains = provisioned_chains(backend, hash_alg)
        if isinstance(request, GetDigests):
            multi_key = negotiated.multi_key_req  # our keys on a multi-key connection (1.3)
            return digests_for(digests_of(negotiated.version, hash_alg, chains), backend,
                               multi_key=multi_key).encode(replace(negotiated.codec(), multi_key=multi_key))
        if isinstance(request, GetCertificate):
            chain = chains.get(request.slot_id)
            if chain is None or request.offset >= len(chain):
                return _error(negotiated, SpdmErrorCode.INVALID_REQUEST, 0)
            # The portion travels as CERTIFICATE (8-byte header) inside DELIVER_ENCAPSULATED_RESPONSE
            # (4-byte header), and that whole request must fit the device's DataTransferSize.
            room = (negotiated.responder_data_transfer_size or DEFAULT_DATA_TRANSFER_SIZE) - 8 - 4
            return certificate_portion(negotiated.version, request.slot_id, chain, request.offset,
                                       min(request.length, room)).encode()
        if isinstance(request, Challenge) and request.slot_id in chains:
            return self._challenge_auth(negotiated, request, chains, inner, m2_prefix)
        # We serve GET_DIGESTS, GET_CERTIFICATE and CHALLENGE only.
        return _error(negotiated, SpdmErrorCode.UNSUPPORTED_REQUEST, code)

    def _challenge_auth(self, negotiated: Negotiated, request: Challenge, chains: dict[int, bytes],
                        inner: bytes, m2_prefix: bytes) -> bytes:
        """CHALLENGE_AUTH signed over M2 = [A] || mut_B || CHALLENGE || CHALLENGE_AUTH (unsigned)."""
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
                                 m2_prefix + (request.raw or inner) + unsigned)
        return unsigned + signature


def _error(negotiated: Negotiated, code: int, data: int) -> bytes:
    return ErrorResponse(spdm_version=negotiated.version, error_code=code, error_data=data).encode()
