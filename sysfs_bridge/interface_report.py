"""devsec's ``interface_report/``: a TDI's TDISP interface report on its own tree, raw and parsed.

No kernel ABI shows the report a TDI was locked with (the TSM staging tree
plans a netlink object ``report``), so devsec renders it under the TDI's
device directory while its interface is locked (CONFIG_LOCKED or RUN)::

    interface_report/report                raw REPORT_BYTES (PCIe 6.x Table 11-15), binary
    interface_report/interface_info        INTERFACE_INFO flags by name, space-separated
                                           (NO_FW_UPDATE DMA_WITHOUT_PASID ...), one line
    interface_report/mmio_ranges           one line per MMIO range, in report order:
                                           ADDRESS SIZE RANGE_ID [ATTRIBUTE ...]
                                           (hex address and size in bytes, decimal range ID,
                                           RANGE_ATTRIBUTES by name: MSIX_TABLE ...)
    interface_report/device_specific_info  DEVICE_SPECIFIC_INFO, binary

``report`` is the evidence; the other files are views of it for tools that
do not parse TDISP.  The reader takes the raw report and refuses a tree whose
views say something else (they are rendered from it byte for byte).  The
report reached the host inside the SPDM session with the device (or from
the TSM that holds that session): it is integrity-protected in transit but
carries no signature a third party could re-verify offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from tdisp.messages import InterfaceInfo, InterfaceReport, MmioAttributes

from .attribute import read_with_views

__all__ = ["DIRECTORY", "parse_report", "read_interface_report", "report_files"]

DIRECTORY: Final = "interface_report"
"""The directory's name under a device directory."""


def _names(flags: InterfaceInfo | MmioAttributes) -> list[str]:
    return [member.name for member in type(flags) if member.name and member in flags]


def parse_report(raw: bytes) -> InterfaceReport:
    """The parsed report.

    Raises:
        DecodeError: ``raw`` is not a TDI report (nothing may follow it).
    """
    return InterfaceReport.decode(raw)


def report_files(raw: bytes) -> dict[str, bytes]:
    """The files of ``interface_report/`` for a raw report, name -> contents (pure).

    Raises:
        DecodeError: ``raw`` is not a TDI report.
    """
    report = parse_report(raw)
    ranges = "".join(
        " ".join([f"0x{r.address:x}", f"0x{r.size:x}", str(r.range_id), *_names(r.range_attributes)]) + "\n"
        for r in report.mmio_ranges)
    return {
        "report": raw,
        "interface_info": (" ".join(_names(report.interface_info)) + "\n").encode("ascii"),
        "mmio_ranges": ranges.encode("ascii"),
        "device_specific_info": report.device_specific_info,
    }


def read_interface_report(device_dir: Path) -> bytes:
    """The raw report of a device directory's ``interface_report/`` (b"" when it has none).

    Raises:
        DecodeError: ``report`` is missing or no TDI report, an unknown file is
            present, or a view disagrees with the report (the path is named).
        OSError: a file could not be read.
    """
    return read_with_views(device_dir / DIRECTORY, "report", report_files)
