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

from spdm.errors import RemoteProtocolError
from spdm.events import CertificateInstalled, Event, SessionEstablished
from spdm.messages.codes import ResponseCode
from tests.vectors import TYPE_SECURED, Exchange, follow_doe

SET = "spdm13-p384-chunking"
NOW = datetime(2026, 11, 22, tzinfo=UTC)


def follow(tamper_ack: int | None = None) -> list[Event]:
    """Every event (``tamper_ack``: bump the ChunkSeqNo of that plain CHUNK_SEND_ACK, 0-based)."""
    acks = 0

    def alter(exchange: Exchange, response: bytes) -> bytes:
        nonlocal acks
        if exchange.object_type == TYPE_SECURED or response[1] != ResponseCode.CHUNK_SEND_ACK:
            return response
        acks += 1
        if acks - 1 == tamper_ack:
            return response[:4] + bytes([response[4] + 1]) + response[5:]
        return response

    return follow_doe(SET, now=NOW, alter=alter)[1]


def test_every_chunked_set_certificate_is_followed() -> None:
    events = follow()
    assert [e.slot_id for e in events if isinstance(e, CertificateInstalled)] == [0, 4, 0, 4]
    assert sum(isinstance(e, SessionEstablished) for e in events) == 2


@pytest.mark.parametrize("ack", [0, 3], ids=["first", "last"])
def test_an_ack_for_another_chunk_is_refused(ack: int) -> None:
    with pytest.raises(RemoteProtocolError, match="CHUNK_SEND_ACK"):
        follow(tamper_ack=ack)
