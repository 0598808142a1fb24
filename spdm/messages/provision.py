"""Device provisioning: GET_CSR/CSR and SET_CERTIFICATE/SET_CERTIFICATE_RSP (1.2, 1.3 extensions).

Layouts per DSP0274 1.3 §10.22-10.23 (GET_CSR Table 94ff., SET_CERTIFICATE
Table 98ff.), checked byte for byte against the reference capture
``spdm13-p384-csr-setcert`` (libspdm 1e16c60f):

* GET_CSR: Param1 KeyPairID (1.3; reserved in 1.2), Param2 RequestAttributes
  (1.3: b[2:0] CertModel, b[5:3] CSRTrackingTag, b7 Overwrite),
  RequesterInfoLength (u16), OpaqueDataLength (u16), RequesterInfo (a DER
  CertificationRequestInfo, or empty), OpaqueData.
* CSR: Param1/Param2 reserved, CSRLength (u16), 2 reserved bytes, the DER
  PKCS#10 CSR.
* SET_CERTIFICATE: Param1 b[3:0] SlotID, b[6:4] CertModel (1.3), b7 Erase
  (1.3); Param2 KeyPairID (1.3); then the SPDM certificate chain (its own
  u16 Length counts its whole self), absent when Erase is set.
* SET_CERTIFICATE_RSP: Param1 b[3:0] SlotID.

Param bytes whose meaning is 1.3-only are kept whole (``attributes``) so a
decoded message re-encodes to exactly its bytes; the properties read the
bit fields.
"""

from __future__ import annotations

import struct
from typing import Any, ClassVar, Final

from ..codec import MAX_OPAQUE_SIZE, Message, declares_structs
from ..errors import LocalProtocolError
from ..record import record
from .codes import CERT_MODEL_NONE, RequestCode, ResponseCode

__all__ = [
    "MAX_CSR_TRACKING_TAG",
    "Csr",
    "GetCsr",
    "SetCertificate",
    "SetCertificateRsp",
    "csr_request_attributes",
    "set_certificate_attributes",
]

MAX_CSR_TRACKING_TAG: Final = 7
"""CSRTrackingTag is 3 bits; 0 asks for a new CSR, 1-7 name one a reset will complete."""

_CSR_MODEL_MASK, _CSR_TAG_SHIFT, _CSR_OVERWRITE = 0x07, 3, 0x80
_SET_SLOT_MASK, _SET_MODEL_SHIFT, _SET_ERASE = 0x0F, 4, 0x80


def csr_request_attributes(cert_model: int = CERT_MODEL_NONE, tracking_tag: int = 0,
                           *, overwrite: bool = False) -> int:
    """GET_CSR Param2 (1.3 RequestAttributes) from its fields.

    Raises:
        ValueError: a field outside its bit width.
    """
    if not 0 <= cert_model <= _CSR_MODEL_MASK or not 0 <= tracking_tag <= MAX_CSR_TRACKING_TAG:
        raise ValueError(f"CertModel {cert_model} / CSRTrackingTag {tracking_tag} out of range")
    return cert_model | tracking_tag << _CSR_TAG_SHIFT | (_CSR_OVERWRITE if overwrite else 0)


def set_certificate_attributes(slot_id: int, cert_model: int = CERT_MODEL_NONE,
                               *, erase: bool = False) -> int:
    """SET_CERTIFICATE Param1 from its fields (the model and Erase are 1.3).

    Raises:
        ValueError: a field outside its bit width.
    """
    if not 0 <= slot_id <= _SET_SLOT_MASK or not 0 <= cert_model <= 0x07:
        raise ValueError(f"SlotID {slot_id} / CertModel {cert_model} out of range")
    return slot_id | cert_model << _SET_MODEL_SHIFT | (_SET_ERASE if erase else 0)


@record(frozen=True)
class GetCsr(Message):
    """GET_CSR: ask the device for a PKCS#10 CSR of one of its key pairs."""

    CODE: ClassVar[int] = RequestCode.GET_CSR

    key_pair_id: int = 0
    attributes: int = 0
    requester_info: bytes = b""
    opaque_data: bytes = b""

    @property
    def cert_model(self) -> int:
        """RequestAttributes b[2:0] (1.3): the certificate model the CSR is for."""
        return self.attributes & _CSR_MODEL_MASK

    @property
    def csr_tracking_tag(self) -> int:
        """RequestAttributes b[5:3] (1.3): 0 for a new CSR, else the tag of a pending one."""
        return self.attributes >> _CSR_TAG_SHIFT & MAX_CSR_TRACKING_TAG

    @property
    def overwrite(self) -> bool:
        """RequestAttributes b7 (1.3): discard pending CSRs and start over."""
        return bool(self.attributes & _CSR_OVERWRITE)


@record(frozen=True)
class Csr(Message):
    """CSR: the device's DER-encoded PKCS#10 certificate signing request."""

    CODE: ClassVar[int] = ResponseCode.CSR

    csr: bytes = b""


_CHAIN_HEADER = struct.Struct("<H")


@record(frozen=True)
class SetCertificate(Message):
    """SET_CERTIFICATE: write (or, 1.3 Erase, clear) a certificate slot.

    ``cert_chain`` is the whole SPDM certificate chain, its Length field
    included (DSP0274 Table 33); None when Erase is set.
    """

    CODE: ClassVar[int] = RequestCode.SET_CERTIFICATE

    attributes: int = 0
    key_pair_id: int = 0
    cert_chain: bytes | None = None

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        chain = fields.pop("chain")
        if chain is not None:
            rest = chain["rest"]
            fields["cert_chain"] = _CHAIN_HEADER.pack(len(rest) + _CHAIN_HEADER.size) + rest
        return fields

    def _to_fields(self) -> dict[str, Any]:
        fields = super()._to_fields()
        chain = fields.pop("cert_chain")
        fields["chain"] = None if chain is None else {"rest": chain[_CHAIN_HEADER.size:]}
        return fields

    def _encode(self, params: dict[str, Any]) -> bytes:
        chain = self.cert_chain
        if (chain is None) != self.erase:
            raise LocalProtocolError("cannot encode SetCertificate: a chain goes with Erase clear, "
                                     "and only then")
        if chain is not None and (len(chain) < _CHAIN_HEADER.size
                                  or _CHAIN_HEADER.unpack_from(chain)[0] != len(chain)):
            raise LocalProtocolError("cannot encode SetCertificate: cert_chain must start with "
                                     "its own u16 Length")
        return super()._encode(params)

    @property
    def slot_id(self) -> int:
        """Param1 b[3:0]: the slot to write."""
        return self.attributes & _SET_SLOT_MASK

    @property
    def cert_model(self) -> int:
        """Param1 b[6:4] (1.3): the certificate model of the chain."""
        return self.attributes >> _SET_MODEL_SHIFT & 0x07

    @property
    def erase(self) -> bool:
        """Param1 b7 (1.3): clear the slot; no chain follows."""
        return bool(self.attributes & _SET_ERASE)


@record(frozen=True)
class SetCertificateRsp(Message):
    """SET_CERTIFICATE_RSP: the slot was written."""

    CODE: ClassVar[int] = ResponseCode.SET_CERTIFICATE_RSP

    slot_id: int = 0


@declares_structs(__name__)
def _declare_structs() -> None:
    """These messages' construct declarations (their wire format, which any ``struct`` fast path
    above follows), made when a ``STRUCT`` is first asked for (:func:`spdm.codec.declares_structs`)."""
    from construct import (
        Bytes,
        Check,
        If,
        Int16ul,
        Padding,
        Rebuild,
        Struct,
        len_,
        this,
    )

    from ..schema import header, low_nibble

    GetCsr.STRUCT = Struct(
        *header(RequestCode.GET_CSR, "key_pair_id", "attributes"),
        "_requester_info_length" / Rebuild(Int16ul, len_(this.requester_info)),
        "_opaque_length" / Rebuild(Int16ul, len_(this.opaque_data)),
        Check(this._opaque_length <= MAX_OPAQUE_SIZE),
        "requester_info" / Bytes(this._requester_info_length),
        "opaque_data" / Bytes(this._opaque_length),
    )
    Csr.STRUCT = Struct(
        *header(ResponseCode.CSR),
        "_csr_length" / Rebuild(Int16ul, len_(this.csr)),
        Padding(2),
        "csr" / Bytes(this._csr_length),
    )
    SetCertificate.STRUCT = Struct(
        *header(RequestCode.SET_CERTIFICATE, "attributes", "key_pair_id"),
        "chain" / If(this.attributes & _SET_ERASE == 0, Struct(
            "_length" / Rebuild(Int16ul, len_(this.rest) + _CHAIN_HEADER.size),
            "rest" / Bytes(this._length - _CHAIN_HEADER.size),
        )),
    )
    SetCertificateRsp.STRUCT = Struct(*header(ResponseCode.SET_CERTIFICATE_RSP, "slot_id" / low_nibble))
