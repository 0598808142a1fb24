"""The follower takes a large request the followed requester sent in CHUNK_SENDs (``spdm13-p384-chunking``).

libspdm's requester sent SET_CERTIFICATE (a 0x63B-byte request, DataTransferSize
0x200) in four CHUNK_SENDs four times: slot 0 in the clear and slot 4 inside
the session, once per session.  The follower collects the chunks, checks each
CHUNK_SEND_ACK, adopts the request put together and takes the response the
last ACK carries as its own: every SET_CERTIFICATE is followed, both sessions
too, to the end of the capture (``devsec dump`` used to stop at the first
CHUNK_SEND).  An ACK naming another chunk is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spdm.config import DEFER_TRUST, RequesterConfig
from spdm.errors import RemoteProtocolError
from spdm.events import CertificateInstalled, Event, SessionEstablished
from spdm.messages.codes import RequestCode, ResponseCode
from spdm.requester.follow import Follower
from tests.vectors import TYPE_SECURED, TYPE_SPDM, exchanges, secrets

SET = "spdm13-p384-chunking"
NOW = datetime(2026, 11, 22, tzinfo=UTC)


def follow(tamper_ack: int | None = None) -> list[Event]:
    """Every event (``tamper_ack``: bump the ChunkSeqNo of that plain CHUNK_SEND_ACK, 0-based)."""
    engine = Follower(RequesterConfig(trust_anchors=DEFER_TRUST))
    keys = [value for _, value in secrets(SET)]
    events: list[Event] = []
    acks = 0
    for exchange in exchanges(SET):
        secured = exchange.object_type == TYPE_SECURED
        if exchange.object_type not in (TYPE_SPDM, TYPE_SECURED):
            continue
        code = None if secured else exchange.request_payload[1]
        engine.adopt(exchange.request_payload, now=NOW, secured=secured,
                     secret=keys.pop(0) if code == RequestCode.KEY_EXCHANGE else None)
        response = exchange.response_payload
        if not secured and response[1] == ResponseCode.CHUNK_SEND_ACK:
            if acks == tamper_ack:
                response = response[:4] + bytes([response[4] + 1]) + response[5:]
            acks += 1
        engine.receive_data(response, secured=secured)
        while (event := engine.next_event()) is not None:
            events.append(event)
    return events


def test_every_chunked_set_certificate_is_followed() -> None:
    events = follow()
    assert [e.slot_id for e in events if isinstance(e, CertificateInstalled)] == [0, 4, 0, 4]
    assert sum(isinstance(e, SessionEstablished) for e in events) == 2


@pytest.mark.parametrize("ack", [0, 3], ids=["first", "last"])
def test_an_ack_for_another_chunk_is_refused(ack: int) -> None:
    with pytest.raises(RemoteProtocolError, match="CHUNK_SEND_ACK"):
        follow(tamper_ack=ack)
