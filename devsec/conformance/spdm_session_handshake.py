"""SPDM session handshake cases: every DHE group and AEAD suite, handshake in the clear, bad verify data.

The algorithm cases offer one DHE group (or AEAD suite) at a time, so the
device either selects that one or none; a selected one must then carry a
whole session (DSP0274 1.3 §10.5; PROTOCOLS.md §3.3).  The
verify-data case lets devsec's requester engine compute KEY_EXCHANGE and seal
FINISH, then corrupts the RequesterVerifyData byte under the engine's own
handshake key, so only the HMAC is wrong.
"""

from __future__ import annotations

from dataclasses import replace

from spdm.config import DEFER_TRUST, RequesterConfig
from spdm.connection import connect
from spdm.errors import DecodeError, DevsecError
from spdm.errors import SpdmErrorCode as E
from spdm.messages import ErrorResponse
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.codes import SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from spdm.secured import open_record, record_session_id, seal
from spdm.transport.doe import DataObjectType

from .context import CaseContext
from .registry import case
from .requests import SUITE_PREFERENCES
from .spdm_secured import send_record
from .spdm_session import open_connection

__all__ = ["aead_suites", "bad_verify_data", "dhe_groups", "handshake_in_the_clear"]
"""The case bodies (registered with :func:`.registry.case`)."""


def _session_with(ctx: CaseContext, prefs: AlgorithmPreferences, name: str, selected: str) -> None:
    """Offer ``prefs``; when the device selects the one offered algorithm, a session must work."""
    config = RequesterConfig(versions=(SpdmVersion(ctx.version),), algorithms=prefs,
                             trust_anchors=ctx.trust_roots or DEFER_TRUST)
    try:
        connection = connect(ctx.transport, config)
    except DevsecError as exc:
        ctx.check(f"VCA and authentication succeed offering only {name}", False,
                  expected="an authenticated connection", actual=f"{type(exc).__name__}: {exc}")
        return
    chosen = getattr(connection.negotiated, selected)
    if not chosen:
        ctx.check(f"offering only {name}, the device selects it or none", True,
                  expected=f"{name} or none", actual="none")
        return
    if not ctx.check(f"offering only {name}, the device selects it or none", chosen.name == name,
                     expected=f"{name} or none", actual=chosen.name):
        return
    try:
        connection.open_session().close()
    except DevsecError as exc:
        ctx.check(f"a session works with {name}", False, expected="session established and ended",
                  actual=f"{type(exc).__name__}: {exc}")
        return
    ctx.check(f"a session works with {name}", True, expected="session established and ended",
              actual="session established and ended")


@case("spdm.key-exchange.dhe-groups", "Every DHE group the device selects when offered alone carries a "
      "session", "DSP0274 1.3 §10.5, Tables 64-66; PROTOCOLS.md §3.3, §3.8.3", per_version=True,
      min_version=0x11, needs=F.KEY_EX_CAP)
def dhe_groups(ctx: CaseContext) -> None:
    """Decision: the offer leaves the 1.4 KEMs out.  A device with both classic DHE and
    ML-KEM may select a KEM whenever one is offered (DSP0274 1.4 lets it choose; devsec's device
    always does, :func:`spdm.negotiation.select_key_exchange`), so with the suite's whole 1.4
    offer the case saw "none selected" for every group and judged no DHE group at all.  Without
    a KEM, each group offered alone is again selected (and must carry a session) or not; a
    KEM-only device selects none, as a device without that group does."""
    base = replace(SUITE_PREFERENCES, kem_algs=())
    for group in base.dhe_groups:
        _session_with(ctx, replace(base, dhe_groups=(group,)), group.name or hex(group), "dhe_group")


@case("spdm.key-exchange.aead-suites", "Every AEAD suite the device selects when offered alone carries "
      "a session", "DSP0274 1.3 §10.5; DSP0277 1.2; PROTOCOLS.md §3.3, §7", per_version=True,
      min_version=0x11, needs=F.KEY_EX_CAP)
def aead_suites(ctx: CaseContext) -> None:
    base = SUITE_PREFERENCES
    for suite in base.aead_suites:
        _session_with(ctx, replace(base, aead_suites=(suite,)), suite.name or hex(suite), "aead_suite")


@case("spdm.key-exchange.handshake-in-the-clear", "With HANDSHAKE_IN_THE_CLEAR_CAP on both sides, "
      "FINISH and FINISH_RSP travel in the clear and the session opens", "DSP0274 1.3 Tables 64-68; "
      "PROTOCOLS.md §3.9", per_version=True, min_version=0x11,
      needs=F.KEY_EX_CAP | F.HANDSHAKE_IN_THE_CLEAR_CAP)
def handshake_in_the_clear(ctx: CaseContext) -> None:
    connection = open_connection(ctx, "a session opens with the handshake in the clear", clear_handshake=True)
    if connection is None:
        return
    try:
        connection.open_session().close()
    except DevsecError as exc:
        ctx.check("a session opens with the handshake in the clear", False,
                  expected="session established and ended", actual=f"{type(exc).__name__}: {exc}")
        return
    finish_rsp = [e for e in ctx.exchanges if e.response[1:2] == b"\x65"]
    ctx.check("FINISH_RSP came in the clear", bool(finish_rsp), expected="a FINISH_RSP in a type-1 object",
              actual=f"{len(finish_rsp)} in the clear")


@case("spdm.key-exchange.bad-verify-data", "FINISH with a wrong RequesterVerifyData is refused "
      "DecryptError and opens no session", "DSP0274 1.3 Tables 67-68, §10.12; PROTOCOLS.md §6.4",
      per_version=True, min_version=0x11, needs=F.KEY_EX_CAP)
def bad_verify_data(ctx: CaseContext) -> None:
    """Decision: DSP0274 names DecryptError for a FINISH whose HMAC fails; the ERROR is accepted
    sealed under the handshake response key or in the clear.  The handshake is the one the
    device advertises: in the clear when it sets HANDSHAKE_IN_THE_CLEAR_CAP, sealed otherwise."""
    connection = open_connection(ctx, "the device opens a session",
                                 clear_handshake=bool(ctx.flags & F.HANDSHAKE_IN_THE_CLEAR_CAP))
    if connection is None:
        return
    requester = connection.driver.requester
    requester.key_exchange(0)
    requester.receive_data(ctx.send(requester.data_to_send()))
    if not requester.sending_secured:  # handshake in the clear: FINISH is plain bytes
        finish = requester.data_to_send()
        message = ctx.send(finish[:-1] + bytes([finish[-1] ^ 0x01]))
        _judge_decrypt_error(ctx, message)
        return
    record = requester.data_to_send()
    session = requester.sessions[record_session_id(record)]
    keys = session.current_keys()
    keys.request.seq -= 1
    finish = open_record(keys.request, record)
    keys.request.seq -= 1
    bad = seal(keys.request, session.session_id, finish[:-1] + bytes([finish[-1] ^ 0x01]))
    answer = send_record(ctx, bad)
    if answer is None:
        ctx.check("the bad FINISH is answered ERROR DecryptError", False, expected="ERROR DecryptError",
                  actual="no answer")
        return
    message = answer.payload
    if answer.object_type == DataObjectType.SECURED_SPDM:
        try:
            message = open_record(keys.response, answer.payload, expected_session_id=session.session_id)
        except DevsecError as exc:
            ctx.check("the sealed answer opens under the handshake key", False,
                      expected="a record sealed with the handshake response key", actual=str(exc))
            return
    _judge_decrypt_error(ctx, message)


def _judge_decrypt_error(ctx: CaseContext, message: bytes) -> None:
    try:
        error = ErrorResponse.decode(message, padded=True) if message[1:2] == b"\x7f" else None
    except DecodeError:
        error = None
    ctx.check("the bad FINISH is answered ERROR DecryptError",
              error is not None and error.error_code == E.DECRYPT_ERROR,
              expected="ERROR DecryptError",
              actual=message[:4].hex() if error is None else f"ERROR {error.name}")
