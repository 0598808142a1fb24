"""The reference's ML-DSA-65 identity and signatures (vectors/libspdm-doe/spdm14-mldsa65-mlkem768).

The capture's two certificate chains (slots 0 and 4, sample chain mldsa65 of libspdm) pass devsec's
chain checks; the transcripts cut from the capture hash to what both reference sides logged
(``m1m2 hash``, ``l1l2 hash``, ``th_curr hash``); and every ML-DSA-65 signature of the capture
(CHALLENGE_AUTH, MEASUREMENTS, both KEY_EXCHANGE_RSPs) verifies with spdm.crypto.verify.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spdm.crypto import PublicKey, parse_spdm_cert_chain, validate_cert_chain, verify
from spdm.crypto.hashes import digest
from spdm.errors import VerificationError
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, PqcAsymAlgo, SpdmVersion
from tests.spdm import pqc_vectors as pv

SHA384 = BaseHashAlgo.SHA_384
NOW = datetime(2026, 12, 1, tzinfo=UTC)
SIDES = ["requester", "responder"]
V14 = SpdmVersion.V14


@pytest.mark.parametrize("slot", [0, 4])
def test_capture_chains_pass_our_chain_checks(slot: int) -> None:
    chain = parse_spdm_cert_chain(pv.cert_chain(slot), SHA384)
    assert len(chain.raw) == (0x41D5 if slot == 0 else 0x41DB)
    assert [cert.subject.split(" ")[-1] for cert in chain.certificates][:2] == ["ca", "cert"]
    validate_cert_chain(chain, [chain.root], PqcAsymAlgo.ML_DSA_65, now=NOW)
    for other in (PqcAsymAlgo.ML_DSA_44, PqcAsymAlgo.ML_DSA_87, BaseAsymAlgo.RSAPSS_2048):
        with pytest.raises(VerificationError, match="does not fit"):
            validate_cert_chain(chain, [chain.root], other, now=NOW)


def test_digests_are_the_chains_hashes() -> None:
    # Slot mask 0x13: digests of slots 0, 1 and 4, in slot order.
    digests = pv.packet(14)[4:4 + 3 * pv.HASH]
    assert digests[:pv.HASH] == digest(SHA384, pv.cert_chain(0))
    assert digests[2 * pv.HASH:] == digest(SHA384, pv.cert_chain(4))


@pytest.mark.parametrize("side", SIDES)
def test_transcripts_hash_as_the_reference_logged(side: str) -> None:
    assert pv.logged(side, "m1m2 hash") == [digest(SHA384, pv.m1())]
    assert pv.logged(side, "l1l2 hash") == [digest(SHA384, pv.l1())]
    hashes = []
    for session in (0, 1):
        head, chain, tail = pv.th_parts(session)
        hashes.append(digest(SHA384, head + digest(SHA384, chain) + tail))
    assert pv.logged(side, "th_curr hash") == hashes


def _leaf_key(slot: int) -> PublicKey:
    return parse_spdm_cert_chain(pv.cert_chain(slot), SHA384).leaf.public_key()


def _signed() -> list[tuple[str, int, bytes, bytes]]:
    """(context, slot, transcript, signature) of every responder signature in the capture."""
    out = [("responder-challenge_auth signing", 0, pv.m1(), pv.challenge_auth()[-pv.MLDSA65_SIGNATURE:]),
           ("responder-measurements signing", 0, pv.l1(), pv.measurements()[-pv.MLDSA65_SIGNATURE:])]
    for session, slot in ((0, 0), (1, 4)):
        head, chain, tail = pv.th_parts(session)
        out.append(("responder-key_exchange_rsp signing", slot, head + digest(SHA384, chain) + tail,
                    pv.key_exchange_rsp(session)[-pv.MLDSA65_SIGNATURE:]))
    return out


@pytest.mark.parametrize("index", range(4), ids=["challenge_auth", "measurements", "key_exchange_rsp-0",
                                                 "key_exchange_rsp-4"])
def test_every_capture_signature_verifies(index: int) -> None:
    """ML-DSA-65 over combined_spdm_prefix (1.4) || SHA-384(transcript), the context string as FIPS 204
    context: the reference's signatures verify with devsec's verify, and fail on any other reading."""
    context, slot, transcript, signature = _signed()[index]
    key = _leaf_key(slot)
    verify(key, PqcAsymAlgo.ML_DSA_65, SHA384, V14, context, transcript, signature)
    with pytest.raises(VerificationError, match="does not verify"):
        verify(key, PqcAsymAlgo.ML_DSA_65, SHA384, SpdmVersion.V13, context, transcript, signature)
    with pytest.raises(VerificationError, match="does not verify"):
        verify(key, PqcAsymAlgo.ML_DSA_65, SHA384, V14, context, transcript[:-1], signature)
    other = "responder-measurements signing" if index != 1 else "responder-challenge_auth signing"
    with pytest.raises(VerificationError, match="does not verify"):
        verify(key, PqcAsymAlgo.ML_DSA_65, SHA384, V14, other, transcript, signature)
