"""The requester's per-flow state: one small object per multi-message flow.

Each flow keeps what it must remember between its messages, and a
:class:`~spdm.state.Machine` over its table in :mod:`spdm.state`, which is the
one place that says which request may come next.  A flow ends when its last
answer is processed or when the peer answers one of its requests with ERROR.
"""

from __future__ import annotations

from dataclasses import field
from datetime import datetime

from ..crypto import DheKeyPair, KemKeyPair
from ..record import record
from ..session import Session
from ..state import (
    CERTIFICATE_TRANSITIONS,
    ENCAPSULATED_TRANSITIONS,
    HANDSHAKE_TRANSITIONS,
    KEY_UPDATE_TRANSITIONS,
    CertificateState,
    EncapsulatedState,
    HandshakeState,
    KeyUpdateState,
    Machine,
)

__all__ = ["CertificateRetrieval", "EncapsulatedFlow", "Handshake", "KeyUpdateFlow", "KnownSecret"]


@record(frozen=True, slots=True)
class KnownSecret:
    """A DHE shared secret known in advance: what a follower uses instead of its own key."""

    secret: bytes = field(repr=False)

    def shared_secret(self, peer_public: bytes) -> bytes:
        """The known secret, whatever the peer sent."""
        del peer_public
        return self.secret


def _certificate_machine() -> Machine[CertificateState]:
    return Machine("certificate retrieval", CERTIFICATE_TRANSITIONS, CertificateState.IDLE)


@record
class CertificateRetrieval:
    """One slot's chain, fetched portion by portion (GET_CERTIFICATE)."""

    machine: Machine[CertificateState] = field(default_factory=_certificate_machine)
    slot_id: int = 0
    chain: bytearray = field(default_factory=bytearray, repr=False)
    now: datetime | None = None

    def start(self, slot_id: int, now: datetime) -> None:
        """Begin a new retrieval (any earlier one is abandoned)."""
        self.end()
        self.slot_id, self.now = slot_id, now

    def end(self) -> None:
        """The chain is complete, or the retrieval failed."""
        self.machine.end()
        self.chain = bytearray()
        self.now = None


def _handshake_machine() -> Machine[HandshakeState]:
    return Machine("session handshake", HANDSHAKE_TRANSITIONS, HandshakeState.IDLE)


@record
class Handshake:
    """A session being established: from KEY_EXCHANGE/PSK_EXCHANGE to FINISH/PSK_FINISH.

    Attributes:
        dhe: our DHE key or (1.4) ML-KEM decapsulation key (a follower's: the known secret)
            until KEY_EXCHANGE_RSP.
        psk: the PSK until PSK_EXCHANGE_RSP derived the handshake secret.
        session: the session once the responder answered the exchange.
        measurement_summary: the exchange response's MeasurementSummaryHash.
    """

    machine: Machine[HandshakeState] = field(default_factory=_handshake_machine)
    dhe: DheKeyPair | KemKeyPair | KnownSecret | None = field(default=None, repr=False)
    psk: bytes | None = field(default=None, repr=False)
    session: Session | None = None
    measurement_summary: bytes = b""

    def end(self) -> None:
        """The session is established, or the handshake failed: forget its secrets."""
        self.machine.end()
        self.dhe = self.psk = self.session = None
        self.measurement_summary = b""


def _encapsulated_machine() -> Machine[EncapsulatedState]:
    return Machine("encapsulated flow", ENCAPSULATED_TRANSITIONS, EncapsulatedState.IDLE)


@record
class EncapsulatedFlow:
    """The responder's requests to us (mutual authentication, its key update).

    Attributes:
        session: the session it runs for (None: basic mutual auth after CHALLENGE).
        slot_id: our slot the responder authenticates (FINISH ReqSlotID).
        count: encapsulated requests seen so far (a loop guard).
        inner: the encapsulated request being answered.
        mut_b: the encapsulated DIGESTS/CERTIFICATE exchanges (M2's mut_B).
        delivered_digests: our DIGESTS as delivered ([D_encap] with MULTI_KEY_CONN).
        delivered_chain: our chain as delivered (CM, whose hash FINISH signs).
    """

    machine: Machine[EncapsulatedState] = field(default_factory=_encapsulated_machine)
    session: Session | None = None
    slot_id: int = 0
    count: int = 0
    inner: bytes = field(default=b"", repr=False)
    mut_b: bytearray = field(default_factory=bytearray, repr=False)
    delivered_digests: bytes = field(default=b"", repr=False)
    delivered_chain: bytearray = field(default_factory=bytearray, repr=False)

    def start(self, session: Session | None, slot_id: int) -> None:
        """Begin a flow for ``session`` (forgetting any earlier one)."""
        self.machine.end()
        self.session, self.slot_id, self.count, self.inner = session, slot_id, 0, b""
        self.mut_b = bytearray()
        self.delivered_digests = b""
        self.delivered_chain = bytearray()

    def end(self) -> None:
        """The responder has no more requests (what was delivered stays for FINISH)."""
        self.machine.end()


def _key_update_machine() -> Machine[KeyUpdateState]:
    return Machine("key update", KEY_UPDATE_TRANSITIONS, KeyUpdateState.IDLE)


@record
class KeyUpdateFlow:
    """A key update we started: UpdateKey/UpdateAllKeys, then VerifyNewKey."""

    machine: Machine[KeyUpdateState] = field(default_factory=_key_update_machine)
    all_keys: bool = False

    def end(self) -> None:
        """VerifyNewKey was acknowledged, or the update failed."""
        self.machine.end()
