"""The connection state machine, a first slice: requests sent in a state that does not allow them.

Each case sends a well-formed request out of order and expects the ERROR the
state table names (DSP0274 1.3 §9.2, ERROR codes per §10.12; PROTOCOLS.md §2.3).
"""

from __future__ import annotations

from spdm.errors import SpdmErrorCode as E
from spdm.messages import EndSession, Finish, GetDigests, Heartbeat, KeyUpdate
from spdm.messages.codes import CapabilityFlags as F

from .context import CaseContext
from .registry import case
from .requests import codec_context, vca

__all__ = ["digests_before_algorithms", "finish_without_key_exchange", "session_required"]
"""The case bodies (registered with :func:`.registry.case`)."""


@case("spdm.state.digests-before-algorithms", "GET_DIGESTS before NEGOTIATE_ALGORITHMS is refused "
      "UnexpectedRequest", "DSP0274 1.3 §9.2, §10.12", per_version=True, needs=F.CERT_CAP)
def digests_before_algorithms(ctx: CaseContext) -> None:
    vca(ctx, algorithms=False)
    ctx.expect_error("GET_DIGESTS after CAPABILITIES only is refused",
                     ctx.send(GetDigests(spdm_version=ctx.version)), (E.UNEXPECTED_REQUEST,))


@case("spdm.state.finish-without-key-exchange", "FINISH with no KEY_EXCHANGE before it is refused",
      "DSP0274 1.3 Tables 67-68, §10.12", per_version=True, min_version=0x11, needs=F.KEY_EX_CAP)
def finish_without_key_exchange(ctx: CaseContext) -> None:
    """Decision: both UnexpectedRequest and (1.2+) SessionRequired are accepted: in the clear
    without HANDSHAKE_IN_THE_CLEAR a FINISH is also a session-only request."""
    _, _, algs = vca(ctx)
    assert algs is not None
    finish = Finish(spdm_version=ctx.version, requester_verify_data=bytes(codec_context(algs).hash_size))
    codes = (E.UNEXPECTED_REQUEST, E.SESSION_REQUIRED) if ctx.version >= 0x12 else (E.UNEXPECTED_REQUEST,)
    answer = ctx.send(finish.encode(codec_context(algs)))
    ctx.expect_error("FINISH without KEY_EXCHANGE is refused", answer, codes)


@case("spdm.state.session-required", "HEARTBEAT, KEY_UPDATE and END_SESSION in the clear are refused: "
      "SessionRequired from 1.2, UnexpectedRequest at 1.1",
      "DSP0274 1.3 Tables 73-78, §10.12; PROTOCOLS.md §3.11",
      per_version=True, min_version=0x11, needs=F.KEY_EX_CAP)
def session_required(ctx: CaseContext) -> None:
    vca(ctx)
    code = E.SESSION_REQUIRED if ctx.version >= 0x12 else E.UNEXPECTED_REQUEST
    requests = (Heartbeat(spdm_version=ctx.version),
                KeyUpdate(spdm_version=ctx.version, key_operation=1, tag=7),
                EndSession(spdm_version=ctx.version))
    for request in requests:
        ctx.expect_error(f"{type(request).__name__} in the clear is refused", ctx.send(request), (code,))
