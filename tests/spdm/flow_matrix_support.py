"""What the flow matrix (test_flow_matrix.py) shares between its cells: transports, algorithms, identities.

Each cell of the matrix runs devsec's requester against devsec's device
(:class:`devsec.emulator.EmulatedDevice`) over one of the three ways a host
reaches a device: the in-process pipe, the modelled DOE mailbox registers, and
the spdm-emu socket protocol on loopback.  :func:`reach` opens each the same
way, wrapped in :class:`Counting` so a cell can see which requests went out.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, mldsa
from cryptography.x509.oid import ExtensionOID, NameOID, ObjectIdentifier

from devsec.emulator import EmulatedDevice
from spdm.crypto import Certificate, DeviceIdentity, PrivateKey, SigningAlgo, generate_device_identity
from spdm.device import DeviceModel
from spdm.messages.codes import BaseAsymAlgo, KemAlgo, PqcAsymAlgo
from spdm.negotiation import AlgorithmPreferences
from spdm.transport import DoeTransport, EmuSocketClient

__all__ = [
    "ALGORITHMS", "TRANSPORTS", "Counting", "Transport", "large_model", "model", "preferences", "reach",
]

Transport = Literal["pipe", "mailbox", "socket"]
TRANSPORTS: tuple[Transport, ...] = ("pipe", "mailbox", "socket")
ALGORITHMS: dict[str, SigningAlgo] = {"classic": BaseAsymAlgo.ECDSA_P384, "pqc": PqcAsymAlgo.ML_DSA_44}
"""The classic and the post-quantum signing algorithm of the matrix (ML-DSA-44: the quickest set)."""
KEM = KemAlgo.ML_KEM_768
PADDING_OID = ObjectIdentifier("1.3.6.1.4.1.412.274.99")  # an unknown, non-critical extension


def preferences(alg: SigningAlgo) -> AlgorithmPreferences:
    """Both sides' algorithm preferences for ``alg``: only it, and ML-KEM-768 with ML-DSA."""
    if isinstance(alg, PqcAsymAlgo):
        return replace(AlgorithmPreferences(), pqc_asym_algs=(alg,), kem_algs=(KEM,))
    return replace(AlgorithmPreferences(), asym_algs=(alg,))


@cache
def model(alg: SigningAlgo, slots: tuple[int, ...] = (0,)) -> DeviceModel:
    """A device identity per algorithm and slot set, generated once per test run (ML-DSA is slow)."""
    return DeviceModel.generate(alg, slots=slots)


@cache
def large_model(alg: SigningAlgo) -> DeviceModel:
    """A device whose chain exceeds 64 KiB: a root CA certificate carrying 70 000 bytes of padding
    over the usual SPDM leaf (only the 1.4 LargeCertChain form can carry it)."""
    template = x509.load_der_x509_certificate(generate_device_identity(alg).leaf.der)
    pqc = isinstance(alg, PqcAsymAlgo)
    root_key: ec.EllipticCurvePrivateKey | mldsa.MLDSA44PrivateKey
    leaf_key: ec.EllipticCurvePrivateKey | mldsa.MLDSA44PrivateKey
    if pqc:
        root_key, leaf_key = mldsa.MLDSA44PrivateKey.generate(), mldsa.MLDSA44PrivateKey.generate()
    else:
        root_key, leaf_key = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP384R1())
    start = datetime.now(UTC) - timedelta(days=1)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "devsec large chain root CA")])

    def issue(builder: x509.CertificateBuilder) -> Certificate:
        builder = (builder.issuer_name(root_name).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(start + timedelta(days=30)))
        signed = builder.sign(root_key, None if pqc else hashes.SHA384())
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
        if extension.oid not in (ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER):
            leaf = leaf.add_extension(extension.value, extension.critical)
    authority = x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key())
    leaf = leaf.add_extension(authority, False)
    identity = DeviceIdentity(certificates=(root, issue(leaf)), leaf_key=PrivateKey(leaf_key, alg))
    return DeviceModel({0: identity})


class Counting:
    """A DOE transport that records the codes of the SPDM requests it carries in the clear."""

    def __init__(self, inner: DoeTransport) -> None:
        self.inner = inner
        self.codes: list[int] = []
        self.requests: list[bytes] = []

    def exchange(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        if obj[2] == 1:  # DOE type 1: SPDM (2 is secured SPDM, whose codes are encrypted)
            self.codes.append(obj[9])
            self.requests.append(obj[8:])
        return self.inner.exchange(obj, timeout=timeout)

    def close(self) -> None:
        self.inner.close()


@contextmanager
def reach(device: EmulatedDevice, transport: Transport) -> Iterator[Counting]:
    """The host side of ``transport`` to ``device``, closed (and the server stopped) afterwards."""
    if transport == "pipe":
        yield Counting(device.pipe())
        return
    if transport == "mailbox":
        yield Counting(device.mailbox())
        return
    server = device.server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = EmuSocketClient("127.0.0.1", server.address[1], timeout=10)
        try:
            yield Counting(client)
        finally:
            client.close()
    finally:
        server.stop()
        thread.join(10)
        server.close()
