"""END_SESSION driven record by record: the ACK, then nothing of the session is left.

devsec's requester engine opens the session and seals END_SESSION; the case
keeps the session's keys, so after the ACK it can seal one more request in
the ended session and check the device no longer answers it.
"""

from __future__ import annotations

from spdm.errors import DevsecError
from spdm.messages import EndSessionAck, Heartbeat
from spdm.messages.codes import CapabilityFlags as F
from spdm.secured import open_record, seal
from spdm.transport.doe import DataObjectType

from .context import CaseContext
from .registry import case
from .spdm_secured import send_record
from .spdm_session import open_connection

__all__ = ["session_gone"]
"""The case bodies (registered with :func:`.registry.case`)."""


@case("spdm.end-session.session-gone", "END_SESSION is acknowledged sealed, and a record in the ended "
      "session then gets no sealed answer", "DSP0274 1.3 Tables 73-78; DSP0277 1.2; PROTOCOLS.md §3.11, §7",
      per_version=True, min_version=0x11, needs=F.KEY_EX_CAP)
def session_gone(ctx: CaseContext) -> None:
    connection = open_connection(ctx, "the device opens a session")
    if connection is None:
        return
    try:
        session_id = connection.open_session().session_id
    except DevsecError as exc:
        ctx.check("the device opens a session", False, expected="a session",
                  actual=f"{type(exc).__name__}: {exc}")
        return
    requester = connection.driver.requester
    session = requester.sessions[session_id]
    keys = session.current_keys()
    requester.end_session(session_id)
    answer = send_record(ctx, requester.data_to_send())
    if not ctx.check("END_SESSION is answered sealed",
                     answer is not None and answer.object_type == DataObjectType.SECURED_SPDM,
                     expected="a type-2 object",
                     actual="no answer" if answer is None else answer.object_type):
        return
    assert answer is not None
    try:
        plain = open_record(keys.response, answer.payload, expected_session_id=session_id)
    except DevsecError as exc:
        ctx.check("END_SESSION_ACK opens under the session key", False, expected="END_SESSION_ACK",
                  actual=f"{type(exc).__name__}: {exc}")
        return
    ctx.decode(EndSessionAck, plain)
    late = send_record(ctx, seal(keys.request, session_id, Heartbeat(spdm_version=session.version).encode()))
    ctx.check("a record in the ended session gets no sealed answer",
              late is None or late.object_type != DataObjectType.SECURED_SPDM,
              expected="no type-2 object", actual="no answer" if late is None else f"type {late.object_type}")
