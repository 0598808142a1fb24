"""Evidence as an EAT for device attestation (draft-poirier-rats-eat-da), exported and verified.

The token is what Veraison's ``DA_SPDM`` scheme and other RATS verifiers read
instead of devsec's own ``devsec-evidence/1`` (:mod:`.bundle`):

- a CMW collection (draft-ietf-rats-msg-wrap), a CBOR map with one entry
  ``"dat"``: a CMW record ``[media type, token bytes]``;
- the token is either a UCCS, ``#6.601(claims-set)`` (RFC 9781), media type
  ``application/eat-ucs+cbor``, or — when the exporter is given a signing key
  (an evidence broker's) — a tagged (18) COSE_Sign1 over the claims-set
  (:mod:`.cose`), media type ``application/eat+cwt``; both with
  ``eat_profile="tag:linaro.org,2025:device#1.0.0"``;
- the claims-set is the draft's ``dat``: ``eat_profile`` (265), ``eat_nonce`` (10,
  the verifier's nonce) and ``eat_submods`` (266) with one submodule per device,
  named ``spdm:`` + the leaf certificate's RFC 4514 subject, holding the
  ``spdm-claims`` of :mod:`.eat_claims`.

Verification applies the ``devsec-evidence/1`` rules to the token: only the
device's signature is believed.  IL1 (the signed L1) is decoded with the SPDM
codec; the chain of the signing slot must lead to a trust anchor; the
signature must verify over IL1 with the stated prefix; the signed
GET_MEASUREMENTS must carry the verifier's nonce; and the measurements are the
signed MEASUREMENTS blocks, which the claimed block map must state exactly.
The claimed VCA must be the one L1 signed (1.2+), the submodule's name must
be its leaf's, the ``eat_nonce`` the verifier's, a stated CHALLENGE_AUTH
signature (3807) must verify over M1 with its slot's trusted chain, and a
COSE_Sign1 must verify with the broker key the verifier names.  The interface report is not signed
by the device (it travelled inside the SPDM session): the verdict returns it
as stated.  Unknown claims are ignored, as the draft requires.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import cbor2

from spdm.cma import AuthenticationReport
from spdm.crypto import (
    Certificate,
    PrivateKey,
    PublicKey,
    SigningAlgo,
    SpdmCertChain,
    build_spdm_cert_chain,
    constant_time_equal,
    parse_der_certificates,
    parse_spdm_cert_chain,
    validate_cert_chain,
)
from spdm.errors import ConfigurationError, DecodeError, DevsecError, LocalProtocolError, VerificationError
from spdm.events import SignedEvidence
from spdm.messages import NONCE_SIZE, MeasurementBlock
from spdm.messages.codes import BaseHashAlgo, MeasurementHashAlgo, SpdmVersion
from spdm.names import SIGNING_ALGORITHMS
from spdm.record import record
from tdisp.messages import InterfaceReport
from tsm import DeviceInfo

from .bundle import MEASUREMENTS_CONTEXT, BundleVerdict, _check_algorithms, _read_l1, _signed_blocks
from .cbor import loads_exact
from .cose import COSE_SIGN1_TAG, sign1, verify_sign1
from .eat_claims import (
    CERTIFICATES,
    CHALLENGE,
    DIGEST_ALGORITHMS,
    INTERFACE_REPORT,
    MAX_BLOCK_ID,
    MEASUREMENTS,
    SIGNATURE,
    SPDM_PROFILE,
    VCA,
    ClaimedSignature,
    block_claims,
    claimed_blocks,
    claimed_signature,
    report_claim,
    report_from_claim,
    signature_claim,
)
from .interface_report import parse_report
from .signature import signed_signing_alg, verify_recorded_signature

__all__ = [
    "CHALLENGE_CONTEXT",
    "CMW_LABEL",
    "DEVICE_PROFILE",
    "FORMAT",
    "UCCS_TAG",
    "DeviceClaims",
    "EatVerdict",
    "claims_from_report",
    "claims_from_tsm",
    "export_eat",
    "submodule_name",
    "verify_eat",
]

FORMAT: Final = "eat-da"
"""The name ``devsec evidence export --format`` gives this format."""

DEVICE_PROFILE: Final = "tag:linaro.org,2025:device#1.0.0"
"""eat_profile of the device-assignment token (the draft's ``dat``)."""

UCCS_TAG: Final = 601
"""The CBOR tag of an unprotected CWT claims-set (RFC 9781)."""

CMW_LABEL: Final = "dat"
"""The CMW collection label devsec files the token under."""

_UCCS_TYPE: Final = f'application/eat-ucs+cbor; eat_profile="{DEVICE_PROFILE}"'
_CWT_TYPE: Final = f'application/eat+cwt; eat_profile="{DEVICE_PROFILE}"'
_EAT_PROFILE, _EAT_NONCE, _EAT_SUBMODS = 265, 10, 266
_DEVICE_CLAIMS: Final = frozenset({_EAT_PROFILE, MEASUREMENTS, CERTIFICATES, VCA, CHALLENGE,
                                   INTERFACE_REPORT})
"""The keys of a device claims-set devsec verifies; any other is refused, the legacy PCIe claims
(3805, 3806) included, which devsec neither writes nor checks."""
CHALLENGE_CONTEXT: Final = "responder-challenge_auth signing"
"""The signing context of CHALLENGE_AUTH (DSP0274 §15)."""
_VERSIONS_NEWEST_FIRST: Final = tuple(sorted(SpdmVersion, reverse=True))


@record(frozen=True, slots=True)
class DeviceClaims:
    """What devsec holds about one device, whatever it came from (its own SPDM exchange, a TSM).

    Attributes:
        certificates: slot -> the slot's DER certificates concatenated, root first.
        evidence: the signed measurements: L1, signature, nonces, prefix, slot.
        measurements: the signed blocks.
        measurement_hash_alg: how their digests were made.
        interface_report: the raw TDISP report of a bound TDI, or empty.
        challenge: the verified CHALLENGE_AUTH signature (over M1), or None.
    """

    certificates: Mapping[int, bytes]
    evidence: SignedEvidence
    measurements: tuple[MeasurementBlock, ...]
    measurement_hash_alg: MeasurementHashAlgo
    interface_report: bytes = b""
    challenge: SignedEvidence | None = None


@record(frozen=True, slots=True)
class EatVerdict:
    """What a verified token proves, and what it only states.

    Attributes:
        spdm: the device-signed part, checked as for ``devsec-evidence/1``.
        submodule: the device's submodule name (``spdm:`` + the leaf's subject).
        broker_signed: the token was a COSE_Sign1 that verified with the named key.
        certificate_slots: the slots the certificates claim holds (only the
            signing slot's chain is validated).
        interface_report: the stated TDISP interface report (not device-signed), or None.
        challenge_verified: the token's CHALLENGE_AUTH signature (claim 3807) verified
            with its slot's trusted chain; False when the token has none.  Its
            nonce is the requester's own, not the verifier's: it shows the key
            was held then, not now.
    """

    spdm: BundleVerdict
    submodule: str
    broker_signed: bool
    certificate_slots: tuple[int, ...]
    interface_report: InterfaceReport | None
    challenge_verified: bool = False

    @property
    def format(self) -> str:
        """The format verified (:data:`FORMAT`)."""
        return FORMAT


# ------------------------------------------------------------------ sources


def claims_from_report(report: AuthenticationReport) -> DeviceClaims:
    """The claims of an authentication devsec ran itself.

    Raises:
        ConfigurationError: the report holds no signed measurements, or they
            were signed by another slot than the one whose chain it read.
    """
    measured = report.measurements
    if measured is None or measured.evidence is None:
        raise ConfigurationError("the authentication read no signed measurements to export")
    if measured.evidence.slot_id != report.slot_id:
        raise ConfigurationError(f"the measurements were signed by slot {measured.evidence.slot_id}, "
                                 f"the chain read is slot {report.slot_id}'s")
    challenge = report.challenge.evidence if report.challenge is not None else None
    return DeviceClaims(
        certificates={report.slot_id: b"".join(c.der for c in report.chain.certificates)},
        evidence=measured.evidence, measurements=measured.blocks,
        measurement_hash_alg=report.negotiated.measurement_hash_alg,
        challenge=challenge if challenge is not None and challenge.slot_id == report.slot_id else None,
    )


def claims_from_tsm(info: DeviceInfo, nonce: bytes, tdi: str | None = None) -> DeviceClaims:
    """The claims a TSM reported for a device after ``refresh_evidence(nonce)``.

    Args:
        info: the TSM's answer.
        nonce: the verifier's nonce the measurements must have been signed over.
        tdi: a TDI of the device whose interface report to include (it must be
            locked or running), or None for none.

    Raises:
        ConfigurationError: no measurement signature over ``nonce``, or ``tdi``
            is not a locked TDI of the device.
    """
    signed = [s for s in info.signatures if s.context == MEASUREMENTS_CONTEXT
              and constant_time_equal(s.requester_nonce, bytes(nonce))]
    if not signed:
        raise ConfigurationError("the TSM holds no measurements signed over the verifier's nonce: "
                                 "refresh the evidence with that nonce first")
    report = b""
    if tdi is not None:
        found = [t for t in info.tdis if t.bdf == tdi.lower() and t.report]
        if not found:
            raise ConfigurationError(f"{tdi} is not a locked TDI of {info.bdf}: no interface report")
        report = found[0].report
    challenges = [s for s in info.signatures
                  if s.context == CHALLENGE_CONTEXT and info.certificates.get(s.slot_id)]
    return DeviceClaims(certificates=dict(info.certificates), evidence=signed[-1],
                        measurements=info.measurements, measurement_hash_alg=info.measurement_hash_alg,
                        interface_report=report, challenge=challenges[-1] if challenges else None)


def submodule_name(leaf: Certificate) -> str:
    """The draft's SPDM submodule name: ``spdm:`` + the leaf's RFC 4514 subject.

    The draft prefers the DMTFOtherName subjectAltName (ub-DMTF-device-info)
    when the leaf has one; :mod:`spdm.crypto` does not expose otherName
    values, so devsec always uses the subject, the draft's fallback.
    """
    return f"spdm:{leaf.subject}"


# ------------------------------------------------------------------ export


def _vca_length(transcript: bytes, version: SpdmVersion) -> int:
    """How many leading bytes of L1 are the VCA messages (0 before 1.2, where L1 holds none)."""
    _, exchanges = _read_l1(transcript, version)
    return len(transcript) - sum(len(req.raw) + len(rsp.raw) for req, rsp in exchanges)


def export_eat(claims: DeviceClaims, nonce: bytes, signing_key: PrivateKey | None = None) -> bytes:
    """The token for a verifier's nonce: a CMW collection holding a UCCS or a COSE_Sign1.

    Args:
        claims: what devsec holds about the device.
        nonce: the verifier's 32-byte nonce (the measurements were signed over it).
        signing_key: the evidence broker's key; None writes an unsigned UCCS.

    Returns:
        The CBOR bytes.

    Raises:
        ConfigurationError: the measurements were signed over another nonce,
            the signing slot has no certificates, or a key COSE cannot use.
    """
    evidence = claims.evidence
    if not constant_time_equal(evidence.requester_nonce, bytes(nonce)):
        raise ConfigurationError("the measurements were signed over another nonce: "
                                 "have the device sign them over the verifier's nonce")
    chain = claims.certificates.get(evidence.slot_id, b"")
    if not chain:
        raise ConfigurationError(f"no certificates of slot {evidence.slot_id}, whose key signed")
    measurements: dict[Any, Any] = block_claims(claims.measurements, claims.measurement_hash_alg)
    measurements[SIGNATURE] = signature_claim(evidence)
    device: dict[int, Any] = {
        _EAT_PROFILE: SPDM_PROFILE,
        MEASUREMENTS: measurements,
        CERTIFICATES: {slot: ders for slot, ders in sorted(claims.certificates.items()) if ders},
    }
    vca = _vca_length(evidence.transcript, evidence.version)
    if vca:
        device[VCA] = evidence.transcript[:vca]
    if claims.interface_report:
        device[INTERFACE_REPORT] = report_claim(parse_report(claims.interface_report))
    if claims.challenge is not None and claims.certificates.get(claims.challenge.slot_id):
        device[CHALLENGE] = signature_claim(claims.challenge)
    leaf = parse_der_certificates(chain)[-1]
    claims_set = {_EAT_PROFILE: DEVICE_PROFILE, _EAT_NONCE: bytes(nonce),
                  _EAT_SUBMODS: {submodule_name(leaf): device}}
    if signing_key is None:
        record = [_UCCS_TYPE, cbor2.dumps(cbor2.CBORTag(UCCS_TAG, claims_set))]
    else:
        record = [_CWT_TYPE, sign1(cbor2.dumps(claims_set), signing_key)]
    return cbor2.dumps({CMW_LABEL: record})


# ------------------------------------------------------------------ verify


def _claims_set(data: bytes, signer: PublicKey | None) -> tuple[Mapping[Any, Any], bool]:
    """The claims-set from the CMW collection, its COSE signature checked."""
    collection = loads_exact(bytes(data), f"not an {FORMAT} token")
    if not isinstance(collection, Mapping) or CMW_LABEL not in collection:
        raise DecodeError(f"not an {FORMAT} token: a CMW collection with a {CMW_LABEL!r} entry is expected")
    record = collection[CMW_LABEL]
    if not (isinstance(record, list | tuple) and len(record) in (2, 3) and isinstance(record[0], str)
            and isinstance(record[1], bytes)):
        raise DecodeError(f"{CMW_LABEL}: a CMW record [media type, bytes] is expected")
    media_type, token = record[0], loads_exact(record[1], CMW_LABEL)
    if not isinstance(token, cbor2.CBORTag) or token.tag not in (UCCS_TAG, COSE_SIGN1_TAG):
        raise DecodeError(f"{CMW_LABEL}: a UCCS (tag {UCCS_TAG}) or a COSE_Sign1 (tag {COSE_SIGN1_TAG}) "
                          f"is expected")
    expected_type = _UCCS_TYPE if token.tag == UCCS_TAG else _CWT_TYPE
    if media_type != expected_type:
        raise DecodeError(f"{CMW_LABEL}: media type {media_type!r}, tag {token.tag} is {expected_type!r}")
    if token.tag == UCCS_TAG:
        if signer is not None:
            raise VerificationError("the token is an unsigned UCCS, yet a broker key was named to check")
        claims = token.value
    else:
        if signer is None:
            raise VerificationError("the token is a COSE_Sign1: name the broker key that signed it")
        claims = loads_exact(verify_sign1(token.value, signer), "COSE_Sign1 payload")
    if not isinstance(claims, Mapping):
        raise DecodeError("the claims-set is not a CBOR map")
    return claims, token.tag == COSE_SIGN1_TAG


def _device(claims: Mapping[Any, Any], nonce: bytes) -> tuple[str, Mapping[Any, Any]]:
    if claims.get(_EAT_PROFILE) != DEVICE_PROFILE:
        raise DecodeError(f"eat_profile {claims.get(_EAT_PROFILE)!r}: {DEVICE_PROFILE!r} is expected")
    stated = claims.get(_EAT_NONCE)
    if not isinstance(stated, bytes) or not 8 <= len(stated) <= 64:
        raise DecodeError("eat_nonce: 8 to 64 bytes are expected")
    if not constant_time_equal(stated, bytes(nonce)):
        raise VerificationError("eat_nonce is not the verifier's nonce")
    submods = claims.get(_EAT_SUBMODS)
    if not isinstance(submods, Mapping):
        raise DecodeError("eat_submods: a map of device claims-sets is expected")
    spdm = [(name, value) for name, value in submods.items()
            if isinstance(name, str) and name.startswith("spdm:")]
    if len(spdm) != 1 or not isinstance(spdm[0][1], Mapping):
        raise DecodeError(f"eat_submods: one SPDM device claims-set is expected, found {len(spdm)}")
    name, device = spdm[0]
    if device.get(_EAT_PROFILE) != SPDM_PROFILE:
        raise DecodeError(f"{name}: eat_profile {device.get(_EAT_PROFILE)!r}: {SPDM_PROFILE!r} is expected")
    unknown = set(device) - _DEVICE_CLAIMS
    if unknown:
        # an optional claim (vca, challenge, report) whose key were changed would
        # otherwise drop out of the verdict unnoticed, the token still passing
        raise DecodeError(f"{name}: claims {sorted(map(str, unknown))} are none that devsec verifies")
    return name, device


def _read_signed(transcript: bytes) -> tuple[SpdmVersion, Any, list[Any]]:
    """IL1 decoded as L1 at the one SPDM version it was written in."""
    failure: DecodeError | None = None
    for version in _VERSIONS_NEWEST_FIRST:
        try:
            vca, exchanges = _read_l1(transcript, version)
        except DecodeError as exc:
            failure = failure or exc
            continue
        return version, vca, exchanges
    raise DecodeError(f"spdm-signature.IL1 is no measurement L1: {failure}")


def _certificates(device: Mapping[Any, Any], name: str) -> dict[int, bytes]:
    certificates = device.get(CERTIFICATES)
    if not isinstance(certificates, Mapping) or not all(
            type(slot) is int and 0 <= slot <= 7 and isinstance(ders, bytes) and ders
            for slot, ders in certificates.items()):
        raise DecodeError(f"{name}: certificates: a map of slot 0-7 -> DER certificates is expected")
    return dict(certificates)


def _measurement_hash(version: SpdmVersion, vca: Any, stated: dict[int, Any]) -> MeasurementHashAlgo:
    """The measurement hash: the signed ALGORITHMS' (1.2+), else the one the digests state."""
    if vca is not None:
        return MeasurementHashAlgo(vca.measurement_hash_algo)
    algs = {alg for _, _, alg, _ in stated.values() if alg is not None}
    by_number = {number: mhash for mhash, number in DIGEST_ALGORITHMS.items()}
    if not algs:
        return MeasurementHashAlgo.RAW_BIT_STREAM_ONLY
    if len(algs) != 1 or next(iter(algs)) not in by_number:
        raise DecodeError(f"measurements: digest algorithms {sorted(algs)} (SPDM {version.text} signs no "
                          f"ALGORITHMS, so one known digest algorithm must be stated)")
    return by_number[next(iter(algs))]


def _check_blocks(stated: dict[int, Any], blocks: tuple[MeasurementBlock, ...],
                  mhash: MeasurementHashAlgo) -> None:
    """The claimed block map must state exactly the signed blocks 1..239."""
    signed = {b.index: b for b in blocks if 1 <= b.index <= MAX_BLOCK_ID}
    if set(stated) != set(signed):
        raise VerificationError(f"measurements: the token states blocks {sorted(stated)}, "
                                f"the signed MEASUREMENTS holds {sorted(signed)}")
    for index, (_, kind, alg, value) in stated.items():
        block = signed[index]
        genuine = (block.value_type & 0x7F, None if block.raw_bit_stream else DIGEST_ALGORITHMS.get(mhash),
                   block.value)
        if (kind, alg, value) != genuine:
            raise VerificationError(f"measurements[{index}] differs from the signed MEASUREMENTS")


def _asym(version: SpdmVersion, vca: Any, key: PublicKey) -> list[SigningAlgo]:
    """The signature algorithm the signed ALGORITHMS selected (BaseAsymSel, or an ML-DSA set in
    1.4's PqcAsymSel); before 1.2 nothing signed names it: each algorithm the leaf key fits."""
    if vca is not None:
        return [signed_signing_alg(vca)]
    candidates = [asym for asym in SIGNING_ALGORITHMS.values() if key.matches(asym)]
    if not candidates:
        raise VerificationError("the leaf key fits no SPDM signature algorithm")
    return candidates


def verify_eat(data: bytes, nonce: bytes, trust_anchors: Sequence[Certificate], now: datetime,
               signer: PublicKey | None = None) -> EatVerdict:
    """Check a token offline: broker signature, trusted chain, device signature, nonce, blocks.

    Args:
        data: the token file's bytes (the CMW collection).
        nonce: the 32-byte nonce the verifier sent.
        trust_anchors: the verifier's trusted roots for device chains.
        now: when the chain must be valid (tz-aware).
        signer: the broker's public key when the token must be a COSE_Sign1;
            None when it must be an unsigned UCCS.

    Returns:
        What the token proves (the device-signed part from IL1 only).

    Raises:
        DecodeError: malformed CBOR, CMW, claims or IL1.
        VerificationError: a signature, chain, nonce, slot, name, VCA or block
            that does not hold.
        ConfigurationError: ``nonce`` is not 32 bytes or no trust anchor was given.
    """
    if len(nonce) != NONCE_SIZE:
        raise ConfigurationError(f"a verifier's nonce is {NONCE_SIZE} bytes, not {len(nonce)}")
    if not trust_anchors:
        raise ConfigurationError("no trust anchor given: a token can only be trusted against a root")
    claims, broker_signed = _claims_set(data, signer)
    name, device = _device(claims, nonce)
    measurements = device.get(MEASUREMENTS)
    if not isinstance(measurements, Mapping):
        raise DecodeError(f"{name}: no measurements claim ({MEASUREMENTS})")
    stated = claimed_blocks(measurements)
    signature = claimed_signature(measurements)
    certificates = _certificates(device, name)
    if signature.slot not in certificates:
        raise DecodeError(f"{name}: no certificates of slot {signature.slot}, whose key signed")
    try:
        return _verify_device(name, device, stated, signature, certificates, nonce, trust_anchors, now,
                              broker_signed)
    except ConfigurationError as exc:
        # an algorithm the token names that devsec cannot compute (SM2, SM3): the token is not verified
        raise VerificationError(f"{name}: devsec cannot verify this evidence: {exc}") from exc


def _verify_device(name: str, device: Mapping[Any, Any], stated: dict[int, Any], signature: ClaimedSignature,
                   certificates: dict[int, bytes], nonce: bytes, trust_anchors: Sequence[Certificate],
                   now: datetime, broker_signed: bool) -> EatVerdict:
    """The device-signed part of :func:`verify_eat`, from IL1 on."""
    version, vca, exchanges = _read_signed(signature.transcript)
    request, response = exchanges[-1]
    assert request.nonce is not None  # _read_l1: the last request asks for a signature
    mhash = _measurement_hash(version, vca, stated)
    chain = _chain(certificates[signature.slot], signature.hash_alg)
    key = chain.leaf.public_key()
    asym = _verify_signature(signature, version, vca, chain, key, trust_anchors, now)
    if vca is not None:
        _check_algorithms(vca, signature.hash_alg, asym, mhash)
        claimed_vca = device.get(VCA)
        if claimed_vca is not None and claimed_vca != signature.transcript[:_vca_length(signature.transcript,
                                                                                       version)]:
            raise VerificationError(f"{name}: the vca claim is not the VCA that L1 signed")
    signer_slot = request.slot_id if request.slot_id is not None else 0
    if signer_slot != signature.slot or (version >= SpdmVersion.V11 and response.slot_id != signature.slot):
        raise VerificationError(f"the token states slot {signature.slot}, the signed exchange names "
                                f"slot {signer_slot}")
    if not constant_time_equal(request.nonce, bytes(nonce)):
        raise VerificationError("the measurements were signed over another nonce, not the verifier's")
    if name != submodule_name(chain.leaf):
        raise VerificationError(f"submodule {name!r} is not named after the signing leaf")
    blocks = _signed_blocks(exchanges, mhash)
    _check_blocks(stated, blocks, mhash)
    challenge = device.get(CHALLENGE)
    if challenge is not None:
        _verify_challenge(ClaimedSignature(_mapping(challenge, f"{name}: challenge")), version, asym,
                          certificates, trust_anchors, now)
    report = device.get(INTERFACE_REPORT)
    return EatVerdict(
        spdm=BundleVerdict(version=version, hash_alg=signature.hash_alg, asym_alg=asym,
                           measurement_hash_alg=mhash, slot_id=signature.slot, chain=chain,
                           measurements=blocks, vca_signed=vca is not None),
        submodule=name, broker_signed=broker_signed, certificate_slots=tuple(sorted(certificates)),
        interface_report=None if report is None else report_from_claim(report),
        challenge_verified=challenge is not None,
    )


def _mapping(value: object, what: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise DecodeError(f"{what}: a map is expected")
    return value


def _verify_challenge(signature: ClaimedSignature, version: SpdmVersion, asym: SigningAlgo,
                      certificates: dict[int, bytes], trust_anchors: Sequence[Certificate],
                      now: datetime) -> None:
    """A stated CHALLENGE_AUTH signature must verify over M1 with its slot's trusted chain.

    It was made in the same connection as the measurements: same version and
    signature algorithm.
    """
    if signature.slot not in certificates:
        raise DecodeError(f"challenge: no certificates of slot {signature.slot}, whose key signed")
    chain = _chain(certificates[signature.slot], signature.hash_alg)
    validate_cert_chain(chain, trust_anchors, asym, now=now, role="responder")
    verify_recorded_signature(SignedEvidence(
        context=CHALLENGE_CONTEXT, version=version, hash_alg=signature.hash_alg, asym_alg=asym,
        slot_id=signature.slot, transcript=signature.transcript, signature=signature.signature,
        requester_nonce=signature.requester_nonce, responder_nonce=signature.responder_nonce,
        combined_prefix=signature.combined_prefix), chain.leaf.public_key())


def _chain(ders: bytes, hash_alg: BaseHashAlgo) -> SpdmCertChain:
    """The stated DER certificates as an SPDM chain (what :func:`validate_cert_chain` checks)."""
    try:
        raw = build_spdm_cert_chain(parse_der_certificates(ders), hash_alg)
    except LocalProtocolError as exc:  # too long for an SPDM chain's 16-bit Length
        raise DecodeError(f"certificates: {exc}") from exc
    return parse_spdm_cert_chain(raw, hash_alg)


def _verify_signature(signature: ClaimedSignature, version: SpdmVersion, vca: Any, chain: SpdmCertChain,
                      key: PublicKey, trust_anchors: Sequence[Certificate], now: datetime) -> SigningAlgo:
    """Validate the chain and the device's signature over IL1; the signature algorithm that verified."""
    failure: DevsecError | None = None
    for asym in _asym(version, vca, key):
        try:
            validate_cert_chain(chain, trust_anchors, asym, now=now, role="responder")
            verify_recorded_signature(SignedEvidence(
                context=MEASUREMENTS_CONTEXT, version=version, hash_alg=signature.hash_alg, asym_alg=asym,
                slot_id=signature.slot, transcript=signature.transcript, signature=signature.signature,
                requester_nonce=signature.requester_nonce, responder_nonce=signature.responder_nonce,
                combined_prefix=signature.combined_prefix), key)
        except (VerificationError, ConfigurationError) as exc:
            failure = exc
            continue
        return asym
    assert failure is not None
    raise failure
