"""Tampered EAT-DA tokens fail: every single-byte change of a signed token, and a wrong nonce.

The broker-signed token (COSE_Sign1) is checked exhaustively: each of its
bytes is flipped in turn and each result must fail verification.  The
unsigned token is sampled (hypothesis): there the device's signature, the
chain and the exact comparisons of every stated claim with the signed bytes
must catch the change.
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spdm.crypto import PrivateKey, generate_private_key
from spdm.errors import DecodeError, VerificationError
from spdm.messages.codes import BaseAsymAlgo, SpdmVersion
from sysfs_bridge.eat import claims_from_report, export_eat, verify_eat
from tests.devsec.test_evidence_eat import NONCE, NOW, report, root


@cache
def _key() -> PrivateKey:
    return generate_private_key(BaseAsymAlgo.ECDSA_P256)


@cache
def _token(signed: bool, version: SpdmVersion = SpdmVersion.V13) -> bytes:
    return export_eat(claims_from_report(report(version)), NONCE, _key() if signed else None)


def _fails(data: bytes, signed: bool) -> bool:
    try:
        verify_eat(data, NONCE, (root(),), NOW, _key().public_key() if signed else None)
    except (DecodeError, VerificationError):
        return True
    return False


def _flipped(data: bytes, position: int, mask: int = 0x01) -> bytes:
    changed = bytearray(data)
    changed[position] ^= mask
    return bytes(changed)


def test_the_untampered_tokens_verify() -> None:
    assert not _fails(_token(True), True) and not _fails(_token(False), False)


def test_every_single_byte_flip_of_a_signed_token_fails() -> None:
    token = _token(True)
    passed = [position for position in range(len(token)) if not _fails(_flipped(token, position), True)]
    assert passed == []


@pytest.mark.parametrize("version", [SpdmVersion.V11, SpdmVersion.V13], ids=lambda v: v.text)
def test_every_single_bit_flip_of_an_unsigned_token_fails(version: SpdmVersion) -> None:
    """Exhaustive in the low bit, the mask hypothesis draws most: a map's entry count, a claim's
    key and a certificate's unused-bits octet each once let a flipped token pass."""
    token = _token(False, version)
    passed = [position for position in range(len(token)) if not _fails(_flipped(token, position), False)]
    assert passed == []


@pytest.mark.parametrize("version", [SpdmVersion.V11, SpdmVersion.V13], ids=lambda v: v.text)
@settings(max_examples=100, deadline=None)
@given(st.data())
def test_byte_changes_of_an_unsigned_token_fail(version: SpdmVersion, data: st.DataObject) -> None:
    """Up to four bytes changed: only DecodeError or VerificationError may come out, never a pass."""
    token = bytearray(_token(False, version))
    for _ in range(data.draw(st.integers(1, 4), label="changes")):
        position = data.draw(st.integers(0, len(token) - 1), label="position")
        token[position] ^= data.draw(st.integers(1, 0xFF), label="mask")
    assert bytes(token) == _token(False, version) or _fails(bytes(token), False)


@pytest.mark.parametrize("signed", [False, True])
def test_a_wrong_nonce_fails(signed: bool) -> None:
    for nonce in (bytes(32), NONCE[:-1] + bytes([NONCE[-1] ^ 1])):
        with pytest.raises(VerificationError):
            verify_eat(_token(signed), nonce, (root(),), NOW, _key().public_key() if signed else None)
