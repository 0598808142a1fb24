"""X.509 for SPDM: certificates, the SPDM cert-chain format, validation, device identities.

PROTOCOLS.md §3.5 (chain format) and §10.3 (certificate rules, DMTF OIDs). The
chain rules follow libspdm's certificate checks so that devsec accepts what the
reference implementation accepts and rejects what it rejects.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import field
from datetime import datetime
from functools import lru_cache
from typing import Final, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from spdm.crypto.hashes import digest, hash_size
from spdm.crypto.signatures import PublicKey, SigningAlgo, _single
from spdm.errors import (
    ConfigurationError,
    DecodeError,
    LocalProtocolError,
    VerificationError,
)
from spdm.messages.codes import BaseHashAlgo

from ..record import record

__all__ = [
    "PARSED_CERTIFICATES_KEPT",
    "VERIFIED_SIGNATURES_KEPT",
    "Certificate",
    "SpdmCertChain",
    "build_spdm_cert_chain",
    "load_certificates",
    "parse_der_certificates",
    "parse_spdm_cert_chain",
    "validate_cert_chain",
]

Role = Literal["responder", "requester"]

# DMTF SPDM OIDs (§10.3) and the PCI-SIG SAN otherName type (§10.3, PCIe r6.1 §6.31.3).
OID_DMTF_EKU_RESPONDER_AUTH: Final = x509.ObjectIdentifier("1.3.6.1.4.1.412.274.3")
OID_DMTF_EKU_REQUESTER_AUTH: Final = x509.ObjectIdentifier("1.3.6.1.4.1.412.274.4")
OID_DMTF_SPDM_EXTENSION: Final = x509.ObjectIdentifier("1.3.6.1.4.1.412.274.6")
OID_PCISIG_SAN: Final = x509.ObjectIdentifier("2.23.147")

_ROLE_EKUS: Final = {
    "responder": (OID_DMTF_EKU_RESPONDER_AUTH, OID_DMTF_EKU_REQUESTER_AUTH),
    "requester": (OID_DMTF_EKU_REQUESTER_AUTH, OID_DMTF_EKU_RESPONDER_AUTH),
}

_MAX_LENGTH_OCTETS: Final = 3
"""Long-form DER length octets accepted when splitting certificates (16 MiB max)."""

_DER_SEQUENCE: Final = 0x30
_DER_BIT_STRING: Final = 0x03

# What cryptography raises on malformed certificates. Building the Python Name from a
# mangled DER name can also raise KeyError (unknown ASN.1 string tag) or TypeError
# (BIT STRING value for an OID other than x500UniqueIdentifier): found by fuzzing.
_PARSE_ERRORS: Final = (
    ValueError,
    KeyError,
    TypeError,
    x509.DuplicateExtension,
    x509.InvalidVersion,
    x509.UnsupportedGeneralNameType,
)


@record(frozen=True)
class Certificate:
    """One parsed X.509 certificate; equal when the DER is equal.

    Construct with ``Certificate(der)``; the other fields are read from the DER.

    Attributes:
        der: the exact DER bytes (what is hashed and sent).
        subject: RFC 4514 subject.
        issuer: RFC 4514 issuer.
        not_before: start of validity (UTC, tz-aware).
        not_after: end of validity (UTC, tz-aware).

    Raises:
        DecodeError: the bytes are not exactly one well-formed certificate.
    """

    der: bytes = field(repr=False)
    subject: str = field(init=False)
    issuer: str = field(init=False)
    not_before: datetime = field(init=False)
    not_after: datetime = field(init=False)
    _x509: x509.Certificate = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        der = bytes(self.der)
        cert, values = _parse_der(der)
        object.__setattr__(self, "der", der)
        for name, value in zip(("subject", "issuer", "not_before", "not_after"), values,
                               strict=True):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_x509", cert)

    def public_key(self) -> PublicKey:
        """The subject public key.

        Raises:
            VerificationError: a key type SPDM cannot use (the peer's certificate is
                unusable for authentication).
        """
        try:
            return PublicKey(self._x509.public_key())
        except (ValueError, UnsupportedAlgorithm, ConfigurationError) as exc:
            raise VerificationError(f"certificate {self.subject!r}: {exc}") from exc

    def to_pem(self) -> bytes:
        """The certificate as PEM (what ``--trust-root`` files usually hold)."""
        return self._x509.public_bytes(serialization.Encoding.PEM)

    def sha(self, alg: BaseHashAlgo) -> bytes:
        """Hash of the DER (RootHash, DIGESTS entries).

        Raises:
            ConfigurationError: unsupported hash.
        """
        return digest(alg, self.der)


def _der_element_end(blob: bytes, pos: int, tag: int = _DER_SEQUENCE) -> int:
    """End offset of the DER element (a SEQUENCE unless ``tag`` says) starting at ``pos``."""
    return _der_content(blob, pos, tag)[1]


def _der_content(blob: bytes, pos: int, tag: int) -> tuple[int, int]:
    """Where the content of the DER element with ``tag`` at ``pos`` starts, and where the element ends."""
    if pos >= len(blob) or blob[pos] != tag:
        found = f"{blob[pos]:#04x}" if pos < len(blob) else "the end"
        name = "SEQUENCE" if tag == _DER_SEQUENCE else "BIT STRING"
        raise DecodeError(f"offset {pos}: expected a DER {name} ({tag:#04x}), got {found}")
    if pos + 2 > len(blob):
        raise DecodeError(f"offset {pos}: truncated DER header")
    first = blob[pos + 1]
    if first < 0x80:
        return pos + 2, pos + 2 + first
    count = first & 0x7F
    if count == 0 or count > _MAX_LENGTH_OCTETS:
        raise DecodeError(f"offset {pos}: unsupported DER length form {first:#04x}")
    if pos + 2 + count > len(blob):
        raise DecodeError(f"offset {pos}: truncated DER length")
    return pos + 2 + count, pos + 2 + count + int.from_bytes(blob[pos + 2:pos + 2 + count], "big")


def _check_signature_bits(der: bytes) -> None:
    """The certificate's signatureValue BIT STRING is whole octets, as every signature is.

    The signature covers tbsCertificate only, and the X.509 parser reads the
    signature's bytes whatever the unused-bits octet says (if the bits it names
    are 0): without this check a certificate changed in that octet would still
    verify, a change no digest or signature of devsec's evidence would catch.
    """
    tbs = _der_content(der, 0, _DER_SEQUENCE)[0]
    algorithm = _der_element_end(der, tbs)
    signature = _der_element_end(der, algorithm)
    start, end = _der_content(der, signature, _DER_BIT_STRING)
    if start >= end or der[start] != 0:
        raise DecodeError("malformed X.509 certificate: its signature BIT STRING has unused bits")


def parse_der_certificates(blob: bytes) -> list[Certificate]:
    """Split and parse concatenated DER certificates (the tail of an SPDM chain).

    Args:
        blob: one or more DER certificates back to back.

    Returns:
        The certificates in order.

    Raises:
        DecodeError: empty input, a truncated or malformed certificate, or trailing bytes.
    """
    if not blob:
        raise DecodeError("no certificate in DER blob")
    certificates = []
    pos = 0
    while pos < len(blob):
        end = _der_element_end(blob, pos)
        if end > len(blob):
            raise DecodeError(f"offset {pos}: certificate runs past the end of the data "
                              f"({end} > {len(blob)})")
        certificates.append(Certificate(blob[pos:end]))
        pos = end
    return certificates


def load_certificates(data: bytes) -> list[Certificate]:
    """Read certificates from file contents: a PEM bundle or concatenated DER.

    Args:
        data: the file contents.

    Returns:
        The certificates in file order.

    Raises:
        ConfigurationError: no certificate found, or malformed content.
    """
    try:
        if b"-----BEGIN" in data:
            return [Certificate(cert.public_bytes(serialization.Encoding.DER))
                    for cert in x509.load_pem_x509_certificates(data)]
        return parse_der_certificates(data)
    except (ValueError, DecodeError) as exc:
        raise ConfigurationError(f"cannot load certificates: {exc}") from exc


@record(frozen=True)
class SpdmCertChain:
    """A parsed SPDM certificate chain (§3.5).

    Attributes:
        raw: the whole chain as on the wire (header and RootHash included); hash
            this for DIGESTS and for ``Ct`` in session transcripts.
        root_hash: the RootHash field (verified against the first certificate).
        certificates: root (or a certificate signed by the root) first, leaf last.
    """

    raw: bytes
    root_hash: bytes
    certificates: tuple[Certificate, ...]

    @property
    def root(self) -> Certificate:
        """The first certificate (the one RootHash covers)."""
        return self.certificates[0]

    @property
    def leaf(self) -> Certificate:
        """The last certificate, whose key signs SPDM messages."""
        return self.certificates[-1]


def build_spdm_cert_chain(certificates: Sequence[Certificate] | Sequence[bytes],
                          hash_alg: BaseHashAlgo) -> bytes:
    """Serialize an SPDM certificate chain (§3.5).

    Args:
        certificates: root (or a certificate the root signed) first, leaf last;
            Certificate objects or DER bytes.
        hash_alg: the negotiated BaseHashAlgo (for RootHash).

    Returns:
        ``Length(u32) | Hash(first DER) | DER...``: SPDM 1.4's header, whose
        bytes are the earlier ``Length(u16) | Reserved(u16)=0`` for every chain
        under 64 KiB; a larger chain can only travel in 1.4's LargeCertChain form.

    Raises:
        LocalProtocolError: no certificates, undecodable DER, or a chain longer
            than 0xFFFFFFFF bytes.
        ConfigurationError: unsupported hash.
    """
    ders = []
    for item in certificates:
        if isinstance(item, Certificate):
            ders.append(item.der)
            continue
        try:
            ders.append(Certificate(item).der)
        except DecodeError as exc:
            raise LocalProtocolError(f"cannot build cert chain: {exc}") from exc
    if not ders:
        raise LocalProtocolError("a cert chain needs at least one certificate")
    root_hash = digest(hash_alg, ders[0])
    total = 4 + len(root_hash) + sum(len(der) for der in ders)
    if total > 0xFFFF_FFFF:
        raise LocalProtocolError(f"cert chain of {total} bytes exceeds the 32-bit Length")
    return struct.pack("<I", total) + root_hash + b"".join(ders)


def parse_spdm_cert_chain(chain: bytes, hash_alg: BaseHashAlgo) -> SpdmCertChain:
    """Parse a received SPDM certificate chain and check its RootHash.

    Args:
        chain: the reassembled CERTIFICATE portions of one slot.
        hash_alg: the negotiated BaseHashAlgo.

    Returns:
        The parsed chain (not yet validated: see :func:`validate_cert_chain`).

    Raises:
        DecodeError: too short, Length field disagreeing with the data, or
            malformed certificates.
        VerificationError: RootHash is not the hash of the first certificate.
        ConfigurationError: unsupported hash.
    """
    chain = bytes(chain)
    size = hash_size(hash_alg)
    if len(chain) < 4 + size:
        raise DecodeError(f"cert chain of {len(chain)} bytes is shorter than its header")
    # Length(u16) + Reserved(u16) before 1.4, Length(u32) from 1.4 on: the same bytes below 64 KiB.
    length = int.from_bytes(chain[0:2], "little")
    if length != len(chain) and int.from_bytes(chain[0:4], "little") != len(chain):
        raise DecodeError(f"cert chain Length field says {length}, got {len(chain)} bytes")
    root_hash = chain[4:4 + size]
    certificates = parse_der_certificates(chain[4 + size:])
    if certificates[0].sha(hash_alg) != root_hash:
        raise VerificationError(
            f"cert chain RootHash does not match certificate 0 ({certificates[0].subject!r})")
    return SpdmCertChain(raw=chain, root_hash=root_hash, certificates=tuple(certificates))


def _label(index: int, cert: Certificate) -> str:
    return f"certificate {index} ({cert.subject!r})"


def _extension(cert: Certificate, kind: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert._x509.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _check_validity(label: str, cert: Certificate, now: datetime) -> None:
    if cert._x509.version != x509.Version.v3:
        raise VerificationError(f"{label}: not an X.509 v3 certificate")
    if not cert.not_before <= now <= cert.not_after:
        raise VerificationError(
            f"{label}: not valid at {now.isoformat()} "
            f"(validity {cert.not_before.isoformat()} .. {cert.not_after.isoformat()})")


def _check_signed_by(label: str, cert: Certificate, issuer_label: str,
                     issuer: Certificate) -> None:
    if cert._x509.issuer != issuer._x509.subject:
        raise VerificationError(
            f"{label}: issuer {cert.issuer!r} is not the subject of {issuer_label}")
    try:
        _verify_issued_by(cert.der, issuer.der)
    except InvalidSignature as exc:
        raise VerificationError(
            f"{label}: signature does not verify with the key of {issuer_label}") from exc
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise VerificationError(f"{label}: cannot check signature by {issuer_label}: {exc}"
                                ) from exc


# A long-lived process (the policy daemon, the TSM) sees the same chains over and over: each
# certificate's parse and each issuer's signature over a certificate are done once per DER
# and kept, most recently used first, up to a bound (a peer presenting ever new chains only
# cycles the cache).  Only successes are kept; a failure is checked again next time.  What
# depends on the connection -- validity at ``now``, the trust anchors, the leaf's key and
# usage rules -- is checked every time.

PARSED_CERTIFICATES_KEPT: Final = 512
"""Parsed certificates kept per process (LIMITS.md)."""

VERIFIED_SIGNATURES_KEPT: Final = 512
"""Verified (issuer, certificate) signature pairs kept per process (LIMITS.md)."""


@lru_cache(maxsize=PARSED_CERTIFICATES_KEPT)
def _parse_der(der: bytes) -> tuple[x509.Certificate, tuple[str, str, datetime, datetime]]:
    """One certificate parsed, with its subject, issuer and validity; kept per DER.

    Raises:
        DecodeError: the bytes are not exactly one well-formed certificate.
    """
    try:
        cert = x509.load_der_x509_certificate(der)
        _check_signature_bits(der)
        # Touch the lazily parsed parts so malformed certificates fail here,
        # at the boundary, and not later in validation.
        _ = cert.version, cert.extensions
        return cert, (cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(),
                      cert.not_valid_before_utc, cert.not_valid_after_utc)
    except _PARSE_ERRORS as exc:
        raise DecodeError(f"malformed X.509 certificate: {exc}") from exc


@lru_cache(maxsize=VERIFIED_SIGNATURES_KEPT)
def _verify_issued_by(der: bytes, issuer_der: bytes) -> None:
    """The issuer's key signed the certificate; a success is kept per DER pair.

    Raises:
        InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm: as
            ``verify_directly_issued_by`` does (never kept).
    """
    _parse_der(der)[0].verify_directly_issued_by(_parse_der(issuer_der)[0])


def _check_ca(label: str, cert: Certificate, intermediates_below: int) -> None:
    constraints = _extension(cert, x509.BasicConstraints)
    if not isinstance(constraints, x509.BasicConstraints) or not constraints.ca:
        raise VerificationError(f"{label}: issues certificates but basicConstraints CA is not TRUE")
    if constraints.path_length is not None and intermediates_below > constraints.path_length:
        raise VerificationError(
            f"{label}: pathLenConstraint {constraints.path_length} but "
            f"{intermediates_below} intermediate CA(s) follow")
    usage = _extension(cert, x509.KeyUsage)
    if isinstance(usage, x509.KeyUsage) and not usage.key_cert_sign:
        raise VerificationError(f"{label}: keyUsage lacks keyCertSign")


def _check_leaf(label: str, cert: Certificate, asym: SigningAlgo, role: Role) -> None:
    constraints = _extension(cert, x509.BasicConstraints)
    if isinstance(constraints, x509.BasicConstraints) and constraints.ca:
        raise VerificationError(f"{label}: leaf has basicConstraints CA=TRUE")
    usage = _extension(cert, x509.KeyUsage)
    if not isinstance(usage, x509.KeyUsage):
        raise VerificationError(f"{label}: leaf has no keyUsage extension")
    if not usage.digital_signature:
        raise VerificationError(f"{label}: leaf keyUsage lacks digitalSignature")
    # libspdm's rule: only the DMTF role OIDs matter; a leaf fails when it carries
    # the other role's OID without its own (serverAuth, clientAuth etc. are ignored).
    own, other = _ROLE_EKUS[role]
    eku = _extension(cert, x509.ExtendedKeyUsage)
    if isinstance(eku, x509.ExtendedKeyUsage) and other in eku and own not in eku:
        raise VerificationError(
            f"{label}: extendedKeyUsage permits only the other role ({other.dotted_string}), "
            f"not {role} authentication")
    if not cert.public_key().matches(asym):
        raise VerificationError(f"{label}: leaf public key does not fit {asym.name}")


def _intermediates_below(certs: Sequence[Certificate], index: int) -> int:
    """Non-self-issued CA certificates after ``index`` (RFC 5280 path length)."""
    return sum(1 for cert in certs[index + 1:-1] if cert._x509.subject != cert._x509.issuer)


def _check_anchor(certs: Sequence[Certificate], anchors: Sequence[Certificate],
                  now: datetime) -> None:
    first = certs[0]
    if any(anchor.der == first.der for anchor in anchors):
        return
    label = _label(0, first)
    for position, anchor in enumerate(anchors):
        if anchor._x509.subject != first._x509.issuer:
            continue
        anchor_label = f"trust anchor {position} ({anchor.subject!r})"
        try:
            _check_signed_by(label, first, anchor_label, anchor)
        except VerificationError:
            continue
        _check_validity(anchor_label, anchor, now)
        _check_ca(anchor_label, anchor, _intermediates_below(certs, -1))
        return
    raise VerificationError(
        f"{label} does not lead to a trusted root: it is not a trust anchor and no trust "
        f"anchor signed it (issuer {first.issuer!r})")


def validate_cert_chain(chain: SpdmCertChain, trust_anchors: Sequence[Certificate],
                        asym: SigningAlgo, *, now: datetime,
                        role: Role = "responder") -> None:
    """Check a peer's certificate chain against SPDM's rules and our trust anchors.

    The checks (PROTOCOLS.md §10.3, libspdm ``libspdm_crypt_cert.c``): every
    certificate is X.509 v3 and valid at ``now``; each is signed by the one before
    it and names it as issuer; CA certificates have basicConstraints CA=TRUE, obey
    pathLenConstraint and, with a keyUsage, allow keyCertSign; the leaf is not a
    CA, has keyUsage digitalSignature, an extendedKeyUsage that does not restrict
    it to the other role, and a key that fits ``asym``; the first certificate is a
    trust anchor or is signed by a (currently valid CA) trust anchor.

    Done with ``cryptography`` primitives rather than ``x509.verification``: that
    verifier enforces the Web PKI profile, which forbids Ed25519/Ed448 keys (SPDM
    BaseAsymAlgos) and builds its own path instead of checking the exact ordered
    chain SPDM transmits.

    Args:
        chain: the parsed chain.
        trust_anchors: trusted roots (or intermediates).
        asym: the negotiated algorithm the leaf key must fit (BaseAsymAlgo or, SPDM
            1.4, PqcAsymAlgo; ReqBaseAsymAlg / ReqPqcAsymAlg for a requester chain).
        now: the validation time (tz-aware); passed in, never read from a clock.
        role: whose chain this is: "responder" or "requester".

    Raises:
        VerificationError: a rule failed; the message names the certificate (index
            and subject) and the rule.
        LocalProtocolError: ``now`` is not timezone-aware.
        ConfigurationError: ``asym`` is not exactly one supported algorithm.
    """
    if now.tzinfo is None:
        raise LocalProtocolError("validation time must be timezone-aware")
    asym = _single(asym)
    certs = chain.certificates
    _check_anchor(certs, trust_anchors, now)
    for index, cert in enumerate(certs):
        label = _label(index, cert)
        _check_validity(label, cert, now)
        if index > 0:
            _check_signed_by(label, cert, _label(index - 1, certs[index - 1]), certs[index - 1])
        if index < len(certs) - 1:
            _check_ca(label, cert, _intermediates_below(certs, index))
        else:
            _check_leaf(label, cert, asym, role)
