"""Tests for spdm.crypto.aead: sizes, round trips, tag failures, RFC 8439 and GCM known answers."""

from __future__ import annotations

import pytest

from spdm.crypto.aead import aead_iv_size, aead_key_size, aead_open, aead_seal, aead_tag_size
from spdm.errors import ConfigurationError, LocalProtocolError, VerificationError
from spdm.messages.codes import AeadSuite

SUITES = [AeadSuite.AES_128_GCM, AeadSuite.AES_256_GCM, AeadSuite.CHACHA20_POLY1305]
NONCE = bytes(range(12))
AAD = b"\xff\xff\xff\xff\x20\x00"  # SessionID || Length, as in a secured record


def _id(value: object) -> str:
    return str(getattr(value, "name", value))


@pytest.mark.parametrize(("suite", "key_size"), [
    (AeadSuite.AES_128_GCM, 16), (AeadSuite.AES_256_GCM, 32), (AeadSuite.CHACHA20_POLY1305, 32),
], ids=_id)
def test_sizes(suite: AeadSuite, key_size: int) -> None:
    assert aead_key_size(suite) == key_size
    assert aead_iv_size(suite) == 12
    assert aead_tag_size(suite) == 16


@pytest.mark.parametrize("suite", [AeadSuite.SM4_GCM, AeadSuite(0),
                                   AeadSuite.AES_128_GCM | AeadSuite.AES_256_GCM], ids=_id)
def test_unsupported_suites(suite: AeadSuite) -> None:
    for call in (aead_key_size, aead_iv_size, aead_tag_size):
        with pytest.raises(ConfigurationError):
            call(suite)
    with pytest.raises(ConfigurationError):
        aead_seal(suite, bytes(16), NONCE, b"x", b"")


@pytest.mark.parametrize("suite", SUITES, ids=_id)
def test_round_trip_and_tamper(suite: AeadSuite) -> None:
    key = bytes(range(aead_key_size(suite)))
    plaintext = b"secured SPDM application data"
    sealed = aead_seal(suite, key, NONCE, plaintext, AAD)
    assert len(sealed) == len(plaintext) + 16
    assert aead_open(suite, key, NONCE, sealed, AAD) == plaintext
    assert aead_open(suite, key, NONCE, aead_seal(suite, key, NONCE, b"", AAD), AAD) == b""
    flipped = bytearray(sealed)
    flipped[0] ^= 1
    wrong_nonce = bytes(11) + b"\x01"
    for args in ((key, NONCE, bytes(flipped), AAD), (key, NONCE, sealed, AAD + b"!"),
                 (key, wrong_nonce, sealed, AAD), (bytes(len(key)), NONCE, sealed, AAD),
                 (key, NONCE, sealed[:15], AAD)):
        with pytest.raises(VerificationError, match=suite.name):
            aead_open(suite, *args)


@pytest.mark.parametrize("suite", SUITES, ids=_id)
def test_wrong_key_or_nonce_size_is_local_error(suite: AeadSuite) -> None:
    size = aead_key_size(suite)
    for key in (bytes(size - 1), bytes(size + 1), bytes(24)):
        with pytest.raises(LocalProtocolError, match="key is"):
            aead_seal(suite, key, NONCE, b"x", b"")
        with pytest.raises(LocalProtocolError, match="key is"):
            aead_open(suite, key, NONCE, bytes(17), b"")
    with pytest.raises(LocalProtocolError, match="nonce"):
        aead_seal(suite, bytes(size), bytes(8), b"x", b"")


def test_aes_128_gcm_spec_test_case_4() -> None:
    # McGrew & Viega, "The Galois/Counter Mode of Operation", Test Case 4.
    key = bytes.fromhex("feffe9928665731c6d6a8f9467308308")
    iv = bytes.fromhex("cafebabefacedbaddecaf888")
    plaintext = bytes.fromhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
    aad = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    expected = bytes.fromhex(
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
        "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
        "5bc94fbc3221a5db94fae95ae7121a47")
    assert aead_seal(AeadSuite.AES_128_GCM, key, iv, plaintext, aad) == expected
    assert aead_open(AeadSuite.AES_128_GCM, key, iv, expected, aad) == plaintext


def test_chacha20_poly1305_rfc8439_2_8_2() -> None:
    key = bytes(range(0x80, 0xA0))
    nonce = bytes.fromhex("070000004041424344454647")
    aad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    plaintext = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one "
                 b"tip for the future, sunscreen would be it.")
    expected = bytes.fromhex(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
        "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
        "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
        "3ff4def08e4b7a9de576d26586cec64b6116"
        "1ae10b594f09e26a7e902ecbd0600691")
    assert aead_seal(AeadSuite.CHACHA20_POLY1305, key, nonce, plaintext, aad) == expected
    assert aead_open(AeadSuite.CHACHA20_POLY1305, key, nonce, expected, aad) == plaintext
