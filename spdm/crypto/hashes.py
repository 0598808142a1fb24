"""Hashing for SPDM: digests, transcript hashes, HMAC and HKDF (PROTOCOLS.md §5, §6).

Every SPDM hash value (transcripts, cert-chain root hashes, measurement digests,
verify data, the key schedule) goes through this module, so the mapping from the
negotiated algorithm bit to a concrete hash lives in exactly one table.
"""

from __future__ import annotations

import hmac as _stdlib_hmac

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from spdm.errors import ConfigurationError, LocalProtocolError, VerificationError
from spdm.messages.codes import BaseHashAlgo, MeasurementHashAlgo

__all__ = [
    "TranscriptHash",
    "constant_time_equal",
    "digest",
    "hash_size",
    "hkdf_expand",
    "hkdf_extract",
    "hmac_digest",
    "hmac_verify",
    "measurement_digest",
    "measurement_hash_size",
]

_BASE_HASHES: dict[BaseHashAlgo, type[hashes.HashAlgorithm]] = {
    BaseHashAlgo.SHA_256: hashes.SHA256,
    BaseHashAlgo.SHA_384: hashes.SHA384,
    BaseHashAlgo.SHA_512: hashes.SHA512,
    BaseHashAlgo.SHA3_256: hashes.SHA3_256,
    BaseHashAlgo.SHA3_384: hashes.SHA3_384,
    BaseHashAlgo.SHA3_512: hashes.SHA3_512,
}

_HASH_SIZES: dict[int, int] = {alg: kind().digest_size for alg, kind in _BASE_HASHES.items()}
"""H per BaseHashAlgo bit: asked per connection and per context, without making a hash object.

Looked up with the plain value: a BaseHashAlgo hashes and compares as its int, and the
Enum call that would normalise it costs more than the rest of the lookup."""

# MeasurementHashAlgo uses its own bit positions (b0 is "raw bit stream"), so it
# maps onto the BaseHashAlgo table rather than duplicating the hash classes.
_MEASUREMENT_TO_BASE: dict[MeasurementHashAlgo, BaseHashAlgo] = {
    MeasurementHashAlgo.SHA_256: BaseHashAlgo.SHA_256,
    MeasurementHashAlgo.SHA_384: BaseHashAlgo.SHA_384,
    MeasurementHashAlgo.SHA_512: BaseHashAlgo.SHA_512,
    MeasurementHashAlgo.SHA3_256: BaseHashAlgo.SHA3_256,
    MeasurementHashAlgo.SHA3_384: BaseHashAlgo.SHA3_384,
    MeasurementHashAlgo.SHA3_512: BaseHashAlgo.SHA3_512,
}


def _hash_algorithm(alg: BaseHashAlgo) -> hashes.HashAlgorithm:
    """Return a fresh ``cryptography`` hash object for one negotiated hash bit.

    Shared with the sibling modules (signatures, certs) so the table stays single.

    Raises:
        ConfigurationError: SM3 (no ``cryptography`` support), no bit or several bits.
    """
    try:
        return _BASE_HASHES[BaseHashAlgo(alg)]()
    except (KeyError, ValueError) as exc:
        raise ConfigurationError(f"unsupported hash algorithm {alg!r}") from exc


def hash_size(alg: BaseHashAlgo) -> int:
    """Size ``H`` in bytes of the negotiated hash.

    Args:
        alg: exactly one BaseHashAlgo bit.

    Returns:
        32, 48 or 64.

    Raises:
        ConfigurationError: SM3 or not exactly one supported bit.
    """
    try:
        return _HASH_SIZES[alg]
    except (KeyError, TypeError) as exc:  # as _hash_algorithm refuses it
        raise ConfigurationError(f"unsupported hash algorithm {alg!r}") from exc


def digest(alg: BaseHashAlgo, data: bytes) -> bytes:
    """One-shot hash of ``data``.

    Args:
        alg: exactly one BaseHashAlgo bit.
        data: bytes to hash.

    Returns:
        The digest (``hash_size(alg)`` bytes).

    Raises:
        ConfigurationError: unsupported algorithm.
    """
    ctx = hashes.Hash(_hash_algorithm(alg))
    ctx.update(data)
    return ctx.finalize()


class TranscriptHash:
    """Incremental hash of an SPDM transcript.

    Transcripts grow message by message and are hashed at several points (TH1,
    then TH2 later), so :meth:`digest` reads the current value without ending the
    running hash.
    """

    __slots__ = ("_ctx",)

    def __init__(self, alg: BaseHashAlgo) -> None:
        """Start an empty transcript.

        Args:
            alg: exactly one BaseHashAlgo bit.

        Raises:
            ConfigurationError: unsupported algorithm.
        """
        self._ctx = hashes.Hash(_hash_algorithm(alg))

    def update(self, data: bytes) -> None:
        """Append ``data`` (exact message bytes) to the transcript."""
        self._ctx.update(data)

    def copy(self) -> TranscriptHash:
        """Return an independent transcript with the same content so far."""
        clone = TranscriptHash.__new__(TranscriptHash)
        clone._ctx = self._ctx.copy()
        return clone

    def digest(self) -> bytes:
        """Hash of everything added so far; the transcript stays open for updates."""
        return self._ctx.copy().finalize()


def measurement_hash_size(alg: MeasurementHashAlgo) -> int:
    """Size in bytes of a measurement digest.

    Args:
        alg: exactly one MeasurementHashAlgo bit.

    Returns:
        0 for RAW_BIT_STREAM_ONLY (measurements carry raw values), else 32/48/64.

    Raises:
        ConfigurationError: SM3 or not exactly one supported bit.
    """
    if alg == MeasurementHashAlgo.RAW_BIT_STREAM_ONLY:
        return 0
    return hash_size(_measurement_base(alg))


def measurement_digest(alg: MeasurementHashAlgo, data: bytes) -> bytes:
    """Hash a measurement value with the negotiated measurement hash.

    Args:
        alg: exactly one hashing MeasurementHashAlgo bit.
        data: the raw measurement.

    Returns:
        The digest.

    Raises:
        ConfigurationError: RAW_BIT_STREAM_ONLY (there is no digest to compute), SM3,
            or not exactly one supported bit.
    """
    return digest(_measurement_base(alg), data)


def _measurement_base(alg: MeasurementHashAlgo) -> BaseHashAlgo:
    try:
        return _MEASUREMENT_TO_BASE[alg]  # the plain value finds its bit, as for _HASH_SIZES
    except (KeyError, TypeError) as exc:
        raise ConfigurationError(f"no digest for measurement hash algorithm {alg!r}") from exc


def hmac_digest(alg: BaseHashAlgo, key: bytes, data: bytes) -> bytes:
    """HMAC-Hash(key, data), as used for verify data and HKDF.

    Args:
        alg: exactly one BaseHashAlgo bit.
        key: HMAC key (any length).
        data: message.

    Returns:
        The MAC (``hash_size(alg)`` bytes).

    Raises:
        ConfigurationError: unsupported algorithm.
    """
    ctx = hmac.HMAC(key, _hash_algorithm(alg))
    ctx.update(data)
    return ctx.finalize()


def hmac_verify(alg: BaseHashAlgo, key: bytes, data: bytes, expected: bytes) -> None:
    """Check a received MAC in constant time.

    Args:
        alg: exactly one BaseHashAlgo bit.
        key: HMAC key.
        data: message.
        expected: the MAC received from the peer.

    Raises:
        VerificationError: the MAC does not match (the peer's verify data is wrong).
        ConfigurationError: unsupported algorithm.
    """
    if not constant_time_equal(hmac_digest(alg, key, data), expected):
        raise VerificationError(f"HMAC ({BaseHashAlgo(alg).name}) does not verify")


def hkdf_extract(alg: BaseHashAlgo, salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract (RFC 5869 §2.2): ``HMAC-Hash(salt, ikm)``.

    Written as the RFC's one-line definition on top of ``cryptography``'s HMAC
    because the SPDM key schedule needs the PRK itself (HandshakeSecret,
    MasterSecret), which ``cryptography``'s combined HKDF does not return.

    Args:
        alg: exactly one BaseHashAlgo bit.
        salt: the salt (SPDM: zeros, or Salt_1).
        ikm: input keying material (DHE secret, PSK, or zeros).

    Returns:
        The pseudo-random key (``hash_size(alg)`` bytes).

    Raises:
        ConfigurationError: unsupported algorithm.
    """
    return hmac_digest(alg, salt, ikm)


def hkdf_expand(alg: BaseHashAlgo, prk: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand (RFC 5869 §2.3).

    Args:
        alg: exactly one BaseHashAlgo bit.
        prk: pseudo-random key from :func:`hkdf_extract` or a previous expand.
        info: the SPDM BinConcat label.
        length: output length in bytes (1 .. 255 * H).

    Returns:
        ``length`` bytes of output keying material.

    Raises:
        LocalProtocolError: ``length`` out of range (a caller bug).
        ConfigurationError: unsupported algorithm.
    """
    algorithm = _hash_algorithm(alg)
    if not 0 < length <= 255 * algorithm.digest_size:
        raise LocalProtocolError(f"HKDF-Expand length {length} out of range")
    return HKDFExpand(algorithm, length, info).derive(prk)


def constant_time_equal(a: bytes, b: bytes) -> bool:
    """Compare two byte strings without leaking where they differ."""
    return _stdlib_hmac.compare_digest(a, b)
