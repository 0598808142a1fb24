"""AEAD seal/open for secured SPDM messages (DSP0277; PROTOCOLS.md §6.3, §7).

The record layer (``secured.py``) builds nonces and AAD; this module only maps
the negotiated AeadSuite onto a cipher, enforces the §6.3 sizes and turns a tag
failure into ``VerificationError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from spdm.errors import ConfigurationError, LocalProtocolError, VerificationError
from spdm.messages.codes import AeadSuite

__all__ = ["AeadCipher", "aead_iv_size", "aead_key_size", "aead_open", "aead_seal", "aead_tag_size"]

_KEY_SIZES: Final = {
    AeadSuite.AES_128_GCM: 16,
    AeadSuite.AES_256_GCM: 32,
    AeadSuite.CHACHA20_POLY1305: 32,
}
_IV_SIZE: Final = 12
_TAG_SIZE: Final = 16


def aead_key_size(suite: AeadSuite) -> int:
    """Key size ``K`` in bytes (§6.3).

    Args:
        suite: exactly one AeadSuite bit.

    Returns:
        16 for AES-128-GCM, 32 for AES-256-GCM and ChaCha20-Poly1305.

    Raises:
        ConfigurationError: SM4-GCM (no ``cryptography`` support) or not one bit.
    """
    try:
        return _KEY_SIZES[AeadSuite(suite)]
    except KeyError as exc:
        raise ConfigurationError(f"unsupported AEAD suite {suite!r}") from exc


def aead_iv_size(suite: AeadSuite) -> int:
    """IV (nonce) size ``N`` in bytes: 12 for every supported suite.

    Raises:
        ConfigurationError: unsupported suite.
    """
    aead_key_size(suite)
    return _IV_SIZE


def aead_tag_size(suite: AeadSuite) -> int:
    """Authentication tag size in bytes: 16 for every supported suite.

    Raises:
        ConfigurationError: unsupported suite.
    """
    aead_key_size(suite)
    return _TAG_SIZE


def _cipher(suite: AeadSuite, key: bytes) -> AESGCM | ChaCha20Poly1305:
    expected = aead_key_size(suite)
    if len(key) != expected:
        raise LocalProtocolError(
            f"{AeadSuite(suite).name} key is {len(key)} bytes, expected {expected}")
    if suite == AeadSuite.CHACHA20_POLY1305:
        return ChaCha20Poly1305(key)
    return AESGCM(key)


def _check_nonce(nonce: bytes) -> None:
    if len(nonce) != _IV_SIZE:
        raise LocalProtocolError(f"AEAD nonce is {len(nonce)} bytes, expected {_IV_SIZE}")


def aead_seal(suite: AeadSuite, key: bytes, nonce: bytes, plaintext: bytes,
              aad: bytes) -> bytes:
    """Encrypt and authenticate.

    Args:
        suite: exactly one supported AeadSuite bit.
        key: ``aead_key_size(suite)`` bytes.
        nonce: 12 bytes (per-message IV, §7.3).
        plaintext: the data to encrypt.
        aad: associated data authenticated but not encrypted.

    Returns:
        ciphertext || tag (``len(plaintext) + 16`` bytes).

    Raises:
        LocalProtocolError: wrong key or nonce size (a key-schedule bug).
        ConfigurationError: unsupported suite.
    """
    cipher = _cipher(suite, key)
    _check_nonce(nonce)
    return cipher.encrypt(nonce, plaintext, aad)


def aead_open(suite: AeadSuite, key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Authenticate and decrypt.

    Args:
        suite: exactly one supported AeadSuite bit.
        key: ``aead_key_size(suite)`` bytes.
        nonce: 12 bytes.
        sealed: ciphertext || tag as received.
        aad: the associated data.

    Returns:
        The plaintext.

    Raises:
        VerificationError: tag mismatch or input shorter than a tag (forged,
            corrupted, or wrong key/sequence number).
        LocalProtocolError: wrong key or nonce size.
        ConfigurationError: unsupported suite.
    """
    cipher = _cipher(suite, key)
    _check_nonce(nonce)
    try:
        return cipher.decrypt(nonce, sealed, aad)
    except InvalidTag as exc:
        raise VerificationError(f"{AeadSuite(suite).name} tag does not verify") from exc


class AeadCipher:
    """One AEAD key, checked and expanded once, for sealing or opening many records (§7).

    Building the ``cryptography`` cipher object costs about as much as sealing
    4 KiB, so the record layer keeps one per direction instead of one per record.

    Attributes:
        suite: the AEAD suite.
        seal: ``(nonce, plaintext, aad) -> ciphertext || tag``, the cipher's own
            bound method (no Python frame on the record hot path); the caller
            passes 12-byte nonces (``cryptography`` raises ValueError otherwise).
    """

    __slots__ = ("_cipher", "seal", "suite")

    def __init__(self, suite: AeadSuite, key: bytes) -> None:
        """Args:
            suite: exactly one supported AeadSuite bit.
            key: ``aead_key_size(suite)`` bytes.

        Raises:
            LocalProtocolError: wrong key size (a key-schedule bug).
            ConfigurationError: unsupported suite.
        """
        self.suite = AeadSuite(suite)
        self._cipher = _cipher(suite, key)
        self.seal: Callable[[bytes, bytes, bytes], bytes] = self._cipher.encrypt

    def open(self, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        """Authenticate and decrypt like :func:`aead_open`, with the expanded key.

        Returns:
            The plaintext.

        Raises:
            VerificationError: tag mismatch or input shorter than a tag.
        """
        try:
            return self._cipher.decrypt(nonce, sealed, aad)
        except InvalidTag as exc:
            raise VerificationError(f"{self.suite.name} tag does not verify") from exc
