"""Ephemeral Diffie-Hellman for KEY_EXCHANGE (PROTOCOLS.md §3.8.3).

Owns the SPDM ExchangeData encodings (ECDHE: X||Y without the 0x04 prefix;
FFDHE: big-endian Y left-padded to the size of p) and the shared-secret form that
feeds the key schedule (ECDHE: the X coordinate; FFDHE: g^xy padded to p).

A peer value that is the wrong length, not on the curve, or outside 2..p-2 raises
``DecodeError``: like any malformed field it means the peer's KEY_EXCHANGE(_RSP)
bytes are not a valid message, and the responder answers INVALID_REQUEST.
"""

from __future__ import annotations

from functools import cache
from typing import Final

from cryptography.hazmat.primitives.asymmetric import dh, ec

from spdm.errors import ConfigurationError, DecodeError
from spdm.messages.codes import DheGroup

__all__ = ["DheKeyPair", "dhe_public_size", "dhe_secret_size", "generate_dhe_key"]

# RFC 7919 Appendix A safe primes (generator 2). cryptography ships no named FFDHE
# groups, so the primes are constants here; the tests re-derive them from the
# RFC's defining formula.
_FFDHE2048_P: Final = int(
    "FFFFFFFFFFFFFFFFADF85458A2BB4A9AAFDC5620273D3CF1D8B9C583CE2D3695A9E13641146433FB"
    "CC939DCE249B3EF97D2FE363630C75D8F681B202AEC4617AD3DF1ED5D5FD65612433F51F5F066ED0"
    "856365553DED1AF3B557135E7F57C935984F0C70E0E68B77E2A689DAF3EFE8721DF158A136ADE735"
    "30ACCA4F483A797ABC0AB182B324FB61D108A94BB2C8E3FBB96ADAB760D7F4681D4F42A3DE394DF4"
    "AE56EDE76372BB190B07A7C8EE0A6D709E02FCE1CDF7E2ECC03404CD28342F619172FE9CE98583FF"
    "8E4F1232EEF28183C3FE3B1B4C6FAD733BB5FCBC2EC22005C58EF1837D1683B2C6F34A26C1B2EFFA"
    "886B423861285C97FFFFFFFFFFFFFFFF",
    16,
)

_FFDHE3072_P: Final = int(
    "FFFFFFFFFFFFFFFFADF85458A2BB4A9AAFDC5620273D3CF1D8B9C583CE2D3695A9E13641146433FB"
    "CC939DCE249B3EF97D2FE363630C75D8F681B202AEC4617AD3DF1ED5D5FD65612433F51F5F066ED0"
    "856365553DED1AF3B557135E7F57C935984F0C70E0E68B77E2A689DAF3EFE8721DF158A136ADE735"
    "30ACCA4F483A797ABC0AB182B324FB61D108A94BB2C8E3FBB96ADAB760D7F4681D4F42A3DE394DF4"
    "AE56EDE76372BB190B07A7C8EE0A6D709E02FCE1CDF7E2ECC03404CD28342F619172FE9CE98583FF"
    "8E4F1232EEF28183C3FE3B1B4C6FAD733BB5FCBC2EC22005C58EF1837D1683B2C6F34A26C1B2EFFA"
    "886B4238611FCFDCDE355B3B6519035BBC34F4DEF99C023861B46FC9D6E6C9077AD91D2691F7F7EE"
    "598CB0FAC186D91CAEFE130985139270B4130C93BC437944F4FD4452E2D74DD364F2E21E71F54BFF"
    "5CAE82AB9C9DF69EE86D2BC522363A0DABC521979B0DEADA1DBF9A42D5C4484E0ABCD06BFA53DDEF"
    "3C1B20EE3FD59D7C25E41D2B66C62E37FFFFFFFFFFFFFFFF",
    16,
)

_FFDHE4096_P: Final = int(
    "FFFFFFFFFFFFFFFFADF85458A2BB4A9AAFDC5620273D3CF1D8B9C583CE2D3695A9E13641146433FB"
    "CC939DCE249B3EF97D2FE363630C75D8F681B202AEC4617AD3DF1ED5D5FD65612433F51F5F066ED0"
    "856365553DED1AF3B557135E7F57C935984F0C70E0E68B77E2A689DAF3EFE8721DF158A136ADE735"
    "30ACCA4F483A797ABC0AB182B324FB61D108A94BB2C8E3FBB96ADAB760D7F4681D4F42A3DE394DF4"
    "AE56EDE76372BB190B07A7C8EE0A6D709E02FCE1CDF7E2ECC03404CD28342F619172FE9CE98583FF"
    "8E4F1232EEF28183C3FE3B1B4C6FAD733BB5FCBC2EC22005C58EF1837D1683B2C6F34A26C1B2EFFA"
    "886B4238611FCFDCDE355B3B6519035BBC34F4DEF99C023861B46FC9D6E6C9077AD91D2691F7F7EE"
    "598CB0FAC186D91CAEFE130985139270B4130C93BC437944F4FD4452E2D74DD364F2E21E71F54BFF"
    "5CAE82AB9C9DF69EE86D2BC522363A0DABC521979B0DEADA1DBF9A42D5C4484E0ABCD06BFA53DDEF"
    "3C1B20EE3FD59D7C25E41D2B669E1EF16E6F52C3164DF4FB7930E9E4E58857B6AC7D5F42D69F6D18"
    "7763CF1D5503400487F55BA57E31CC7A7135C886EFB4318AED6A1E012D9E6832A907600A918130C4"
    "6DC778F971AD0038092999A333CB8B7A1A1DB93D7140003C2A4ECEA9F98D0ACC0A8291CDCEC97DCF"
    "8EC9B55A7F88A46B4DB5A851F44182E1C68A007E5E655F6AFFFFFFFFFFFFFFFF",
    16,
)

_ECDHE: Final[dict[DheGroup, tuple[type[ec.EllipticCurve], int]]] = {
    DheGroup.SECP_256_R1: (ec.SECP256R1, 32),
    DheGroup.SECP_384_R1: (ec.SECP384R1, 48),
    DheGroup.SECP_521_R1: (ec.SECP521R1, 66),
}
_FFDHE: Final = {
    DheGroup.FFDHE_2048: _FFDHE2048_P,
    DheGroup.FFDHE_3072: _FFDHE3072_P,
    DheGroup.FFDHE_4096: _FFDHE4096_P,
}


def _group(group: DheGroup) -> DheGroup:
    value = group if type(group) is DheGroup else DheGroup(group)  # the Enum call only when it converts
    if value in _ECDHE or value in _FFDHE:
        return value
    raise ConfigurationError(f"unsupported DHE group {group!r}")


@cache
def _ffdhe_parameters(group: DheGroup) -> dh.DHParameters:
    return dh.DHParameterNumbers(_FFDHE[group], 2).parameters()


def dhe_public_size(group: DheGroup) -> int:
    """Size ``D`` of the ExchangeData field (§3.8.3).

    Args:
        group: exactly one DheGroup bit.

    Returns:
        64/96/132 for secp256r1/384r1/521r1, 256/384/512 for FFDHE 2048/3072/4096.

    Raises:
        ConfigurationError: SM2 or not exactly one supported bit.
    """
    group = _group(group)
    if group in _ECDHE:
        return 2 * _ECDHE[group][1]
    return _FFDHE[group].bit_length() // 8


def dhe_secret_size(group: DheGroup) -> int:
    """Size of the shared secret: one coordinate (ECDHE) or the size of p (FFDHE).

    Raises:
        ConfigurationError: SM2 or not exactly one supported bit.
    """
    group = _group(group)
    if group in _ECDHE:
        return _ECDHE[group][1]
    return dhe_public_size(group)


class DheKeyPair:
    """One side's ephemeral DHE key; repr and errors never show the private part."""

    __slots__ = ("_group", "_key")

    def __init__(self, group: DheGroup, key: ec.EllipticCurvePrivateKey | dh.DHPrivateKey) -> None:
        """Wrap a generated key (internal: use generate_dhe_key)."""
        self._group = group
        self._key = key

    @property
    def group(self) -> DheGroup:
        """The DHE group of this key."""
        return self._group

    def public_bytes(self) -> bytes:
        """Our ExchangeData, ready for KEY_EXCHANGE(_RSP)."""
        key = self._key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            numbers = key.public_key().public_numbers()
            size = _ECDHE[self._group][1]
            return numbers.x.to_bytes(size, "big") + numbers.y.to_bytes(size, "big")
        y = key.public_key().public_numbers().y
        return y.to_bytes(dhe_public_size(self._group), "big")

    def shared_secret(self, peer_public: bytes) -> bytes:
        """Combine our key with the peer's ExchangeData.

        Args:
            peer_public: the peer's ExchangeData field as received.

        Returns:
            The DHE secret for HKDF-Extract, ``dhe_secret_size(group)`` bytes.

        Raises:
            DecodeError: wrong length, a point not on the curve, or an FFDHE value
                outside 2..p-2.
        """
        size = dhe_public_size(self._group)
        name = self._group.name
        if len(peer_public) != size:
            raise DecodeError(f"{name} ExchangeData is {len(peer_public)} bytes, expected {size}")
        key = self._key
        if isinstance(key, ec.EllipticCurvePrivateKey):
            try:
                peer_ec = ec.EllipticCurvePublicKey.from_encoded_point(
                    key.curve, b"\x04" + peer_public)
            except ValueError as exc:
                raise DecodeError(f"{name} ExchangeData is not a point on the curve") from exc
            return key.exchange(ec.ECDH(), peer_ec)
        p = _FFDHE[self._group]
        y = int.from_bytes(peer_public, "big")
        # RFC 7919 §5.1: reject 0, 1 and p-1 (small-subgroup) and anything >= p.
        if not 1 < y < p - 1:
            raise DecodeError(f"{name} ExchangeData is outside 2..p-2")
        numbers = _ffdhe_parameters(self._group).parameter_numbers()
        peer_dh = dh.DHPublicNumbers(y, numbers).public_key()
        return key.exchange(peer_dh).rjust(size, b"\x00")

    def __repr__(self) -> str:
        return f"DheKeyPair(group={self._group.name})"


def generate_dhe_key(group: DheGroup) -> DheKeyPair:
    """Generate an ephemeral key from the OS RNG.

    Args:
        group: exactly one DheGroup bit (not SM2).

    Returns:
        The key pair.

    Raises:
        ConfigurationError: SM2 or not exactly one supported bit.
    """
    group = _group(group)
    if group in _ECDHE:
        return DheKeyPair(group, ec.generate_private_key(_ECDHE[group][0]()))
    return DheKeyPair(group, _ffdhe_parameters(group).generate_private_key())
