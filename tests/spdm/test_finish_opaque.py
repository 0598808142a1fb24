"""SPDM 1.4 OpaqueData in FINISH / FINISH_RSP and PSK_FINISH / PSK_FINISH_RSP, non-empty.

Our requester sends :attr:`RequesterConfig.finish_opaque_data`, our device
:attr:`ResponderConfig.finish_rsp_opaque_data`; both transcripts cover them
(the session only comes up when the two TH agree, and the FINISH signature of
mutual authentication verifies over it), and a :class:`Follower` following
the recorded conversation extends its TH from the captured FINISH's own
opaque data.  Before 1.4 the field does not exist: nothing is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache

import pytest

import spdm.requester.session as requester_session
from devsec.emulator import EmulatedDevice
from spdm.config import (
    DEFAULT_REQUESTER_CAPS,
    DEFAULT_RESPONDER_CAPS,
    DEFER_TRUST,
    RequesterConfig,
    ResponderConfig,
)
from spdm.crypto import generate_dhe_key
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.events import Event, SessionEstablished
from spdm.messages import CodecContext, Finish, FinishRsp
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, DheGroup, RequestCode, SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import Requester
from spdm.requester.follow import Follower
from spdm.transport import DoeTransport
from spdm.transport.doe import DataObjectType, decode_data_object

F = CapabilityFlags
NOW = datetime.now(UTC)
PSK = bytes(range(32))
HINT = b"devsec-psk"
REQ_OPAQUE = b"\x01\x00\x00\x00" + b"requester finish"
RSP_OPAQUE = b"\x01\x00\x00\x00" + b"responder finish rsp"
CLEAR = F.HANDSHAKE_IN_THE_CLEAR_CAP
MUTUAL = F.MUT_AUTH_CAP | F.ENCAP_CAP
PREFS = replace(AlgorithmPreferences(), asym_algs=(BaseAsymAlgo.ECDSA_P384,))


@cache
def _model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384).with_psks({HINT: PSK})


@cache
def _host() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384, role="requester")


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


class RecordingKey:
    """Our requester's real DHE key, remembering the shared secret it computes (for the follower)."""

    def __init__(self, group: DheGroup, secrets: list[bytes]) -> None:
        self.key = generate_dhe_key(group)
        self.secrets = secrets

    def public_bytes(self) -> bytes:
        return self.key.public_bytes()

    def shared_secret(self, peer_public: bytes) -> bytes:
        secret = self.key.shared_secret(peer_public)
        self.secrets.append(secret)
        return secret


def _session(version: SpdmVersion, extra: CapabilityFlags, monkeypatch: pytest.MonkeyPatch, *,
             psk: bool = False) -> tuple[list[tuple[bytes, bytes]], list[Event], list[bytes]]:
    """One session of our requester with our device, both configured with FINISH opaque data, recorded."""
    mutual = bool(extra & MUTUAL)
    device = EmulatedDevice(ResponderConfig(
        versions=(version,), capabilities=DEFAULT_RESPONDER_CAPS | extra | F.PSK_CAP_WITH_CONTEXT,
        algorithms=PREFS, finish_rsp_opaque_data=RSP_OPAQUE, mutual_auth=mutual,
        requester_trust_anchors=(_host().root_certificate(),) if mutual else ()), _model())
    recorder = Recorder(device.pipe())
    requester = Requester(RequesterConfig(
        versions=(version,), capabilities=DEFAULT_REQUESTER_CAPS | extra, algorithms=PREFS,
        trust_anchors=(_model().root_certificate(),), finish_opaque_data=REQ_OPAQUE),
        backend=_host() if mutual else None)
    secrets: list[bytes] = []
    monkeypatch.setattr(requester_session, "generate_dhe_key", lambda group: RecordingKey(group, secrets))
    driver = RequesterDriver(recorder, requester)
    exchange: Callable[[], None] = ((lambda: requester.psk_exchange(PSK, HINT)) if psk
                                    else (lambda: requester.key_exchange(0)))
    events: list[Event] = []
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests, lambda: requester.get_certificate(0, now=NOW), exchange):
        events += driver.run(command)
    [session_id] = requester.sessions
    events += driver.run(lambda: requester.heartbeat(session_id))
    return recorder.exchanges, events, secrets


def _follow(exchanges: list[tuple[bytes, bytes]], secret: bytes) -> list[Event]:
    follower = Follower(RequesterConfig(trust_anchors=DEFER_TRUST))
    events: list[Event] = []
    for request, response in exchanges:
        asked, answered = decode_data_object(request), decode_data_object(response)
        secured = asked.object_type == DataObjectType.SECURED_SPDM
        exchange = not secured and asked.payload[1] in (RequestCode.KEY_EXCHANGE, RequestCode.PSK_EXCHANGE)
        follower.adopt(asked.payload, now=NOW, secured=secured, secret=secret if exchange else None)
        follower.receive_data(answered.payload, secured=secured)
        while (event := follower.next_event()) is not None:
            events.append(event)
    assert not follower.busy
    return events


def _clear_message(exchanges: list[tuple[bytes, bytes]], code: int, *, response: bool) -> bytes:
    for request, answer in exchanges:
        asked = decode_data_object(request)
        if asked.object_type == DataObjectType.SPDM and asked.payload[1] == code:
            return decode_data_object(answer).payload if response else asked.payload
    raise AssertionError(f"no 0x{code:02x} in the clear")


@pytest.mark.parametrize("extra", [F(0), CLEAR, MUTUAL, MUTUAL | CLEAR],
                         ids=["encrypted", "in-the-clear", "mutual", "mutual-in-the-clear"])
def test_finish_opaque_data_is_sent_covered_and_followed(extra: CapabilityFlags,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    exchanges, live, secrets = _session(SpdmVersion.V14, extra, monkeypatch)
    assert any(isinstance(e, SessionEstablished) for e in live)
    if extra & CLEAR:
        ctx = CodecContext(hash_size=48, req_signature_size=96 if extra & MUTUAL else 0,
                           handshake_in_the_clear=True)
        sent = _clear_message(exchanges, RequestCode.FINISH, response=False)
        answered = _clear_message(exchanges, RequestCode.FINISH, response=True)
        finish = Finish.decode(sent, ctx, padded=True)
        finish_rsp = FinishRsp.decode(answered, ctx, padded=True)
        assert (finish.opaque_data, finish_rsp.opaque_data) == (REQ_OPAQUE, RSP_OPAQUE)
    [secret] = secrets
    followed = _follow(exchanges, secret)
    assert [type(e) for e in followed] == [type(e) for e in live]


def test_psk_finish_opaque_data_is_covered_and_followed(monkeypatch: pytest.MonkeyPatch) -> None:
    exchanges, live, _ = _session(SpdmVersion.V14, F(0), monkeypatch, psk=True)
    assert any(isinstance(e, SessionEstablished) and e.psk for e in live)
    assert [type(e) for e in _follow(exchanges, PSK)] == [type(e) for e in live]


def test_before_1_4_no_opaque_data_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    exchanges, live, _ = _session(SpdmVersion.V13, CLEAR, monkeypatch)
    assert any(isinstance(e, SessionEstablished) for e in live)
    finish = _clear_message(exchanges, RequestCode.FINISH, response=False)
    assert len(finish) == 4 + 48 and finish[:4] == bytes.fromhex("13e50000")
    assert _clear_message(exchanges, RequestCode.FINISH, response=True)[:4] == bytes.fromhex("13650000")
    assert len(_clear_message(exchanges, RequestCode.FINISH, response=True)) == 4 + 48
