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
def _token(signed: bool) -> bytes:
    return export_eat(claims_from_report(report(SpdmVersion.V13)), NONCE, _key() if signed else None)


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


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_byte_changes_of_an_unsigned_token_fail(data: st.DataObject) -> None:
    token = _token(False)
    position = data.draw(st.integers(0, len(token) - 1), label="position")
    mask = data.draw(st.integers(1, 0xFF), label="mask")
    assert _fails(_flipped(token, position, mask), False)


@pytest.mark.parametrize("signed", [False, True])
def test_a_wrong_nonce_fails(signed: bool) -> None:
    for nonce in (bytes(32), NONCE[:-1] + bytes([NONCE[-1] ^ 1])):
        with pytest.raises(VerificationError):
            verify_eat(_token(signed), nonce, (root(),), NOW, _key().public_key() if signed else None)
