"""Our requester and our device over the pipe: endpoint info, the MEL, key pairs, in and out of a session.

Each flow runs end to end (requester -> EmulatedDevice's pipe -> responder ->
device model) and the requester's events carry what it verified: signed
ENDPOINT_INFO evidence that re-verifies, the MEL the device extended
(several portions with a small transfer size), the key pair the device
reports before and after SET_KEY_PAIR_INFO.  Then what the requester refuses
before sending (missing capability, no chain).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from devsec.emulator import EmulatedDevice
from spdm.config import DEFAULT_REQUESTER_CAPS, DEFAULT_RESPONDER_CAPS, RequesterConfig, ResponderConfig
from spdm.crypto import verify
from spdm.device import DeviceModel
from spdm.device_endpoint import DEFAULT_CLASS_IDENTIFIER, EndpointData, KeyPair
from spdm.driver import RequesterDriver
from spdm.errors import LocalProtocolError
from spdm.events import (
    EndpointInfoReceived,
    KeyPairInfoReceived,
    KeyPairInfoSet,
    MeasurementExtensionLogReceived,
    SessionEstablished,
)
from spdm.messages.codes import BaseAsymAlgo, KeyPairOperation, SpdmVersion
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.mel import Mel
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import ST1_SECONDS, Requester

NOW = datetime.now(UTC)
ENDPOINT_CAPS = F.EP_INFO_CAP_SIG | F.MEL_CAP | F.GET_KEY_PAIR_INFO_CAP | F.SET_KEY_PAIR_INFO_CAP
EC_SPKI_ALGORITHM = bytes.fromhex("301306072a8648ce3d020106082a8648ce3d030107")
ERASABLE = KeyPair(1, 0x3F, 0x1, 0x1, 0x1FF, 0x80, 0x1, EC_SPKI_ALGORITHM)


def _device(data_transfer_size: int = 0x1200) -> tuple[Requester, RequesterDriver, DeviceModel]:
    """A requester through VCA, digests and slots 0 and 2's chains against a fresh device."""
    model = DeviceModel.generate(BaseAsymAlgo.ECDSA_P384, slots=(0, 2))
    data = EndpointData(key_pairs=[ERASABLE])
    for n in range(30):
        data.extend(0x11, 0x89, f"boot stage {n}".encode())
    model = model.with_endpoint(data)
    prefs = replace(AlgorithmPreferences(), asym_algs=(BaseAsymAlgo.ECDSA_P384,))
    device = EmulatedDevice(ResponderConfig(
        versions=(SpdmVersion.V13,), capabilities=DEFAULT_RESPONDER_CAPS | ENDPOINT_CAPS, algorithms=prefs,
        data_transfer_size=data_transfer_size, max_spdm_msg_size=data_transfer_size), model)
    requester = Requester(RequesterConfig(
        trust_anchors=(model.root_certificate(0), model.root_certificate(2)),
        capabilities=DEFAULT_REQUESTER_CAPS, algorithms=prefs))
    driver = RequesterDriver(device.pipe(), requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests, lambda: requester.get_certificate(0, now=NOW),
                    lambda: requester.get_certificate(2, now=NOW)):
        driver.run(command)
    return requester, driver, model


def _session(requester: Requester, driver: RequesterDriver, in_session: bool) -> int | None:
    if not in_session:
        return None
    [event] = [e for e in driver.run(requester.key_exchange) if isinstance(e, SessionEstablished)]
    return event.session_id


IN_SESSION = pytest.mark.parametrize("in_session", [False, True], ids=["clear", "session"])


@IN_SESSION
@pytest.mark.parametrize("slot", [0, 2])
def test_signed_endpoint_info_is_verified(in_session: bool, slot: int) -> None:
    requester, driver, _ = _device()
    session_id = _session(requester, driver, in_session)
    [event] = driver.run(lambda: requester.get_endpoint_info(slot_id=slot, session_id=session_id))
    assert isinstance(event, EndpointInfoReceived)
    assert event.ep_info == DEFAULT_CLASS_IDENTIFIER.encode() and event.slot_id == slot
    evidence = event.evidence
    assert evidence is not None and evidence.context == "responder-endpoint_info signing"
    assert evidence.slot_id == slot and evidence.transcript.startswith(bytes(requester.transcript.a))
    verify(requester.chains[slot].leaf.public_key(), evidence.asym_alg, evidence.hash_alg,
           SpdmVersion(evidence.version), evidence.context, evidence.transcript, evidence.signature)


@IN_SESSION
def test_unsigned_endpoint_info(in_session: bool) -> None:
    requester, driver, _ = _device()
    session_id = _session(requester, driver, in_session)
    [event] = driver.run(lambda: requester.get_endpoint_info(signed=False, session_id=session_id))
    assert isinstance(event, EndpointInfoReceived) and event.evidence is None


@IN_SESSION
def test_the_mel_comes_whole_in_portions(in_session: bool) -> None:
    requester, driver, model = _device(data_transfer_size=0x100)
    session_id = _session(requester, driver, in_session)
    expected = model.endpoint.mel.encode()
    assert len(expected) > 0x100
    [event] = driver.run(lambda: requester.get_measurement_extension_log(session_id=session_id))
    assert isinstance(event, MeasurementExtensionLogReceived)
    assert event.mel == expected and event.entries == 30
    assert Mel.decode(event.mel).entries[29].value == b"boot stage 29"


@IN_SESSION
def test_key_pair_info_then_change_and_erase(in_session: bool) -> None:
    requester, driver, _ = _device()
    session_id = _session(requester, driver, in_session)
    [info] = driver.run(lambda: requester.get_key_pair_info(1, session_id=session_id))
    assert isinstance(info, KeyPairInfoReceived)
    assert (info.total_key_pairs, info.current_asym_algo, info.assoc_cert_slot_mask) == (1, 0x80, 0x1)
    assert driver.run(lambda: requester.set_key_pair_info(
        1, KeyPairOperation.CHANGE, assoc_cert_slot_mask=0x5, session_id=session_id)) == [
        KeyPairInfoSet(KeyPairOperation.CHANGE, 1)]
    [info] = driver.run(lambda: requester.get_key_pair_info(1, session_id=session_id))
    assert isinstance(info, KeyPairInfoReceived) and info.assoc_cert_slot_mask == 0x5
    erase = driver.run(lambda: requester.set_key_pair_info(1, KeyPairOperation.ERASE, session_id=session_id))
    assert erase == [KeyPairInfoSet(KeyPairOperation.ERASE, 1)]
    [info] = driver.run(lambda: requester.get_key_pair_info(1, session_id=session_id))
    assert isinstance(info, KeyPairInfoReceived)
    assert (info.current_key_usage, info.current_asym_algo, info.assoc_cert_slot_mask) == (0, 0, 0)


def test_the_requester_refuses_what_it_cannot_ask() -> None:
    requester, _, _ = _device()
    with pytest.raises(LocalProtocolError, match="retrieve its chain"):
        requester.get_endpoint_info(slot_id=4)
    with pytest.raises(LocalProtocolError, match="not 1-255"):
        requester.get_key_pair_info(0)


def test_a_signed_endpoint_info_gets_the_crypto_timeout() -> None:
    unsigned, _, _ = _device()
    unsigned.get_endpoint_info(signed=False)
    assert unsigned.response_timeout() == ST1_SECONDS
    signed, _, _ = _device()
    signed.get_endpoint_info(slot_id=0)
    assert signed.response_timeout() > ST1_SECONDS
