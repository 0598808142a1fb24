"""The requester's chunk transfers refuse what a responder gets wrong (spdm.requester.chunk)."""

from __future__ import annotations

import pytest

from spdm.errors import RemoteProtocolError
from spdm.messages import ChunkResponse, ChunkSend, ChunkSendAck, ErrorResponse
from spdm.messages.chunk import CHUNK_ACK_EARLY_ERROR, CHUNK_LAST
from spdm.requester.chunk import ChunkFetch, ChunkSender

V13 = 0x13


def chunk(seq_no: int, data: bytes, *, handle: int = 1, last: bool = False, size: int | None = None) -> bytes:
    return ChunkResponse(spdm_version=V13, attributes=CHUNK_LAST if last else 0, handle=handle,
                         chunk_seq_no=seq_no, large_message_size=size, chunk=data).encode()


def test_fetch_asks_in_order_and_reassembles() -> None:
    fetch = ChunkFetch(V13, 1, 0x1000)
    assert fetch.next_request() == bytes.fromhex("138600010000")
    assert fetch.take(chunk(0, b"abc", size=5)) is None
    assert fetch.next_request() == bytes.fromhex("138600010100")
    assert fetch.take(chunk(1, b"de", last=True) + bytes(3)) == b"abcde"


@pytest.mark.parametrize("bad", [
    chunk(0, b"abc", handle=2, size=5),   # another handle
    chunk(1, b"abc", size=None),          # not the first chunk
    chunk(0, b"abc", size=0x1001),        # beyond our MaxSPDMmsgSize
    ErrorResponse(spdm_version=V13, error_code=0x01).encode(),
    ChunkSendAck(spdm_version=V13).encode(),
])
def test_fetch_refuses(bad: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        ChunkFetch(V13, 1, 0x1000).take(bad)


def test_fetch_refuses_a_sequence_gap() -> None:
    fetch = ChunkFetch(V13, 1, 0x1000)
    fetch.take(chunk(0, b"abc", size=5))
    with pytest.raises(RemoteProtocolError):
        fetch.take(chunk(2, b"de", last=True))


def test_sender_walks_the_chunks_and_takes_the_response_from_the_last_ack() -> None:
    message = bytes(range(100))
    sender = ChunkSender(V13, 4, message, 64)
    first = ChunkSend.decode(sender.next_request())
    assert (first.handle, first.chunk_seq_no, first.large_message_size) == (4, 0, 100)
    assert sender.take(ChunkSendAck(spdm_version=V13, handle=4).encode() + bytes(2)) is None
    last = ChunkSend.decode(sender.next_request())
    assert last.last and last.chunk_seq_no == 1 and first.chunk + last.chunk == message
    response = bytes.fromhex("137e0000")
    assert sender.take(ChunkSendAck(spdm_version=V13, handle=4, chunk_seq_no=1, response=response).encode()) \
        == response


@pytest.mark.parametrize("bad", [
    ChunkSendAck(spdm_version=V13, handle=5).encode(),
    ChunkSendAck(spdm_version=V13, handle=4, chunk_seq_no=1).encode(),
    ChunkSendAck(spdm_version=V13, handle=4, response=bytes.fromhex("137e0000")).encode(),
    # an early error answers the large request (tests/spdm/test_chunk_stream_errors.py), but not LargeResponse
    ChunkSendAck(spdm_version=V13, attributes=CHUNK_ACK_EARLY_ERROR, handle=4, response=ErrorResponse(
        spdm_version=V13, error_code=0x0F, extended_data=b"\x01").encode()).encode(),
    ErrorResponse(spdm_version=V13, error_code=0x04).encode(),
])
def test_sender_refuses(bad: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        ChunkSender(V13, 4, bytes(100), 64).take(bad)
