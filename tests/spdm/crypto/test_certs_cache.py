"""A long-lived process checks each certificate's parse and each chain signature once, and no more.

The kept results never stand in for what depends on the connection (validity
at ``now``, the trust anchors, the leaf's rules), and a failed check is never kept.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spdm.crypto.certs import (
    PARSED_CERTIFICATES_KEPT,
    VERIFIED_SIGNATURES_KEPT,
    Certificate,
    _parse_der,
    _verify_issued_by,
    build_spdm_cert_chain,
    parse_spdm_cert_chain,
    validate_cert_chain,
)
from spdm.crypto.identity import DeviceIdentity, generate_device_identity
from spdm.errors import VerificationError
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo

START = datetime(2026, 1, 1, tzinfo=UTC)
NOW = START + timedelta(days=10)
P384 = BaseAsymAlgo.ECDSA_P384


@pytest.fixture(scope="module")
def identity() -> DeviceIdentity:
    return generate_device_identity(P384, not_before=START)


def _validate(certs: tuple[Certificate, ...] | list[Certificate], root: Certificate,
              now: datetime = NOW) -> None:
    chain = parse_spdm_cert_chain(build_spdm_cert_chain(certs, BaseHashAlgo.SHA_384), BaseHashAlgo.SHA_384)
    validate_cert_chain(chain, [root], P384, now=now)


def test_a_chain_seen_again_is_not_verified_again(identity: DeviceIdentity) -> None:
    _validate(identity.certificates, identity.root)
    misses = _verify_issued_by.cache_info().misses
    hits = _verify_issued_by.cache_info().hits
    _validate(identity.certificates, identity.root)
    assert _verify_issued_by.cache_info().misses == misses
    assert _verify_issued_by.cache_info().hits == hits + len(identity.certificates) - 1


def test_validity_is_checked_every_time(identity: DeviceIdentity) -> None:
    _validate(identity.certificates, identity.root)
    with pytest.raises(VerificationError, match="not valid at"):
        _validate(identity.certificates, identity.root, now=START + timedelta(days=4000))


def test_the_trust_anchor_is_checked_every_time(identity: DeviceIdentity) -> None:
    _validate(identity.certificates, identity.root)
    other = generate_device_identity(P384, not_before=START).root
    with pytest.raises(VerificationError, match="does not lead to a trusted root"):
        _validate(identity.certificates, other)


def test_a_failed_signature_is_never_kept(identity: DeviceIdentity) -> None:
    certs = list(identity.certificates)
    der = bytearray(certs[2].der)
    der[-1] ^= 0x01  # the leaf's signature, still well-formed DER
    certs[2] = Certificate(bytes(der))
    for _ in range(2):
        misses = _verify_issued_by.cache_info().misses
        with pytest.raises(VerificationError, match="signature does not verify"):
            _validate(certs, identity.root)
        assert _verify_issued_by.cache_info().misses == misses + 1  # checked again, not remembered


def test_the_caches_are_bounded() -> None:
    assert _parse_der.cache_info().maxsize == PARSED_CERTIFICATES_KEPT
    assert _verify_issued_by.cache_info().maxsize == VERIFIED_SIGNATURES_KEPT
