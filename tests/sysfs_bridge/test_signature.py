"""The one offline check of a recorded signature that the log verifier and the evidence bundle share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from spdm.crypto import SpdmCertChain, generate_device_identity
from spdm.errors import DecodeError, VerificationError
from spdm.events import SignedEvidence
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, SpdmVersion
from sysfs_bridge.signature import verify_recorded_signature

from .helpers import CASE_IDS, CASES, report


def _signed(asym: BaseAsymAlgo, version: SpdmVersion) -> tuple[SignedEvidence, SpdmCertChain]:
    measured = report(asym, version).measurements
    assert measured is not None and measured.evidence is not None
    return measured.evidence, report(asym, version).chain


@pytest.mark.parametrize(("asym", "version"), CASES, ids=CASE_IDS)
def test_a_genuine_signature_verifies(asym: BaseAsymAlgo, version: SpdmVersion) -> None:
    evidence, chain = _signed(asym, version)
    verify_recorded_signature(evidence, chain.leaf.public_key())


SPOILS: list[tuple[str, Callable[[SignedEvidence], SignedEvidence], type[Exception], str]] = [
    ("context", lambda e: replace(e, context="responder-measurement signing"),
     DecodeError, "not a DSP0274 signing context"),
    ("context-1.3", lambda e: replace(e, context="responder-challenge_auth signing"),
     DecodeError, "not the SPDM 1.3 prefix"),
    ("combined_prefix", lambda e: replace(e, combined_prefix=b""), DecodeError, "not the SPDM 1.3 prefix"),
    ("requester_nonce", lambda e: replace(e, requester_nonce=b"\x00" * 31 + b"\x01"),
     DecodeError, "requester nonce does not occur"),
    ("responder_nonce", lambda e: replace(e, responder_nonce=b"\xff" * 32),
     DecodeError, "responder nonce does not occur"),
    ("signature", lambda e: replace(e, signature=b"\x00" * 96), VerificationError, "does not verify"),
    ("hash_alg", lambda e: replace(e, hash_alg=BaseHashAlgo.SHA_256), VerificationError, "does not verify"),
    ("asym_alg", lambda e: replace(e, asym_alg=BaseAsymAlgo.ECDSA_P256), VerificationError,
     "96 bytes, expected 64"),
]


@pytest.mark.parametrize(("spoil", "error", "match"), [c[1:] for c in SPOILS], ids=[c[0] for c in SPOILS])
def test_each_inconsistent_part_is_named(spoil: Callable[[SignedEvidence], SignedEvidence],
                                         error: type[Exception], match: str) -> None:
    evidence, chain = _signed(BaseAsymAlgo.ECDSA_P384, SpdmVersion.V13)
    with pytest.raises(error, match=match):
        verify_recorded_signature(spoil(evidence), chain.leaf.public_key())


def test_spdm_1_1_signs_without_a_prefix() -> None:
    evidence, chain = _signed(BaseAsymAlgo.ECDSA_P256, SpdmVersion.V11)
    assert evidence.combined_prefix == b""
    with pytest.raises(DecodeError, match="SPDM 1.1 signs without"):
        verify_recorded_signature(replace(evidence, combined_prefix=b"x" * 100), chain.leaf.public_key())


def test_another_key_does_not_verify() -> None:
    evidence, _ = _signed(BaseAsymAlgo.ECDSA_P384, SpdmVersion.V13)
    stranger = generate_device_identity(BaseAsymAlgo.ECDSA_P384).certificates[-1]
    with pytest.raises(VerificationError, match="does not verify"):
        verify_recorded_signature(evidence, stranger.public_key())
