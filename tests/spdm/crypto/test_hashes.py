"""Tests for spdm.crypto.hashes: known answers from FIPS 180-4, RFC 4231, RFC 5869."""

from __future__ import annotations

import pytest

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
from spdm.errors import ConfigurationError, LocalProtocolError, VerificationError
from spdm.messages.codes import BaseHashAlgo, MeasurementHashAlgo


def _id(value: object) -> str:
    return str(getattr(value, "name", value))


# FIPS 180-4 / FIPS 202 example digests of "abc".
ABC_DIGESTS = {
    BaseHashAlgo.SHA_256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    BaseHashAlgo.SHA_384: "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
                          "8086072ba1e7cc2358baeca134c825a7",
    BaseHashAlgo.SHA_512: "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                          "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    BaseHashAlgo.SHA3_256: "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532",
}

# RFC 4231 §4.3 (test case 2): key "Jefe".
RFC4231_CASE2 = {
    BaseHashAlgo.SHA_256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    BaseHashAlgo.SHA_384: "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
                          "8e2240ca5e69e2c78b3239ecfab21649",
    BaseHashAlgo.SHA_512: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
                          "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
}


@pytest.mark.parametrize("alg", list(ABC_DIGESTS), ids=_id)
def test_digest_known_answers(alg: BaseHashAlgo) -> None:
    assert digest(alg, b"abc").hex() == ABC_DIGESTS[alg]


@pytest.mark.parametrize(("alg", "size"), [
    (BaseHashAlgo.SHA_256, 32), (BaseHashAlgo.SHA_384, 48), (BaseHashAlgo.SHA_512, 64),
    (BaseHashAlgo.SHA3_256, 32), (BaseHashAlgo.SHA3_384, 48), (BaseHashAlgo.SHA3_512, 64),
], ids=_id)
def test_hash_size(alg: BaseHashAlgo, size: int) -> None:
    assert hash_size(alg) == size
    assert len(digest(alg, b"")) == size


@pytest.mark.parametrize("alg", [
    BaseHashAlgo.SM3_256, BaseHashAlgo(0), BaseHashAlgo.SHA_256 | BaseHashAlgo.SHA_384,
], ids=["SM3", "none", "two-bits"])
def test_unsupported_hash_is_configuration_error(alg: BaseHashAlgo) -> None:
    with pytest.raises(ConfigurationError):
        hash_size(alg)
    with pytest.raises(ConfigurationError):
        TranscriptHash(alg)


def test_transcript_hash_digest_does_not_finalize() -> None:
    th = TranscriptHash(BaseHashAlgo.SHA_256)
    th.update(b"a")
    first = th.digest()
    assert first == digest(BaseHashAlgo.SHA_256, b"a")
    assert th.digest() == first  # reading twice is fine
    th.update(b"bc")
    assert th.digest() == bytes.fromhex(ABC_DIGESTS[BaseHashAlgo.SHA_256])


def test_transcript_hash_copy_is_independent() -> None:
    th = TranscriptHash(BaseHashAlgo.SHA_384)
    th.update(b"ab")
    fork = th.copy()
    fork.update(b"c")
    th.update(b"X")
    assert fork.digest() == bytes.fromhex(ABC_DIGESTS[BaseHashAlgo.SHA_384])
    assert th.digest() == digest(BaseHashAlgo.SHA_384, b"abX")


def test_measurement_hashes() -> None:
    assert measurement_hash_size(MeasurementHashAlgo.RAW_BIT_STREAM_ONLY) == 0
    assert measurement_hash_size(MeasurementHashAlgo.SHA_384) == 48
    assert measurement_hash_size(MeasurementHashAlgo.SHA3_512) == 64
    assert measurement_digest(MeasurementHashAlgo.SHA_256, b"abc").hex() == \
        ABC_DIGESTS[BaseHashAlgo.SHA_256]
    with pytest.raises(ConfigurationError):
        measurement_digest(MeasurementHashAlgo.RAW_BIT_STREAM_ONLY, b"abc")
    with pytest.raises(ConfigurationError):
        measurement_hash_size(MeasurementHashAlgo.SM3_256)


@pytest.mark.parametrize("alg", list(RFC4231_CASE2), ids=_id)
def test_hmac_rfc4231_case2(alg: BaseHashAlgo) -> None:
    mac = hmac_digest(alg, b"Jefe", b"what do ya want for nothing?")
    assert mac.hex() == RFC4231_CASE2[alg]
    hmac_verify(alg, b"Jefe", b"what do ya want for nothing?", mac)


def test_hmac_verify_rejects_wrong_mac() -> None:
    mac = bytearray(hmac_digest(BaseHashAlgo.SHA_256, b"Jefe", b"data"))
    mac[-1] ^= 1
    with pytest.raises(VerificationError, match="SHA_256"):
        hmac_verify(BaseHashAlgo.SHA_256, b"Jefe", b"data", bytes(mac))
    with pytest.raises(VerificationError):
        hmac_verify(BaseHashAlgo.SHA_256, b"Jefe", b"data", bytes(mac[:-1]))


def test_hkdf_rfc5869_case1() -> None:
    # RFC 5869 Appendix A.1 (SHA-256).
    ikm = bytes([0x0B]) * 22
    salt = bytes(range(0x0D))
    info = bytes(range(0xF0, 0xFA))
    prk = hkdf_extract(BaseHashAlgo.SHA_256, salt, ikm)
    assert prk.hex() == "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
    okm = hkdf_expand(BaseHashAlgo.SHA_256, prk, info, 42)
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                         "34007208d5b887185865")


def test_hkdf_expand_length_bounds() -> None:
    prk = bytes(32)
    assert len(hkdf_expand(BaseHashAlgo.SHA_256, prk, b"", 255 * 32)) == 255 * 32
    for bad in (0, 255 * 32 + 1):
        with pytest.raises(LocalProtocolError):
            hkdf_expand(BaseHashAlgo.SHA_256, prk, b"", bad)


def test_constant_time_equal() -> None:
    assert constant_time_equal(b"abc", b"abc")
    assert not constant_time_equal(b"abc", b"abd")
    assert not constant_time_equal(b"abc", b"ab")
