"""SPDM signatures: keys, the 1.2+ signing prefix, sign and verify (PROTOCOLS.md §4).

One place decides what bytes are signed for a negotiated version and how each
BaseAsymAlgo encodes its signature on the wire (raw r||s for ECDSA, PSS with
salt = hash length, ...), so requester and responder cannot disagree.

SPDM 1.4's post-quantum PqcAsymAlgo (ML-DSA-44/65/87, FIPS 204) signs through the
same functions: a signing algorithm is a :data:`SigningAlgo`, either a
``BaseAsymAlgo`` or a ``PqcAsymAlgo`` member.  The two enums share bit values
(ML_DSA_65 == RSAPSS_2048 == 2 as integers), so this module tells them apart by
type, never by value.  What ML-DSA signs, as the reference implementation does it
(libspdm ``libspdm_pqc_asym_sign``; verified against the CHALLENGE_AUTH, MEASUREMENTS
and KEY_EXCHANGE_RSP signatures of the spdm14-mldsa65-mlkem768 capture): the
message is ``combined_spdm_prefix || Hash(transcript)``, as for the classic
algorithms, and the ML-DSA context string (FIPS 204 ``ctx``) is the SPDM signing
context string itself (e.g. ``responder-challenge_auth signing``, no zero padding).
Pure ML-DSA, not HashML-DSA; the signature is the raw FIPS 204 encoding.
"""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, mldsa, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from spdm.crypto.hashes import _hash_algorithm, digest, hash_size
from spdm.errors import ConfigurationError, LocalProtocolError, VerificationError
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, PqcAsymAlgo, SpdmVersion

__all__ = [
    "PrivateKey",
    "PublicKey",
    "SigningAlgo",
    "asym_fields",
    "generate_private_key",
    "load_private_key_pem",
    "sign",
    "signature_size",
    "signing_context_prefix",
    "verify",
]

_RSASSA: Final = {
    BaseAsymAlgo.RSASSA_2048: 2048,
    BaseAsymAlgo.RSASSA_3072: 3072,
    BaseAsymAlgo.RSASSA_4096: 4096,
}
_RSAPSS: Final = {
    BaseAsymAlgo.RSAPSS_2048: 2048,
    BaseAsymAlgo.RSAPSS_3072: 3072,
    BaseAsymAlgo.RSAPSS_4096: 4096,
}
# ECDSA: curve and the byte size of one coordinate / of r and s (§4.4).
_ECDSA: Final[dict[BaseAsymAlgo, tuple[type[ec.EllipticCurve], int]]] = {
    BaseAsymAlgo.ECDSA_P256: (ec.SECP256R1, 32),
    BaseAsymAlgo.ECDSA_P384: (ec.SECP384R1, 48),
    BaseAsymAlgo.ECDSA_P521: (ec.SECP521R1, 66),
}
_FIXED_SIZES: Final = {
    BaseAsymAlgo.SM2_P256: 64,
    BaseAsymAlgo.EDDSA_ED25519: 64,
    BaseAsymAlgo.EDDSA_ED448: 114,
}

# ML-DSA (FIPS 204): private and public key classes, signature size.
_MLDSA: Final[dict[PqcAsymAlgo, tuple[type[mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey
                                           | mldsa.MLDSA87PrivateKey], int]]] = {
    PqcAsymAlgo.ML_DSA_44: (mldsa.MLDSA44PrivateKey, 2420),
    PqcAsymAlgo.ML_DSA_65: (mldsa.MLDSA65PrivateKey, 3309),
    PqcAsymAlgo.ML_DSA_87: (mldsa.MLDSA87PrivateKey, 4627),
}

_PREFIX_CONTEXT_SIZE: Final = 36
"""Bytes reserved for the right-aligned context string in combined_spdm_prefix."""

_NO_BASE_ASYM: Final = BaseAsymAlgo(0)
_NO_PQC_ASYM: Final = PqcAsymAlgo(0)

SigningAlgo = BaseAsymAlgo | PqcAsymAlgo
"""A signature algorithm: a BaseAsymAlgo bit, or (SPDM 1.4) a PqcAsymAlgo bit.

A plain ``int`` given where a SigningAlgo is expected is read as a BaseAsymAlgo.
"""


def asym_fields(asym: SigningAlgo) -> tuple[BaseAsymAlgo, PqcAsymAlgo]:
    """A signing algorithm as ALGORITHMS carries it: (BaseAsymAlgo, PqcAsymAlgo), one of them 0.

    Args:
        asym: a BaseAsymAlgo or PqcAsymAlgo value (an int counts as BaseAsymAlgo).

    Returns:
        ``(asym, 0)`` for a classic algorithm, ``(0, asym)`` for ML-DSA.
    """
    if isinstance(asym, PqcAsymAlgo):
        return _NO_BASE_ASYM, asym
    return (asym if type(asym) is BaseAsymAlgo else BaseAsymAlgo(asym)), _NO_PQC_ASYM


def _single(asym: SigningAlgo) -> SigningAlgo:
    """Reject SM2, empty and multi-bit values: only one supported algorithm signs."""
    if isinstance(asym, PqcAsymAlgo):
        if asym in _MLDSA:
            return asym
        raise ConfigurationError(f"not a single supported PqcAsymAlgo: {asym!r}")
    value = BaseAsymAlgo(asym)
    if value == BaseAsymAlgo.SM2_P256:
        raise ConfigurationError("SM2 signatures are not supported (no SM2 in cryptography)")
    if value in _RSASSA or value in _RSAPSS or value in _ECDSA or value in _FIXED_SIZES:
        return value
    raise ConfigurationError(f"not a single supported BaseAsymAlgo: {asym!r}")


def signature_size(alg: SigningAlgo) -> int:
    """Size ``S`` of a signature on the wire (§4.4).

    Args:
        alg: exactly one BaseAsymAlgo bit (SM2 included: its size is known even
            though devsec cannot sign with it) or one PqcAsymAlgo bit.

    Returns:
        256/384/512 for RSA, 64/96/132 for ECDSA, 64 for SM2 and Ed25519, 114 for Ed448,
        2420/3309/4627 for ML-DSA-44/65/87.

    Raises:
        ConfigurationError: not exactly one algorithm bit.
    """
    if isinstance(alg, PqcAsymAlgo):
        if alg in _MLDSA:
            return _MLDSA[alg][1]
        raise ConfigurationError(f"not a single PqcAsymAlgo: {alg!r}")
    value = alg if type(alg) is BaseAsymAlgo else BaseAsymAlgo(alg)  # the Enum call only when it converts
    if value in _RSASSA:
        return _RSASSA[value] // 8
    if value in _RSAPSS:
        return _RSAPSS[value] // 8
    if value in _ECDSA:
        return 2 * _ECDSA[value][1]
    if value in _FIXED_SIZES:
        return _FIXED_SIZES[value]
    raise ConfigurationError(f"not a single BaseAsymAlgo: {alg!r}")


def signing_context_prefix(version: SpdmVersion, context: str) -> bytes:
    """The 100-byte combined_spdm_prefix of SPDM 1.2+ (§4.3).

    Args:
        version: the negotiated SPDM version (1.2 or later).
        context: the signing context string, e.g. ``"responder-challenge_auth signing"``.

    Returns:
        ``"dmtf-spdm-vM.m.*" * 4`` followed by the context right-aligned in 36 bytes.

    Raises:
        LocalProtocolError: version before 1.2 (no prefix exists), or a context that
            is not ASCII or longer than 36 bytes.
    """
    if type(version) is not SpdmVersion:  # the Enum call only when it converts
        version = SpdmVersion(version)
    if version < SpdmVersion.V12:
        raise LocalProtocolError(f"SPDM {version.text} has no signing prefix")
    try:
        encoded = context.encode("ascii")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(f"signing context {context!r} is not ASCII") from exc
    if len(encoded) > _PREFIX_CONTEXT_SIZE:
        raise LocalProtocolError(f"signing context {context!r} is longer than 36 bytes")
    prefix = f"dmtf-spdm-v{version.text}.*".encode("ascii") * 4
    return prefix + encoded.rjust(_PREFIX_CONTEXT_SIZE, b"\x00")


_MlDsaPrivateKey = mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey
_MlDsaPublicKey = mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey
_SigningKey = (
    rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey | _MlDsaPrivateKey
)
_VerifyingKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
    | ed448.Ed448PublicKey | _MlDsaPublicKey
)
_MLDSA_OF_KEY: Final = (
    (mldsa.MLDSA44PrivateKey | mldsa.MLDSA44PublicKey, PqcAsymAlgo.ML_DSA_44),
    (mldsa.MLDSA65PrivateKey | mldsa.MLDSA65PublicKey, PqcAsymAlgo.ML_DSA_65),
    (mldsa.MLDSA87PrivateKey | mldsa.MLDSA87PublicKey, PqcAsymAlgo.ML_DSA_87),
)


def _asym_of_key(key: _SigningKey | _VerifyingKey) -> SigningAlgo:
    """The natural SPDM algorithm of a key; RSA keys default to RSASSA."""
    for kinds, pqc in _MLDSA_OF_KEY:
        if isinstance(key, kinds):
            return pqc
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        for asym, bits in _RSASSA.items():
            if bits == key.key_size:
                return asym
        raise ConfigurationError(f"RSA-{key.key_size} is not an SPDM key size")
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        for asym, (curve, _) in _ECDSA.items():
            if isinstance(key.curve, curve):
                return asym
        raise ConfigurationError(f"curve {key.curve.name} is not an SPDM curve")
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return BaseAsymAlgo.EDDSA_ED25519
    return BaseAsymAlgo.EDDSA_ED448


def _fits(natural: SigningAlgo, asym: SigningAlgo) -> bool:
    """Whether a key whose natural algorithm is ``natural`` can serve ``asym``.

    An RSA key of one size serves both RSASSA and RSAPSS of that size.  A PqcAsymAlgo
    never fits a BaseAsymAlgo of the same integer value.
    """
    if isinstance(natural, PqcAsymAlgo) or isinstance(asym, PqcAsymAlgo):
        return isinstance(natural, PqcAsymAlgo) and isinstance(asym, PqcAsymAlgo) \
            and natural == asym
    if natural == asym:
        return True
    return natural in _RSASSA and asym in _RSAPSS and _RSASSA[natural] == _RSAPSS[asym]


def _as_signing_algo(asym: SigningAlgo) -> SigningAlgo:
    """A PqcAsymAlgo as is; anything else (an int included) as a BaseAsymAlgo."""
    return asym if isinstance(asym, PqcAsymAlgo) else BaseAsymAlgo(asym)


class PublicKey:
    """A public key usable for SPDM signature verification.

    Built by devsec from certificates and private keys; compare with ``==``
    (by SubjectPublicKeyInfo DER).
    """

    __slots__ = ("_key",)

    def __init__(self, key: CertificatePublicKeyTypes) -> None:
        """Wrap a ``cryptography`` public key (internal: use Certificate.public_key()).

        Args:
            key: the key object.

        Raises:
            ConfigurationError: a key type no SPDM algorithm uses (DSA, X25519...).
        """
        if not isinstance(key, _VerifyingKey):
            raise ConfigurationError(f"unsupported public key type {type(key).__name__}")
        self._key: _VerifyingKey = key

    def matches(self, asym: SigningAlgo) -> bool:
        """Whether this key's type and size fit ``asym`` (RSA size, EC curve, EdDSA, ML-DSA set).

        Args:
            asym: one BaseAsymAlgo or PqcAsymAlgo bit.

        Returns:
            True if signatures of ``asym`` can be checked with this key.
        """
        try:
            return _fits(_asym_of_key(self._key), _as_signing_algo(asym))
        except ConfigurationError:
            return False

    def to_der(self) -> bytes:
        """The key as DER SubjectPublicKeyInfo."""
        return self._key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PublicKey):
            return NotImplemented
        return self.to_der() == other.to_der()

    def __hash__(self) -> int:
        return hash(self.to_der())

    def __repr__(self) -> str:
        return f"PublicKey({type(self._key).__name__})"


class PrivateKey:
    """An SPDM signing key; opaque so key material never reaches logs or reprs.

    Attributes:
        asym: the SPDM algorithm this key signs with (RSA: RSASSA or RSAPSS as chosen
            when the key was generated or loaded).
    """

    __slots__ = ("_asym", "_key")

    def __init__(self, key: PrivateKeyTypes, asym: SigningAlgo) -> None:
        """Wrap a key for ``asym``; use generate_private_key / load_private_key_pem.

        Raises:
            ConfigurationError: a key type SPDM cannot sign with, or one that does
                not fit ``asym``.
        """
        asym = _single(asym)
        if not isinstance(key, _SigningKey):
            raise ConfigurationError(f"unsupported key type {type(key).__name__}")
        if not _fits(_asym_of_key(key), asym):
            raise ConfigurationError(f"{type(key).__name__} does not fit {asym.name}")
        self._key: _SigningKey = key
        self._asym = asym

    @property
    def asym(self) -> SigningAlgo:
        """The SPDM algorithm this key signs with (a PqcAsymAlgo for ML-DSA keys)."""
        return self._asym

    def public_key(self) -> PublicKey:
        """The matching public key."""
        return PublicKey(self._key.public_key())

    def to_pem(self) -> bytes:
        """The key as unencrypted PKCS#8 PEM (for provisioning files; handle with care)."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def __repr__(self) -> str:
        return f"PrivateKey(asym={self.asym.name})"


def generate_private_key(asym: SigningAlgo) -> PrivateKey:
    """Generate a fresh key from the OS RNG.

    Args:
        asym: exactly one BaseAsymAlgo bit (not SM2) or PqcAsymAlgo bit.

    Returns:
        The new key, tagged with ``asym``.

    Raises:
        ConfigurationError: SM2 or not exactly one algorithm bit.
    """
    asym = _single(asym)
    key: PrivateKeyTypes
    if isinstance(asym, PqcAsymAlgo):
        key = _MLDSA[asym][0].generate()
    elif asym in _RSASSA or asym in _RSAPSS:
        key = rsa.generate_private_key(65537, {**_RSASSA, **_RSAPSS}[asym])
    elif asym in _ECDSA:
        key = ec.generate_private_key(_ECDSA[asym][0]())
    elif asym == BaseAsymAlgo.EDDSA_ED25519:
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = ed448.Ed448PrivateKey.generate()
    return PrivateKey(key, asym)


def load_private_key_pem(data: bytes, asym: SigningAlgo | None = None) -> PrivateKey:
    """Load an unencrypted PEM private key (PKCS#8 or traditional).

    Args:
        data: the PEM file contents.
        asym: the algorithm to use the key for; None infers it (RSA keys become
            RSASSA of their size, since PEM cannot say SSA or PSS; ML-DSA keys their
            PqcAsymAlgo).

    Returns:
        The key.

    Raises:
        ConfigurationError: unreadable or encrypted PEM, a key type SPDM cannot use,
            or a key that does not fit ``asym``.
    """
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigurationError(f"cannot load private key: {exc}") from exc
    if asym is None:
        if not isinstance(key, _SigningKey):
            raise ConfigurationError(f"unsupported key type {type(key).__name__}")
        asym = _asym_of_key(key)
    return PrivateKey(key, asym)


def _message(hash_alg: BaseHashAlgo, version: SpdmVersion, context: str,
             transcript: bytes) -> bytes:
    """The bytes handed to the signature primitive (§4.2, §4.3)."""
    if SpdmVersion(version) < SpdmVersion.V12:
        return transcript
    return signing_context_prefix(version, context) + digest(hash_alg, transcript)


def _check_pqc(asym: SigningAlgo, version: SpdmVersion) -> None:
    # ML-DSA is negotiated from SPDM 1.4 on; what this module needs is the 1.2+ signing
    # prefix it signs (a 1.1 transcript would go unhashed into ML-DSA). The version
    # the algorithm may be selected in is the negotiation's business.
    if isinstance(asym, PqcAsymAlgo) and SpdmVersion(version) < SpdmVersion.V12:
        raise ConfigurationError(f"{asym.name} signatures need SPDM 1.2+ signing contexts")


def _mldsa_context(context: str) -> bytes:
    """The FIPS 204 ``ctx``: the SPDM signing context string, ASCII, unpadded."""
    return context.encode("ascii")


def _check_ed448(asym: SigningAlgo, version: SpdmVersion) -> None:
    # SPDM 1.2+ signs Ed448 with the context string as the RFC 8032 EdDSA context
    # (libspdm_crypt_asym.c passes it as the EdDSA param). cryptography's Ed448 API
    # has no context argument, and signing with an empty context would produce
    # signatures the reference implementation rejects, so refuse instead.
    if asym == BaseAsymAlgo.EDDSA_ED448 and SpdmVersion(version) >= SpdmVersion.V12:
        raise ConfigurationError(
            "Ed448 with SPDM 1.2+ needs an EdDSA context, which cryptography cannot do"
        )


def _coordinate_size(curve: ec.EllipticCurve) -> int:
    """Bytes of r and of s in a raw ECDSA signature (the key's curve decides, §4.4)."""
    return (curve.key_size + 7) // 8


def _pss(hash_alg: BaseHashAlgo) -> padding.PSS:
    # Salt length = hash length (DSP0274 and libspdm); fixed, never AUTO/MAX.
    return padding.PSS(mgf=padding.MGF1(_hash_algorithm(hash_alg)),
                       salt_length=hash_size(hash_alg))


def sign(key: PrivateKey, hash_alg: BaseHashAlgo, version: SpdmVersion, context: str,
         transcript: bytes) -> bytes:
    """Produce an SPDM signature over a transcript.

    Args:
        key: the signing key (its ``asym`` picks the scheme).
        hash_alg: the negotiated BaseHashAlgo.
        version: the negotiated SPDM version (1.2+ adds the signing prefix).
        context: the signing context string (used from 1.2 on, §4.1).
        transcript: the transcript bytes (M1, L1, TH...), not yet hashed.

    Returns:
        The wire signature, ``signature_size(key.asym)`` bytes.

    Raises:
        ConfigurationError: unsupported hash, Ed448 with SPDM 1.2+, or ML-DSA before 1.2.
        LocalProtocolError: bad context string.
    """
    asym = key.asym
    _check_ed448(asym, version)
    _check_pqc(asym, version)
    message = _message(hash_alg, version, context, transcript)
    raw = key._key
    if isinstance(raw, _MlDsaPrivateKey):
        return raw.sign(message, _mldsa_context(context))
    if isinstance(raw, rsa.RSAPrivateKey):
        pad = _pss(hash_alg) if asym in _RSAPSS else padding.PKCS1v15()
        return raw.sign(message, pad, _hash_algorithm(hash_alg))
    if isinstance(raw, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(raw.sign(message, ec.ECDSA(_hash_algorithm(hash_alg))))
        size = _coordinate_size(raw.curve)
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    return raw.sign(message)


def verify(key: PublicKey, asym: SigningAlgo, hash_alg: BaseHashAlgo, version: SpdmVersion,
           context: str, transcript: bytes, signature: bytes) -> None:
    """Check a peer's SPDM signature.

    Args:
        key: the peer's public key (leaf certificate or provisioned key).
        asym: the negotiated BaseAsymAlgo or PqcAsymAlgo (or ReqBaseAsymAlg /
            ReqPqcAsymAlg for requester signatures).
        hash_alg: the negotiated BaseHashAlgo.
        version: the negotiated SPDM version.
        context: the signing context string (§4.1).
        transcript: the transcript bytes the peer signed.
        signature: the signature from the wire.

    Raises:
        VerificationError: wrong length, a key that does not fit ``asym``, a malformed
            or wrong signature. The peer failed authentication.
        ConfigurationError: SM2, unsupported hash, Ed448 with SPDM 1.2+, or ML-DSA
            before 1.2.
        LocalProtocolError: bad context string.
    """
    asym = _single(asym)
    _check_ed448(asym, version)
    _check_pqc(asym, version)
    what = f"{asym.name} signature ({context!r})"
    if len(signature) != signature_size(asym):
        raise VerificationError(
            f"{what}: {len(signature)} bytes, expected {signature_size(asym)}")
    if not key.matches(asym):
        raise VerificationError(f"{what}: public key does not fit {asym.name}")
    message = _message(hash_alg, version, context, transcript)
    raw = key._key
    try:
        if isinstance(raw, _MlDsaPublicKey):
            raw.verify(signature, message, _mldsa_context(context))
        elif isinstance(raw, rsa.RSAPublicKey):
            pad = _pss(hash_alg) if asym in _RSAPSS else padding.PKCS1v15()
            raw.verify(signature, message, pad, _hash_algorithm(hash_alg))
        elif isinstance(raw, ec.EllipticCurvePublicKey):
            size = _coordinate_size(raw.curve)
            der = encode_dss_signature(int.from_bytes(signature[:size], "big"),
                                       int.from_bytes(signature[size:], "big"))
            raw.verify(der, message, ec.ECDSA(_hash_algorithm(hash_alg)))
        else:
            raw.verify(signature, message)
    except InvalidSignature as exc:
        raise VerificationError(f"{what} does not verify") from exc
