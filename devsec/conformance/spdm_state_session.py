"""The connection state machine inside a session: requests that only travel in the clear.

DSP0274 1.3 Table 4 marks the requests that set up a connection, a session
or an authentication (GET_VERSION, GET_CAPABILITIES, NEGOTIATE_ALGORITHMS,
CHALLENGE, KEY_EXCHANGE, PSK_EXCHANGE) as not allowed inside a session; a
device answers each, sealed in the session, with ERROR UnexpectedRequest
(§10.12).  Records are sealed with the session keys of devsec's requester
engine (its sequence numbers stay in step), so the suite never holds a key of
its own; the requests themselves are the matrix's rows
(:mod:`.spdm_state_requests`).
"""

from __future__ import annotations

from spdm.connection import Connection
from spdm.errors import DecodeError, DevsecError, VerificationError
from spdm.errors import SpdmErrorCode as E
from spdm.messages.codes import CapabilityFlags as F
from spdm.secured import open_record, seal
from spdm.transport.doe import DataObjectType

from .context import CaseContext, Exchange
from .registry import case
from .spdm_secured import send_record
from .spdm_session import open_connection
from .spdm_state import refusals
from .spdm_state_requests import CLEAR, defined_at, sizes

__all__ = ["in_session_clear_only", "send_in_session"]
"""The case body, and the in-session exchange helper."""


def send_in_session(ctx: CaseContext, connection: Connection, session_id: int, request: bytes) -> bytes:
    """Seal ``request`` in the session, send it, and open the answer.

    The records are recorded as sent; the opened pair is recorded after them,
    so an assertion on the answer carries the plaintext request and response.

    Returns:
        The SPDM response inside the sealed answer; b"" when the device stayed
        silent, answered something other than a record of this session, or a
        record that does not open (each judged a failure by the caller).
    """
    keys = connection.driver.requester.sessions[session_id].current_keys()
    answer = send_record(ctx, seal(keys.request, session_id, request))
    if answer is None or answer.object_type != DataObjectType.SECURED_SPDM:
        return b""
    try:
        response = open_record(keys.response, answer.payload, expected_session_id=session_id)
    except (DecodeError, VerificationError):
        return b""
    ctx.exchanges.append(Exchange(request, response))  # the plaintext pair, judged next
    return response


@case("spdm.state.in-session-clear-only", "Inside a session, GET_VERSION, GET_CAPABILITIES, "
      "NEGOTIATE_ALGORITHMS, CHALLENGE, KEY_EXCHANGE and PSK_EXCHANGE are refused UnexpectedRequest, sealed",
      "DSP0274 1.3 Table 4, §10.12; DSP0277 1.2", per_version=True, min_version=0x11, needs=F.KEY_EX_CAP)
def in_session_clear_only(ctx: CaseContext) -> None:
    """Decision: each request gets a session of its own (a device that wrongly obeys
    GET_VERSION ends the session), and UnsupportedRequest is accepted too for a request whose
    capability the device does not advertise (PSK_EXCHANGE without PSK_CAP)."""
    connection = open_connection(ctx, "the device opens a connection with devsec's requester")
    if connection is None:
        return
    codec = sizes(None)
    for request in defined_at(ctx.version):
        if request.where != CLEAR:
            continue
        try:
            session = connection.open_session()
        except DevsecError as exc:
            ctx.check("the device opens a session", False, expected="a session",
                      actual=f"{type(exc).__name__}: {exc}")
            return
        answer = send_in_session(ctx, connection, session.session_id, request.build(ctx.version, codec))
        ctx.expect_error(f"{request.name} inside a session is refused", answer,
                         refusals(ctx, request, E.UNEXPECTED_REQUEST))
        try:
            session.close()
        except DevsecError:
            pass  # the device may have ended the session itself; the next request opens a new one
