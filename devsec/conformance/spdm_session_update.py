"""KEY_UPDATE cases driven record by record: each ACK's echo, and an unknown operation.

The session is opened by devsec's requester engine; the case then seals its
own KEY_UPDATE requests with the engine's session keys (:mod:`spdm.secured`),
so it chooses the operation and tag and sees each ACK's bytes.
"""

from __future__ import annotations

from spdm.errors import DevsecError
from spdm.errors import SpdmErrorCode as E
from spdm.messages import KeyUpdateAck
from spdm.messages.codes import CapabilityFlags as F
from spdm.secured import SessionKeys, open_record, seal
from spdm.session import Session
from spdm.state import KeyUpdateOperation as Op

from .context import CaseContext
from .registry import case
from .spdm_secured import send_record
from .spdm_session import open_connection

__all__ = ["ack_echo", "unknown_operation"]
"""The case bodies (registered with :func:`.registry.case`)."""

CLAUSE = "DSP0274 1.3 Tables 73-78; PROTOCOLS.md §3.11, §6.5"
KEY_UPDATE = 0xE9


def _session(ctx: CaseContext) -> Session | None:
    connection = open_connection(ctx, "the device opens a session")
    if connection is None:
        return None
    try:
        opened = connection.open_session()
    except DevsecError as exc:
        ctx.check("the device opens a session", False, expected="a session",
                  actual=f"{type(exc).__name__}: {exc}")
        return None
    return connection.driver.requester.sessions[opened.session_id]


def _exchange(ctx: CaseContext, session: Session, keys: SessionKeys, request: bytes,
              *, update: bool = False) -> bytes | None:
    """Seal ``request``, (for UpdateKey) move to the next request key, open the answer."""
    record = seal(keys.request, session.session_id, request)
    if update:
        keys.update(both=False)
    answer = send_record(ctx, record)
    if answer is None:
        ctx.check("the sealed KEY_UPDATE is answered", False, expected="a sealed answer", actual="no answer")
        return None
    try:
        return open_record(keys.response, answer.payload, expected_session_id=session.session_id)
    except DevsecError as exc:
        ctx.check("the answer opens under the session's response key", False, expected="a sealed answer",
                  actual=f"{type(exc).__name__}: {exc}")
        return None


@case("spdm.key-update.ack-echo", "KEY_UPDATE_ACK echoes the request's KeyOperation and Tag (UpdateKey, "
      "then VerifyNewKey under the new key)", CLAUSE, per_version=True, min_version=0x11,
      needs=F.KEY_EX_CAP | F.KEY_UPD_CAP)
def ack_echo(ctx: CaseContext) -> None:
    session = _session(ctx)
    if session is None:
        return
    keys = session.current_keys()
    version = session.version
    for operation, tag in ((Op.UPDATE_KEY, 0x5A), (Op.VERIFY_NEW_KEY, 0xA5)):
        plain = _exchange(ctx, session, keys, bytes([version, KEY_UPDATE, operation, tag]),
                          update=operation == Op.UPDATE_KEY)
        if plain is None:
            return
        ack = ctx.decode(KeyUpdateAck, plain)
        ctx.equal(f"{operation.name}: the ACK echoes KeyOperation", int(operation), ack.key_operation)
        ctx.equal(f"{operation.name}: the ACK echoes Tag", tag, ack.tag)
    keys.commit_update()


@case("spdm.key-update.unknown-operation", "KEY_UPDATE with a reserved KeyOperation is refused "
      "InvalidRequest, sealed", CLAUSE + "; DSP0274 1.3 §10.12", per_version=True, min_version=0x11,
      needs=F.KEY_EX_CAP | F.KEY_UPD_CAP)
def unknown_operation(ctx: CaseContext) -> None:
    session = _session(ctx)
    if session is None:
        return
    plain = _exchange(ctx, session, session.current_keys(), bytes([session.version, KEY_UPDATE, 4, 0x33]))
    if plain is not None:
        ctx.expect_error("a reserved KeyOperation is refused", plain, (E.INVALID_REQUEST,))
