"""Session-only requests in the clear: ERROR SessionRequired (0x0B) from SPDM 1.2, UnexpectedRequest before.

DSP0274 1.2 added SessionRequired for a request that is only legal inside a
session; DMTF's SPDM-Responder-Validator (cases 9.11, 12.4, 13.5, 16.x) and the
reference responder answer FINISH, HEARTBEAT, KEY_UPDATE and END_SESSION sent
in the clear with it.  SPDM 1.1 has no such code, so UnexpectedRequest stays.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import cache

import pytest

from devsec.emulator import EmulatedDevice
from spdm.config import DEFAULT_REQUESTER_CAPS, DEFAULT_RESPONDER_CAPS, RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.errors import SpdmErrorCode
from spdm.events import SessionEstablished
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, RequestCode, ResponseCode, SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import Requester
from spdm.secured import open_record, seal

F = CapabilityFlags
NOW = datetime.now(UTC)
H = 48
"""SHA-384's digest size: the verify data of FINISH and PSK_FINISH."""
PSK, HINT = bytes(range(32)), b"hint"
ALL_SESSION_CAPS = DEFAULT_RESPONDER_CAPS | F.PSK_CAP_WITH_CONTEXT

SESSION_ONLY = {
    RequestCode.HEARTBEAT: b"\x00\x00",
    RequestCode.KEY_UPDATE: b"\x01\x01",
    RequestCode.END_SESSION: b"\x00\x00",
    RequestCode.PSK_FINISH: b"\x00\x00" + bytes(H),
    RequestCode.FINISH: b"\x00\x00" + bytes(H),
}
"""Each request that only exists inside a session (FINISH: without HANDSHAKE_IN_THE_CLEAR_CAP),
as header bytes after the code plus a body."""


@cache
def model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384).with_psks({HINT: PSK})


def negotiated(version: SpdmVersion, caps: CapabilityFlags = DEFAULT_REQUESTER_CAPS,
               ) -> tuple[EmulatedDevice, Requester]:
    """A device after VCA, digests and slot 0's chain at ``version``."""
    prefs = replace(AlgorithmPreferences(), asym_algs=(BaseAsymAlgo.ECDSA_P384,))
    device = EmulatedDevice(ResponderConfig(versions=(version,), capabilities=ALL_SESSION_CAPS | (
        caps & F.HANDSHAKE_IN_THE_CLEAR_CAP), algorithms=prefs), model())
    requester = Requester(RequesterConfig(trust_anchors=(model().root_certificate(),),
                                          capabilities=caps, algorithms=prefs))
    driver = RequesterDriver(device.pipe(), requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests, lambda: requester.get_certificate(0, now=NOW)):
        driver.run(command)
    return device, requester


def answer(device: EmulatedDevice, version: SpdmVersion, code: RequestCode) -> bytes:
    return device.responder.handle(bytes([version, code]) + SESSION_ONLY[code])


def start_key_exchange(device: EmulatedDevice, requester: Requester) -> None:
    """KEY_EXCHANGE answered, so FINISH would be next (the requester never sees the answer)."""
    requester.key_exchange()
    assert device.responder.handle(requester.data_to_send())[1] == ResponseCode.KEY_EXCHANGE_RSP


@pytest.mark.parametrize("code", list(SESSION_ONLY), ids=lambda c: c.name)
@pytest.mark.parametrize("version", (SpdmVersion.V12, SpdmVersion.V13), ids=lambda v: v.text)
def test_session_only_requests_in_the_clear_are_session_required(version: SpdmVersion,
                                                                 code: RequestCode) -> None:
    device, requester = negotiated(version)
    if code == RequestCode.FINISH:
        start_key_exchange(device, requester)
    response = answer(device, version, code)
    assert response == bytes([version, ResponseCode.ERROR, SpdmErrorCode.SESSION_REQUIRED, 0])


@pytest.mark.parametrize("code", list(SESSION_ONLY), ids=lambda c: c.name)
def test_spdm_1_1_has_no_session_required(code: RequestCode) -> None:
    device, requester = negotiated(SpdmVersion.V11)
    if code == RequestCode.FINISH:
        start_key_exchange(device, requester)
    response = answer(device, SpdmVersion.V11, code)
    assert response == bytes([SpdmVersion.V11, ResponseCode.ERROR, SpdmErrorCode.UNEXPECTED_REQUEST, 0])


def test_the_refusal_leaves_the_handshake_to_finish() -> None:
    """SessionRequired changes nothing: the real FINISH, in the session, still establishes it."""
    device, requester = negotiated(SpdmVersion.V13)
    driver = RequesterDriver(device.pipe(), requester)
    requester.key_exchange()
    secured = requester.sending_secured
    response = device.responder.handle(requester.data_to_send())
    requester.receive_data(response, secured=secured)
    assert answer(device, SpdmVersion.V13, RequestCode.FINISH)[2] == SpdmErrorCode.SESSION_REQUIRED
    driver.run(lambda: None)  # FINISH, queued by the requester on KEY_EXCHANGE_RSP
    assert any(s.phase.name == "ESTABLISHED" for s in requester.sessions.values())


def test_finish_in_the_clear_with_handshake_in_the_clear_is_not_session_required() -> None:
    """With HANDSHAKE_IN_THE_CLEAR_CAP on both sides FINISH belongs in the clear: without a
    handshake it is merely unexpected."""
    device, _ = negotiated(SpdmVersion.V13, DEFAULT_REQUESTER_CAPS | F.HANDSHAKE_IN_THE_CLEAR_CAP)
    response = answer(device, SpdmVersion.V13, RequestCode.FINISH)
    assert response[1:3] == bytes([ResponseCode.ERROR, SpdmErrorCode.UNEXPECTED_REQUEST])


def test_before_negotiation_it_stays_unexpected() -> None:
    """The connection state is checked first: HEARTBEAT before ALGORITHMS is out of order."""
    prefs = replace(AlgorithmPreferences(), asym_algs=(BaseAsymAlgo.ECDSA_P384,))
    device = EmulatedDevice(ResponderConfig(capabilities=ALL_SESSION_CAPS, algorithms=prefs), model())
    assert device.responder.handle(bytes([0x10, RequestCode.GET_VERSION, 0, 0]))[1] == ResponseCode.VERSION
    response = answer(device, SpdmVersion.V12, RequestCode.HEARTBEAT)
    assert response[1:3] == bytes([ResponseCode.ERROR, SpdmErrorCode.UNEXPECTED_REQUEST])


def test_finish_inside_another_session_is_unexpected() -> None:
    """FINISH belongs to the session in its handshake; sealed in an established one it is refused."""
    device, requester = negotiated(SpdmVersion.V13)
    driver = RequesterDriver(device.pipe(), requester)
    [first] = [e for e in driver.run(requester.key_exchange) if isinstance(e, SessionEstablished)]
    start_key_exchange(device, requester)  # a second session, in its handshake
    finish = bytes([SpdmVersion.V13, RequestCode.FINISH]) + SESSION_ONLY[RequestCode.FINISH]
    keys = requester.sessions[first.session_id].current_keys()
    sealed = device.responder.handle_secured(seal(keys.request, first.session_id, finish))
    assert sealed is not None
    answer = open_record(keys.response, sealed, expected_session_id=first.session_id)
    assert answer[1:3] == bytes([ResponseCode.ERROR, SpdmErrorCode.UNEXPECTED_REQUEST])
