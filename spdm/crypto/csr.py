"""Certificate provisioning: PKCS#10 requests a device makes (GET_CSR) and the SPDM leaf a CA issues from one.

The device side builds a CSR for one of its key pairs (:func:`build_csr`), the
subject taken from the requester's RequesterInfo when it sent one; a CA reads
it back (:func:`load_csr`) and issues the leaf certificate SET_CERTIFICATE will
install (:func:`issue_leaf_from_csr`), with the extensions PROTOCOLS.md §10.3
asks of an SPDM leaf.
"""

from __future__ import annotations

from dataclasses import field
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from spdm.crypto.certs import (
    _DER_SEQUENCE,
    _ROLE_EKUS,
    OID_DMTF_SPDM_EXTENSION,
    OID_PCISIG_SAN,
    Certificate,
    Role,
)
from spdm.crypto.identity import (
    _DER_OID_HARDWARE_IDENTITY,
    _DER_UTF8STRING,
    _ca_asym,
    _cert_hash,
    _der_short_tlv,
    _issue,
    _key_usage,
)
from spdm.crypto.signatures import PrivateKey, PublicKey, generate_private_key
from spdm.errors import ConfigurationError, DecodeError, LocalProtocolError, VerificationError
from spdm.messages.codes import BaseAsymAlgo

from ..record import record

__all__ = ["CertificateRequest", "build_csr", "generate_ca", "issue_leaf_from_csr", "load_csr"]

_ECDSA_WITH_SHA384: Final = bytes.fromhex("300a06082a8648ce3d040303")
"""AlgorithmIdentifier placed around a bare CertificationRequestInfo so it parses as a CSR
(the signature is never checked: only the subject and attributes are read)."""
_EMPTY_BIT_STRING: Final = b"\x03\x01\x00"
_MAX_DER_SIZE: Final = 0xFFFF


@record(frozen=True)
class CertificateRequest:
    """A parsed PKCS#10 certificate signing request.

    Attributes:
        der: the request as received.
    """

    der: bytes
    _csr: x509.CertificateSigningRequest = field(repr=False, compare=False)

    @property
    def subject(self) -> str:
        """The subject as an RFC 4514 string."""
        return self._csr.subject.rfc4514_string()

    def public_key(self) -> PublicKey:
        """The key the request is for.

        Raises:
            VerificationError: a key type devsec does not handle.
        """
        try:
            return PublicKey(self._csr.public_key())
        except (TypeError, ValueError) as exc:
            raise VerificationError(f"CSR public key unusable: {exc}") from exc

    def verify(self) -> None:
        """Check the request is signed by the key it names (proof of possession).

        Raises:
            VerificationError: the signature does not verify.
        """
        try:
            valid = self._csr.is_signature_valid
        except (InvalidSignature, ValueError, TypeError) as exc:
            raise VerificationError(f"CSR signature unusable: {exc}") from exc
        if not valid:
            raise VerificationError("CSR signature does not verify with its own public key")

    def to_pem(self) -> bytes:
        """The request as PEM (``-----BEGIN CERTIFICATE REQUEST-----``)."""
        return self._csr.public_bytes(serialization.Encoding.PEM)


def load_csr(data: bytes) -> CertificateRequest:
    """Parse a CSR, DER or PEM.

    Raises:
        DecodeError: not a well-formed PKCS#10 request.
    """
    data = bytes(data)
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            csr = x509.load_pem_x509_csr(data)
        else:
            csr = x509.load_der_x509_csr(data)
        der = csr.public_bytes(serialization.Encoding.DER)
    except ValueError as exc:
        raise DecodeError(f"malformed CSR: {exc}") from exc
    return CertificateRequest(der, csr)


def _der_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    body = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _requester_info(info: bytes) -> x509.CertificateSigningRequest:
    """RequesterInfo (a DER CertificationRequestInfo) parsed by wrapping it as an unsigned CSR.

    Raises:
        DecodeError: not one well-formed CertificationRequestInfo.
    """
    body = info + _ECDSA_WITH_SHA384 + _EMPTY_BIT_STRING
    try:
        csr = x509.load_der_x509_csr(bytes([_DER_SEQUENCE]) + _der_length(len(body)) + body)
        csr.subject  # noqa: B018 - parse now, so a bad name fails here
        _ = list(csr.extensions)
    except ValueError as exc:
        raise DecodeError(f"RequesterInfo is not a CertificationRequestInfo: {exc}") from exc
    return csr


def build_csr(key: PrivateKey, *, common_name: str, requester_info: bytes = b"") -> bytes:
    """A DER PKCS#10 request for ``key``'s public key, signed with ``key``.

    Decided (DSP0274 leaves the content to the device): with RequesterInfo, the
    subject and the requested extensions are the requester's, the public key is
    always the device's own; without, the subject is ``CN=common_name``.

    Raises:
        DecodeError: RequesterInfo is given but malformed (answered InvalidRequest).
        ConfigurationError: a key that cannot sign a CSR.
    """
    builder = x509.CertificateSigningRequestBuilder()
    if requester_info:
        info = _requester_info(requester_info)
        builder = builder.subject_name(info.subject)
        for extension in info.extensions:
            builder = builder.add_extension(extension.value, extension.critical)
    else:
        builder = builder.subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
    try:
        csr = builder.sign(key._key, _cert_hash(key))
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"cannot sign a CSR with this key: {exc}") from exc
    der = csr.public_bytes(serialization.Encoding.DER)
    if len(der) > _MAX_DER_SIZE:
        raise ConfigurationError(f"CSR of {len(der)} bytes exceeds the 16-bit CSRLength")
    return der


def issue_leaf_from_csr(csr: CertificateRequest, ca_cert: Certificate, ca_key: PrivateKey, *,
                        role: Role = "responder", pci_ids: tuple[int, int] | None = (0x1AF4, 0x1234),
                        hardware_identity: bool = True, not_before: datetime | None = None,
                        valid_days: int = 3650) -> Certificate:
    """Issue the SPDM leaf certificate for a device's CSR.

    The leaf follows §10.3: v3, basicConstraints CA=FALSE and keyUsage
    digitalSignature (both critical), the DMTF role EKU, the DMTF SPDM
    extension (marking a hardware identity for the DeviceCert model; an
    AliasCert-model leaf must not carry that mark), and with ``pci_ids`` the
    PCI-SIG SAN otherName.  The subject is the CSR's, the issuer the CA's.

    Args:
        csr: the device's request; its signature is checked first.
        ca_cert: the issuing CA (root or intermediate) certificate.
        ca_key: the CA's private key.
        role: which DMTF EKU the leaf carries.
        pci_ids: (vendor ID, device ID) for the SAN, or None to omit it.
        hardware_identity: put id-DMTF-hardware-identity in the SPDM extension.
        not_before: start of validity (tz-aware); None means one day ago.
        valid_days: validity length.

    Raises:
        VerificationError: the CSR is not signed by its own key.
        ConfigurationError: the CA key does not match ``ca_cert``, or PCI IDs
            outside 0..0xFFFF.
        LocalProtocolError: ``not_before`` is not timezone-aware.
    """
    csr.verify()
    if ca_key.public_key() != ca_cert.public_key():
        raise ConfigurationError("the CA key does not match the CA certificate")
    if pci_ids is not None and not all(0 <= value <= 0xFFFF for value in pci_ids):
        raise ConfigurationError(f"PCI IDs must be 16-bit values, got {pci_ids}")
    if not_before is None:
        not_before = datetime.now(UTC) - timedelta(days=1)
    if not_before.tzinfo is None:
        raise LocalProtocolError("not_before must be timezone-aware")
    start = not_before.astimezone(UTC).replace(microsecond=0)
    public = csr._csr.public_key()
    ca_public = ca_key._key.public_key()
    spdm_oids = _der_short_tlv(_DER_SEQUENCE, _DER_OID_HARDWARE_IDENTITY) if hardware_identity else b""
    builder = (x509.CertificateBuilder()
               .subject_name(csr._csr.subject)
               .issuer_name(ca_cert._x509.subject)
               .public_key(public)
               .serial_number(x509.random_serial_number())
               .not_valid_before(start)
               .not_valid_after(start + timedelta(days=valid_days))
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public),
                              False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
               .add_extension(_key_usage(signing=True), True)
               .add_extension(x509.ExtendedKeyUsage([_ROLE_EKUS[role][0]]), False)
               .add_extension(x509.UnrecognizedExtension(
                   OID_DMTF_SPDM_EXTENSION, _der_short_tlv(_DER_SEQUENCE, spdm_oids)), False))
    if pci_ids is not None:
        vendor, device = pci_ids
        text = f"Vendor={vendor:04x}:Device={device:04x}:CC=120000:REV=01"
        san = x509.OtherName(OID_PCISIG_SAN, _der_short_tlv(_DER_UTF8STRING, text.encode()))
        builder = builder.add_extension(x509.SubjectAlternativeName([san]), False)
    signed = builder.sign(ca_key._key, _cert_hash(ca_key))
    return Certificate(signed.public_bytes(serialization.Encoding.DER))


def generate_ca(asym: BaseAsymAlgo, *, common_name: str = "devsec provisioning CA",
                valid_days: int = 3650) -> tuple[Certificate, PrivateKey]:
    """A self-signed root CA (and its key) to issue device leaves from, for tests and labs.

    The CA key is of ``asym``'s family (RSAPSS becomes RSASSA, which signs certificates);
    validity starts one day ago.

    Raises:
        ConfigurationError: an algorithm devsec cannot generate keys for.
    """
    key = generate_private_key(_ca_asym(asym))
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    root = _issue(common_name, key, common_name, key, (start, start + timedelta(days=valid_days)),
                  [(x509.BasicConstraints(ca=True, path_length=None), True),
                   (_key_usage(signing=False), True)])
    return root, key
