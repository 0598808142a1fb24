"""ResponseNotReady and RESPOND_IF_READY: a response the device holds back, and how it is released.

A device that needs time answers ERROR ResponseNotReady with RDTExponent,
the RequestCode it works on, a Token and RDTM; the requester waits and sends
RESPOND_IF_READY naming that request code and token, and gets the original
response (DSP0274 1.3 §10.12 Table 59 and the RESPOND_IF_READY clause,
§10.13; PROTOCOLS.md §2.3).  The cases that need a held-back response look
for one among the authentication requests the device serves; a device that
answers all of them at once is skipped, saying so.
"""

from __future__ import annotations

from spdm.errors import SpdmErrorCode as E
from spdm.messages import ErrorResponse, RespondIfReady, ResponseNotReadyData
from spdm.messages.codes import RequestCode
from spdm.negotiation import CMA_MAX_CT_EXPONENT

from .context import CaseContext
from .registry import case
from .requests import vca
from .spdm_state import ask
from .spdm_state_requests import StateRequest, defined_at, sizes

__all__ = ["held_back", "nothing_pending", "not_ready_fields", "release", "wrong_token"]
"""The case bodies, and the helper that finds a held-back response."""

CLAUSE = "DSP0274 1.3 §10.12 (Table 59), §10.13; PROTOCOLS.md §2.3"
CANDIDATES = (RequestCode.GET_DIGESTS, RequestCode.GET_CERTIFICATE, RequestCode.CHALLENGE,
              RequestCode.GET_MEASUREMENTS)
"""The requests a device is most likely to need time for (certificates, signatures)."""


def _refusals(version: int) -> tuple[E, ...]:
    """RESPOND_IF_READY that matches nothing pending: UnexpectedRequest; NoPendingRequests from 1.3."""
    return (E.UNEXPECTED_REQUEST, E.NO_PENDING_REQUESTS) if version >= 0x13 else (E.UNEXPECTED_REQUEST,)


def held_back(ctx: CaseContext) -> tuple[StateRequest, ResponseNotReadyData]:
    """Negotiate, then send the candidates until one is answered ResponseNotReady.

    Raises:
        CaseSkipped: the device answered every candidate at once.
    """
    for request in defined_at(ctx.version):
        if request.code not in CANDIDATES or not request.advertised(ctx.flags):
            continue
        _, _, algs = vca(ctx)
        answer = ask(ctx, request.build(ctx.version, sizes(algs)))
        if answer[1:3] == bytes([ErrorResponse.CODE, E.RESPONSE_NOT_READY]):
            error = ErrorResponse.decode(answer, padded=True)
            ctx.require("ResponseNotReady carries its 4 bytes of ExtendedErrorData",
                        error.not_ready is not None, expected="RDTExponent, RequestCode, Token, RDTM",
                        actual=error.extended_data)
            assert error.not_ready is not None
            return request, error.not_ready
    ctx.skip("the device answered GET_DIGESTS, GET_CERTIFICATE, CHALLENGE and GET_MEASUREMENTS "
             "without ResponseNotReady")


@case("spdm.not-ready.nothing-pending", "RESPOND_IF_READY with no response held back is refused",
      CLAUSE, per_version=True)
def nothing_pending(ctx: CaseContext) -> None:
    """Decision: UnexpectedRequest (the request is illegal in this state), or from 1.3 the
    NoPendingRequests code 1.3 added for exactly this, as libspdm answers."""
    vca(ctx)
    answer = ask(ctx, RespondIfReady(spdm_version=ctx.version, request_code=RequestCode.GET_DIGESTS,
                                     token=0).encode())
    ctx.expect_error("RESPOND_IF_READY with nothing pending is refused", answer, _refusals(ctx.version))


@case("spdm.not-ready.fields", "ResponseNotReady names the request, and its RDTExponent is within "
      "CMA's limit and RDTM is not zero", f"{CLAUSE}; PCIe 6.x §6.31 (CMA timing)", per_version=True)
def not_ready_fields(ctx: CaseContext) -> None:
    request, data = held_back(ctx)
    ctx.equal("ResponseNotReady's RequestCode is the request's", request.code, data.request_code)
    ctx.check(f"RDTExponent <= {CMA_MAX_CT_EXPONENT}", data.rdt_exponent <= CMA_MAX_CT_EXPONENT,
              expected=f"<= {CMA_MAX_CT_EXPONENT}", actual=data.rdt_exponent)
    ctx.check("RDTM is not zero", data.rdtm != 0, expected="1-255", actual=data.rdtm)


@case("spdm.not-ready.release", "RESPOND_IF_READY with the request code and token gets the original "
      "response", CLAUSE, per_version=True)
def release(ctx: CaseContext) -> None:
    request, data = held_back(ctx)
    answer = ask(ctx, RespondIfReady(spdm_version=ctx.version, request_code=data.request_code,
                                     token=data.token).encode())
    expected = request.code & 0x7F
    ctx.equal(f"RESPOND_IF_READY is answered with {request.name}'s response", f"0x{expected:02x}",
              f"0x{answer[1]:02x}" if len(answer) > 1 else "nothing")


@case("spdm.not-ready.wrong-token", "RESPOND_IF_READY with another token, or another request code, is "
      "refused", CLAUSE, per_version=True)
def wrong_token(ctx: CaseContext) -> None:
    """Decision: InvalidRequest (the fields do not match) or the nothing-pending refusals are
    accepted: DSP0274 names no single code for a mismatch."""
    _, data = held_back(ctx)
    codes = (E.INVALID_REQUEST, *_refusals(ctx.version))
    answer = ask(ctx, RespondIfReady(spdm_version=ctx.version, request_code=data.request_code,
                                     token=(data.token + 1) & 0xFF).encode())
    ctx.expect_error("RESPOND_IF_READY with the wrong token is refused", answer, codes)
    other = RequestCode.CHALLENGE if data.request_code != RequestCode.CHALLENGE else RequestCode.GET_DIGESTS
    answer = ask(ctx, RespondIfReady(spdm_version=ctx.version, request_code=other, token=data.token).encode())
    ctx.expect_error("RESPOND_IF_READY naming another request is refused", answer, codes)
