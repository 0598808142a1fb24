"""Authentication messages: GET_DIGESTS/DIGESTS, GET_CERTIFICATE/CERTIFICATE, CHALLENGE/CHALLENGE_AUTH.

Layouts per DSP0274 1.3 §10.6-10.8 (PROTOCOLS.md §3.4-3.6).  Digest and
signature sizes come from the :class:`CodecContext`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from construct import Array, Bytes, If, Int8ul, Int16ul, Rebuild, Struct, len_, this

from ..codec import Message, bit_count, header, low_nibble, opaque_data
from .codes import RequestCode, ResponseCode

__all__ = [
    "NONCE_SIZE",
    "REQUESTER_CONTEXT_SIZE",
    "SLOT_SIZE_REQUESTED",
    "Certificate",
    "Challenge",
    "ChallengeAuth",
    "Digests",
    "GetCertificate",
    "GetDigests",
]

NONCE_SIZE = 32
REQUESTER_CONTEXT_SIZE = 8
SLOT_SIZE_REQUESTED = 0x01
"""GET_CERTIFICATE Param2 b0 (1.3): answer only the slot's chain size (Portion 0, Remainder = size)."""


# --- GET_DIGESTS / DIGESTS (DSP0274 1.3 Tables 27-28) ---------------------------------------


@dataclass(frozen=True)
class GetDigests(Message):
    """GET_DIGESTS: header only."""

    CODE: ClassVar[int] = RequestCode.GET_DIGESTS
    STRUCT = Struct(*header(RequestCode.GET_DIGESTS))


@dataclass(frozen=True)
class Digests(Message):
    """DIGESTS: one digest per provisioned slot, ascending slot order.

    ``supported_slot_mask`` is Param1 (1.3; reserved before).  The 1.3
    multi-key tail (KeyPairID, CertificateInfo, KeyUsageMask per slot) is
    present when MULTI_KEY_CONN was negotiated; the tuples are empty otherwise.
    """

    CODE: ClassVar[int] = ResponseCode.DIGESTS
    STRUCT = Struct(
        *header(ResponseCode.DIGESTS, "supported_slot_mask", "provisioned_slot_mask"),
        "digests" / Array(bit_count(this.provisioned_slot_mask), Bytes(this._params.H)),
        "multi_key" / If(this._params.MULTI_KEY, Struct(
            "key_pair_ids" / Array(bit_count(this._.provisioned_slot_mask), Int8ul),
            "certificate_infos" / Array(bit_count(this._.provisioned_slot_mask), Int8ul),
            "key_usage_masks" / Array(bit_count(this._.provisioned_slot_mask), Int16ul),
        )),
    )

    supported_slot_mask: int = 0
    provisioned_slot_mask: int = 0
    digests: tuple[bytes, ...] = ()
    key_pair_ids: tuple[int, ...] = ()
    certificate_infos: tuple[int, ...] = ()
    key_usage_masks: tuple[int, ...] = ()

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        multi = fields.pop("multi_key")
        if multi is not None:
            fields.update(multi)
        return fields

    def _to_fields(self) -> dict[str, Any]:
        fields = super()._to_fields()
        multi = {
            k: list(fields.pop(k))
            for k in ("key_pair_ids", "certificate_infos", "key_usage_masks")
        }
        fields["multi_key"] = multi  # ignored by the codec unless MULTI_KEY_CONN
        return fields

    def by_slot(self) -> dict[int, bytes]:
        """Slot number -> digest of that slot's certificate chain."""
        slots = [s for s in range(8) if self.provisioned_slot_mask >> s & 1]
        return dict(zip(slots, self.digests, strict=True))


# --- GET_CERTIFICATE / CERTIFICATE (DSP0274 1.3 Tables 29-31) -------------------------------


@dataclass(frozen=True)
class GetCertificate(Message):
    """GET_CERTIFICATE: ask for ``length`` bytes of a slot's chain from ``offset``."""

    CODE: ClassVar[int] = RequestCode.GET_CERTIFICATE
    STRUCT = Struct(
        *header(RequestCode.GET_CERTIFICATE, "slot_id" / low_nibble, "attributes"),
        "offset" / Int16ul,
        "length" / Int16ul,
    )

    slot_id: int = 0
    attributes: int = 0
    offset: int = 0
    length: int = 0xFFFF


@dataclass(frozen=True)
class Certificate(Message):
    """CERTIFICATE: one portion of a slot's SPDM certificate chain."""

    CODE: ClassVar[int] = ResponseCode.CERTIFICATE
    STRUCT = Struct(
        *header(ResponseCode.CERTIFICATE, "slot_id" / low_nibble, "certificate_info"),
        "_portion_length" / Rebuild(Int16ul, len_(this.cert_chain)),
        "remainder_length" / Int16ul,
        "cert_chain" / Bytes(this._portion_length),
    )

    slot_id: int = 0
    certificate_info: int = 0
    remainder_length: int = 0
    cert_chain: bytes = b""


# --- CHALLENGE / CHALLENGE_AUTH (DSP0274 1.3 Tables 32-35) ----------------------------------


@dataclass(frozen=True)
class Challenge(Message):
    """CHALLENGE: slot (0xFF = provisioned key), summary-hash type, nonce, 1.3 context."""

    CODE: ClassVar[int] = RequestCode.CHALLENGE
    STRUCT = Struct(
        *header(RequestCode.CHALLENGE, "slot_id", "measurement_summary_hash_type"),
        "nonce" / Bytes(NONCE_SIZE),
        "requester_context" / If(this.spdm_version >= 0x13, Bytes(REQUESTER_CONTEXT_SIZE)),
    )

    slot_id: int = 0
    measurement_summary_hash_type: int = 0
    nonce: bytes = bytes(NONCE_SIZE)
    requester_context: bytes | None = None


@dataclass(frozen=True)
class ChallengeAuth(Message):
    """CHALLENGE_AUTH: the responder's signed answer.

    ``attributes`` is Param1: b[3:0] SlotID, b7 BasicMutAuthReq (1.1).  The
    summary hash is present when the context says so (requested and MEAS_CAP).
    """

    CODE: ClassVar[int] = ResponseCode.CHALLENGE_AUTH
    STRUCT = Struct(
        *header(ResponseCode.CHALLENGE_AUTH, "attributes", "slot_mask"),
        "cert_chain_hash" / Bytes(this._params.H),
        "nonce" / Bytes(NONCE_SIZE),
        "measurement_summary_hash" / Bytes(this._params.MSH),
        *opaque_data(),
        "requester_context" / If(this.spdm_version >= 0x13, Bytes(REQUESTER_CONTEXT_SIZE)),
        "signature" / Bytes(this._params.S),
    )

    attributes: int = 0
    slot_mask: int = 0
    cert_chain_hash: bytes = b""
    nonce: bytes = bytes(NONCE_SIZE)
    measurement_summary_hash: bytes = b""
    opaque_data: bytes = b""
    requester_context: bytes | None = None
    signature: bytes = b""

    @property
    def slot_id(self) -> int:
        """The slot whose key signed (Param1 b[3:0]; 0xF = provisioned key)."""
        return self.attributes & 0x0F

    @property
    def basic_mut_auth_req(self) -> bool:
        """Param1 b7: the responder asks for basic mutual authentication (1.1)."""
        return bool(self.attributes & 0x80)
