"""Authentication messages: GET_DIGESTS/DIGESTS, GET_CERTIFICATE/CERTIFICATE, CHALLENGE/CHALLENGE_AUTH.

Layouts per DSP0274 1.3 §10.6-10.8 (PROTOCOLS.md §3.4-3.6).  Digest and
signature sizes come from the :class:`CodecContext`.
"""

from __future__ import annotations

import struct
from typing import Any, ClassVar

from ..codec import CodecContext, FastFields, Message, declares_structs
from ..errors import LocalProtocolError
from ..record import record
from .codes import RequestCode, ResponseCode
from .opaque_field import fast_opaque_data, fast_opaque_field

__all__ = [
    "LARGE_CERT_CHAIN",
    "MAX_SMALL_CERT_FIELD",
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


# The ``struct`` fast paths (R7): each answers only for bytes its construct declaration accepts,
# with the same fields, and returns None for anything else (Message._fast_fields;
# tests/spdm/test_messages_fast_decode.py checks them against construct).
_SMALL_CERT = struct.Struct("<4BHH")
"""GET_CERTIFICATE's Offset, Length / CERTIFICATE's PortionLength, RemainderLength (16-bit form)."""
_LARGE_CERT = struct.Struct("<4B4xII")
_SPDM_HEADER = struct.Struct("<4B")


def _fast_sized(value: object, size: int) -> bool:
    """``value`` is what ``Bytes(size)`` builds as itself (bytes of exactly ``size``)."""
    return type(value) is bytes and len(value) == size


def _fast_certificate_head(message: GetCertificate | Certificate, param2: int, first: int,
                           second: int) -> bytes | None:
    """The fixed part of a GET_CERTIFICATE or CERTIFICATE as the compiled build makes it, or None."""
    slot_id = message.slot_id
    if type(slot_id) is not int or not 0 <= slot_id <= 0x0F:
        return None
    param1 = slot_id | (LARGE_CERT_CHAIN if message.large_cert_chain else 0)
    large = message.spdm_version >= 0x14 and param1 & LARGE_CERT_CHAIN
    try:
        return (_LARGE_CERT if large else _SMALL_CERT).pack(
            message.spdm_version, message.CODE, param1, param2, first, second)
    except struct.error:
        return None
"""The same in the 1.4 LargeCertChain form (after 4 reserved bytes)."""


def _fast_certificate_body(data: bytes, code: int) -> tuple[int, int, int, int, int, int] | None:
    """(version, param1, param2, first, second, end of the fixed part) of a GET_CERTIFICATE or
    CERTIFICATE in either form, or None when short or not ``code``."""
    size = len(data)
    if size < _SMALL_CERT.size or data[1] != code:
        return None
    large = data[0] >= 0x14 and data[2] & LARGE_CERT_CHAIN
    layout = _LARGE_CERT if large else _SMALL_CERT
    if size < layout.size:
        return None
    version, _, param1, param2, first, second = layout.unpack_from(data)
    return version, param1, param2, first, second, layout.size


# --- GET_DIGESTS / DIGESTS (DSP0274 1.3 Tables 27-28) ---------------------------------------


@record(frozen=True)
class GetDigests(Message):
    """GET_DIGESTS: header only."""

    CODE: ClassVar[int] = RequestCode.GET_DIGESTS
    HEADER_ONLY = (None, None)


@record(frozen=True)
class Digests(Message):
    """DIGESTS: one digest per provisioned slot, ascending slot order.

    ``supported_slot_mask`` is Param1 (1.3; reserved before).  The 1.3
    multi-key tail (KeyPairID, CertificateInfo, KeyUsageMask per slot) is
    present when MULTI_KEY_CONN was negotiated; the tuples are empty otherwise.
    """

    CODE: ClassVar[int] = ResponseCode.DIGESTS

    supported_slot_mask: int = 0
    provisioned_slot_mask: int = 0
    digests: tuple[bytes, ...] = ()
    key_pair_ids: tuple[int, ...] = ()
    certificate_infos: tuple[int, ...] = ()
    key_usage_masks: tuple[int, ...] = ()

    @classmethod
    def _fast_fields(cls, data: bytes, ctx: CodecContext) -> FastFields:
        if ctx.multi_key or len(data) < 4 or data[1] != cls.CODE:
            return None
        hash_size = ctx.hash_size
        count = data[3].bit_count()
        end = 4 + count * hash_size
        if len(data) < end:
            return None
        digests = (tuple(data[i:i + hash_size] for i in range(4, end, hash_size)) if hash_size
                   else (b"",) * count)
        return {"spdm_version": data[0], "supported_slot_mask": data[2], "provisioned_slot_mask": data[3],
                "digests": digests, "multi_key": None}, end

    def _fast_encode(self, ctx: CodecContext) -> bytes | None:
        digests = self.digests
        if (ctx.multi_key or type(digests) is not tuple or type(self.provisioned_slot_mask) is not int
                or len(digests) != self.provisioned_slot_mask.bit_count()
                or not all(_fast_sized(d, ctx.hash_size) for d in digests)):
            return None
        try:
            head = _SPDM_HEADER.pack(self.spdm_version, self.CODE, self.supported_slot_mask,
                                     self.provisioned_slot_mask)
        except struct.error:
            return None
        return head + b"".join(digests)

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


LARGE_CERT_CHAIN = 0x80
"""GET_CERTIFICATE / CERTIFICATE Param1 b7 (1.4): 32-bit offsets and lengths."""

MAX_SMALL_CERT_FIELD = 0xFFFF
"""The largest Offset/Length/PortionLength/RemainderLength the 16-bit (pre-LargeCertChain) form carries."""


def _split_param1(fields: dict[str, Any]) -> dict[str, Any]:
    param1 = fields.pop("param1")
    fields["slot_id"] = param1 & 0x0F
    fields["large_cert_chain"] = fields["spdm_version"] >= 0x14 and bool(param1 & LARGE_CERT_CHAIN)
    fields.update(fields.pop("body"))
    return fields


def _join_param1(fields: dict[str, Any], body: tuple[str, ...]) -> dict[str, Any]:
    slot_id = fields.pop("slot_id")
    if not 0 <= slot_id <= 0x0F:
        raise LocalProtocolError(f"SlotID {slot_id} does not fit Param1 b[3:0]")
    fields["param1"] = slot_id | (LARGE_CERT_CHAIN if fields.pop("large_cert_chain") else 0)
    fields["body"] = {name: fields.pop(name) for name in body}
    return fields


@record(frozen=True)
class GetCertificate(Message):
    """GET_CERTIFICATE: ask for ``length`` bytes of a slot's chain from ``offset``.

    With ``large_cert_chain`` (1.4 LargeCertChain, Param1 b7) the request
    carries 32-bit LargeOffset/LargeLength after the 16-bit Offset/Length,
    which are then reserved: sent as 0, ignored on decode (the reference
    sends ``80 00 | 00 00 00 00 | 00 00 00 00 | f0 7f 02 00``, spdm14-p384).
    ``offset``/``length`` are the values in force in either form.
    """

    CODE: ClassVar[int] = RequestCode.GET_CERTIFICATE

    slot_id: int = 0
    attributes: int = 0
    offset: int = 0
    length: int = 0xFFFF
    large_cert_chain: bool = False

    @classmethod
    def _fast_fields(cls, data: bytes, ctx: CodecContext) -> FastFields:
        parsed = _fast_certificate_body(data, cls.CODE)
        if parsed is None:
            return None
        version, param1, attributes, offset, length, end = parsed
        return {"spdm_version": version, "param1": param1, "attributes": attributes,
                "body": {"offset": offset, "length": length}}, end

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        return _split_param1(fields)

    def _to_fields(self) -> dict[str, Any]:
        return _join_param1(super()._to_fields(), ("offset", "length"))

    def _fast_encode(self, ctx: CodecContext) -> bytes | None:
        return _fast_certificate_head(self, self.attributes, self.offset, self.length)


@record(frozen=True)
class Certificate(Message):
    """CERTIFICATE: one portion of a slot's SPDM certificate chain.

    With ``large_cert_chain`` (1.4, Param1 b7) the 16-bit PortionLength and
    RemainderLength are reserved (0) and 32-bit LargePortionLength and
    LargeRemainderLength follow them, before the portion.
    """

    CODE: ClassVar[int] = ResponseCode.CERTIFICATE

    slot_id: int = 0
    certificate_info: int = 0
    remainder_length: int = 0
    cert_chain: bytes = b""
    large_cert_chain: bool = False

    @classmethod
    def _fast_fields(cls, data: bytes, ctx: CodecContext) -> FastFields:
        parsed = _fast_certificate_body(data, cls.CODE)
        if parsed is None:
            return None
        version, param1, certificate_info, portion, remainder, start = parsed
        end = start + portion
        if len(data) < end:
            return None
        return {"spdm_version": version, "param1": param1, "certificate_info": certificate_info,
                "body": {"remainder_length": remainder, "cert_chain": data[start:end]}}, end

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        return _split_param1(fields)

    def _to_fields(self) -> dict[str, Any]:
        return _join_param1(super()._to_fields(), ("remainder_length", "cert_chain"))

    def _fast_encode(self, ctx: CodecContext) -> bytes | None:
        chain = self.cert_chain
        if type(chain) is not bytes:
            return None
        head = _fast_certificate_head(self, self.certificate_info, len(chain), self.remainder_length)
        return None if head is None else head + chain


# --- CHALLENGE / CHALLENGE_AUTH (DSP0274 1.3 Tables 32-35) ----------------------------------


@record(frozen=True)
class Challenge(Message):
    """CHALLENGE: slot (0xFF = provisioned key), summary-hash type, nonce, 1.3 context."""

    CODE: ClassVar[int] = RequestCode.CHALLENGE

    slot_id: int = 0
    measurement_summary_hash_type: int = 0
    nonce: bytes = bytes(NONCE_SIZE)
    requester_context: bytes | None = None

    @classmethod
    def _fast_fields(cls, data: bytes, ctx: CodecContext) -> FastFields:
        end = 4 + NONCE_SIZE
        if len(data) < end or data[1] != cls.CODE:
            return None
        version = data[0]
        context = None
        if version >= 0x13:
            context = data[end:end + REQUESTER_CONTEXT_SIZE]
            end += REQUESTER_CONTEXT_SIZE
            if len(data) < end:
                return None
        return {"spdm_version": version, "slot_id": data[2], "measurement_summary_hash_type": data[3],
                "nonce": data[4:4 + NONCE_SIZE], "requester_context": context}, end

    def _fast_encode(self, ctx: CodecContext) -> bytes | None:
        context = self.requester_context if self.spdm_version >= 0x13 else b""
        if not (_fast_sized(self.nonce, NONCE_SIZE)
                and _fast_sized(context, REQUESTER_CONTEXT_SIZE if self.spdm_version >= 0x13 else 0)):
            return None
        assert isinstance(context, bytes)
        try:
            head = _SPDM_HEADER.pack(self.spdm_version, self.CODE, self.slot_id,
                                     self.measurement_summary_hash_type)
        except struct.error:
            return None
        return head + self.nonce + context


@record(frozen=True)
class ChallengeAuth(Message):
    """CHALLENGE_AUTH: the responder's signed answer.

    ``attributes`` is Param1: b[3:0] SlotID, b7 BasicMutAuthReq (1.1).  The
    summary hash is present when the context says so (requested and MEAS_CAP).
    """

    CODE: ClassVar[int] = ResponseCode.CHALLENGE_AUTH

    attributes: int = 0
    slot_mask: int = 0
    cert_chain_hash: bytes = b""
    nonce: bytes = bytes(NONCE_SIZE)
    measurement_summary_hash: bytes = b""
    opaque_data: bytes = b""
    requester_context: bytes | None = None
    signature: bytes = b""

    @classmethod
    def _fast_fields(cls, data: bytes, ctx: CodecContext) -> FastFields:
        if len(data) < 4 or data[1] != cls.CODE:
            return None
        hash_size = ctx.hash_size
        nonce_at = 4 + hash_size
        summary_at = nonce_at + NONCE_SIZE
        opaque_at = summary_at + (hash_size if ctx.measurement_summary else 0)
        opaque = fast_opaque_data(data, opaque_at)
        if opaque is None:
            return None
        opaque_data, offset = opaque
        version = data[0]
        context = None
        if version >= 0x13:
            context = data[offset:offset + REQUESTER_CONTEXT_SIZE]
            offset += REQUESTER_CONTEXT_SIZE
        end = offset + ctx.signature_size
        if len(data) < end:
            return None
        return {"spdm_version": version, "attributes": data[2], "slot_mask": data[3],
                "cert_chain_hash": data[4:nonce_at], "nonce": data[nonce_at:summary_at],
                "measurement_summary_hash": data[summary_at:opaque_at], "opaque_data": opaque_data,
                "requester_context": context, "signature": data[offset:end]}, end

    def _fast_encode(self, ctx: CodecContext) -> bytes | None:
        context = self.requester_context if self.spdm_version >= 0x13 else b""
        opaque = fast_opaque_field(self.opaque_data)
        summary_size = ctx.hash_size if ctx.measurement_summary else 0
        if not (opaque is not None and _fast_sized(self.cert_chain_hash, ctx.hash_size)
                and _fast_sized(self.nonce, NONCE_SIZE)
                and _fast_sized(self.measurement_summary_hash, summary_size)
                and _fast_sized(context, REQUESTER_CONTEXT_SIZE if self.spdm_version >= 0x13 else 0)
                and _fast_sized(self.signature, ctx.signature_size)):
            return None
        assert isinstance(context, bytes)
        try:
            head = _SPDM_HEADER.pack(self.spdm_version, self.CODE, self.attributes, self.slot_mask)
        except struct.error:
            return None
        return b"".join((head, self.cert_chain_hash, self.nonce, self.measurement_summary_hash, opaque,
                         context, self.signature))

    @property
    def slot_id(self) -> int:
        """The slot whose key signed (Param1 b[3:0]; 0xF = provisioned key)."""
        return self.attributes & 0x0F

    @property
    def basic_mut_auth_req(self) -> bool:
        """Param1 b7: the responder asks for basic mutual authentication (1.1)."""
        return bool(self.attributes & 0x80)


@declares_structs(__name__)
def _declare_structs() -> None:
    """These messages' construct declarations (their wire format, which any ``struct`` fast path
    above follows), made when a ``STRUCT`` is first asked for (:func:`spdm.codec.declares_structs`)."""
    from construct import (
        Array,
        Bytes,
        If,
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

    from ..schema import bit_count, header, opaque_data

    # Param1 b7 means LargeCertChain only from 1.4 on (reserved, so ignored, before).
    large_form = (this.spdm_version >= 0x14) & ((this.param1 & LARGE_CERT_CHAIN) != 0)

    Digests.STRUCT = Struct(
        *header(ResponseCode.DIGESTS, "supported_slot_mask", "provisioned_slot_mask"),
        "digests" / Array(bit_count(this.provisioned_slot_mask), Bytes(this._params.H)),
        "multi_key" / If(this._params.MULTI_KEY, Struct(
            "key_pair_ids" / Array(bit_count(this._.provisioned_slot_mask), Int8ul),
            "certificate_infos" / Array(bit_count(this._.provisioned_slot_mask), Int8ul),
            "key_usage_masks" / Array(bit_count(this._.provisioned_slot_mask), Int16ul),
        )),
    )
    GetCertificate.STRUCT = Struct(
        *header(RequestCode.GET_CERTIFICATE, "param1", "attributes"),
        "body" / IfThenElse(
            large_form,
            Struct(Padding(4), "offset" / Int32ul, "length" / Int32ul),
            Struct("offset" / Int16ul, "length" / Int16ul),
        ),
    )
    Certificate.STRUCT = Struct(
        *header(ResponseCode.CERTIFICATE, "param1", "certificate_info"),
        "body" / IfThenElse(
            large_form,
            Struct(
                Padding(4),
                "_portion_length" / Rebuild(Int32ul, len_(this.cert_chain)),
                "remainder_length" / Int32ul,
                "cert_chain" / Bytes(this._portion_length),
            ),
            Struct(
                "_portion_length" / Rebuild(Int16ul, len_(this.cert_chain)),
                "remainder_length" / Int16ul,
                "cert_chain" / Bytes(this._portion_length),
            ),
        ),
    )
    Challenge.STRUCT = Struct(
        *header(RequestCode.CHALLENGE, "slot_id", "measurement_summary_hash_type"),
        "nonce" / Bytes(NONCE_SIZE),
        "requester_context" / If(this.spdm_version >= 0x13, Bytes(REQUESTER_CONTEXT_SIZE)),
    )
    ChallengeAuth.STRUCT = Struct(
        *header(ResponseCode.CHALLENGE_AUTH, "attributes", "slot_mask"),
        "cert_chain_hash" / Bytes(this._params.H),
        "nonce" / Bytes(NONCE_SIZE),
        "measurement_summary_hash" / Bytes(this._params.MSH),
        *opaque_data(),
        "requester_context" / If(this.spdm_version >= 0x13, Bytes(REQUESTER_CONTEXT_SIZE)),
        "signature" / Bytes(this._params.S),
    )
