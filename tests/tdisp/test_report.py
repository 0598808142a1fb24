"""The TDI report (tdisp.messages.report): parsed into objects and rendered back byte for byte."""

from __future__ import annotations

import pytest

from spdm.errors import DecodeError, LocalProtocolError
from tdisp.messages import InterfaceInfo, InterfaceReport, MmioAttributes, MmioRange

from .helpers import REFERENCE_INFO, REFERENCE_RANGES

# The reference sample's report (PROTOCOLS.md §9 TRACE; the captures' two DEVICE_INTERFACE_REPORT
# portions reassembled): 4 MMIO ranges and 16 bytes of device-specific data.
REFERENCE_REPORT = bytes.fromhex(
    "0300 0000 0000 0000 00000000 04000000"
    "0000000000000000 01000000 0400 0100"
    "0080000000000000 04000000 0800 0200"
    "0000010000000000 08000000 0800 0300"
    "0000020000000000 08000000 0800 0400"
    "10000000" + REFERENCE_INFO.hex()
)


def test_reference_report_parses_into_objects() -> None:
    report = InterfaceReport.decode(REFERENCE_REPORT)
    assert report.interface_info == InterfaceInfo.NO_FW_UPDATE | InterfaceInfo.DMA_WITHOUT_PASID
    assert (report.msi_x_message_control, report.lnr_control, report.tph_control) == (0, 0, 0)
    assert report.mmio_ranges == REFERENCE_RANGES
    assert report.device_specific_info == b"tdisp_dev_emu\x00\x00\x00"
    assert report.raw == REFERENCE_REPORT
    assert report.encode() == REFERENCE_REPORT
    assert len(REFERENCE_REPORT) == 0x40 + 0x24


def test_every_field_round_trips() -> None:
    report = InterfaceReport(
        interface_info=InterfaceInfo(0x1F),
        msi_x_message_control=0x8003,
        lnr_control=0x0101,
        tph_control=0x0000_0102,
        mmio_ranges=(
            MmioRange(0xFEDC_BA98_7654_3, 0xFFFF_FFFF, MmioAttributes.MSIX_TABLE, 0),
            MmioRange(0x10, 1, MmioAttributes.MSIX_PBA, 0),
            MmioRange(0x20, 2, MmioAttributes.IS_NON_TEE_MEM | MmioAttributes.IS_MEM_ATTR_UPDATABLE, 0xFFFF),
        ),
        device_specific_info=bytes(range(256)),
    )
    data = report.encode()
    assert len(data) == 16 + 3 * 16 + 4 + 256
    assert InterfaceReport.decode(data) == report
    assert InterfaceReport.decode(data).encode() == data


def test_empty_report() -> None:
    data = InterfaceReport().encode()
    assert data == bytes(20)
    assert InterfaceReport.decode(data) == InterfaceReport()


def test_mmio_range_addresses() -> None:
    r = MmioRange(0xD0008, 4, MmioAttributes.IS_MEM_ATTR_UPDATABLE, 2)
    assert (r.address, r.size) == (0xD000_8000, 0x4000)
    assert MmioRange.from_fields(r.as_fields()) == r


def test_reserved_bits_dropped_on_read() -> None:
    data = bytearray(InterfaceReport(mmio_ranges=(MmioRange(1, 1),)).encode())
    data[0:2] = b"\xe3\xff"  # INTERFACE_INFO b[15:5] reserved
    data[2:4] = b"\x12\x34"  # reserved
    data[16 + 12:16 + 14] = b"\xf4\xff"  # RANGE_ATTRIBUTES b[15:4] reserved (spdm-rs "PRS" b4 too)
    report = InterfaceReport.decode(bytes(data))
    assert report.interface_info == InterfaceInfo(0x3)
    assert report.mmio_ranges[0].range_attributes == MmioAttributes.IS_NON_TEE_MEM


@pytest.mark.parametrize("cut", [0, 1, 12, 15, 16, 31, 32, 35, len(REFERENCE_REPORT) - 1])
def test_truncated_report_refused(cut: int) -> None:
    with pytest.raises(DecodeError):
        InterfaceReport.decode(REFERENCE_REPORT[:cut])


def test_trailing_bytes_refused() -> None:
    with pytest.raises(DecodeError):
        InterfaceReport.decode(REFERENCE_REPORT + b"\x00")


def test_huge_counts_refused_fast() -> None:
    data = bytearray(REFERENCE_REPORT)
    data[12:16] = b"\xff\xff\xff\xff"
    with pytest.raises(DecodeError):
        InterfaceReport.decode(bytes(data))
    data = bytearray(REFERENCE_REPORT)
    data[80:84] = b"\xff\xff\xff\xff"
    with pytest.raises(DecodeError):
        InterfaceReport.decode(bytes(data))


def test_values_that_do_not_fit_are_local_errors() -> None:
    with pytest.raises(LocalProtocolError):
        InterfaceReport(mmio_ranges=(MmioRange(1 << 64, 1),)).encode()
    with pytest.raises(LocalProtocolError):
        InterfaceReport(lnr_control=0x10000).encode()
