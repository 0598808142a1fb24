"""PSK session cases: PSK_EXCHANGE / PSK_FINISH, the session they open, and what a PSK device refuses.

The legitimate handshake is devsec's requester engine after VCA alone (a PSK
session needs no certificate, so a PSK-only device is judged too): it
derives the PSK key schedule, checks ResponderVerifyData and the
ResponderContext rule, and seals PSK_FINISH, so the suite never holds a key
schedule of its own.  The cases then judge the PSK_EXCHANGE_RSP bytes as the
device sent them (RspSessionID, ResponderContext, the measurement summary
hash), and the refusal cases change one thing of the engine's flow.

Every case but :func:`unknown_hint` and :func:`finish_without_exchange`
needs the device's PSK (``--psk`` with its ``--psk-hint``): without it they
are skipped saying so.  Which handshake the
device runs follows its PSK_CAP (PROTOCOLS.md §3.10): with context (10b) the
ResponderContext is present and PSK_FINISH opens the session; without (01b)
the context is absent and the session is open after PSK_EXCHANGE_RSP.
"""

from __future__ import annotations

import os

from spdm.config import DEFER_TRUST, RequesterConfig
from spdm.crypto import digest
from spdm.driver import RequesterDriver
from spdm.errors import DecodeError, DevsecError
from spdm.errors import SpdmErrorCode as E
from spdm.events import MeasurementsReceived, SessionEstablished
from spdm.messages import ErrorResponse, PskExchange, PskExchangeRsp, PskFinish
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.codes import MeasurementOperation, MeasurementSummaryHashType, SpdmVersion
from spdm.messages.opaque import encode_opaque, supported_versions_element
from spdm.negotiation import MEAS_CAPS
from spdm.requester import Requester
from spdm.secured import open_record, record_session_id, seal
from spdm.transport.doe import DataObjectType

from .context import CaseContext
from .registry import case
from .requests import SUITE_PREFERENCES, codec_context, vca
from .spdm_secured import send_record

__all__ = ["bad_verify_data", "finish_without_exchange", "in_session", "psk_requester", "session",
           "summary_hash", "unknown_hint"]
"""The case bodies (registered with :func:`.registry.case`), and the engine helper."""

ERROR, PSK_EXCHANGE_RSP, PSK_FINISH_RSP = 0x7F, 0x66, 0x67
PSK = F.PSK_CAP | F.PSK_CAP_WITH_CONTEXT
CLAUSE = "DSP0274 1.3 Tables 69-72; PROTOCOLS.md §3.10"
IN_SESSION = "DSP0274 1.3 Tables 73-78; PROTOCOLS.md §3.11"
NO_PSK = "no --psk given (the PSK session cases need the device's PSK and its hint)"


@case("spdm.psk.unknown-hint", "PSK_EXCHANGE naming a PSKHint the device does not hold is refused with "
      "an ERROR, not answered PSK_EXCHANGE_RSP", "DSP0274 1.3 Tables 69-72, §10.12; PROTOCOLS.md §3.10",
      per_version=True, min_version=0x11, needs_any=PSK)
def unknown_hint(ctx: CaseContext) -> None:
    """Decision: DSP0274 names no dedicated code for an unknown hint (libspdm and the emulator
    answer InvalidRequest), so any ERROR passes; a PSK_EXCHANGE_RSP means the device picked a
    key the requester never named."""
    vca(ctx)
    hint = os.urandom(16)
    request = PskExchange(spdm_version=ctx.version, req_session_id=0x5A5A, psk_hint=hint,
                          requester_context=os.urandom(48),
                          opaque_data=encode_opaque(ctx.version, [supported_versions_element()]))
    answer = ctx.send(request)
    ctx.check("a random PSKHint is refused with an ERROR", answer[1:2] == bytes([ERROR]),
              expected="an ERROR (7fh)", actual=f"code 0x{answer[1]:02x}" if len(answer) > 1 else "no header")


def psk_requester(ctx: CaseContext) -> RequesterDriver:
    """devsec's requester after VCA at the run's version, ready for PSK_EXCHANGE.

    Raises:
        CaseSkipped: the run was given no PSK.
        CaseAborted: VCA failed.
    """
    if ctx.options.psk is None:
        ctx.skip(NO_PSK)
    config = RequesterConfig(versions=(SpdmVersion(ctx.version),), algorithms=SUITE_PREFERENCES,
                             trust_anchors=ctx.trust_roots or DEFER_TRUST)
    requester = Requester(config)
    driver = RequesterDriver(ctx.transport, requester)
    try:
        for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms):
            driver.run(command)
    except DevsecError as exc:
        ctx.require("VCA succeeds", False, expected="VERSION, CAPABILITIES, ALGORITHMS",
                    actual=f"{type(exc).__name__}: {exc}", reference="DSP0274 1.3 §10.3-§10.5")
    return driver


def _psk_exchange(ctx: CaseContext, driver: RequesterDriver,
                  summary: MeasurementSummaryHashType = MeasurementSummaryHashType.NONE,
                  ) -> tuple[PskExchangeRsp, bytes]:
    """The engine's PSK_EXCHANGE, sent by the case: the response decoded (the last exchange) and its bytes.

    Raises:
        CaseAborted: the device answered anything but a well-formed PSK_EXCHANGE_RSP.
    """
    psk = ctx.options.psk
    assert psk is not None
    requester = driver.requester
    requester.psk_exchange(psk, ctx.options.psk_hint, summary=summary)
    answer = ctx.send(requester.data_to_send())
    negotiated = requester.negotiated
    assert negotiated is not None
    codec = negotiated.codec(measurement_summary=summary != MeasurementSummaryHashType.NONE)
    return ctx.decode(PskExchangeRsp, answer, codec), answer


def _complete(ctx: CaseContext, driver: RequesterDriver, answer: bytes,
              what: str) -> SessionEstablished | None:
    """The engine takes PSK_EXCHANGE_RSP (verify data, context rule) and sends PSK_FINISH when the
    device uses a context; the session's event, or None (the failure recorded)."""
    requester = driver.requester
    expected = "a verified PSK_EXCHANGE_RSP (and PSK_FINISH_RSP with context)"
    try:
        requester.receive_data(answer)
        events = list(iter(requester.next_event, None))
        events += driver.run(lambda: None)  # PSK_FINISH, when the engine queued one
    except DevsecError as exc:
        ctx.check(what, False, expected=expected, actual=f"{type(exc).__name__}: {exc}")
        return None
    established = next((e for e in events if isinstance(e, SessionEstablished)), None)
    ctx.check(what, established is not None, expected=expected, actual="no session" if established is None
              else f"session 0x{established.session_id:08x} established")
    return established


def _open(ctx: CaseContext, driver: RequesterDriver) -> SessionEstablished | None:
    _, answer = _psk_exchange(ctx, driver)
    return _complete(ctx, driver, answer, "devsec's requester opens a PSK session")


@case("spdm.psk.session", "With --psk: PSK_EXCHANGE (and PSK_FINISH with context) opens a session: "
      "ResponderVerifyData verifies, RspSessionID is non-zero, ResponderContext is present exactly with "
      "PSK_CAP_WITH_CONTEXT", CLAUSE, per_version=True, min_version=0x11, needs_any=PSK)
def session(ctx: CaseContext) -> None:
    """Decision: with PSK_CAP (no context) PSK_FINISH is not sent; the session is then judged usable
    by :func:`in_session`."""
    driver = psk_requester(ctx)
    rsp, answer = _psk_exchange(ctx, driver)
    ctx.check("RspSessionID is not zero", rsp.rsp_session_id != 0, expected="non-zero",
              actual=rsp.rsp_session_id)
    with_context = bool(ctx.flags & F.PSK_CAP_WITH_CONTEXT)
    ctx.check("ResponderContext is present exactly when the device advertises PSK_CAP_WITH_CONTEXT",
              bool(rsp.responder_context) == with_context,
              expected=f"{'a' if with_context else 'no'} ResponderContext (PSK_CAP "
                       f"{'10b' if with_context else '01b'})",
              actual=f"{len(rsp.responder_context)} byte(s)")
    before = len(ctx.exchanges)
    established = _complete(ctx, driver, answer, "devsec's requester opens a PSK session")
    if established is not None:
        ctx.equal("PSK_FINISH was sent exactly when the device uses a context", int(with_context),
                  len(ctx.exchanges) - before)
        _end(ctx, driver, established)


def _end(ctx: CaseContext, driver: RequesterDriver, established: SessionEstablished) -> None:
    requester = driver.requester
    try:
        driver.run(lambda: requester.end_session(established.session_id))
    except DevsecError as exc:
        ctx.check("END_SESSION is acknowledged in the PSK session", False, expected="END_SESSION_ACK, sealed",
                  actual=f"{type(exc).__name__}: {exc}", reference=IN_SESSION)
        return
    ctx.check("END_SESSION is acknowledged in the PSK session", True, expected="END_SESSION_ACK, sealed",
              actual="acknowledged", reference=IN_SESSION)


@case("spdm.psk.in-session", "With --psk: HEARTBEAT (where advertised) and END_SESSION are answered, "
      "sealed, in a PSK session", "DSP0274 1.3 Tables 69-78; PROTOCOLS.md §3.10-§3.11", per_version=True,
      min_version=0x11, needs_any=PSK)
def in_session(ctx: CaseContext) -> None:
    driver = psk_requester(ctx)
    established = _open(ctx, driver)
    if established is None:
        return
    requester = driver.requester
    if ctx.flags & F.HBEAT_CAP:
        try:
            driver.run(lambda: requester.heartbeat(established.session_id))
            ctx.check("HEARTBEAT is acknowledged in the PSK session", True, expected="HEARTBEAT_ACK, sealed",
                      actual="acknowledged", reference=IN_SESSION)
        except DevsecError as exc:
            ctx.check("HEARTBEAT is acknowledged in the PSK session", False, expected="HEARTBEAT_ACK, sealed",
                      actual=f"{type(exc).__name__}: {exc}", reference=IN_SESSION)
            return
    _end(ctx, driver, established)


@case("spdm.psk.summary-hash", "With --psk: PSK_EXCHANGE asking for every measurement's summary hash "
      "gets the hash of the device's measurement blocks",
      "DSP0274 1.3 Tables 69-70, §10.11; PROTOCOLS.md §3.10", per_version=True,
      min_version=0x11, needs_any=PSK)
def summary_hash(ctx: CaseContext) -> None:
    """Decision: the expected hash is the negotiated hash over the blocks an unsigned
    GET_MEASUREMENTS of all blocks returned just before, in the same connection, as DSP0274
    defines the ALL summary."""
    driver = psk_requester(ctx)
    if not ctx.flags & MEAS_CAPS:
        ctx.skip(f"the device advertises no MEAS_CAP at SPDM {ctx.version >> 4}.{ctx.version & 15}: "
                 "no summary hash to ask for")
    requester = driver.requester
    try:
        events = driver.run(lambda: requester.get_measurements(MeasurementOperation.ALL, signed=False))
    except DevsecError as exc:
        ctx.require("GET_MEASUREMENTS of every block is answered", False, expected="MEASUREMENTS",
                    actual=f"{type(exc).__name__}: {exc}", reference="DSP0274 1.3 §10.11")
    blocks = next(e for e in events if isinstance(e, MeasurementsReceived)).blocks
    rsp, answer = _psk_exchange(ctx, driver, MeasurementSummaryHashType.ALL)
    negotiated = requester.negotiated
    assert negotiated is not None
    expected = digest(negotiated.hash_alg, b"".join(b.encode() for b in blocks))
    ctx.equal("MeasurementSummaryHash is the hash of every measurement block", expected,
              rsp.measurement_summary_hash)
    established = _complete(ctx, driver, answer, "devsec's requester opens the PSK session")
    if established is not None:
        _end(ctx, driver, established)


@case("spdm.psk.bad-verify-data", "With --psk: PSK_FINISH with a wrong RequesterVerifyData is refused "
      "DecryptError and opens no session", "DSP0274 1.3 Tables 71-72, §10.12; PROTOCOLS.md §3.10, §6.4",
      per_version=True, min_version=0x11, needs=F.PSK_CAP_WITH_CONTEXT)
def bad_verify_data(ctx: CaseContext) -> None:
    """The engine seals PSK_FINISH; the case reopens it under the same handshake key, flips a
    verify data bit and reseals it, so only the HMAC is wrong.

    Decision: the ERROR is accepted sealed under the handshake response key or in the clear.
    "Opens no session": the correct PSK_FINISH, sealed next, must then not be answered
    PSK_FINISH_RSP (a device that kept the handshake would accept it)."""
    driver = psk_requester(ctx)
    requester = driver.requester
    _, answer = _psk_exchange(ctx, driver)
    try:
        requester.receive_data(answer)
        list(iter(requester.next_event, None))
    except DevsecError as exc:
        ctx.require("the PSK_EXCHANGE_RSP verifies", False, expected="a verified PSK_EXCHANGE_RSP",
                    actual=f"{type(exc).__name__}: {exc}")
    record = requester.data_to_send()
    session_id = record_session_id(record)
    keys = requester.sessions[session_id].current_keys()
    keys.request.seq -= 1
    finish = open_record(keys.request, record)
    keys.request.seq -= 1
    bad = seal(keys.request, session_id, finish[:-1] + bytes([finish[-1] ^ 0x01]))
    refusal = send_record(ctx, bad)
    message = b"" if refusal is None else refusal.payload
    if refusal is not None and refusal.object_type == DataObjectType.SECURED_SPDM:
        try:
            message = open_record(keys.response, refusal.payload, expected_session_id=session_id)
        except DevsecError as exc:
            ctx.check("the sealed answer opens under the handshake key", False,
                      expected="a record sealed with the handshake response key", actual=str(exc))
            return
    ctx.check("the bad PSK_FINISH is answered ERROR DecryptError", _error_code(message) == E.DECRYPT_ERROR,
              expected="ERROR DecryptError", actual=_what(message))
    good = send_record(ctx, seal(keys.request, session_id, finish))
    reply = b""
    if good is not None and good.object_type == DataObjectType.SECURED_SPDM:
        try:
            reply = open_record(keys.response, good.payload, expected_session_id=session_id)
        except DevsecError:
            reply = b""
    ctx.check("after the refusal, the correct PSK_FINISH opens no session",
              reply[1:2] != bytes([PSK_FINISH_RSP]), expected="no PSK_FINISH_RSP",
              actual=_what(reply) if reply else "no sealed answer")


@case("spdm.psk.finish-without-exchange", "PSK_FINISH with no PSK_EXCHANGE before it is refused",
      "DSP0274 1.3 Tables 71-72, §10.12; PROTOCOLS.md §3.10", per_version=True, min_version=0x11,
      needs=F.PSK_CAP_WITH_CONTEXT)
def finish_without_exchange(ctx: CaseContext) -> None:
    """Decision: the request goes in the clear after VCA (there is no session to seal it in);
    DSP0274 allows UnexpectedRequest (no handshake) or SessionRequired (1.2+: a secured-only
    request outside a session), and InvalidRequest for a device that rejects it on shape.  Like
    :func:`unknown_hint` it needs no PSK, so it runs without ``--psk``."""
    _, _, algs = vca(ctx)
    assert algs is not None
    codec = codec_context(algs)
    finish = PskFinish(spdm_version=ctx.version, requester_verify_data=os.urandom(codec.hash_size))
    answer = ctx.send(finish.encode(codec))
    ctx.expect_error("PSK_FINISH without PSK_EXCHANGE is refused", answer,
                     (E.UNEXPECTED_REQUEST, E.SESSION_REQUIRED, E.INVALID_REQUEST))


def _error_code(message: bytes) -> int | None:
    if message[1:2] != bytes([ERROR]):
        return None
    try:
        return int(ErrorResponse.decode(message, padded=True).error_code)
    except DecodeError:
        return None


def _what(message: bytes) -> str:
    if not message:
        return "no answer"
    code = _error_code(message)
    if code is not None:
        return f"ERROR {ErrorResponse.decode(message, padded=True).name}"
    return f"{message[:4].hex()} (code 0x{message[1]:02x})" if len(message) > 1 else message.hex()

