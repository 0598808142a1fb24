"""ML-DSA (SPDM 1.4 PqcAsymAlgo) through spdm.crypto.signatures: sizes, keys, what is signed.

What is signed is cross-checked with ``cryptography`` directly: ``combined_spdm_prefix ||
Hash(transcript)`` under pure ML-DSA with the signing context string as the FIPS 204 context
(the reference's rule; tests/spdm/crypto/test_mldsa_vectors.py checks it on the capture's bytes).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import mldsa

from spdm.crypto import (
    DeviceIdentity,
    asym_fields,
    build_spdm_cert_chain,
    generate_device_identity,
    parse_spdm_cert_chain,
    validate_cert_chain,
)
from spdm.crypto.hashes import digest
from spdm.crypto.signatures import (
    PublicKey,
    generate_private_key,
    load_private_key_pem,
    sign,
    signature_size,
    signing_context_prefix,
    verify,
)
from spdm.errors import ConfigurationError, VerificationError
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, PqcAsymAlgo, SpdmVersion

CONTEXT = "responder-challenge_auth signing"
TRANSCRIPT = b"A || B || C of an ML-DSA connection" * 5
SHA384 = BaseHashAlgo.SHA_384
V13 = SpdmVersion.V13
SIZES = {PqcAsymAlgo.ML_DSA_44: 2420, PqcAsymAlgo.ML_DSA_65: 3309, PqcAsymAlgo.ML_DSA_87: 4627}


def _id(value: object) -> str:
    return str(getattr(value, "name", value))


@pytest.fixture(scope="module")
def identities() -> dict[PqcAsymAlgo, DeviceIdentity]:
    return {alg: generate_device_identity(alg) for alg in PqcAsymAlgo}


@pytest.mark.parametrize(("alg", "size"), SIZES.items(), ids=_id)
def test_signature_sizes(alg: PqcAsymAlgo, size: int) -> None:
    assert signature_size(alg) == size
    assert len(sign(generate_private_key(alg), SHA384, V13, CONTEXT, TRANSCRIPT)) == size


def test_pqc_bits_are_not_their_base_asym_twins() -> None:
    # ML_DSA_65 == RSAPSS_2048 == 2 as integers: every function must go by the enum type.
    assert int(PqcAsymAlgo.ML_DSA_65) == int(BaseAsymAlgo.RSAPSS_2048)
    assert signature_size(BaseAsymAlgo.RSAPSS_2048) == 256
    assert signature_size(PqcAsymAlgo.ML_DSA_65) == 3309
    key = generate_private_key(PqcAsymAlgo.ML_DSA_65)
    assert key.asym is PqcAsymAlgo.ML_DSA_65
    public = key.public_key()
    assert public.matches(PqcAsymAlgo.ML_DSA_65)
    assert not public.matches(BaseAsymAlgo.RSAPSS_2048)
    assert not public.matches(PqcAsymAlgo.ML_DSA_44)
    assert not generate_private_key(BaseAsymAlgo.RSAPSS_2048).public_key().matches(PqcAsymAlgo.ML_DSA_65)
    assert asym_fields(PqcAsymAlgo.ML_DSA_65) == (BaseAsymAlgo(0), PqcAsymAlgo.ML_DSA_65)
    assert asym_fields(BaseAsymAlgo.RSAPSS_2048) == (BaseAsymAlgo.RSAPSS_2048, PqcAsymAlgo(0))


@pytest.mark.parametrize("alg", list(PqcAsymAlgo), ids=_id)
def test_signed_bytes_are_prefix_and_hash_under_the_context(alg: PqcAsymAlgo) -> None:
    key = generate_private_key(alg)
    signature = sign(key, SHA384, V13, CONTEXT, TRANSCRIPT)
    raw = key._key
    assert isinstance(raw, mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey)
    message = signing_context_prefix(V13, CONTEXT) + digest(SHA384, TRANSCRIPT)
    raw.public_key().verify(signature, message, CONTEXT.encode())
    with pytest.raises(InvalidSignature):
        raw.public_key().verify(signature, message)  # the FIPS 204 context is part of it
    verify(key.public_key(), alg, SHA384, V13, CONTEXT, TRANSCRIPT, signature)


def test_wrong_context_transcript_length_or_key_fail() -> None:
    alg = PqcAsymAlgo.ML_DSA_44
    key = generate_private_key(alg)
    signature = sign(key, SHA384, V13, CONTEXT, TRANSCRIPT)
    public = key.public_key()
    with pytest.raises(VerificationError, match="does not verify"):
        verify(public, alg, SHA384, V13, "responder-key_exchange_rsp signing", TRANSCRIPT, signature)
    with pytest.raises(VerificationError, match="does not verify"):
        verify(public, alg, SHA384, V13, CONTEXT, TRANSCRIPT + b"x", signature)
    with pytest.raises(VerificationError, match="2419 bytes, expected 2420"):
        verify(public, alg, SHA384, V13, CONTEXT, TRANSCRIPT, signature[:-1])
    other = generate_private_key(alg).public_key()
    with pytest.raises(VerificationError, match="does not verify"):
        verify(other, alg, SHA384, V13, CONTEXT, TRANSCRIPT, signature)
    with pytest.raises(VerificationError, match="does not fit ML_DSA_65"):
        verify(public, PqcAsymAlgo.ML_DSA_65, SHA384, V13, CONTEXT, TRANSCRIPT, bytes(3309))


def test_mldsa_needs_the_signing_prefix() -> None:
    key = generate_private_key(PqcAsymAlgo.ML_DSA_44)
    with pytest.raises(ConfigurationError, match="1.2"):
        sign(key, SHA384, SpdmVersion.V11, CONTEXT, TRANSCRIPT)
    with pytest.raises(ConfigurationError, match="1.2"):
        verify(key.public_key(), PqcAsymAlgo.ML_DSA_44, SHA384, SpdmVersion.V11, CONTEXT,
               TRANSCRIPT, bytes(2420))


def test_not_a_single_pqc_algorithm() -> None:
    both = PqcAsymAlgo.ML_DSA_44 | PqcAsymAlgo.ML_DSA_65
    with pytest.raises(ConfigurationError, match="PqcAsymAlgo"):
        generate_private_key(both)
    with pytest.raises(ConfigurationError, match="PqcAsymAlgo"):
        signature_size(PqcAsymAlgo(0))


@pytest.mark.parametrize("alg", list(PqcAsymAlgo), ids=_id)
def test_pem_round_trip_infers_the_parameter_set(alg: PqcAsymAlgo) -> None:
    key = generate_private_key(alg)
    loaded = load_private_key_pem(key.to_pem())
    assert loaded.asym is alg
    assert loaded.public_key() == key.public_key()
    with pytest.raises(ConfigurationError, match="does not fit"):
        load_private_key_pem(key.to_pem(), BaseAsymAlgo.ECDSA_P384)


@pytest.mark.parametrize("alg", list(PqcAsymAlgo), ids=_id)
def test_generated_identity_is_an_spdm_chain(identities: dict[PqcAsymAlgo, DeviceIdentity],
                                             alg: PqcAsymAlgo) -> None:
    identity = identities[alg]
    raw = build_spdm_cert_chain(identity.certificates, SHA384)
    chain = parse_spdm_cert_chain(raw, SHA384)
    validate_cert_chain(chain, [identity.root], alg, now=datetime.now(UTC))
    assert all(cert.public_key().matches(alg) for cert in chain.certificates)
    signature = sign(identity.leaf_key, SHA384, V13, CONTEXT, TRANSCRIPT)
    verify(chain.leaf.public_key(), alg, SHA384, V13, CONTEXT, TRANSCRIPT, signature)


def test_chain_of_one_parameter_set_does_not_fit_another(
        identities: dict[PqcAsymAlgo, DeviceIdentity]) -> None:
    identity = identities[PqcAsymAlgo.ML_DSA_87]
    chain = parse_spdm_cert_chain(build_spdm_cert_chain(identity.certificates, SHA384), SHA384)
    for other in (PqcAsymAlgo.ML_DSA_44, BaseAsymAlgo.RSASSA_4096):
        with pytest.raises(VerificationError, match="leaf public key does not fit"):
            validate_cert_chain(chain, [identity.root], other, now=datetime.now(UTC))


def test_tampered_mldsa_certificate_fails(identities: dict[PqcAsymAlgo, DeviceIdentity]) -> None:
    identity = identities[PqcAsymAlgo.ML_DSA_44]
    raw = bytearray(build_spdm_cert_chain(identity.certificates, SHA384))
    raw[-10] ^= 1  # inside the leaf's signature
    chain = parse_spdm_cert_chain(bytes(raw), SHA384)
    with pytest.raises(VerificationError, match="certificate 2 .*signature does not verify"):
        validate_cert_chain(chain, [identity.root], PqcAsymAlgo.ML_DSA_44, now=datetime.now(UTC))


def test_public_key_wraps_mldsa_keys() -> None:
    raw = mldsa.MLDSA65PrivateKey.generate().public_key()
    key = PublicKey(raw)
    assert key.matches(PqcAsymAlgo.ML_DSA_65)
    assert "MLDSA65" in repr(key)
