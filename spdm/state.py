"""The SPDM state machines, as data (STYLE R4).

Everything that decides whether a request is legal, and which state a
successful exchange leads to, is a table in this module: a dict from
(state, request) to the next state, where a missing entry means "not now".

* :data:`TRANSITIONS`: the connection (VCA) state, which both roles consult
  (the requester before sending -- an illegal command is a
  :class:`LocalProtocolError` -- the responder before answering -- an illegal
  request is answered with ERROR UnexpectedRequest).
* The requester's flows, one small machine each (:class:`Machine`):
  :data:`CERTIFICATE_TRANSITIONS` (a chain fetched portion by portion),
  :data:`HANDSHAKE_TRANSITIONS` (KEY_EXCHANGE/PSK_EXCHANGE up to FINISH),
  :data:`ENCAPSULATED_TRANSITIONS` (GET_ENCAPSULATED_REQUEST then
  DELIVER_ENCAPSULATED_RESPONSEs) and :data:`KEY_UPDATE_TRANSITIONS`
  (UpdateKey/UpdateAllKeys then VerifyNewKey).

No table knows which role reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum, IntEnum
from typing import Generic, TypeVar

from .errors import LocalProtocolError
from .messages.codes import RequestCode

__all__ = [
    "CERTIFICATE_TRANSITIONS",
    "ENCAPSULATED_TRANSITIONS",
    "HANDSHAKE_TRANSITIONS",
    "KEY_UPDATE_TRANSITIONS",
    "TRANSITIONS",
    "CertificateState",
    "ConnectionState",
    "EncapsulatedState",
    "HandshakeState",
    "KeyUpdateOperation",
    "KeyUpdateState",
    "Machine",
    "next_state",
]


class ConnectionState(Enum):
    """Where VCA stands (DSP0274 §9 "connection" states, libspdm's naming)."""

    NOT_STARTED = "not started"
    AFTER_VERSION = "after VERSION"
    AFTER_CAPABILITIES = "after CAPABILITIES"
    NEGOTIATED = "negotiated"


_NEGOTIATED_REQUESTS = (
    RequestCode.GET_DIGESTS,
    RequestCode.GET_CERTIFICATE,
    RequestCode.CHALLENGE,
    RequestCode.GET_MEASUREMENTS,
    RequestCode.VENDOR_DEFINED_REQUEST,
    RequestCode.KEY_EXCHANGE,
    RequestCode.FINISH,
    RequestCode.PSK_EXCHANGE,
    RequestCode.PSK_FINISH,
    RequestCode.HEARTBEAT,
    RequestCode.KEY_UPDATE,
    RequestCode.END_SESSION,
    RequestCode.GET_ENCAPSULATED_REQUEST,
    RequestCode.DELIVER_ENCAPSULATED_RESPONSE,
    RequestCode.GET_ENDPOINT_INFO,
    RequestCode.GET_MEASUREMENT_EXTENSION_LOG,
    RequestCode.GET_KEY_PAIR_INFO,
    RequestCode.SET_KEY_PAIR_INFO,
    RequestCode.GET_CSR,
    RequestCode.SET_CERTIFICATE,
    RequestCode.GET_SUPPORTED_EVENT_TYPES,
    RequestCode.SUBSCRIBE_EVENT_TYPES,
)

TRANSITIONS: dict[tuple[ConnectionState, int], ConnectionState] = {
    **{(state, RequestCode.GET_VERSION): ConnectionState.AFTER_VERSION for state in ConnectionState},
    (ConnectionState.AFTER_VERSION, RequestCode.GET_CAPABILITIES):
        ConnectionState.AFTER_CAPABILITIES,
    (ConnectionState.AFTER_CAPABILITIES, RequestCode.NEGOTIATE_ALGORITHMS):
        ConnectionState.NEGOTIATED,
    **{(ConnectionState.NEGOTIATED, code): ConnectionState.NEGOTIATED
       for code in _NEGOTIATED_REQUESTS},
    **{(state, code): state for code in (RequestCode.CHUNK_SEND, RequestCode.CHUNK_GET)
       for state in (ConnectionState.AFTER_CAPABILITIES, ConnectionState.NEGOTIATED)},
}
"""(state, request) -> state after a successful response.  Missing = not allowed.

Session requests are legal on a negotiated connection; whether the flow they
belong to allows them is the flow tables' to say (below), and whether the
session they name is in the right phase :class:`spdm.session.Session`'s.

RESPOND_IF_READY is not in the table: it is legal exactly while the responder
holds back a response it answered ResponseNotReady for, which the responder
tracks itself.
"""


def next_state(state: ConnectionState, request_code: int) -> ConnectionState | None:
    """The state a successful ``request_code`` leads to, or None when it is illegal now."""
    # A RequestCode hashes and compares as its int, so the plain code finds its entry without an
    # enum conversion per request; a code that is no RequestCode is in no key, so finds None.
    return TRANSITIONS.get((state, request_code))


class CertificateState(Enum):
    """Where the retrieval of one slot's certificate chain stands."""

    IDLE = "idle"
    FETCHING = "fetching a portion"


CERTIFICATE_TRANSITIONS: dict[tuple[CertificateState, int], CertificateState] = {
    (CertificateState.IDLE, RequestCode.GET_CERTIFICATE): CertificateState.FETCHING,
    (CertificateState.FETCHING, RequestCode.GET_CERTIFICATE): CertificateState.FETCHING,
}
"""A chain comes in portions: the first GET_CERTIFICATE starts, each CERTIFICATE with
data remaining asks for the next; the last portion (or an ERROR) ends the flow."""


class HandshakeState(Enum):
    """Where the establishment of a secure session stands."""

    IDLE = "idle"
    KEY_EXCHANGING = "KEY_EXCHANGE sent"
    PSK_EXCHANGING = "PSK_EXCHANGE sent"
    MUTUAL_AUTH = "encapsulated mutual authentication"
    FINISHING = "FINISH sent"
    PSK_FINISHING = "PSK_FINISH sent"


HANDSHAKE_TRANSITIONS: dict[tuple[HandshakeState, int], HandshakeState] = {
    (HandshakeState.IDLE, RequestCode.KEY_EXCHANGE): HandshakeState.KEY_EXCHANGING,
    (HandshakeState.IDLE, RequestCode.PSK_EXCHANGE): HandshakeState.PSK_EXCHANGING,
    (HandshakeState.KEY_EXCHANGING, RequestCode.FINISH): HandshakeState.FINISHING,
    (HandshakeState.KEY_EXCHANGING, RequestCode.GET_ENCAPSULATED_REQUEST): HandshakeState.MUTUAL_AUTH,
    (HandshakeState.MUTUAL_AUTH, RequestCode.DELIVER_ENCAPSULATED_RESPONSE): HandshakeState.MUTUAL_AUTH,
    (HandshakeState.MUTUAL_AUTH, RequestCode.FINISH): HandshakeState.FINISHING,
    (HandshakeState.PSK_EXCHANGING, RequestCode.PSK_FINISH): HandshakeState.PSK_FINISHING,
}
"""KEY_EXCHANGE -> [encapsulated mutual authentication] -> FINISH, or PSK_EXCHANGE ->
PSK_FINISH (PSK without context needs none).  The session being established (or the
handshake failing) ends the flow."""


class EncapsulatedState(Enum):
    """Where the requester stands in an encapsulated-request flow (mutual auth, key update)."""

    IDLE = "idle"
    PULLING = "GET_ENCAPSULATED_REQUEST sent"
    DELIVERING = "DELIVER_ENCAPSULATED_RESPONSE sent"


ENCAPSULATED_TRANSITIONS: dict[tuple[EncapsulatedState, int], EncapsulatedState] = {
    (EncapsulatedState.IDLE, RequestCode.GET_ENCAPSULATED_REQUEST): EncapsulatedState.PULLING,
    (EncapsulatedState.PULLING, RequestCode.DELIVER_ENCAPSULATED_RESPONSE):
        EncapsulatedState.DELIVERING,
    (EncapsulatedState.DELIVERING, RequestCode.DELIVER_ENCAPSULATED_RESPONSE):
        EncapsulatedState.DELIVERING,
}
"""The requester pulls the first request, then answers each one the responder sends back
in ENCAPSULATED_RESPONSE_ACK; an ACK with nothing more (or an ERROR) ends the flow."""


class KeyUpdateOperation(IntEnum):
    """KEY_UPDATE KeyOperation (DSP0274 Table "KEY_UPDATE operations")."""

    UPDATE_KEY = 1
    UPDATE_ALL_KEYS = 2
    VERIFY_NEW_KEY = 3


class KeyUpdateState(Enum):
    """Where a requester-initiated key update stands."""

    IDLE = "idle"
    UPDATING = "UpdateKey sent"
    UPDATING_ALL = "UpdateAllKeys sent"
    VERIFYING = "VerifyNewKey sent"


KEY_UPDATE_TRANSITIONS: dict[tuple[KeyUpdateState, int], KeyUpdateState] = {
    (KeyUpdateState.IDLE, KeyUpdateOperation.UPDATE_KEY): KeyUpdateState.UPDATING,
    (KeyUpdateState.IDLE, KeyUpdateOperation.UPDATE_ALL_KEYS): KeyUpdateState.UPDATING_ALL,
    (KeyUpdateState.UPDATING, KeyUpdateOperation.VERIFY_NEW_KEY): KeyUpdateState.VERIFYING,
    (KeyUpdateState.UPDATING_ALL, KeyUpdateOperation.VERIFY_NEW_KEY): KeyUpdateState.VERIFYING,
}
"""Keyed by KeyOperation: the new key is switched to when the ACK comes, then VerifyNewKey
travels under it; its ACK (or an ERROR) ends the flow."""


S = TypeVar("S", bound=Enum)


class Machine(Generic[S]):
    """One flow's state, moved only through its table.

    Args:
        name: the flow's name, for errors.
        table: (state, request) -> next state; a missing entry is illegal.
        initial: the state the flow starts in and returns to when it ends.
    """

    def __init__(self, name: str, table: Mapping[tuple[S, int], S], initial: S) -> None:
        self.name = name
        self._table = table
        self._initial = initial
        self.state = initial

    def allows(self, request: int) -> bool:
        """``request`` is legal in the current state."""
        return (self.state, request) in self._table

    def advance(self, request: int) -> S:
        """Move on ``request``.

        Raises:
            LocalProtocolError: the table has no entry for (state, request); the
                state is unchanged.
        """
        after = self._table.get((self.state, request))
        if after is None:
            raise LocalProtocolError(
                f"{self.name}: request 0x{int(request):02x} is not allowed in state {self.state.value!r}")
        self.state = after
        return after

    def end(self) -> None:
        """The flow is over (finished or failed): back to the initial state."""
        self.state = self._initial

    @property
    def active(self) -> bool:
        """The flow has started and not ended."""
        return self.state is not self._initial
