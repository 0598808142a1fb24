"""Our requester and our device over the pipe on a 1.3 multi-key connection (MULTI_KEY_CONN).

The device restricts its keys: slot 0's key pair may only sign KEY_EXCHANGE_RSP,
slot 1's only CHALLENGE_AUTH and MEASUREMENTS.  DIGESTS carries the masks and
the key-pair tail, both sides refuse a slot whose key may not sign (the
requester before sending, the device with InvalidRequest), and a session
opened with slot 0 verifies with [D] in its transcripts.  Without MULTI_KEY_CAP
on the device, or without the requester's offer, nothing of this applies.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from devsec.emulator import EmulatedDevice
from spdm.config import DEFAULT_REQUESTER_CAPS, DEFAULT_RESPONDER_CAPS, RequesterConfig, ResponderConfig
from spdm.connection import connect
from spdm.device import DeviceModel
from spdm.device_endpoint import EndpointData, KeyPair
from spdm.driver import RequesterDriver
from spdm.errors import LocalProtocolError, SpdmErrorCode
from spdm.events import (
    CertificateSizeReceived,
    ChallengeAuthenticated,
    DigestsReceived,
    MeasurementsReceived,
    SessionEstablished,
)
from spdm.messages import Challenge, CodecContext, Digests, ErrorResponse, GetDigests
from spdm.messages.codes import BaseAsymAlgo, KeyUsage, RequestCode, SpdmVersion
from spdm.messages.codes import CapabilityFlags as F
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import Requester
from spdm.responder import Responder
from spdm.slot_keys import SlotKey

NOW = datetime.now(UTC)
PREFS = replace(AlgorithmPreferences(), asym_algs=(BaseAsymAlgo.ECDSA_P384,))
KEY_EX = int(KeyUsage.KEY_EXCHANGE)
CHAL_MEAS = int(KeyUsage.CHALLENGE | KeyUsage.MEASUREMENT)


def _model() -> DeviceModel:
    model = DeviceModel.generate(BaseAsymAlgo.ECDSA_P384, slots=(0, 1))
    pairs = [KeyPair(1, 0x4, KEY_EX, KEY_EX, 0x80, 0x80, 0x1),
             KeyPair(2, 0x4, CHAL_MEAS, CHAL_MEAS, 0x80, 0x80, 0x2)]
    return model.with_endpoint(EndpointData(key_pairs=pairs, supported_slot_mask=0x0F,
                                            cert_models={1: 3}))


def _config(multi_key_cap: F) -> ResponderConfig:
    return ResponderConfig(versions=(SpdmVersion.V13,), capabilities=DEFAULT_RESPONDER_CAPS | multi_key_cap,
                           algorithms=PREFS)


def _connected(*, multi_key_cap: F = F.MULTI_KEY_CAP_NEG, offer: bool = True,
               ) -> tuple[Requester, RequesterDriver, list[object]]:
    model = _model()
    device = EmulatedDevice(_config(multi_key_cap), model)
    requester = Requester(RequesterConfig(
        versions=(SpdmVersion.V13,), trust_anchors=(model.root_certificate(0), model.root_certificate(1)),
        capabilities=DEFAULT_REQUESTER_CAPS, algorithms=PREFS, multi_key_conn=offer))
    driver = RequesterDriver(device.pipe(), requester)
    events: list[object] = []
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests, lambda: requester.get_certificate(0, now=NOW),
                    lambda: requester.get_certificate(1, now=NOW)):
        events += driver.run(command)
    return requester, driver, events


def test_digests_carry_the_masks_and_each_slots_key() -> None:
    requester, _, events = _connected()
    assert requester.negotiated is not None and requester.negotiated.multi_key
    [digests] = [e for e in events if isinstance(e, DigestsReceived)]
    assert (digests.supported_slot_mask, digests.provisioned_slot_mask) == (0x0F, 0x03)
    assert requester.slot_keys == {0: SlotKey(1, 1, KEY_EX), 1: SlotKey(2, 3, CHAL_MEAS)}
    assert requester.usable_slots(RequestCode.CHALLENGE) == [1]
    assert requester.usable_slots(RequestCode.KEY_EXCHANGE) == [0]


def test_each_slot_signs_only_what_its_key_may() -> None:
    requester, driver, _ = _connected()
    with pytest.raises(LocalProtocolError, match="may not sign"):
        requester.challenge(0)
    with pytest.raises(LocalProtocolError, match="may not sign"):
        requester.key_exchange(1)
    with pytest.raises(LocalProtocolError, match="may not sign"):
        requester.get_measurements(slot_id=0)
    assert any(isinstance(e, ChallengeAuthenticated) for e in driver.run(lambda: requester.challenge(1)))
    signed = [e for e in driver.run(lambda: requester.get_measurements(slot_id=1))
              if isinstance(e, MeasurementsReceived)]
    assert signed and signed[0].evidence is not None
    # the session transcripts hold [D]: both sides agree on TH, or FINISH would not verify
    assert any(isinstance(e, SessionEstablished) for e in driver.run(lambda: requester.key_exchange(0)))


def test_without_multi_key_every_slot_signs_everything() -> None:
    for requester, _, _ in (_connected(offer=False), _connected(multi_key_cap=F(0))):
        assert requester.negotiated is not None and not requester.negotiated.multi_key
        assert requester.slot_keys == {}
        assert requester.usable_slots(RequestCode.CHALLENGE) == [0, 1]


def _vca(responder: Responder, *, strip_offer: bool = False) -> bytes:
    """VCA of our requester with ``responder``; the ALGORITHMS answer (``strip_offer``:
    with OtherParamsSupport b4 cleared from the NEGOTIATE_ALGORITHMS on the wire)."""
    requester = Requester(RequesterConfig(versions=(SpdmVersion.V13,), multi_key_conn=True, algorithms=PREFS,
                                          capabilities=DEFAULT_REQUESTER_CAPS))
    answer = b""
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms):
        command()
        request = bytearray(requester.data_to_send())
        if strip_offer and request[1] == RequestCode.NEGOTIATE_ALGORITHMS:
            request[7] &= ~0x10
        answer = responder.handle(bytes(request))
        if not (strip_offer and request[1] == RequestCode.NEGOTIATE_ALGORITHMS):
            requester.receive_data(answer)
    return answer


def test_the_device_refuses_a_slot_whose_key_may_not_sign() -> None:
    responder = Responder(_config(F.MULTI_KEY_CAP_NEG), _model())
    _vca(responder)
    raw = responder.handle(GetDigests(spdm_version=SpdmVersion.V13).encode())
    digests = Digests.decode(raw, CodecContext(hash_size=48, multi_key=True))
    assert digests.key_usage_masks == (KEY_EX, CHAL_MEAS) and digests.certificate_infos == (1, 3)
    answer = responder.handle(Challenge(spdm_version=SpdmVersion.V13, slot_id=0, nonce=bytes(32),
                                        requester_context=bytes(8)).encode())
    assert ErrorResponse.decode(answer).error_code == SpdmErrorCode.INVALID_REQUEST


def test_a_multi_key_only_device_gets_asked_and_refuses_a_requester_that_does_not_ask() -> None:
    requester, _, _ = _connected(multi_key_cap=F.MULTI_KEY_CAP_ONLY, offer=False)
    assert requester.negotiated is not None and requester.negotiated.multi_key
    answer = _vca(Responder(_config(F.MULTI_KEY_CAP_ONLY), _model()), strip_offer=True)
    assert ErrorResponse.decode(answer).error_code == SpdmErrorCode.INVALID_REQUEST


def test_slot_size_requested_returns_the_size_without_the_chain() -> None:
    requester, driver, _ = _connected()
    [size] = [e for e in driver.run(lambda: requester.get_certificate_size(1))
              if isinstance(e, CertificateSizeReceived)]
    assert size == CertificateSizeReceived(1, len(requester.chains[1].raw))
    with pytest.raises(LocalProtocolError, match="0-7"):
        requester.get_certificate_size(8)


def test_a_session_uses_a_slot_whose_key_may_key_exchange() -> None:
    model = _model()
    device = EmulatedDevice(_config(F.MULTI_KEY_CAP_NEG), model)
    config = RequesterConfig(versions=(SpdmVersion.V13,), capabilities=DEFAULT_REQUESTER_CAPS,
                             algorithms=PREFS, multi_key_conn=True,
                             trust_anchors=(model.root_certificate(0), model.root_certificate(1)))
    with connect(device.pipe(), config, slot_id=1) as connection:  # slot 1 signs CHALLENGE_AUTH only
        assert connection.report.challenge is not None
        session = connection.open_session()  # with slot 0, whose key may sign KEY_EXCHANGE_RSP
        assert 0 in connection.driver.requester.chains
        session.close()
