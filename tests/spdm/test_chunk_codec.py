"""The chunking codec (spdm.messages.chunk): layouts per version, splitting, and bounded reassembly."""

from __future__ import annotations

import pytest

from spdm.errors import DecodeError, LocalProtocolError, RemoteProtocolError
from spdm.messages import ChunkGet, ChunkResponse, ChunkSend, ChunkSendAck, ErrorResponse
from spdm.messages.chunk import (
    MAX_CHUNK_COUNT,
    MAX_LARGE_MESSAGE_SIZE,
    ChunkAssembly,
    chunk_header_size,
    split_message,
)


def test_chunk_get_is_six_bytes_before_1_4_and_eight_from_1_4() -> None:
    assert ChunkGet(spdm_version=0x13, handle=1, chunk_seq_no=3).encode() == bytes.fromhex("138600010300")
    assert ChunkGet(spdm_version=0x14, handle=1, chunk_seq_no=0x10003).encode() == \
        bytes.fromhex("14860001 03000100")
    with pytest.raises(LocalProtocolError):
        ChunkGet(spdm_version=0x13, chunk_seq_no=0x10000).encode()


def test_first_chunk_carries_large_message_size_and_later_chunks_do_not() -> None:
    first = ChunkResponse(spdm_version=0x13, handle=7, large_message_size=0x252, chunk=b"ab")
    assert first.encode() == bytes.fromhex("13060007 0000 0000 02000000 52020000") + b"ab"
    later = ChunkResponse(spdm_version=0x13, attributes=1, handle=7, chunk_seq_no=1, chunk=b"c")
    assert later.encode() == bytes.fromhex("13060107 0100 0000 01000000") + b"c"
    assert later.last and not first.last
    assert len(first.encode()) - 2 == chunk_header_size(first=True)
    assert len(later.encode()) - 1 == chunk_header_size(first=False)


def test_1_4_sequence_number_takes_the_reserved_bytes() -> None:
    message = ChunkSend(spdm_version=0x14, handle=2, chunk_seq_no=0x00020001, chunk=b"z")
    data = message.encode()
    assert data == bytes.fromhex("14850002 01000200 01000000") + b"z"
    assert ChunkSend.decode(data) == message


def test_chunk_size_must_match_the_bytes() -> None:
    data = ChunkSend(spdm_version=0x13, handle=2, chunk_seq_no=1, chunk=b"xyz").encode()
    with pytest.raises(DecodeError):
        ChunkSend.decode(data[:-1])
    with pytest.raises(DecodeError):
        ChunkSend.decode(data + b"!")


def test_ack_carries_the_response_to_the_large_request() -> None:
    ack = ChunkSendAck(spdm_version=0x13, handle=0, chunk_seq_no=3, response=bytes.fromhex("136e0000"))
    assert ack.encode() == bytes.fromhex("13050000 0300 136e0000")
    early = ChunkSendAck.decode(bytes.fromhex("13050100 0100 137f0100"))
    assert early.early_error and early.response == bytes.fromhex("137f0100")


def test_large_response_error_handle() -> None:
    error = ErrorResponse.decode(bytes.fromhex("137f0f00 01000000"), padded=True)
    assert error.large_response_handle == 1
    assert ErrorResponse(spdm_version=0x13, error_code=0x0F).large_response_handle is None
    other = ErrorResponse(spdm_version=0x13, error_code=0x01, extended_data=b"\x01")
    assert other.large_response_handle is None


def test_split_fills_each_chunk_to_the_data_transfer_size() -> None:
    message = bytes(range(256)) * 7  # 1792 bytes
    pieces = split_message(message, 0x200)
    assert [len(p) for p in pieces] == [0x1F0, 0x1F4, 0x1F4, 1792 - 0x1F0 - 2 * 0x1F4]
    assert b"".join(pieces) == message
    with pytest.raises(LocalProtocolError):
        split_message(message, 16)


def assemble(message: bytes, dts: int = 64, max_size: int = 1 << 16) -> bytes | None:
    pieces = split_message(message, dts)
    assembly = ChunkAssembly(9, len(message), pieces[0], last=False, max_size=max_size)
    result = None
    for seq_no, piece in enumerate(pieces[1:], 1):
        result = assembly.add(9, seq_no, piece, last=seq_no == len(pieces) - 1)
    return result


def test_assembly_gives_back_the_message() -> None:
    message = bytes(range(200))
    assert assemble(message) == message


def test_assembly_refuses_what_the_sender_gets_wrong() -> None:
    with pytest.raises(RemoteProtocolError, match="no LargeMessageSize"):
        ChunkAssembly(1, None, b"ab", last=False, max_size=100)
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        ChunkAssembly(1, 101, b"ab", last=False, max_size=100)
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        ChunkAssembly(1, MAX_LARGE_MESSAGE_SIZE + 1, b"ab", last=False, max_size=1 << 30)
    with pytest.raises(RemoteProtocolError, match="nothing to chunk"):
        ChunkAssembly(1, 2, b"ab", last=False, max_size=100)
    with pytest.raises(RemoteProtocolError, match="nothing to chunk"):
        ChunkAssembly(1, 10, b"ab", last=True, max_size=100)

    def fresh() -> ChunkAssembly:
        return ChunkAssembly(1, 10, b"ab", last=False, max_size=100)

    with pytest.raises(RemoteProtocolError, match="handle"):
        fresh().add(2, 1, b"cd", last=False)
    with pytest.raises(RemoteProtocolError, match="ChunkSeqNo 2, expected 1"):
        fresh().add(1, 2, b"cd", last=False)
    with pytest.raises(RemoteProtocolError, match="exceed LargeMessageSize"):
        fresh().add(1, 1, b"cdefghijk", last=True)
    with pytest.raises(RemoteProtocolError, match="LastChunk set"):
        fresh().add(1, 1, b"cd", last=True)
    with pytest.raises(RemoteProtocolError, match="LastChunk missing"):
        fresh().add(1, 1, b"cdefghij", last=False)
    with pytest.raises(RemoteProtocolError, match="empty"):
        fresh().add(1, 1, b"", last=False)


def test_assembly_counts_chunks() -> None:
    assembly = ChunkAssembly(1, MAX_CHUNK_COUNT + 10, b"a", last=False, max_size=MAX_LARGE_MESSAGE_SIZE)
    for seq_no in range(1, MAX_CHUNK_COUNT):
        assert assembly.add(1, seq_no, b"b", last=False) is None
    with pytest.raises(RemoteProtocolError, match="more than"):
        assembly.add(1, MAX_CHUNK_COUNT, b"b", last=False)
