"""COSE_Sign1 (RFC 9052 §4.2) over a payload, built from cbor2 and :mod:`spdm.crypto`.

An EAT a broker signs (:mod:`.eat`) is a tagged (18) COSE_Sign1: a four-element
CBOR array ``[protected, unprotected, payload, signature]`` whose signature
covers the Sig_structure ``["Signature1", protected, external_aad, payload]``.
The format is small and fully specified, so devsec builds it with cbor2 and
signs through :mod:`spdm.crypto` (the one door to ``cryptography``) instead of
depending on pycose, which pulls in the pure-Python ``ecdsa`` and the
unmaintained ``certvalidator``.

Algorithms (RFC 9053, RFC 8230, RFC 8812): ES256/ES384/ES512 for ECDSA
P-256/P-384/P-521 (raw r||s, as SPDM signs), EdDSA for Ed25519/Ed448, PS256 for
RSASSA-PSS (salt = hash length) and RS256 for RSASSA-PKCS1-v1_5.  The
unprotected header carries ``kid`` (4): the SHA-256 of the signer's
SubjectPublicKeyInfo, so a verifier holding several keys can tell which one
signed.  The verifier passes the key it trusts and is strict about what the
signature does not cover: the unprotected header may hold ``kid`` alone, and
it must then be that key's, so no byte of a token changes unnoticed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import cbor2

from spdm.crypto import PrivateKey, PublicKey, SigningAlgo, digest, sign, verify
from spdm.errors import ConfigurationError, DecodeError, VerificationError
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, SpdmVersion

from .cbor import loads_exact

__all__ = ["COSE_SIGN1_TAG", "cose_algorithm", "key_id", "sign1", "verify_sign1"]

COSE_SIGN1_TAG: Final = 18
"""The CBOR tag of a COSE_Sign1 (RFC 9052 §2)."""

_ALG: Final = 1
_KID: Final = 4
_CONTEXT: Final = "COSE Sign1"
"""Unused by the primitive: SPDM < 1.2 signing takes no context (the message is signed as is)."""

_RSASSA: Final = BaseAsymAlgo.RSASSA_2048 | BaseAsymAlgo.RSASSA_3072 | BaseAsymAlgo.RSASSA_4096
_RSAPSS: Final = BaseAsymAlgo.RSAPSS_2048 | BaseAsymAlgo.RSAPSS_3072 | BaseAsymAlgo.RSAPSS_4096

_ALGORITHMS: Final[dict[int, tuple[BaseAsymAlgo, BaseHashAlgo]]] = {
    -7: (BaseAsymAlgo.ECDSA_P256, BaseHashAlgo.SHA_256),      # ES256
    -35: (BaseAsymAlgo.ECDSA_P384, BaseHashAlgo.SHA_384),     # ES384
    -36: (BaseAsymAlgo.ECDSA_P521, BaseHashAlgo.SHA_512),     # ES512
    -8: (BaseAsymAlgo.EDDSA_ED25519 | BaseAsymAlgo.EDDSA_ED448, BaseHashAlgo.SHA_512),  # EdDSA
    -37: (_RSAPSS, BaseHashAlgo.SHA_256),                     # PS256
    -257: (_RSASSA, BaseHashAlgo.SHA_256),                    # RS256
}
"""COSE algorithm -> (the SPDM signature algorithms it covers, its hash)."""

# SPDM's own rule for signing without a context (SPDM < 1.2): the message is hashed and signed
# as is, which is exactly what each COSE algorithm above does with the Sig_structure.
_PLAIN: Final = SpdmVersion.V10


def cose_algorithm(asym: SigningAlgo) -> int:
    """The COSE algorithm a key of SPDM algorithm ``asym`` signs with.

    Raises:
        ConfigurationError: SM2 (COSE registers no SM2 algorithm), or an ML-DSA
            key (not supported for tokens yet: a broker signs with a classic key;
            the device's own ML-DSA signatures inside the token are unaffected).
    """
    if not isinstance(asym, BaseAsymAlgo):
        raise ConfigurationError(f"{asym.name}: devsec signs EAT tokens with classic keys only")
    for alg, (covered, _) in _ALGORITHMS.items():
        if asym & covered:
            return alg
    raise ConfigurationError(f"{BaseAsymAlgo(asym).name}: no COSE algorithm signs with it")


def key_id(key: PublicKey) -> bytes:
    """The ``kid`` devsec puts in a COSE_Sign1 it signs: SHA-256 of the SubjectPublicKeyInfo."""
    return digest(BaseHashAlgo.SHA_256, key.to_der())


def _sig_structure(protected: bytes, payload: bytes) -> bytes:
    return cbor2.dumps(["Signature1", protected, b"", payload])


def sign1(payload: bytes, key: PrivateKey) -> bytes:
    """``#6.18([protected, unprotected, payload, signature])`` signed with ``key``.

    Args:
        payload: the bytes to protect (an EAT claims-set's CBOR encoding).
        key: the signer's key.

    Returns:
        The tagged COSE_Sign1, CBOR-encoded.

    Raises:
        ConfigurationError: a key COSE cannot sign with (SM2).
    """
    alg = cose_algorithm(key.asym)
    protected = cbor2.dumps({_ALG: alg})
    signature = sign(key, _ALGORITHMS[alg][1], _PLAIN, _CONTEXT, _sig_structure(protected, payload))
    unprotected = {_KID: key_id(key.public_key())}
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, unprotected, payload, signature]))


def verify_sign1(value: object, key: PublicKey) -> bytes:
    """Check a decoded COSE_Sign1 (the value inside tag 18) and return its payload.

    Args:
        value: the tag's content as cbor2 decoded it.
        key: the signer's public key, as the verifier trusts it.

    Returns:
        The payload bytes, now authenticated.

    Raises:
        DecodeError: not a COSE_Sign1 (shape, types, protected header, an
            unprotected label other than kid).
        VerificationError: a kid of another key, an algorithm ``key`` does
            not fit, or a signature that does not verify.
    """
    if not isinstance(value, list | tuple) or len(value) != 4:
        raise DecodeError("COSE_Sign1: a four-element array is expected")
    protected, unprotected, payload, signature = value
    if not (isinstance(protected, bytes) and isinstance(unprotected, Mapping) and isinstance(payload, bytes)
            and isinstance(signature, bytes)):
        raise DecodeError("COSE_Sign1: [bstr, map, bstr, bstr] is expected")
    if set(unprotected) - {_KID}:
        raise DecodeError(f"COSE_Sign1: unprotected header labels {sorted(map(str, unprotected))}: "
                          f"devsec accepts kid (4) alone there")
    if _KID in unprotected and unprotected[_KID] != key_id(key):
        raise VerificationError("COSE_Sign1: the kid names another key than the signer's")
    header = loads_exact(protected, "COSE_Sign1: the protected header")
    if not isinstance(header, Mapping) or type(header.get(_ALG)) is not int:
        raise DecodeError("COSE_Sign1: the protected header names no algorithm (1)")
    alg = header[_ALG]
    if alg not in _ALGORITHMS:
        raise DecodeError(f"COSE_Sign1: algorithm {alg} is not one devsec verifies")
    covered, hash_alg = _ALGORITHMS[alg]
    candidates = [asym for asym in BaseAsymAlgo if asym & covered and key.matches(asym)]
    if not candidates:
        raise VerificationError(f"COSE_Sign1: the signer's key does not fit COSE algorithm {alg}")
    verify(key, candidates[0], hash_alg, _PLAIN, _CONTEXT, _sig_structure(protected, payload), signature)
    return payload
