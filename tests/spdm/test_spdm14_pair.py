"""devsec's requester against devsec's device on SPDM 1.4: pipe, DOE mailbox model and loopback TCP.

The device lists 1.0-1.4 by default; the requester offers 1.4 when told to
(``versions=ALL_VERSIONS``; its default stops at 1.3).  The device holds a certificate chain
larger than 64 KiB, which only the 1.4 LargeCertChain form (32-bit offsets and
lengths, LARGE_RESP_CAP) can carry: the chain arrives whole, validates, and
the CHALLENGE_AUTH and MEASUREMENTS signatures over it verify with the
"dmtf-spdm-v1.4.*" prefix; a KEY_EXCHANGE session (1.4 opaque data in FINISH
and FINISH_RSP) comes up.  Below 1.4 the same device refuses the chain.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID, ObjectIdentifier

from devsec.emulator import EmulatedDevice
from spdm.cma import AuthenticationReport, authenticate
from spdm.config import ALL_VERSIONS, DEFAULT_REQUESTER_CAPS, RequesterConfig, ResponderConfig
from spdm.connection import connect
from spdm.crypto import Certificate, DeviceIdentity, PrivateKey, generate_device_identity
from spdm.device import DeviceModel
from spdm.errors import RemoteErrorResponse, SpdmErrorCode
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, RequestCode, SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from spdm.transport import EmuSocketClient

NOW = datetime.now(UTC)
P384 = BaseAsymAlgo.ECDSA_P384
LARGE = CapabilityFlags.LARGE_RESP_CAP
PADDING_OID = ObjectIdentifier("1.3.6.1.4.1.412.274.99")  # an unknown, non-critical extension


def _large_identity() -> DeviceIdentity:
    """A root CA whose certificate carries 70 000 bytes of padding, and the usual SPDM leaf under it."""
    template = x509.load_der_x509_certificate(generate_device_identity(P384).leaf.der)
    root_key, leaf_key = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP384R1())
    start = NOW - timedelta(days=1)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "devsec large chain root CA")])

    def issue(builder: x509.CertificateBuilder) -> Certificate:
        signed = (builder.issuer_name(root_name).serial_number(x509.random_serial_number())
                  .not_valid_before(start).not_valid_after(start + timedelta(days=30))
                  .sign(root_key, hashes.SHA384()))
        return Certificate(signed.public_bytes(serialization.Encoding.DER))

    root = issue(x509.CertificateBuilder().subject_name(root_name).public_key(root_key.public_key())
                 .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
                 .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                              key_encipherment=False, data_encipherment=False,
                                              key_agreement=False, key_cert_sign=True, crl_sign=True,
                                              encipher_only=False, decipher_only=False), True)
                 .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
                 .add_extension(x509.UnrecognizedExtension(PADDING_OID, bytes(70_000)), False))
    leaf = x509.CertificateBuilder().subject_name(template.subject).public_key(leaf_key.public_key())
    for extension in template.extensions:
        if extension.oid not in (ExtensionOID.SUBJECT_KEY_IDENTIFIER,
                                 ExtensionOID.AUTHORITY_KEY_IDENTIFIER):
            leaf = leaf.add_extension(extension.value, extension.critical)
    authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key())
    leaf = leaf.add_extension(authority, False)
    return DeviceIdentity(certificates=(root, issue(leaf)), leaf_key=PrivateKey(leaf_key, P384))


@pytest.fixture(scope="module")
def large_model() -> DeviceModel:
    return DeviceModel({0: _large_identity()})


def _device(model: DeviceModel, *versions: SpdmVersion) -> EmulatedDevice:
    prefs = replace(AlgorithmPreferences(), asym_algs=(P384,))
    config = ResponderConfig(algorithms=prefs) if not versions else ResponderConfig(versions=versions,
                                                                                   algorithms=prefs)
    return EmulatedDevice(config, model)


class CountingPipe:
    """A DOE transport that records the SPDM requests it carries (out of session)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.requests: list[bytes] = []

    def exchange(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        if obj[2] == 1:
            self.requests.append(obj[8:])
        return self.inner.exchange(obj, timeout=timeout)  # type: ignore[attr-defined, no-any-return]

    def close(self) -> None:
        self.inner.close()  # type: ignore[attr-defined]


def _check(report: AuthenticationReport, model: DeviceModel) -> None:
    assert report.negotiated.version == SpdmVersion.V14
    assert report.negotiated.both(LARGE)
    assert not report.negotiated.pqc_asym_alg and not report.negotiated.kem_alg
    assert report.challenge is not None
    assert report.challenge.evidence.combined_prefix.startswith(b"dmtf-spdm-v1.4.*" * 4)
    assert report.measurements is not None and report.measurements.evidence is not None
    assert report.chain.root == model.root_certificate()


@pytest.mark.parametrize("transport", ["pipe", "mailbox"])
def test_a_chain_over_64_kib_comes_in_the_large_form(large_model: DeviceModel, transport: str) -> None:
    device = _device(large_model)
    pipe = CountingPipe(device.pipe() if transport == "pipe" else device.mailbox())
    config = RequesterConfig(versions=ALL_VERSIONS, trust_anchors=(large_model.root_certificate(),))
    report = authenticate(pipe, config, now=NOW)
    _check(report, large_model)
    assert len(report.chain.raw) > 0x10000
    assert int.from_bytes(report.chain.raw[:4], "little") == len(report.chain.raw)
    gets = [r for r in pipe.requests if r[1] == RequestCode.GET_CERTIFICATE]
    assert gets and all(r[0] == SpdmVersion.V14 and r[2] & 0x80 and len(r) >= 16 for r in gets)


def test_a_session_comes_up_on_14(large_model: DeviceModel) -> None:
    device = _device(large_model)
    config = RequesterConfig(versions=ALL_VERSIONS, trust_anchors=(large_model.root_certificate(),))
    with connect(device.pipe(), config, now=NOW) as connection:
        assert connection.negotiated.version == SpdmVersion.V14
        session = connection.open_session()
        measured = session.measure()
        assert measured.evidence is not None
        report = session.report
        # DSP0277 1.2, as the reference selects on 1.4 (spdm14-p384's KEY_EXCHANGE opaque data)
        assert report.secured_message_version == 0x1200


def test_over_loopback_tcp(large_model: DeviceModel) -> None:
    device = _device(large_model)
    server = device.server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = EmuSocketClient("127.0.0.1", server.address[1], timeout=10)
        try:
            config = RequesterConfig(versions=ALL_VERSIONS, trust_anchors=(large_model.root_certificate(),))
            report = authenticate(client, config, now=NOW)
        finally:
            client.close()
        _check(report, large_model)
    finally:
        server.stop()
        thread.join(5)
        server.close()
    assert not thread.is_alive()


def test_below_14_the_large_chain_is_refused(large_model: DeviceModel) -> None:
    device = _device(large_model, SpdmVersion.V13)
    config = RequesterConfig(versions=ALL_VERSIONS, trust_anchors=(large_model.root_certificate(),))
    with pytest.raises(RemoteErrorResponse) as raised:
        authenticate(device.pipe(), config, now=NOW)
    assert raised.value.code == SpdmErrorCode.INVALID_REQUEST


def test_without_large_resp_the_14_requester_uses_the_small_form() -> None:
    model = DeviceModel.generate(P384)
    config = RequesterConfig(versions=ALL_VERSIONS, trust_anchors=(model.root_certificate(),),
                             capabilities=DEFAULT_REQUESTER_CAPS & ~LARGE)
    device_without = EmulatedDevice(ResponderConfig(
        algorithms=replace(AlgorithmPreferences(), asym_algs=(P384,)),
        capabilities=ResponderConfig().capabilities & ~LARGE), model)
    pipe = CountingPipe(device_without.pipe())
    report = authenticate(pipe, config, now=NOW)
    assert report.negotiated.version == SpdmVersion.V14 and not report.negotiated.both(LARGE)
    gets = [r for r in pipe.requests if r[1] == RequestCode.GET_CERTIFICATE]
    assert gets and all(not r[2] & 0x80 and len(r) == 8 for r in gets)



def test_at_14_without_large_resp_the_large_chain_is_data_too_large(large_model: DeviceModel) -> None:
    device = EmulatedDevice(ResponderConfig(
        algorithms=replace(AlgorithmPreferences(), asym_algs=(P384,)),
        capabilities=ResponderConfig().capabilities & ~LARGE), large_model)
    config = RequesterConfig(versions=ALL_VERSIONS, trust_anchors=(large_model.root_certificate(),))
    with pytest.raises(RemoteErrorResponse) as raised:
        authenticate(device.pipe(), config, now=NOW)
    assert raised.value.code == SpdmErrorCode.DATA_TOO_LARGE
