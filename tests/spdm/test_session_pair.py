"""Secure sessions between our requester and our responder, and what each refuses.

Every DHE group and AEAD suite, FINISH encrypted and in the clear, PSK with
and without context, MAC-only, several sessions at once; then the security
behaviour of DSP0277: forged, replayed and reordered records, unknown
sessions, wrong verify data, sequence exhaustion, and no secret in the logs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from typing import TypeVar

import pytest

from devsec.emulator import EmulatedDevice
from spdm.config import DEFAULT_REQUESTER_CAPS, DEFAULT_RESPONDER_CAPS, RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.errors import (
    LocalProtocolError,
    RemoteErrorResponse,
    RemoteProtocolError,
    TransportError,
    VerificationError,
)
from spdm.events import (
    ChallengeAuthenticated,
    HeartbeatAcknowledged,
    KeyUpdated,
    MeasurementsReceived,
    MutualAuthCompleted,
    RequestAnswered,
    SessionEnded,
    SessionEstablished,
)
from spdm.messages.codes import AeadSuite, BaseAsymAlgo, CapabilityFlags, DheGroup, SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import Requester
from spdm.secured import SEQUENCE_LIMIT
from spdm.transport import DoeTransport, PipeTransport

T = TypeVar("T")

NOW = datetime.now(UTC)
F = CapabilityFlags
PSK = bytes(range(32))
HINT = b"devsec-psk"


@cache
def model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384).with_psks({HINT: PSK})


def connect(
    *,
    version: SpdmVersion = SpdmVersion.V13,
    dhe: DheGroup = DheGroup.SECP_384_R1,
    aead: AeadSuite = AeadSuite.AES_256_GCM,
    requester_caps: CapabilityFlags = DEFAULT_REQUESTER_CAPS,
    responder_caps: CapabilityFlags = DEFAULT_RESPONDER_CAPS | F.PSK_CAP_WITH_CONTEXT,
    transport_wrapper: Callable[[PipeTransport], DoeTransport] | None = None,
) -> tuple[Requester, RequesterDriver, EmulatedDevice]:
    """A requester through VCA, digests and slot 0's chain against a fresh emulated device."""
    prefs = replace(AlgorithmPreferences(), asym_algs=(BaseAsymAlgo.ECDSA_P384,),
                    dhe_groups=(dhe,), aead_suites=(aead,))
    device = EmulatedDevice(
        ResponderConfig(versions=(version,), capabilities=responder_caps, algorithms=prefs), model())
    requester = Requester(RequesterConfig(
        trust_anchors=(model().root_certificate(),), capabilities=requester_caps, algorithms=prefs))
    transport = device.pipe() if transport_wrapper is None else transport_wrapper(device.pipe())
    driver = RequesterDriver(transport, requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests, lambda: requester.get_certificate(0, now=NOW)):
        driver.run(command)
    return requester, driver, device


def open_session(requester: Requester, driver: RequesterDriver, *, psk: bool = False) -> int:
    command = (lambda: requester.psk_exchange(PSK, HINT)) if psk else requester.key_exchange
    [event] = [e for e in driver.run(command) if isinstance(e, SessionEstablished)]
    return event.session_id


def exercise(requester: Requester, driver: RequesterDriver, session_id: int) -> None:
    """Heartbeat, signed in-session measurements, both key updates, heartbeat, end."""
    assert isinstance(driver.run(lambda: requester.heartbeat(session_id))[0], HeartbeatAcknowledged)
    [meas] = driver.run(lambda: requester.get_measurements(session_id=session_id))
    assert isinstance(meas, MeasurementsReceived) and meas.evidence is not None
    assert driver.run(lambda: requester.key_update(session_id, all_keys=True)) == [
        KeyUpdated(session_id, True)]
    assert driver.run(lambda: requester.key_update(session_id)) == [KeyUpdated(session_id, False)]
    assert isinstance(driver.run(lambda: requester.heartbeat(session_id))[0], HeartbeatAcknowledged)
    assert driver.run(lambda: requester.end_session(session_id)) == [SessionEnded(session_id)]
    assert session_id not in requester.sessions


DHE_GROUPS = (DheGroup.SECP_256_R1, DheGroup.SECP_384_R1, DheGroup.SECP_521_R1,
              DheGroup.FFDHE_2048, DheGroup.FFDHE_3072, DheGroup.FFDHE_4096)
AEADS = (AeadSuite.AES_128_GCM, AeadSuite.AES_256_GCM, AeadSuite.CHACHA20_POLY1305)


@pytest.mark.parametrize("aead", AEADS, ids=lambda a: a.name)
@pytest.mark.parametrize("dhe", DHE_GROUPS, ids=lambda g: g.name)
def test_key_exchange_sessions_for_every_group_and_aead(dhe: DheGroup, aead: AeadSuite) -> None:
    requester, driver, _ = connect(dhe=dhe, aead=aead)
    session_id = open_session(requester, driver)
    assert requester.negotiated is not None and requester.negotiated.dhe_group == dhe
    exercise(requester, driver, session_id)


@pytest.mark.parametrize("version", (SpdmVersion.V11, SpdmVersion.V12, SpdmVersion.V13),
                         ids=lambda v: v.text)
@pytest.mark.parametrize("in_the_clear", (False, True), ids=("finish-encrypted", "finish-in-clear"))
def test_versions_and_handshake_in_the_clear(version: SpdmVersion, in_the_clear: bool) -> None:
    extra = F.HANDSHAKE_IN_THE_CLEAR_CAP if in_the_clear else F(0)
    requester, driver, device = connect(
        version=version, requester_caps=DEFAULT_REQUESTER_CAPS | extra,
        responder_caps=DEFAULT_RESPONDER_CAPS | F.PSK_CAP_WITH_CONTEXT | extra)
    session_id = open_session(requester, driver)
    assert requester.sessions[session_id].handshake_in_the_clear == in_the_clear
    exercise(requester, driver, session_id)


@pytest.mark.parametrize("with_context", (True, False), ids=("with-context", "without-context"))
def test_psk_sessions(with_context: bool) -> None:
    psk_cap = F.PSK_CAP_WITH_CONTEXT if with_context else F.PSK_CAP
    requester, driver, _ = connect(responder_caps=DEFAULT_RESPONDER_CAPS | psk_cap)
    session_id = open_session(requester, driver, psk=True)
    assert requester.sessions[session_id].psk
    exercise(requester, driver, session_id)


def test_wrong_psk_does_not_establish() -> None:
    requester, driver, _ = connect()
    with pytest.raises(VerificationError, match="ResponderVerifyData"):
        driver.run(lambda: requester.psk_exchange(bytes(32), HINT))


def test_unknown_psk_hint_is_invalid_request() -> None:
    requester, driver, _ = connect()
    with pytest.raises(RemoteErrorResponse, match="INVALID_REQUEST"):
        driver.run(lambda: requester.psk_exchange(PSK, b"nobody"))


def test_mac_only_session() -> None:
    caps = DEFAULT_REQUESTER_CAPS & ~F.ENCRYPT_CAP
    requester, driver, _ = connect(requester_caps=caps)
    session_id = open_session(requester, driver)
    assert requester.sessions[session_id].mac_only
    exercise(requester, driver, session_id)


def test_several_sessions_at_once() -> None:
    requester, driver, _ = connect()
    first = open_session(requester, driver)
    second = open_session(requester, driver, psk=True)
    third = open_session(requester, driver)
    assert len({first, second, third}) == 3
    for session_id in (second, first, third):
        exercise(requester, driver, session_id)


# --- security behaviour ---------------------------------------------------------------------


def _keep(box: list[T], item: T) -> T:
    """Append ``item`` to ``box`` and return it (for callbacks that must also hand it on)."""
    box.append(item)
    return item


class Interceptor:
    """A transport in the middle that can alter, replay or drop type-2 objects."""

    def __init__(self, inner: PipeTransport) -> None:
        self.inner = inner
        self.responses: list[bytes] = []
        self.requests: list[bytes] = []
        self.tamper_next_response = False
        self.replay_response: bytes | None = None

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        self.requests.append(request)
        response = self.inner.exchange(request, timeout=timeout)
        if request[2] == 2:
            self.responses.append(response)
            if self.replay_response is not None:
                response, self.replay_response = self.replay_response, None
            elif self.tamper_next_response:
                self.tamper_next_response = False
                tampered = bytearray(response)
                tampered[20] ^= 0x01
                response = bytes(tampered)
        return response

    def close(self) -> None:
        self.inner.close()


def test_forged_response_record_is_rejected_and_ends_the_session() -> None:
    box: list[Interceptor] = []
    requester, driver, _ = connect(transport_wrapper=lambda t: _keep(box, Interceptor(t)))
    session_id = open_session(requester, driver)
    box[0].tamper_next_response = True
    with pytest.raises(VerificationError):
        driver.run(lambda: requester.heartbeat(session_id))
    assert session_id not in requester.sessions


def test_replayed_response_record_is_rejected() -> None:
    box: list[Interceptor] = []
    requester, driver, _ = connect(transport_wrapper=lambda t: _keep(box, Interceptor(t)))
    session_id = open_session(requester, driver)
    driver.run(lambda: requester.heartbeat(session_id))
    box[0].replay_response = box[0].responses[-1]  # the previous HEARTBEAT_ACK, sequence n-1
    with pytest.raises(VerificationError):
        driver.run(lambda: requester.heartbeat(session_id))
    assert session_id not in requester.sessions


def test_responder_drops_forged_replayed_and_unknown_records() -> None:
    requester, driver, device = connect()
    session_id = open_session(requester, driver)
    requester.heartbeat(session_id)
    record = requester.data_to_send()
    responder = device.responder
    forged = bytearray(record)
    forged[-1] ^= 1
    unknown = (0x12345678).to_bytes(4, "little") + record[4:]
    assert responder.handle_secured(unknown) is None            # no such session
    assert responder.handle_secured(bytes(forged)) is None      # bad MAC: dropped ...
    assert responder.handle_secured(record) is None             # ... and the session is gone
    events = []
    while (event := responder.next_event()) is not None:
        assert isinstance(event, RequestAnswered)
        events.append(event.reason)
    assert any("unknown session" in reason for reason in events)


def test_responder_refuses_reordered_records() -> None:
    requester, driver, device = connect()
    session_id = open_session(requester, driver)
    requester.heartbeat(session_id)
    first = requester.data_to_send()
    requester._pending = None  # send a second request without waiting (a reordering peer)
    requester.heartbeat(session_id)
    second = requester.data_to_send()
    assert device.responder.handle_secured(second) is None  # sequence 1 before 0: MAC fails
    assert device.responder.handle_secured(first) is None   # and the session was torn down


def test_finish_with_wrong_verify_data_is_decrypt_error_and_no_session() -> None:
    requester, driver, device = connect()
    responder = device.responder
    requester.key_exchange()
    exchange = requester.data_to_send()
    from spdm.transport.doe import DataObject, decode_data_object, encode_data_object

    answered = device.endpoint.handle(encode_data_object(DataObject(1, 1, exchange)))
    assert answered is not None
    answer = decode_data_object(answered)
    requester.receive_data(answer.payload)
    finish_record = bytearray(requester.data_to_send())
    session = next(iter(requester.sessions.values()))
    # Re-seal a FINISH whose verify data is wrong, under the right handshake key.
    from spdm.secured import open_record, seal

    plain = bytearray(open_record(replace(session.current_keys().request, seq=0), bytes(finish_record)))
    plain[-1] ^= 0xFF
    record = seal(replace(session.current_keys().request, seq=0), session.session_id, bytes(plain))
    answer_record = responder.handle_secured(record)
    assert answer_record is not None
    error = open_record(session.current_keys().response, answer_record)
    assert error[1] == 0x7F and error[2] == 0x06  # ERROR DecryptError
    assert not device.responder._conn.sessions  # no session was established


def test_sequence_exhaustion_ends_the_session() -> None:
    requester, driver, _ = connect()
    session_id = open_session(requester, driver)
    requester.sessions[session_id].current_keys().request.seq = SEQUENCE_LIMIT
    with pytest.raises(LocalProtocolError, match="sequence"):
        driver.run(lambda: requester.heartbeat(session_id))
    assert session_id not in requester.sessions


def test_no_secret_reaches_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    requester, driver, _ = connect()
    session_id = open_session(requester, driver)
    session = requester.sessions[session_id]
    keys = session.current_keys()
    secrets = [keys.request.key, keys.request.iv, keys.response.key, keys.request.secret,
               session.handshake.handshake_secret, session.export_master_secret, PSK]
    exercise(requester, driver, session_id)
    text = caplog.text + repr(requester.sessions) + repr(session)
    for secret in secrets:
        assert secret.hex() not in text and repr(secret) not in text


def test_session_commands_need_an_established_session() -> None:
    requester, driver, _ = connect()
    with pytest.raises(LocalProtocolError, match="no established session"):
        requester.heartbeat(0xFFFFFFFF)
    with pytest.raises(TransportError):
        # a device that never answers type-2 objects for a session it does not know
        requester2, driver2, device = connect()
        session_id = open_session(requester2, driver2)
        device.responder._conn.sessions.clear()
        driver2.run(lambda: requester2.heartbeat(session_id))


# --- mutual authentication ------------------------------------------------------------------

MUTUAL = F.MUT_AUTH_CAP | F.ENCAP_CAP


@cache
def host(asym: BaseAsymAlgo = BaseAsymAlgo.ECDSA_P256) -> DeviceModel:
    """The requester's own identity (host leaf with the requester-auth EKU)."""
    return DeviceModel.generate(asym, role="requester")


def mutual(*, in_the_clear: bool, host_model: DeviceModel | None, trusted: DeviceModel,
           req_asym: BaseAsymAlgo = BaseAsymAlgo.ECDSA_P256) -> tuple[Requester, RequesterDriver]:
    extra = MUTUAL | (F.HANDSHAKE_IN_THE_CLEAR_CAP if in_the_clear else F(0))
    prefs = replace(AlgorithmPreferences(), asym_algs=(BaseAsymAlgo.ECDSA_P384,))
    del req_asym  # the requester offers only what its own key signs with
    device = EmulatedDevice(ResponderConfig(
        capabilities=DEFAULT_RESPONDER_CAPS | extra, algorithms=prefs, mutual_auth=True,
        requester_trust_anchors=(trusted.root_certificate(),)), model())
    requester = Requester(RequesterConfig(
        trust_anchors=(model().root_certificate(),), capabilities=DEFAULT_REQUESTER_CAPS | extra,
        algorithms=prefs), backend=host_model)
    driver = RequesterDriver(device.pipe(), requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests, lambda: requester.get_certificate(0, now=NOW)):
        driver.run(command)
    return requester, driver


@pytest.mark.parametrize("in_the_clear", (False, True), ids=("encrypted", "in-the-clear"))
@pytest.mark.parametrize("req_asym", (BaseAsymAlgo.ECDSA_P256, BaseAsymAlgo.RSAPSS_3072),
                         ids=lambda a: a.name)
def test_mutual_authentication_with_encapsulated_requests(in_the_clear: bool,
                                                          req_asym: BaseAsymAlgo) -> None:
    identity = host(req_asym)
    requester, driver = mutual(in_the_clear=in_the_clear, host_model=identity, trusted=identity,
                               req_asym=req_asym)
    session_id = open_session(requester, driver)
    assert requester.sessions[session_id].mut_auth == 0x02
    exercise(requester, driver, session_id)


def test_mutual_authentication_refuses_an_untrusted_requester() -> None:
    stranger = DeviceModel.generate(BaseAsymAlgo.ECDSA_P256, role="requester")
    requester, driver = mutual(in_the_clear=False, host_model=stranger, trusted=host())
    with pytest.raises(RemoteErrorResponse, match="INVALID_REQUEST"):
        open_session(requester, driver)
    assert not requester.sessions or all(
        s.phase.value != "established" for s in requester.sessions.values())


def test_mutual_authentication_needs_a_requester_identity() -> None:
    requester, driver = mutual(in_the_clear=False, host_model=None, trusted=host())
    with pytest.raises(RemoteProtocolError, match="no identity"):
        open_session(requester, driver)


@pytest.mark.parametrize("version", (SpdmVersion.V11, SpdmVersion.V12, SpdmVersion.V13),
                         ids=lambda v: v.text)
def test_basic_mutual_authentication_after_challenge(version: SpdmVersion) -> None:
    identity = host(BaseAsymAlgo.RSAPSS_3072)
    prefs = replace(AlgorithmPreferences(), asym_algs=(BaseAsymAlgo.ECDSA_P384,))
    device = EmulatedDevice(ResponderConfig(
        versions=(version,), capabilities=DEFAULT_RESPONDER_CAPS | MUTUAL, algorithms=prefs,
        mutual_auth=True, requester_trust_anchors=(identity.root_certificate(),)), model())
    requester = Requester(RequesterConfig(
        trust_anchors=(model().root_certificate(),), capabilities=DEFAULT_REQUESTER_CAPS | MUTUAL,
        algorithms=prefs), backend=identity)
    driver = RequesterDriver(device.pipe(), requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests, lambda: requester.get_certificate(0, now=NOW)):
        driver.run(command)
    events = driver.run(lambda: requester.challenge(0))
    assert isinstance(events[0], ChallengeAuthenticated) and events[0].basic_mut_auth_requested
    assert MutualAuthCompleted(None) in events
    # The connection goes on: signed measurements still verify afterwards.
    [meas] = driver.run(requester.get_measurements)
    assert isinstance(meas, MeasurementsReceived) and meas.evidence is not None


def test_basic_mutual_authentication_refuses_an_untrusted_requester() -> None:
    stranger = DeviceModel.generate(BaseAsymAlgo.ECDSA_P256, role="requester")
    prefs = replace(AlgorithmPreferences(), asym_algs=(BaseAsymAlgo.ECDSA_P384,))
    device = EmulatedDevice(ResponderConfig(
        capabilities=DEFAULT_RESPONDER_CAPS | MUTUAL, algorithms=prefs, mutual_auth=True,
        requester_trust_anchors=(host().root_certificate(),)), model())
    requester = Requester(RequesterConfig(
        trust_anchors=(model().root_certificate(),), capabilities=DEFAULT_REQUESTER_CAPS | MUTUAL,
        algorithms=prefs), backend=stranger)
    driver = RequesterDriver(device.pipe(), requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests, lambda: requester.get_certificate(0, now=NOW)):
        driver.run(command)
    with pytest.raises(RemoteErrorResponse, match="INVALID_REQUEST"):
        driver.run(lambda: requester.challenge(0))


def test_responder_initiated_key_update() -> None:
    requester, driver, device = connect(
        requester_caps=DEFAULT_REQUESTER_CAPS | F.ENCAP_CAP,
        responder_caps=DEFAULT_RESPONDER_CAPS | F.PSK_CAP_WITH_CONTEXT | F.ENCAP_CAP)
    session_id = open_session(requester, driver)
    with pytest.raises(RemoteErrorResponse, match="NO_PENDING_REQUESTS"):
        driver.run(lambda: requester.poll_encapsulated(session_id))
    before = requester.sessions[session_id].current_keys().response.key
    device.responder.request_key_update(session_id)
    assert driver.run(lambda: requester.poll_encapsulated(session_id)) == [
        KeyUpdated(session_id, False, responder_initiated=True)]
    assert requester.sessions[session_id].current_keys().response.key != before
    exercise(requester, driver, session_id)  # both sides carry on under the new key


def test_vendor_handlers_see_the_session_and_hear_when_it_ends() -> None:
    requester, driver, device = connect()
    seen: list[int | None] = []
    ended: list[int] = []

    def echo(payload: bytes, session_id: int | None) -> bytes:
        seen.append(session_id)
        return payload

    device.responder.register_vendor_handler(3, b"\x01\x00", echo)
    device.responder.register_session_listener(ended.append)
    session_id = open_session(requester, driver)
    driver.run(lambda: requester.vendor_defined(3, b"\x01\x00", b"\x00\x00\x00\x01",
                                                session_id=session_id))
    driver.run(lambda: requester.vendor_defined(3, b"\x01\x00", b"\x00\x00\x00\x01"))
    assert seen == [session_id, None]
    driver.run(lambda: requester.end_session(session_id))
    assert ended == [session_id]
