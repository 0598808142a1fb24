"""GET_ENDPOINT_INFO / ENDPOINT_INFO (SPDM 1.3) and the device class identifier they carry.

Layouts per DSP0274 1.3 §10.27: the request names a subcode (Param1; 1 =
device class identifier, the only one defined) and, when it asks for a
signature (RequestAttributes b0), the slot (Param2 b[3:0]; 0xF = the
provisioned public key) and a 32-byte nonce.  The response has 4 reserved
bytes after its header; a signed one carries the responder's nonce before
EPInfoLength and the signature after EPInfo.

Whether a response is signed is not in its bytes: the decoder takes it from
the :class:`CodecContext` (``signed`` with ``signature_size``: the responder's
BaseAsymAlgo size, or the requester's ReqBaseAsymAlg size when the requester
answers an encapsulated GET_ENDPOINT_INFO).

The signature covers IL1 (PROTOCOLS.md §4.1, context ``responder-endpoint_info
signing``): ``A ‖ GET_ENDPOINT_INFO ‖ ENDPOINT_INFO without the signature``,
as libspdm computes it; the capture ``spdm13-p384-endpoint-mel-keypair``
verifies with this, in and out of a session (tests/spdm/test_endpoint_vectors.py).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..codec import Message, WireMessage, declares_structs
from ..record import record
from .auth import NONCE_SIZE
from .codes import EndpointInfoAttributes, EndpointInfoSubcode, RequestCode, ResponseCode

__all__ = [
    "ClassIdentifier",
    "DeviceClassIdentifier",
    "EndpointInfo",
    "GetEndpointInfo",
]


@record(frozen=True)
class GetEndpointInfo(Message):
    """GET_ENDPOINT_INFO: subcode, slot (meaningful when signed), attributes, nonce when signed."""

    CODE: ClassVar[int] = RequestCode.GET_ENDPOINT_INFO

    subcode: int = EndpointInfoSubcode.DEVICE_CLASS_IDENTIFIER
    slot_id: int = 0
    request_attributes: int = 0
    nonce: bytes | None = None

    @property
    def signature_requested(self) -> bool:
        """RequestAttributes b0."""
        return bool(self.request_attributes & EndpointInfoAttributes.SIGNATURE_REQUESTED)


@record(frozen=True)
class EndpointInfo(Message):
    """ENDPOINT_INFO: the endpoint information, signed when the request asked.

    ``nonce`` and ``signature`` are present exactly when the context says
    ``signed`` (the request's SIGNATURE_REQUESTED); ``ep_info`` is the raw
    EPInfo (decode a device class identifier with
    :meth:`DeviceClassIdentifier.decode`).
    """

    CODE: ClassVar[int] = ResponseCode.ENDPOINT_INFO

    slot_id: int = 0
    nonce: bytes | None = None
    ep_info: bytes = b""
    signature: bytes = b""

    @property
    def signed_part(self) -> bytes:
        """The received bytes the signature covers (all but the signature)."""
        return self.raw[:len(self.raw) - len(self.signature)]


# --- the device class identifier (DSP0274 1.3 Tables 98-99) -----------------------------------


@record(frozen=True, slots=True)
class ClassIdentifier:
    """One identifier element: a standards body (registry ID, vendor ID) and its subordinate IDs.

    Attributes:
        registry_id: the SVH ID (0 = DMTF, 3 = PCI-SIG, ... as for VENDOR_DEFINED).
        vendor_id: the SVH VendorID (empty for DMTF, which has no vendor registry).
        subordinate_ids: the identifier's SubordinateIDs, each opaque bytes.
    """

    registry_id: int
    vendor_id: bytes = b""
    subordinate_ids: tuple[bytes, ...] = ()

    def fields(self) -> dict[str, Any]:
        """The construct build values of this element."""
        return {"registry_id": self.registry_id, "vendor_id": self.vendor_id,
                "subordinate_ids": list(self.subordinate_ids)}


@record(frozen=True)
class DeviceClassIdentifier(WireMessage):
    """EPInfo of subcode 1: NumIdentifiers, 3 reserved bytes, then the identifier elements."""


    identifiers: tuple[ClassIdentifier, ...] = ()

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        return {"identifiers": tuple(
            ClassIdentifier(e["registry_id"], e["vendor_id"], tuple(e["subordinate_ids"]))
            for e in fields["identifiers"])}

    def _to_fields(self) -> dict[str, Any]:
        return {"identifiers": [e.fields() for e in self.identifiers]}


@declares_structs(__name__)
def _declare_structs() -> None:
    """These messages' construct declarations (their wire format, which any ``struct`` fast path
    above follows), made when a ``STRUCT`` is first asked for (:func:`spdm.codec.declares_structs`)."""
    from construct import (
        Array,
        Bytes,
        GreedyBytes,
        If,
        Int8ul,
        Int32ul,
        Padding,
        Prefixed,
        PrefixedArray,
        Rebuild,
        Struct,
        Terminated,
        len_,
        this,
    )

    from ..schema import header, low_nibble

    _ClassIdentifierWire = Prefixed(Int8ul, Struct(
        "registry_id" / Int8ul,
        "vendor_id" / Prefixed(Int8ul, GreedyBytes),
        "subordinate_ids" / PrefixedArray(Int8ul, Prefixed(Int8ul, GreedyBytes)),
        Terminated,
    ))

    GetEndpointInfo.STRUCT = Struct(
        *header(RequestCode.GET_ENDPOINT_INFO, "subcode", "slot_id" / low_nibble),
        "request_attributes" / Int8ul,
        Padding(3),
        "nonce" / If((this.request_attributes & 1) == 1, Bytes(NONCE_SIZE)),
    )
    EndpointInfo.STRUCT = Struct(
        *header(ResponseCode.ENDPOINT_INFO, None, "slot_id" / low_nibble),
        Padding(4),
        "nonce" / If(this._params.MEAS_S > 0, Bytes(NONCE_SIZE)),
        "_ep_info_length" / Rebuild(Int32ul, len_(this.ep_info)),
        "ep_info" / Bytes(this._ep_info_length),
        "signature" / Bytes(this._params.MEAS_S),
    )
    DeviceClassIdentifier.STRUCT = Struct(
        "_count" / Rebuild(Int8ul, len_(this.identifiers)),
        Padding(3),
        "identifiers" / Array(this._count, _ClassIdentifierWire),
    )
