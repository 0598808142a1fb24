"""TDISP protocol numbers: message codes, TDI states and the bit fields of the messages.

Every number a TDISP peer can put on the wire has a name here (PCIe 6.x
§11.3, PROTOCOLS.md §9).  Bitmask fields are ``IntFlag``; single-valued fields
``IntEnum``.  The error codes live with the errors (:mod:`tdisp.errors`).
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

__all__ = [
    "MANDATORY_REQUESTS",
    "NONCE_SIZE",
    "PROTOCOL_ID",
    "TDISP_VERSION_1_0",
    "InterfaceInfo",
    "LockInterfaceFlags",
    "MmioAttributes",
    "RegistryId",
    "TdiState",
    "TdispRequestCode",
    "TdispResponseCode",
    "known_bits",
]

PROTOCOL_ID = 0x01
"""The PCI-SIG vendor-defined Protocol ID of TDISP: byte 0 of every payload."""

TDISP_VERSION_1_0 = 0x10
"""TDISPVersion of this (the only) TDISP version: major 1, minor 0."""

NONCE_SIZE = 32
"""START_INTERFACE_NONCE size (PCIe 6.x Table 11-11)."""


class TdispRequestCode(IntEnum):
    """Request codes (PCIe 6.x Table 11-3)."""

    GET_TDISP_VERSION = 0x81
    GET_TDISP_CAPABILITIES = 0x82
    LOCK_INTERFACE_REQUEST = 0x83
    GET_DEVICE_INTERFACE_REPORT = 0x84
    GET_DEVICE_INTERFACE_STATE = 0x85
    START_INTERFACE_REQUEST = 0x86
    STOP_INTERFACE_REQUEST = 0x87
    BIND_P2P_STREAM_REQUEST = 0x88
    UNBIND_P2P_STREAM_REQUEST = 0x89
    SET_MMIO_ATTRIBUTE_REQUEST = 0x8A
    VDM_REQUEST = 0x8B


MANDATORY_REQUESTS = frozenset(TdispRequestCode) - {
    TdispRequestCode.BIND_P2P_STREAM_REQUEST,
    TdispRequestCode.UNBIND_P2P_STREAM_REQUEST,
    TdispRequestCode.SET_MMIO_ATTRIBUTE_REQUEST,
    TdispRequestCode.VDM_REQUEST,
}
"""The seven requests every device must support (REQ_MSGS_SUPPORTED byte 0 = 0xFE)."""


class TdispResponseCode(IntEnum):
    """Response codes (PCIe 6.x Table 11-4): the request code minus 0x80, and TDISP_ERROR."""

    TDISP_VERSION = 0x01
    TDISP_CAPABILITIES = 0x02
    LOCK_INTERFACE_RESPONSE = 0x03
    DEVICE_INTERFACE_REPORT = 0x04
    DEVICE_INTERFACE_STATE = 0x05
    START_INTERFACE_RESPONSE = 0x06
    STOP_INTERFACE_RESPONSE = 0x07
    BIND_P2P_STREAM_RESPONSE = 0x08
    UNBIND_P2P_STREAM_RESPONSE = 0x09
    SET_MMIO_ATTRIBUTE_RESPONSE = 0x0A
    VDM_RESPONSE = 0x0B
    TDISP_ERROR = 0x7F


class TdiState(IntEnum):
    """TDI_STATE of DEVICE_INTERFACE_STATE (PCIe 6.x Table 11-17)."""

    CONFIG_UNLOCKED = 0
    CONFIG_LOCKED = 1
    RUN = 2
    ERROR = 3


class LockInterfaceFlags(IntFlag):
    """LOCK_INTERFACE_REQUEST FLAGS, also LOCK_INTERFACE_FLAGS_SUPPORTED (PROTOCOLS.md §9.3).

    b[15:5] are reserved.
    """

    NO_FW_UPDATE = 1 << 0
    SYSTEM_CACHE_LINE_SIZE = 1 << 1
    """Set: the system cache line is 128 bytes; clear: 64 bytes."""
    LOCK_MSIX = 1 << 2
    BIND_P2P = 1 << 3
    ALL_REQUEST_REDIRECT = 1 << 4


class InterfaceInfo(IntFlag):
    """INTERFACE_INFO of the TDI report (PCIe 6.x Table 11-15); b[15:5] reserved."""

    NO_FW_UPDATE = 1 << 0
    DMA_WITHOUT_PASID = 1 << 1
    DMA_WITH_PASID = 1 << 2
    ATS = 1 << 3
    """ATS supported and enabled for the TDI."""
    PRS = 1 << 4
    """PRS supported and enabled for the TDI."""


class MmioAttributes(IntFlag):
    """RANGE_ATTRIBUTES of an MMIO range (PCIe 6.x Table 11-15); b[15:4] reserved."""

    MSIX_TABLE = 1 << 0
    MSIX_PBA = 1 << 1
    IS_NON_TEE_MEM = 1 << 2
    IS_MEM_ATTR_UPDATABLE = 1 << 3


class RegistryId(IntEnum):
    """REGISTRY_ID of VDM messages and vendor-specific error data (PCIe 6.x Table 11-28)."""

    PCI_SIG = 0x00
    CXL = 0x01


def known_bits(flag_type: type[IntFlag], value: int) -> int:
    """``value`` with the bits ``flag_type`` does not define cleared (reserved bits are ignored on read)."""
    mask = 0
    for member in flag_type:
        mask |= int(member)
    return value & mask
