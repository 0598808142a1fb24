"""The connection state machine in the clear: every request, in every state it is illegal in.

A device's connection moves GET_VERSION -> GET_CAPABILITIES ->
NEGOTIATE_ALGORITHMS (DSP0274 1.3 §9.2, the connection's state table and
§10.12's ERROR codes; PROTOCOLS.md §2.3).  Each case reaches one state by
legal steps and sends every request DSP0274 defines at the run's version
(:mod:`.spdm_state_requests`), each well formed, re-reaching the state before
each one so a device that wrongly accepts one request cannot spoil the next;
one assertion per request, so the report names the request that went wrong.

Decision, for every case here: DSP0274 does not order a responder's checks,
so where more than one refusal applies, each is accepted.  UnsupportedRequest
always applies to a request whose capability the device does not advertise
(and to VENDOR_DEFINED_REQUEST: no flag advertises vendor protocols);
SessionRequired (1.2+) to a request that only travels inside a session.  A
response, or an unrelated ERROR (InvalidRequest, Unspecified), fails.  The
sessions' side is :mod:`.spdm_state_session`.
"""

from __future__ import annotations

from collections.abc import Callable

from spdm.errors import DecodeError, TransportError
from spdm.errors import SpdmErrorCode as E
from spdm.messages import Finish, GetVersion, Version
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.codes import RequestCode
from spdm.transport.doe import (
    PCI_SIG_VENDOR_ID,
    DataObject,
    DataObjectType,
    decode_data_object,
    encode_data_object,
)

from .case import version_text
from .context import CaseContext, RecordingTransport
from .registry import case
from .requests import codec_context, vca
from .spdm_state_requests import HANDSHAKE, PRE_NEGOTIATION, SECURED, StateRequest, defined_at, sizes

__all__ = ["after_algorithms", "after_capabilities", "after_version", "ask", "before_version",
           "finish_without_key_exchange", "refusals", "session_only", "unadvertised"]
"""The case bodies, and the helpers :mod:`.spdm_state_session` shares."""

SESSION_KINDS = F.KEY_EX_CAP | F.PSK_CAP | F.PSK_CAP_WITH_CONTEXT
STATE_CLAUSE = "DSP0274 1.3 §9.2, §10.12; PROTOCOLS.md §2.3"


def ask(ctx: CaseContext, request: bytes) -> bytes:
    """Send one request; an empty answer when the device stayed silent (then judged a failure)."""
    try:
        return ctx.send(request)
    except TransportError:
        return b""


def refusals(ctx: CaseContext, request: StateRequest, *base: E) -> tuple[E, ...]:
    """``base``, plus the refusals that also apply to ``request`` on this device (the module's decision)."""
    codes = list(base)
    if not request.advertised(ctx.flags) or request.code == RequestCode.VENDOR_DEFINED_REQUEST:
        codes.append(E.UNSUPPORTED_REQUEST)
    if request.where in (SECURED, HANDSHAKE) and ctx.version >= 0x12:
        codes.append(E.SESSION_REQUIRED)
    return tuple(dict.fromkeys(codes))


def _matrix(ctx: CaseContext, state: str, reach: Callable[[CaseContext], None], skip: set[int],
            base: tuple[E, ...]) -> None:
    for request in defined_at(ctx.version):
        if request.code in skip:
            continue
        reach(ctx)
        answer = ask(ctx, request.build(ctx.version, PRE_NEGOTIATION))
        ctx.expect_error(f"{request.name} {state} is refused", answer, refusals(ctx, request, *base))


def _version_only(ctx: CaseContext) -> None:
    ctx.decode(Version, ctx.send(GetVersion()), reference="DSP0274 1.3 §10.3")


def _capabilities(ctx: CaseContext) -> None:
    vca(ctx, algorithms=False)


def _fresh_send(ctx: CaseContext, request: bytes) -> bytes:
    """Send ``request`` as the first message a device out of reset gets; its answer, b"" for none."""
    assert ctx.open_fresh is not None
    transport = RecordingTransport(ctx.open_fresh(), ctx.exchanges)
    try:
        obj = encode_data_object(DataObject(PCI_SIG_VENDOR_ID, DataObjectType.SPDM, request))
        return decode_data_object(transport.exchange(obj)).payload
    except (TransportError, DecodeError):
        return b""
    finally:
        transport.close()


@case("spdm.state.before-version", "Out of reset, before any GET_VERSION, every other request is refused",
      STATE_CLAUSE, per_version=True)
def before_version(ctx: CaseContext) -> None:
    """Decision: a device once spoken to is never in this state again (GET_VERSION only resets it
    to after-VERSION), so the case needs the run to open devices out of reset
    (``run_suite(open_fresh=...)``: the emulator's tests do; a real device's run cannot) and is
    skipped otherwise.  Each request goes to a device of its own.  VersionMismatch is accepted
    besides UnexpectedRequest: no version is in force yet."""
    if ctx.open_fresh is None:
        ctx.skip("the run cannot open the device out of reset, the only time it has had no GET_VERSION")
    for request in defined_at(ctx.version):
        if request.code != RequestCode.GET_VERSION:
            answer = _fresh_send(ctx, request.build(ctx.version, PRE_NEGOTIATION))
            ctx.expect_error(f"{request.name} before GET_VERSION is refused", answer,
                             refusals(ctx, request, E.UNEXPECTED_REQUEST, E.VERSION_MISMATCH))


@case("spdm.state.after-version", "After VERSION only, every request but GET_VERSION and GET_CAPABILITIES "
      "is refused", STATE_CLAUSE, per_version=True)
def after_version(ctx: CaseContext) -> None:
    """Decision: VersionMismatch is accepted besides UnexpectedRequest: before CAPABILITIES no
    version is in force, and a responder may judge the header's version first."""
    _matrix(ctx, "after VERSION only", _version_only,
            {RequestCode.GET_VERSION, RequestCode.GET_CAPABILITIES},
            (E.UNEXPECTED_REQUEST, E.VERSION_MISMATCH))


@case("spdm.state.after-capabilities", "After CAPABILITIES, every request but GET_VERSION and "
      "NEGOTIATE_ALGORITHMS is refused UnexpectedRequest", STATE_CLAUSE, per_version=True)
def after_capabilities(ctx: CaseContext) -> None:
    """Decision: with CHUNK_CAP, CHUNK_SEND is legal here (it carries a NEGOTIATE_ALGORITHMS larger
    than the DataTransferSize just exchanged; libspdm accepts it from this state on), so it is
    left to the ``spdm.chunk`` group; without CHUNK_CAP it is refused like the rest."""
    legal: set[int] = {RequestCode.GET_VERSION, RequestCode.NEGOTIATE_ALGORITHMS}
    if ctx.flags & F.CHUNK_CAP:
        legal.add(RequestCode.CHUNK_SEND)
    _matrix(ctx, "after CAPABILITIES", _capabilities, legal, (E.UNEXPECTED_REQUEST,))


@case("spdm.state.after-algorithms", "After ALGORITHMS, GET_CAPABILITIES and NEGOTIATE_ALGORITHMS again "
      "are refused UnexpectedRequest", STATE_CLAUSE, per_version=True)
def after_algorithms(ctx: CaseContext) -> None:
    for request in defined_at(ctx.version):
        if request.code not in (RequestCode.GET_CAPABILITIES, RequestCode.NEGOTIATE_ALGORITHMS):
            continue
        vca(ctx)
        answer = ask(ctx, request.build(ctx.version, PRE_NEGOTIATION))
        ctx.expect_error(f"{request.name} after ALGORITHMS is refused", answer, (E.UNEXPECTED_REQUEST,))


@case("spdm.state.finish-without-key-exchange", "FINISH with no KEY_EXCHANGE before it is refused",
      "DSP0274 1.3 Tables 67-68, §10.12", per_version=True, min_version=0x11, needs=F.KEY_EX_CAP)
def finish_without_key_exchange(ctx: CaseContext) -> None:
    """Decision: both UnexpectedRequest and (1.2+) SessionRequired are accepted: in the clear
    without HANDSHAKE_IN_THE_CLEAR a FINISH is also a session-only request."""
    _, _, algs = vca(ctx)
    assert algs is not None
    finish = Finish(spdm_version=ctx.version, requester_verify_data=bytes(codec_context(algs).hash_size))
    codes = (E.UNEXPECTED_REQUEST, E.SESSION_REQUIRED) if ctx.version >= 0x12 else (E.UNEXPECTED_REQUEST,)
    answer = ask(ctx, finish.encode(codec_context(algs)))
    ctx.expect_error("FINISH without KEY_EXCHANGE is refused", answer, codes)


@case("spdm.state.session-only", "PSK_FINISH, HEARTBEAT, KEY_UPDATE and END_SESSION in the clear are "
      "refused: SessionRequired from 1.2, UnexpectedRequest at 1.1",
      "DSP0274 1.3 Table 4, Tables 73-78, §10.12; PROTOCOLS.md §3.11",
      per_version=True, min_version=0x11, needs_any=SESSION_KINDS)
def session_only(ctx: CaseContext) -> None:
    """Decision: UnsupportedRequest is accepted too for a request whose capability the device
    does not advertise (HEARTBEAT without HBEAT_CAP)."""
    code = E.SESSION_REQUIRED if ctx.version >= 0x12 else E.UNEXPECTED_REQUEST
    for request in defined_at(ctx.version):
        if request.where != SECURED:
            continue
        _, _, algs = vca(ctx)
        answer = ask(ctx, request.build(ctx.version, sizes(algs)))
        codes = (code, E.UNSUPPORTED_REQUEST) if not request.advertised(ctx.flags) else (code,)
        ctx.expect_error(f"{request.name} in the clear is refused", answer, codes)


@case("spdm.state.unadvertised", "After ALGORITHMS, a request whose capability the device does not "
      "advertise is refused UnsupportedRequest", "DSP0274 1.3 §10.4 (Table 11), §10.12", per_version=True)
def unadvertised(ctx: CaseContext) -> None:
    """Decision: only requests that may travel in the clear are sent (a session-only one is the
    session's to judge); a device advertising every capability of its version is skipped."""
    rows = [r for r in defined_at(ctx.version) if not r.advertised(ctx.flags) and r.where != SECURED]
    if not rows:
        ctx.skip("the device advertises every capability a request needs at SPDM "
                 f"{version_text(ctx.version)}")
    for request in rows:
        _, _, algs = vca(ctx)
        answer = ask(ctx, request.build(ctx.version, sizes(algs)))
        if ctx.expect_error(f"{request.name} (needs {request.needs.name}) is refused", answer,
                            (E.UNSUPPORTED_REQUEST,)):
            ctx.equal(f"{request.name}'s UnsupportedRequest names the request code in ErrorData",
                      request.code, answer[3])
