"""The TDI report (PCIe 6.x Table 11-15; PROTOCOLS.md §9.4) and its MMIO ranges.

DEVICE_INTERFACE_REPORT carries the report in portions; the reassembled
REPORT_BYTES parse into an :class:`InterfaceReport` and render back byte for
byte.  An :class:`MmioRange` is also the payload of SET_MMIO_ATTRIBUTE_REQUEST.
"""

from __future__ import annotations

from typing import Any, ClassVar

from construct import Array, Bytes, Construct, Int16ul, Int32ul, Int64ul, Padding, Rebuild, Struct, len_, this

from spdm.codec import WireMessage
from spdm.record import record

from .codes import InterfaceInfo, MmioAttributes, known_bits

__all__ = ["PAGE_SHIFT", "InterfaceReport", "MmioRange", "TdiMmioRange", "TdiReport"]

PAGE_SHIFT = 12
"""MMIO ranges count 4 KiB pages."""

# PCIe 6.x Table 11-15, MMIO_RANGE (also Table 11-24): 16 bytes.
TdiMmioRange = Struct(
    "first_page" / Int64ul,
    "number_of_pages" / Int32ul,
    "range_attributes" / Int16ul,
    "range_id" / Int16ul,
)

# PCIe 6.x Table 11-15, the TDI report structure.
TdiReport = Struct(
    "interface_info" / Int16ul,
    Padding(2),
    "msi_x_message_control" / Int16ul,
    "lnr_control" / Int16ul,
    "tph_control" / Int32ul,
    "_mmio_range_count" / Rebuild(Int32ul, len_(this.mmio_ranges)),
    "mmio_ranges" / Array(this._mmio_range_count, TdiMmioRange),
    "_device_specific_info_len" / Rebuild(Int32ul, len_(this.device_specific_info)),
    "device_specific_info" / Bytes(this._device_specific_info_len),
)


@record(frozen=True, slots=True)
class MmioRange:
    """One MMIO range of a TDI (PCIe 6.x Table 11-15 MMIO_RANGE).

    Attributes:
        first_page: the first 4 KiB page (address >> 12); in a report and in
            SET_MMIO_ATTRIBUTE_REQUEST with MMIO_REPORTING_OFFSET added.
        number_of_pages: the range's size in 4 KiB pages.
        range_attributes: MSI-X table/PBA, IS_NON_TEE_MEM, IS_MEM_ATTR_UPDATABLE
            (reserved bits are dropped on read).
        range_id: device-specific grouping; 0-7 name the BAR (BEI) of BAR ranges.
    """

    first_page: int
    number_of_pages: int
    range_attributes: MmioAttributes = MmioAttributes(0)
    range_id: int = 0

    @property
    def address(self) -> int:
        """The range's first byte address."""
        return self.first_page << PAGE_SHIFT

    @property
    def size(self) -> int:
        """The range's size in bytes."""
        return self.number_of_pages << PAGE_SHIFT

    def as_fields(self) -> dict[str, int]:
        """The construct field values of :data:`TdiMmioRange`."""
        return {
            "first_page": self.first_page,
            "number_of_pages": self.number_of_pages,
            "range_attributes": int(self.range_attributes),
            "range_id": self.range_id,
        }

    @classmethod
    def from_fields(cls, fields: dict[str, int]) -> MmioRange:
        """Build from parsed :data:`TdiMmioRange` fields, ignoring reserved attribute bits."""
        return cls(
            first_page=fields["first_page"],
            number_of_pages=fields["number_of_pages"],
            range_attributes=MmioAttributes(known_bits(MmioAttributes, fields["range_attributes"])),
            range_id=fields["range_id"],
        )


@record(frozen=True)
class InterfaceReport(WireMessage):
    """The TDI report: what the DSM locked, for the TVM to check (PCIe 6.x §11.3.11).

    ``decode`` parses the reassembled REPORT_BYTES (nothing may follow them);
    ``encode`` renders them.

    Attributes:
        interface_info: NO_FW_UPDATE, DMA with/without PASID, ATS, PRS.
        msi_x_message_control: the MSI-X Message Control register (0 when
            MSI-X is absent or not locked).
        lnr_control: the LN Requester control register (0 without LNR).
        tph_control: the TPH Requester control register (0 without TPH or
            when MSI-X is not locked).
        mmio_ranges: the TDI's MMIO ranges in TDI order, MMIO_REPORTING_OFFSET added.
        device_specific_info: DEVICE_SPECIFIC_INFO.
    """

    STRUCT: ClassVar[Construct] = TdiReport

    interface_info: InterfaceInfo = InterfaceInfo(0)
    msi_x_message_control: int = 0
    lnr_control: int = 0
    tph_control: int = 0
    mmio_ranges: tuple[MmioRange, ...] = ()
    device_specific_info: bytes = b""

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        return {
            **fields,
            "interface_info": InterfaceInfo(known_bits(InterfaceInfo, fields["interface_info"])),
            "mmio_ranges": tuple(MmioRange.from_fields(r) for r in fields["mmio_ranges"]),
        }

    def _to_fields(self) -> dict[str, Any]:
        return {
            **super()._to_fields(),
            "interface_info": int(self.interface_info),
            "mmio_ranges": [r.as_fields() for r in self.mmio_ranges],
        }
