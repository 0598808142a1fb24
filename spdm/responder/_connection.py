"""The per-connection state the responder's message handlers share, and their error helpers.

Handlers (in :mod:`.vca`, :mod:`.auth`, :mod:`.measurements`) are plain
functions of a :class:`Connection` and one decoded request.  They raise typed
errors and never build an ERROR themselves: :class:`spdm.responder.Responder`
turns every :class:`ProtocolError` into an ERROR response in one place.  A
handler must raise before it changes anything, so an ERROR leaves the
connection as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import field
from datetime import datetime
from typing import TYPE_CHECKING

from ..backend import ResponderBackend
from ..config import ResponderConfig
from ..crypto import signature_size
from ..errors import ConfigurationError, LocalProtocolError, RemoteProtocolError, SpdmErrorCode
from ..messages.codes import BaseHashAlgo, CapabilityFlags, SpdmVersion
from ..negotiation import Negotiated
from ..record import record
from ..session import Session
from ..slot_keys import slot_key, usage_allows
from ..slots import provisioned_chain, provisioned_chains
from ..state import ConnectionState
from ..transcript import Transcript

if TYPE_CHECKING:
    from .chunk import ChunkContext
    from .encap import EncapState
    from .event import EventState

logger = logging.getLogger(__name__)

VendorHandler = Callable[[bytes, int | None], bytes]
"""A vendor-defined protocol: (request payload, SessionID it came in or None) -> response payload."""


def invalid_request(reason: str) -> RemoteProtocolError:
    """The request is malformed or asks for something the device cannot do."""
    return RemoteProtocolError(reason, error_code=SpdmErrorCode.INVALID_REQUEST)


def unsupported_request(code: int, reason: str) -> RemoteProtocolError:
    """The request code is not implemented or not backed by our capabilities."""
    return RemoteProtocolError(
        reason, error_code=SpdmErrorCode.UNSUPPORTED_REQUEST, error_data=code
    )


def response_too_large(size: int, limit: int) -> RemoteProtocolError:
    """The response would exceed what the requester can receive (1.2+).

    The ERROR carries the response's size as u32 LE extended data, as libspdm
    does, so the requester learns what it would take.
    """
    return RemoteProtocolError(
        f"a {size}-byte response exceeds the requester's DataTransferSize {limit}",
        error_code=SpdmErrorCode.RESPONSE_TOO_LARGE,
        extended_data=size.to_bytes(4, "little"),
    )


_CHUNK_CAP = int(CapabilityFlags.CHUNK_CAP)
_NO_FLAGS = CapabilityFlags(0)


@record
class Connection:
    """What one SPDM connection has settled so far, as the responder sees it.

    Attributes:
        config: the device's configuration.
        backend: the device's keys, certificates and measurements.
        rng: the source of nonces.
        state: the VCA state (:mod:`spdm.state` decides what it allows).
        version: the version the requester chose in GET_CAPABILITIES.
        requester_flags / requester_ct_exponent / requester_sizes: the
            requester's GET_CAPABILITIES fields (sizes are (DataTransferSize,
            MaxSPDMmsgSize), zero before 1.2).
        responder_flags: the CAPABILITIES flags we sent for ``version``.
        negotiated: the result of NEGOTIATE_ALGORITHMS.
        transcript: A, B and M, with the shared reset rules.
        vendor_handlers: (StandardID, VendorID) -> vendor protocol handler.
        sessions: SessionID -> session, handshaking or established.
        current_session: the session the request being answered came in (None: clear).
        handshaking: the session between KEY/PSK_EXCHANGE and its FINISH.
        ending: sessions whose keys go once the current answer is sealed.
        encap: the encapsulated flow in progress (mutual authentication, key update).
        key_updates_wanted: sessions whose device wants to renew its sending key.
        session_listeners: told the SessionID of every session that ends.
        now: the caller's clock, for validating the requester's certificates.
        chunks: the chunk transfers in progress (:mod:`.chunk`).
        events: the event subscriptions and undelivered events (:mod:`.event`).
        digests: the last DIGESTS sent ([D] of the session transcripts on a
            multi-key connection).
    """

    config: ResponderConfig
    backend: ResponderBackend
    rng: Callable[[int], bytes]
    state: ConnectionState = ConnectionState.NOT_STARTED
    version: SpdmVersion | None = None
    requester_flags: CapabilityFlags = _NO_FLAGS
    requester_ct_exponent: int = 0
    requester_sizes: tuple[int, int] = (0, 0)
    responder_flags: CapabilityFlags = _NO_FLAGS
    negotiated: Negotiated | None = None
    transcript: Transcript = field(default_factory=Transcript)
    vendor_handlers: dict[tuple[int, bytes], VendorHandler] = field(default_factory=dict)
    sessions: dict[int, Session] = field(default_factory=dict)
    current_session: Session | None = None
    handshaking: Session | None = None
    ending: list[Session] = field(default_factory=list)
    encap: EncapState | None = None
    key_updates_wanted: set[int] = field(default_factory=set)
    session_listeners: list[Callable[[int], None]] = field(default_factory=list)
    chunks: ChunkContext | None = None
    events: EventState | None = None
    digests: bytes = field(default=b"", repr=False)

    def session_gone(self, session: Session) -> None:
        """Forget a session's keys and tell the vendor protocols bound to it (IDE_KM, TDISP)."""
        session.end()
        for listener in self.session_listeners:
            listener(session.session_id)
    now: Callable[[], datetime] | None = None

    def clock(self) -> datetime:
        """The time certificates are checked against (the caller's clock, not ours)."""
        if self.now is None:
            raise LocalProtocolError("no clock was given to check certificates with")
        return self.now()

    def reset(self) -> None:
        """Forget the negotiation and every session (GET_VERSION); the transcript resets in ``begin``."""
        for session in list(self.sessions.values()):
            self.session_gone(session)
        self.sessions.clear()
        self.handshaking = None
        self.version = None
        self.requester_flags = _NO_FLAGS
        self.requester_ct_exponent = 0
        self.requester_sizes = (0, 0)
        self.responder_flags = _NO_FLAGS
        self.negotiated = None
        self.digests = b""

    @property
    def session_version(self) -> SpdmVersion:
        """The version the requester chose in GET_CAPABILITIES.

        Raises:
            LocalProtocolError: called before CAPABILITIES was sent (a dispatch
                bug: the state table only routes such requests afterwards).
        """
        if self.version is None:
            raise LocalProtocolError("no version chosen yet")
        return self.version

    @property
    def session(self) -> Negotiated:
        """The negotiated parameters; handlers past VCA only run once they exist.

        Raises:
            LocalProtocolError: called before ALGORITHMS was sent (a dispatch bug:
                the state table only routes such requests once negotiated).
        """
        if self.negotiated is None:
            raise LocalProtocolError("no algorithms negotiated yet")
        return self.negotiated

    def check_fits(self, size: int) -> None:
        """Refuse a response larger than the requester's DataTransferSize (1.2+).

        Called before a handler commits anything, so the ERROR leaves the
        transcript as it was.

        Raises:
            RemoteProtocolError: ResponseTooLarge, the response does not fit.
        """
        limit = self.largest_response()
        if self.session.version >= SpdmVersion.V12 and limit and size > limit:
            raise response_too_large(size, limit)

    @property
    def chunking(self) -> bool:
        """Both sides set CHUNK_CAP at 1.2+: a large message may go in chunks."""
        # plain ints: Flag's & builds a new enum member per operation (asked on every answer)
        both = int(self.requester_flags) & int(self.responder_flags) & _CHUNK_CAP
        return bool(both) and self.version is not None and self.version >= SpdmVersion.V12

    def largest_response(self) -> int:
        """The largest response the requester takes (0: no limit was given, before 1.2).

        Its DataTransferSize; with chunking its MaxSPDMmsgSize (capped by ours):
        a response between the two goes by CHUNK_GET.
        """
        if self.chunking:
            return min(self.requester_sizes[1], self.config.max_spdm_msg_size)
        return self.requester_sizes[0]

    def provisioned_chains(self, hash_alg: BaseHashAlgo) -> dict[int, bytes]:
        """Slot -> SPDM certificate chain, for every slot the backend reports as provisioned."""
        return provisioned_chains(self.backend, hash_alg)

    def slot_chain(self, slot_id: int, *, signing_for: int | None = None) -> bytes:
        """The chain of a slot a request names.

        Args:
            slot_id: the slot.
            signing_for: the request whose answer the slot's key is to sign: on
                a multi-key connection its KeyUsageMask must allow that (1.3).

        Raises:
            RemoteProtocolError: InvalidRequest for the pre-provisioned-key slot
                (no PUB_KEY_ID_CAP), an out-of-range slot, or an empty one, or a
                slot whose key may not sign that answer (as libspdm answers).
        """
        chain = provisioned_chain(self.backend, slot_id, self.session.hash_alg)
        if chain is None:
            raise invalid_request(f"certificate slot {slot_id} is not provisioned")
        if signing_for is not None and self.session.multi_key:
            usage = slot_key(self.backend, slot_id).key_usage
            if not usage_allows(usage, signing_for):
                raise invalid_request(
                    f"slot {slot_id}'s key may not sign the answer to request 0x{signing_for:02x} "
                    f"(KeyUsageMask 0x{usage:04x})")
        return chain

    def sign(self, slot_id: int, context: str, transcript: bytes) -> bytes:
        """Have the backend sign a transcript with the slot's key, and check the result fits.

        Raises:
            LocalProtocolError: the backend cannot sign with the negotiated
                algorithms, or produced a signature of the wrong size (the
                configured preferences name an algorithm the device's key cannot
                serve); answered with ERROR Unspecified.
        """
        negotiated = self.session
        try:
            signature = self.backend.sign(
                slot_id, negotiated.hash_alg, negotiated.version, context, transcript
            )
        except ConfigurationError as exc:
            raise LocalProtocolError(f"the device cannot sign: {exc}") from exc
        expected = signature_size(negotiated.signing_alg)
        if len(signature) != expected:
            raise LocalProtocolError(
                f"the device signed {len(signature)} bytes, but {negotiated.signing_alg.name} "
                f"signatures have {expected}: its key does not match the negotiated algorithm"
            )
        logger.debug("signed %r with slot %d", context, slot_id)
        return signature
