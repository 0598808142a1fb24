"""Tests for spdm.crypto.signatures: sizes, the 1.2+ prefix, sign/verify and encodings.

Encodings are cross-checked with ``cryptography`` directly (independent of the
module under test): PSS salt length, raw r||s, what exactly is signed per version.
"""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from spdm.crypto.hashes import digest
from spdm.crypto.signatures import (
    PrivateKey,
    PublicKey,
    generate_private_key,
    load_private_key_pem,
    sign,
    signature_size,
    signing_context_prefix,
    verify,
)
from spdm.errors import ConfigurationError, LocalProtocolError, VerificationError
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, SpdmVersion

CONTEXT = "responder-challenge_auth signing"
TRANSCRIPT = b"VCA || B || C, as exact message bytes" * 3
SHA384 = BaseHashAlgo.SHA_384

SUPPORTED: list[BaseAsymAlgo] = [asym for asym in BaseAsymAlgo if asym != BaseAsymAlgo.SM2_P256]
VERSIONS = [SpdmVersion.V11, SpdmVersion.V12, SpdmVersion.V13]
# Ed448 at 1.2+ is refused (no EdDSA context in cryptography): test_ed448_1_2_needs_context.
ROUND_TRIPS = [(asym, version) for asym in SUPPORTED for version in VERSIONS
               if not (asym == BaseAsymAlgo.EDDSA_ED448 and version >= SpdmVersion.V12)]


def _id(value: object) -> str:
    return str(getattr(value, "name", value))


PSS_TO_SSA = {
    BaseAsymAlgo.RSAPSS_2048: BaseAsymAlgo.RSASSA_2048,
    BaseAsymAlgo.RSAPSS_3072: BaseAsymAlgo.RSASSA_3072,
    BaseAsymAlgo.RSAPSS_4096: BaseAsymAlgo.RSASSA_4096,
}


@pytest.fixture(scope="module")
def keys() -> dict[BaseAsymAlgo, PrivateKey]:
    """One key per algorithm; RSASSA and RSAPSS of one size share a key (RSA is slow)."""
    out: dict[BaseAsymAlgo, PrivateKey] = {
        asym: generate_private_key(asym) for asym in SUPPORTED if asym not in PSS_TO_SSA}
    for pss, ssa in PSS_TO_SSA.items():
        out[pss] = load_private_key_pem(out[ssa].to_pem(), pss)
    return out


def _raw_public(key: PublicKey) -> object:
    return serialization.load_der_public_key(key.to_der())


@pytest.mark.parametrize(("asym", "size"), [
    (BaseAsymAlgo.RSASSA_2048, 256), (BaseAsymAlgo.RSAPSS_3072, 384),
    (BaseAsymAlgo.RSASSA_4096, 512), (BaseAsymAlgo.ECDSA_P256, 64),
    (BaseAsymAlgo.ECDSA_P384, 96), (BaseAsymAlgo.ECDSA_P521, 132),
    (BaseAsymAlgo.SM2_P256, 64), (BaseAsymAlgo.EDDSA_ED25519, 64),
    (BaseAsymAlgo.EDDSA_ED448, 114),
], ids=_id)
def test_signature_size(asym: BaseAsymAlgo, size: int) -> None:
    assert signature_size(asym) == size


def test_signature_size_rejects_combinations() -> None:
    with pytest.raises(ConfigurationError):
        signature_size(BaseAsymAlgo.ECDSA_P256 | BaseAsymAlgo.ECDSA_P384)
    with pytest.raises(ConfigurationError):
        signature_size(BaseAsymAlgo(0))


def test_prefix_challenge_auth_1_2_exact_bytes() -> None:
    prefix = signing_context_prefix(SpdmVersion.V12, CONTEXT)
    assert prefix == b"dmtf-spdm-v1.2.*" * 4 + bytes(4) + b"responder-challenge_auth signing"
    assert len(prefix) == 100


def test_prefix_uses_negotiated_version_and_right_aligns() -> None:
    prefix = signing_context_prefix(SpdmVersion.V13, "requester-finish signing")
    assert prefix[:64] == b"dmtf-spdm-v1.3.*" * 4
    assert prefix[64:76] == bytes(12)
    assert prefix[76:] == b"requester-finish signing"


@pytest.mark.parametrize(("version", "context"), [
    (SpdmVersion.V11, CONTEXT), (SpdmVersion.V10, CONTEXT),
    (SpdmVersion.V12, "x" * 37), (SpdmVersion.V12, "résponder"),
], ids=["1.1", "1.0", "too-long", "non-ascii"])
def test_prefix_rejects_bad_input(version: SpdmVersion, context: str) -> None:
    with pytest.raises(LocalProtocolError):
        signing_context_prefix(version, context)


def test_prefix_accepts_36_byte_context() -> None:
    assert signing_context_prefix(SpdmVersion.V12, "y" * 36)[64:] == b"y" * 36


@pytest.mark.parametrize(("asym", "version"), ROUND_TRIPS, ids=_id)
def test_round_trip(keys: dict[BaseAsymAlgo, PrivateKey], asym: BaseAsymAlgo,
                    version: SpdmVersion) -> None:
    key = keys[asym]
    signature = sign(key, SHA384, version, CONTEXT, TRANSCRIPT)
    assert len(signature) == signature_size(asym)
    verify(key.public_key(), asym, SHA384, version, CONTEXT, TRANSCRIPT, signature)


@pytest.mark.parametrize("version", [SpdmVersion.V12, SpdmVersion.V13], ids=_id)
def test_ed448_1_2_needs_context(keys: dict[BaseAsymAlgo, PrivateKey],
                                 version: SpdmVersion) -> None:
    key = keys[BaseAsymAlgo.EDDSA_ED448]
    with pytest.raises(ConfigurationError, match="EdDSA context"):
        sign(key, SHA384, version, CONTEXT, TRANSCRIPT)
    with pytest.raises(ConfigurationError, match="EdDSA context"):
        verify(key.public_key(), BaseAsymAlgo.EDDSA_ED448, SHA384, version, CONTEXT,
               TRANSCRIPT, bytes(114))


def test_sm2_is_configuration_error(keys: dict[BaseAsymAlgo, PrivateKey]) -> None:
    with pytest.raises(ConfigurationError, match="SM2"):
        generate_private_key(BaseAsymAlgo.SM2_P256)
    with pytest.raises(ConfigurationError, match="SM2"):
        verify(keys[BaseAsymAlgo.ECDSA_P256].public_key(), BaseAsymAlgo.SM2_P256, SHA384,
               SpdmVersion.V12, CONTEXT, TRANSCRIPT, bytes(64))


NEGATIVE = [BaseAsymAlgo.ECDSA_P256, BaseAsymAlgo.RSAPSS_2048, BaseAsymAlgo.RSASSA_2048,
            BaseAsymAlgo.EDDSA_ED25519]


@pytest.mark.parametrize("asym", NEGATIVE, ids=_id)
def test_tampering_is_verification_error(keys: dict[BaseAsymAlgo, PrivateKey],
                                         asym: BaseAsymAlgo) -> None:
    key = keys[asym]
    version = SpdmVersion.V12
    signature = sign(key, SHA384, version, CONTEXT, TRANSCRIPT)
    public = key.public_key()
    flipped = bytearray(signature)
    flipped[len(flipped) // 2] ^= 0x01
    cases = {
        "transcript": (TRANSCRIPT + b"!", signature, CONTEXT),
        "signature": (TRANSCRIPT, bytes(flipped), CONTEXT),
        "context": (TRANSCRIPT, signature, "responder-measurements signing"),
    }
    for transcript, sig, context in cases.values():
        with pytest.raises(VerificationError, match=asym.name):
            verify(public, asym, SHA384, version, context, transcript, sig)
    with pytest.raises(VerificationError, match="bytes, expected"):
        verify(public, asym, SHA384, version, CONTEXT, TRANSCRIPT, signature[:-1])
    with pytest.raises(VerificationError, match="bytes, expected"):
        verify(public, asym, SHA384, version, CONTEXT, TRANSCRIPT, signature + b"\x00")


@pytest.mark.parametrize("asym", NEGATIVE, ids=_id)
def test_wrong_key_is_verification_error(asym: BaseAsymAlgo) -> None:
    key, other = generate_private_key(asym), generate_private_key(asym)
    signature = sign(key, SHA384, SpdmVersion.V11, CONTEXT, TRANSCRIPT)
    with pytest.raises(VerificationError, match="does not verify"):
        verify(other.public_key(), asym, SHA384, SpdmVersion.V11, CONTEXT, TRANSCRIPT, signature)


def test_key_that_does_not_fit_asym(keys: dict[BaseAsymAlgo, PrivateKey]) -> None:
    signature = sign(keys[BaseAsymAlgo.ECDSA_P256], SHA384, SpdmVersion.V12, CONTEXT, TRANSCRIPT)
    with pytest.raises(VerificationError, match="does not fit EDDSA_ED25519"):
        verify(keys[BaseAsymAlgo.ECDSA_P256].public_key(), BaseAsymAlgo.EDDSA_ED25519, SHA384,
               SpdmVersion.V12, CONTEXT, TRANSCRIPT, signature)


def test_rsapss_salt_is_hash_length(keys: dict[BaseAsymAlgo, PrivateKey]) -> None:
    key = keys[BaseAsymAlgo.RSAPSS_3072]
    signature = sign(key, SHA384, SpdmVersion.V12, CONTEXT, TRANSCRIPT)
    raw = _raw_public(key.public_key())
    assert isinstance(raw, rsa.RSAPublicKey)
    message = signing_context_prefix(SpdmVersion.V12, CONTEXT) + digest(SHA384, TRANSCRIPT)

    def pss(salt: int) -> padding.PSS:
        return padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=salt)

    raw.verify(signature, message, pss(48), hashes.SHA384())
    for wrong in (0, 32):
        with pytest.raises(InvalidSignature):
            raw.verify(signature, message, pss(wrong), hashes.SHA384())
    # And our verify insists on salt 48: a salt-0 PSS signature must fail.
    private = serialization.load_pem_private_key(key.to_pem(), None)
    assert isinstance(private, rsa.RSAPrivateKey)
    salt0 = private.sign(message, pss(0), hashes.SHA384())
    with pytest.raises(VerificationError):
        verify(key.public_key(), BaseAsymAlgo.RSAPSS_3072, SHA384, SpdmVersion.V12, CONTEXT,
               TRANSCRIPT, salt0)


def test_rsassa_is_pkcs1v15_over_transcript_before_1_2(
        keys: dict[BaseAsymAlgo, PrivateKey]) -> None:
    key = keys[BaseAsymAlgo.RSASSA_2048]
    signature = sign(key, BaseHashAlgo.SHA_256, SpdmVersion.V11, CONTEXT, TRANSCRIPT)
    raw = _raw_public(key.public_key())
    assert isinstance(raw, rsa.RSAPublicKey)
    raw.verify(signature, TRANSCRIPT, padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize(("asym", "coord"), [
    (BaseAsymAlgo.ECDSA_P256, 32), (BaseAsymAlgo.ECDSA_P384, 48), (BaseAsymAlgo.ECDSA_P521, 66),
], ids=_id)
def test_ecdsa_is_raw_r_s(keys: dict[BaseAsymAlgo, PrivateKey], asym: BaseAsymAlgo,
                          coord: int) -> None:
    key = keys[asym]
    raw = _raw_public(key.public_key())
    assert isinstance(raw, ec.EllipticCurvePublicKey)
    message = signing_context_prefix(SpdmVersion.V12, CONTEXT) + digest(SHA384, TRANSCRIPT)
    for _ in range(4):  # different nonces: short r/s must still be left-padded
        signature = sign(key, SHA384, SpdmVersion.V12, CONTEXT, TRANSCRIPT)
        assert len(signature) == 2 * coord
        r, s = int.from_bytes(signature[:coord], "big"), int.from_bytes(signature[coord:], "big")
        raw.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA384()))
        with pytest.raises(InvalidSignature):  # it is not DER
            raw.verify(signature, message, ec.ECDSA(hashes.SHA384()))


def test_ed25519_1_2_is_pure_over_prefix_and_hash(keys: dict[BaseAsymAlgo, PrivateKey]) -> None:
    key = keys[BaseAsymAlgo.EDDSA_ED25519]
    signature = sign(key, SHA384, SpdmVersion.V12, CONTEXT, TRANSCRIPT)
    raw = _raw_public(key.public_key())
    assert isinstance(raw, ed25519.Ed25519PublicKey)
    raw.verify(signature,
               signing_context_prefix(SpdmVersion.V12, CONTEXT) + digest(SHA384, TRANSCRIPT))
    v11 = sign(key, SHA384, SpdmVersion.V11, CONTEXT, TRANSCRIPT)
    raw.verify(v11, TRANSCRIPT)


def test_public_key_matches_and_equality(keys: dict[BaseAsymAlgo, PrivateKey]) -> None:
    p256 = keys[BaseAsymAlgo.ECDSA_P256].public_key()
    assert p256.matches(BaseAsymAlgo.ECDSA_P256)
    assert not p256.matches(BaseAsymAlgo.ECDSA_P384)
    rsa2048 = keys[BaseAsymAlgo.RSASSA_2048].public_key()
    assert rsa2048.matches(BaseAsymAlgo.RSASSA_2048)
    assert rsa2048.matches(BaseAsymAlgo.RSAPSS_2048)
    assert not rsa2048.matches(BaseAsymAlgo.RSASSA_3072)
    assert not rsa2048.matches(BaseAsymAlgo.SM2_P256)
    assert rsa2048 == keys[BaseAsymAlgo.RSAPSS_2048].public_key()
    assert hash(rsa2048) == hash(keys[BaseAsymAlgo.RSAPSS_2048].public_key())
    assert p256 != rsa2048
    assert p256 != object()


def test_public_key_of_non_spdm_type_or_size() -> None:
    p224 = PublicKey(ec.generate_private_key(ec.SECP224R1()).public_key())
    assert not any(p224.matches(asym) for asym in BaseAsymAlgo)
    assert repr(p224).startswith("PublicKey(") and "PublicKey" in repr(p224)[10:]
    with pytest.raises(ConfigurationError, match="unsupported public key type"):
        PublicKey(x25519.X25519PrivateKey.generate().public_key())


def test_generate_rejects_combined_bits() -> None:
    with pytest.raises(ConfigurationError, match="not a single supported"):
        generate_private_key(BaseAsymAlgo.ECDSA_P256 | BaseAsymAlgo.ECDSA_P384)


def test_private_key_repr_hides_material(keys: dict[BaseAsymAlgo, PrivateKey]) -> None:
    key = keys[BaseAsymAlgo.ECDSA_P384]
    assert repr(key) == "PrivateKey(asym=ECDSA_P384)"
    assert key.to_pem().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_load_private_key_pem(keys: dict[BaseAsymAlgo, PrivateKey]) -> None:
    for asym in (BaseAsymAlgo.ECDSA_P521, BaseAsymAlgo.EDDSA_ED448, BaseAsymAlgo.RSASSA_3072):
        loaded = load_private_key_pem(keys[asym].to_pem())
        assert loaded.asym == asym
        assert loaded.public_key() == keys[asym].public_key()
    # PEM cannot say PSS: inference picks RSASSA, an explicit asym picks PSS.
    assert load_private_key_pem(keys[BaseAsymAlgo.RSAPSS_2048].to_pem()).asym == \
        BaseAsymAlgo.RSASSA_2048


@pytest.mark.parametrize("make", [
    lambda: ec.generate_private_key(ec.SECP224R1()),
    lambda: rsa.generate_private_key(65537, 1024),
    x25519.X25519PrivateKey.generate,
], ids=["secp224r1", "rsa1024", "x25519"])
def test_load_private_key_rejects_non_spdm_keys(make: object) -> None:
    assert callable(make)
    pem = make().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    with pytest.raises(ConfigurationError):
        load_private_key_pem(pem)
    with pytest.raises(ConfigurationError):
        load_private_key_pem(pem, BaseAsymAlgo.ECDSA_P256)


def test_load_private_key_errors(keys: dict[BaseAsymAlgo, PrivateKey]) -> None:
    with pytest.raises(ConfigurationError, match="cannot load"):
        load_private_key_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigurationError, match="does not fit"):
        load_private_key_pem(keys[BaseAsymAlgo.ECDSA_P256].to_pem(), BaseAsymAlgo.ECDSA_P384)
    with pytest.raises(ConfigurationError, match="does not fit"):
        load_private_key_pem(keys[BaseAsymAlgo.RSASSA_2048].to_pem(), BaseAsymAlgo.RSAPSS_3072)
