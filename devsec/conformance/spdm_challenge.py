"""SPDM CHALLENGE / CHALLENGE_AUTH cases (PROTOCOLS.md §3.6, §4, §5.2).

``spdm.challenge.requester-flow`` lets devsec's requester engine run the
whole flow (VCA, DIGESTS, CERTIFICATE, CHALLENGE, signed MEASUREMENTS) end to
end, with ``--trust-root`` when given.  The device is also judged on its own
answers, field by field and with the signature verified by the suite over
the transcript kept by the shared :class:`spdm.transcript.Transcript`:
:mod:`.spdm_challenge_auth`.  References name DSP0274 1.3's CHALLENGE tables
(the codec's citation, Tables 32-35).
"""

from __future__ import annotations

import os

from spdm.cma import authenticate
from spdm.config import DEFER_TRUST, RequesterConfig
from spdm.errors import DecodeError, NegotiationError, ProtocolError, VerificationError
from spdm.messages import NONCE_SIZE, REQUESTER_CONTEXT_SIZE, Challenge, ChallengeAuth, Digests, GetDigests
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.codes import MeasurementSummaryHashType, SpdmVersion

from .context import CaseContext
from .registry import case
from .requests import SUITE_PREFERENCES, codec_context, vca

__all__ = ["fresh_nonces", "requester_flow"]
"""The case bodies (registered with :func:`.registry.case`; run them through the runner)."""

CLAUSE = "DSP0274 1.3 Tables 32-35"


@case("spdm.challenge.requester-flow", "devsec's requester authenticates the device: chain, "
      "CHALLENGE_AUTH signature over M1/M2, signed measurements over L1/L2",
      "DSP0274 1.3 Tables 32-35; PROTOCOLS.md §4, §5.2, §5.3", per_version=True, needs=F.CHAL_CAP)
def requester_flow(ctx: CaseContext) -> None:
    config = RequesterConfig(versions=(SpdmVersion(ctx.version),), algorithms=SUITE_PREFERENCES,
                             trust_anchors=ctx.trust_roots or DEFER_TRUST)
    try:
        report = authenticate(ctx.transport, config)
    except (VerificationError, ProtocolError, NegotiationError, DecodeError) as exc:
        wanted = "a verified CHALLENGE_AUTH" + (" and chain to a --trust-root" if ctx.trust_roots else "")
        ctx.check("the device authenticates with devsec's requester", False, expected=wanted,
                  actual=f"{type(exc).__name__}: {exc}")
        return
    ctx.check("the device authenticates with devsec's requester", report.challenge is not None,
              expected="a verified CHALLENGE_AUTH", actual="no CHALLENGE_AUTH")


@case("spdm.challenge.fresh-nonces", "Each CHALLENGE_AUTH carries a new nonce and the hash of the "
      "challenged slot's chain", CLAUSE, per_version=True, needs=F.CHAL_CAP | F.CERT_CAP)
def fresh_nonces(ctx: CaseContext) -> None:
    _, _, algs = vca(ctx)
    assert algs is not None
    codec = codec_context(algs)
    digests = ctx.decode(Digests, ctx.send(GetDigests(spdm_version=ctx.version)), codec)
    slot0 = digests.by_slot().get(0)
    seen: list[bytes] = []
    for _ in range(2):
        nonce = os.urandom(NONCE_SIZE)
        context = os.urandom(REQUESTER_CONTEXT_SIZE) if ctx.version >= 0x13 else None
        request = Challenge(spdm_version=ctx.version, slot_id=0,
                            measurement_summary_hash_type=MeasurementSummaryHashType.NONE,
                            nonce=nonce, requester_context=context)
        auth = ctx.decode(ChallengeAuth, ctx.send(request), codec)
        ctx.check("the responder's nonce is not the requester's", auth.nonce != nonce,
                  expected=f"not {nonce.hex()}", actual=auth.nonce)
        ctx.check("the responder's nonce is new", auth.nonce not in seen,
                  expected=f"none of {[s.hex() for s in seen]}", actual=auth.nonce)
        seen.append(auth.nonce)
        if context is not None:
            ctx.equal("RequesterContext is echoed (1.3)", context, auth.requester_context)
        if slot0 is not None:
            ctx.equal("CertChainHash is the slot's DIGESTS entry", slot0, auth.cert_chain_hash)
        ctx.equal("Param1 SlotID is the challenged slot", 0, auth.attributes & 0x0F)
