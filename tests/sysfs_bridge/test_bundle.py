"""Evidence bundles: exported from a real authentication, verified offline, and every way they fail.

The bundles come from the emulated device signing its measurements over the
verifier's nonce; the failures are real edits of those files.  Transcripts
that no honest requester would produce are signed with the device's own key
(``DeviceModel.sign``), so the checks that run after the signature are reached.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest

from devsec.emulator import EmulatedDevice
from spdm.cma import AuthenticationReport, authenticate
from spdm.config import RequesterConfig, ResponderConfig
from spdm.crypto import Certificate, generate_device_identity
from spdm.errors import ConfigurationError, DecodeError, VerificationError
from spdm.messages import (
    Algorithms,
    Capabilities,
    GetCapabilities,
    GetMeasurements,
    GetVersion,
    MeasurementBlock,
    Measurements,
    NegotiateAlgorithms,
    Version,
)
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, MeasurementHashAlgo, SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from sysfs_bridge.bundle import FORMAT, MEASUREMENTS_CONTEXT, BundleVerdict, export_bundle, verify_bundle

from .helpers import model

NOW = datetime.now(UTC)
NONCE = bytes.fromhex("5f1c0ad43e8b97a2c6d04f1e2b3a596877869504132a3b4c5d6e7f8091a2b3c4")
VERSIONS = (SpdmVersion.V10, SpdmVersion.V11, SpdmVersion.V12, SpdmVersion.V13)
ASYM = BaseAsymAlgo.ECDSA_P256  # the fastest to verify; the algorithms themselves are test_pair's


@cache
def _report(version: SpdmVersion, asym: BaseAsymAlgo = ASYM) -> AuthenticationReport:
    prefs = replace(AlgorithmPreferences(), asym_algs=(asym,), hash_algs=(BaseHashAlgo.SHA_384,))
    device = EmulatedDevice(ResponderConfig(versions=(version,), algorithms=prefs), model(asym))
    config = RequesterConfig(trust_anchors=(_root(asym),))
    return authenticate(device.pipe(), config, now=NOW, measurement_nonce=NONCE)


def _root(asym: BaseAsymAlgo = ASYM) -> Certificate:
    return model(asym).root_certificate()


def _bundle(version: SpdmVersion = SpdmVersion.V13, asym: BaseAsymAlgo = ASYM) -> bytes:
    return export_bundle(_report(version, asym), NONCE)


def _doc(version: SpdmVersion = SpdmVersion.V13) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(_bundle(version))
    return doc


def _dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def _verify(data: bytes, nonce: bytes = NONCE, anchors: tuple[Certificate, ...] | None = None,
            ) -> BundleVerdict:
    return verify_bundle(data, nonce, anchors or (_root(),), NOW)


def _flipped(doc: dict[str, Any], field: str, position: int) -> bytes:
    data = bytearray(bytes.fromhex(doc[field]))
    data[position] ^= 0x01
    return _dump({**doc, field: data.hex()})


def _vca_length(transcript: bytes) -> int:
    """Where the measurement exchanges start in a 1.2+ L1: after the six VCA messages."""
    position = 0
    for cls in (GetVersion, Version, GetCapabilities, Capabilities, NegotiateAlgorithms, Algorithms):
        position += len(cls.decode_head(transcript[position:]).raw)
    return position


def _resigned(doc: dict[str, Any], transcript: bytes, version: SpdmVersion = SpdmVersion.V13) -> bytes:
    """The bundle with another transcript, signed by the device's own key."""
    signature = model(ASYM).sign(0, BaseHashAlgo.SHA_384, version, MEASUREMENTS_CONTEXT, transcript)
    return _dump({**doc, "transcript": transcript.hex(), "signature": signature.hex()})


# ------------------------------------------------------------------ export and verify


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.text)
def test_a_bundle_verifies_with_the_verifiers_nonce_and_root(version: SpdmVersion) -> None:
    report = _report(version)
    verdict = _verify(_bundle(version))
    assert report.measurements is not None
    assert verdict.version == version and verdict.slot_id == 0
    assert (verdict.hash_alg, verdict.asym_alg) == (BaseHashAlgo.SHA_384, ASYM)
    assert verdict.measurement_hash_alg == report.negotiated.measurement_hash_alg
    assert verdict.measurements == report.measurements.blocks and len(verdict.measurements) > 1
    assert verdict.chain.raw == report.chain.raw
    assert verdict.vca_signed == (version >= SpdmVersion.V12)


def test_the_format_is_self_describing_json() -> None:
    doc = _doc()
    assert doc["format"] == FORMAT == "devsec-evidence/1"
    assert doc["spdm_version"] == "1.3" and doc["slot"] == 0
    assert doc["algorithms"] == {"hash": "sha384", "signature": "ecdsa-p256", "measurement_hash": "sha384"}
    assert doc["signing_context"] == "responder-measurements signing"
    assert len(bytes.fromhex(doc["combined_spdm_prefix"])) == 100
    assert NONCE.hex() in doc["transcript"] and "nonce" not in doc  # only the signed nonce exists
    assert {b["representation"] for b in doc["measurements"]} <= {"digest", "raw"}
    assert _doc(SpdmVersion.V11)["combined_spdm_prefix"] == ""


def test_an_rsa_device_verifies_too() -> None:
    verdict = verify_bundle(_bundle(SpdmVersion.V12, BaseAsymAlgo.RSAPSS_2048), NONCE,
                            (_root(BaseAsymAlgo.RSAPSS_2048),), NOW)
    assert verdict.asym_alg == BaseAsymAlgo.RSAPSS_2048


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.text)
def test_a_bundle_signed_over_another_nonce_fails(version: SpdmVersion) -> None:
    other = bytes(reversed(NONCE))
    with pytest.raises(VerificationError, match="signed over another nonce"):
        _verify(_bundle(version), nonce=other)


def test_another_trust_root_fails() -> None:
    stranger = generate_device_identity(ASYM).root
    with pytest.raises(VerificationError, match="trusted root"):
        _verify(_bundle(), anchors=(stranger,))


def test_an_expired_chain_fails() -> None:
    with pytest.raises(VerificationError, match="not valid at"):
        verify_bundle(_bundle(), NONCE, (_root(),), NOW + timedelta(days=365 * 30))


def test_export_refuses_a_report_without_the_nonce_or_signed_measurements() -> None:
    report = _report(SpdmVersion.V13)
    with pytest.raises(ConfigurationError, match="another nonce"):
        export_bundle(report, bytes(32))
    with pytest.raises(ConfigurationError, match="no signed measurements"):
        export_bundle(replace(report, measurements=None), NONCE)


def test_caller_mistakes_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="32 bytes, not 31"):
        verify_bundle(_bundle(), NONCE[:31], (_root(),), NOW)
    with pytest.raises(ConfigurationError, match="no trust anchor"):
        verify_bundle(_bundle(), NONCE, (), NOW)


# ------------------------------------------------------------------ tampering


@pytest.mark.parametrize("version", (SpdmVersion.V11, SpdmVersion.V12, SpdmVersion.V13), ids=lambda v: v.text)
@pytest.mark.parametrize("field", ["transcript", "signature", "certificate_chain"])
def test_a_flipped_byte_fails(version: SpdmVersion, field: str) -> None:
    doc = _doc(version)
    size = len(bytes.fromhex(doc[field]))
    for position in (0, size // 3, size // 2, size - 1):
        with pytest.raises((DecodeError, VerificationError)):
            _verify(_flipped(doc, field, position))


def test_every_flipped_byte_of_the_transcript_and_signature_fails() -> None:
    doc = _doc(SpdmVersion.V13)
    for field in ("transcript", "signature"):
        for position in range(len(bytes.fromhex(doc[field]))):
            with pytest.raises((DecodeError, VerificationError)):
                _verify(_flipped(doc, field, position))


def test_flipped_certificate_bytes_fail() -> None:
    doc = _doc(SpdmVersion.V12)
    for position in range(0, len(bytes.fromhex(doc["certificate_chain"])), 23):
        with pytest.raises((DecodeError, VerificationError)):
            _verify(_flipped(doc, "certificate_chain", position))


@pytest.mark.parametrize("version", (SpdmVersion.V11, SpdmVersion.V13), ids=lambda v: v.text)
def test_an_edited_measurement_copy_fails(version: SpdmVersion) -> None:
    doc = _doc(version)
    blocks = doc["measurements"]
    value = bytearray(bytes.fromhex(blocks[1]["value"]))
    value[0] ^= 0xFF
    edits = [
        [*blocks[:1], {**blocks[1], "value": value.hex()}, *blocks[2:]],
        [*blocks[:1], {**blocks[1], "type": "hardware-configuration"}, *blocks[2:]],
        [*blocks[:1], {**blocks[1], "representation": {"raw": "digest", "digest": "raw"}[
            blocks[1]["representation"]]}, *blocks[2:]],
        [*blocks[:1], {**blocks[1], "index": 0x42}, *blocks[2:]],
        blocks[1:],
        list(reversed(blocks)),
    ]
    for edited in edits:
        with pytest.raises(VerificationError, match="measurements"):
            _verify(_dump({**doc, "measurements": edited}))
    upper = [{**b, "value": b["value"].upper()} for b in blocks]
    assert _verify(_dump({**doc, "measurements": upper})).measurements  # the same bytes


@pytest.mark.parametrize(("field", "value", "match"), [
    ("spdm_version", "1.2", "version 0x13, the bundle states 1.2"),
    ("spdm_version", "1.1", "transcript byte 0"),
    ("spdm_version", "2.0", "unknown SPDM version"),
    ("spdm_version", 1.3, "a string is expected"),
    ("slot", 8, "an integer 0-7"),
    ("slot", True, "an integer 0-7"),
    ("signing_context", "responder-challenge_auth signing", "a bundle carries"),
    ("combined_spdm_prefix", "", "not the SPDM 1.3 prefix"),
    ("transcript", "zz", "transcript: not hex"),
    ("transcript", "", "transcript byte 0"),
    ("signature", None, "signature: a string is expected"),
    ("certificate_chain", "00", "shorter than its header"),
    ("measurements", {}, "a JSON array is expected"),
    ("measurements", [{"index": 1}], r"missing type, representation, value"),
    ("algorithms", {"hash": "sha384"}, "missing signature, measurement_hash"),
    ("algorithms", {"hash": "md5", "signature": "ecdsa-p256", "measurement_hash": "sha384"}, "unknown hash"),
    ("format", "devsec-evidence/2", "this devsec reads 'devsec-evidence/1'"),
])
def test_a_malformed_field_is_named(field: str, value: object, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        _verify(_dump({**_doc(), field: value}))


def test_missing_and_unknown_fields_are_named() -> None:
    doc = _doc()
    del doc["signature"]
    with pytest.raises(DecodeError, match="missing signature"):
        _verify(_dump(doc))
    with pytest.raises(DecodeError, match="unknown nonce"):
        _verify(_dump({**_doc(), "nonce": NONCE.hex()}))


def test_stated_algorithms_must_be_the_signed_ones() -> None:
    doc = _doc(SpdmVersion.V13)
    same_size = {**doc["algorithms"], "measurement_hash": "sha3384"}
    with pytest.raises(VerificationError, match="algorithms.measurement_hash"):
        _verify(_dump({**doc, "algorithms": same_size}))
    with pytest.raises(VerificationError, match="does not fit"):
        _verify(_dump({**doc, "algorithms": {**doc["algorithms"], "signature": "ecdsa-p384"}}))
    # Before 1.2 nothing signed states the measurement hash: only the digest size binds it.
    old = _doc(SpdmVersion.V11)
    verdict = _verify(_dump({**old, "algorithms": {**old["algorithms"], "measurement_hash": "sha3384"}}))
    assert verdict.measurement_hash_alg == MeasurementHashAlgo.SHA3_384 and not verdict.vca_signed
    with pytest.raises(DecodeError, match="48-byte digest, sha256 makes 32"):
        _verify(_dump({**old, "algorithms": {**old["algorithms"], "measurement_hash": "sha256"}}))


@pytest.mark.parametrize("data", [
    b"", b"\x89PNG\r\n\x1a\n", b"\xff\xfe{}", b"null", b"[]", b'"devsec-evidence/1"', b"{}",
    b"[" * 100_000, b'{"format": "devsec-evidence/1"}',
], ids=["empty", "png", "not-utf8", "null", "array", "string", "empty-object", "deep", "format-only"])
def test_a_file_that_is_no_bundle_fails_with_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError, match="bundle"):
        _verify(data)


def test_a_truncated_bundle_fails_with_a_decode_error() -> None:
    data = _bundle()
    for size in range(0, len(data) - 2, 97):  # the last two bytes are "}\n": still a whole document
        with pytest.raises(DecodeError):
            _verify(data[:size])


# ------------------------------------------------------------------ transcripts signed by the device


def _unsigned_exchange(block: MeasurementBlock) -> bytes:
    """An unsigned GET_MEASUREMENTS of one index and its MEASUREMENTS (SPDM 1.3)."""
    context = bytes(8)
    request = GetMeasurements(spdm_version=0x13, operation=block.index, requester_context=context)
    response = Measurements(spdm_version=0x13, blocks=(block,), nonce=bytes(32), requester_context=context)
    return request.encode() + response.encode()


def test_earlier_unsigned_exchanges_are_signed_too_and_must_agree() -> None:
    doc = _doc(SpdmVersion.V13)
    transcript = bytes.fromhex(doc["transcript"])
    vca, measured = transcript[:_vca_length(transcript)], transcript[_vca_length(transcript):]
    first = _verify(_bundle()).measurements[0]
    agreeing = vca + _unsigned_exchange(first) + measured
    assert _verify(_resigned(doc, agreeing)).measurements == _verify(_bundle()).measurements
    differing = vca + _unsigned_exchange(replace(first, value=bytes(len(first.value)))) + measured
    with pytest.raises(DecodeError, match="reported twice, differently"):
        _verify(_resigned(doc, differing))
    after = vca + measured + _unsigned_exchange(MeasurementBlock(0x10, 0x01, bytes(48)))
    with pytest.raises(DecodeError, match="ends L1, yet more follows"):
        _verify(_resigned(doc, after))
    unsigned_only = vca + _unsigned_exchange(MeasurementBlock(0x10, 0x01, bytes(48)))
    with pytest.raises(DecodeError, match="does not ask for a signature"):
        _verify(_resigned(doc, unsigned_only))


def test_the_signed_slot_must_be_the_stated_one() -> None:
    with pytest.raises(VerificationError, match="states slot 1"):
        _verify(_dump({**_doc(), "slot": 1}))


def test_a_digest_of_the_wrong_size_in_a_signed_transcript_fails() -> None:
    doc = _doc(SpdmVersion.V13)
    transcript = bytes.fromhex(doc["transcript"])
    vca = transcript[:_vca_length(transcript)]
    measured = transcript[len(vca):]
    short = vca + _unsigned_exchange(MeasurementBlock(0x10, 0x01, bytes(20))) + measured
    with pytest.raises(DecodeError, match="20-byte digest"):
        _verify(_resigned(doc, short))
