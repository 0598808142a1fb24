"""GET_KEY_PAIR_INFO / KEY_PAIR_INFO and SET_KEY_PAIR_INFO / SET_KEY_PAIR_INFO_ACK (SPDM 1.3).

A 1.3 responder may hold several asymmetric key pairs (KeyPairID 1..
TotalKeyPairs); KEY_PAIR_INFO describes one (what it can do, what it is set
to, which certificate slots it is associated with, its public key's
SubjectPublicKeyInfo algorithm), and SET_KEY_PAIR_INFO changes, erases or
generates one.  Layouts per DSP0274 1.3 §10.30-10.31, as libspdm sends them
(``vectors/libspdm-doe/spdm13-p384-endpoint-mel-keypair``).

SPDM 1.4 appends the post-quantum algorithms (PqcAsymAlgo bits): KEY_PAIR_INFO
ends with ``PqcAsymAlgoCapLen(1) PqcAsymAlgoCapabilities CurrentPqcAsymAlgoLen(1)
CurrentPqcAsymAlgo`` after PublicKeyInfo, and a Change/Generate
SET_KEY_PAIR_INFO with ``DesiredPqcAsymAlgoLen(1) DesiredPqcAsymAlgo`` after
DesiredAssocCertSlotMask (libspdm 1e16c60f+ responder and requester; no reference
capture holds them yet).  Decided: each length must be 4, the size of every other
PqcAsymAlgo field and the only length the reference writes (it truncates longer
ones to 4 when reading; a device naming another length is refused as malformed).

Decided: an Erase request is the 5 bytes up to KeyPairID and nothing more
(the reference sends exactly that; the desired-value fields only mean
something to Change and Generate), so a SET_KEY_PAIR_INFO with operation
Erase carries no desired values and any that follow are trailing bytes.
"""

from __future__ import annotations

from typing import ClassVar

from ..codec import Message, declares_structs
from ..record import record
from .codes import KeyPairOperation, RequestCode, ResponseCode

__all__ = [
    "GetKeyPairInfo",
    "KeyPairInfo",
    "SetKeyPairInfo",
    "SetKeyPairInfoAck",
]


_PQC_ALGO_LEN = 4
"""The length byte before each 1.4 PqcAsymAlgo field of the key pair messages."""


@record(frozen=True)
class GetKeyPairInfo(Message):
    """GET_KEY_PAIR_INFO: which key pair (1-based)."""

    CODE: ClassVar[int] = RequestCode.GET_KEY_PAIR_INFO

    key_pair_id: int = 1


@record(frozen=True)
class KeyPairInfo(Message):
    """KEY_PAIR_INFO: one key pair's capabilities and current settings.

    ``public_key_info`` is the DER SubjectPublicKeyInfo AlgorithmIdentifier of
    the key (libspdm sends the algorithm's, e.g. rsaEncryption with NULL parameters).
    """

    CODE: ClassVar[int] = ResponseCode.KEY_PAIR_INFO

    total_key_pairs: int = 0
    key_pair_id: int = 0
    capabilities: int = 0
    key_usage_capabilities: int = 0
    current_key_usage: int = 0
    asym_algo_capabilities: int = 0
    current_asym_algo: int = 0
    assoc_cert_slot_mask: int = 0
    public_key_info: bytes = b""
    pqc_asym_algo_capabilities: int = 0
    current_pqc_asym_algo: int = 0

    @classmethod
    def _from_fields(cls, fields: dict[str, object]) -> dict[str, object]:
        pqc = fields.pop("pqc")
        if isinstance(pqc, dict):  # 1.4
            fields["pqc_asym_algo_capabilities"] = pqc["capabilities"]["value"]
            fields["current_pqc_asym_algo"] = pqc["current"]["value"]
        return fields

    def _to_fields(self) -> dict[str, object]:
        fields = {name: getattr(self, name) for name in (
            "spdm_version", "total_key_pairs", "key_pair_id", "capabilities", "key_usage_capabilities",
            "current_key_usage", "asym_algo_capabilities", "current_asym_algo", "assoc_cert_slot_mask",
            "public_key_info")}
        fields["pqc"] = {"capabilities": {"value": self.pqc_asym_algo_capabilities},
                         "current": {"value": self.current_pqc_asym_algo}}
        return fields


@record(frozen=True)
class SetKeyPairInfo(Message):
    """SET_KEY_PAIR_INFO: change, erase or generate one key pair.

    The desired values are None for Erase (absent on the wire) and required
    for Change and Generate.
    """

    CODE: ClassVar[int] = RequestCode.SET_KEY_PAIR_INFO

    operation: int = KeyPairOperation.CHANGE
    key_pair_id: int = 1
    desired_key_usage: int | None = None
    desired_asym_algo: int | None = None
    desired_assoc_cert_slot_mask: int | None = None
    desired_pqc_asym_algo: int | None = None

    @classmethod
    def _from_fields(cls, fields: dict[str, object]) -> dict[str, object]:
        desired = fields.pop("desired")
        if isinstance(desired, dict):
            fields["desired_key_usage"] = desired["key_usage"]
            fields["desired_asym_algo"] = desired["asym_algo"]
            fields["desired_assoc_cert_slot_mask"] = desired["assoc_cert_slot_mask"]
            pqc = desired["pqc"]
            fields["desired_pqc_asym_algo"] = pqc["asym_algo"]["value"] if isinstance(pqc, dict) else None
        return fields

    def _to_fields(self) -> dict[str, object]:
        return {
            "spdm_version": self.spdm_version, "operation": self.operation,
            "key_pair_id": self.key_pair_id,
            "desired": {"key_usage": self.desired_key_usage, "asym_algo": self.desired_asym_algo,
                        "assoc_cert_slot_mask": self.desired_assoc_cert_slot_mask,
                        "pqc": {"asym_algo": {"value": self.desired_pqc_asym_algo or 0}}},
        }


@record(frozen=True)
class SetKeyPairInfoAck(Message):
    """SET_KEY_PAIR_INFO_ACK: header only."""

    CODE: ClassVar[int] = ResponseCode.SET_KEY_PAIR_INFO_ACK
    HEADER_ONLY = (None, None)


@declares_structs(__name__)
def _declare_structs() -> None:
    """These messages' construct declarations (their wire format, which any ``struct`` fast path
    above follows), made when a ``STRUCT`` is first asked for (:func:`spdm.codec.declares_structs`)."""
    from construct import (
        Bytes,
        Const,
        If,
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

    def _pqc_algo(name: str) -> Struct:
        """``Len(1) = 4`` then the 32-bit PqcAsymAlgo bitmask, as one nested field."""
        return name / Struct("_length" / Const(_PQC_ALGO_LEN, Int8ul), "value" / Int32ul)

    GetKeyPairInfo.STRUCT = Struct(*header(RequestCode.GET_KEY_PAIR_INFO), "key_pair_id" / Int8ul)
    KeyPairInfo.STRUCT = Struct(
        *header(ResponseCode.KEY_PAIR_INFO),
        "total_key_pairs" / Int8ul,
        "key_pair_id" / Int8ul,
        "capabilities" / Int16ul,
        "key_usage_capabilities" / Int16ul,
        "current_key_usage" / Int16ul,
        "asym_algo_capabilities" / Int32ul,
        "current_asym_algo" / Int32ul,
        "_public_key_info_length" / Rebuild(Int16ul, len_(this.public_key_info)),
        "assoc_cert_slot_mask" / Int8ul,
        "public_key_info" / Bytes(this._public_key_info_length),
        "pqc" / If(this.spdm_version >= 0x14, Struct(
            _pqc_algo("capabilities"),
            _pqc_algo("current"),
        )),
    )
    SetKeyPairInfo.STRUCT = Struct(
        *header(RequestCode.SET_KEY_PAIR_INFO, "operation"),
        "key_pair_id" / Int8ul,
        "desired" / If(this.operation != int(KeyPairOperation.ERASE), Struct(
            Padding(1),
            "key_usage" / Int16ul,
            "asym_algo" / Int32ul,
            "assoc_cert_slot_mask" / Int8ul,
            "pqc" / If(this._.spdm_version >= 0x14, Struct(_pqc_algo("asym_algo"))),
        )),
    )
