"""TDISP error codes and the TDISP branch of devsec's one error hierarchy (STYLE R3).

A TDISP device refuses a request with a TDISP_ERROR *response* (PCIe 6.x
§11.3.24), not with an SPDM ERROR: the SPDM layer carried the request fine.
:class:`TdispErrorResponse` is that refusal as an exception: the device model
raises it internally and turns it into TDISP_ERROR bytes in one place, and a
requester's :class:`~tdisp.events.TdispErrorReceived` event turns back into
one for callers that prefer raising.
"""

from __future__ import annotations

from enum import IntEnum

from spdm.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["TdispErrorCode", "TdispErrorResponse", "TdispLocalError", "error_name"]


class TdispErrorCode(IntEnum):
    """TDISP_ERROR ERROR_CODE values (PCIe 6.x Table 11-27; PROTOCOLS.md §9.6)."""

    RESERVED = 0x0000
    INVALID_REQUEST = 0x0001
    BUSY = 0x0003
    INVALID_INTERFACE_STATE = 0x0004
    UNSPECIFIED = 0x0005
    UNSUPPORTED_REQUEST = 0x0007
    VERSION_MISMATCH = 0x0041
    VENDOR_SPECIFIC_ERROR = 0x00FF
    INVALID_INTERFACE = 0x0101
    INVALID_NONCE = 0x0102
    INSUFFICIENT_ENTROPY = 0x0103
    INVALID_DEVICE_CONFIGURATION = 0x0104


def error_name(code: int) -> str:
    """The name of a TDISP error code, or its hex value when the code is not defined."""
    try:
        return TdispErrorCode(code).name
    except ValueError:
        return f"0x{code:04x}"


class TdispLocalError(LocalProtocolError):
    """Our caller asked a TDISP engine for something illegal (wrong state, bad argument)."""


class TdispErrorResponse(RemoteProtocolError):
    """A TDISP request refused with TDISP_ERROR.

    Raised inside the device model (it becomes the TDISP_ERROR response, never
    escaping :meth:`~tdisp.device.TdispDevice.handle`) and built from a
    received TDISP_ERROR by :meth:`~tdisp.events.TdispErrorReceived.to_error`.

    Attributes:
        tdisp_code: the TDISP ERROR_CODE (a :class:`TdispErrorCode` when defined).
        tdisp_data: ERROR_DATA (the request code for UNSUPPORTED_REQUEST, the
            extended data length for VENDOR_SPECIFIC_ERROR, else 0).
        tdisp_extended: EXTENDED_ERROR_DATA.
    """

    def __init__(
        self, message: str, code: int, *, data: int = 0, extended: bytes = b""
    ) -> None:
        super().__init__(f"{error_name(code)}: {message}")
        self.tdisp_code = code
        self.tdisp_data = data
        self.tdisp_extended = extended
