"""The responder's GET_CSR and SET_CERTIFICATE against a provisionable device with a state file.

Real bytes all the way: the CSR the device answers is parsed and its
signature checked, the chain installed is issued from that CSR by a CA, and
what DIGESTS/CERTIFICATE/CHALLENGE_AUTH serve afterwards is checked against it
(and again after the device is reopened from its state file).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from spdm.config import ResponderConfig
from spdm.crypto import (
    Certificate,
    PrivateKey,
    build_csr,
    build_spdm_cert_chain,
    digest,
    generate_ca,
    generate_device_identity,
    generate_private_key,
    issue_leaf_from_csr,
    load_csr,
)
from spdm.device import DeviceModel
from spdm.errors import ConfigurationError, SpdmErrorCode
from spdm.messages import (
    NONCE_SIZE,
    Algorithms,
    Capabilities,
    Challenge,
    ChallengeAuth,
    CodecContext,
    Csr,
    Digests,
    ErrorResponse,
    GetCapabilities,
    GetCertificate,
    GetCsr,
    GetDigests,
    GetVersion,
    NegotiateAlgorithms,
    SetCertificate,
    SetCertificateRsp,
)
from spdm.messages import Certificate as CertificateMsg
from spdm.messages.codes import (
    CERT_MODEL_DEVICE,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    OpaqueDataFormat,
    SpdmVersion,
)
from spdm.messages.provision import csr_request_attributes, set_certificate_attributes
from spdm.negotiation import AlgorithmPreferences
from spdm.provisioning import STATE_FORMAT, InstalledSlot, ProvisionableDevice
from spdm.responder import Responder

P384 = BaseAsymAlgo.ECDSA_P384
SHA384 = BaseHashAlgo.SHA_384
H, S = 48, 96
NOW = datetime.now(UTC)
CAPS = (CapabilityFlags.CERT_CAP | CapabilityFlags.CHAL_CAP | CapabilityFlags.CSR_CAP
        | CapabilityFlags.SET_CERT_CAP)
INVALID, RESET, UNSUPPORTED = (SpdmErrorCode.INVALID_REQUEST, SpdmErrorCode.RESET_REQUIRED,
                               SpdmErrorCode.UNSUPPORTED_REQUEST)


def config(*, reset: bool = False, caps: CapabilityFlags = CAPS) -> ResponderConfig:
    flags = caps | (CapabilityFlags.CERT_INSTALL_RESET_CAP if reset else CapabilityFlags(0))
    return ResponderConfig(capabilities=flags, algorithms=AlgorithmPreferences(asym_algs=(P384,)))


@dataclass
class Link:
    responder: Responder
    version: int
    sent: list[bytes] = field(default_factory=list)

    def send(self, request: bytes) -> bytes:
        return self.responder.handle(request)

    def error(self, request: bytes, code: int, data: int = 0) -> None:
        answer = ErrorResponse.decode(self.send(request))
        assert (answer.error_code, answer.error_data) == (code, data), answer


def connect(backend: ProvisionableDevice | DeviceModel, version: int = SpdmVersion.V13,
            cfg: ResponderConfig | None = None) -> Link:
    """VCA with a requester that offers SHA-384 / ECDSA P-384 and opaque data format 1."""
    link = Link(Responder(cfg or config(), backend, now=lambda: NOW), version)
    link.send(GetVersion().encode())
    Capabilities.decode(link.send(GetCapabilities(
        spdm_version=version, ct_exponent=12, flags=CapabilityFlags.CERT_CAP | CapabilityFlags.CHAL_CAP,
        data_transfer_size=0x1200, max_spdm_msg_size=0x1200).encode()))
    Algorithms.decode(link.send(NegotiateAlgorithms(
        spdm_version=version, measurement_specification=1, other_params_support=OpaqueDataFormat.FMT1,
        base_asym_algo=P384, base_hash_algo=SHA384).encode()))
    return link


OVERWRITE = csr_request_attributes(overwrite=True)


def tagged(tag: int) -> bytes:
    """GET_CSR (1.3) asking for the CSR promised under ``tag``."""
    return GetCsr(spdm_version=0x13, attributes=csr_request_attributes(tracking_tag=tag)).encode()


def blank(tmp_path: Path, *, reset: bool = False) -> ProvisionableDevice:
    return ProvisionableDevice.open(tmp_path / "device.json", P384, reset_required=reset)


def get_csr(link: Link, **fields: int | bytes) -> bytes:
    return Csr.decode(link.send(GetCsr(spdm_version=link.version, **fields).encode())).csr  # type: ignore[arg-type]


def issue(csr_der: bytes) -> tuple[Certificate, Certificate]:
    """A CA root and the leaf it issues for the CSR."""
    ca, ca_key = _ca()
    return ca, issue_leaf_from_csr(load_csr(csr_der), ca, ca_key)


_CA: list[tuple[Certificate, PrivateKey]] = []


def _ca() -> tuple[Certificate, PrivateKey]:
    if not _CA:
        _CA.append(generate_ca(P384))
    return _CA[0]


def set_certificate(link: Link, slot: int, chain: bytes) -> bytes:
    return link.send(SetCertificate(spdm_version=link.version, attributes=slot, cert_chain=chain).encode())


def test_blank_device_to_provisioned_slot_served_and_signing(tmp_path: Path) -> None:
    device = blank(tmp_path)
    link = connect(device)
    ctx = CodecContext(hash_size=H, signature_size=S)
    assert Digests.decode(link.send(GetDigests(spdm_version=0x13).encode()), ctx).digests == ()
    csr = load_csr(get_csr(link))
    csr.verify()
    assert csr.public_key() == device.key_pairs[1].public_key()
    root, leaf = issue(csr.der)
    chain = build_spdm_cert_chain([root, leaf], SHA384)
    answer = SetCertificateRsp.decode(set_certificate(link, 2, chain))
    assert answer.slot_id == 2
    digests = Digests.decode(link.send(GetDigests(spdm_version=0x13).encode()), ctx)
    assert digests.by_slot() == {2: digest(SHA384, chain)}
    portion = CertificateMsg.decode(link.send(GetCertificate(spdm_version=0x13, slot_id=2).encode()))
    assert portion.cert_chain == chain and portion.remainder_length == 0
    nonce = os.urandom(NONCE_SIZE)
    auth = link.send(Challenge(spdm_version=0x13, slot_id=2, nonce=nonce,
                               requester_context=bytes(8)).encode())
    challenge_auth = ChallengeAuth.decode(auth, ctx)
    assert challenge_auth.slot_id == 2 and challenge_auth.nonce != nonce  # the device's own nonce
    assert challenge_auth.cert_chain_hash == digest(SHA384, chain)
    # (its signature is checked by our requester in test_provision_pair.py)

    # the state file holds it; a restarted device serves the same chain
    state = json.loads((tmp_path / "device.json").read_text())
    assert state["format"] == STATE_FORMAT and list(state["slots"]) == ["2"]
    reopened = blank(tmp_path)
    assert reopened.certificate_chain(2, SHA384) == chain
    assert reopened.key_pairs[1].public_key() == device.key_pairs[1].public_key()


def test_requester_info_sets_the_subject(tmp_path: Path) -> None:
    device = blank(tmp_path)
    link = connect(device)
    # RequesterInfo: the CertificationRequestInfo of a request a host made with a key of its own
    # (the device keeps the subject and puts in its own public key)
    host_request = build_csr(generate_private_key(P384), common_name="vendor-x")
    assert host_request[:2] == b"\x30\x82" and host_request[4:6] == b"\x30\x81"  # P-384: < 256 bytes
    info = host_request[4:7 + host_request[6]]
    csr = load_csr(get_csr(link, requester_info=info))
    assert csr.subject == "CN=vendor-x"
    csr.verify()
    assert csr.public_key() == device.key_pairs[1].public_key()
    link.error(GetCsr(spdm_version=0x13, requester_info=b"\x30\x03\x02\x01").encode(), INVALID)


def test_chain_refusals(tmp_path: Path) -> None:
    device = blank(tmp_path)
    link = connect(device)
    root, leaf = issue(get_csr(link))
    good = build_spdm_cert_chain([root, leaf], SHA384)
    stranger = generate_device_identity(P384)
    foreign = build_spdm_cert_chain(stranger.certificates, SHA384)  # valid, but not the device's key
    bad_hash = good[:4] + bytes(H) + good[4 + H:]
    unordered = build_spdm_cert_chain([leaf, root], SHA384)
    wrong_hash = build_spdm_cert_chain([root, leaf], BaseHashAlgo.SHA_256)
    for chain in (foreign, bad_hash, unordered, wrong_hash):
        link.error(SetCertificate(spdm_version=0x13, attributes=1, cert_chain=chain).encode(), INVALID)
    assert device.provisioned_slots() == 0
    link.error(SetCertificate(spdm_version=0x13, attributes=8, cert_chain=good).encode(), INVALID)
    # 1.3 fields without MULTI_KEY_CONN
    link.error(SetCertificate(spdm_version=0x13, attributes=set_certificate_attributes(1, CERT_MODEL_DEVICE),
                              cert_chain=good).encode(), INVALID)
    link.error(SetCertificate(spdm_version=0x13, attributes=1, key_pair_id=1, cert_chain=good).encode(),
               INVALID)
    link.error(GetCsr(spdm_version=0x13, key_pair_id=1).encode(), INVALID)
    link.error(GetCsr(spdm_version=0x13, attributes=csr_request_attributes(overwrite=True,
                                                                           tracking_tag=1)).encode(), INVALID)
    link.error(tagged(1), INVALID)
    assert device.provisioned_slots() == 0
    SetCertificateRsp.decode(set_certificate(link, 1, good))
    assert device.provisioned_slots() == 0b10


def test_erase(tmp_path: Path) -> None:
    device = blank(tmp_path)
    link = connect(device)
    root, leaf = issue(get_csr(link))
    set_certificate(link, 3, build_spdm_cert_chain([root, leaf], SHA384))
    assert device.provisioned_slots() == 0b1000
    erase = SetCertificate(spdm_version=0x13, attributes=set_certificate_attributes(3, erase=True))
    assert SetCertificateRsp.decode(link.send(erase.encode())).slot_id == 3
    assert device.provisioned_slots() == 0 and blank(tmp_path).provisioned_slots() == 0
    # Param1 b7 is reserved in 1.2: no chain follows is not a SET_CERTIFICATE
    link12 = connect(blank(tmp_path), SpdmVersion.V12)
    link12.error(SetCertificate(spdm_version=0x12, attributes=0x83).encode(), INVALID)


def test_reset_required_flow(tmp_path: Path) -> None:
    device = blank(tmp_path, reset=True)
    link = connect(device, cfg=config(reset=True))
    link.error(GetCsr(spdm_version=0x13).encode(), RESET, 1)
    link.error(GetCsr(spdm_version=0x13).encode(), RESET, 2)
    # before the reset the tag is not ready yet; an unknown tag is refused
    link.error(tagged(1), RESET, 1)
    link.error(tagged(5), INVALID)
    # reset: the device comes back from its state file and hands out what it promised
    after = connect(blank(tmp_path, reset=True), cfg=config(reset=True))
    der = get_csr(after, attributes=csr_request_attributes(tracking_tag=1))
    load_csr(der).verify()
    after.error(tagged(1), INVALID)
    # Overwrite drops tag 2 and starts over with tag 1
    after.error(GetCsr(spdm_version=0x13, attributes=OVERWRITE).encode(), RESET, 1)
    root, leaf = issue(der)
    chain = build_spdm_cert_chain([root, leaf], SHA384)
    after.error(SetCertificate(spdm_version=0x13, attributes=0, cert_chain=chain).encode(), RESET, 0)
    rebooted = blank(tmp_path, reset=True)
    assert rebooted.certificate_chain(0, SHA384) == chain
    assert json.loads((tmp_path / "device.json").read_text())["pending_csrs"].keys() == {"1"}


def test_without_the_capabilities_or_a_provisionable_backend(tmp_path: Path) -> None:
    plain = connect(blank(tmp_path), cfg=config(caps=CapabilityFlags.CERT_CAP | CapabilityFlags.CHAL_CAP))
    plain.error(GetCsr(spdm_version=0x13).encode(), UNSUPPORTED, 0xED)
    fixed = connect(DeviceModel.generate(P384))
    fixed.error(GetCsr(spdm_version=0x13).encode(), UNSUPPORTED, 0xED)
    fixed.error(SetCertificate(spdm_version=0x13, attributes=0, cert_chain=b"\x04\x00\x00\x00").encode(),
                UNSUPPORTED, 0xEE)


def test_state_file_is_checked_and_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "device.json"
    device = blank(tmp_path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["device.json"]  # no temporary left behind
    with pytest.raises(ConfigurationError):
        ProvisionableDevice.open(path, BaseAsymAlgo.ECDSA_P256)
    path.write_text("{}")
    with pytest.raises(ConfigurationError):
        ProvisionableDevice.open(path, P384)
    stranger = generate_device_identity(P384)
    with pytest.raises(ConfigurationError):
        ProvisionableDevice(device.key_pairs, slots={0: InstalledSlot(1, 1, stranger.certificates)})
