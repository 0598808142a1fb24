"""Tests for spdm.crypto.dhe: agreement, wire sizes, peer-value validation, RFC 7919 primes."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from spdm.crypto.dhe import (
    _FFDHE,
    DheKeyPair,
    dhe_public_size,
    dhe_secret_size,
    generate_dhe_key,
)
from spdm.errors import ConfigurationError, DecodeError
from spdm.messages.codes import DheGroup

SIZES = {  # group: (ExchangeData size D, shared secret size) -- PROTOCOLS.md §3.8.3
    DheGroup.SECP_256_R1: (64, 32),
    DheGroup.SECP_384_R1: (96, 48),
    DheGroup.SECP_521_R1: (132, 66),
    DheGroup.FFDHE_2048: (256, 256),
    DheGroup.FFDHE_3072: (384, 384),
    DheGroup.FFDHE_4096: (512, 512),
}
ECDHE = [DheGroup.SECP_256_R1, DheGroup.SECP_384_R1, DheGroup.SECP_521_R1]
FFDHE = [DheGroup.FFDHE_2048, DheGroup.FFDHE_3072, DheGroup.FFDHE_4096]


def _id(value: object) -> str:
    return str(getattr(value, "name", value))


@pytest.mark.parametrize("group", list(SIZES), ids=_id)
def test_both_sides_agree(group: DheGroup) -> None:
    requester, responder = generate_dhe_key(group), generate_dhe_key(group)
    assert requester.group == group
    req_public, rsp_public = requester.public_bytes(), responder.public_bytes()
    assert len(req_public) == dhe_public_size(group) == SIZES[group][0]
    secret = requester.shared_secret(rsp_public)
    assert len(secret) == dhe_secret_size(group) == SIZES[group][1]
    assert secret == responder.shared_secret(req_public)
    assert secret != generate_dhe_key(group).shared_secret(rsp_public)


@pytest.mark.parametrize("group", ECDHE, ids=_id)
def test_ecdhe_encoding_is_x_y_and_secret_is_x(group: DheGroup) -> None:
    ours, theirs = generate_dhe_key(group), generate_dhe_key(group)
    public = theirs.public_bytes()
    size = len(public) // 2
    # Independent check: X||Y is the uncompressed SEC1 point without its 0x04 byte...
    curve = {32: ec.SECP256R1(), 48: ec.SECP384R1(), 66: ec.SECP521R1()}[size]
    point = ec.EllipticCurvePublicKey.from_encoded_point(curve, b"\x04" + public)
    assert point.public_numbers().x == int.from_bytes(public[:size], "big")
    # ...and the shared secret is the ECDH output (the X coordinate), fixed size.
    private = ours._key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert ours.shared_secret(public) == private.exchange(ec.ECDH(), point)
    assert len(ours.shared_secret(public)) == size


@pytest.mark.parametrize("group", list(SIZES), ids=_id)
def test_wrong_length_peer_value(group: DheGroup) -> None:
    key = generate_dhe_key(group)
    public = generate_dhe_key(group).public_bytes()
    for bad in (public[:-1], public + b"\x00", b""):
        with pytest.raises(DecodeError, match="bytes, expected"):
            key.shared_secret(bad)


@pytest.mark.parametrize("group", ECDHE, ids=_id)
def test_off_curve_point(group: DheGroup) -> None:
    key = generate_dhe_key(group)
    public = bytearray(generate_dhe_key(group).public_bytes())
    public[-1] ^= 0x01  # change Y: no longer on the curve
    with pytest.raises(DecodeError, match="not a point on the curve"):
        key.shared_secret(bytes(public))
    with pytest.raises(DecodeError, match="not a point on the curve"):
        key.shared_secret(bytes(len(public)))


@pytest.mark.parametrize("group", FFDHE, ids=_id)
def test_ffdhe_rejects_degenerate_values(group: DheGroup) -> None:
    key = generate_dhe_key(group)
    size = dhe_public_size(group)
    p = _FFDHE[group]
    for y in (0, 1, p - 1, p, 2**(8 * size) - 1):
        with pytest.raises(DecodeError, match="outside"):
            key.shared_secret(y.to_bytes(size, "big"))
    assert len(key.shared_secret((2).to_bytes(size, "big"))) == size


@pytest.mark.parametrize(("group", "bits", "x"), [
    (DheGroup.FFDHE_2048, 2048, 560316),
    (DheGroup.FFDHE_3072, 3072, 2625351),
    (DheGroup.FFDHE_4096, 4096, 5736041),
], ids=_id)
def test_ffdhe_primes_match_rfc7919_definition(group: DheGroup, bits: int, x: int) -> None:
    # RFC 7919 Appendix A: p = 2^b - 2^{b-64} + {[2^{b-130} e] + X} * 2^64 - 1.
    with localcontext() as ctx:
        ctx.prec = 1400
        floor_term = int(Decimal(2) ** (bits - 130) * Decimal(1).exp())
    expected = 2**bits - 2**(bits - 64) + (floor_term + x) * 2**64 - 1
    assert _FFDHE[group] == expected


@pytest.mark.parametrize("group", [DheGroup.SM2_P256, DheGroup(0),
                                   DheGroup.SECP_256_R1 | DheGroup.SECP_384_R1], ids=_id)
def test_unsupported_groups(group: DheGroup) -> None:
    for call in (generate_dhe_key, dhe_public_size, dhe_secret_size):
        with pytest.raises(ConfigurationError):
            call(group)


def test_repr_hides_key() -> None:
    key = generate_dhe_key(DheGroup.SECP_384_R1)
    assert isinstance(key, DheKeyPair)
    assert repr(key) == "DheKeyPair(group=SECP_384_R1)"
