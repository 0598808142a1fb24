"""The TDISP responses a DSM sends (PCIe 6.x §11.3.5-§11.3.26; PROTOCOLS.md §9.3).

One frozen dataclass per response over one module-level Struct named after
the spec message.  Reserved fields are built as zero and ignored on read.
"""

from __future__ import annotations

from typing import Any, ClassVar

from construct import (
    Array,
    Bytes,
    BytesInteger,
    Check,
    Construct,
    GreedyBytes,
    Int8ul,
    Int16ul,
    Int32ul,
    Padding,
    Rebuild,
    Struct,
    len_,
    this,
)

from spdm.codec import WireMessage
from spdm.errors import DecodeError
from spdm.record import record

from ..errors import TdispErrorCode, error_name
from ._base import TdispMessage, header, vendor_fields
from .codes import (
    NONCE_SIZE,
    LockInterfaceFlags,
    TdispRequestCode,
    TdispResponseCode,
    TdiState,
    known_bits,
)

__all__ = [
    "REQ_MSGS_BASE",
    "BindP2pStreamResponse",
    "DeviceInterfaceReport",
    "DeviceInterfaceState",
    "LockInterfaceResponse",
    "SetMmioAttributeResponse",
    "StartInterfaceResponse",
    "StopInterfaceResponse",
    "TdispBindP2pStreamRsp",
    "TdispCapabilities",
    "TdispCapabilitiesRsp",
    "TdispDeviceInterfaceReportRsp",
    "TdispDeviceInterfaceStateRsp",
    "TdispErrorMessage",
    "TdispErrorRsp",
    "TdispLockInterfaceRsp",
    "TdispSetMmioAttributeRsp",
    "TdispStartInterfaceRsp",
    "TdispStopInterfaceRsp",
    "TdispUnbindP2pStreamRsp",
    "TdispVdmRsp",
    "TdispVendorErrorData",
    "TdispVersion",
    "TdispVersionRsp",
    "UnbindP2pStreamResponse",
    "VdmResponse",
    "VendorErrorData",
]

REQ_MSGS_BASE = 0x80
"""REQ_MSGS_SUPPORTED bit i stands for request code 0x80 + i (PCIe 6.x Table 11-9; PROTOCOLS.md §11 #2)."""

# PCIe 6.x Table 11-7.
TdispVersionRsp = Struct(
    *header(TdispResponseCode.TDISP_VERSION),
    "_version_num_count" / Rebuild(Int8ul, len_(this.version_num_entries)),
    Check(this._version_num_count >= 1),
    "version_num_entries" / Array(this._version_num_count, Int8ul),
)

# PCIe 6.x Table 11-9.
TdispCapabilitiesRsp = Struct(
    *header(TdispResponseCode.TDISP_CAPABILITIES),
    "dsm_caps" / Int32ul,
    "req_msgs_supported" / BytesInteger(16, swapped=True),
    "lock_interface_flags_supported" / Int16ul,
    Padding(3),
    "dev_addr_width" / Int8ul,
    "num_req_this" / Int8ul,
    "num_req_all" / Int8ul,
)

# PCIe 6.x Table 11-11.
TdispLockInterfaceRsp = Struct(
    *header(TdispResponseCode.LOCK_INTERFACE_RESPONSE),
    "start_interface_nonce" / Bytes(NONCE_SIZE),
)

# PCIe 6.x Table 11-14.
TdispDeviceInterfaceReportRsp = Struct(
    *header(TdispResponseCode.DEVICE_INTERFACE_REPORT),
    "_portion_length" / Rebuild(Int16ul, len_(this.report_bytes)),
    "remainder_length" / Int16ul,
    "report_bytes" / Bytes(this._portion_length),
)

# PCIe 6.x Table 11-17.
TdispDeviceInterfaceStateRsp = Struct(
    *header(TdispResponseCode.DEVICE_INTERFACE_STATE),
    "tdi_state" / Int8ul,
)

# PCIe 6.x §11.3.15, §11.3.17, §11.3.19, §11.3.21, §11.3.23: no payload.
TdispStartInterfaceRsp = Struct(*header(TdispResponseCode.START_INTERFACE_RESPONSE))
TdispStopInterfaceRsp = Struct(*header(TdispResponseCode.STOP_INTERFACE_RESPONSE))
TdispBindP2pStreamRsp = Struct(*header(TdispResponseCode.BIND_P2P_STREAM_RESPONSE))
TdispUnbindP2pStreamRsp = Struct(*header(TdispResponseCode.UNBIND_P2P_STREAM_RESPONSE))
TdispSetMmioAttributeRsp = Struct(*header(TdispResponseCode.SET_MMIO_ATTRIBUTE_RESPONSE))

# PCIe 6.x Table 11-30.
TdispVdmRsp = Struct(
    *header(TdispResponseCode.VDM_RESPONSE),
    *vendor_fields("vendor_data"),
)

# PCIe 6.x Table 11-26.
TdispErrorRsp = Struct(
    *header(TdispResponseCode.TDISP_ERROR),
    "error_code" / Int32ul,
    "error_data" / Int32ul,
    "extended_error_data" / GreedyBytes,
)

_DEFINED_ERRORS = frozenset(int(c) for c in TdispErrorCode)

# PCIe 6.x Table 11-28: EXTENDED_ERROR_DATA of VENDOR_SPECIFIC_ERROR.
TdispVendorErrorData = Struct(*vendor_fields("vendor_err_data"))


@record(frozen=True)
class TdispVersion(TdispMessage):
    """TDISP_VERSION (PCIe 6.x Table 11-7).

    Attributes:
        version_num_entries: every version the device supports (major << 4 | minor); at least one.
    """

    CODE: ClassVar[int] = TdispResponseCode.TDISP_VERSION
    STRUCT = TdispVersionRsp

    version_num_entries: tuple[int, ...] = ()


@record(frozen=True)
class TdispCapabilities(TdispMessage):
    """TDISP_CAPABILITIES (PCIe 6.x Table 11-9).

    Attributes:
        dsm_caps: DSM capability flags; all reserved in TDISP 1.0.
        req_msgs_supported: the request codes the device supports (bit
            code - 0x80 of REQ_MSGS_SUPPORTED; bits of no defined request are dropped on read).
        lock_interface_flags_supported: the LOCK_INTERFACE_REQUEST flags the device honours.
        dev_addr_width: how many address bits the device supports (52: bits 51:0).
        num_req_this: outstanding requests the DSM accepts for this TDI.
        num_req_all: outstanding requests the DSM accepts for all its TDIs.
    """

    CODE: ClassVar[int] = TdispResponseCode.TDISP_CAPABILITIES
    STRUCT = TdispCapabilitiesRsp

    dsm_caps: int = 0
    req_msgs_supported: frozenset[TdispRequestCode] = frozenset()
    lock_interface_flags_supported: LockInterfaceFlags = LockInterfaceFlags(0)
    dev_addr_width: int = 0
    num_req_this: int = 0
    num_req_all: int = 0

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        bitmap: int = fields["req_msgs_supported"]
        codes = frozenset(c for c in TdispRequestCode if bitmap >> (c - REQ_MSGS_BASE) & 1)
        flags = LockInterfaceFlags(known_bits(LockInterfaceFlags, fields["lock_interface_flags_supported"]))
        return {**fields, "req_msgs_supported": codes, "lock_interface_flags_supported": flags}

    def _to_fields(self) -> dict[str, Any]:
        bitmap = 0
        for code in self.req_msgs_supported:
            bitmap |= 1 << (code - REQ_MSGS_BASE)
        return {**super()._to_fields(), "req_msgs_supported": bitmap}


@record(frozen=True)
class LockInterfaceResponse(TdispMessage):
    """LOCK_INTERFACE_RESPONSE (PCIe 6.x Table 11-11).

    Attributes:
        start_interface_nonce: the nonce START_INTERFACE_REQUEST must carry.
    """

    CODE: ClassVar[int] = TdispResponseCode.LOCK_INTERFACE_RESPONSE
    STRUCT = TdispLockInterfaceRsp

    start_interface_nonce: bytes = b"\x00" * NONCE_SIZE


@record(frozen=True)
class DeviceInterfaceReport(TdispMessage):
    """DEVICE_INTERFACE_REPORT (PCIe 6.x Table 11-14): one portion of the TDI report.

    Attributes:
        remainder_length: report bytes still to come after this portion (0: the last).
        report_bytes: this portion (PORTION_LENGTH is its length).
    """

    CODE: ClassVar[int] = TdispResponseCode.DEVICE_INTERFACE_REPORT
    STRUCT = TdispDeviceInterfaceReportRsp

    remainder_length: int = 0
    report_bytes: bytes = b""

    @property
    def portion_length(self) -> int:
        """PORTION_LENGTH."""
        return len(self.report_bytes)


@record(frozen=True)
class DeviceInterfaceState(TdispMessage):
    """DEVICE_INTERFACE_STATE (PCIe 6.x Table 11-17).

    Attributes:
        tdi_state: the TDI's state (a reserved value does not decode).
    """

    CODE: ClassVar[int] = TdispResponseCode.DEVICE_INTERFACE_STATE
    STRUCT = TdispDeviceInterfaceStateRsp

    tdi_state: TdiState = TdiState.CONFIG_UNLOCKED

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        return {**fields, "tdi_state": TdiState(fields["tdi_state"])}


@record(frozen=True)
class StartInterfaceResponse(TdispMessage):
    """START_INTERFACE_RESPONSE (PCIe 6.x §11.3.15): the TDI is in RUN."""

    CODE: ClassVar[int] = TdispResponseCode.START_INTERFACE_RESPONSE
    STRUCT = TdispStartInterfaceRsp


@record(frozen=True)
class StopInterfaceResponse(TdispMessage):
    """STOP_INTERFACE_RESPONSE (PCIe 6.x §11.3.17): the TDI is in CONFIG_UNLOCKED."""

    CODE: ClassVar[int] = TdispResponseCode.STOP_INTERFACE_RESPONSE
    STRUCT = TdispStopInterfaceRsp


@record(frozen=True)
class BindP2pStreamResponse(TdispMessage):
    """BIND_P2P_STREAM_RESPONSE (PCIe 6.x §11.3.19)."""

    CODE: ClassVar[int] = TdispResponseCode.BIND_P2P_STREAM_RESPONSE
    STRUCT = TdispBindP2pStreamRsp


@record(frozen=True)
class UnbindP2pStreamResponse(TdispMessage):
    """UNBIND_P2P_STREAM_RESPONSE (PCIe 6.x §11.3.21)."""

    CODE: ClassVar[int] = TdispResponseCode.UNBIND_P2P_STREAM_RESPONSE
    STRUCT = TdispUnbindP2pStreamRsp


@record(frozen=True)
class SetMmioAttributeResponse(TdispMessage):
    """SET_MMIO_ATTRIBUTE_RESPONSE (PCIe 6.x §11.3.23)."""

    CODE: ClassVar[int] = TdispResponseCode.SET_MMIO_ATTRIBUTE_RESPONSE
    STRUCT = TdispSetMmioAttributeRsp


@record(frozen=True)
class VdmResponse(TdispMessage):
    """VDM_RESPONSE (PCIe 6.x Table 11-30).

    Attributes:
        registry_id: who assigned ``vendor_id`` (:class:`~tdisp.messages.codes.RegistryId`).
        vendor_id: VENDOR_ID as that registry assigned it.
        vendor_data: the vendor's bytes.
    """

    CODE: ClassVar[int] = TdispResponseCode.VDM_RESPONSE
    STRUCT = TdispVdmRsp

    registry_id: int = 0
    vendor_id: bytes = b""
    vendor_data: bytes = b""


@record(frozen=True)
class VendorErrorData(WireMessage):
    """EXTENDED_ERROR_DATA of a VENDOR_SPECIFIC_ERROR (PCIe 6.x Table 11-28).

    ``decode`` raises :class:`~spdm.errors.DecodeError` when VENDOR_ID_LEN runs
    past the data.

    Attributes:
        registry_id: who assigned ``vendor_id`` (:class:`~tdisp.messages.codes.RegistryId`).
        vendor_id: VENDOR_ID as that registry assigned it.
        vendor_err_data: the vendor's error bytes.
    """

    STRUCT: ClassVar[Construct] = TdispVendorErrorData

    registry_id: int
    vendor_id: bytes
    vendor_err_data: bytes = b""


@record(frozen=True)
class TdispErrorMessage(TdispMessage):
    """TDISP_ERROR (PCIe 6.x Tables 11-26/11-27): a request was refused.

    Attributes:
        error_code: ERROR_CODE (a :class:`~tdisp.errors.TdispErrorCode` when defined).
        error_data: ERROR_DATA: the request code for UNSUPPORTED_REQUEST, the
            length of the extended data for VENDOR_SPECIFIC_ERROR, else 0.
        extended_error_data: EXTENDED_ERROR_DATA (for VENDOR_SPECIFIC_ERROR a
            :class:`VendorErrorData`, checked on read).
    """

    CODE: ClassVar[int] = TdispResponseCode.TDISP_ERROR
    STRUCT = TdispErrorRsp

    error_code: int = TdispErrorCode.UNSPECIFIED
    error_data: int = 0
    extended_error_data: bytes = b""

    @classmethod
    def vendor_specific(cls, interface_id: int, vendor: VendorErrorData) -> TdispErrorMessage:
        """A VENDOR_SPECIFIC_ERROR whose ERROR_DATA is the extended data's length."""
        extended = vendor.encode()
        return cls(interface_id, error_code=TdispErrorCode.VENDOR_SPECIFIC_ERROR,
                   error_data=len(extended), extended_error_data=extended)

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        code: int = fields["error_code"]
        if code in _DEFINED_ERRORS:
            code = TdispErrorCode(code)
        if code == TdispErrorCode.VENDOR_SPECIFIC_ERROR:
            extended: bytes = fields["extended_error_data"]
            if fields["error_data"] != len(extended):
                raise DecodeError(f"VENDOR_SPECIFIC_ERROR: ERROR_DATA {fields['error_data']} is not "
                                  f"the {len(extended)}-byte extended data's length")
            VendorErrorData.decode(extended)
        return {**fields, "error_code": code}

    @property
    def name(self) -> str:
        """The error code's name, or its hex value when the code is not defined."""
        return error_name(self.error_code)

    def vendor_error(self) -> VendorErrorData | None:
        """The vendor's error data of a VENDOR_SPECIFIC_ERROR, None for any other code.

        Raises:
            DecodeError: the extended data of a locally built message is malformed.
        """
        if self.error_code != TdispErrorCode.VENDOR_SPECIFIC_ERROR:
            return None
        return VendorErrorData.decode(self.extended_error_data)
