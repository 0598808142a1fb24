"""SPDM session cases: KEY_EXCHANGE/FINISH, HEARTBEAT, KEY_UPDATE, END_SESSION (PROTOCOLS.md §3.8-§3.11).

The legitimate handshake is devsec's requester engine (:func:`spdm.connection.connect`
then ``open_session()``): it already checks the KEY_EXCHANGE_RSP signature,
both verify data and the TH transcripts, so a case re-implementing them would
be a second, untested copy.  Cases probing one field build the request by hand.
PSK sessions (given the device's key with ``--psk``) are :mod:`.spdm_session_psk`'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from spdm.config import DEFER_TRUST, RequesterConfig
from spdm.connection import Connection, Session, connect
from spdm.crypto import generate_dhe_key, generate_kem_key
from spdm.errors import DevsecError
from spdm.messages import KeyExchange, KeyExchangeRsp
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.codes import SpdmVersion
from spdm.messages.opaque import encode_opaque, supported_versions_element

from .context import CaseContext
from .registry import case
from .requests import SUITE_PREFERENCES

__all__ = ["end_session", "heartbeat", "key_update", "open_connection", "requester_flow", "session_ids"]
"""The case bodies, and the shared connection helper."""

KE_CLAUSE = "DSP0274 1.3 Tables 64-68; PROTOCOLS.md §3.8-§3.9"


def open_connection(ctx: CaseContext, what: str, *, clear_handshake: bool = False) -> Connection | None:
    """devsec's requester authenticated against the device, or None (a recorded failure).

    Args:
        ctx: the case's context.
        what: the assertion recorded when the connection fails.
        clear_handshake: also advertise HANDSHAKE_IN_THE_CLEAR_CAP (the handshake is
            then in the clear exactly when the device advertises it too).
    """
    caps = RequesterConfig().capabilities
    config = RequesterConfig(versions=(SpdmVersion(ctx.version),), algorithms=SUITE_PREFERENCES,
                             capabilities=caps | F.HANDSHAKE_IN_THE_CLEAR_CAP if clear_handshake else caps,
                             trust_anchors=ctx.trust_roots or DEFER_TRUST)
    try:
        return connect(ctx.transport, config)
    except DevsecError as exc:
        ctx.check(what, False, expected="an authenticated connection", actual=f"{type(exc).__name__}: {exc}")
        return None


@case("spdm.key-exchange.requester-flow", "devsec's requester opens a session: KEY_EXCHANGE_RSP "
      "signature and verify data, FINISH_RSP, then END_SESSION", KE_CLAUSE, per_version=True,
      min_version=0x11, needs=F.KEY_EX_CAP)
def requester_flow(ctx: CaseContext) -> None:
    connection = open_connection(ctx, "the device opens a session with devsec's requester")
    if connection is None:
        return
    try:
        session = connection.open_session()
        session.close()
    except DevsecError as exc:
        ctx.check("the device opens a session with devsec's requester", False,
                  expected="a verified KEY_EXCHANGE_RSP and FINISH_RSP",
                  actual=f"{type(exc).__name__}: {exc}")
        return
    ctx.check("the device opens a session with devsec's requester", True,
              expected="a verified KEY_EXCHANGE_RSP and FINISH_RSP", actual="session established and ended")


@case("spdm.key-exchange.session-ids", "RspSessionID is non-zero and differs from the open session's "
      "half", "DSP0274 1.3 Tables 64-66; DSP0277 1.2; PROTOCOLS.md §3.8, §7", per_version=True,
      min_version=0x11, needs=F.KEY_EX_CAP)
def session_ids(ctx: CaseContext) -> None:
    """Decision: the new half is judged against a session devsec's requester holds open with
    the same ReqSessionID, since a SessionID must be unique among the open sessions."""
    connection = open_connection(ctx, "the device opens a first session")
    if connection is None:
        return
    try:
        first = connection.open_session()
    except DevsecError as exc:
        ctx.check("the device opens a first session", False, expected="a session",
                  actual=f"{type(exc).__name__}: {exc}")
        return
    negotiated = connection.negotiated
    codec = negotiated.codec()
    request = KeyExchange(spdm_version=ctx.version, slot_id=0, req_session_id=first.session_id & 0xFFFF,
                          random_data=os.urandom(32),
                          exchange_data=(generate_kem_key(negotiated.kem_alg) if negotiated.kem_alg
                                         else generate_dhe_key(negotiated.dhe_group)).public_bytes(),
                          opaque_data=encode_opaque(ctx.version, [supported_versions_element()]))
    rsp = ctx.decode(KeyExchangeRsp, ctx.send(request.encode(codec)), codec)
    open_half = first.session_id >> 16
    ctx.check("RspSessionID is not zero", rsp.rsp_session_id != 0, expected="non-zero",
              actual=rsp.rsp_session_id)
    ctx.check("the new SessionID differs from the open session's", rsp.rsp_session_id != open_half,
              expected=f"not 0x{open_half:04x}", actual=rsp.rsp_session_id)


def _in_session(ctx: CaseContext, what: str, use: Callable[[Session], None]) -> None:
    connection = open_connection(ctx, what)
    if connection is None:
        return
    try:
        session = connection.open_session()
        use(session)
    except DevsecError as exc:
        ctx.check(what, False, expected="the request acknowledged in the session",
                  actual=f"{type(exc).__name__}: {exc}")
        return
    ctx.check(what, True, expected="the request acknowledged in the session", actual="acknowledged")


@case("spdm.heartbeat.in-session", "HEARTBEAT in a session is answered HEARTBEAT_ACK, sealed",
      "DSP0274 1.3 Tables 73-78; PROTOCOLS.md §3.11", per_version=True, min_version=0x11,
      needs=F.KEY_EX_CAP | F.HBEAT_CAP)
def heartbeat(ctx: CaseContext) -> None:
    _in_session(ctx, "HEARTBEAT is acknowledged in the session", lambda s: s.heartbeat())


def _update_all(session: Session) -> None:
    session.update_keys(all_keys=False)  # UpdateKey, then VerifyNewKey under the new key
    session.update_keys(all_keys=True)  # UpdateAllKeys, then VerifyNewKey
    session.heartbeat()  # the session still works under both new keys


@case("spdm.key-update.operations", "KEY_UPDATE UpdateKey, UpdateAllKeys and VerifyNewKey are each "
      "acknowledged with the request's operation and tag, and the new keys work",
      "DSP0274 1.3 Tables 73-78; PROTOCOLS.md §3.11, §6.5", per_version=True, min_version=0x11,
      needs=F.KEY_EX_CAP | F.KEY_UPD_CAP)
def key_update(ctx: CaseContext) -> None:
    _in_session(ctx, "every KEY_UPDATE operation is acknowledged", _update_all)


@case("spdm.end-session.ack", "END_SESSION is answered END_SESSION_ACK, and the session is gone",
      "DSP0274 1.3 Tables 73-78; PROTOCOLS.md §3.11", per_version=True, min_version=0x11, needs=F.KEY_EX_CAP)
def end_session(ctx: CaseContext) -> None:
    _in_session(ctx, "END_SESSION is acknowledged", lambda s: s.close())
