"""TDISP wire codec (PCIe 6.x Chapter 11 §11.3): one frozen dataclass per message, shared by both roles.

Numbers live in :mod:`.codes`; requests in :mod:`.requests`, responses in
:mod:`.responses`, the TDI report and MMIO ranges in :mod:`.report`; the
header and base class in :mod:`._base`.  Every message encodes to (and decodes
from) the whole PCI-SIG vendor-defined payload, Protocol ID 0x01 first.
"""

from __future__ import annotations

from spdm.errors import DecodeError

from ._base import HEADER_SIZE, TdispHeader, TdispMessage, peek_header
from .codes import (
    MANDATORY_REQUESTS,
    NONCE_SIZE,
    PROTOCOL_ID,
    TDISP_VERSION_1_0,
    InterfaceInfo,
    LockInterfaceFlags,
    MmioAttributes,
    RegistryId,
    TdispRequestCode,
    TdispResponseCode,
    TdiState,
)
from .report import InterfaceReport, MmioRange
from .requests import (
    BindP2pStreamRequest,
    GetDeviceInterfaceReport,
    GetDeviceInterfaceState,
    GetTdispCapabilities,
    GetTdispVersion,
    LockInterfaceRequest,
    SetMmioAttributeRequest,
    StartInterfaceRequest,
    StopInterfaceRequest,
    UnbindP2pStreamRequest,
    VdmRequest,
)
from .responses import (
    BindP2pStreamResponse,
    DeviceInterfaceReport,
    DeviceInterfaceState,
    LockInterfaceResponse,
    SetMmioAttributeResponse,
    StartInterfaceResponse,
    StopInterfaceResponse,
    TdispCapabilities,
    TdispErrorMessage,
    TdispVersion,
    UnbindP2pStreamResponse,
    VdmResponse,
    VendorErrorData,
)

REQUESTS: dict[int, type[TdispMessage]] = {
    cls.CODE: cls
    for cls in (
        GetTdispVersion, GetTdispCapabilities, LockInterfaceRequest, GetDeviceInterfaceReport,
        GetDeviceInterfaceState, StartInterfaceRequest, StopInterfaceRequest, BindP2pStreamRequest,
        UnbindP2pStreamRequest, SetMmioAttributeRequest, VdmRequest,
    )
}
"""Request code -> request class."""

RESPONSES: dict[int, type[TdispMessage]] = {
    cls.CODE: cls
    for cls in (
        TdispVersion, TdispCapabilities, LockInterfaceResponse, DeviceInterfaceReport,
        DeviceInterfaceState, StartInterfaceResponse, StopInterfaceResponse, BindP2pStreamResponse,
        UnbindP2pStreamResponse, SetMmioAttributeResponse, VdmResponse, TdispErrorMessage,
    )
}
"""Response code -> response class."""


def decode_request(payload: bytes) -> TdispMessage:
    """Decode a TDISP request payload (Protocol ID first) into its message class.

    Raises:
        DecodeError: not a TDISP payload, an unknown request code, or malformed.
    """
    head = peek_header(payload)
    cls = REQUESTS.get(head.message_type)
    if cls is None:
        raise DecodeError(f"0x{head.message_type:02x} is not a TDISP request code")
    return cls.decode(payload)


def decode_response(payload: bytes) -> TdispMessage:
    """Decode a TDISP response payload (Protocol ID first) into its message class.

    Raises:
        DecodeError: not a TDISP payload, an unknown response code, or malformed.
    """
    head = peek_header(payload)
    cls = RESPONSES.get(head.message_type)
    if cls is None:
        raise DecodeError(f"0x{head.message_type:02x} is not a TDISP response code")
    return cls.decode(payload)


__all__ = [
    "HEADER_SIZE",
    "MANDATORY_REQUESTS",
    "NONCE_SIZE",
    "PROTOCOL_ID",
    "REQUESTS",
    "RESPONSES",
    "TDISP_VERSION_1_0",
    "BindP2pStreamRequest",
    "BindP2pStreamResponse",
    "DeviceInterfaceReport",
    "DeviceInterfaceState",
    "GetDeviceInterfaceReport",
    "GetDeviceInterfaceState",
    "GetTdispCapabilities",
    "GetTdispVersion",
    "InterfaceInfo",
    "InterfaceReport",
    "LockInterfaceFlags",
    "LockInterfaceRequest",
    "LockInterfaceResponse",
    "MmioAttributes",
    "MmioRange",
    "RegistryId",
    "SetMmioAttributeRequest",
    "SetMmioAttributeResponse",
    "StartInterfaceRequest",
    "StartInterfaceResponse",
    "StopInterfaceRequest",
    "StopInterfaceResponse",
    "TdiState",
    "TdispCapabilities",
    "TdispErrorMessage",
    "TdispHeader",
    "TdispMessage",
    "TdispRequestCode",
    "TdispResponseCode",
    "TdispVersion",
    "UnbindP2pStreamRequest",
    "UnbindP2pStreamResponse",
    "VdmRequest",
    "VdmResponse",
    "VendorErrorData",
    "decode_request",
    "decode_response",
    "peek_header",
]
