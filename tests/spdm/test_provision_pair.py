"""Our requester provisions our device over the pipe: blank slot -> CSR -> CA -> SET_CERTIFICATE -> attested.

The chain the requester installs is issued by a CA from the device's own CSR
(:func:`spdm.crypto.issue_leaf_from_csr`); afterwards GET_DIGESTS,
GET_CERTIFICATE and CHALLENGE verify against that CA's root and nothing else,
also after the device restarts from its state file, and inside a session.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devsec.emulator import EmulatedDevice
from spdm.config import RequesterConfig, ResponderConfig
from spdm.crypto import build_spdm_cert_chain, digest, generate_ca, issue_leaf_from_csr
from spdm.driver import RequesterDriver
from spdm.errors import LocalProtocolError, RemoteErrorResponse, SpdmErrorCode
from spdm.events import (
    CertificateChainReceived,
    CertificateInstalled,
    ChallengeAuthenticated,
    CsrReceived,
    DigestsReceived,
    Event,
    SessionEstablished,
)
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, CapabilityFlags, SpdmVersion
from spdm.messages.provision import csr_request_attributes
from spdm.negotiation import AlgorithmPreferences
from spdm.provisioning import ProvisionableDevice
from spdm.requester import Requester

P384 = BaseAsymAlgo.ECDSA_P384
SHA384 = BaseHashAlgo.SHA_384
NOW = datetime.now(UTC)
ANY_ROOT = RequesterConfig(trust_anchors=(generate_ca(P384)[0],))
PROVISIONING = CapabilityFlags.CSR_CAP | CapabilityFlags.SET_CERT_CAP


def device(path: Path, *, version: SpdmVersion = SpdmVersion.V13, reset: bool = False) -> EmulatedDevice:
    caps = (ResponderConfig().capabilities | PROVISIONING
            | (CapabilityFlags.CERT_INSTALL_RESET_CAP if reset else CapabilityFlags(0)))
    config = ResponderConfig(versions=(version,), capabilities=caps,
                             algorithms=replace(AlgorithmPreferences(), asym_algs=(P384,)))
    return EmulatedDevice(config, ProvisionableDevice.open(path, P384, reset_required=reset))


def start(emulated: EmulatedDevice, config: RequesterConfig) -> tuple[Requester, RequesterDriver]:
    requester = Requester(config)
    driver = RequesterDriver(emulated.pipe(), requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms):
        driver.run(command)
    return requester, driver


def one(events: list[Event], kind: type[Event]) -> Event:
    (event,) = [e for e in events if isinstance(e, kind)]
    return event


@pytest.mark.parametrize("version", [SpdmVersion.V12, SpdmVersion.V13], ids=lambda v: v.text)
def test_blank_device_provisioned_and_attested_against_the_new_root(tmp_path: Path,
                                                                   version: SpdmVersion) -> None:
    state = tmp_path / "device.json"
    ca, ca_key = generate_ca(P384, common_name="vendor provisioning CA")
    config = RequesterConfig(trust_anchors=(ca,))
    requester, driver = start(device(state, version=version), config)
    digests = one(driver.run(requester.get_digests), DigestsReceived)
    assert isinstance(digests, DigestsReceived) and digests.digests == {}

    received = one(driver.run(requester.get_csr), CsrReceived)
    assert isinstance(received, CsrReceived)
    received.csr.verify()
    leaf = issue_leaf_from_csr(received.csr, ca, ca_key)
    chain = build_spdm_cert_chain([ca, leaf], SHA384)
    installed = one(driver.run(lambda: requester.set_certificate(0, chain)), CertificateInstalled)
    assert installed == CertificateInstalled(0, erased=False)

    digests = one(driver.run(requester.get_digests), DigestsReceived)
    assert isinstance(digests, DigestsReceived) and digests.digests == {0: digest(SHA384, chain)}
    got = one(driver.run(lambda: requester.get_certificate(0, now=NOW)), CertificateChainReceived)
    assert isinstance(got, CertificateChainReceived) and got.trusted and got.chain.raw == chain
    assert isinstance(one(driver.run(requester.challenge), ChallengeAuthenticated), ChallengeAuthenticated)

    # The device restarts from its state file and still proves the identity the CA vouched for.
    requester, driver = start(device(state, version=version), config)
    driver.run(requester.get_digests)
    driver.run(lambda: requester.get_certificate(0, now=NOW))
    assert isinstance(one(driver.run(requester.challenge), ChallengeAuthenticated), ChallengeAuthenticated)


def test_a_chain_for_another_key_is_refused_and_the_slot_stays_blank(tmp_path: Path) -> None:
    ca, ca_key = generate_ca(P384)
    requester, driver = start(device(tmp_path / "d.json"), RequesterConfig(trust_anchors=(ca,)))
    other = ProvisionableDevice.open(tmp_path / "other.json", P384)
    from spdm.crypto import build_csr, load_csr
    leaf = issue_leaf_from_csr(load_csr(build_csr(other.key_pairs[1], common_name="x")), ca, ca_key)
    with pytest.raises(RemoteErrorResponse) as refused:
        driver.run(lambda: requester.set_certificate(1, build_spdm_cert_chain([ca, leaf], SHA384)))
    assert refused.value.code == SpdmErrorCode.INVALID_REQUEST
    digests = one(driver.run(requester.get_digests), DigestsReceived)
    assert isinstance(digests, DigestsReceived) and digests.digests == {}


def test_installed_in_a_session_and_erased(tmp_path: Path) -> None:
    ca, ca_key = generate_ca(P384)
    config = RequesterConfig(trust_anchors=(ca,))
    emulated = device(tmp_path / "d.json")
    requester, driver = start(emulated, config)
    csr = one(driver.run(requester.get_csr), CsrReceived)
    assert isinstance(csr, CsrReceived)
    chain = build_spdm_cert_chain([ca, issue_leaf_from_csr(csr.csr, ca, ca_key)], SHA384)
    driver.run(lambda: requester.set_certificate(0, chain))
    driver.run(requester.get_digests)
    driver.run(lambda: requester.get_certificate(0, now=NOW))
    session = one(driver.run(lambda: requester.key_exchange(0)), SessionEstablished)
    assert isinstance(session, SessionEstablished)
    sid = session.session_id
    installed = one(driver.run(lambda: requester.set_certificate(4, chain, session_id=sid)),
                    CertificateInstalled)
    assert installed == CertificateInstalled(4, erased=False)
    erased = one(driver.run(lambda: requester.set_certificate(4, None, session_id=sid)), CertificateInstalled)
    assert erased == CertificateInstalled(4, erased=True)
    digests = one(driver.run(requester.get_digests), DigestsReceived)
    assert isinstance(digests, DigestsReceived) and set(digests.digests) == {0}


def test_reset_required_gives_a_tag_to_ask_again_with(tmp_path: Path) -> None:
    state = tmp_path / "d.json"
    requester, driver = start(device(state, reset=True), ANY_ROOT)
    with pytest.raises(RemoteErrorResponse) as reset:
        driver.run(requester.get_csr)
    assert (reset.value.code, reset.value.data) == (SpdmErrorCode.RESET_REQUIRED, 1)
    requester, driver = start(device(state, reset=True), ANY_ROOT)
    csr = one(driver.run(lambda: requester.get_csr(tracking_tag=reset.value.data)), CsrReceived)
    assert isinstance(csr, CsrReceived)
    csr.csr.verify()
    assert csr_request_attributes(tracking_tag=1) == 0x08


def test_commands_refused_locally(tmp_path: Path) -> None:
    requester, driver = start(device(tmp_path / "d.json", version=SpdmVersion.V12),
                              RequesterConfig(trust_anchors=(generate_ca(P384)[0],)))
    with pytest.raises(LocalProtocolError):
        requester.get_csr(key_pair_id=1)
    with pytest.raises(LocalProtocolError):
        requester.set_certificate(0, None)
    with pytest.raises(LocalProtocolError):
        requester.set_certificate(8, b"\x04\x00\x00\x00")
    plain = EmulatedDevice(ResponderConfig(), ProvisionableDevice.open(tmp_path / "p.json", P384))
    requester, driver = start(plain, RequesterConfig(trust_anchors=(generate_ca(P384)[0],)))
    with pytest.raises(LocalProtocolError, match="CSR_CAP"):
        requester.get_csr()
