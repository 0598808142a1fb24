"""devsec's one door to ``cryptography`` (STYLE R9).

Nothing else in devsec imports ``cryptography``: engines, codecs and tools call
these small typed functions, which take SPDM algorithm codes, speak wire
encodings (raw r||s, X||Y, padded secrets) and raise devsec errors
(``VerificationError`` for every failed check, never a bool).

Submodules: :mod:`.hashes` (hash, transcript hash, HMAC, HKDF), :mod:`.signatures`
(keys, signing prefix, sign/verify), :mod:`.certs` (X.509, SPDM cert chains,
validation), :mod:`.identity` (generated device identities), :mod:`.csr` (CSRs and the
leaves a CA issues from them), :mod:`.dhe` (ECDHE/FFDHE), :mod:`.kem` (ML-KEM, the
SPDM 1.4 key encapsulation), :mod:`.aead` (AES-GCM, ChaCha20-Poly1305).  Signatures
cover ML-DSA (SPDM 1.4 PqcAsymAlgo) too: see :data:`.signatures.SigningAlgo`.
"""

from __future__ import annotations

from spdm.crypto.aead import AeadCipher, aead_iv_size, aead_key_size, aead_open, aead_seal, aead_tag_size
from spdm.crypto.certs import (
    Certificate,
    SpdmCertChain,
    build_spdm_cert_chain,
    load_certificates,
    parse_der_certificates,
    parse_spdm_cert_chain,
    validate_cert_chain,
)
from spdm.crypto.csr import CertificateRequest, build_csr, generate_ca, issue_leaf_from_csr, load_csr
from spdm.crypto.dhe import DheKeyPair, dhe_public_size, dhe_secret_size, generate_dhe_key
from spdm.crypto.hashes import (
    TranscriptHash,
    constant_time_equal,
    digest,
    hash_size,
    hkdf_expand,
    hkdf_extract,
    hmac_digest,
    hmac_verify,
    measurement_digest,
    measurement_hash_size,
)
from spdm.crypto.identity import DeviceIdentity, generate_device_identity
from spdm.crypto.kem import (
    KemKeyPair,
    generate_kem_key,
    kem_ciphertext_size,
    kem_encapsulate,
    kem_encapsulation_key_size,
    kem_secret_size,
    kem_supported,
)
from spdm.crypto.signatures import (
    PrivateKey,
    PublicKey,
    SigningAlgo,
    asym_fields,
    generate_private_key,
    load_private_key_pem,
    sign,
    signature_size,
    signing_context_prefix,
    verify,
)

__all__ = [
    "AeadCipher",
    "Certificate",
    "CertificateRequest",
    "DeviceIdentity",
    "DheKeyPair",
    "KemKeyPair",
    "PrivateKey",
    "PublicKey",
    "SigningAlgo",
    "SpdmCertChain",
    "TranscriptHash",
    "aead_iv_size",
    "aead_key_size",
    "aead_open",
    "aead_seal",
    "aead_tag_size",
    "asym_fields",
    "build_csr",
    "build_spdm_cert_chain",
    "constant_time_equal",
    "dhe_public_size",
    "dhe_secret_size",
    "digest",
    "generate_ca",
    "generate_device_identity",
    "generate_dhe_key",
    "generate_kem_key",
    "generate_private_key",
    "hash_size",
    "hkdf_expand",
    "hkdf_extract",
    "hmac_digest",
    "hmac_verify",
    "issue_leaf_from_csr",
    "kem_ciphertext_size",
    "kem_encapsulate",
    "kem_encapsulation_key_size",
    "kem_secret_size",
    "kem_supported",
    "load_certificates",
    "load_csr",
    "load_private_key_pem",
    "measurement_digest",
    "measurement_hash_size",
    "parse_der_certificates",
    "parse_spdm_cert_chain",
    "sign",
    "signature_size",
    "signing_context_prefix",
    "validate_cert_chain",
    "verify",
]
