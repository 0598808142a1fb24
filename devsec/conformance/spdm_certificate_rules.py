"""SPDM certificate-chain content and GET_CERTIFICATE boundary cases (PROTOCOLS.md §3.5, §10.3).

The chain rules are devsec's one implementation of them,
:func:`spdm.crypto.validate_cert_chain` (libspdm's checks: X.509 v3, validity,
each certificate signed by the one before it, CA constraints, the leaf not a
CA, keyUsage digitalSignature, an EKU that does not restrict the leaf to the
requester role, the leaf key fitting the negotiated BaseAsymAlgo).  Without
``--trust-root`` the chain's own first certificate is taken as the anchor, so
the structure is still judged; with one, ``spdm.certificate.root-hash`` judges
that the chain leads there.

Decisions where DSP0274 leaves room (documented for vendors):

* GET_CERTIFICATE with Length 0: DSP0274 1.3 Table 30 does not forbid it, so a
  device may answer either a CERTIFICATE with PortionLength 0 and the whole
  rest as RemainderLength, or ERROR InvalidRequest; both pass, anything else
  fails.
* The chain is read as starting with its root, RootHash the hash of that
  first certificate (PROTOCOLS.md §3.5, checked on captured traffic; this is
  what :func:`spdm.crypto.parse_spdm_cert_chain` accepts), so with
  ``--trust-root`` RootHash must be the hash of one of the given roots.
* Offset equal to the chain's size asks for nothing that exists: ERROR
  InvalidRequest, as for an Offset past the end (libspdm's responder does the
  same).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from spdm.config import DEFAULT_DATA_TRANSFER_SIZE
from spdm.crypto import digest, validate_cert_chain
from spdm.errors import DevsecError, SpdmErrorCode
from spdm.messages import Certificate, GetCertificate
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.codes import SpdmVersion

from .context import CaseContext
from .registry import case
from .requests import get_capabilities
from .spdm_auth_connection import CERTIFICATE_CLAUSE, AuthConnection

__all__ = ["boundaries", "every_slot", "leaf_rules", "root_hash", "slot_size", "transfer_cap"]
"""The case bodies (registered with :func:`.registry.case`; run them through the runner)."""

RULES_CLAUSE = "DSP0274 1.3 §10.7, Table 33; PROTOCOLS.md §10.3"
CERTIFICATE_HEADER = 8
"""CERTIFICATE bytes before the portion (what a DataTransferSize must also hold)."""
LARGE_LENGTH = 0xFFFF
MIN_DATA_TRANSFER_SIZE = 42
"""DSP0274 1.2+ MinDataTransferSize: every device's portions may be this large."""
SMALL_TRANSFER = 0x80
"""The DataTransferSize the transfer-cap case announces: far below any real chain."""
SLOT_SIZE_REQUESTED = 0x01
"""GET_CERTIFICATE Param2 b0 (1.3): answer only the slot's chain size (PROTOCOLS.md §3.5)."""
SMALL_REST = 10
"""How far before the chain's end the 'Length larger than the rest' request starts."""


def _slots_and_chains(ctx: CaseContext) -> tuple[AuthConnection, dict[int, bytes]]:
    conn = AuthConnection(ctx)
    conn.vca()
    digests = conn.digests()
    chains = {slot: conn.chain(slot) for slot in digests.by_slot()}
    ctx.require("the device provisions at least one slot", bool(chains), expected="ProvisionedSlotMask != 0",
                actual=0, reference="DSP0274 1.3 Tables 27-28")
    return conn, chains


@case("spdm.certificate.leaf-rules", "Every provisioned chain keeps the X.509 rules: v3, valid now, each "
      "certificate signed by the one before, CAs marked CA, the leaf a non-CA signing key of BaseAsymAlgo",
      RULES_CLAUSE, per_version=True, needs=F.CERT_CAP)
def leaf_rules(ctx: CaseContext) -> None:
    conn, chains = _slots_and_chains(ctx)
    now = datetime.now(UTC)
    for slot in chains:
        parsed = conn.parsed_chain(slot)
        if parsed is None:
            continue
        try:
            validate_cert_chain(parsed, parsed.certificates[:1], conn.asym_alg, now=now, role="responder")
        except DevsecError as exc:
            ctx.check(f"slot {slot}'s certificates keep the chain and leaf rules", False,
                      expected=f"every rule kept (leaf key fits {conn.asym_alg.name})", actual=str(exc))
            continue
        ctx.check(f"slot {slot}'s certificates keep the chain and leaf rules", True,
                  expected="every rule kept",
                  actual=f"{len(parsed.certificates)} certificates, all rules kept")


@case("spdm.certificate.root-hash", "Each chain leads to a --trust-root and its RootHash is that root's "
      "hash", "DSP0274 1.3 Table 33; PROTOCOLS.md §3.5, §10.3", per_version=True, needs=F.CERT_CAP)
def root_hash(ctx: CaseContext) -> None:
    if not ctx.trust_roots:
        ctx.skip("no --trust-root given: the chains' structure is judged by spdm.certificate.leaf-rules")
    conn, chains = _slots_and_chains(ctx)
    now = datetime.now(UTC)
    for slot in chains:
        parsed = conn.parsed_chain(slot)
        if parsed is None:
            continue
        hashes = {root.sha(conn.hash_alg) for root in ctx.trust_roots}
        ctx.check(f"slot {slot}'s RootHash is the hash of a --trust-root", parsed.root_hash in hashes,
                  expected=" or ".join(h.hex() for h in sorted(hashes)), actual=parsed.root_hash)
        try:
            validate_cert_chain(parsed, ctx.trust_roots, conn.asym_alg, now=now, role="responder")
        except DevsecError as exc:
            ctx.check(f"slot {slot}'s chain leads to a --trust-root", False,
                      expected="first certificate a trust root or signed by one", actual=str(exc))
            continue
        ctx.check(f"slot {slot}'s chain leads to a --trust-root", True, expected="leads to a root",
                  actual="leads to a root")


@case("spdm.certificate.every-slot", "Every slot DIGESTS marks provisioned serves a well-formed chain "
      "whose hash is its DIGESTS entry", "DSP0274 1.3 Tables 27-31, 33; PROTOCOLS.md §3.4, §3.5",
      per_version=True, needs=F.CERT_CAP)
def every_slot(ctx: CaseContext) -> None:
    conn = AuthConnection(ctx)
    conn.vca()
    answer = conn.digests()
    digests = answer.by_slot()
    infos = dict(zip(digests, answer.certificate_infos, strict=False))
    for slot, expected in digests.items():
        chain = conn.chain(slot)
        parsed = conn.parsed_chain(slot)
        ctx.check(f"slot {slot}'s chain is well formed", parsed is not None, expected="parses",
                  actual="parses" if parsed else "does not parse")
        ctx.equal(f"slot {slot}'s DIGESTS entry is the hash of the chain it serves", expected,
                  digest(conn.hash_alg, chain))
        first = conn.certificate(slot, 0, 1)
        ctx.equal(f"slot {slot}: CERTIFICATE Param1 echoes the SlotID", slot, first.slot_id,
                  reference=CERTIFICATE_CLAUSE)
        if ctx.version >= SpdmVersion.V13:
            ctx.equal(f"slot {slot}: CERTIFICATE Param2 is the slot's CertificateInfo from DIGESTS "
                      "(reserved, 0, without MULTI_KEY_CONN) (1.3)", infos.get(slot, 0),
                      first.certificate_info,
                      reference="DSP0274 1.3 Tables 28, 31; PROTOCOLS.md §3.4, §3.5")


def _portion(ctx: CaseContext, conn: AuthConnection, what: str, offset: int, length: int,
             chain: bytes) -> Certificate:
    """Ask for (offset, length) and judge the portion against the chain fetched before.

    A request small enough for any transfer size (MinDataTransferSize 42) gets
    exactly ``min(length, rest)`` bytes; a larger one at most that.
    """
    portion = conn.certificate(0, offset, length)
    rest = len(chain) - offset
    got = len(portion.cert_chain)
    wanted = min(length, rest)
    if wanted + CERTIFICATE_HEADER <= MIN_DATA_TRANSFER_SIZE:
        ctx.equal(f"{what}: PortionLength is min(Length, what is left)", wanted, got)
    ctx.check(f"{what}: PortionLength <= the requested Length", got <= length, expected=f"<= {length}",
              actual=got)
    ctx.equal(f"{what}: the portion is the chain's bytes from Offset {offset}",
              chain[offset:offset + got].hex(), portion.cert_chain.hex())
    ctx.equal(f"{what}: RemainderLength is what follows the portion", rest - got, portion.remainder_length)
    return portion


@case("spdm.certificate.boundaries", "GET_CERTIFICATE at every Offset/Length boundary: one byte, the last "
      "byte, more than is left, more than fits a transfer, Length 0, Offset at the end",
      CERTIFICATE_CLAUSE, per_version=True, needs=F.CERT_CAP)
def boundaries(ctx: CaseContext) -> None:
    conn = AuthConnection(ctx)
    conn.vca()
    conn.digests()
    chain = conn.chain(0)
    size = len(chain)
    _portion(ctx, conn, "Length 1 at Offset 0", 0, 1, chain)
    _portion(ctx, conn, "the last byte (Offset = size - 1)", size - 1, 1, chain)
    _portion(ctx, conn, "Length larger than the rest", size - SMALL_REST, 2 * SMALL_REST, chain)
    large = _portion(ctx, conn, f"Length 0x{LARGE_LENGTH:x}", 0, LARGE_LENGTH, chain)
    if ctx.version >= SpdmVersion.V12:
        ctx.check("Length 0xffff: the portion fits the requester's DataTransferSize (1.2+)",
                  len(large.cert_chain) + CERTIFICATE_HEADER <= DEFAULT_DATA_TRANSFER_SIZE,
                  expected=f"<= {DEFAULT_DATA_TRANSFER_SIZE - CERTIFICATE_HEADER}",
                  actual=len(large.cert_chain), reference="DSP0274 1.3 §10.4, Tables 30-31")
    request = GetCertificate(spdm_version=ctx.version, slot_id=0, offset=0, length=0)
    data = ctx.send(request)
    if data[1:2] == b"\x7f":
        ctx.expect_error("Length 0: refused with InvalidRequest (or answered with nothing)", data,
                         (SpdmErrorCode.INVALID_REQUEST,))
    else:
        empty = ctx.decode(Certificate, data)
        ctx.equal("Length 0: PortionLength is 0", 0, len(empty.cert_chain))
        ctx.equal("Length 0: RemainderLength is the whole chain", size, empty.remainder_length)
    data = ctx.send(GetCertificate(spdm_version=ctx.version, slot_id=0, offset=size, length=1))
    ctx.expect_error(f"Offset {size} (= the chain's size) is refused", data, (SpdmErrorCode.INVALID_REQUEST,))


@case("spdm.certificate.transfer-cap", "From 1.2, a GET_CERTIFICATE Length beyond the requester's "
      "DataTransferSize gets a portion cut to fit it", "DSP0274 1.3 §10.4, Tables 30-31", per_version=True,
      min_version=0x12, needs=F.CERT_CAP)
def transfer_cap(ctx: CaseContext) -> None:
    """The suite announces a DataTransferSize (and, without CHUNK_CAP, MaxSPDMmsgSize) of 128 bytes
    and asks for 0xFFFF bytes at once."""
    conn = AuthConnection(ctx)
    conn.vca(replace(get_capabilities(ctx.version), data_transfer_size=SMALL_TRANSFER,
                     max_spdm_msg_size=SMALL_TRANSFER))
    conn.digests()
    chain = conn.chain(0)
    portion = conn.certificate(0, 0, LARGE_LENGTH)
    got = len(portion.cert_chain)
    ctx.check(f"the CERTIFICATE fits the requester's DataTransferSize ({SMALL_TRANSFER})",
              got + CERTIFICATE_HEADER <= SMALL_TRANSFER, expected=f"PortionLength <= {SMALL_TRANSFER - 8}",
              actual=got)
    ctx.check("the portion carries bytes", got > 0, expected="PortionLength > 0", actual=got)
    ctx.equal("the portion is the chain's first bytes", chain[:got].hex(), portion.cert_chain.hex())
    ctx.equal("RemainderLength is what follows the portion", len(chain) - got, portion.remainder_length)


@case("spdm.certificate.slot-size", "1.3 SlotSizeRequested: CERTIFICATE carries no bytes and the slot's "
      "chain size as RemainderLength", CERTIFICATE_CLAUSE, per_version=True, min_version=0x13,
      needs=F.CERT_CAP)
def slot_size(ctx: CaseContext) -> None:
    conn = AuthConnection(ctx)
    conn.vca()
    conn.digests()
    chain = conn.chain(0)
    answer = conn.certificate(0, 0, LARGE_LENGTH, attributes=SLOT_SIZE_REQUESTED)
    ctx.equal("PortionLength is 0", 0, len(answer.cert_chain))
    ctx.equal("RemainderLength is the slot's chain size", len(chain), answer.remainder_length)
    ctx.equal("CERTIFICATE echoes the SlotID", 0, answer.slot_id)
