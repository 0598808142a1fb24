"""Events the TDISP requester emits: what the DSM answered, per TDI (STYLE R5).

Frozen, slotted, past-tense.  Each carries the FUNCTION_ID of the TDI it is
about; the report event carries the reassembled report bytes as received.
"""

from __future__ import annotations

from dataclasses import field

from spdm.errors import RemoteErrorResponse
from spdm.events import Event
from spdm.record import record

from .errors import TdispErrorResponse, error_name
from .messages import (
    InterfaceReport,
    LockInterfaceFlags,
    MmioRange,
    TdispRequestCode,
    TdiState,
    VendorErrorData,
)

__all__ = [
    "InterfaceLocked",
    "InterfaceReportReceived",
    "InterfaceStarted",
    "InterfaceStateReceived",
    "InterfaceStopped",
    "MmioAttributeSet",
    "P2pStreamBound",
    "P2pStreamUnbound",
    "TdispCapabilitiesReceived",
    "TdispErrorReceived",
    "TdispEvent",
    "TdispRequestRefused",
    "TdispVersionNegotiated",
]


@record(frozen=True, slots=True)
class TdispEvent(Event):
    """Base of every TDISP requester event.

    Attributes:
        interface_id: FUNCTION_ID of the TDI.
    """

    interface_id: int


@record(frozen=True, slots=True)
class TdispVersionNegotiated(TdispEvent):
    """TDISP_VERSION arrived and a common version was chosen.

    Attributes:
        version: the version used from now on.
        device_versions: every version the device listed.
    """

    version: int
    device_versions: tuple[int, ...]


@record(frozen=True, slots=True)
class TdispCapabilitiesReceived(TdispEvent):
    """TDISP_CAPABILITIES arrived.

    Attributes:
        req_msgs_supported: the request codes the device supports.
        lock_interface_flags_supported: the LOCK flags the device honours.
        dev_addr_width: the device's address width in bits.
        num_req_this: outstanding requests allowed for this TDI (0: not stated).
        num_req_all: outstanding requests allowed for all TDIs (0: not stated).
    """

    req_msgs_supported: frozenset[TdispRequestCode]
    lock_interface_flags_supported: LockInterfaceFlags
    dev_addr_width: int
    num_req_this: int
    num_req_all: int


@record(frozen=True, slots=True)
class InterfaceLocked(TdispEvent):
    """LOCK_INTERFACE_RESPONSE arrived: the TDI is in CONFIG_LOCKED.

    Attributes:
        start_interface_nonce: the nonce START_INTERFACE_REQUEST must carry.
    """

    start_interface_nonce: bytes = field(repr=False)


@record(frozen=True, slots=True)
class InterfaceReportReceived(TdispEvent):
    """Every portion of the TDI report arrived and the report parsed.

    Attributes:
        report: the parsed report.
        raw: the reassembled REPORT_BYTES as received (evidence for the TVM).
    """

    report: InterfaceReport
    raw: bytes = field(repr=False)


@record(frozen=True, slots=True)
class InterfaceStateReceived(TdispEvent):
    """DEVICE_INTERFACE_STATE arrived.

    Attributes:
        state: the TDI's state.
    """

    state: TdiState


@record(frozen=True, slots=True)
class InterfaceStarted(TdispEvent):
    """START_INTERFACE_RESPONSE arrived: the TDI is in RUN."""


@record(frozen=True, slots=True)
class InterfaceStopped(TdispEvent):
    """STOP_INTERFACE_RESPONSE arrived: the TDI is in CONFIG_UNLOCKED."""


@record(frozen=True, slots=True)
class P2pStreamBound(TdispEvent):
    """BIND_P2P_STREAM_RESPONSE arrived.

    Attributes:
        p2p_stream_id: the stream now bound to the TDI.
    """

    p2p_stream_id: int


@record(frozen=True, slots=True)
class P2pStreamUnbound(TdispEvent):
    """UNBIND_P2P_STREAM_RESPONSE arrived.

    Attributes:
        p2p_stream_id: the stream no longer bound to the TDI.
    """

    p2p_stream_id: int


@record(frozen=True, slots=True)
class MmioAttributeSet(TdispEvent):
    """SET_MMIO_ATTRIBUTE_RESPONSE arrived.

    Attributes:
        mmio_range: the range (with its new attributes) as requested.
    """

    mmio_range: MmioRange


@record(frozen=True, slots=True)
class TdispErrorReceived(TdispEvent):
    """The device refused a request with TDISP_ERROR; the requester stays usable.

    Attributes:
        request_code: the refused request.
        error_code: ERROR_CODE (a :class:`~tdisp.errors.TdispErrorCode` when defined).
        error_data: ERROR_DATA.
        extended_error_data: EXTENDED_ERROR_DATA.
        vendor_error: the parsed extended data of a VENDOR_SPECIFIC_ERROR, else None.
    """

    request_code: TdispRequestCode
    error_code: int
    error_data: int
    extended_error_data: bytes
    vendor_error: VendorErrorData | None = None

    @property
    def name(self) -> str:
        """The error code's name, or its hex value when the code is not defined."""
        return error_name(self.error_code)

    def to_error(self) -> TdispErrorResponse:
        """This refusal as an exception, for callers that raise on failure."""
        return TdispErrorResponse(
            f"{self.request_code.name} for TDI 0x{self.interface_id:08x} refused",
            self.error_code, data=self.error_data, extended=self.extended_error_data,
        )


@record(frozen=True, slots=True)
class TdispRequestRefused(TdispEvent):
    """The device answered a TDISP request with an SPDM ERROR, which the carrier reported
    (:meth:`~tdisp.requester.TdispRequester.receive_error`): no TDISP handler took it, so
    there is no TDISP answer.  The requester stays usable.

    Unlike :class:`TdispErrorReceived` (a TDISP_ERROR response, TDISP's own codes), the
    codes here are the SPDM ERROR's (DSP0274 Table 58).

    Attributes:
        request_code: the refused request.
        error_code: the SPDM ERROR's ErrorCode (Param1).
        error_data: its ErrorData (Param2).
    """

    request_code: TdispRequestCode
    error_code: int
    error_data: int = 0

    def to_error(self) -> RemoteErrorResponse:
        """This refusal as the exception an SPDM ERROR raises on the SPDM driver's path."""
        return RemoteErrorResponse(
            f"{self.request_code.name} for TDI 0x{self.interface_id:08x} refused with SPDM ERROR "
            f"0x{self.error_code:02x} (data 0x{self.error_data:02x})",
            code=self.error_code, data=self.error_data,
        )
