"""The TDI report (PCIe 6.x Table 11-15; PROTOCOLS.md §9.4) and its MMIO ranges.

DEVICE_INTERFACE_REPORT carries the report in portions; the reassembled
REPORT_BYTES parse into an :class:`InterfaceReport` and render back byte for
byte.  An :class:`MmioRange` is also the payload of SET_MMIO_ATTRIBUTE_REQUEST.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Self

from construct import Array, Bytes, Int16ul, Int32ul, Int64ul, Padding, Rebuild, Struct, len_, this

from spdm.codec import build, parse_exact

from ._base import NO_PARAMS, plain
from .codes import InterfaceInfo, MmioAttributes, known_bits

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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True)
class InterfaceReport:
    """The TDI report: what the DSM locked, for the TVM to check (PCIe 6.x §11.3.11).

    Attributes:
        interface_info: NO_FW_UPDATE, DMA with/without PASID, ATS, PRS.
        msi_x_message_control: the MSI-X Message Control register (0 when
            MSI-X is absent or not locked).
        lnr_control: the LN Requester control register (0 without LNR).
        tph_control: the TPH Requester control register (0 without TPH or
            when MSI-X is not locked).
        mmio_ranges: the TDI's MMIO ranges in TDI order, MMIO_REPORTING_OFFSET added.
        device_specific_info: DEVICE_SPECIFIC_INFO.
        raw: the exact report bytes decoded (empty when built locally).
    """

    interface_info: InterfaceInfo = InterfaceInfo(0)
    msi_x_message_control: int = 0
    lnr_control: int = 0
    tph_control: int = 0
    mmio_ranges: tuple[MmioRange, ...] = ()
    device_specific_info: bytes = b""
    raw: bytes = dataclasses.field(default=b"", compare=False, repr=False, kw_only=True)

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse reassembled REPORT_BYTES.

        Raises:
            DecodeError: malformed, truncated, or followed by extra bytes.
        """
        data = bytes(data)
        container, end = parse_exact(TdiReport, data, NO_PARAMS, padded=False, what="TDI report")
        fields: dict[str, Any] = plain(container)
        return cls(
            interface_info=InterfaceInfo(known_bits(InterfaceInfo, fields["interface_info"])),
            msi_x_message_control=fields["msi_x_message_control"],
            lnr_control=fields["lnr_control"],
            tph_control=fields["tph_control"],
            mmio_ranges=tuple(MmioRange.from_fields(r) for r in fields["mmio_ranges"]),
            device_specific_info=fields["device_specific_info"],
            raw=data[:end],
        )

    def encode(self) -> bytes:
        """Render the report bytes.

        Raises:
            LocalProtocolError: a field does not fit its wire format.
        """
        return build(TdiReport, {
            "interface_info": int(self.interface_info),
            "msi_x_message_control": self.msi_x_message_control,
            "lnr_control": self.lnr_control,
            "tph_control": self.tph_control,
            "mmio_ranges": [r.as_fields() for r in self.mmio_ranges],
            "device_specific_info": self.device_specific_info,
        }, NO_PARAMS, what="TDI report")
