"""VCA messages: GET_VERSION/VERSION, GET_CAPABILITIES/CAPABILITIES, NEGOTIATE_ALGORITHMS/ALGORITHMS.

Layouts per DSP0274 1.3 §10.3-10.5 and their 1.4 additions (PROTOCOLS.md §3.1-3.3).  Field presence
follows the header's SPDMVersion byte, so one class serves every version.
"""

from __future__ import annotations

import struct
from dataclasses import field
from typing import Any, ClassVar

from ..codec import CodecContext, FastFields, Message, declares_structs
from ..record import record
from .codes import RequestCode, ResponseCode

__all__ = [
    "SUPPORTED_ALGORITHMS_FIXED_SIZE",
    "AlgStruct",
    "Algorithms",
    "Capabilities",
    "GetCapabilities",
    "GetVersion",
    "NegotiateAlgorithms",
    "Version",
]

# The ``struct`` fast paths (R7) of the VCA responses and requests: each answers only for bytes
# its construct declaration accepts, with the same fields, and returns None for anything else
# (Message._fast_fields; tests/spdm/test_messages_fast_decode.py checks them against construct).
_U16 = struct.Struct("<H")
_CAPS_11 = struct.Struct("<4BxBHI")
"""GET_CAPABILITIES / CAPABILITIES 1.1: header, Reserved, CTExponent, ExtFlags (1.4) or Reserved, Flags."""
_SPDM_HEADER = struct.Struct("<4B")
_VERSION_HEAD = struct.Struct("<6B")
"""VERSION up to VersionNumberEntryCount."""
_SIZES = struct.Struct("<II")
"""CAPABILITIES 1.2: DataTransferSize, MaxSPDMmsgSize."""
_NEGOTIATE_FIXED = struct.Struct("<4BHBBIII8xBBxB")
"""NEGOTIATE_ALGORITHMS up to MELspecification (32 bytes; PqcAsymAlgo 1.4 or Reserved)."""
_ALGORITHMS_FIXED = struct.Struct("<4BHBBIIII7xBBB2x")
"""ALGORITHMS up to its second Reserved (36 bytes; PqcAsymSel 1.4 or Reserved)."""
_ALG_STRUCT = struct.Struct("<BBH")
"""AlgType, AlgCount, AlgSupported."""


def _fast_ext(data: bytes, offset: int, count: int) -> tuple[bytes, ...]:
    """``count`` 4-byte entries from ``offset`` (the caller checked they are there)."""
    return tuple(data[i:i + 4] for i in range(offset, offset + 4 * count, 4))


def _fast_alg_structs(data: bytes, offset: int, count: int) -> tuple[tuple[dict[str, Any], ...], int] | None:
    """``count`` AlgStructs from ``offset``, as construct returns them, and where they end; None
    when one is short or its FixedAlgCount is not 2."""
    structs = []
    size = len(data)
    for _ in range(count):
        if offset + 4 > size:
            return None
        alg_type, alg_count, supported = _ALG_STRUCT.unpack_from(data, offset)
        offset += 4
        external = alg_count & 0x0F
        if alg_count >> 4 != 2 or offset + 4 * external > size:
            return None
        structs.append({"alg_type": alg_type, "alg_supported": supported,
                        "external": _fast_ext(data, offset, external)})
        offset += 4 * external
    return tuple(structs), offset


def _fast_algorithms_rest(data: bytes, fields: dict[str, Any], ext_names: tuple[str, str], offset: int,
                          counts: tuple[int, int, int]) -> FastFields:
    """Read the ExtAsym/ExtHash entries and (1.1+) the AlgStructs after a fixed part into ``fields``.

    Shared by NEGOTIATE_ALGORITHMS and ALGORITHMS, whose tails are laid out
    alike; ``counts`` are (ExtAsymCount, ExtHashCount, the AlgStruct count).
    None (the interpreted parse decides) when the data is short or Length is
    not where the message ends.
    """
    ext_asym_count, ext_hash_count, num_structs = counts
    end = offset + 4 * (ext_asym_count + ext_hash_count)
    if len(data) < end:
        return None
    fields[ext_names[0]] = _fast_ext(data, offset, ext_asym_count)
    fields[ext_names[1]] = _fast_ext(data, offset + 4 * ext_asym_count, ext_hash_count)
    fields["alg_structs"] = None
    if fields["spdm_version"] >= 0x11:
        parsed = _fast_alg_structs(data, end, num_structs)
        if parsed is None:
            return None
        fields["alg_structs"], end = parsed
    return (fields, end) if fields["length"] == end else None


def _fast_ext_field(entries: object) -> bytes | None:
    """What ``Array(count, Bytes(4))`` builds from ``entries``, or None when they are not 4-byte bytes."""
    if type(entries) is not tuple or any(type(e) is not bytes or len(e) != 4 for e in entries):
        return None
    return b"".join(entries)


def _fast_alg_structs_field(structs: object) -> bytes | None:
    """What the AlgStruct array builds from ``structs``, or None (then the compiled build decides)."""
    if type(structs) is not tuple:
        return None
    parts = []
    for alg in structs:
        if type(alg) is not AlgStruct:
            return None
        external = _fast_ext_field(alg.external)
        if external is None or len(alg.external) > 0x0F:
            return None
        try:
            parts.append(_ALG_STRUCT.pack(alg.alg_type, 0x20 | len(alg.external), alg.alg_supported))
        except struct.error:
            return None
        parts.append(external)
    return b"".join(parts)


def _fast_algorithms_tail(message: _AlgorithmsBase, ext_asym: object, ext_hash: object,
                          fixed_size: int) -> tuple[int, bytes] | None:
    """(Length, the bytes after the fixed part) of NEGOTIATE_ALGORITHMS / ALGORITHMS as the
    compiled build makes them, or None (then the compiled build decides)."""
    asym = _fast_ext_field(ext_asym)
    hashes = _fast_ext_field(ext_hash)
    structs = _fast_alg_structs_field(message.alg_structs)
    if asym is None or hashes is None or structs is None:
        return None
    if message.spdm_version < 0x11 and structs:
        return None  # AlgStructs before 1.1: Length would not match the bytes (the build refuses)
    return fixed_size + len(asym) + len(hashes) + len(structs), b"".join((asym, hashes, structs))


def _fast_capabilities_encode(message: _CapabilitiesBase, body: bool) -> bytes | None:
    """GET_CAPABILITIES / CAPABILITIES (without SupportedAlgorithms) as the compiled build makes
    them, or None; ``body``: the message has one at this version."""
    version = message.spdm_version
    try:
        if not body:
            return _SPDM_HEADER.pack(version, message.CODE, message.param1, 0)
        fixed = _CAPS_11.pack(version, message.CODE, message.param1, 0, message.ct_exponent,
                              message.ext_flags if version >= 0x14 else 0, message.flags)
        if version < 0x12:
            return fixed
        return fixed + _SIZES.pack(message.data_transfer_size, message.max_spdm_msg_size)
    except struct.error:
        return None


def _fast_capabilities(data: bytes, code: int) -> FastFields:
    """GET_CAPABILITIES (1.1+) or CAPABILITIES without SupportedAlgorithms, as construct parses them."""
    size = len(data)
    if size < _CAPS_11.size or data[1] != code:
        return None
    version, _, param1, _, ct_exponent, ext_flags, flags = _CAPS_11.unpack_from(data)
    if version < 0x11 or (code == ResponseCode.CAPABILITIES and version >= 0x13 and param1 & 1):
        return None
    sizes = None
    end = _CAPS_11.size
    if version >= 0x12:
        end += _SIZES.size
        if size < end:
            return None
        transfer, largest = _SIZES.unpack_from(data, _CAPS_11.size)
        sizes = {"data_transfer_size": transfer, "max_spdm_msg_size": largest}
    body = {"ct_exponent": ct_exponent, "ext_flags": ext_flags if version >= 0x14 else None,
            "flags": flags, "sizes": sizes}
    fields = {"spdm_version": version, "param1": param1, "body": body}
    if code == ResponseCode.CAPABILITIES:
        fields["supported_algorithms"] = None
    return fields, end


# --- GET_VERSION / VERSION (DSP0274 1.3 Tables 8-10) ---------------------------------------


@record(frozen=True)
class GetVersion(Message):
    """GET_VERSION: always SPDMVersion 0x10; resets the connection."""

    CODE: ClassVar[int] = RequestCode.GET_VERSION
    HEADER_ONLY = (None, None)

    spdm_version: int = 0x10


@record(frozen=True)
class Version(Message):
    """VERSION: the responder's version entries (u16: major.minor.update.alpha nibbles)."""

    CODE: ClassVar[int] = ResponseCode.VERSION

    spdm_version: int = 0x10
    version_entries: tuple[int, ...] = ()

    @classmethod
    def _fast_fields(cls, data: bytes, ctx: CodecContext) -> FastFields:
        end = 6 + 2 * data[5] if len(data) >= 6 else 0
        if not end or len(data) < end or data[1] != cls.CODE:
            return None
        entries = tuple(entry for (entry,) in _U16.iter_unpack(data[6:end]))
        return {"spdm_version": data[0], "version_entries": entries}, end

    def _fast_encode(self, ctx: CodecContext) -> bytes | None:
        entries = self.version_entries
        if type(entries) is not tuple:
            return None
        try:
            return _VERSION_HEAD.pack(self.spdm_version, self.CODE, 0, 0, 0, len(entries)) + b"".join(
                _U16.pack(entry) for entry in entries)
        except struct.error:
            return None

    @property
    def versions(self) -> tuple[int, ...]:
        """The entries as SPDMVersion bytes (0x12 for 1.2.x.x); update/alpha dropped."""
        return tuple((e >> 8) & 0xFF for e in self.version_entries)


# --- GET_CAPABILITIES / CAPABILITIES (DSP0274 1.3 Tables 11-12) -----------------------------


@record(frozen=True)
class _CapabilitiesBase(Message):
    param1: int = 0
    ct_exponent: int = 0
    flags: int = 0
    data_transfer_size: int = 0
    max_spdm_msg_size: int = 0
    ext_flags: int = 0

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        body = fields.pop("body")
        if body is not None:
            fields["ct_exponent"] = body["ct_exponent"]
            fields["flags"] = body["flags"]
            fields["ext_flags"] = body["ext_flags"] or 0
            if body["sizes"] is not None:
                fields.update(body["sizes"])
        return fields

    def _to_fields(self) -> dict[str, Any]:
        fields = super()._to_fields()
        fields["body"] = {
            "ct_exponent": fields.pop("ct_exponent"),
            "ext_flags": fields.pop("ext_flags"),
            "flags": fields.pop("flags"),
            "sizes": {
                "data_transfer_size": fields.pop("data_transfer_size"),
                "max_spdm_msg_size": fields.pop("max_spdm_msg_size"),
            },
        }
        return fields


@record(frozen=True)
class GetCapabilities(_CapabilitiesBase):
    """GET_CAPABILITIES: 4 bytes in 1.0, 12 in 1.1, 20 from 1.2.

    ``param1`` b0 (1.3) asks the responder to append its SupportedAlgorithms.
    ``ext_flags`` is the 1.4 ExtFlags field at offset 6 (reserved before 1.4:
    ignored on decode, sent as 0); both reference peers send 0 (spdm14-p384).
    """

    CODE: ClassVar[int] = RequestCode.GET_CAPABILITIES

    @classmethod
    def _fast_fields(cls, data: bytes, ctx: CodecContext) -> FastFields:
        return _fast_capabilities(data, cls.CODE)

    def _fast_encode(self, ctx: CodecContext) -> bytes | None:
        return _fast_capabilities_encode(self, self.spdm_version >= 0x11)


SUPPORTED_ALGORITHMS_FIXED_SIZE = 30
"""The SupportedAlgorithms block without its AlgStructs (NEGOTIATE_ALGORITHMS from Param1 on)."""


@record(frozen=True)
class Capabilities(_CapabilitiesBase):
    """CAPABILITIES: 12 bytes in 1.0/1.1, 20 from 1.2.

    ``supported_algorithms`` is the raw 1.3 SupportedAlgorithms block, present
    only when Param1 b0 says so; devsec never asks for it, so it is kept opaque.
    Its own Length field (offset 2) sizes it and must equal its length.
    """

    CODE: ClassVar[int] = ResponseCode.CAPABILITIES

    supported_algorithms: bytes | None = None

    @classmethod
    def _fast_fields(cls, data: bytes, ctx: CodecContext) -> FastFields:
        return _fast_capabilities(data, cls.CODE)

    def _fast_encode(self, ctx: CodecContext) -> bytes | None:
        if self.spdm_version >= 0x13 and self.param1 & 1:
            return None  # SupportedAlgorithms: the compiled build decides
        return _fast_capabilities_encode(self, True)

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        block = fields.get("supported_algorithms")
        fields["supported_algorithms"] = None if block is None else block["block"]
        return super()._from_fields(fields)

    def _to_fields(self) -> dict[str, Any]:
        fields = super()._to_fields()
        block = fields["supported_algorithms"]
        if block is not None:
            declared = int.from_bytes(block[2:4], "little") if len(block) >= 4 else 0
            fields["supported_algorithms"] = {"_length": {"value": declared}, "block": block}
        return fields


# --- NEGOTIATE_ALGORITHMS / ALGORITHMS (DSP0274 1.3 Tables 14-19) ---------------------------


@record(frozen=True, slots=True)
class AlgStruct:
    """One AlgStruct: AlgType, its bitmask, and any external (4-byte) algorithm entries."""

    alg_type: int
    alg_supported: int
    external: tuple[bytes, ...] = ()


def _alg_structs_from(raw: Any) -> tuple[AlgStruct, ...]:
    return tuple(
        AlgStruct(a["alg_type"], a["alg_supported"], tuple(a["external"])) for a in raw
    )


def _alg_structs_to(structs: tuple[AlgStruct, ...]) -> list[dict[str, Any]]:
    return [
        {"alg_type": a.alg_type, "alg_supported": a.alg_supported, "external": list(a.external)}
        for a in structs
    ]


@record(frozen=True)
class _AlgorithmsBase(Message):
    """What NEGOTIATE_ALGORITHMS and ALGORITHMS share: the AlgStruct tail and Length.

    AlgStructs exist from 1.1; in 1.0 Param1 is reserved (ignored on parse).
    ``length`` is derived from the other fields, so it takes no part in equality.
    """

    alg_structs: tuple[AlgStruct, ...] = ()
    length: int = field(default=0, compare=False)

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        structs = fields["alg_structs"]
        fields["alg_structs"] = () if structs is None else _alg_structs_from(structs)
        for name in ("pqc_asym_algo", "pqc_asym_sel"):
            if name in fields and fields[name] is None:
                fields[name] = 0
        return fields

    def _to_fields(self) -> dict[str, Any]:
        fields = super()._to_fields()
        fields["alg_structs"] = _alg_structs_to(self.alg_structs)
        fields["_num_alg_structs"] = len(self.alg_structs)
        fields["_alg_ext_bytes"] = 4 * sum(len(a.external) for a in self.alg_structs)
        fields["length"] = None
        return fields

    def alg_supported(self, alg_type: int) -> int:
        """The bitmask carried for ``alg_type`` (0 if absent)."""
        for alg in self.alg_structs:  # a loop, not a generator: asked some thirty times per connection
            if alg.alg_type == alg_type:
                return alg.alg_supported
        return 0


@record(frozen=True)
class NegotiateAlgorithms(_AlgorithmsBase):
    """NEGOTIATE_ALGORITHMS: the requester's supported algorithm sets.

    ``length`` is rebuilt on encode; on decode it is checked against the bytes.
    ``pqc_asym_algo`` (1.4, offset 16) is the PqcAsymAlgo bitmask
    (:class:`~spdm.messages.codes.PqcAsymAlgo`); the ReqPqcAsym and KEM sets
    travel as AlgStructs of AlgType 6 and 7.
    """

    CODE: ClassVar[int] = RequestCode.NEGOTIATE_ALGORITHMS

    measurement_specification: int = 0
    other_params_support: int = 0
    base_asym_algo: int = 0
    base_hash_algo: int = 0
    mel_specification: int = 0
    pqc_asym_algo: int = 0
    ext_asym: tuple[bytes, ...] = ()
    ext_hash: tuple[bytes, ...] = ()

    @classmethod
    def _fast_fields(cls, data: bytes, ctx: CodecContext) -> FastFields:
        if len(data) < _NEGOTIATE_FIXED.size or data[1] != cls.CODE:
            return None
        (version, _, num_structs, _, length, measurement_specification, other_params_support,
         base_asym_algo, base_hash_algo, pqc_asym_algo, ext_asym_count, ext_hash_count,
         mel_specification) = _NEGOTIATE_FIXED.unpack_from(data)
        fields: dict[str, Any] = {
            "spdm_version": version, "length": length,
            "measurement_specification": measurement_specification,
            "other_params_support": other_params_support,
            "base_asym_algo": base_asym_algo, "base_hash_algo": base_hash_algo,
            "pqc_asym_algo": pqc_asym_algo if version >= 0x14 else None,
            "mel_specification": mel_specification,
        }
        return _fast_algorithms_rest(data, fields, ("ext_asym", "ext_hash"), _NEGOTIATE_FIXED.size,
                                     (ext_asym_count, ext_hash_count, num_structs))

    def _fast_encode(self, ctx: CodecContext) -> bytes | None:
        tail = _fast_algorithms_tail(self, self.ext_asym, self.ext_hash, _NEGOTIATE_FIXED.size)
        if tail is None:
            return None
        length, rest = tail
        version = self.spdm_version
        try:
            return _NEGOTIATE_FIXED.pack(
                version, self.CODE, len(self.alg_structs), 0, length, self.measurement_specification,
                self.other_params_support, self.base_asym_algo, self.base_hash_algo,
                self.pqc_asym_algo if version >= 0x14 else 0, len(self.ext_asym), len(self.ext_hash),
                self.mel_specification) + rest
        except struct.error:
            return None


@record(frozen=True)
class Algorithms(_AlgorithmsBase):
    """ALGORITHMS: the responder's selections, one bit per field.

    ``pqc_asym_sel`` (1.4, offset 20) is the selected PqcAsymAlgo (0 when a
    classic BaseAsymAlgo was selected).
    """

    CODE: ClassVar[int] = ResponseCode.ALGORITHMS

    measurement_specification_sel: int = 0
    other_params_selection: int = 0
    measurement_hash_algo: int = 0
    base_asym_sel: int = 0
    base_hash_sel: int = 0
    mel_specification_sel: int = 0
    pqc_asym_sel: int = 0
    ext_asym_sel: tuple[bytes, ...] = ()
    ext_hash_sel: tuple[bytes, ...] = ()

    @classmethod
    def _fast_fields(cls, data: bytes, ctx: CodecContext) -> FastFields:
        if len(data) < _ALGORITHMS_FIXED.size or data[1] != cls.CODE:
            return None
        (version, _, num_structs, _, length, measurement_specification_sel, other_params_selection,
         measurement_hash_algo, base_asym_sel, base_hash_sel, pqc_asym_sel, mel_specification_sel,
         ext_asym_count, ext_hash_count) = _ALGORITHMS_FIXED.unpack_from(data)
        fields: dict[str, Any] = {
            "spdm_version": version, "length": length,
            "measurement_specification_sel": measurement_specification_sel,
            "other_params_selection": other_params_selection,
            "measurement_hash_algo": measurement_hash_algo,
            "base_asym_sel": base_asym_sel, "base_hash_sel": base_hash_sel,
            "pqc_asym_sel": pqc_asym_sel if version >= 0x14 else None,
            "mel_specification_sel": mel_specification_sel,
        }
        return _fast_algorithms_rest(data, fields, ("ext_asym_sel", "ext_hash_sel"), _ALGORITHMS_FIXED.size,
                                     (ext_asym_count, ext_hash_count, num_structs))

    def _fast_encode(self, ctx: CodecContext) -> bytes | None:
        tail = _fast_algorithms_tail(self, self.ext_asym_sel, self.ext_hash_sel, _ALGORITHMS_FIXED.size)
        if tail is None:
            return None
        length, rest = tail
        version = self.spdm_version
        try:
            return _ALGORITHMS_FIXED.pack(
                version, self.CODE, len(self.alg_structs), 0, length, self.measurement_specification_sel,
                self.other_params_selection, self.measurement_hash_algo, self.base_asym_sel,
                self.base_hash_sel, self.pqc_asym_sel if version >= 0x14 else 0,
                self.mel_specification_sel, len(self.ext_asym_sel), len(self.ext_hash_sel)) + rest
        except struct.error:
            return None


@declares_structs(__name__)
def _declare_structs() -> None:
    """The construct declarations (the layouts the ``struct`` fast paths follow), made on first use."""
    from construct import (
        Array,
        Bytes,
        Check,
        If,
        IfThenElse,
        Int8ul,
        Int16ul,
        Int32ul,
        Padding,
        Peek,
        Rebuild,
        Struct,
        Tell,
        len_,
        this,
    )

    from ..schema import header

    capability_body = Struct(
        Padding(1),
        "ct_exponent" / Int8ul,
        "ext_flags" / IfThenElse(this._.spdm_version >= 0x14, Int16ul, Padding(2)),
        "flags" / Int32ul,
        "sizes" / If(this._.spdm_version >= 0x12,
                     Struct("data_transfer_size" / Int32ul, "max_spdm_msg_size" / Int32ul)),
    )
    alg_struct = Struct(
        "alg_type" / Int8ul,
        "_alg_count" / Rebuild(Int8ul, 0x20 | len_(this.external)),
        Check((this._alg_count >> 4) == 2),  # FixedAlgCount is 2 for every defined AlgType
        "alg_supported" / Int16ul,
        "external" / Array(this._alg_count & 0x0F, Bytes(4)),
    )
    pqc_field = IfThenElse(this.spdm_version >= 0x14, Int32ul, Padding(4))  # PqcAsymAlgo/Sel: 1.4 on

    Version.STRUCT = Struct(
        *header(ResponseCode.VERSION),
        Padding(1),
        "_count" / Rebuild(Int8ul, len_(this.version_entries)),
        "version_entries" / Array(this._count, Int16ul),
    )
    GetCapabilities.STRUCT = Struct(
        *header(RequestCode.GET_CAPABILITIES, "param1"),
        "body" / If(this.spdm_version >= 0x11, capability_body),
    )
    Capabilities.STRUCT = Struct(
        *header(ResponseCode.CAPABILITIES, "param1"),
        "body" / capability_body,
        "supported_algorithms" / If(
            (this.spdm_version >= 0x13) & ((this.param1 & 1) == 1),
            Struct(
                # Parsing peeks at the block's Length; building takes it from the block's bytes.
                "_length" / Peek(Struct(Padding(2), "value" / Int16ul)),
                Check(this._length.value >= SUPPORTED_ALGORITHMS_FIXED_SIZE),
                "block" / Bytes(this._length.value),
            ),
        ),
    )
    NegotiateAlgorithms.STRUCT = Struct(
        *header(RequestCode.NEGOTIATE_ALGORITHMS, "_num_alg_structs"),
        "length" / Rebuild(
            Int16ul,
            32 + 4 * len_(this.ext_asym) + 4 * len_(this.ext_hash)
            + 4 * len_(this.alg_structs) + this._alg_ext_bytes,
        ),
        "measurement_specification" / Int8ul,
        "other_params_support" / Int8ul,
        "base_asym_algo" / Int32ul,
        "base_hash_algo" / Int32ul,
        "pqc_asym_algo" / pqc_field,
        Padding(8),
        "_ext_asym_count" / Rebuild(Int8ul, len_(this.ext_asym)),
        "_ext_hash_count" / Rebuild(Int8ul, len_(this.ext_hash)),
        Padding(1),
        "mel_specification" / Int8ul,
        "ext_asym" / Array(this._ext_asym_count, Bytes(4)),
        "ext_hash" / Array(this._ext_hash_count, Bytes(4)),
        "alg_structs" / If(this.spdm_version >= 0x11, Array(this._num_alg_structs, alg_struct)),
        "_end" / Tell,
        Check(this.length == this._end),
    )
    Algorithms.STRUCT = Struct(
        *header(ResponseCode.ALGORITHMS, "_num_alg_structs"),
        "length" / Rebuild(
            Int16ul,
            36 + 4 * len_(this.ext_asym_sel) + 4 * len_(this.ext_hash_sel)
            + 4 * len_(this.alg_structs) + this._alg_ext_bytes,
        ),
        "measurement_specification_sel" / Int8ul,
        "other_params_selection" / Int8ul,
        "measurement_hash_algo" / Int32ul,
        "base_asym_sel" / Int32ul,
        "base_hash_sel" / Int32ul,
        "pqc_asym_sel" / pqc_field,
        Padding(7),
        "mel_specification_sel" / Int8ul,
        "_ext_asym_sel_count" / Rebuild(Int8ul, len_(this.ext_asym_sel)),
        "_ext_hash_sel_count" / Rebuild(Int8ul, len_(this.ext_hash_sel)),
        Padding(2),
        "ext_asym_sel" / Array(this._ext_asym_sel_count, Bytes(4)),
        "ext_hash_sel" / Array(this._ext_hash_sel_count, Bytes(4)),
        "alg_structs" / If(this.spdm_version >= 0x11, Array(this._num_alg_structs, alg_struct)),
        "_end" / Tell,
        Check(this.length == this._end),
    )
