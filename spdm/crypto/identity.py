"""Device identities for emulated devices and tests: a root CA -> intermediate CA -> leaf chain
that follows SPDM's certificate rules (PROTOCOLS.md §10.3), and the leaf's signing key.

Kept apart from :mod:`.certs` (parsing and validating what a peer sends): generating is what
our own side does, with its own DER details.
"""

from __future__ import annotations

from dataclasses import field
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from spdm.crypto.certs import (
    _DER_SEQUENCE,
    _ROLE_EKUS,
    OID_DMTF_SPDM_EXTENSION,
    OID_PCISIG_SAN,
    Certificate,
    Role,
)
from spdm.crypto.signatures import PrivateKey, SigningAlgo, generate_private_key
from spdm.errors import ConfigurationError, LocalProtocolError
from spdm.messages.codes import BaseAsymAlgo, PqcAsymAlgo

from ..record import record

__all__ = ["DeviceIdentity", "generate_device_identity"]

_DEFAULT_BACKDATE: Final = timedelta(days=1)

_DER_UTF8STRING: Final = 0x0C
_DER_OID_HARDWARE_IDENTITY: Final = bytes.fromhex("060a2b06010401831c821202")
"""DER of id-DMTF-hardware-identity (1.3.6.1.4.1.412.274.2), the SPDM-extension entry."""


@record(frozen=True)
class DeviceIdentity:
    """A generated device certificate chain and its leaf signing key.

    Attributes:
        certificates: root CA, intermediate CA, leaf.
        leaf_key: the leaf's private key (never shown in repr).
    """

    certificates: tuple[Certificate, ...]
    leaf_key: PrivateKey = field(repr=False, compare=False)

    @property
    def root(self) -> Certificate:
        """The self-signed root CA (the verifier's trust anchor)."""
        return self.certificates[0]

    @property
    def leaf(self) -> Certificate:
        """The device certificate whose key signs SPDM messages."""
        return self.certificates[-1]


def _der_short_tlv(tag: int, body: bytes) -> bytes:
    """DER tag-length-value for the small fixed-size extension payloads built below."""
    assert len(body) < 0x80, "short-form DER length only"
    return bytes([tag, len(body)]) + body


def _ca_asym(asym: SigningAlgo) -> SigningAlgo:
    # CAs use the leaf's key family; RSA CAs sign certificates with PKCS#1 v1.5,
    # so an RSAPSS leaf gets an RSASSA CA key of the same size. An ML-DSA leaf gets
    # CAs of its own parameter set (as the reference's sample mldsa65 chain has).
    if isinstance(asym, PqcAsymAlgo):
        return asym
    pss_to_ssa = {
        BaseAsymAlgo.RSAPSS_2048: BaseAsymAlgo.RSASSA_2048,
        BaseAsymAlgo.RSAPSS_3072: BaseAsymAlgo.RSASSA_3072,
        BaseAsymAlgo.RSAPSS_4096: BaseAsymAlgo.RSASSA_4096,
    }
    return pss_to_ssa.get(asym, asym)


def _cert_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    raw = key._key
    if isinstance(raw, ec.EllipticCurvePrivateKey):
        if raw.curve.key_size == 256:
            return hashes.SHA256()
        return hashes.SHA384() if raw.curve.key_size == 384 else hashes.SHA512()
    if isinstance(raw, rsa.RSAPrivateKey):
        return hashes.SHA384()
    return None  # EdDSA and ML-DSA sign certificates without a separate hash


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(subject: str, key: PrivateKey, issuer: str, signer: PrivateKey,
           validity: tuple[datetime, datetime],
           extensions: list[tuple[x509.ExtensionType, bool]]) -> Certificate:
    public = key._key.public_key()
    builder = (x509.CertificateBuilder()
               .subject_name(_name(subject))
               .issuer_name(_name(issuer))
               .public_key(public)
               .serial_number(x509.random_serial_number())
               .not_valid_before(validity[0])
               .not_valid_after(validity[1])
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), False)
               .add_extension(
                   x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       signer._key.public_key()), False))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    signed = builder.sign(signer._key, _cert_hash(signer))
    return Certificate(signed.public_bytes(serialization.Encoding.DER))


def _key_usage(*, signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=signing, content_commitment=False,
                         key_encipherment=False, data_encipherment=False,
                         key_agreement=False, key_cert_sign=not signing, crl_sign=not signing,
                         encipher_only=False, decipher_only=False)


def generate_device_identity(asym: SigningAlgo, *, common_name: str = "devsec emulated device",
                             pci_ids: tuple[int, int] | None = (0x1AF4, 0x1234),
                             not_before: datetime | None = None, valid_days: int = 3650,
                             role: Role = "responder") -> DeviceIdentity:
    """Generate a root CA -> intermediate CA -> leaf chain for an emulated device.

    The leaf follows §10.3: v3, keyUsage digitalSignature (critical),
    basicConstraints CA=FALSE, the DMTF role EKU, the DMTF SPDM extension marking a
    hardware identity, and (with ``pci_ids``) the PCI-SIG SAN otherName
    ``Vendor=vvvv:Device=dddd:CC=120000:REV=01``. All randomness comes from the OS
    RNG through ``cryptography``.

    Args:
        asym: the leaf key algorithm, a BaseAsymAlgo or (SPDM 1.4) a PqcAsymAlgo
            (CAs use the same family).
        common_name: the leaf subject CN; the CAs derive their CNs from it.
        pci_ids: (vendor ID, device ID) for the SAN, or None to omit it.
        not_before: start of validity (tz-aware); None means one day before now, so
            a verifier whose clock is slightly behind (or that took "now" just
            before generating) still sees the chain as valid.
        valid_days: validity length for all three certificates.
        role: which DMTF EKU the leaf carries.

    Returns:
        The identity.

    Raises:
        ConfigurationError: SM2 or not exactly one supported algorithm, or PCI IDs
            outside 0..0xFFFF.
        LocalProtocolError: ``not_before`` is not timezone-aware.
    """
    if pci_ids is not None and not all(0 <= value <= 0xFFFF for value in pci_ids):
        raise ConfigurationError(f"PCI IDs must be 16-bit values, got {pci_ids}")
    if not_before is None:
        not_before = datetime.now(UTC) - _DEFAULT_BACKDATE
    if not_before.tzinfo is None:
        raise LocalProtocolError("not_before must be timezone-aware")
    start = not_before.astimezone(UTC).replace(microsecond=0)
    validity = (start, start + timedelta(days=valid_days))
    leaf_key = generate_private_key(asym)
    root_key = generate_private_key(_ca_asym(asym))
    inter_key = generate_private_key(_ca_asym(asym))
    root_cn = f"{common_name} root CA"
    inter_cn = f"{common_name} intermediate CA"
    ca_usage = (_key_usage(signing=False), True)
    root = _issue(root_cn, root_key, root_cn, root_key, validity,
                  [(x509.BasicConstraints(ca=True, path_length=1), True), ca_usage])
    inter = _issue(inter_cn, inter_key, root_cn, root_key, validity,
                   [(x509.BasicConstraints(ca=True, path_length=0), True), ca_usage])
    hardware_identity = _der_short_tlv(_DER_SEQUENCE, _DER_OID_HARDWARE_IDENTITY)
    spdm_extension = _der_short_tlv(_DER_SEQUENCE, hardware_identity)
    leaf_extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (_key_usage(signing=True), True),
        (x509.ExtendedKeyUsage([_ROLE_EKUS[role][0]]), False),
        (x509.UnrecognizedExtension(OID_DMTF_SPDM_EXTENSION, spdm_extension), False),
    ]
    if pci_ids is not None:
        vendor, device = pci_ids
        text = f"Vendor={vendor:04x}:Device={device:04x}:CC=120000:REV=01"
        san = x509.OtherName(OID_PCISIG_SAN, _der_short_tlv(_DER_UTF8STRING, text.encode()))
        leaf_extensions.append((x509.SubjectAlternativeName([san]), False))
    leaf = _issue(common_name, leaf_key, inter_cn, inter_key, validity, leaf_extensions)
    return DeviceIdentity(certificates=(root, inter, leaf), leaf_key=leaf_key)
