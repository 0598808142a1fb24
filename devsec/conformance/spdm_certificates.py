"""SPDM GET_DIGESTS / DIGESTS and GET_CERTIFICATE / CERTIFICATE cases (PROTOCOLS.md §3.4, §3.5).

References name DSP0274 1.3's message tables (the codec's own citations:
DIGESTS Tables 27-28, CERTIFICATE Tables 29-31) and the chain format.
"""

from __future__ import annotations

from spdm.config import DEFAULT_CERTIFICATE_PORTION
from spdm.crypto import digest, parse_spdm_cert_chain
from spdm.errors import DevsecError, SpdmErrorCode
from spdm.messages import Certificate, Digests, GetCertificate
from spdm.messages.codes import CapabilityFlags as F

from .context import CaseContext
from .registry import case
from .spdm_auth_connection import CERTIFICATE_CLAUSE, AuthConnection

__all__ = ["chain_format", "digests_match_chains", "invalid_slot", "offset_beyond_chain", "portions", "slots"]
"""The case bodies (registered with :func:`.registry.case`; run them through the runner)."""

DIGESTS_CLAUSE = "DSP0274 1.3 Tables 27-28"


def _digests(ctx: CaseContext) -> tuple[AuthConnection, Digests]:
    conn = AuthConnection(ctx)
    conn.vca()
    return conn, conn.digests()


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
    conn, digests = _digests(ctx)
    for slot, expected in digests.by_slot().items():
        chain = conn.chain(slot)
        ctx.equal(f"slot {slot}'s DIGESTS entry is {conn.hash_alg.name}(its chain)", expected.hex(),
                  digest(conn.hash_alg, chain).hex())


@case("spdm.certificate.chain-format", "Slot 0's chain has a correct Length and RootHash and parses as "
      "DER certificates", "DSP0274 1.3 Tables 29-31; PROTOCOLS.md §3.5", per_version=True, needs=F.CERT_CAP)
def chain_format(ctx: CaseContext) -> None:
    conn, _ = _digests(ctx)
    chain = conn.chain(0)
    try:
        parsed = parse_spdm_cert_chain(chain, conn.hash_alg)
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
    conn, _ = _digests(ctx)
    remaining: list[int] = []

    def judge(offset: int, length: int, portion: Certificate) -> None:
        size = len(portion.cert_chain)
        ctx.equal("CERTIFICATE echoes the requested SlotID", 0, portion.slot_id)
        ctx.check("PortionLength does not exceed the requested Length", size <= length,
                  expected=f"<= {length}", actual=size)
        if remaining:
            ctx.equal("PortionLength + RemainderLength stays the chain's remaining size", remaining[-1],
                      size + portion.remainder_length)
        remaining.append(portion.remainder_length)

    conn.chain(0, judge)


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
    conn, _ = _digests(ctx)
    size = len(conn.chain(0))
    data = ctx.send(GetCertificate(spdm_version=ctx.version, slot_id=0, offset=size + 1,
                                   length=DEFAULT_CERTIFICATE_PORTION))
    ctx.expect_error(f"Offset {size + 1} of a {size}-byte chain is refused", data,
                     (SpdmErrorCode.INVALID_REQUEST,))
