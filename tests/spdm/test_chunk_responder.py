"""The responder's chunking: large responses by CHUNK_GET, large requests by CHUNK_SEND, bad sequences."""

from __future__ import annotations

import pytest

from spdm.device import DeviceModel
from spdm.errors import SpdmErrorCode
from spdm.messages import (
    Certificate,
    ChunkGet,
    ChunkResponse,
    ChunkSend,
    ChunkSendAck,
    ErrorResponse,
    GetCertificate,
    GetDigests,
    VendorDefinedRequest,
)
from spdm.messages.chunk import CHUNK_LAST, split_message
from spdm.messages.codes import CapabilityFlags, ResponseCode, SpdmVersion
from tests.spdm.test_responder import CMA_CAPS, P256, REQ_FLAGS, Link, connect, expect_error, make_config

V13 = SpdmVersion.V13
DTS = 0x100
CHUNK_CAPS = CMA_CAPS | CapabilityFlags.CHUNK_CAP
INVALID = SpdmErrorCode.INVALID_REQUEST


@pytest.fixture(scope="module")
def device() -> DeviceModel:
    return DeviceModel.generate(P256, slots=(0,))


def chunked_link(device: DeviceModel) -> Link:
    config = make_config(capabilities=CHUNK_CAPS, data_transfer_size=DTS, max_spdm_msg_size=0x10000)
    return connect(device, V13, config, flags=REQ_FLAGS | CapabilityFlags.CHUNK_CAP, dts=DTS,
                   max_size=0x10000)


def get_large(link: Link, request: bytes) -> tuple[bytes, int]:
    """Send a request answered LargeResponse and CHUNK_GET the response; (response, chunk count)."""
    error = ErrorResponse.decode(link.send(request))
    assert error.error_code == SpdmErrorCode.LARGE_RESPONSE
    handle = error.large_response_handle
    assert handle is not None
    parts: list[bytes] = []
    size = None
    for seq_no in range(1000):
        data = link.send(ChunkGet(spdm_version=V13, handle=handle, chunk_seq_no=seq_no).encode())
        assert len(data) <= DTS
        chunk = ChunkResponse.decode(data)
        assert (chunk.handle, chunk.chunk_seq_no) == (handle, seq_no)
        size = chunk.large_message_size if seq_no == 0 else size
        parts.append(chunk.chunk)
        if chunk.last:
            whole = b"".join(parts)
            assert len(whole) == size
            return whole, seq_no + 1
    raise AssertionError("no last chunk")


def test_certificate_larger_than_data_transfer_size_comes_by_chunk_get(device: DeviceModel) -> None:
    link = chunked_link(device)
    link.send(GetDigests(spdm_version=V13).encode())
    request = GetCertificate(spdm_version=V13, slot_id=0, length=0xFFFF).encode()
    whole, count = get_large(link, request)
    certificate = Certificate.decode(whole)
    assert certificate.remainder_length == 0 and count > 1 and len(certificate.cert_chain) > DTS
    # the transcript holds the large message, not the chunks
    assert link.responder.transcript.b.endswith(request + whole)


def test_handles_advance_like_libspdm(device: DeviceModel) -> None:
    link = chunked_link(device)
    handles = []
    for _ in range(2):
        error = ErrorResponse.decode(link.send(GetCertificate(spdm_version=V13, length=0xFFFF).encode()))
        handles.append(error.large_response_handle)
        for seq_no in range(100):
            chunk = ChunkResponse.decode(link.send(
                ChunkGet(spdm_version=V13, handle=handles[-1] or 0, chunk_seq_no=seq_no).encode()))
            if chunk.last:
                break
    assert handles == [1, 3]


def test_bad_chunk_get(device: DeviceModel) -> None:
    link = chunked_link(device)
    expect_error(link, ChunkGet(spdm_version=V13, handle=1).encode(), SpdmErrorCode.UNEXPECTED_REQUEST)
    link.send(GetCertificate(spdm_version=V13, length=0xFFFF).encode())
    expect_error(link, ChunkGet(spdm_version=V13, handle=2).encode(), INVALID)
    expect_error(link, ChunkGet(spdm_version=V13, handle=1, chunk_seq_no=1).encode(), INVALID)
    assert ChunkResponse.decode(link.send(ChunkGet(spdm_version=V13, handle=1).encode())).chunk_seq_no == 0
    link.send(GetDigests(spdm_version=V13).encode())  # abandons the large response
    expect_error(link, ChunkGet(spdm_version=V13, handle=1, chunk_seq_no=1).encode(),
                 SpdmErrorCode.UNEXPECTED_REQUEST)


def test_a_requester_without_chunk_cap_gets_portions(device: DeviceModel) -> None:
    config = make_config(capabilities=CHUNK_CAPS, data_transfer_size=DTS, max_spdm_msg_size=0x10000)
    link = connect(device, V13, config, dts=DTS)
    response = link.send(GetCertificate(spdm_version=V13, length=0xFFFF).encode())
    assert Certificate.decode(response).remainder_length > 0 and len(response) <= DTS
    expect_error(link, ChunkGet(spdm_version=V13).encode(), SpdmErrorCode.UNEXPECTED_REQUEST)


def send_large(link: Link, message: bytes, handle: int = 0) -> list[ChunkSendAck]:
    pieces = split_message(message, DTS)
    acks = []
    for seq_no, piece in enumerate(pieces):
        last = seq_no == len(pieces) - 1
        request = ChunkSend(spdm_version=V13, attributes=CHUNK_LAST if last else 0, handle=handle,
                            chunk_seq_no=seq_no, large_message_size=len(message) if seq_no == 0 else None,
                            chunk=piece).encode()
        acks.append(ChunkSendAck.decode(link.send(request)))
    return acks


def test_a_large_request_by_chunk_send_is_answered_in_the_last_ack(device: DeviceModel) -> None:
    link = chunked_link(device)
    acks = send_large(link, _vendor(600))
    assert [a.chunk_seq_no for a in acks] == list(range(len(acks)))
    assert not any(a.has_response for a in acks[:-1]) and acks[-1].has_response
    # no vendor protocol is registered: the reassembled request was processed and refused as such
    inner = ErrorResponse.decode(acks[-1].response)
    assert inner.error_code == SpdmErrorCode.UNSUPPORTED_REQUEST


def _vendor(size: int) -> bytes:
    return VendorDefinedRequest(spdm_version=V13, standard_id=3, vendor_id=b"\x01\x00",
                                payload=bytes(size)).encode()


@pytest.mark.parametrize("break_at", ["seq", "handle", "size", "last-early"])
def test_bad_chunk_send_is_an_early_error(device: DeviceModel, break_at: str) -> None:
    link = chunked_link(device)
    message = _vendor(600)
    pieces = split_message(message, DTS)
    first = ChunkSend(spdm_version=V13, handle=5, large_message_size=len(message), chunk=pieces[0])
    assert not ChunkSendAck.decode(link.send(first.encode())).early_error
    second = ChunkSend(spdm_version=V13, handle=5, chunk_seq_no=1, chunk=pieces[1])
    if break_at == "seq":
        second = ChunkSend(spdm_version=V13, handle=5, chunk_seq_no=2, chunk=pieces[1])
    elif break_at == "handle":
        second = ChunkSend(spdm_version=V13, handle=6, chunk_seq_no=1, chunk=pieces[1])
    elif break_at == "size":
        second = ChunkSend(spdm_version=V13, handle=5, chunk_seq_no=1, chunk=pieces[1] + b"x" * 8)
    else:
        second = ChunkSend(spdm_version=V13, attributes=CHUNK_LAST, handle=5, chunk_seq_no=1, chunk=pieces[1])
    ack = ChunkSendAck.decode(link.send(second.encode()))
    assert ack.early_error and ack.response[1] == ResponseCode.ERROR
    # a chunk beyond our DataTransferSize is RequestTooLarge (tests/spdm/test_chunk_errors.py)
    expected = SpdmErrorCode.REQUEST_TOO_LARGE if break_at == "size" else INVALID
    assert ErrorResponse.decode(ack.response).error_code == expected
    # the large request is gone: its next chunk has no first chunk
    third = ChunkSend(spdm_version=V13, handle=5, chunk_seq_no=2, chunk=pieces[2])
    assert ChunkSendAck.decode(link.send(third.encode())).early_error


def test_chunk_send_beyond_our_limit_is_an_early_error(device: DeviceModel) -> None:
    link = chunked_link(device)
    first = ChunkSend(spdm_version=V13, handle=0, large_message_size=0x10001, chunk=bytes(DTS - 16))
    assert ChunkSendAck.decode(link.send(first.encode())).early_error
