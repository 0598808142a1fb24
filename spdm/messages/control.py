"""ERROR, RESPOND_IF_READY and VENDOR_DEFINED_REQUEST/RESPONSE.

Layouts per DSP0274 1.3 §10.14-10.15 and Tables 57-62 (PROTOCOLS.md §2.3,
§3.12).  VENDOR_DEFINED is the carrier IDE_KM and TDISP ride in; their own
codecs live in ``ide_km`` and ``tdisp``.

SPDM 1.4 adds a large form of VENDOR_DEFINED (Param1 b7: LargeReq in the
request, LargeResp in the response): after the VendorID come a reserved
16-bit field and a 32-bit length, so a payload may exceed 64 KiB (the
message then travels in chunks).  The layout is libspdm's
``pci_doe_spdm_vendor_defined_header_large_t``: the reserved field is the old
16-bit length, sent as 0 and ignored on decode (PROTOCOLS.md notes junk there
in a 1.4 trace).  Before 1.4 Param1 is reserved, so b7 is ignored and the
small form read, as for GET_CERTIFICATE's LargeCertChain.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from ..codec import Message, declares_structs
from ..errors import LocalProtocolError, SpdmErrorCode
from ..record import record
from .codes import RegistryId, RequestCode, ResponseCode

__all__ = [
    "LARGE_VENDOR_DEFINED",
    "MAX_EXTENDED_ERROR_DATA",
    "MAX_SMALL_VENDOR_PAYLOAD",
    "PCI_SIG_STANDARD_ID",
    "PCI_SIG_VENDOR_ID",
    "ErrorResponse",
    "RespondIfReady",
    "ResponseNotReadyData",
    "VendorDefinedRequest",
    "VendorDefinedResponse",
]

MAX_EXTENDED_ERROR_DATA = 32


@record(frozen=True, slots=True)
class ResponseNotReadyData:
    """ExtendedErrorData of ResponseNotReady (DSP0274 1.3 Table 59).

    Attributes:
        rdt_exponent: the responder needs about 2**rdt_exponent microseconds.
        request_code: the request being worked on.
        token: echo it in RESPOND_IF_READY.
        rdtm: multiplier for the longest the requester should wait.
    """

    rdt_exponent: int
    request_code: int
    token: int
    rdtm: int

    @property
    def wait_us(self) -> int:
        """How long to wait before RESPOND_IF_READY."""
        return 1 << min(self.rdt_exponent, 63)

    @property
    def max_wait_us(self) -> int:
        """The longest the response may take: 2**RDTExponent * RDTM microseconds."""
        return self.wait_us * max(self.rdtm, 1)


@record(frozen=True)
class ErrorResponse(Message):
    """ERROR: ``error_code`` (Param1), ``error_data`` (Param2) and extended data."""

    CODE: ClassVar[int] = ResponseCode.ERROR

    error_code: int = SpdmErrorCode.UNSPECIFIED
    error_data: int = 0
    extended_data: bytes = b""

    @property
    def not_ready(self) -> ResponseNotReadyData | None:
        """The ResponseNotReady details, or None for any other error (or short data)."""
        if self.error_code != SpdmErrorCode.RESPONSE_NOT_READY or len(self.extended_data) < 4:
            return None
        e = self.extended_data
        return ResponseNotReadyData(e[0], e[1], e[2], e[3])

    @property
    def large_response_handle(self) -> int | None:
        """The Handle of a LargeResponse (its ExtendedErrorData byte 0) for CHUNK_GET, else None."""
        if self.error_code != SpdmErrorCode.LARGE_RESPONSE or not self.extended_data:
            return None
        return self.extended_data[0]

    @property
    def name(self) -> str:
        """The error code's name, or its hex value when unknown."""
        try:
            return SpdmErrorCode(self.error_code).name
        except ValueError:
            return f"0x{self.error_code:02x}"


@record(frozen=True)
class RespondIfReady(Message):
    """RESPOND_IF_READY: Param1 the original request code, Param2 the token."""

    CODE: ClassVar[int] = RequestCode.RESPOND_IF_READY
    HEADER_ONLY = ("request_code", "token")

    request_code: int = 0
    token: int = 0


LARGE_VENDOR_DEFINED = 0x80
"""VENDOR_DEFINED_REQUEST Param1 b7 LargeReq / VENDOR_DEFINED_RESPONSE Param1 b7 LargeResp (1.4)."""

MAX_SMALL_VENDOR_PAYLOAD = 0xFFFF
"""The largest payload the 16-bit ReqLength/RespLength of the small form carries."""


@record(frozen=True)
class _VendorDefined(Message):
    """The shared fields of VENDOR_DEFINED_REQUEST/RESPONSE and their Param1 b7.

    ``large`` selects the 1.4 large form; encoding it before 1.4, or a
    payload over 64 KiB in the small form, is a LocalProtocolError.
    """

    standard_id: int = 0
    vendor_id: bytes = b""
    payload: bytes = b""
    large: bool = False

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        param1 = fields.pop("param1")
        fields["large"] = fields["spdm_version"] >= 0x14 and bool(param1 & LARGE_VENDOR_DEFINED)
        fields["payload"] = fields.pop("body")["payload"]
        return fields

    def _to_fields(self) -> dict[str, Any]:
        fields = super()._to_fields()
        large = fields.pop("large")
        if large and self.spdm_version < 0x14:
            raise LocalProtocolError(f"{type(self).__name__}: the large form needs SPDM 1.4")
        if not large and len(self.payload) > MAX_SMALL_VENDOR_PAYLOAD:
            raise LocalProtocolError(f"{type(self).__name__}: a {len(self.payload)}-byte payload needs "
                                     f"the 1.4 large form")
        fields["param1"] = LARGE_VENDOR_DEFINED if large else 0
        fields["body"] = {"payload": fields.pop("payload")}
        return fields


PCI_SIG_STANDARD_ID: Final = int(RegistryId.PCISIG)
"""VENDOR_DEFINED StandardID of PCI-SIG, under which IDE_KM and TDISP ride (PROTOCOLS.md §3.12)."""

PCI_SIG_VENDOR_ID: Final = b"\x01\x00"
"""PCI-SIG's VendorID (0x0001) as a VENDOR_DEFINED message carries it (little-endian, 2 bytes)."""


@record(frozen=True)
class VendorDefinedRequest(_VendorDefined):
    """VENDOR_DEFINED_REQUEST: a standards body's (``standard_id``) vendor payload (``large``: LargeReq)."""

    CODE: ClassVar[int] = RequestCode.VENDOR_DEFINED_REQUEST


@record(frozen=True)
class VendorDefinedResponse(_VendorDefined):
    """VENDOR_DEFINED_RESPONSE: the answer to a VENDOR_DEFINED_REQUEST (``large``: LargeResp)."""

    CODE: ClassVar[int] = ResponseCode.VENDOR_DEFINED_RESPONSE


@declares_structs(__name__)
def _declare_structs() -> None:
    """These messages' construct declarations (their wire format, which any ``struct`` fast path
    above follows), made when a ``STRUCT`` is first asked for (:func:`spdm.codec.declares_structs`)."""
    from construct import (
        Bytes,
        Check,
        GreedyBytes,
        IfThenElse,
        Int8ul,
        Int16ul,
        Int32ul,
        Padding,
        Rebuild,
        Struct,
        len_,
        this,
    )

    from ..schema import header

    # Param1 b7 means the large form only from 1.4 on (reserved, so ignored, before).
    large_vdm = (this.spdm_version >= 0x14) & ((this.param1 & LARGE_VENDOR_DEFINED) != 0)

    def vendor_defined(code: int) -> Struct:
        # DSP0274 1.3 Tables 61/62: StandardID, VendorID (Len-prefixed), Req/RespLength, payload;
        # 1.4 large form: Reserved(2), LargeReqLength/LargeRespLength(4), payload.
        return Struct(
            *header(code, "param1"),
            "standard_id" / Int16ul,
            "_vendor_id_len" / Rebuild(Int8ul, len_(this.vendor_id)),
            "vendor_id" / Bytes(this._vendor_id_len),
            "body" / IfThenElse(
                large_vdm,
                Struct(
                    Padding(2),
                    "_payload_length" / Rebuild(Int32ul, len_(this.payload)),
                    "payload" / Bytes(this._payload_length),
                ),
                Struct(
                    "_payload_length" / Rebuild(Int16ul, len_(this.payload)),
                    "payload" / Bytes(this._payload_length),
                ),
            ),
        )

    ErrorResponse.STRUCT = Struct(
        *header(ResponseCode.ERROR, "error_code", "error_data"),
        "extended_data" / GreedyBytes,
        Check(len_(this.extended_data) <= MAX_EXTENDED_ERROR_DATA),
    )
    VendorDefinedRequest.STRUCT = vendor_defined(RequestCode.VENDOR_DEFINED_REQUEST)
    VendorDefinedResponse.STRUCT = vendor_defined(ResponseCode.VENDOR_DEFINED_RESPONSE)
