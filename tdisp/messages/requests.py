"""The TDISP requests a TSM sends (PCIe 6.x §11.3.4-§11.3.25; PROTOCOLS.md §9.3).

One frozen dataclass per request over one module-level Struct named after the
spec message.  Every field is little-endian; reserved fields are built as zero
and ignored on read.
"""

from __future__ import annotations

from typing import Any, ClassVar

from construct import Bytes, Int8ul, Int16ul, Int32ul, Int64sl, Int64ul, Padding, Struct

from spdm.record import record

from ._base import TdispMessage, header, vendor_fields
from .codes import NONCE_SIZE, LockInterfaceFlags, TdispRequestCode, known_bits
from .report import MmioRange, TdiMmioRange

__all__ = [
    "BindP2pStreamRequest",
    "GetDeviceInterfaceReport",
    "GetDeviceInterfaceState",
    "GetTdispCapabilities",
    "GetTdispVersion",
    "LockInterfaceRequest",
    "SetMmioAttributeRequest",
    "StartInterfaceRequest",
    "StopInterfaceRequest",
    "TdispBindP2pStreamReq",
    "TdispGetCapabilities",
    "TdispGetDeviceInterfaceReport",
    "TdispGetDeviceInterfaceState",
    "TdispGetVersion",
    "TdispLockInterfaceReq",
    "TdispSetMmioAttributeReq",
    "TdispStartInterfaceReq",
    "TdispStopInterfaceReq",
    "TdispUnbindP2pStreamReq",
    "TdispVdmReq",
    "UnbindP2pStreamRequest",
    "VdmRequest",
]

# PCIe 6.x §11.3.4: no payload.
TdispGetVersion = Struct(*header(TdispRequestCode.GET_TDISP_VERSION))

# PCIe 6.x Table 11-8.
TdispGetCapabilities = Struct(
    *header(TdispRequestCode.GET_TDISP_CAPABILITIES),
    "tsm_caps" / Int32ul,
)

# PCIe 6.x Table 11-10 (PROTOCOLS.md §9.3).
TdispLockInterfaceReq = Struct(
    *header(TdispRequestCode.LOCK_INTERFACE_REQUEST),
    "flags" / Int16ul,
    "default_stream_id" / Int8ul,
    Padding(1),
    "mmio_reporting_offset" / Int64sl,
    "bind_p2p_address_mask" / Int64ul,
)

# PCIe 6.x Table 11-13.
TdispGetDeviceInterfaceReport = Struct(
    *header(TdispRequestCode.GET_DEVICE_INTERFACE_REPORT),
    "offset" / Int16ul,
    "length" / Int16ul,
)

# PCIe 6.x §11.3.12: no payload.
TdispGetDeviceInterfaceState = Struct(*header(TdispRequestCode.GET_DEVICE_INTERFACE_STATE))

# PCIe 6.x Table 11-18.
TdispStartInterfaceReq = Struct(
    *header(TdispRequestCode.START_INTERFACE_REQUEST),
    "start_interface_nonce" / Bytes(NONCE_SIZE),
)

# PCIe 6.x §11.3.16: no payload.
TdispStopInterfaceReq = Struct(*header(TdispRequestCode.STOP_INTERFACE_REQUEST))

# PCIe 6.x Table 11-20.
TdispBindP2pStreamReq = Struct(
    *header(TdispRequestCode.BIND_P2P_STREAM_REQUEST),
    "p2p_stream_id" / Int8ul,
)

# PCIe 6.x Table 11-22.
TdispUnbindP2pStreamReq = Struct(
    *header(TdispRequestCode.UNBIND_P2P_STREAM_REQUEST),
    "p2p_stream_id" / Int8ul,
)

# PCIe 6.x Table 11-24.
TdispSetMmioAttributeReq = Struct(
    *header(TdispRequestCode.SET_MMIO_ATTRIBUTE_REQUEST),
    "mmio_range" / TdiMmioRange,
)

# PCIe 6.x Table 11-29.
TdispVdmReq = Struct(
    *header(TdispRequestCode.VDM_REQUEST),
    *vendor_fields("vendor_data"),
)


@record(frozen=True)
class GetTdispVersion(TdispMessage):
    """GET_TDISP_VERSION (PCIe 6.x §11.3.4): always sent with TDISPVersion 1.0."""

    CODE: ClassVar[int] = TdispRequestCode.GET_TDISP_VERSION
    STRUCT = TdispGetVersion


@record(frozen=True)
class GetTdispCapabilities(TdispMessage):
    """GET_TDISP_CAPABILITIES (PCIe 6.x §11.3.6).

    Attributes:
        tsm_caps: TSM capability flags; all reserved in TDISP 1.0.
    """

    CODE: ClassVar[int] = TdispRequestCode.GET_TDISP_CAPABILITIES
    STRUCT = TdispGetCapabilities

    tsm_caps: int = 0


@record(frozen=True)
class LockInterfaceRequest(TdispMessage):
    """LOCK_INTERFACE_REQUEST (PCIe 6.x §11.3.8): move the TDI to CONFIG_LOCKED.

    Attributes:
        flags: NO_FW_UPDATE, SYSTEM_CACHE_LINE_SIZE, LOCK_MSIX, BIND_P2P,
            ALL_REQUEST_REDIRECT (reserved bits are dropped on read).
        default_stream_id: the IDE stream to bind to the TDI.
        mmio_reporting_offset: signed 64-bit offset the DSM adds to every MMIO
            address it reports.
        bind_p2p_address_mask: valid when ``flags`` has BIND_P2P.
    """

    CODE: ClassVar[int] = TdispRequestCode.LOCK_INTERFACE_REQUEST
    STRUCT = TdispLockInterfaceReq

    flags: LockInterfaceFlags = LockInterfaceFlags(0)
    default_stream_id: int = 0
    mmio_reporting_offset: int = 0
    bind_p2p_address_mask: int = 0

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        return {**fields, "flags": LockInterfaceFlags(known_bits(LockInterfaceFlags, fields["flags"]))}


@record(frozen=True)
class GetDeviceInterfaceReport(TdispMessage):
    """GET_DEVICE_INTERFACE_REPORT (PCIe 6.x §11.3.10): one portion of the TDI report.

    Attributes:
        offset: where the portion starts: 0 first, then the sum of the
            PORTION_LENGTHs received so far.
        length: how many bytes the requester can take (0xFFFF with offset 0:
            the whole report).
    """

    CODE: ClassVar[int] = TdispRequestCode.GET_DEVICE_INTERFACE_REPORT
    STRUCT = TdispGetDeviceInterfaceReport

    offset: int = 0
    length: int = 0


@record(frozen=True)
class GetDeviceInterfaceState(TdispMessage):
    """GET_DEVICE_INTERFACE_STATE (PCIe 6.x §11.3.12)."""

    CODE: ClassVar[int] = TdispRequestCode.GET_DEVICE_INTERFACE_STATE
    STRUCT = TdispGetDeviceInterfaceState


@record(frozen=True)
class StartInterfaceRequest(TdispMessage):
    """START_INTERFACE_REQUEST (PCIe 6.x §11.3.14): move the TDI to RUN.

    Attributes:
        start_interface_nonce: the nonce LOCK_INTERFACE_RESPONSE returned.
    """

    CODE: ClassVar[int] = TdispRequestCode.START_INTERFACE_REQUEST
    STRUCT = TdispStartInterfaceReq

    start_interface_nonce: bytes = b"\x00" * NONCE_SIZE


@record(frozen=True)
class StopInterfaceRequest(TdispMessage):
    """STOP_INTERFACE_REQUEST (PCIe 6.x §11.3.16): back to CONFIG_UNLOCKED from any state."""

    CODE: ClassVar[int] = TdispRequestCode.STOP_INTERFACE_REQUEST
    STRUCT = TdispStopInterfaceReq


@record(frozen=True)
class BindP2pStreamRequest(TdispMessage):
    """BIND_P2P_STREAM_REQUEST (PCIe 6.x §11.3.18).

    Attributes:
        p2p_stream_id: the peer-to-peer IDE stream to bind to the TDI.
    """

    CODE: ClassVar[int] = TdispRequestCode.BIND_P2P_STREAM_REQUEST
    STRUCT = TdispBindP2pStreamReq

    p2p_stream_id: int = 0


@record(frozen=True)
class UnbindP2pStreamRequest(TdispMessage):
    """UNBIND_P2P_STREAM_REQUEST (PCIe 6.x §11.3.20).

    Attributes:
        p2p_stream_id: a stream bound before with BIND_P2P_STREAM_REQUEST.
    """

    CODE: ClassVar[int] = TdispRequestCode.UNBIND_P2P_STREAM_REQUEST
    STRUCT = TdispUnbindP2pStreamReq

    p2p_stream_id: int = 0


@record(frozen=True)
class SetMmioAttributeRequest(TdispMessage):
    """SET_MMIO_ATTRIBUTE_REQUEST (PCIe 6.x §11.3.22).

    Attributes:
        mmio_range: a range of the report (offset added); only IS_NON_TEE_MEM
            may be set in its attributes.
    """

    CODE: ClassVar[int] = TdispRequestCode.SET_MMIO_ATTRIBUTE_REQUEST
    STRUCT = TdispSetMmioAttributeReq

    mmio_range: MmioRange = MmioRange(0, 0)

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        return {**fields, "mmio_range": MmioRange.from_fields(fields["mmio_range"])}

    def _to_fields(self) -> dict[str, Any]:
        return {**super()._to_fields(), "mmio_range": self.mmio_range.as_fields()}


@record(frozen=True)
class VdmRequest(TdispMessage):
    """VDM_REQUEST (PCIe 6.x Table 11-29): a vendor-defined TDISP request.

    Attributes:
        registry_id: who assigned ``vendor_id`` (:class:`~tdisp.messages.codes.RegistryId`).
        vendor_id: VENDOR_ID as that registry assigned it.
        vendor_data: the vendor's bytes.
    """

    CODE: ClassVar[int] = TdispRequestCode.VDM_REQUEST
    STRUCT = TdispVdmReq

    registry_id: int = 0
    vendor_id: bytes = b""
    vendor_data: bytes = b""
