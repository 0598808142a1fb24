"""CHALLENGE_AUTH judged by the suite itself: every slot x summary type, and the refusals (PROTOCOLS.md §3.6).

The case keeps the transcript with the shared :class:`spdm.transcript.Transcript`
(:class:`.spdm_auth_connection.AuthConnection`) and verifies the signature over
M1 = A || B || C with the version's signing rule (PROTOCOLS.md §4, §5.2), so a
device is judged on its own answers, not on whether devsec's requester engine
accepts them (``spdm.challenge.requester-flow`` still runs that end to end).

Decisions where DSP0274 leaves room:

* MeasurementSummaryHash for TCB (type 1) covers the device's choice of
  "TCB components", which the suite cannot know: only its size is judged.
  For type 0xFF it must be BaseHashAlgo over every block the device reports
  to an unsigned GET_MEASUREMENTS for all indices in the same connection
  (PROTOCOLS.md §3.6: the hash uses BaseHashAlgo over the full blocks).
* No ``before-digests`` case: DSP0274 lets a requester that cached a chain
  CHALLENGE straight after NEGOTIATE_ALGORITHMS (1.3 §10.8 names no
  GET_DIGESTS/GET_CERTIFICATE prerequisite), so refusing it is not required.
* RequesterContext (1.3) is judged here and by ``spdm.challenge.fresh-nonces``.
"""

from __future__ import annotations

import os

from spdm.crypto import digest
from spdm.errors import SpdmErrorCode
from spdm.messages import NONCE_SIZE, REQUESTER_CONTEXT_SIZE, Challenge, GetMeasurements
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.codes import MeasurementOperation, MeasurementSummaryHashType

from .context import CaseContext
from .registry import case
from .spdm_auth_connection import CONTEXTS, AuthConnection

__all__ = ["invalid_slot", "invalid_summary_type", "slots_and_summaries"]
"""The case bodies (registered with :func:`.registry.case`; run them through the runner)."""

CLAUSE = "DSP0274 1.3 Tables 32-35"
SIGNATURE_CLAUSE = "DSP0274 1.3 §10.8, Table 35; PROTOCOLS.md §4, §5.2"
MEAS_CAP = F.MEAS_CAP_NO_SIG | F.MEAS_CAP_SIG
RESERVED_SUMMARY_TYPE = 0x02
"""A MeasurementSummaryHashType DSP0274 1.3 Table 32 leaves reserved (defined: 0, 1, 0xFF)."""


def _challenge(ctx: CaseContext, slot: int, summary_type: int) -> Challenge:
    context = os.urandom(REQUESTER_CONTEXT_SIZE) if ctx.version >= 0x13 else None
    return Challenge(spdm_version=ctx.version, slot_id=slot, measurement_summary_hash_type=summary_type,
                     nonce=os.urandom(NONCE_SIZE), requester_context=context)


def _all_blocks(ctx: CaseContext, conn: AuthConnection) -> bytes:
    """The concatenated blocks the device reports to an unsigned request for all indices."""
    context = bytes(REQUESTER_CONTEXT_SIZE) if ctx.version >= 0x13 else None
    request = GetMeasurements(spdm_version=ctx.version, operation=MeasurementOperation.ALL,
                              requester_context=context)
    response, _ = conn.measurements(request)
    return response.measurement_record


@case("spdm.challenge.slots-and-summaries", "Every provisioned slot x summary type: CHALLENGE_AUTH names the "
      "slot, its chain's hash, the right summary hash, and a signature over M1 that verifies",
      SIGNATURE_CLAUSE, per_version=True, needs=F.CHAL_CAP | F.CERT_CAP)
def slots_and_summaries(ctx: CaseContext) -> None:
    conn = AuthConnection(ctx)
    conn.vca()
    measured = bool(ctx.flags & MEAS_CAP)
    record = _all_blocks(ctx, conn) if measured else b""
    digests = conn.digests().by_slot()
    for slot in digests:
        conn.chain(slot)
    types = [MeasurementSummaryHashType.NONE]
    if measured:
        types += [MeasurementSummaryHashType.TCB, MeasurementSummaryHashType.ALL]
    size = len(digest(conn.hash_alg, b""))
    for slot, slot_digest in digests.items():
        for summary_type in types:
            at = f"slot {slot}, summary type 0x{summary_type:02x}"
            request = _challenge(ctx, slot, summary_type)
            auth, m1 = conn.challenge(request, summary=summary_type != MeasurementSummaryHashType.NONE)
            ctx.equal(f"{at}: Param1 SlotID is the challenged slot", slot, auth.slot_id, reference=CLAUSE)
            ctx.equal(f"{at}: CertChainHash is the hash of the slot's chain", digest(conn.hash_alg,
                      conn.chains[slot]).hex(), auth.cert_chain_hash.hex(), reference=CLAUSE)
            ctx.equal(f"{at}: CertChainHash is the slot's DIGESTS entry", slot_digest.hex(),
                      auth.cert_chain_hash.hex(), reference=CLAUSE)
            ctx.check(f"{at}: Param2 SlotMask marks the slot", bool(auth.slot_mask >> slot & 1),
                      expected=f"bit {slot} set", actual=auth.slot_mask, reference=CLAUSE)
            wanted = 0 if summary_type == MeasurementSummaryHashType.NONE else size
            ctx.equal(f"{at}: MeasurementSummaryHash is {wanted} bytes", wanted,
                      len(auth.measurement_summary_hash), reference=CLAUSE)
            if summary_type == MeasurementSummaryHashType.ALL:
                ctx.equal(f"{at}: MeasurementSummaryHash is the hash of all measurement blocks",
                          digest(conn.hash_alg, record).hex(), auth.measurement_summary_hash.hex(),
                          reference="DSP0274 1.3 Table 35; PROTOCOLS.md §3.6")
            if request.requester_context is not None:
                ctx.equal(f"{at}: RequesterContext is echoed (1.3)", request.requester_context,
                          auth.requester_context, reference=CLAUSE)
            conn.judge_signature(f"{at}: the signature verifies over M1 with the slot's leaf key", slot,
                                 CONTEXTS["challenge"], m1, auth.signature, reference=SIGNATURE_CLAUSE)


@case("spdm.challenge.invalid-slot", "CHALLENGE for an unprovisioned slot gets ERROR InvalidRequest", CLAUSE,
      per_version=True, needs=F.CHAL_CAP | F.CERT_CAP)
def invalid_slot(ctx: CaseContext) -> None:
    conn = AuthConnection(ctx)
    conn.vca()
    mask = conn.digests().provisioned_slot_mask
    empty = [s for s in range(8) if not mask >> s & 1]
    ctx.require("the device has an unprovisioned slot to challenge", bool(empty),
                expected="ProvisionedSlotMask != 0xff", actual=mask)
    data = ctx.send(_challenge(ctx, empty[0], MeasurementSummaryHashType.NONE))
    ctx.expect_error(f"CHALLENGE for empty slot {empty[0]} is refused", data,
                     (SpdmErrorCode.INVALID_REQUEST,))


@case("spdm.challenge.invalid-summary-type", "CHALLENGE with a reserved MeasurementSummaryHashType gets "
      "ERROR InvalidRequest", CLAUSE, per_version=True, needs=F.CHAL_CAP | F.CERT_CAP)
def invalid_summary_type(ctx: CaseContext) -> None:
    conn = AuthConnection(ctx)
    conn.vca()
    conn.digests()
    data = ctx.send(_challenge(ctx, 0, RESERVED_SUMMARY_TYPE))
    ctx.expect_error(f"MeasurementSummaryHashType 0x{RESERVED_SUMMARY_TYPE:02x} is refused", data,
                     (SpdmErrorCode.INVALID_REQUEST,))
