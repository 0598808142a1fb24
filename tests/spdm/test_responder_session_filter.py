"""Responder.register_session_filter: each in-session request and response, in plaintext, before sealing."""

from __future__ import annotations

import pytest

from devsec.emulator import EmulatedDevice
from spdm.config import RequesterConfig, ResponderConfig
from spdm.connection import connect
from spdm.crypto import load_certificates
from spdm.device import DeviceModel
from spdm.errors import RemoteProtocolError
from spdm.messages.codes import BaseAsymAlgo, RequestCode, ResponseCode


def _device() -> tuple[EmulatedDevice, RequesterConfig]:
    model = DeviceModel.generate(BaseAsymAlgo.ECDSA_P256)
    roots = tuple(load_certificates(model.root_certificate_pem()))
    return EmulatedDevice(ResponderConfig(), model), RequesterConfig(trust_anchors=roots)


def test_the_filter_sees_every_in_session_exchange_in_plaintext() -> None:
    device, config = _device()
    seen: list[tuple[int, bytes, bytes]] = []

    def observe(session_id: int, request: bytes, response: bytes) -> bytes:
        seen.append((session_id, request, response))
        return response

    device.responder.register_session_filter(observe)
    connection = connect(device.pipe(), config)
    with connection.open_session() as session:
        session.heartbeat()
    assert {sid for sid, _, _ in seen} == {session.session_id}
    assert [(q[1], r[1]) for _, q, r in seen] == [
        (RequestCode.FINISH, ResponseCode.FINISH_RSP),
        (RequestCode.HEARTBEAT, ResponseCode.HEARTBEAT_ACK),
        (RequestCode.END_SESSION, ResponseCode.END_SESSION_ACK),
    ]


def test_what_the_filter_returns_is_what_is_sealed() -> None:
    device, config = _device()

    def wrong_tag(session_id: int, request: bytes, response: bytes) -> bytes:
        if response[1] == ResponseCode.KEY_UPDATE_ACK:
            return response[:3] + bytes([response[3] ^ 0xFF])
        return response

    device.responder.register_session_filter(wrong_tag)
    connection = connect(device.pipe(), config)
    with pytest.raises(RemoteProtocolError, match="echoes"), connection.open_session() as session:
        session.update_keys()
