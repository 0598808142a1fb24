"""ML-KEM key encapsulation for SPDM 1.4 KEY_EXCHANGE (FIPS 203).

With a KEM selected in ALGORITHMS (the 1.4 KEM AlgStruct) instead of a DHE group,
KEY_EXCHANGE's ExchangeData is not symmetric as with Diffie-Hellman: the requester
sends its ML-KEM *encapsulation key* (1184 bytes for ML-KEM-768), the responder
encapsulates a fresh secret to it and answers with the *ciphertext* (1088 bytes),
and the requester decapsulates that ciphertext.  The 32-byte shared secret feeds
the key schedule exactly where the DHE secret does (HKDF-Extract of the handshake
secret).  This is what the reference does (spdm14-mldsa65-mlkem768: the requester
logs the secret as ``[KEM Secret]`` and the key schedule matches the logged
``handshake_secret``).

The requester's side, :class:`KemKeyPair`, has the shape of
:class:`spdm.crypto.dhe.DheKeyPair` (``public_bytes()`` for our ExchangeData,
``shared_secret(peer's ExchangeData)``), so requester code can hold either.  The
responder's side is the one call :func:`kem_encapsulate`.

ML-KEM-512 has a KemAlgo bit and known sizes (so its messages decode), but
``cryptography`` has no ML-KEM-512: generating, encapsulating or decapsulating
with it raises ``ConfigurationError``; negotiation must never offer or select it.

A peer value of the wrong length, or an encapsulation key that fails FIPS 203's
input checks, raises ``DecodeError``: the peer's KEY_EXCHANGE(_RSP) bytes are
not a valid message.
"""

from __future__ import annotations

from typing import Final

from cryptography.hazmat.primitives.asymmetric import mlkem

from spdm.errors import ConfigurationError, DecodeError
from spdm.messages.codes import KemAlgo

__all__ = [
    "KemKeyPair",
    "generate_kem_key",
    "kem_ciphertext_size",
    "kem_encapsulate",
    "kem_encapsulation_key_size",
    "kem_secret_size",
    "kem_supported",
]

# FIPS 203 Table 3: encapsulation key and ciphertext sizes.
_SIZES: Final = {
    KemAlgo.ML_KEM_512: (800, 768),
    KemAlgo.ML_KEM_768: (1184, 1088),
    KemAlgo.ML_KEM_1024: (1568, 1568),
}
_SECRET_SIZE: Final = 32
"""Every ML-KEM parameter set shares a 32-byte secret (FIPS 203)."""

_PRIVATE: Final[dict[KemAlgo, type[mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey]]] = {
    KemAlgo.ML_KEM_768: mlkem.MLKEM768PrivateKey,
    KemAlgo.ML_KEM_1024: mlkem.MLKEM1024PrivateKey,
}
_PUBLIC: Final[dict[KemAlgo, type[mlkem.MLKEM768PublicKey | mlkem.MLKEM1024PublicKey]]] = {
    KemAlgo.ML_KEM_768: mlkem.MLKEM768PublicKey,
    KemAlgo.ML_KEM_1024: mlkem.MLKEM1024PublicKey,
}


def _known(alg: KemAlgo) -> KemAlgo:
    value = KemAlgo(alg)
    if value in _SIZES:
        return value
    raise ConfigurationError(f"not a single KemAlgo: {alg!r}")


def _usable(alg: KemAlgo) -> KemAlgo:
    value = _known(alg)
    if value not in _PRIVATE:
        raise ConfigurationError(f"{value.name} is not supported (cryptography has no ML-KEM-512)")
    return value


def kem_supported() -> KemAlgo:
    """The KemAlgo bits devsec can use: ML-KEM-768 and ML-KEM-1024."""
    return KemAlgo.ML_KEM_768 | KemAlgo.ML_KEM_1024


def kem_encapsulation_key_size(alg: KemAlgo) -> int:
    """Size of KEY_EXCHANGE's ExchangeData (the encapsulation key): 800/1184/1568.

    Raises:
        ConfigurationError: not exactly one KemAlgo bit.
    """
    return _SIZES[_known(alg)][0]


def kem_ciphertext_size(alg: KemAlgo) -> int:
    """Size of KEY_EXCHANGE_RSP's ExchangeData (the ciphertext): 768/1088/1568.

    Raises:
        ConfigurationError: not exactly one KemAlgo bit.
    """
    return _SIZES[_known(alg)][1]


def kem_secret_size(alg: KemAlgo) -> int:
    """Size of the shared secret the key schedule takes: 32 for every ML-KEM.

    Raises:
        ConfigurationError: not exactly one KemAlgo bit.
    """
    _known(alg)
    return _SECRET_SIZE


class KemKeyPair:
    """The requester's ML-KEM decapsulation key; repr and errors never show it."""

    __slots__ = ("_alg", "_key")

    def __init__(self, alg: KemAlgo,
                 key: mlkem.MLKEM768PrivateKey | mlkem.MLKEM1024PrivateKey) -> None:
        """Wrap a generated key (internal: use generate_kem_key)."""
        self._alg = alg
        self._key = key

    @property
    def algorithm(self) -> KemAlgo:
        """The ML-KEM parameter set of this key."""
        return self._alg

    def public_bytes(self) -> bytes:
        """Our ExchangeData for KEY_EXCHANGE: the raw encapsulation key."""
        return self._key.public_key().public_bytes_raw()

    def shared_secret(self, peer_public: bytes) -> bytes:
        """Decapsulate the responder's KEY_EXCHANGE_RSP ExchangeData (the ciphertext).

        Args:
            peer_public: the ciphertext as received.

        Returns:
            The 32-byte shared secret for HKDF-Extract.

        Raises:
            DecodeError: the ciphertext has the wrong length.
        """
        size = kem_ciphertext_size(self._alg)
        if len(peer_public) != size:
            raise DecodeError(
                f"{self._alg.name} ciphertext is {len(peer_public)} bytes, expected {size}")
        try:
            return self._key.decapsulate(bytes(peer_public))
        except ValueError as exc:
            raise DecodeError(f"{self._alg.name} ciphertext: {exc}") from exc

    def __repr__(self) -> str:
        return f"KemKeyPair(algorithm={self._alg.name})"


def generate_kem_key(alg: KemAlgo) -> KemKeyPair:
    """Generate the requester's ephemeral decapsulation key from the OS RNG.

    Raises:
        ConfigurationError: ML-KEM-512 (not in cryptography) or not exactly one bit.
    """
    alg = _usable(alg)
    return KemKeyPair(alg, _PRIVATE[alg].generate())


def kem_encapsulate(alg: KemAlgo, encapsulation_key: bytes) -> tuple[bytes, bytes]:
    """The responder's half: encapsulate a fresh secret to the requester's key.

    Args:
        alg: the selected KemAlgo.
        encapsulation_key: KEY_EXCHANGE's ExchangeData as received.

    Returns:
        ``(ciphertext, shared_secret)``: the ciphertext is our KEY_EXCHANGE_RSP
        ExchangeData, the secret goes into the key schedule.

    Raises:
        DecodeError: wrong length, or a key failing FIPS 203's modulus check.
        ConfigurationError: ML-KEM-512 or not exactly one bit.
    """
    alg = _usable(alg)
    size = kem_encapsulation_key_size(alg)
    if len(encapsulation_key) != size:
        raise DecodeError(
            f"{alg.name} encapsulation key is {len(encapsulation_key)} bytes, expected {size}")
    try:
        public = _PUBLIC[alg].from_public_bytes(bytes(encapsulation_key))
    except ValueError as exc:
        raise DecodeError(f"{alg.name} encapsulation key is not valid: {exc}") from exc
    secret, ciphertext = public.encapsulate()
    return ciphertext, secret
