"""The SPDM claims-set of draft-poirier-rats-eat-da (-11) as CBOR values: build and read.

One device is one EAT submodule (``spdm-claims``, profile
``tag:linaro.org,2025:device-spdm#1.0.0``) holding, by claim key:

- 3802 ``measurements``: ``{block-id: {1: component-type, 2: [alg, digest] / 3: raw}}``
  plus ``"signature"``: the spdm-signature over L1;
- 3803 ``certificates``: ``{slot: DER certificates concatenated}``;
- 3804 ``vca``: the VCA messages (GET_VERSION ... ALGORITHMS);
- 3807 ``challenge``: the CHALLENGE_AUTH spdm-signature (IL1 = M1);
- 3808 ``device-interface-report``: the TDISP interface report as a map.

Where the draft leaves room, devsec decides (module constants say so):

- component-type is DMTFSpecMeasurementValueType b[6:0] (the draft's numbering,
  which is SPDM's); :data:`COMPONENT_NAMES` spells them as Veraison's DA_SPDM
  scheme does (``hardware-config``, ``freeform-manifest``,
  ``hash-extended-measurement`` ...), the names CoRIM reference values carry.
- a digest's ``alg`` (``uint / text`` in the draft) is Veraison's DA_SPDM
  numbering (:data:`DIGEST_ALGORITHMS`: 1 SHA-256 ... 6 SHA3-512), the one
  existing consumer.
- the spdm-signature's ``base-hash-algo`` is the draft's hash-algorithm-type
  table (:data:`SIGNATURE_HASHES`: SHA-256 is 0, the others their BaseHashAlgo bit).
- block-id is 1..239 in the draft: blocks 240-254 (0xFD manifest, 0xFE device
  mode) stay in the signed L1 but are left out of the claim map.
- the draft's ``mmio-ranges`` map can hold one range (key 1); devsec numbers a
  TDI's ranges 1..n, which is the draft's encoding for a one-range TDI.
- before SPDM 1.2 nothing is prefixed: ``combined-spdm-prefix`` is then empty
  (the draft's ``.size 100`` describes 1.2+).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from spdm.errors import DecodeError
from spdm.events import SignedEvidence
from spdm.messages import MeasurementBlock
from spdm.messages.codes import DMTF_RAW_BIT_STREAM, BaseHashAlgo, DmtfValueType, MeasurementHashAlgo
from tdisp.messages import InterfaceInfo, InterfaceReport, MmioAttributes, MmioRange

__all__ = [
    "CERTIFICATES",
    "CHALLENGE",
    "COMPONENT_NAMES",
    "DIGEST_ALGORITHMS",
    "INTERFACE_REPORT",
    "MAX_BLOCK_ID",
    "MEASUREMENTS",
    "SIGNATURE",
    "SIGNATURE_HASHES",
    "SPDM_PROFILE",
    "VCA",
    "ClaimedSignature",
    "block_claims",
    "claimed_blocks",
    "claimed_signature",
    "component_name",
    "report_claim",
    "report_from_claim",
    "signature_claim",
]

SPDM_PROFILE: Final = "tag:linaro.org,2025:device-spdm#1.0.0"
"""eat_profile of one SPDM device's claims-set."""

MEASUREMENTS: Final = 3802
CERTIFICATES: Final = 3803
VCA: Final = 3804
CHALLENGE: Final = 3807
INTERFACE_REPORT: Final = 3808
SIGNATURE: Final = "signature"
"""The key of the spdm-signature inside the measurements map."""

MAX_BLOCK_ID: Final = 239
"""The draft's block-id range is 1..239 (240-255 are DMTF-reserved indices)."""

_COMPONENT_TYPE, _DIGEST, _RAW = 1, 2, 3

COMPONENT_NAMES: Final[dict[int, str]] = {
    DmtfValueType.IMMUTABLE_ROM: "immutable-rom",
    DmtfValueType.MUTABLE_FIRMWARE: "mutable-firmware",
    DmtfValueType.HARDWARE_CONFIGURATION: "hardware-config",
    DmtfValueType.FIRMWARE_CONFIGURATION: "firmware-config",
    DmtfValueType.MEASUREMENT_MANIFEST: "freeform-manifest",
    DmtfValueType.DEVICE_MODE: "device-mode",
    DmtfValueType.MUTABLE_FIRMWARE_VERSION: "mutable-firmware-version",
    DmtfValueType.MUTABLE_FIRMWARE_SVN: "mutable-firmware-svn",
    DmtfValueType.HASH_EXTENDED: "hash-extended-measurement",
    DmtfValueType.INFORMATIONAL: "informational",
    DmtfValueType.STRUCTURED_MANIFEST: "structured-measurement-manifest",
}
"""component-type -> its name as Veraison's DA_SPDM scheme spells it (CoRIM ``name``)."""

DIGEST_ALGORITHMS: Final[dict[MeasurementHashAlgo, int]] = {
    MeasurementHashAlgo.SHA_256: 1,
    MeasurementHashAlgo.SHA_384: 2,
    MeasurementHashAlgo.SHA_512: 3,
    MeasurementHashAlgo.SHA3_256: 4,
    MeasurementHashAlgo.SHA3_384: 5,
    MeasurementHashAlgo.SHA3_512: 6,
    MeasurementHashAlgo.SM3_256: 7,
}
"""MeasurementHashAlgo -> the digest ``alg`` of a digest-measurement (Veraison DA_SPDM numbering)."""

SIGNATURE_HASHES: Final[dict[BaseHashAlgo, int]] = {
    BaseHashAlgo.SHA_256: 0,
    BaseHashAlgo.SHA_384: 2,
    BaseHashAlgo.SHA_512: 4,
    BaseHashAlgo.SHA3_256: 8,
    BaseHashAlgo.SHA3_384: 16,
    BaseHashAlgo.SHA3_512: 32,
    BaseHashAlgo.SM3_256: 64,
}
"""BaseHashAlgo -> the draft's hash-algorithm-type (spdm-signature ``base-hash-algo``)."""

_SLOT, _REQUESTER_NONCE, _RESPONDER_NONCE, _PREFIX, _IL1, _BASE_HASH, _SIGNATURE_BYTES = range(1, 8)
_INFO, _MSI_X, _LNR, _TPH, _MMIO, _DEVICE_SPECIFIC = range(1, 7)
_FIRST_PAGE, _PAGES, _ATTRIBUTES = 1, 2, 3
_ATTRIBUTE_BITS, _RANGE_ID = 1, 2


def component_name(kind: int) -> str:
    """A component-type's name (``hardware-config``); an unknown one as ``0x0b``."""
    return COMPONENT_NAMES.get(kind, f"0x{kind:02x}")


# ------------------------------------------------------------------ building


def block_claims(blocks: tuple[MeasurementBlock, ...], mhash: MeasurementHashAlgo) -> dict[int, Any]:
    """The measurements map's blocks (1..239): component-type and digest or raw value."""
    claims: dict[int, Any] = {}
    for block in blocks:
        if not 1 <= block.index <= MAX_BLOCK_ID:
            continue
        entry: dict[int, Any] = {_COMPONENT_TYPE: block.value_type & ~DMTF_RAW_BIT_STREAM & 0x7F}
        if block.raw_bit_stream:
            entry[_RAW] = block.value
        else:
            entry[_DIGEST] = [DIGEST_ALGORITHMS[mhash], block.value]
        claims[block.index] = entry
    return claims


def signature_claim(evidence: SignedEvidence) -> dict[int, Any]:
    """The spdm-signature of a signed L1 (or M1)."""
    return {
        _SLOT: evidence.slot_id,
        _REQUESTER_NONCE: evidence.requester_nonce,
        _RESPONDER_NONCE: evidence.responder_nonce,
        _PREFIX: evidence.combined_prefix,
        _IL1: evidence.transcript,
        _BASE_HASH: SIGNATURE_HASHES[evidence.hash_alg],
        _SIGNATURE_BYTES: evidence.signature,
    }


def _le(value: int, size: int) -> bytes:
    return value.to_bytes(size, "little")


def report_claim(report: InterfaceReport) -> dict[int, Any]:
    """The tdisp-device-interface-report map of a parsed report (fields as they lie on the wire)."""
    claim: dict[int, Any] = {
        _INFO: _le(int(report.interface_info), 2),
        _MSI_X: _le(report.msi_x_message_control, 2),
        _LNR: _le(report.lnr_control, 2),
        _TPH: _le(report.tph_control, 4),
    }
    if report.mmio_ranges:
        claim[_MMIO] = {
            number: {
                _FIRST_PAGE: _le(r.first_page, 8),
                _PAGES: _le(r.number_of_pages, 4),
                _ATTRIBUTES: {_ATTRIBUTE_BITS: _le(int(r.range_attributes), 2),
                              _RANGE_ID: _le(r.range_id, 2)},
            }
            for number, r in enumerate(report.mmio_ranges, start=1)
        }
    if report.device_specific_info:
        claim[_DEVICE_SPECIFIC] = report.device_specific_info
    return claim


# ------------------------------------------------------------------ reading


def _map(value: object, what: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise DecodeError(f"{what}: a CBOR map is expected")
    return value


def _bytes(value: object, what: str, size: int | None = None) -> bytes:
    if not isinstance(value, bytes) or (size is not None and len(value) != size):
        raise DecodeError(f"{what}: a byte string{f' of {size} bytes' if size else ''} is expected")
    return value


def _uint(value: object, what: str, maximum: int) -> int:
    if type(value) is not int or not 0 <= value <= maximum:
        raise DecodeError(f"{what}: an unsigned integer up to {maximum} is expected")
    return value


def _field(claim: Mapping[Any, Any], key: int, what: str) -> object:
    if key not in claim:
        raise DecodeError(f"{what}: claim {key} is missing")
    return claim[key]


ClaimedBlock = tuple[int, int, int | None, bytes]
"""(block-id, component-type, digest alg or None when raw, value) as a token states it."""


def claimed_blocks(measurements: Mapping[Any, Any]) -> dict[int, ClaimedBlock]:
    """The measurements map's blocks, type-checked (the ``"signature"`` entry aside).

    Raises:
        DecodeError: a block-id outside 1..239, or a block that is not
            ``{1: type, 2: [alg, digest]}`` or ``{1: type, 3: raw}``.
    """
    blocks: dict[int, ClaimedBlock] = {}
    for key, value in measurements.items():
        if key == SIGNATURE:
            continue
        index = _uint(key, "measurements: block-id", MAX_BLOCK_ID)
        if index == 0:
            raise DecodeError("measurements: block-id 0 is not a measurement")
        what = f"measurements[{index}]"
        entry = _map(value, what)
        kind = _uint(_field(entry, _COMPONENT_TYPE, what), f"{what}.component-type", 0x7F)
        if (_DIGEST in entry) == (_RAW in entry):
            raise DecodeError(f"{what}: exactly one of digest-measurement (2) and raw-measurement (3)")
        if _RAW in entry:
            blocks[index] = (index, kind, None, _bytes(entry[_RAW], f"{what}.raw-measurement"))
            continue
        pair = entry[_DIGEST]
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise DecodeError(f"{what}.digest-measurement: [alg, val] is expected")
        alg = _uint(pair[0], f"{what}.digest-measurement.alg", 0xFFFF)
        blocks[index] = (index, kind, alg, _bytes(pair[1], f"{what}.digest-measurement.val"))
    return blocks


class ClaimedSignature:
    """An spdm-signature as a token states it (nothing here is checked yet).

    Attributes:
        slot: the certificate slot whose leaf signed.
        requester_nonce / responder_nonce: the stated nonces.
        combined_prefix: the stated combined SPDM prefix.
        transcript: IL1, every signed byte.
        hash_alg: the stated base hash algorithm.
        signature: the signature bytes.
    """

    __slots__ = ("combined_prefix", "hash_alg", "requester_nonce", "responder_nonce", "signature", "slot",
                 "transcript")

    def __init__(self, claim: Mapping[Any, Any]) -> None:
        """Read an spdm-signature map.

        Raises:
            DecodeError: a missing or ill-typed field, or an unknown base-hash-algo.
        """
        what = "spdm-signature"
        self.slot = _uint(_field(claim, _SLOT, what), f"{what}.slot", 7)
        self.requester_nonce = _bytes(_field(claim, _REQUESTER_NONCE, what), f"{what}.requester-nonce", 32)
        self.responder_nonce = _bytes(_field(claim, _RESPONDER_NONCE, what), f"{what}.responder-nonce", 32)
        self.combined_prefix = _bytes(_field(claim, _PREFIX, what), f"{what}.combined-spdm-prefix")
        self.transcript = _bytes(_field(claim, _IL1, what), f"{what}.IL1")
        code = _field(claim, _BASE_HASH, what)
        hashes = {v: k for k, v in SIGNATURE_HASHES.items()}
        if type(code) is not int or code not in hashes:
            raise DecodeError(f"{what}.base-hash-algo: {code!r} is not a hash-algorithm-type")
        self.hash_alg = hashes[code]
        self.signature = _bytes(_field(claim, _SIGNATURE_BYTES, what), f"{what}.signature")


def claimed_signature(measurements: Mapping[Any, Any]) -> ClaimedSignature:
    """The measurements map's ``"signature"`` entry.

    Raises:
        DecodeError: there is none, or it is malformed.
    """
    if SIGNATURE not in measurements:
        raise DecodeError("measurements: no \"signature\": the measurements are not signed")
    return ClaimedSignature(_map(measurements[SIGNATURE], "measurements.signature"))


def _le_field(claim: Mapping[Any, Any], key: int, what: str, size: int) -> int:
    if key not in claim:
        return 0
    return int.from_bytes(_bytes(claim[key], what, size), "little")


def report_from_claim(value: object) -> InterfaceReport:
    """The interface report a tdisp-device-interface-report map states.

    Raises:
        DecodeError: not a non-empty map of the draft's fields.
    """
    what = "device-interface-report"
    claim = _map(value, what)
    if not claim:
        raise DecodeError(f"{what}: the map must not be empty")
    ranges = []
    for number, item in sorted(_map(claim.get(_MMIO, {}), f"{what}.mmio-ranges").items()):
        where = f"{what}.mmio-ranges[{number}]"
        entry = _map(item, where)
        attributes = _map(_field(entry, _ATTRIBUTES, where), f"{where}.attributes")
        ranges.append(MmioRange(
            first_page=_le_field(entry, _FIRST_PAGE, f"{where}.first-4k-page", 8),
            number_of_pages=_le_field(entry, _PAGES, f"{where}.number-of-4k-pages", 4),
            range_attributes=MmioAttributes(
                _le_field(attributes, _ATTRIBUTE_BITS, f"{where}.range-attribute-bits", 2)
                & sum(int(m) for m in MmioAttributes)),
            range_id=_le_field(attributes, _RANGE_ID, f"{where}.range-id", 2),
        ))
    info = _le_field(claim, _INFO, f"{what}.interface-info", 2) & sum(int(m) for m in InterfaceInfo)
    return InterfaceReport(
        interface_info=InterfaceInfo(info),
        msi_x_message_control=_le_field(claim, _MSI_X, f"{what}.msi-x-message-control", 2),
        lnr_control=_le_field(claim, _LNR, f"{what}.lnr-control", 2),
        tph_control=_le_field(claim, _TPH, f"{what}.tph-control", 4),
        mmio_ranges=tuple(ranges),
        device_specific_info=_bytes(claim.get(_DEVICE_SPECIFIC, b""), f"{what}.device-specific-info"),
    )
