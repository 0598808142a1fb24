"""Tests for spdm.crypto.certs: SPDM chain format, validation rules, device identities.

Chains that break one rule at a time are built here with ``cryptography``
directly, so the validator is not only tested against its own generator.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, x25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from spdm.crypto.certs import (
    Certificate,
    SpdmCertChain,
    build_spdm_cert_chain,
    load_certificates,
    parse_der_certificates,
    parse_spdm_cert_chain,
    validate_cert_chain,
)
from spdm.crypto.hashes import digest
from spdm.crypto.identity import DeviceIdentity, generate_device_identity
from spdm.errors import ConfigurationError, DecodeError, LocalProtocolError, VerificationError
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo

SHA384 = BaseHashAlgo.SHA_384
START = datetime(2025, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
RSP_AUTH = x509.ObjectIdentifier("1.3.6.1.4.1.412.274.3")
REQ_AUTH = x509.ObjectIdentifier("1.3.6.1.4.1.412.274.4")
IDENTITY_ASYMS = [
    BaseAsymAlgo.ECDSA_P256, BaseAsymAlgo.ECDSA_P384, BaseAsymAlgo.ECDSA_P521,
    BaseAsymAlgo.RSASSA_3072, BaseAsymAlgo.RSAPSS_3072, BaseAsymAlgo.EDDSA_ED25519,
    BaseAsymAlgo.EDDSA_ED448,
]


def _id(value: object) -> str:
    return str(getattr(value, "name", value))


@pytest.fixture(scope="module")
def identities() -> dict[BaseAsymAlgo, DeviceIdentity]:
    return {asym: generate_device_identity(asym, not_before=START) for asym in IDENTITY_ASYMS}


def _chain(certs: Sequence[Certificate]) -> SpdmCertChain:
    return parse_spdm_cert_chain(build_spdm_cert_chain(certs, SHA384), SHA384)


# --- hand-built chains (EC P-256), one rule broken at a time -------------------------

KEYS = {name: ec.generate_private_key(ec.SECP256R1()) for name in ("root", "inter", "leaf")}
ExtList = list[tuple[x509.ExtensionType, bool]]


def _usage(*, sign: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=sign, content_commitment=False,
                         key_encipherment=not (sign or cert_sign), data_encipherment=False,
                         key_agreement=False, key_cert_sign=cert_sign, crl_sign=False,
                         encipher_only=False, decipher_only=False)


CA_EXT: ExtList = [(x509.BasicConstraints(ca=True, path_length=None), True),
                   (_usage(cert_sign=True), True)]
LEAF_EXT: ExtList = [(x509.BasicConstraints(ca=False, path_length=None), True),
                     (_usage(sign=True), True)]


def _cert(subject: str, issuer: str, extensions: ExtList, *,
          not_before: datetime = START, days: int = 3650) -> Certificate:
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
               .public_key(KEYS[subject].public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before)
               .not_valid_after(not_before + timedelta(days=days)))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    der = builder.sign(KEYS[issuer], hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    return Certificate(der)


def _hand_chain(*, root: ExtList = CA_EXT, inter: ExtList = CA_EXT,
                leaf: ExtList = LEAF_EXT) -> list[Certificate]:
    return [_cert("root", "root", root), _cert("inter", "root", inter),
            _cert("leaf", "inter", leaf)]


def _validate(certs: Sequence[Certificate], asym: BaseAsymAlgo = BaseAsymAlgo.ECDSA_P256,
              anchors: Sequence[Certificate] | None = None, role: str = "responder",
              now: datetime = NOW) -> None:
    chain = _chain(certs)
    validate_cert_chain(chain, [chain.root] if anchors is None else anchors, asym, now=now,
                        role="responder" if role == "responder" else "requester")


def test_hand_built_chain_is_valid() -> None:
    _validate(_hand_chain())


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"leaf": [(x509.BasicConstraints(ca=True, path_length=None), True),
               (_usage(sign=True), True)]},
     r"certificate 2 \('CN=leaf'\): leaf has basicConstraints CA=TRUE"),
    ({"leaf": [(x509.BasicConstraints(ca=False, path_length=None), True), (_usage(), True)]},
     "leaf keyUsage lacks digitalSignature"),
    ({"leaf": [(x509.BasicConstraints(ca=False, path_length=None), True)]},
     "leaf has no keyUsage extension"),
    ({"inter": [(x509.BasicConstraints(ca=False, path_length=None), True)]},
     r"certificate 1 \('CN=inter'\): issues certificates but basicConstraints CA is not TRUE"),
    ({"inter": [(_usage(cert_sign=True), True)]}, "basicConstraints CA is not TRUE"),
    ({"inter": [(x509.BasicConstraints(ca=True, path_length=None), True), (_usage(), True)]},
     "keyUsage lacks keyCertSign"),
    ({"root": [(x509.BasicConstraints(ca=True, path_length=0), True)]},
     r"certificate 0 \('CN=root'\): pathLenConstraint 0 but 1 intermediate"),
], ids=["leaf-ca", "leaf-no-digital-signature", "leaf-no-key-usage", "inter-not-ca",
        "inter-no-basic-constraints", "inter-no-cert-sign", "root-pathlen"])
def test_rule_violations(kwargs: dict[str, ExtList], message: str) -> None:
    with pytest.raises(VerificationError, match=message):
        _validate(_hand_chain(**kwargs))


def test_leaf_without_basic_constraints_is_fine() -> None:
    _validate(_hand_chain(leaf=[(_usage(sign=True), True)]))


@pytest.mark.parametrize(("ekus", "role", "ok"), [
    ([REQ_AUTH], "responder", False),
    ([RSP_AUTH], "requester", False),
    ([RSP_AUTH], "responder", True),
    ([REQ_AUTH], "requester", True),
    ([RSP_AUTH, REQ_AUTH], "responder", True),
    ([RSP_AUTH, REQ_AUTH], "requester", True),
    ([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], "responder", True),
    ([ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE, REQ_AUTH], "requester", True),
    ([ExtendedKeyUsageOID.SERVER_AUTH, REQ_AUTH], "responder", False),
], ids=["req-only-as-responder", "rsp-only-as-requester", "rsp", "req", "both-rsp", "both-req",
        "server-client", "any-req", "server-req-as-responder"])
def test_leaf_eku_role(ekus: list[x509.ObjectIdentifier], role: str, ok: bool) -> None:
    chain = _hand_chain(leaf=[*LEAF_EXT, (x509.ExtendedKeyUsage(ekus), False)])
    if ok:
        _validate(chain, role=role)
    else:
        with pytest.raises(VerificationError, match=f"not {role} authentication"):
            _validate(chain, role=role)


def test_chain_out_of_order_fails() -> None:
    root, inter, leaf = _hand_chain()
    with pytest.raises(VerificationError, match=r"certificate 1 \('CN=leaf'\): issuer 'CN=inter' "
                                                r"is not the subject of certificate 0"):
        _validate([root, leaf, inter], anchors=[root])


def test_chain_anchored_by_signature_and_anchor_checks() -> None:
    root, inter, leaf = _hand_chain()
    _validate([inter, leaf], anchors=[root])  # first cert signed by the anchor
    _validate([inter, leaf], anchors=[inter])  # first cert is itself the anchor
    _validate([leaf], anchors=[inter])
    expired_root = _cert("root", "root", CA_EXT, not_before=START - timedelta(days=400),
                         days=365)
    with pytest.raises(VerificationError, match=r"trust anchor 0 \('CN=root'\): not valid at"):
        _validate([inter, leaf], anchors=[expired_root])
    not_ca_root = _cert("root", "root", [(x509.BasicConstraints(ca=False, path_length=None),
                                          True)])
    with pytest.raises(VerificationError, match="trust anchor 0.*CA is not TRUE"):
        _validate([inter, leaf], anchors=[not_ca_root])
    pathlen_root = _cert("root", "root", [(x509.BasicConstraints(ca=True, path_length=0), True)])
    with pytest.raises(VerificationError, match="trust anchor 0.*pathLenConstraint 0"):
        _validate([inter, leaf], anchors=[pathlen_root])


def test_anchor_with_same_name_but_other_key_is_not_trusted() -> None:
    root, inter, leaf = _hand_chain()
    impostor_key = KEYS["root"]
    KEYS["root"] = ec.generate_private_key(ec.SECP256R1())
    try:
        impostor = _cert("root", "root", CA_EXT)
    finally:
        KEYS["root"] = impostor_key
    with pytest.raises(VerificationError, match="does not lead to a trusted root"):
        _validate([inter, leaf], anchors=[impostor])


def _der_tlv(tag: int, body: bytes) -> bytes:
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    size = 1 if len(body) < 0x100 else 2
    return bytes([tag, 0x80 | size]) + len(body).to_bytes(size, "big") + body


def _der_body(element: bytes) -> bytes:
    """Content of one DER element (short or long form length)."""
    return element[2:] if element[1] < 0x80 else element[2 + (element[1] & 0x7F):]


def test_v1_certificate_fails() -> None:
    # cryptography only builds v3, so drop the [0] version field by hand and re-sign.
    v3 = x509.load_der_x509_certificate(_cert("root", "root", []).der)
    tbs = _der_body(v3.tbs_certificate_bytes)
    assert tbs.startswith(bytes.fromhex("a003020102"))  # [0] { INTEGER 2 }
    tbs_v1 = _der_tlv(0x30, tbs[5:])
    signature = KEYS["root"].sign(tbs_v1, ec.ECDSA(hashes.SHA256()))
    algorithm = bytes.fromhex("300a06082a8648ce3d040302")  # ecdsa-with-SHA256
    v1 = Certificate(_der_tlv(0x30, tbs_v1 + algorithm + _der_tlv(0x03, b"\x00" + signature)))
    assert x509.load_der_x509_certificate(v1.der).version == x509.Version.v1
    with pytest.raises(VerificationError, match=r"certificate 0 \('CN=root'\): not an X.509 v3"):
        _validate([v1])


def test_signature_algorithm_not_matching_issuer_key() -> None:
    root, _, leaf = _hand_chain()
    rsa_signer = rsa.generate_private_key(65537, 2048)
    inter_der = (x509.CertificateBuilder()
                 .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "inter")]))
                 .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "root")]))
                 .public_key(KEYS["inter"].public_key()).serial_number(2)
                 .not_valid_before(START).not_valid_after(START + timedelta(days=1000))
                 .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                 .sign(rsa_signer, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    with pytest.raises(VerificationError,
                       match=r"certificate 1 \('CN=inter'\): cannot check signature by "
                             r"certificate 0"):
        _validate([root, Certificate(inter_der), leaf])


# --- generated device identities -------------------------------------------------------

@pytest.mark.parametrize("asym", IDENTITY_ASYMS, ids=_id)
def test_generated_identity_validates(identities: dict[BaseAsymAlgo, DeviceIdentity],
                                      asym: BaseAsymAlgo) -> None:
    identity = identities[asym]
    assert len(identity.certificates) == 3
    assert identity.leaf_key.asym == asym
    assert identity.leaf.public_key() == identity.leaf_key.public_key()
    chain = _chain(identity.certificates)
    validate_cert_chain(chain, [identity.root], asym, now=NOW)
    with pytest.raises(VerificationError, match="extendedKeyUsage permits only the other role"):
        validate_cert_chain(chain, [identity.root], asym, now=NOW, role="requester")


def test_generated_leaf_contents(identities: dict[BaseAsymAlgo, DeviceIdentity]) -> None:
    identity = identities[BaseAsymAlgo.ECDSA_P384]
    leaf = x509.load_der_x509_certificate(identity.leaf.der)
    assert leaf.version == x509.Version.v3
    assert identity.leaf.subject == "CN=devsec emulated device"
    assert identity.leaf.not_before == START
    assert identity.leaf.not_after == START + timedelta(days=3650)
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == \
        [RSP_AUTH]
    spdm = leaf.extensions.get_extension_for_oid(x509.ObjectIdentifier("1.3.6.1.4.1.412.274.6"))
    assert not spdm.critical
    # SEQUENCE OF SEQUENCE { id-DMTF-hardware-identity }, as in libspdm's sample certs.
    assert isinstance(spdm.value, x509.UnrecognizedExtension)
    assert spdm.value.value == bytes.fromhex("300e300c060a2b06010401831c821202")
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    (other,) = san.get_values_for_type(x509.OtherName)
    assert other.type_id == x509.ObjectIdentifier("2.23.147")
    text = b"Vendor=1af4:Device=1234:CC=120000:REV=01"
    assert other.value == bytes([0x0C, len(text)]) + text  # DER UTF8String
    root = x509.load_der_x509_certificate(identity.root.der)
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    inter = x509.load_der_x509_certificate(identity.certificates[1].der)
    assert inter.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert "leaf_key" not in repr(identity) and "PrivateKey" not in repr(identity)


def test_generated_requester_identity_without_pci_ids() -> None:
    identity = generate_device_identity(BaseAsymAlgo.ECDSA_P256, common_name="host",
                                        pci_ids=None, not_before=START, valid_days=10,
                                        role="requester")
    leaf = x509.load_der_x509_certificate(identity.leaf.der)
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == \
        [REQ_AUTH]
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert identity.root.subject == "CN=host root CA"
    chain = _chain(identity.certificates)
    validate_cert_chain(chain, [identity.root], BaseAsymAlgo.ECDSA_P256,
                        now=START + timedelta(days=5), role="requester")
    with pytest.raises(VerificationError, match="not valid at"):
        validate_cert_chain(chain, [identity.root], BaseAsymAlgo.ECDSA_P256,
                            now=START + timedelta(days=11), role="requester")


def test_generate_identity_defaults_and_errors() -> None:
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    identity = generate_device_identity(BaseAsymAlgo.EDDSA_ED25519)
    assert before <= identity.leaf.not_before <= datetime.now(UTC) - timedelta(days=1)
    with pytest.raises(LocalProtocolError, match="timezone-aware"):
        generate_device_identity(BaseAsymAlgo.ECDSA_P256, not_before=datetime(2025, 1, 1))
    with pytest.raises(ConfigurationError):
        generate_device_identity(BaseAsymAlgo.SM2_P256)
    with pytest.raises(ConfigurationError, match="16-bit"):
        generate_device_identity(BaseAsymAlgo.ECDSA_P256, pci_ids=(0x10000, 1))


def test_validation_failures_on_generated_chain(
        identities: dict[BaseAsymAlgo, DeviceIdentity]) -> None:
    identity = identities[BaseAsymAlgo.ECDSA_P256]
    chain = _chain(identity.certificates)
    root = [identity.root]
    other_root = [identities[BaseAsymAlgo.ECDSA_P384].root]
    with pytest.raises(VerificationError, match=r"certificate 0 \('CN=devsec emulated device "
                                                r"root CA'\) does not lead to a trusted root"):
        validate_cert_chain(chain, other_root, BaseAsymAlgo.ECDSA_P256, now=NOW)
    with pytest.raises(VerificationError, match="does not lead to a trusted root"):
        validate_cert_chain(chain, [], BaseAsymAlgo.ECDSA_P256, now=NOW)
    with pytest.raises(VerificationError, match="certificate 0 .*not valid at 2035"):
        validate_cert_chain(chain, root, BaseAsymAlgo.ECDSA_P256,
                            now=datetime(2035, 1, 1, tzinfo=UTC))
    with pytest.raises(VerificationError, match="not valid at 2024"):
        validate_cert_chain(chain, root, BaseAsymAlgo.ECDSA_P256,
                            now=datetime(2024, 12, 31, tzinfo=UTC))
    with pytest.raises(VerificationError,
                       match=r"certificate 2 .*leaf public key does not fit ECDSA_P384"):
        validate_cert_chain(chain, root, BaseAsymAlgo.ECDSA_P384, now=NOW)
    with pytest.raises(VerificationError, match="does not fit RSASSA_3072"):
        validate_cert_chain(chain, root, BaseAsymAlgo.RSASSA_3072, now=NOW)
    with pytest.raises(LocalProtocolError, match="timezone-aware"):
        validate_cert_chain(chain, root, BaseAsymAlgo.ECDSA_P256, now=datetime(2026, 1, 1))
    with pytest.raises(ConfigurationError):
        validate_cert_chain(chain, root, BaseAsymAlgo.SM2_P256, now=NOW)


def test_rsa_leaf_fits_ssa_and_pss_of_its_size(
        identities: dict[BaseAsymAlgo, DeviceIdentity]) -> None:
    identity = identities[BaseAsymAlgo.RSAPSS_3072]
    chain = _chain(identity.certificates)
    validate_cert_chain(chain, [identity.root], BaseAsymAlgo.RSASSA_3072, now=NOW)
    with pytest.raises(VerificationError, match="does not fit RSAPSS_4096"):
        validate_cert_chain(chain, [identity.root], BaseAsymAlgo.RSAPSS_4096, now=NOW)


@pytest.mark.parametrize(("index", "message"), [
    (0, r"certificate 0 \(.*root CA'\) does not lead to a trusted root"),
    (1, r"certificate 1 \(.*intermediate CA'\): signature does not verify with the key of "
        r"certificate 0"),
    (2, r"certificate 2 \('CN=devsec emulated device'\): signature does not verify with the "
        r"key of certificate 1"),
])
def test_tampered_signature(identities: dict[BaseAsymAlgo, DeviceIdentity], index: int,
                            message: str) -> None:
    identity = identities[BaseAsymAlgo.ECDSA_P384]
    certs = list(identity.certificates)
    der = bytearray(certs[index].der)
    der[-1] ^= 0x01  # last byte of the signature value: still well-formed DER
    certs[index] = Certificate(bytes(der))
    with pytest.raises(VerificationError, match=message):
        validate_cert_chain(_chain(certs), [identity.root], BaseAsymAlgo.ECDSA_P384, now=NOW)


# --- SPDM chain format ---------------------------------------------------------------------

def test_build_and_parse_layout(identities: dict[BaseAsymAlgo, DeviceIdentity]) -> None:
    certs = identities[BaseAsymAlgo.ECDSA_P256].certificates
    raw = build_spdm_cert_chain(certs, SHA384)
    length, reserved = struct.unpack_from("<HH", raw)
    assert (length, reserved) == (len(raw), 0)
    assert raw[4:52] == digest(SHA384, certs[0].der)
    assert raw[52:] == b"".join(cert.der for cert in certs)
    assert build_spdm_cert_chain([cert.der for cert in certs], SHA384) == raw
    chain = parse_spdm_cert_chain(raw, SHA384)
    assert chain.raw == raw and chain.certificates == certs
    assert chain.root == certs[0] and chain.leaf == certs[2]
    assert chain.root_hash == certs[0].sha(SHA384)


def test_build_errors(identities: dict[BaseAsymAlgo, DeviceIdentity]) -> None:
    cert = identities[BaseAsymAlgo.ECDSA_P256].leaf
    with pytest.raises(LocalProtocolError, match="at least one"):
        build_spdm_cert_chain([], SHA384)
    big = build_spdm_cert_chain([cert] * (0xFFFF // len(cert.der) + 1), SHA384)
    assert int.from_bytes(big[:4], "little") == len(big) > 0xFFFF  # SPDM 1.4's Length(u32)
    with pytest.raises(LocalProtocolError, match="cannot build"):
        build_spdm_cert_chain([b"\x30\x03\x02\x01\x00"], SHA384)


def test_parse_errors(identities: dict[BaseAsymAlgo, DeviceIdentity]) -> None:
    certs = identities[BaseAsymAlgo.ECDSA_P256].certificates
    raw = build_spdm_cert_chain(certs, SHA384)
    with pytest.raises(VerificationError, match="RootHash does not match certificate 0"):
        parse_spdm_cert_chain(raw[:4] + bytes(48) + raw[52:], SHA384)
    with pytest.raises(DecodeError, match="Length field"):
        parse_spdm_cert_chain(raw[:-1], SHA384)
    truncated = struct.pack("<H", len(raw) - 10) + raw[2:-10]
    with pytest.raises(DecodeError, match="runs past the end"):
        parse_spdm_cert_chain(truncated, SHA384)
    with pytest.raises(DecodeError, match="shorter than its header"):
        parse_spdm_cert_chain(raw[:20], SHA384)
    with pytest.raises(DecodeError, match="no certificate"):
        parse_spdm_cert_chain(struct.pack("<HH", 52, 0) + bytes(48), SHA384)
    with pytest.raises(DecodeError):  # hash size disagrees with the negotiated hash
        parse_spdm_cert_chain(raw, BaseHashAlgo.SHA_256)


@pytest.mark.parametrize(("blob", "message"), [
    (b"", "no certificate"),
    (b"\x31\x00", "expected a DER SEQUENCE"),
    (b"\x30", "truncated DER header"),
    (b"\x30\x80\x00\x00", "unsupported DER length form"),
    (b"\x30\x84\x00\x00\x00\x01\x00", "unsupported DER length form"),
    (b"\x30\x82\x01", "truncated DER length"),
    (b"\x30\x03\x02\x01\x00", "malformed X.509"),
    (b"\x30\x05\x02\x01\x00", "runs past the end"),
], ids=["empty", "not-sequence", "short-header", "indefinite", "5-octet-length", "short-length",
        "not-a-certificate", "overrun"])
def test_parse_der_certificates_garbage(blob: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        parse_der_certificates(blob)


def test_parse_der_certificates_rejects_trailing_bytes(
        identities: dict[BaseAsymAlgo, DeviceIdentity]) -> None:
    certs = identities[BaseAsymAlgo.ECDSA_P256].certificates
    blob = b"".join(cert.der for cert in certs)
    assert parse_der_certificates(blob) == list(certs)
    with pytest.raises(DecodeError):
        parse_der_certificates(blob + b"\x00")
    with pytest.raises(DecodeError):
        Certificate(certs[0].der + b"\x00")


def test_load_certificates(identities: dict[BaseAsymAlgo, DeviceIdentity]) -> None:
    certs = identities[BaseAsymAlgo.ECDSA_P256].certificates
    pem = b"".join(x509.load_der_x509_certificate(cert.der).public_bytes(
        serialization.Encoding.PEM) for cert in certs)
    assert load_certificates(pem) == list(certs)
    assert load_certificates(b"".join(cert.der for cert in certs)) == list(certs)
    for bad in (b"", b"hello", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"):
        with pytest.raises(ConfigurationError, match="cannot load certificates"):
            load_certificates(bad)


def test_certificate_fields_and_unusable_key() -> None:
    x_key = x25519.X25519PrivateKey.generate()
    der = (x509.CertificateBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
           .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "root")]))
           .public_key(x_key.public_key()).serial_number(1)
           .not_valid_before(START).not_valid_after(START + timedelta(days=1))
           .sign(KEYS["root"], hashes.SHA256()).public_bytes(serialization.Encoding.DER))
    cert = Certificate(der)
    assert (cert.subject, cert.issuer) == ("CN=x", "CN=root")
    assert cert.not_before.tzinfo is not None
    assert cert == Certificate(der) and hash(cert) == hash(Certificate(der))
    assert "der=" not in repr(cert)
    with pytest.raises(VerificationError, match="unsupported public key type"):
        cert.public_key()


@pytest.mark.parametrize("tag", [0x0D, 0x03, 0x01], ids=["relative-oid", "bit-string", "boolean"])
def test_name_with_unexpected_string_type_is_decode_error(tag: int) -> None:
    # Found by the mutation fuzz: cryptography raised KeyError / TypeError for these.
    der = _cert("root", "root", CA_EXT).der
    assert der.count(b"\x0c\x04root") == 2  # issuer and subject CN (UTF8String)
    with pytest.raises(DecodeError, match="malformed X.509"):
        Certificate(der.replace(b"\x0c\x04root", bytes([tag, 4]) + b"root"))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=300))
def test_fuzz_parsers_raise_only_decode_or_verification_errors(blob: bytes) -> None:
    for candidate in (blob, b"\x30\x82" + struct.pack(">H", len(blob)) + blob):
        with pytest.raises(DecodeError):
            parse_der_certificates(candidate)
    chain = struct.pack("<HH", 52 + len(blob), 0) + bytes(48) + blob
    for candidate in (blob, chain):
        with pytest.raises((DecodeError, VerificationError)):
            parse_spdm_cert_chain(candidate, SHA384)


def _fixed_ed25519_chain() -> list[Certificate]:
    """Byte-for-byte reproducible chain (Ed25519 signatures are deterministic)."""
    keys = {name: ed25519.Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
            for seed, name in enumerate(("root", "inter", "leaf"), start=1)}
    out = []
    for serial, (subject, issuer, extensions) in enumerate(
            [("root", "root", CA_EXT), ("inter", "root", CA_EXT), ("leaf", "inter", LEAF_EXT)],
            start=1):
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(keys[subject].public_key()).serial_number(serial)
                   .not_valid_before(START).not_valid_after(START + timedelta(days=3650)))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical)
        out.append(Certificate(builder.sign(keys[issuer], None)
                               .public_bytes(serialization.Encoding.DER)))
    return out


_SAMPLE_CERTS = _fixed_ed25519_chain()
_SAMPLE = build_spdm_cert_chain(_SAMPLE_CERTS, SHA384)


def test_fixed_sample_chain_is_valid() -> None:
    assert _fixed_ed25519_chain() == _SAMPLE_CERTS  # reproducible
    validate_cert_chain(_chain(_SAMPLE_CERTS), [_SAMPLE_CERTS[0]], BaseAsymAlgo.EDDSA_ED25519,
                        now=NOW)


# Mutated serial numbers can be non-positive: cryptography accepts them with a warning.
@pytest.mark.filterwarnings("ignore:Parsed a serial number which wasn't positive")
@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.integers(0, len(_SAMPLE) - 1), st.integers(1, 255))
def test_fuzz_mutated_chain(position: int, flip: int) -> None:
    mutated = bytearray(_SAMPLE)
    mutated[position] ^= flip
    try:
        chain = parse_spdm_cert_chain(bytes(mutated), SHA384)
    except (DecodeError, VerificationError):
        return
    # Parsed despite the flip (e.g. inside a name or signature): validation must still
    # either pass or fail cleanly.
    try:
        validate_cert_chain(chain, [_SAMPLE_CERTS[0]], BaseAsymAlgo.EDDSA_ED25519, now=NOW)
    except VerificationError:
        pass


def test_pem_round_trip(identities: dict[BaseAsymAlgo, DeviceIdentity]) -> None:
    certs = identities[BaseAsymAlgo.ECDSA_P256].certificates
    pem = b"".join(c.to_pem() for c in certs)
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert load_certificates(pem) == list(certs)


def test_a_signature_bit_string_with_unused_bits_is_refused() -> None:
    """The signature does not cover its own BIT STRING's unused-bits octet, and the X.509
    parser reads the signature bytes whatever it says (when the bits it would drop are 0)."""
    der = next(der for der in (generate_device_identity(BaseAsymAlgo.ECDSA_P256).certificates[-1].der
                               for _ in range(64)) if not der[-1] & 1)
    # the signatureValue is the certificate's last element: a short-form BIT STRING to the end
    start = next(pos for pos in range(len(der) - 3, 0, -1)
                 if der[pos] == 0x03 and der[pos + 1] == len(der) - pos - 2)
    assert der[start + 2] == 0
    changed = der[:start + 2] + b"\x01" + der[start + 3:]
    assert x509.load_der_x509_certificate(changed).signature == x509.load_der_x509_certificate(der).signature
    with pytest.raises(DecodeError, match="unused bits"):
        Certificate(changed)
