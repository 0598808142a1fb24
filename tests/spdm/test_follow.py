"""Tests for :mod:`spdm.requester.follow`: the requester engine wrapped to follow someone else's conversation.

A live requester talks to the emulated device through a recording transport;
a :class:`Follower` then replays the recorded DOE objects and must reach the
same events with its own checks, and refuse a captured request whose verify
data or record does not match its transcript.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache

import pytest

from devsec.emulator import EmulatedDevice
from spdm.config import (
    DEFAULT_REQUESTER_CAPS,
    DEFAULT_RESPONDER_CAPS,
    DEFER_TRUST,
    RequesterConfig,
    ResponderConfig,
)
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.errors import LocalProtocolError, VerificationError
from spdm.events import (
    CertificateChainReceived,
    Event,
    HeartbeatAcknowledged,
    KeyUpdated,
    MeasurementsReceived,
    SessionEnded,
    SessionEstablished,
)
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, RequestCode
from spdm.requester import Requester
from spdm.requester.follow import Follower
from spdm.secured import open_record, seal
from spdm.transport import DoeTransport
from spdm.transport.doe import DataObjectType, decode_data_object
from tests import vectors

NOW = datetime.now(UTC)  # the emulated device generates its certificates now
PSK = bytes(range(32))
HINT = b"devsec-psk"
VECTORS_NOW = datetime(2026, 11, 22, tzinfo=UTC)  # inside every captured certificate's validity


class Recorder:
    """Passes DOE objects through and keeps every (request, response) pair."""

    def __init__(self, inner: DoeTransport) -> None:
        self.inner = inner
        self.exchanges: list[tuple[bytes, bytes]] = []

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        response = self.inner.exchange(request, timeout=timeout)
        self.exchanges.append((request, response))
        return response

    def close(self) -> None:
        self.inner.close()


@cache
def _model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384).with_psks({HINT: PSK})


def _live() -> tuple[list[tuple[bytes, bytes]], list[Event]]:
    """A PSK session with measurements, heartbeat, key update and END_SESSION, recorded."""
    caps = CapabilityFlags.PSK_CAP_WITH_CONTEXT
    device = EmulatedDevice(ResponderConfig(capabilities=DEFAULT_RESPONDER_CAPS | caps), _model())
    recorder = Recorder(device.pipe())
    requester = Requester(RequesterConfig(trust_anchors=(_model().root_certificate(),),
                                          capabilities=DEFAULT_REQUESTER_CAPS))
    driver = RequesterDriver(recorder, requester)
    events: list[Event] = []
    commands: list[Callable[[], None]] = [
        requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
        requester.get_digests, lambda: requester.get_certificate(0, now=NOW),
        lambda: requester.psk_exchange(PSK, HINT),
    ]
    for command in commands:
        events += driver.run(command)
    [session_id] = requester.sessions
    for command in (lambda: requester.get_measurements(session_id=session_id),
                    lambda: requester.heartbeat(session_id),
                    lambda: requester.key_update(session_id, all_keys=True),
                    lambda: requester.end_session(session_id)):
        events += driver.run(command)
    return recorder.exchanges, events


def _follow(exchanges: list[tuple[bytes, bytes]],
            tamper: Callable[[Follower, int, bytes], bytes] | None = None) -> list[Event]:
    follower = Follower(RequesterConfig(trust_anchors=DEFER_TRUST))
    events: list[Event] = []
    for request, response in exchanges:
        asked, answered = decode_data_object(request), decode_data_object(response)
        secured = asked.object_type == DataObjectType.SECURED_SPDM
        payload = asked.payload
        code = None if secured else payload[1]
        if tamper is not None:
            payload = tamper(follower, asked.object_type, payload)
        follower.adopt(payload, now=NOW, secured=secured,
                       secret=PSK if code == RequestCode.PSK_EXCHANGE else None)
        assert follower.busy
        follower.receive_data(answered.payload, secured=secured)
        while (event := follower.next_event()) is not None:
            events.append(event)
    assert not follower.busy
    return events


def _kinds(events: list[Event]) -> list[type[Event]]:
    return [type(e) for e in events]


def test_a_follower_reaches_the_live_requesters_events() -> None:
    exchanges, live = _live()
    followed = _follow(exchanges)
    assert _kinds(followed) == _kinds(live)
    assert {SessionEstablished, MeasurementsReceived, HeartbeatAcknowledged, KeyUpdated,
            SessionEnded} <= set(_kinds(followed))
    [meas] = [e for e in followed if isinstance(e, MeasurementsReceived)]
    assert meas.evidence is not None  # the in-session L1 signature verified
    [chain] = [e for e in followed if isinstance(e, CertificateChainReceived)]
    assert not chain.trusted  # DEFER_TRUST: reported, not judged
    [established] = [e for e in followed if isinstance(e, SessionEstablished)]
    assert established.psk and established == next(e for e in live if isinstance(e, SessionEstablished))


def _flip_psk_finish_verify_data(follower: Follower, object_type: int, payload: bytes) -> bytes:
    """Re-seal the captured PSK_FINISH with its last verify-data byte flipped (same key and sequence)."""
    if object_type != DataObjectType.SECURED_SPDM:
        return payload
    engine = follower.engine
    [session] = engine.sessions.values()
    keys = session.current_keys().request
    plain = bytearray(open_record(replace(keys), payload))
    if plain[1] != RequestCode.PSK_FINISH:
        return payload
    plain[-1] ^= 0x01
    return seal(replace(keys), session.session_id, bytes(plain))


def test_a_captured_psk_finish_with_wrong_verify_data_is_refused() -> None:
    exchanges, _ = _live()
    with pytest.raises(VerificationError, match="captured PSK_FINISH RequesterVerifyData does not verify"):
        _follow(exchanges, _flip_psk_finish_verify_data)


def test_a_record_of_a_session_not_followed_is_refused() -> None:
    exchanges, _ = _live()
    follower = Follower(RequesterConfig(trust_anchors=DEFER_TRUST))
    secured = next(decode_data_object(request).payload for request, _ in exchanges
                   if decode_data_object(request).object_type == DataObjectType.SECURED_SPDM)
    with pytest.raises(LocalProtocolError, match="not being followed"):
        follower.adopt(secured, now=NOW, secured=True)


def test_a_session_exchange_needs_its_secret() -> None:
    exchanges, _ = _live()
    follower = Follower(RequesterConfig(trust_anchors=DEFER_TRUST))
    for request, response in exchanges:
        payload = decode_data_object(request).payload
        if payload[1] == RequestCode.PSK_EXCHANGE:
            with pytest.raises(LocalProtocolError, match="no secret"):
                follower.adopt(payload, now=NOW)
            return
        follower.adopt(payload, now=NOW)
        follower.receive_data(decode_data_object(response).payload)
    pytest.fail("no PSK_EXCHANGE in the recording")


def test_skip_applies_the_transcript_resets_only_between_requests() -> None:
    exchanges, _ = _live()
    follower = Follower(RequesterConfig(trust_anchors=DEFER_TRUST))
    request, _ = exchanges[0]
    follower.adopt(decode_data_object(request).payload, now=NOW)
    with pytest.raises(LocalProtocolError, match="outstanding"):
        follower.skip(RequestCode.GET_ENCAPSULATED_REQUEST)


MUTUAL_AUTH_SET = "spdm13-p384-mutauth-psk"


def _follow_vectors(name: str, tamper: Callable[[Follower, bytes, bool], bytes]) -> int:
    """Follow a reference capture (as tests/vectors.py does), passing each request through ``tamper``."""
    follower = Follower(RequesterConfig(trust_anchors=DEFER_TRUST))
    keys = [value for _, value in vectors.secrets(name)]
    sessions = 0
    for exchange in vectors.exchanges(name):
        if exchange.object_type not in (vectors.TYPE_SPDM, vectors.TYPE_SECURED):
            continue
        secured = exchange.object_type == vectors.TYPE_SECURED
        payload = exchange.request_payload
        code = None if secured else payload[1]
        if code in (RequestCode.GET_ENCAPSULATED_REQUEST, RequestCode.DELIVER_ENCAPSULATED_RESPONSE) \
                and follower.outstanding_code != code:
            follower.skip(code)
            continue
        secret = keys.pop(0) if code in (RequestCode.KEY_EXCHANGE, RequestCode.PSK_EXCHANGE) else None
        follower.adopt(tamper(follower, payload, secured), now=VECTORS_NOW,
                       secured=secured, secret=secret)
        follower.receive_data(exchange.response_payload, secured=secured)
        while (event := follower.next_event()) is not None:
            sessions += isinstance(event, SessionEstablished) and event.mutual_auth != 0
    return sessions


def _finish_changed_by(change: Callable[[bytearray], None]) -> Callable[[Follower, bytes, bool], bytes]:
    """A tamper function that applies ``change`` to FINISH (re-sealed under the same key and sequence)."""
    return lambda follower, payload, secured: _changed_finish(follower, payload, secured, change)


def _changed_finish(follower: Follower, payload: bytes, secured: bool,
                    change: Callable[[bytearray], None]) -> bytes:
    if not secured:
        plain = bytearray(payload)
        if plain[1] == RequestCode.FINISH:
            change(plain)
        return bytes(plain)
    session = follower.engine.sessions[int.from_bytes(payload[:4], "little")]
    keys = session.current_keys().request
    plain = bytearray(open_record(replace(keys), payload))
    if plain[1] != RequestCode.FINISH:
        return payload
    change(plain)
    return seal(replace(keys), session.session_id, bytes(plain))


def test_a_mutually_authenticated_capture_is_followed() -> None:
    # The capture opens two KEY_EXCHANGE sessions, both with the requester's FINISH signature.
    assert _follow_vectors(MUTUAL_AUTH_SET, lambda follower, payload, secured: payload) == 2


def test_a_captured_finish_with_wrong_verify_data_is_refused() -> None:
    def flip_verify_data(plain: bytearray) -> None:
        plain[-1] ^= 0x01

    with pytest.raises(VerificationError, match="captured FINISH RequesterVerifyData does not verify"):
        _follow_vectors(MUTUAL_AUTH_SET, _finish_changed_by(flip_verify_data))


def test_a_captured_finish_with_a_forged_signature_is_refused() -> None:
    def flip_signature(plain: bytearray) -> None:
        plain[4] ^= 0x01  # the requester's signature starts after the 4-byte header

    with pytest.raises(VerificationError):
        _follow_vectors(MUTUAL_AUTH_SET, _finish_changed_by(flip_signature))
