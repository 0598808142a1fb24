"""Signed MEASUREMENTS judged by the suite, and the content rules of measurement blocks (PROTOCOLS.md §3.7).

The signature is verified over L1 = [A if 1.2+] || every GET_MEASUREMENTS /
MEASUREMENTS since the last reset (PROTOCOLS.md §5.3), kept by the shared
:class:`spdm.transcript.Transcript`, with the version's signing rule (§4).

Decisions where DSP0274 leaves room (documented for vendors):

* ``raw-requested`` judges what RawBitStreamRequested asks of a device (a raw
  block of the same value type, or the digest block it reports otherwise), but
  not that the digest is the hash of the raw value: DSP0274 does not say the
  raw bit stream is the exact input of the digest (a device may hash another
  encoding of the same measurement), so comparing them would fail conformant
  devices.
* No ``content-stable`` case: measurements may change between two requests
  (MEASUREMENTS Param2 content-changed exists for that), so two reads of one
  index need not match.
* Value types 5-7 are judged raw bit streams and 0xFE the 16-byte device-mode
  layout from 1.2 (PROTOCOLS.md §3.7), the first version defining them, and
  indices 0xF0-0xFC reserved from 1.2.  Which version introduced each value
  type is not certain (PROTOCOLS.md §3.7 flags it), so a type is judged
  against the set 1.3 defines at every version: only types above 10 fail.
"""

from __future__ import annotations

import os

from spdm.crypto import measurement_hash_size
from spdm.errors import DecodeError, SpdmErrorCode
from spdm.messages import NONCE_SIZE, REQUESTER_CONTEXT_SIZE, GetMeasurements, Measurements
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.codes import (
    DmtfValueType,
    MeasurementAttributes,
    MeasurementHashAlgo,
    MeasurementOperation,
)
from spdm.messages.opaque import decode_opaque

from .context import CaseContext
from .registry import case
from .spdm_auth_connection import CONTEXTS, AuthConnection

__all__ = [
    "block_rules", "invalid_signing_slot", "opaque", "raw_requested", "signed", "signed_fresh",
    "unsigned_no_signature",
]
"""The case bodies (registered with :func:`.registry.case`; run them through the runner)."""

CLAUSE = "DSP0274 1.3 Tables 40, 42"
SIGNATURE_CLAUSE = "DSP0274 1.3 §10.11, Table 42; PROTOCOLS.md §4, §5.3"
BLOCK_CLAUSE = "DSP0274 1.3 Tables 44-45; PROTOCOLS.md §3.7"
MEAS_CAP = F.MEAS_CAP_NO_SIG | F.MEAS_CAP_SIG
MANIFEST_INDEX, DEVICE_MODE_INDEX = 0xFD, 0xFE
RESERVED_INDICES = range(0xF0, 0xFD)
DEVICE_MODE_SIZE = 16
SVN_SIZE = 8
RAW_ONLY_TYPES = {DmtfValueType.DEVICE_MODE, DmtfValueType.MUTABLE_FIRMWARE_VERSION,
                  DmtfValueType.MUTABLE_FIRMWARE_SVN}
"""Value types DSP0274 1.2 defines as raw bit streams."""
HIGHEST_TYPE = max(DmtfValueType)
"""The highest DMTFSpecMeasurementValueType any version defines (1.3's structured manifest)."""
MAX_OPAQUE = 1024
OPAQUE_FMT1 = 0x02
"""OtherParamsSelection b1: OpaqueDataFmt1, the general opaque data table (1.2+)."""


def _request(ctx: CaseContext, operation: int, *, signed: bool, slot: int = 0,
             raw: bool = False) -> GetMeasurements:
    context = os.urandom(REQUESTER_CONTEXT_SIZE) if ctx.version >= 0x13 else None
    if not signed:
        attributes = MeasurementAttributes.RAW_BIT_STREAM_REQUESTED if raw else 0
        return GetMeasurements(spdm_version=ctx.version, attributes=attributes, operation=operation,
                               requester_context=context)
    return GetMeasurements(spdm_version=ctx.version,
                           attributes=MeasurementAttributes.SIGNATURE_REQUESTED,
                           operation=operation, nonce=os.urandom(NONCE_SIZE),
                           slot_id=slot if ctx.version >= 0x11 else None, requester_context=context)


def _signing_connection(ctx: CaseContext) -> AuthConnection:
    """VCA, then slot 0's chain (the key that signs), as a requester would.

    The signed cases need MEAS_CAP 10b; they declare either MEAS_CAP value (so a
    device measuring nothing skips the whole group for one reason) and skip
    here when the device measures without signing.
    """
    if not ctx.flags & F.MEAS_CAP_SIG:
        ctx.skip("the device advertises MEAS_CAP without signature (01b): it signs no MEASUREMENTS")
    conn = AuthConnection(ctx)
    conn.vca()
    conn.digests()
    conn.chain(0)
    return conn


def _signed(ctx: CaseContext, conn: AuthConnection, operation: int) -> Measurements:
    request = _request(ctx, operation, signed=True)
    response, l1 = conn.measurements(request)
    at = f"signed MEASUREMENTS (operation 0x{operation:02x})"
    ctx.check(f"{at}: the responder's nonce is not the requester's", response.nonce != request.nonce,
              expected=f"not {request.nonce.hex() if request.nonce else ''}", actual=response.nonce)
    if ctx.version >= 0x11:
        ctx.equal(f"{at}: Param2 SlotID is the signing slot", 0, response.slot_id, reference=CLAUSE)
    if request.requester_context is not None:
        ctx.equal(f"{at}: RequesterContext is echoed (1.3)", request.requester_context,
                  response.requester_context, reference=CLAUSE)
    conn.judge_signature(f"{at}: the signature verifies over L1 with slot 0's leaf key", 0,
                         CONTEXTS["measurements"], l1, response.signature, reference=SIGNATURE_CLAUSE)
    return response


@case("spdm.measurements.signed", "Signed MEASUREMENTS verify over L1 (every measurement exchange since "
      "the last signature) with the version's signing rule", SIGNATURE_CLAUSE, per_version=True,
      needs=F.CERT_CAP, needs_any=MEAS_CAP)
def signed(ctx: CaseContext) -> None:
    conn = _signing_connection(ctx)
    conn.measurements(_request(ctx, MeasurementOperation.QUERY_COUNT, signed=False))
    unsigned, _ = conn.measurements(_request(ctx, MeasurementOperation.ALL, signed=False))
    ctx.require("the device has a measurement block", bool(unsigned.blocks), expected=">= 1 block", actual=0)
    _signed(ctx, conn, unsigned.blocks[0].index)
    _signed(ctx, conn, MeasurementOperation.ALL)


@case("spdm.measurements.signed-fresh", "Two signed MEASUREMENTS carry different responder nonces",
      CLAUSE, per_version=True, needs=F.CERT_CAP, needs_any=MEAS_CAP)
def signed_fresh(ctx: CaseContext) -> None:
    conn = _signing_connection(ctx)
    first = _signed(ctx, conn, MeasurementOperation.ALL)
    second = _signed(ctx, conn, MeasurementOperation.ALL)
    ctx.check("the second signed MEASUREMENTS has a new nonce", second.nonce != first.nonce,
              expected=f"not {first.nonce.hex()}", actual=second.nonce)


@case("spdm.measurements.unsigned-no-signature", "An unsigned MEASUREMENTS ends after its fixed fields: "
      "no signature", CLAUSE, per_version=True, needs_any=MEAS_CAP)
def unsigned_no_signature(ctx: CaseContext) -> None:
    conn = AuthConnection(ctx)
    conn.vca()
    response, _ = conn.measurements(_request(ctx, MeasurementOperation.ALL, signed=False))
    size = 8 + len(response.measurement_record) + NONCE_SIZE + 2 + len(response.opaque_data)
    size += REQUESTER_CONTEXT_SIZE if ctx.version >= 0x13 else 0
    ctx.equal("the response is exactly its unsigned fields", size, len(response.raw))


@case("spdm.measurements.block-rules", "Every block is a DMTF block of a defined type: digests of the "
      "measurement hash's size, raw-only types raw, 0xFE the device-mode layout, no reserved index",
      BLOCK_CLAUSE, per_version=True, needs_any=MEAS_CAP)
def block_rules(ctx: CaseContext) -> None:
    conn = AuthConnection(ctx)
    algs = conn.vca()
    response, _ = conn.measurements(_request(ctx, MeasurementOperation.ALL, signed=False))
    ctx.check("every block is a DMTF block whose MeasurementSize is ValueSize + 3 (decoded)", True,
              expected="MeasurementSpecification b0, sizes consistent",
              actual=f"{len(response.blocks)} blocks")
    hash_alg = MeasurementHashAlgo(algs.measurement_hash_algo)
    size = 0 if hash_alg == MeasurementHashAlgo.RAW_BIT_STREAM_ONLY else measurement_hash_size(hash_alg)
    for block in response.blocks:
        at = f"block 0x{block.index:02x}"
        kind = block.value_type & 0x7F
        ctx.check(f"{at}: the value type is a defined one", kind <= HIGHEST_TYPE,
                  expected=f"0-{HIGHEST_TYPE:d}", actual=kind)
        if ctx.version >= 0x12:
            ctx.check(f"{at}: the index is not reserved", block.index not in RESERVED_INDICES,
                      expected="1-0xef, 0xfd or 0xfe", actual=block.index)
        if not block.raw_bit_stream:
            ctx.equal(f"{at}: a digest is as long as {hash_alg.name} makes", size, len(block.value))
        if ctx.version >= 0x12 and kind in RAW_ONLY_TYPES:
            ctx.check(f"{at}: type {kind} is a raw bit stream", block.raw_bit_stream,
                      expected="representation bit set", actual=f"0x{block.value_type:02x}")
        if kind == DmtfValueType.MUTABLE_FIRMWARE_SVN and block.raw_bit_stream:
            ctx.equal(f"{at}: the SVN is a {SVN_SIZE}-byte value", SVN_SIZE, len(block.value))
        if block.index == DEVICE_MODE_INDEX and ctx.version >= 0x12:
            ctx.equal(f"{at}: index 0xfe holds the device mode", DmtfValueType.DEVICE_MODE, kind)
            ctx.equal(f"{at}: the device mode is four 32-bit fields", DEVICE_MODE_SIZE, len(block.value))
        if block.index == MANIFEST_INDEX:
            ctx.check(f"{at}: index 0xfd holds a measurement manifest",
                      kind in (DmtfValueType.MEASUREMENT_MANIFEST, DmtfValueType.STRUCTURED_MANIFEST),
                      expected="type 4 or 10", actual=kind)


@case("spdm.measurements.raw-requested", "From 1.2, with RawBitStreamRequested every index comes back as "
      "a raw bit stream of the same value type, or as the very digest block it reports otherwise",
      "DSP0274 1.3 Tables 40, 44-45", per_version=True, min_version=0x12, needs_any=MEAS_CAP)
def raw_requested(ctx: CaseContext) -> None:
    """A device that cannot give a raw value answers its digest (the representation bit tells)."""
    conn = AuthConnection(ctx)
    conn.vca()
    usual, _ = conn.measurements(_request(ctx, MeasurementOperation.ALL, signed=False))
    raw, _ = conn.measurements(_request(ctx, MeasurementOperation.ALL, signed=False, raw=True))
    ctx.equal("the same indices come back", [b.index for b in usual.blocks], [b.index for b in raw.blocks])
    for before, after in zip(usual.blocks, raw.blocks, strict=False):
        at = f"block 0x{after.index:02x}"
        ctx.equal(f"{at}: the value type is the one reported without the request", before.kind, after.kind,
                  reference=BLOCK_CLAUSE)
        ctx.check(f"{at}: a raw bit stream, or the same digest block as without the request",
                  after.raw_bit_stream or after == before, expected="raw bit set, or the earlier block",
                  actual=f"type 0x{after.value_type:02x}, {len(after.value)} bytes", reference=BLOCK_CLAUSE)


@case("spdm.measurements.opaque", "MEASUREMENTS opaque data stays within 1024 bytes and, from 1.2, uses "
      "the general opaque data format when selected", "DSP0274 1.3 Table 42; PROTOCOLS.md §3.13",
      per_version=True, needs_any=MEAS_CAP)
def opaque(ctx: CaseContext) -> None:
    conn = AuthConnection(ctx)
    algs = conn.vca()
    response, _ = conn.measurements(_request(ctx, MeasurementOperation.ALL, signed=False))
    data = response.opaque_data
    ctx.check(f"OpaqueDataLength <= {MAX_OPAQUE}", len(data) <= MAX_OPAQUE, expected=f"<= {MAX_OPAQUE}",
              actual=len(data))
    if ctx.version < 0x12 or not data or not algs.other_params_selection & OPAQUE_FMT1:
        return
    try:
        elements = decode_opaque(data, ctx.version)
    except DecodeError as exc:
        ctx.check("the opaque data is a general opaque data table", False, expected="OpaqueDataFmt1",
                  actual=str(exc))
        return
    ctx.check("the opaque data is a general opaque data table", True, expected="OpaqueDataFmt1",
              actual=f"{len(elements)} element(s)")


@case("spdm.measurements.invalid-signing-slot", "Signed GET_MEASUREMENTS naming an unprovisioned slot gets "
      "ERROR InvalidRequest", CLAUSE, per_version=True, min_version=0x11, needs=F.CERT_CAP,
      needs_any=MEAS_CAP)
def invalid_signing_slot(ctx: CaseContext) -> None:
    conn = _signing_connection(ctx)
    mask = conn.digests().provisioned_slot_mask
    empty = [s for s in range(8) if not mask >> s & 1]
    ctx.require("the device has an unprovisioned slot to name", bool(empty),
                expected="ProvisionedSlotMask != 0xff", actual=mask)
    data = ctx.send(_request(ctx, MeasurementOperation.ALL, signed=True, slot=empty[0]))
    ctx.expect_error(f"a signature by empty slot {empty[0]} is refused", data,
                     (SpdmErrorCode.INVALID_REQUEST,))
