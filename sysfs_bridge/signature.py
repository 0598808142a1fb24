"""Check one recorded SPDM signature offline, from what was written down about it.

A signature devsec recorded (an entry of a ``signatures/`` log, an evidence
bundle) is re-verified long after the connection is gone, by someone holding
only its parts.  Both readers go through :func:`verify_recorded_signature`, so
they apply the same rules: the signing context is one of DSP0274's, the stated
combined_spdm_prefix is exactly the one the version and context imply (none
before 1.2), both nonces occur in the transcript, and the signature verifies
over the transcript with the leaf key.  Whose key that is (the chain and its
trust) is each caller's business.
"""

from __future__ import annotations

from typing import Final

from spdm.crypto import PublicKey, SigningAlgo, signing_context_prefix, verify
from spdm.errors import DecodeError
from spdm.events import SignedEvidence
from spdm.messages import Algorithms
from spdm.messages.codes import BaseAsymAlgo, PqcAsymAlgo, SpdmVersion

__all__ = ["SIGNING_CONTEXTS", "signed_signing_alg", "verify_recorded_signature"]

SIGNING_CONTEXTS: Final = frozenset({
    "responder-challenge_auth signing",
    "requester-challenge_auth signing",
    "responder-measurements signing",
    "responder-key_exchange_rsp signing",
    "requester-finish signing",
    "responder-endpoint_info signing",
    "requester-endpoint_info signing",
})
"""DSP0274's signing context strings (§15, 1.3): the values a recorded signature's type may hold."""


def verify_recorded_signature(evidence: SignedEvidence, key: PublicKey) -> None:
    """Check one recorded signature and its stated parts.

    Args:
        evidence: the record (context, version, algorithms, transcript, signature,
            nonces, combined prefix) as read back from wherever it was stored.
        key: the public key of the leaf that signed.

    Raises:
        DecodeError: the context is not a DSP0274 signing context, the combined
            prefix is not the one the version and context imply, or a nonce does
            not occur in the transcript: the record is inconsistent.
        VerificationError: the signature does not verify, or ``key`` does not
            fit the signature algorithm.
        ConfigurationError: an algorithm devsec cannot verify (SM2, Ed448 with
            SPDM 1.2+).
    """
    context = evidence.context
    if context not in SIGNING_CONTEXTS:
        raise DecodeError(f"{context!r} is not a DSP0274 signing context")
    version = SpdmVersion(evidence.version)
    expected = signing_context_prefix(version, context) if version >= SpdmVersion.V12 else b""
    if evidence.combined_prefix != expected:
        raise DecodeError(f"the combined_spdm_prefix is not the SPDM {version.text} prefix of {context!r}"
                          if expected else f"SPDM {version.text} signs without a combined_spdm_prefix")
    for what, nonce in (("requester", evidence.requester_nonce), ("responder", evidence.responder_nonce)):
        if nonce not in evidence.transcript:
            raise DecodeError(f"the {what} nonce does not occur in the transcript")
    verify(key, evidence.asym_alg, evidence.hash_alg, version, context, evidence.transcript,
           evidence.signature)


def signed_signing_alg(algorithms: Algorithms) -> SigningAlgo:
    """The one signature algorithm a signed ALGORITHMS selected: its BaseAsymSel, or from SPDM 1.4
    its PqcAsymSel (an ML-DSA set), the other field being 0.

    Raises:
        DecodeError: it selects no algorithm, several, or one in each field.
    """
    base, pqc = algorithms.base_asym_sel, algorithms.pqc_asym_sel
    if base and pqc:
        raise DecodeError(f"the signed ALGORITHMS selects BaseAsymAlgo 0x{base:x} and PqcAsymAlgo 0x{pqc:x}")
    if pqc:
        if pqc not in {int(asym) for asym in PqcAsymAlgo}:
            raise DecodeError(f"the signed ALGORITHMS selects PqcAsymAlgo 0x{pqc:x}, not one algorithm")
        return PqcAsymAlgo(pqc)
    if base not in {int(asym) for asym in BaseAsymAlgo}:
        raise DecodeError(f"the signed ALGORITHMS selects BaseAsymAlgo 0x{base:x}, not one algorithm")
    return BaseAsymAlgo(base)
