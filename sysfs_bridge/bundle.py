"""Evidence for a remote verifier: one self-contained bundle, exported here and checked elsewhere.

A verifier on another machine (the evidence broker of an attestation flow)
sends a nonce; the host has the device sign its measurements over it
(:func:`spdm.cma.authenticate` with ``measurement_nonce``) and
exports one bundle (:func:`export_bundle`); the verifier checks the bundle
with no device present, against its own trust roots (:func:`verify_bundle`).

Format ``devsec-evidence/1``: one JSON object in UTF-8, every byte string in
lower-case hex, every field required and no other field allowed:

- ``format``: ``"devsec-evidence/1"``.
- ``spdm_version``: ``"1.0"`` ... ``"1.3"``.
- ``algorithms``: ``{"hash", "signature", "measurement_hash"}`` by devsec's
  names (``"sha384"``, ``"ecdsa-p384"``, ``"sha384"``).
- ``slot``: the certificate slot whose leaf key signed (0-7).
- ``certificate_chain``: that slot's SPDM certificate chain as the device
  stores it (DSP0274 §3.5: Length, Reserved, RootHash, DER certificates root
  first); its hash is the slot's DIGESTS entry.
- ``signing_context``: ``"responder-measurements signing"``.
- ``combined_spdm_prefix``: the 100-byte prefix SPDM 1.2+ signs (empty before 1.2).
- ``transcript``: L1, every signed byte: the VCA messages (1.2+ only), then the
  GET_MEASUREMENTS/MEASUREMENTS exchanges (at most :data:`MAX_L1_EXCHANGES`),
  the last one signed and its MEASUREMENTS without the signature.
- ``signature``: the signature over the transcript.
- ``measurements``: a copy of the signed blocks for readers,
  ``[{"index", "type", "representation", "value"}]``.

Only the signature is believed.  The verifier decodes the transcript with the
SPDM codec and takes everything it reports from there: the nonce is the one
inside the signed GET_MEASUREMENTS (no unsigned nonce field exists), the
measurements are the signed MEASUREMENTS blocks, and the stated version,
algorithms, slot and measurement copy must agree with the signed messages or
the bundle fails.  Before SPDM 1.2 the VCA messages are not signed, so a 1.0/1.1
bundle's algorithms are claims that only the leaf key (which must fit the
signature algorithm) and the signature itself bind (:attr:`BundleVerdict.vca_signed`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar

from spdm.cma import AuthenticationReport
from spdm.crypto import (
    Certificate,
    SigningAlgo,
    SpdmCertChain,
    constant_time_equal,
    measurement_hash_size,
    parse_spdm_cert_chain,
    validate_cert_chain,
)
from spdm.errors import ConfigurationError, DecodeError, VerificationError
from spdm.events import SignedEvidence
from spdm.messages import (
    NONCE_SIZE,
    Algorithms,
    Capabilities,
    GetCapabilities,
    GetMeasurements,
    GetVersion,
    MeasurementBlock,
    Measurements,
    Message,
    NegotiateAlgorithms,
    Version,
)
from spdm.messages.codes import BaseHashAlgo, MeasurementHashAlgo, SpdmVersion
from spdm.names import (
    HASHES,
    measurement_dict,
    measurement_hash_name,
    name_of,
    parse_hash,
    parse_measurement_hash,
    parse_signing,
    parse_version,
    signing_name,
)
from spdm.record import record

from .signature import signed_signing_alg, verify_recorded_signature

__all__ = ["FORMAT", "MAX_L1_EXCHANGES", "MEASUREMENTS_CONTEXT", "BundleVerdict", "export_bundle",
           "verify_bundle"]

FORMAT: Final = "devsec-evidence/1"
"""The format (and version) this module writes and reads."""

MEASUREMENTS_CONTEXT: Final = "responder-measurements signing"
"""The signing context of a signed MEASUREMENTS (DSP0274 §15)."""

_FIELDS: Final = ("format", "spdm_version", "algorithms", "slot", "certificate_chain", "signing_context",
                  "combined_spdm_prefix", "transcript", "signature", "measurements")
_ALGORITHM_FIELDS: Final = ("hash", "signature", "measurement_hash")
_BLOCK_FIELDS: Final = ("index", "type", "representation", "value")
_VCA_REQUESTS_AND_RESPONSES: Final[tuple[type[Message], ...]] = (
    GetVersion, Version, GetCapabilities, Capabilities, NegotiateAlgorithms,
)
"""A's messages before ALGORITHMS, in transcript order."""

T = TypeVar("T")
M = TypeVar("M", bound=Message)


@record(frozen=True, slots=True)
class BundleVerdict:
    """What a verified bundle proves: a device whose chain leads to a trusted root signed these
    measurements over the verifier's nonce.

    Attributes:
        version: the SPDM version of the signed messages.
        hash_alg / asym_alg: the signature's algorithms (``asym_alg`` a PqcAsymAlgo
            for an SPDM 1.4 ML-DSA signature).
        measurement_hash_alg: how the measurement digests were made.
        slot_id: the certificate slot whose leaf key signed.
        chain: the validated certificate chain.
        measurements: the signed blocks, once per index, in transcript order.
        vca_signed: the version and algorithms were read from signed VCA messages
            (SPDM 1.2+); False: they are the bundle's unsigned statement.
    """

    version: SpdmVersion
    hash_alg: BaseHashAlgo
    asym_alg: SigningAlgo
    measurement_hash_alg: MeasurementHashAlgo
    slot_id: int
    chain: SpdmCertChain
    measurements: tuple[MeasurementBlock, ...]
    vca_signed: bool

    @property
    def format(self) -> str:
        """The bundle format verified (:data:`FORMAT`)."""
        return FORMAT


def export_bundle(report: AuthenticationReport, nonce: bytes) -> bytes:
    """The bundle of an authentication whose measurements were signed over ``nonce``.

    Args:
        report: what ``authenticate(..., measurement_nonce=nonce)`` returned.
        nonce: the verifier's 32-byte nonce.

    Returns:
        The ``devsec-evidence/1`` document, UTF-8 JSON ending in a newline.

    Raises:
        ConfigurationError: the report holds no signed measurements, or they were
            signed over another nonce (authenticate with ``measurement_nonce``).
    """
    measured = report.measurements
    if measured is None or measured.evidence is None:
        raise ConfigurationError("the authentication read no signed measurements to export")
    evidence = measured.evidence
    if not constant_time_equal(evidence.requester_nonce, bytes(nonce)):
        raise ConfigurationError("the measurements were signed over another nonce: "
                                 "authenticate with measurement_nonce set to the verifier's nonce")
    mhash = report.negotiated.measurement_hash_alg
    doc = {
        "format": FORMAT,
        "spdm_version": evidence.version.text,
        "algorithms": {
            "hash": name_of(evidence.hash_alg, dict(HASHES)),
            "signature": signing_name(evidence.asym_alg),
            "measurement_hash": measurement_hash_name(mhash),
        },
        "slot": evidence.slot_id,
        "certificate_chain": report.chain.raw.hex(),
        "signing_context": evidence.context,
        "combined_spdm_prefix": evidence.combined_prefix.hex(),
        "transcript": evidence.transcript.hex(),
        "signature": evidence.signature.hex(),
        "measurements": [measurement_dict(block) for block in measured.blocks],
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def verify_bundle(data: bytes, nonce: bytes, trust_anchors: Sequence[Certificate],
                  now: datetime) -> BundleVerdict:
    """Check a bundle offline: trusted chain, genuine signature, the verifier's nonce.

    The checks, in order: the document is a well-formed ``devsec-evidence/1``;
    the transcript decodes as L1 (VCA from 1.2, then GET_MEASUREMENTS/MEASUREMENTS
    exchanges of which only the last is signed); the chain leads to a trust
    anchor and is valid at ``now``; the signature verifies over the transcript
    with the leaf key; the signed messages state the bundle's version,
    algorithms and slot; the signed GET_MEASUREMENTS carries ``nonce``; and the
    measurement copy equals the signed blocks.

    Args:
        data: the bundle file's bytes.
        nonce: the 32-byte nonce the verifier sent.
        trust_anchors: the verifier's trusted roots (or intermediates).
        now: the time the chain must be valid at (tz-aware).

    Returns:
        What the bundle proves; every value comes from the signed transcript
        (before SPDM 1.2, the version and algorithms from the bundle itself).

    Raises:
        DecodeError: the bundle is malformed: not JSON, a missing, unknown or
            ill-typed field, undecodable hex, an unknown algorithm, or a
            transcript that is not a measurement L1.
        VerificationError: the chain is not trusted, the signature does not
            verify, the signed messages contradict the bundle, or the nonce is
            another one.
        ConfigurationError: ``nonce`` is not 32 bytes or no trust anchor was given.
        LocalProtocolError: ``now`` is not timezone-aware.
    """
    if len(nonce) != NONCE_SIZE:
        raise ConfigurationError(f"a verifier's nonce is {NONCE_SIZE} bytes, not {len(nonce)}")
    if not trust_anchors:
        raise ConfigurationError("no trust anchor given: a bundle can only be trusted against a root")
    doc = _load(data)
    version = _named(doc["spdm_version"], "spdm_version", parse_version)
    algorithms = _object(doc["algorithms"], "algorithms", _ALGORITHM_FIELDS)
    hash_alg = _named(algorithms["hash"], "algorithms.hash", parse_hash)
    asym_alg = _named(algorithms["signature"], "algorithms.signature", parse_signing)
    mhash = _named(algorithms["measurement_hash"], "algorithms.measurement_hash", parse_measurement_hash)
    slot = _integer(doc["slot"], "slot", 7)
    context = _string(doc["signing_context"], "signing_context")
    if context != MEASUREMENTS_CONTEXT:
        raise DecodeError(f"signing_context {context!r}: a bundle carries {MEASUREMENTS_CONTEXT!r}")
    chain = parse_spdm_cert_chain(_hex(doc["certificate_chain"], "certificate_chain"), hash_alg)
    transcript = _hex(doc["transcript"], "transcript")
    signature = _hex(doc["signature"], "signature")
    prefix = _hex(doc["combined_spdm_prefix"], "combined_spdm_prefix")
    copy = _measurement_copy(doc["measurements"])
    vca, exchanges = _read_l1(transcript, version)
    request, response = exchanges[-1]
    assert request.nonce is not None  # _read_l1: the last request asks for a signature

    validate_cert_chain(chain, trust_anchors, asym_alg, now=now, role="responder")
    verify_recorded_signature(SignedEvidence(
        context=context, version=version, hash_alg=hash_alg, asym_alg=asym_alg, slot_id=slot,
        transcript=transcript, signature=signature, requester_nonce=request.nonce,
        responder_nonce=response.nonce, combined_prefix=prefix,
    ), chain.leaf.public_key())
    if vca is not None:
        _check_algorithms(vca, hash_alg, asym_alg, mhash)
    signer = request.slot_id if request.slot_id is not None else 0  # 1.0: always slot 0
    if signer != slot or (version >= SpdmVersion.V11 and response.slot_id != slot):
        raise VerificationError(f"the bundle states slot {slot}, the signed exchange names slot {signer}")
    if not constant_time_equal(request.nonce, bytes(nonce)):
        raise VerificationError("the measurements were signed over another nonce, not the verifier's")
    blocks = _signed_blocks(exchanges, mhash)
    _check_copy(copy, blocks)
    return BundleVerdict(
        version=version, hash_alg=hash_alg, asym_alg=asym_alg, measurement_hash_alg=mhash,
        slot_id=slot, chain=chain, measurements=blocks, vca_signed=vca is not None,
    )


# ------------------------------------------------------------------ the document


def _load(data: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DecodeError(f"not a {FORMAT} bundle: not UTF-8 JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise DecodeError(f"not a {FORMAT} bundle: the document is not a JSON object")
    if "format" in doc and doc["format"] != FORMAT:
        raise DecodeError(f"bundle format {doc['format']!r}: this devsec reads {FORMAT!r}")
    return _object(doc, "bundle", _FIELDS)


def _object(value: object, what: str, fields: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DecodeError(f"{what}: a JSON object is expected")
    missing = [f for f in fields if f not in value]
    unknown = sorted(set(value) - set(fields))
    if missing or unknown:
        raise DecodeError(f"{what}: " + "; ".join(
            part for part in (missing and f"missing {', '.join(missing)}",
                              unknown and f"unknown {', '.join(unknown)}") if part))
    return value


def _string(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise DecodeError(f"{what}: a string is expected")
    return value


def _integer(value: object, what: str, maximum: int) -> int:
    if type(value) is not int or not 0 <= value <= maximum:
        raise DecodeError(f"{what}: an integer 0-{maximum} is expected")
    return value


def _hex(value: object, what: str) -> bytes:
    text = _string(value, what)
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise DecodeError(f"{what}: not hex ({exc})") from exc


def _named(value: object, what: str, parse: Callable[[str], T]) -> T:
    try:
        return parse(_string(value, what))
    except ConfigurationError as exc:
        raise DecodeError(f"{what}: {exc}") from exc


# ------------------------------------------------------------------ the signed transcript

_Exchange = tuple[GetMeasurements, Measurements]


MAX_L1_EXCHANGES: Final = 256
"""The most GET_MEASUREMENTS/MEASUREMENTS exchanges one L1 may hold: one per measurement index
(1-0xFE), the count query (0) and the signed read (0xFF) at most.  A longer transcript is
refused before any of it costs more than its parse."""

_FIRST_WINDOW: Final = 1 << 10


def _decode_at(cls: type[M], transcript: bytes, position: int) -> M:
    """Decode the message of type ``cls`` at ``position`` in linear time.

    ``decode_head`` copies whatever it is given, so handing it the whole rest
    of the transcript for each message costs O(n^2) on a transcript of many
    small messages.  It is given a window instead, doubled while the message
    does not fit in it: each message costs O(its size + the first window).
    """
    window = _FIRST_WINDOW
    while True:
        end = position + window
        try:
            return cls.decode_head(transcript[position:end])
        except DecodeError:
            if end >= len(transcript):
                raise
        window *= 2


def _read_l1(transcript: bytes, version: SpdmVersion) -> tuple[Algorithms | None, list[_Exchange]]:
    """Split L1 into its messages: VCA (1.2+) and the measurement exchanges, the last one signed."""
    position = 0

    def take(cls: type[M]) -> M:
        nonlocal position
        try:
            message = _decode_at(cls, transcript, position)
        except DecodeError as exc:
            raise DecodeError(f"transcript byte {position}: {exc}") from exc
        if cls not in (GetVersion, Version) and message.spdm_version != version:
            raise DecodeError(f"transcript byte {position}: {cls.__name__} of SPDM version "
                              f"0x{message.spdm_version:02x}, the bundle states {version.text}")
        position += len(message.raw)
        return message

    algorithms = None
    if version >= SpdmVersion.V12:
        for cls in _VCA_REQUESTS_AND_RESPONSES:
            take(cls)
        algorithms = take(Algorithms)
    exchanges: list[_Exchange] = []
    while position < len(transcript) or not exchanges:
        if len(exchanges) == MAX_L1_EXCHANGES:
            raise DecodeError(f"transcript: more than {MAX_L1_EXCHANGES} measurement exchanges")
        request, response = take(GetMeasurements), take(Measurements)
        if exchanges and exchanges[-1][0].signature_requested:
            raise DecodeError("transcript: a signed GET_MEASUREMENTS ends L1, yet more follows it")
        if response.requester_context != request.requester_context:
            raise DecodeError("transcript: a MEASUREMENTS does not echo its request's RequesterContext")
        exchanges.append((request, response))
    if not exchanges[-1][0].signature_requested:
        raise DecodeError("transcript: its last GET_MEASUREMENTS does not ask for a signature")
    return algorithms, exchanges


def _check_algorithms(algorithms: Algorithms, hash_alg: BaseHashAlgo, asym_alg: SigningAlgo,
                      mhash: MeasurementHashAlgo) -> None:
    """The bundle's algorithms must be the ones the signed ALGORITHMS selected.

    The signature algorithm is compared by name: an ML-DSA set and a classic
    algorithm may share a number (ML-DSA-65 and RSAPSS-2048 are both 2).
    """
    for what, stated, signed in (("hash", hash_alg, algorithms.base_hash_sel),
                                 ("measurement_hash", mhash, algorithms.measurement_hash_algo)):
        if int(stated) != signed:
            raise VerificationError(f"algorithms.{what}: the bundle states 0x{int(stated):x}, "
                                    f"the signed ALGORITHMS selected 0x{signed:x}")
    selected = signed_signing_alg(algorithms)
    if signing_name(selected) != signing_name(asym_alg):
        raise VerificationError(f"algorithms.signature: the bundle states {signing_name(asym_alg)}, "
                                f"the signed ALGORITHMS selected {signing_name(selected)}")


def _signed_blocks(exchanges: list[_Exchange], mhash: MeasurementHashAlgo) -> tuple[MeasurementBlock, ...]:
    """The blocks of the signed MEASUREMENTS, once per index in transcript order, checked.

    An index may come back in two exchanges of one L1 (an unsigned read of one
    index, then the signed read of all); it must then say the same both times.
    """
    size = measurement_hash_size(mhash)
    blocks: dict[int, MeasurementBlock] = {}
    for _, response in exchanges:
        for block in response.blocks:
            if not block.raw_bit_stream and len(block.value) != size:
                raise DecodeError(f"transcript: measurement {block.index} is a {len(block.value)}-byte "
                                  f"digest, {measurement_hash_name(mhash)} makes {size}")
            if blocks.setdefault(block.index, block) != block:
                raise DecodeError(f"transcript: measurement {block.index} is reported twice, differently")
    return tuple(blocks.values())


_CopiedBlock = tuple[int, str, str, bytes]


def _measurement_copy(value: object) -> list[_CopiedBlock]:
    """The bundle's unsigned measurement copy, type-checked."""
    if not isinstance(value, list):
        raise DecodeError("measurements: a JSON array is expected")
    copy = []
    for position, item in enumerate(value):
        what = f"measurements[{position}]"
        entry = _object(item, what, _BLOCK_FIELDS)
        copy.append((_integer(entry["index"], f"{what}.index", 0xFF),
                     _string(entry["type"], f"{what}.type"),
                     _string(entry["representation"], f"{what}.representation"),
                     _hex(entry["value"], f"{what}.value")))
    return copy


def _check_copy(copy: list[_CopiedBlock], blocks: tuple[MeasurementBlock, ...]) -> None:
    """The unsigned measurement copy must say exactly what the signed blocks say."""
    if len(copy) != len(blocks):
        raise VerificationError(f"measurements: the bundle lists {len(copy)} blocks, "
                                f"the signed MEASUREMENTS holds {len(blocks)}")
    for position, (stated, block) in enumerate(zip(copy, blocks, strict=True)):
        genuine = measurement_dict(block)
        if stated != (block.index, genuine["type"], genuine["representation"], block.value):
            raise VerificationError(f"measurements[{position}] (index {block.index}) differs from "
                                    f"the signed MEASUREMENTS")
