"""SPDM GET_DIGESTS / DIGESTS and GET_CERTIFICATE / CERTIFICATE cases (PROTOCOLS.md §3.4, §3.5).

References name DSP0274 1.3's message tables (the codec's own citations:
DIGESTS Tables 27-28, CERTIFICATE Tables 29-31) and the chain format.
"""

from __future__ import annotations

from spdm.config import DEFAULT_CERTIFICATE_PORTION
from spdm.crypto import digest, parse_spdm_cert_chain
from spdm.errors import DevsecError, SpdmErrorCode
from spdm.messages import Certificate, Digests, GetCertificate, GetDigests
from spdm.messages.codes import BaseHashAlgo
from spdm.messages.codes import CapabilityFlags as F

from .context import CaseContext
from .registry import case
from .requests import codec_context, vca

__all__ = ["chain_format", "digests_match_chains", "invalid_slot", "offset_beyond_chain", "portions", "slots"]
"""The case bodies (registered with :func:`.registry.case`; run them through the runner)."""

DIGESTS_CLAUSE = "DSP0274 1.3 Tables 27-28"
CERTIFICATE_CLAUSE = "DSP0274 1.3 Tables 29-31"
MAX_PORTIONS = 256
"""Portions fetched for one chain before the case gives up (a device that never finishes)."""


def _digests(ctx: CaseContext) -> tuple[BaseHashAlgo, Digests]:
    _, _, algs = vca(ctx)
    assert algs is not None
    hash_alg = BaseHashAlgo(algs.base_hash_sel)
    data = ctx.send(GetDigests(spdm_version=ctx.version))
    return hash_alg, ctx.decode(Digests, data, codec_context(algs), reference=DIGESTS_CLAUSE)


def _chain(ctx: CaseContext, slot: int, *, judge_portions: bool = False) -> bytes:
    """Fetch a slot's whole chain in portions; each CERTIFICATE must decode and make progress."""
    chain = b""
    total: int | None = None
    for _ in range(MAX_PORTIONS):
        request = GetCertificate(spdm_version=ctx.version, slot_id=slot, offset=len(chain),
                                 length=DEFAULT_CERTIFICATE_PORTION)
        portion = ctx.decode(Certificate, ctx.send(request), reference=CERTIFICATE_CLAUSE)
        size = len(portion.cert_chain)
        if judge_portions:
            ctx.equal("CERTIFICATE echoes the requested SlotID", slot, portion.slot_id)
            ctx.check("PortionLength does not exceed the requested Length", size <= request.length,
                      expected=f"<= {request.length}", actual=size)
            if total is not None:
                ctx.equal("PortionLength + RemainderLength stays the chain's remaining size",
                          total - len(chain), size + portion.remainder_length)
        total = len(chain) + size + portion.remainder_length
        chain += portion.cert_chain
        if portion.remainder_length == 0:
            return chain
        ctx.require("a CERTIFICATE with RemainderLength > 0 carries bytes", size > 0,
                    expected="PortionLength > 0", actual=size)
    ctx.require(f"the chain ends within {MAX_PORTIONS} portions", False, expected="RemainderLength 0",
                actual=f"still {total - len(chain) if total else '?'} bytes to go")
    raise AssertionError("unreachable")


@case("spdm.digests.slots", "DIGESTS carries one digest per provisioned slot, slot 0 among them",
      DIGESTS_CLAUSE, per_version=True, needs=F.CERT_CAP)
def slots(ctx: CaseContext) -> None:
    _, digests = _digests(ctx)
    mask = digests.provisioned_slot_mask
    ctx.check("slot 0 is provisioned (CMA)", bool(mask & 1), expected="ProvisionedSlotMask b0 set",
              actual=mask, reference="PCIe 6.x §6.31")
    if ctx.version >= 0x13:
        ctx.check("every provisioned slot is a supported slot", mask & ~digests.supported_slot_mask == 0,
                  expected=f"within SupportedSlotMask 0x{digests.supported_slot_mask:x}", actual=mask)
    ctx.equal("one digest per provisioned slot", bin(mask).count("1"), len(digests.digests))


@case("spdm.digests.match-chains", "Each slot's digest is the hash of the chain GET_CERTIFICATE serves",
      DIGESTS_CLAUSE, per_version=True, needs=F.CERT_CAP)
def digests_match_chains(ctx: CaseContext) -> None:
    hash_alg, digests = _digests(ctx)
    for slot, expected in digests.by_slot().items():
        chain = _chain(ctx, slot)
        ctx.equal(f"slot {slot}'s DIGESTS entry is {hash_alg.name}(its chain)", expected.hex(),
                  digest(hash_alg, chain).hex())


@case("spdm.certificate.chain-format", "Slot 0's chain has a correct Length and RootHash and parses as "
      "DER certificates", "DSP0274 1.3 Tables 29-31; PROTOCOLS.md §3.5", per_version=True, needs=F.CERT_CAP)
def chain_format(ctx: CaseContext) -> None:
    hash_alg, _ = _digests(ctx)
    chain = _chain(ctx, 0)
    try:
        parsed = parse_spdm_cert_chain(chain, hash_alg)
    except DevsecError as exc:
        ctx.check("the chain's Length, RootHash and certificates are well formed", False,
                  expected="Length = size, RootHash = hash(first certificate), DER certificates",
                  actual=str(exc))
        return
    ctx.check("the chain holds at least one certificate", bool(parsed.certificates),
              expected=">= 1", actual=len(parsed.certificates))


@case("spdm.certificate.portions", "CERTIFICATE portions echo the slot, respect Length and account "
      "for the rest", CERTIFICATE_CLAUSE, per_version=True, needs=F.CERT_CAP)
def portions(ctx: CaseContext) -> None:
    _digests(ctx)
    _chain(ctx, 0, judge_portions=True)


@case("spdm.certificate.invalid-slot", "GET_CERTIFICATE for an unprovisioned slot gets ERROR InvalidRequest",
      CERTIFICATE_CLAUSE, per_version=True, needs=F.CERT_CAP)
def invalid_slot(ctx: CaseContext) -> None:
    _, digests = _digests(ctx)
    empty = [s for s in range(8) if not digests.provisioned_slot_mask >> s & 1]
    ctx.require("the device has an unprovisioned slot to ask for", bool(empty),
                expected="ProvisionedSlotMask != 0xff", actual=digests.provisioned_slot_mask)
    data = ctx.send(GetCertificate(spdm_version=ctx.version, slot_id=empty[0], offset=0,
                                   length=DEFAULT_CERTIFICATE_PORTION))
    ctx.expect_error(f"GET_CERTIFICATE for empty slot {empty[0]} is refused", data,
                     (SpdmErrorCode.INVALID_REQUEST,))


@case("spdm.certificate.offset-beyond-chain", "GET_CERTIFICATE with Offset past the chain's end gets "
      "ERROR InvalidRequest", CERTIFICATE_CLAUSE, per_version=True, needs=F.CERT_CAP)
def offset_beyond_chain(ctx: CaseContext) -> None:
    _digests(ctx)
    size = len(_chain(ctx, 0))
    data = ctx.send(GetCertificate(spdm_version=ctx.version, slot_id=0, offset=size + 1,
                                   length=DEFAULT_CERTIFICATE_PORTION))
    ctx.expect_error(f"Offset {size + 1} of a {size}-byte chain is refused", data,
                     (SpdmErrorCode.INVALID_REQUEST,))
