"""Events of secure sessions: established, mutually authenticated, heartbeat, key update, ended."""

from __future__ import annotations

from ..record import record
from .connection import Event

__all__ = [
    "HeartbeatAcknowledged",
    "KeyUpdated",
    "MutualAuthCompleted",
    "SessionEnded",
    "SessionEstablished",
]


@record(frozen=True, slots=True)
class SessionEstablished(Event):
    """A secure session finished its handshake; application data may flow.

    Attributes:
        session_id: the 32-bit SessionID.
        psk: established with PSK_EXCHANGE.
        heartbeat_period: seconds (0 = none).
        secured_message_version: the DSP0277 version selected (u16, 0x1100 = 1.1).
        measurement_summary_hash: from KEY_EXCHANGE_RSP/PSK_EXCHANGE_RSP (empty if not asked).
        mutual_auth: the requester authenticated itself (MutAuthRequested it met; 0 = no).
    """

    session_id: int
    psk: bool
    heartbeat_period: int
    secured_message_version: int
    measurement_summary_hash: bytes
    mutual_auth: int = 0


@record(frozen=True, slots=True)
class MutualAuthCompleted(Event):
    """The requester authenticated itself through encapsulated requests.

    ``session_id`` is None for basic mutual authentication (after CHALLENGE),
    where no session is involved; in a session, FINISH completes it instead
    (see :class:`SessionEstablished`).
    """

    session_id: int | None


@record(frozen=True, slots=True)
class HeartbeatAcknowledged(Event):
    """HEARTBEAT_ACK arrived."""

    session_id: int


@record(frozen=True, slots=True)
class KeyUpdated(Event):
    """A key update completed and VerifyNewKey succeeded.

    ``responder_initiated``: the responder updated its own direction through an
    encapsulated KEY_UPDATE (answering :meth:`Requester.poll_encapsulated`).
    """

    session_id: int
    all_keys: bool
    responder_initiated: bool = False


@record(frozen=True, slots=True)
class SessionEnded(Event):
    """END_SESSION was acknowledged (or the session was torn down); its keys are gone."""

    session_id: int
