"""TDISP interface report cases: portions at every boundary, consistent content (PCIe 6.x §11.3.10, §11.3.11).

The report is read whole (LENGTH 0xFFFF) and then again in portions whose
LENGTH falls just below, on and just above each boundary; every read must give
the same bytes, and each portion's REMAINDER_LENGTH must account for the rest.
"""

from __future__ import annotations

from spdm.errors import DecodeError
from tdisp.messages import DeviceInterfaceReport, GetDeviceInterfaceReport, InterfaceReport, TdispResponseCode

from .context import CaseContext
from .ide_km_channel import Carrier, carrier, decode_payload
from .ide_km_query import SESSION
from .registry import case
from .tdisp_interface import TDISP_MIN_VERSION, locked, tdisp_ready

__all__ = ["portions"]
"""The case bodies (registered with :func:`.registry.case`; run them through the runner)."""

CLAUSE = "PCIe 6.x §11.3.10, §11.3.11 Table 11-14"
WHOLE = 0xFFFF


def _read(c: Carrier, length: int) -> bytes:
    """The report read in portions of at most ``length`` bytes; REMAINDER_LENGTH checked on each."""
    out = b""
    total: int | None = None
    while True:
        request = GetDeviceInterfaceReport(c.tdi, offset=len(out), length=length)
        portion = decode_payload(c.ctx, DeviceInterfaceReport, c.send(request),
                                 TdispResponseCode.DEVICE_INTERFACE_REPORT, reference=CLAUSE)
        c.ctx.require(f"the portion at OFFSET {len(out)} (LENGTH {length}) is neither empty nor longer",
                      0 < portion.portion_length <= length, expected=f"1..{length} bytes",
                      actual=f"{portion.portion_length} bytes")
        out += portion.report_bytes
        if total is None:
            total = len(out) + portion.remainder_length
        c.ctx.require("PORTION_LENGTH + REMAINDER_LENGTH account for the same report length",
                      len(out) + portion.remainder_length == total, expected=total,
                      actual=len(out) + portion.remainder_length)
        if not portion.remainder_length:
            return out


@case("tdisp.report.portions", "The interface report read whole and in portions at every boundary gives "
      "the same, well-formed bytes", CLAUSE, min_version=TDISP_MIN_VERSION, needs=SESSION)
def portions(ctx: CaseContext) -> None:
    with carrier(ctx) as c:
        tdisp_ready(c)
        locked(c)
        whole = _read(c, WHOLE)
        try:
            InterfaceReport.decode(whole)
            well_formed = ""
        except DecodeError as exc:
            well_formed = str(exc)
        ctx.equal("the report is a well-formed TDI report", "", well_formed,
                  reference="PCIe 6.x §11.3.11 Table 11-15")
        for length in sorted({1, 2, 3, 7, len(whole) // 2, len(whole) - 1, len(whole), len(whole) + 1} - {0}):
            ctx.equal(f"the report read in portions of {length} byte(s) is the whole report", whole,
                      _read(c, length))
