"""In-session checking cases: what the requester sends inside the sessions it opens.

The device records each in-session request as plaintext, flagged with its
record's SessionID (:mod:`.device`), and every record it could not open;
these cases judge that trace.  A requester that opened no session (or did no
key update) is skipped, saying so.  Clause numbers follow DSP0274 1.3
(KEY_EXCHANGE Tables 64-66, FINISH 67-68, PSK 69-72, HEARTBEAT / KEY_UPDATE /
END_SESSION 73-78) and DSP0277 1.2 for records.
"""

from __future__ import annotations

from spdm.messages.codes import CapabilityFlags, RequestCode, ResponseCode
from spdm.record import record
from spdm.session import session_id_of
from spdm.state import KeyUpdateOperation

from ..context import Exchange
from .context import RequesterContext, RequesterRun
from .registry import case

__all__ = ["OUTSIDE_ONLY", "heartbeat", "ids", "key_update", "order", "sessions_of"]
"""The case judges (registered with :func:`.registry.case`; run them through the runner)."""

OUTSIDE_ONLY = frozenset({
    RequestCode.GET_VERSION, RequestCode.GET_CAPABILITIES, RequestCode.NEGOTIATE_ALGORITHMS,
    RequestCode.CHALLENGE, RequestCode.KEY_EXCHANGE, RequestCode.PSK_EXCHANGE,
})
"""Requests that are never legal inside a session (connection set-up, CHALLENGE, a new handshake)."""

_HANDSHAKES: dict[int, int] = {RequestCode.KEY_EXCHANGE: ResponseCode.KEY_EXCHANGE_RSP,
               RequestCode.PSK_EXCHANGE: ResponseCode.PSK_EXCHANGE_RSP}
_ENCAPSULATED = frozenset({RequestCode.GET_ENCAPSULATED_REQUEST, RequestCode.DELIVER_ENCAPSULATED_RESPONSE})
_UPDATES = frozenset({KeyUpdateOperation.UPDATE_KEY, KeyUpdateOperation.UPDATE_ALL_KEYS})


@record(frozen=True, slots=True)
class OpenedSession:
    """A session the requester's handshake opened.

    Attributes:
        session_id: ReqSessionID | RspSessionID << 16, as records must carry it.
        handshake: the KEY_EXCHANGE / PSK_EXCHANGE exchange (in the clear).
        position: its index in the run's exchanges.
    """

    session_id: int
    handshake: Exchange
    position: int

    @property
    def req_half(self) -> int:
        """The requester's ReqSessionID."""
        return int.from_bytes(self.handshake.request[4:6], "little")

    @property
    def key_exchange(self) -> bool:
        """Opened by KEY_EXCHANGE (else PSK_EXCHANGE)."""
        return self.handshake.request[1] == RequestCode.KEY_EXCHANGE

    def exchanges(self, run: RequesterRun) -> list[Exchange]:
        """The exchanges inside this session, in order."""
        return [e for e in run.exchanges[self.position + 1:] if e.session_id == self.session_id]


def sessions_of(run: RequesterRun) -> list[OpenedSession]:
    """Every session a handshake of ``run`` opened (the device answered it without ERROR)."""
    opened = []
    for position, exchange in enumerate(run.exchanges):
        code = exchange.request[1] if len(exchange.request) >= 2 else None
        if (exchange.session_id is None and code in _HANDSHAKES and len(exchange.response) >= 6
                and exchange.response[1] == _HANDSHAKES[code]):
            req_half = int.from_bytes(exchange.request[4:6], "little")
            rsp_half = int.from_bytes(exchange.response[4:6], "little")
            opened.append(OpenedSession(session_id_of(req_half, rsp_half), exchange, position))
    return opened


def _opened(ctx: RequesterContext) -> list[tuple[RequesterRun, OpenedSession]]:
    """Each run's sessions (after recording that the runs succeeded); skips when there is none."""
    for run in ctx.runs:
        ctx.succeeded(run)
    found = [(run, session) for run in ctx.runs for session in sessions_of(run)]
    if not found:
        ctx.skip("no session was opened (the requester sent no KEY_EXCHANGE or PSK_EXCHANGE)")
    return found


def _code(exchange: Exchange) -> int:
    return exchange.request[1] if len(exchange.request) >= 2 else -1


def _name(code: int) -> str:
    try:
        return RequestCode(code).name
    except ValueError:
        return f"0x{code:02x}"


@case("requester.session.order", "Inside a session only session requests travel: FINISH right after "
      "KEY_EXCHANGE_RSP, no VCA, CHALLENGE or new handshake, nothing after END_SESSION",
      "DSP0274 1.3 §9.2, Tables 64-68, 77-78")
def order(ctx: RequesterContext) -> None:
    for run, session in _opened(ctx):
        inside = session.exchanges(run)
        for exchange in inside:
            code = _code(exchange)
            ctx.check(f"{_name(code)} is a request legal inside a session", code not in OUTSIDE_ONLY,
                      expected="no GET_VERSION, GET_CAPABILITIES, NEGOTIATE_ALGORITHMS, CHALLENGE, "
                               "KEY_EXCHANGE or PSK_EXCHANGE", actual=_name(code), exchange=exchange)
        if session.key_exchange:
            following = [e for e in run.exchanges[session.position + 1:]
                         if _code(e) != RequestCode.RESPOND_IF_READY]
            mutual = session.handshake.response[6:7] not in (b"", b"\x00")
            allowed = {RequestCode.FINISH} | (_ENCAPSULATED if mutual else set())
            nxt = following[0] if following else None
            ctx.check("FINISH (or the mutual-authentication flow) follows KEY_EXCHANGE_RSP",
                      nxt is not None and _code(nxt) in allowed,
                      expected=" or ".join(sorted(_name(c) for c in allowed)),
                      actual=_name(_code(nxt)) if nxt is not None else "nothing", exchange=nxt,
                      reference="DSP0274 1.3 Tables 64-68")
        ends = [i for i, e in enumerate(inside) if _code(e) == RequestCode.END_SESSION
                and e.response[1:2] == bytes([ResponseCode.END_SESSION_ACK])]
        if ends:
            after = inside[ends[0] + 1:]
            ctx.check("nothing is sent in the session after END_SESSION", not after,
                      expected="END_SESSION last", actual=[_name(_code(e)) for e in after] or "nothing",
                      exchange=after[0] if after else inside[ends[0]], reference="DSP0274 1.3 Tables 77-78")
        stale = [r for r in run.dropped if r.session_id == session.session_id]
        ctx.check("every record in the session opens under the session's keys", not stale,
                  expected="no record the device had to drop", actual=f"{len(stale)} dropped record(s)",
                  exchange=stale[0] if stale else None, reference="DSP0277 1.2 §6")


@case("requester.session.key-update", "A key update is KEY_UPDATE (UpdateKey or UpdateAllKeys), then "
      "VerifyNewKey under the new key; the old key is never used after the ACK",
      "DSP0274 1.3 Tables 73-76; DSP0277 1.2; PROTOCOLS.md §3.11, §6.5")
def key_update(ctx: RequesterContext) -> None:
    judged = False
    for run, session in _opened(ctx):
        inside = session.exchanges(run)
        for index, exchange in enumerate(inside):
            if (_code(exchange) != RequestCode.KEY_UPDATE or exchange.request[2] not in _UPDATES
                    or exchange.response[1:2] != bytes([ResponseCode.KEY_UPDATE_ACK])):
                continue
            judged = True
            nxt = next((e for e in inside[index + 1:] if _code(e) != RequestCode.RESPOND_IF_READY), None)
            ctx.check("the next request in the session is KEY_UPDATE VerifyNewKey",
                      nxt is not None and _code(nxt) == RequestCode.KEY_UPDATE
                      and nxt.request[2] == KeyUpdateOperation.VERIFY_NEW_KEY,
                      expected="KEY_UPDATE with KeyOperation 3 (VerifyNewKey)",
                      actual="nothing" if nxt is None else f"{_name(_code(nxt))} {nxt.request[2:4].hex()}",
                      exchange=nxt or exchange)
        verifies = [e for e in inside if _code(e) == RequestCode.KEY_UPDATE
                    and e.request[2] == KeyUpdateOperation.VERIFY_NEW_KEY]
        for exchange in verifies:
            ctx.equal("VerifyNewKey is acknowledged (it came under the new key)",
                      f"0x{ResponseCode.KEY_UPDATE_ACK:02x}", f"0x{exchange.response[1]:02x}",
                      exchange=exchange)
        if judged:
            stale = [r for r in run.dropped if r.session_id == session.session_id]
            ctx.check("no record comes under a key the update retired", not stale,
                      expected="every record opens under the keys in force",
                      actual=f"{len(stale)} record(s) the device could not open", exchange=stale[0] if stale
                      else None, reference="DSP0277 1.2 §6; PROTOCOLS.md §6.5")
    if not judged:
        ctx.skip("the requester did no key update (no acknowledged UpdateKey or UpdateAllKeys)")


@case("requester.session.heartbeat", "HEARTBEAT is sent only when both sides set HBEAT_CAP (the device "
      "here does not)", "DSP0274 1.3 §10.4 Table 11, Tables 73-74", without=CapabilityFlags.HBEAT_CAP)
def heartbeat(ctx: RequesterContext) -> None:
    for run, session in _opened(ctx):
        beats = [e for e in session.exchanges(run) if _code(e) == RequestCode.HEARTBEAT]
        ctx.check("no HEARTBEAT goes to a device without HBEAT_CAP", not beats,
                  expected="no HEARTBEAT", actual=f"{len(beats)} HEARTBEAT(s)",
                  exchange=beats[0] if beats else session.handshake)


@case("requester.session.ids", "ReqSessionID is non-zero and unique per session, and every record "
      "carries the SessionID formed from both halves", "DSP0274 1.3 Tables 64-66, 69-70; DSP0277 1.2 §6")
def ids(ctx: RequesterContext) -> None:
    """A zero ReqSessionID is refused: devsec's decision, where DSP0274 leaves room (libspdm reserves 0
    as its invalid SessionID, so a 0 half cannot be told from "no session" in its logs and state)."""
    opened = _opened(ctx)
    for run in ctx.runs:
        halves = [s.req_half for s in sessions_of(run)]
        ctx.equal("each session of a run has its own ReqSessionID", len(set(halves)), len(halves))
    for run, session in opened:
        ctx.check("ReqSessionID is non-zero", session.req_half != 0, expected="a non-zero half",
                  actual=f"0x{session.req_half:04x}", exchange=session.handshake)
        formed = {s.session_id for s in sessions_of(run)}
        for dropped in run.dropped:
            ctx.check("the record carries a SessionID a handshake formed", dropped.session_id in formed,
                      expected=" or ".join(f"0x{s:08x}" for s in sorted(formed)),
                      actual=f"0x{dropped.session_id or 0:08x}", exchange=dropped)
        inside = session.exchanges(run)
        ctx.check("records in the session carry ReqSessionID | RspSessionID << 16", bool(inside),
                  expected=f"records with SessionID 0x{session.session_id:08x}",
                  actual=f"{len(inside)} record(s) opened with it", exchange=session.handshake)
