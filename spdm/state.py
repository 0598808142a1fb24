"""The SPDM connection state machine, as data (STYLE R4).

Everything that decides whether a request is legal in a connection state, and
which state a successful exchange leads to, is the table below.  It does not
know which role reads it: the requester consults it before sending (an
illegal command is a :class:`LocalProtocolError`), the responder before
answering (an illegal request is answered with ERROR UnexpectedRequest).
"""

from __future__ import annotations

from enum import Enum

from .messages.codes import RequestCode


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
)

TRANSITIONS: dict[tuple[ConnectionState, RequestCode], ConnectionState] = {
    **{(state, RequestCode.GET_VERSION): ConnectionState.AFTER_VERSION for state in ConnectionState},
    (ConnectionState.AFTER_VERSION, RequestCode.GET_CAPABILITIES):
        ConnectionState.AFTER_CAPABILITIES,
    (ConnectionState.AFTER_CAPABILITIES, RequestCode.NEGOTIATE_ALGORITHMS):
        ConnectionState.NEGOTIATED,
    **{(ConnectionState.NEGOTIATED, code): ConnectionState.NEGOTIATED
       for code in _NEGOTIATED_REQUESTS},
}
"""(state, request) -> state after a successful response.  Missing = not allowed.

Session requests are legal on a negotiated connection; whether the session
they name is in the right phase is :class:`spdm.session.Session`'s to say.

RESPOND_IF_READY is not in the table: it is legal exactly while the responder
holds back a response it answered ResponseNotReady for, which the responder
tracks itself.
"""


def next_state(state: ConnectionState, request_code: int) -> ConnectionState | None:
    """The state a successful ``request_code`` leads to, or None when it is illegal now."""
    try:
        return TRANSITIONS.get((state, RequestCode(request_code)))
    except ValueError:
        return None
