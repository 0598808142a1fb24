"""SPDM GET_MEASUREMENTS / MEASUREMENTS cases, unsigned (PROTOCOLS.md §3.7).

These judge counting, selection and index errors on unsigned requests;
signed MEASUREMENTS over L1/L2 and the content rules of the blocks are judged
in :mod:`.spdm_measurement_rules`.  References name DSP0274 1.3's tables
(Table 40 the request, Table 42 the response; the codec's citations).
"""

from __future__ import annotations

import os

from spdm.codec import CodecContext
from spdm.errors import SpdmErrorCode
from spdm.messages import REQUESTER_CONTEXT_SIZE, GetMeasurements, Measurements
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.codes import MeasurementOperation

from .context import CaseContext
from .registry import case
from .requests import codec_context, vca

__all__ = ["all_blocks", "count", "invalid_index", "one_block"]
"""The case bodies (registered with :func:`.registry.case`; run them through the runner)."""

CLAUSE = "DSP0274 1.3 Tables 40, 42"
MEAS_CAP = F.MEAS_CAP_NO_SIG | F.MEAS_CAP_SIG
ALL_BLOCKS = 0xFF
LAST_ORDINARY_INDEX = 0xEF
"""Indices above are reserved or special (0xFD manifest, 0xFE device mode; PROTOCOLS.md §3.7)."""


def _measure(ctx: CaseContext, codec: CodecContext, operation: int) -> Measurements:
    """One unsigned GET_MEASUREMENTS; the response must decode, and echo RequesterContext in 1.3."""
    context = os.urandom(REQUESTER_CONTEXT_SIZE) if ctx.version >= 0x13 else None
    request = GetMeasurements(spdm_version=ctx.version, attributes=0, operation=operation,
                              requester_context=context)
    response = ctx.decode(Measurements, ctx.send(request), codec)
    if context is not None:
        ctx.equal("RequesterContext is echoed (1.3)", context, response.requester_context)
    return response


def _codec(ctx: CaseContext) -> CodecContext:
    _, _, algs = vca(ctx)
    assert algs is not None
    return codec_context(algs)


@case("spdm.measurements.count", "A count query returns the number of indices and no blocks", CLAUSE,
      per_version=True, needs_any=MEAS_CAP)
def count(ctx: CaseContext) -> None:
    response = _measure(ctx, _codec(ctx), MeasurementOperation.QUERY_COUNT)
    ctx.check("NumberOfIndices (Param1) is at least 1", response.total_indices >= 1, expected=">= 1",
              actual=response.total_indices)
    ctx.equal("a count query carries no blocks", 0, len(response.blocks))


@case("spdm.measurements.all-blocks", "All blocks: as many as counted, distinct ascending indices, "
      "DMTF blocks", CLAUSE, per_version=True, needs_any=MEAS_CAP)
def all_blocks(ctx: CaseContext) -> None:
    codec = _codec(ctx)
    counted = _measure(ctx, codec, MeasurementOperation.QUERY_COUNT).total_indices
    response = _measure(ctx, codec, ALL_BLOCKS)
    indices = [b.index for b in response.blocks]
    ctx.equal("the number of blocks is the count the device gave", counted, len(indices))
    ctx.equal("indices are distinct and ascending", sorted(set(indices)), indices)
    ctx.check("no block uses index 0 or 0xFF", all(0 < i < 0xFF for i in indices),
              expected="indices 1-0xFE", actual=indices)
    ctx.equal("Param1 is 0 when blocks are returned", 0, response.total_indices)


@case("spdm.measurements.one-block", "Asking for one index returns exactly that block", CLAUSE,
      per_version=True, needs_any=MEAS_CAP)
def one_block(ctx: CaseContext) -> None:
    codec = _codec(ctx)
    blocks = _measure(ctx, codec, ALL_BLOCKS).blocks
    ctx.require("the device has a measurement block", bool(blocks), expected=">= 1 block", actual=0)
    first = blocks[0]
    response = _measure(ctx, codec, first.index)
    ctx.equal(f"GET_MEASUREMENTS index 0x{first.index:02x} returns that one block", [first.index],
              [b.index for b in response.blocks])
    if response.blocks:
        ctx.equal("the block equals the one in the all-blocks response", first.encode(),
                  response.blocks[0].encode())


@case("spdm.measurements.invalid-index", "GET_MEASUREMENTS for an index the device lacks gets "
      "ERROR InvalidRequest", CLAUSE, per_version=True, needs_any=MEAS_CAP)
def invalid_index(ctx: CaseContext) -> None:
    present = {b.index for b in _measure(ctx, _codec(ctx), ALL_BLOCKS).blocks}
    missing = next((i for i in range(LAST_ORDINARY_INDEX, 0, -1) if i not in present), None)
    ctx.require("the device leaves an ordinary index unused", missing is not None,
                expected="an index 1-0xEF without a block", actual=sorted(present))
    assert missing is not None
    context = bytes(REQUESTER_CONTEXT_SIZE) if ctx.version >= 0x13 else None
    request = GetMeasurements(spdm_version=ctx.version, operation=missing, requester_context=context)
    data = ctx.send(request)
    ctx.expect_error(f"index 0x{missing:02x} is refused", data, (SpdmErrorCode.INVALID_REQUEST,))
