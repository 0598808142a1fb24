"""Reference values as a CoRIM (draft-ietf-rats-corim), written from a known-good device and read back.

A CoRIM is how vendors publish reference values and how Veraison's
``DA_SPDM`` scheme takes them.  devsec writes the unsigned form,
``#6.501(corim-map)``:

- ``corim-map``: ``0`` id (text), ``1`` tags ``[#6.506(bstr .cbor concise-mid-tag)]``,
  ``3`` profile ``#6.32("tag:linaro.org,2025:device-spdm#1.0.0")`` (Veraison's
  DA_SPDM CoRIM profile, the EAT-DA device profile).
- ``concise-mid-tag``: ``1`` tag-identity ``{0: tag-id}``, ``4`` triples ``{0:
  reference-triples}``, one record ``[environment-map, [+ measurement-map]]``.
- ``environment-map``: ``{0: class-map {0: #6.560(class name bytes)}}``, the
  class derived from the EAT submodule name as DA_SPDM does (:func:`class_name`).
- ``measurement-map``: ``{0: mkey, 1: mval}`` with mkey the SPDM measurement
  index (uint, 1..239 as the EAT's block-id) and mval ``{11: name}`` (the
  component type as DA_SPDM spells it) plus ``{2: [[alg, digest]]}`` for a
  digest (alg from the IANA Named Information registry, as CoRIM's
  ``hash-entry``) or ``{4: #6.560(raw bytes)}`` for a raw block.

:func:`read_corim` accepts that form, the ``#6.500`` wrapper of newer drafts,
and a signed CoRIM (``#6.18`` COSE_Sign1 over the tagged corim-map) when the
caller names the signer's key; it returns, per environment class, the allowed
values of each index.  Triples other than reference values, and measurement
values other than digests and raw values, are left aside: devsec compares
measurement values only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import cbor2

from spdm.crypto import PublicKey
from spdm.errors import DecodeError, VerificationError
from spdm.messages import MeasurementBlock
from spdm.messages.codes import MeasurementHashAlgo
from spdm.record import record

from .cbor import loads_exact
from .cose import COSE_SIGN1_TAG, verify_sign1
from .eat_claims import MAX_BLOCK_ID, SPDM_PROFILE, component_name

__all__ = [
    "CORIM_TAG",
    "NAMED_INFORMATION",
    "ReferenceMeasurement",
    "class_name",
    "read_corim",
    "reference_corim",
]

CORIM_TAG: Final = 501
"""tagged-corim-map."""
_CORIM_WRAPPER_TAG: Final = 500
_COMID_TAG: Final = 506
_BYTES_TAG: Final = 560
_URI_TAG: Final = 32

NAMED_INFORMATION: Final[dict[MeasurementHashAlgo, int]] = {
    MeasurementHashAlgo.SHA_256: 1,
    MeasurementHashAlgo.SHA_384: 7,
    MeasurementHashAlgo.SHA_512: 8,
    MeasurementHashAlgo.SHA3_256: 10,
    MeasurementHashAlgo.SHA3_384: 11,
    MeasurementHashAlgo.SHA3_512: 12,
}
"""MeasurementHashAlgo -> the IANA Named Information hash algorithm ID of a CoRIM hash-entry."""

_ID, _TAGS, _PROFILE = 0, 1, 3
_TAG_IDENTITY, _TRIPLES = 1, 4
_REFERENCE_TRIPLES = 0
_CLASS, _CLASS_ID = 0, 0
_MKEY, _MVAL = 0, 1
_DIGESTS, _RAW_VALUE, _NAME = 2, 4, 11


@record(frozen=True, slots=True)
class ReferenceMeasurement:
    """The values a CoRIM allows at one measurement index.

    Attributes:
        index: the SPDM measurement index (CoRIM mkey).
        name: the component type name the CoRIM states, or empty.
        values: the allowed digests and raw values.
    """

    index: int
    name: str
    values: frozenset[bytes]


def class_name(submodule: str) -> str:
    """The CoRIM class DA_SPDM files a device's reference values under, from its EAT submodule name.

    A subject DN loses its ``CN=`` parts (the one RDN that names the unit, not
    the model); a DMTF device-info name (``spdm:VENDOR:MODEL:SERIAL``) loses the
    serial.  A name of neither shape is its own class.
    """
    if "," in submodule:
        parts = [part.strip() for part in submodule.removeprefix("spdm:").split(",")]
        kept = [part for part in parts if not part.startswith("CN=")]
        return "spdm:" + ",".join(kept) if kept else submodule
    if submodule.count(":") == 3:
        return submodule.rsplit(":", 1)[0]
    return submodule


def _mval(block: MeasurementBlock, mhash: MeasurementHashAlgo) -> dict[int, Any]:
    mval: dict[int, Any] = {_NAME: component_name(block.value_type & 0x7F)}
    if block.raw_bit_stream:
        mval[_RAW_VALUE] = cbor2.CBORTag(_BYTES_TAG, block.value)
    else:
        mval[_DIGESTS] = [[NAMED_INFORMATION[mhash], block.value]]
    return mval


def reference_corim(blocks: Sequence[MeasurementBlock], mhash: MeasurementHashAlgo, submodule: str,
                    corim_id: str) -> bytes:
    """An unsigned CoRIM stating ``blocks`` as the reference values of the device's class.

    Args:
        blocks: a known-good device's measurement blocks (1..239 are stated).
        mhash: how their digests were made.
        submodule: the device's EAT submodule name (its class is derived from it).
        corim_id: the CoRIM's (and its one CoMID's) identifier.

    Returns:
        ``#6.501(corim-map)``, CBOR-encoded.

    Raises:
        DecodeError: no block in 1..239, or a digest algorithm CoRIM has no ID for (SM3).
    """
    measurements = []
    for block in blocks:
        if not 1 <= block.index <= MAX_BLOCK_ID:
            continue
        if not block.raw_bit_stream and mhash not in NAMED_INFORMATION:
            raise DecodeError(f"{MeasurementHashAlgo(mhash).name}: no CoRIM hash-entry algorithm")
        measurements.append({_MKEY: block.index, _MVAL: _mval(block, mhash)})
    if not measurements:
        raise DecodeError("no measurement block in 1..239 to state as a reference value")
    environment = {_CLASS: {_CLASS_ID: cbor2.CBORTag(_BYTES_TAG, class_name(submodule).encode())}}
    comid = {_TAG_IDENTITY: {0: corim_id}, _TRIPLES: {_REFERENCE_TRIPLES: [[environment, measurements]]}}
    corim = {_ID: corim_id, _TAGS: [cbor2.CBORTag(_COMID_TAG, cbor2.dumps(comid))],
             _PROFILE: cbor2.CBORTag(_URI_TAG, SPDM_PROFILE)}
    return cbor2.dumps(cbor2.CBORTag(CORIM_TAG, corim))


# ------------------------------------------------------------------ reading


def _map(value: object, what: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise DecodeError(f"{what}: a map is expected")
    return value


def _array(value: object, what: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise DecodeError(f"{what}: an array is expected")
    return value


def _tagged(value: object, tag: int, what: str) -> Any:
    if not isinstance(value, cbor2.CBORTag) or value.tag != tag:
        raise DecodeError(f"{what}: tag {tag} is expected")
    return value.value


def _corim_map(data: bytes, signer: PublicKey | None) -> Mapping[Any, Any]:
    value = loads_exact(bytes(data), "not a CoRIM")
    if isinstance(value, cbor2.CBORTag) and value.tag == _CORIM_WRAPPER_TAG:
        value = value.value
    if isinstance(value, cbor2.CBORTag) and value.tag == COSE_SIGN1_TAG:
        if signer is None:
            raise VerificationError("the CoRIM is signed: name the key of its signer")
        value = loads_exact(verify_sign1(value.value, signer), "the signed CoRIM's payload")
    elif signer is not None:
        raise VerificationError("the CoRIM is unsigned, yet a signer was named to check")
    return _map(_tagged(value, CORIM_TAG, "not a CoRIM"), "corim-map")


def _values(mval: Mapping[Any, Any], what: str) -> frozenset[bytes]:
    values: set[bytes] = set()
    for entry in _array(mval.get(_DIGESTS, []), f"{what}.digests"):
        pair = _array(entry, f"{what}.digests[]")
        if len(pair) != 2 or type(pair[0]) is not int or not isinstance(pair[1], bytes):
            raise DecodeError(f"{what}.digests: [alg, digest] entries are expected")
        values.add(pair[1])
    if _RAW_VALUE in mval:
        raw = _tagged(mval[_RAW_VALUE], _BYTES_TAG, f"{what}.raw-value")
        if not isinstance(raw, bytes):
            raise DecodeError(f"{what}.raw-value: bytes are expected")
        values.add(raw)
    return frozenset(values)


def read_corim(data: bytes, signer: PublicKey | None = None) -> dict[str, dict[int, ReferenceMeasurement]]:
    """The reference values a CoRIM states: environment class -> index -> allowed values.

    Args:
        data: the CoRIM file's bytes.
        signer: the key a signed CoRIM must verify with (None: it must be unsigned).

    Returns:
        One entry per environment class named by bytes (DA_SPDM's class-id) or
        text; an index two triples of one class state is allowed either value.

    Raises:
        DecodeError: not a CoRIM, or a reference triple that is malformed or
            whose environment or mkey devsec cannot place (no class-id, a key
            that is not an index 1..239), or no reference values at all.
        VerificationError: a signed CoRIM that does not verify with ``signer``,
            or a signedness other than the caller expects.
    """
    corim = _corim_map(data, signer)
    classes: dict[str, dict[int, ReferenceMeasurement]] = {}
    for number, tag in enumerate(_array(corim.get(_TAGS), "corim-map.tags")):
        if not isinstance(tag, cbor2.CBORTag) or tag.tag != _COMID_TAG:
            continue  # CoSWID and other tags carry no reference values devsec reads
        comid = _map(loads_exact(_tagged(tag, _COMID_TAG, "tag"), f"tags[{number}]"), f"tags[{number}]")
        triples = _map(comid.get(_TRIPLES), f"tags[{number}].triples")
        for triple in _array(triples.get(_REFERENCE_TRIPLES, []), f"tags[{number}].reference-triples"):
            environment, measurements = _triple(triple, number)
            place = classes.setdefault(environment, {})
            for measurement in measurements:
                old = place.get(measurement.index)
                place[measurement.index] = measurement if old is None else ReferenceMeasurement(
                    old.index, old.name, old.values | measurement.values)
    if not classes:
        raise DecodeError("the CoRIM states no reference values")
    return classes


def _triple(record: object, number: int) -> tuple[str, list[ReferenceMeasurement]]:
    what = f"tags[{number}].reference-triple"
    pair = _array(record, what)
    if len(pair) != 2:
        raise DecodeError(f"{what}: [environment, measurements] is expected")
    klass = _map(_map(pair[0], f"{what}.environment").get(_CLASS), f"{what}.environment.class")
    class_id = klass.get(_CLASS_ID)
    if isinstance(class_id, cbor2.CBORTag) and class_id.tag == _BYTES_TAG \
            and isinstance(class_id.value, bytes):
        try:
            name = class_id.value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"{what}: the class-id is not UTF-8") from exc
    elif isinstance(class_id, str):
        name = class_id
    else:
        raise DecodeError(f"{what}: the environment's class-id is not a name devsec can match")
    measurements = []
    for item in _array(pair[1], f"{what}.measurements"):
        entry = _map(item, f"{what}.measurement")
        index = entry.get(_MKEY)
        if type(index) is not int or not 1 <= index <= MAX_BLOCK_ID:
            raise DecodeError(f"{what}: mkey {index!r} is not a measurement index 1..{MAX_BLOCK_ID}")
        mval = _map(entry.get(_MVAL), f"{what}[{index}].mval")
        label = mval.get(_NAME, "")
        values = _values(mval, f"{what}[{index}]")
        if not isinstance(label, str) or not values:
            raise DecodeError(f"{what}[{index}]: a text name and a digest or raw value are expected")
        measurements.append(ReferenceMeasurement(index, label, values))
    return name, measurements
