"""Multi-key connections judged on the device (SPDM 1.3 MULTI_KEY_CAP, MULTI_KEY_CONN; PROTOCOLS.md §3.4).

The cases negotiate 1.3 with OtherParamsSupport b4 (MULTI_KEY_CONN) offered
or not, and judge what a device with MULTI_KEY_CAP does with it: the DIGESTS
masks and key-pair tail, the refusal of a signed request naming a slot whose
KeyUsageMask does not allow it, and the selection rules.

Decisions where DSP0274 leaves room (see also :mod:`spdm.responder.vca`):

* A device whose MULTI_KEY_CAP is NEG and that was not asked sends DIGESTS
  without the tail; a device whose MULTI_KEY_CAP is ONLY refuses a
  NEGOTIATE_ALGORITHMS without b4 with InvalidRequest (libspdm does).
* A slot's key that may not sign is refused with InvalidRequest (libspdm does).
"""

from __future__ import annotations

import dataclasses
import os

from spdm.errors import SpdmErrorCode
from spdm.messages import NONCE_SIZE, REQUESTER_CONTEXT_SIZE, Algorithms, Capabilities, Challenge
from spdm.messages import Version as VersionResponse
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.codes import KeyUsage, MeasurementSummaryHashType
from spdm.messages.vca import GetVersion
from spdm.negotiation import MULTI_KEY_CONN
from spdm.slot_keys import CERT_MODEL_MASK

from .context import CaseContext
from .registry import case
from .requests import codec_context, get_capabilities, negotiate_algorithms
from .spdm_auth_connection import AuthConnection

__all__ = ["digests_tail", "key_usage_enforced", "only_needs_the_offer"]
"""The case bodies (registered with :func:`.registry.case`; run them through the runner)."""

CLAUSE = "DSP0274 1.3 §10.6 Table 28, §10.5 Tables 15 and 17"
USAGE_CLAUSE = "DSP0274 1.3 §10.6 Table 28 (KeyUsageMask), §10.8"
MULTI_KEY_CAPS = F.MULTI_KEY_CAP_ONLY | F.MULTI_KEY_CAP_NEG
V13 = 0x13


def multi_key_vca(ctx: CaseContext, *, offer: bool) -> tuple[AuthConnection, bytes]:
    """VCA at 1.3 with MULTI_KEY_CONN offered (or not); the connection and the raw ALGORITHMS answer."""
    conn = AuthConnection(ctx)
    request = negotiate_algorithms(ctx.version)
    if offer:
        request = dataclasses.replace(request,
                                      other_params_support=request.other_params_support | MULTI_KEY_CONN)
    conn.exchange(GetVersion(), VersionResponse, reference="DSP0274 1.3 §10.3")
    conn.exchange(get_capabilities(ctx.version), Capabilities, reference="DSP0274 1.3 §10.4")
    answer = ctx.send(request)
    return conn, answer


def _negotiated(ctx: CaseContext, *, offer: bool = True) -> AuthConnection:
    conn, answer = multi_key_vca(ctx, offer=offer)
    algorithms = ctx.decode(Algorithms, answer, reference="DSP0274 1.3 §10.5")
    conn.algorithms = algorithms
    conn.codec = dataclasses.replace(codec_context(algorithms), multi_key=offer)
    return conn


@case("spdm.multikey.digests", "On a multi-key connection DIGESTS carries, per provisioned slot, a "
      "KeyPairID, a defined CertModel and a KeyUsageMask, and every provisioned slot is a supported one",
      CLAUSE,
      min_version=V13, needs=F.CERT_CAP, needs_any=MULTI_KEY_CAPS)
def digests_tail(ctx: CaseContext) -> None:
    conn = _negotiated(ctx)
    digests = conn.digests()
    ctx.equal("ProvisionedSlotMask is within SupportedSlotMask", 0,
              digests.provisioned_slot_mask & ~digests.supported_slot_mask, reference=CLAUSE)
    slots = sorted(digests.by_slot())
    for slot, kp, info, usage in zip(slots, digests.key_pair_ids, digests.certificate_infos,
                                     digests.key_usage_masks, strict=True):
        model = info & CERT_MODEL_MASK
        ctx.check(f"slot {slot}: CertificateInfo names a certificate model (1-3)", 1 <= model <= 3,
                  expected="1 device, 2 alias or 3 generic", actual=info, reference=CLAUSE)
        ctx.check(f"slot {slot}: a key that may sign names its key pair", kp != 0 or usage == 0,
                  expected="KeyPairID != 0", actual=kp, reference=CLAUSE)


@case("spdm.multikey.key-usage", "On a multi-key connection a CHALLENGE naming a slot whose KeyUsageMask "
      "lacks CHALLENGE gets ERROR InvalidRequest; one naming a slot whose key may gets CHALLENGE_AUTH",
      USAGE_CLAUSE, min_version=V13, needs=F.CHAL_CAP | F.CERT_CAP, needs_any=MULTI_KEY_CAPS)
def key_usage_enforced(ctx: CaseContext) -> None:
    conn = _negotiated(ctx)
    digests = conn.digests()
    usages = dict(zip(sorted(digests.by_slot()), digests.key_usage_masks, strict=True))
    refused = [s for s, u in usages.items() if not u & KeyUsage.CHALLENGE]
    if not refused:
        ctx.skip("every provisioned slot's key may sign CHALLENGE_AUTH")
    for slot in refused:
        data = ctx.send(Challenge(
            spdm_version=ctx.version, slot_id=slot,
            measurement_summary_hash_type=MeasurementSummaryHashType.NONE,
            nonce=os.urandom(NONCE_SIZE), requester_context=os.urandom(REQUESTER_CONTEXT_SIZE)))
        ctx.expect_error(f"CHALLENGE for slot {slot} (KeyUsageMask 0x{usages[slot]:04x}) is refused", data,
                         (SpdmErrorCode.INVALID_REQUEST,))


@case("spdm.multikey.selection", "Without MULTI_KEY_CONN offered, a MULTI_KEY_CAP ONLY device refuses "
      "NEGOTIATE_ALGORITHMS and a NEG device answers a DIGESTS without the key-pair tail", CLAUSE,
      min_version=V13, needs=F.CERT_CAP, needs_any=MULTI_KEY_CAPS)
def only_needs_the_offer(ctx: CaseContext) -> None:
    caps = ctx.flags & MULTI_KEY_CAPS
    conn, answer = multi_key_vca(ctx, offer=False)
    if caps == F.MULTI_KEY_CAP_ONLY:
        ctx.expect_error("NEGOTIATE_ALGORITHMS without MULTI_KEY_CONN is refused", answer,
                         (SpdmErrorCode.INVALID_REQUEST,))
        return
    algorithms = ctx.decode(Algorithms, answer, reference="DSP0274 1.3 §10.5")
    conn.algorithms, conn.codec = algorithms, codec_context(algorithms)
    digests = conn.digests()  # decoded without the tail: trailing bytes fail it
    ctx.check("DIGESTS has no key-pair tail", not digests.key_pair_ids, expected="()",
              actual=digests.key_pair_ids, reference=CLAUSE)
