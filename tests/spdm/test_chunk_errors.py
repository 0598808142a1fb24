"""Every bad chunk sequence gets the error spdm.responder.chunk decides, and leaves the device usable.

One test per refusal: a request beyond the DataTransferSize that does not
come by CHUNK_SEND (RequestTooLarge), chunking without the requester's
CHUNK_CAP (UnexpectedRequest), a CHUNK_SEND beyond the DataTransferSize or
announcing a LargeMessageSize beyond the MaxSPDMmsgSize (EarlyErrorDetected
with RequestTooLarge), each break of the sequence (EarlyErrorDetected with
InvalidRequest), chunks within chunks, a response that does not fit the last
ACK, and transfers that belong to their channel (the clear or one session).
"""

from __future__ import annotations

import pytest

from spdm.device import DeviceModel
from spdm.errors import SpdmErrorCode
from spdm.messages import (
    ChunkGet,
    ChunkResponse,
    ChunkSend,
    ChunkSendAck,
    ErrorResponse,
    GetDigests,
    VendorDefinedRequest,
    VendorDefinedResponse,
)
from spdm.messages.chunk import CHUNK_LAST, split_message
from spdm.messages.codes import CapabilityFlags, ResponseCode, SpdmVersion
from tests.spdm.test_responder import CMA_CAPS, P256, REQ_FLAGS, Link, connect, expect_error, make_config

V13 = SpdmVersion.V13
DTS = 0x100
MAX = 0x1000
CHUNK = CapabilityFlags.CHUNK_CAP
INVALID = SpdmErrorCode.INVALID_REQUEST
TOO_LARGE = SpdmErrorCode.REQUEST_TOO_LARGE
PCI_SIG = (3, b"\x01\x00")


@pytest.fixture(scope="module")
def device() -> DeviceModel:
    return DeviceModel.generate(P256, slots=(0,))


def link_for(device: DeviceModel, *, requester_chunks: bool = True, version: int = V13) -> Link:
    config = make_config(capabilities=CMA_CAPS | CHUNK, data_transfer_size=DTS, max_spdm_msg_size=MAX)
    link = connect(device, version, config, flags=REQ_FLAGS | (CHUNK if requester_chunks else 0), dts=DTS,
                   max_size=MAX if requester_chunks else DTS)
    link.responder.register_vendor_handler(*PCI_SIG, lambda payload, _: payload[::-1])
    return link


def vendor(size: int, version: int = V13) -> bytes:
    return VendorDefinedRequest(spdm_version=version, standard_id=PCI_SIG[0], vendor_id=PCI_SIG[1],
                                payload=bytes(range(256)) * (size // 256) + bytes(size % 256)).encode()


def chunk_send(seq_no: int, chunk: bytes, *, handle: int = 1, size: int | None = None,
               last: bool = False) -> bytes:
    return ChunkSend(spdm_version=V13, attributes=CHUNK_LAST if last else 0, handle=handle,
                     chunk_seq_no=seq_no, large_message_size=size if seq_no == 0 else None,
                     chunk=chunk).encode()


def early_error(link: Link, request: bytes) -> SpdmErrorCode:
    """Send a CHUNK_SEND that must be refused with EarlyErrorDetected; the ERROR code it carries."""
    ack = ChunkSendAck.decode(link.send(request))
    assert ack.early_error and ack.response[1] == ResponseCode.ERROR, ack
    return SpdmErrorCode(ErrorResponse.decode(ack.response).error_code)


def send_whole(link: Link, message: bytes, *, handle: int = 1) -> ChunkSendAck:
    """Send ``message`` by CHUNK_SEND; the last ACK."""
    pieces = split_message(message, DTS)
    ack = None
    for seq_no, piece in enumerate(pieces):
        ack = ChunkSendAck.decode(link.send(chunk_send(seq_no, piece, handle=handle, size=len(message),
                                                       last=seq_no == len(pieces) - 1)))
        assert not ack.early_error, ack
    assert ack is not None
    return ack


# --- requests too large ----------------------------------------------------------------------------


@pytest.mark.parametrize("requester_chunks", [True, False], ids=["chunking", "no-chunk-cap"])
def test_an_unchunked_request_beyond_the_data_transfer_size_is_request_too_large(
        device: DeviceModel, requester_chunks: bool) -> None:
    link = link_for(device, requester_chunks=requester_chunks)
    expect_error(link, vendor(DTS), TOO_LARGE)
    # a request of exactly the DataTransferSize (plus DOE padding) is taken
    request = vendor(DTS - 11)
    assert len(request) == DTS
    assert VendorDefinedResponse.decode(link.send(request + bytes(3))).payload[-1] == 0


def test_before_1_2_no_data_transfer_size_was_announced(device: DeviceModel) -> None:
    config = make_config(data_transfer_size=DTS, max_spdm_msg_size=MAX)
    link = connect(device, SpdmVersion.V11, config)
    link.responder.register_vendor_handler(*PCI_SIG, lambda payload, _: payload[::-1])
    response = link.send(vendor(DTS, SpdmVersion.V11))
    assert response[1] == ResponseCode.VENDOR_DEFINED_RESPONSE


def test_a_large_message_size_beyond_our_max_spdm_msg_size_is_request_too_large(device: DeviceModel) -> None:
    link = link_for(device)
    assert early_error(link, chunk_send(0, bytes(DTS - 16), size=MAX + 1)) == TOO_LARGE
    # exactly the MaxSPDMmsgSize is taken
    assert not ChunkSendAck.decode(link.send(chunk_send(0, bytes(DTS - 16), size=MAX))).early_error


def test_a_chunk_beyond_our_data_transfer_size_is_request_too_large(device: DeviceModel) -> None:
    link = link_for(device)
    assert early_error(link, chunk_send(0, bytes(DTS - 15), size=600)) == TOO_LARGE


# --- chunking not agreed -----------------------------------------------------------------------------


@pytest.mark.parametrize("request_bytes", [
    ChunkGet(spdm_version=V13, handle=1).encode(),
    chunk_send(0, bytes(DTS - 16), size=600),
], ids=["CHUNK_GET", "CHUNK_SEND"])
def test_chunks_from_a_requester_without_chunk_cap_are_unexpected(device: DeviceModel,
                                                                  request_bytes: bytes) -> None:
    link = link_for(device, requester_chunks=False)
    expect_error(link, request_bytes, SpdmErrorCode.UNEXPECTED_REQUEST)


# --- breaks of the sequence ------------------------------------------------------------------------

MESSAGE = vendor(600)
PIECES = split_message(MESSAGE, DTS)


def started(device: DeviceModel) -> Link:
    """A link whose large request has its first chunk taken."""
    link = link_for(device)
    assert not ChunkSendAck.decode(link.send(chunk_send(0, PIECES[0], size=len(MESSAGE)))).early_error
    return link


@pytest.mark.parametrize(("name", "request_bytes"), [
    ("ChunkSeqNo skipped", chunk_send(2, PIECES[1])),
    ("ChunkSeqNo repeated", chunk_send(0, PIECES[0], size=len(MESSAGE))),
    ("another handle", chunk_send(1, PIECES[1], handle=2)),
    ("a second large request started", chunk_send(0, PIECES[0], handle=2, size=len(MESSAGE))),
    ("LastChunk early", chunk_send(1, PIECES[1], last=True)),
    ("an empty chunk", chunk_send(1, b"")),
], ids=lambda value: value if isinstance(value, str) else "")
def test_a_break_of_the_sequence_is_an_early_invalid_request(device: DeviceModel, name: str,
                                                            request_bytes: bytes) -> None:
    link = started(device)
    assert early_error(link, request_bytes) == INVALID, name
    # the large request is gone: its next chunk has no first chunk
    assert early_error(link, chunk_send(1, PIECES[1])) == INVALID
    # and a new one goes through
    assert send_whole(link, MESSAGE, handle=3).has_response


def test_bytes_beyond_the_large_message_size_are_an_early_invalid_request(device: DeviceModel) -> None:
    link = link_for(device)
    assert not ChunkSendAck.decode(link.send(chunk_send(0, PIECES[0], size=300))).early_error
    assert early_error(link, chunk_send(1, PIECES[1][:100], last=True)) == INVALID


def test_last_chunk_missing_at_the_end_is_an_early_invalid_request(device: DeviceModel) -> None:
    link = started(device)
    for seq_no, piece in enumerate(PIECES[1:-1], start=1):
        assert not ChunkSendAck.decode(link.send(chunk_send(seq_no, piece))).early_error
    assert early_error(link, chunk_send(len(PIECES) - 1, PIECES[-1])) == INVALID


def test_a_next_chunk_without_a_first_is_an_early_invalid_request(device: DeviceModel) -> None:
    assert early_error(link_for(device), chunk_send(1, PIECES[1])) == INVALID


@pytest.mark.parametrize("other", [GetDigests(spdm_version=V13).encode(),
                                   ChunkGet(spdm_version=V13).encode()], ids=["GET_DIGESTS", "CHUNK_GET"])
def test_another_request_abandons_the_large_request(device: DeviceModel, other: bytes) -> None:
    link = started(device)
    link.send(other)
    assert early_error(link, chunk_send(1, PIECES[1])) == INVALID


def test_an_undecodable_chunk_is_invalid_request_and_the_transfer_stays(device: DeviceModel) -> None:
    link = started(device)
    expect_error(link, chunk_send(1, PIECES[1])[:-1], INVALID)
    assert send_whole_from(link, 1).has_response


def send_whole_from(link: Link, first: int) -> ChunkSendAck:
    ack = None
    for seq_no in range(first, len(PIECES)):
        last = seq_no == len(PIECES) - 1
        ack = ChunkSendAck.decode(link.send(chunk_send(seq_no, PIECES[seq_no], last=last)))
        assert not ack.early_error
    assert ack is not None
    return ack


@pytest.mark.parametrize("inner", [ChunkGet(spdm_version=V13, handle=1).encode() + bytes(DTS),
                                   chunk_send(0, bytes(DTS), size=DTS + 10)], ids=["CHUNK_GET", "CHUNK_SEND"])
def test_chunks_within_chunks_are_invalid_request_in_the_last_ack(device: DeviceModel, inner: bytes) -> None:
    ack = send_whole(link_for(device), inner)
    assert ErrorResponse.decode(ack.response).error_code == INVALID


# --- the response to a large request --------------------------------------------------------------


def test_a_response_that_does_not_fit_the_last_ack_comes_by_chunk_get(device: DeviceModel) -> None:
    link = link_for(device)
    # a VENDOR_DEFINED_RESPONSE that fits the requester's DataTransferSize alone but not inside the ACK
    header = len(VendorDefinedResponse(spdm_version=V13, standard_id=3, vendor_id=b"\x01\x00").encode())
    fitting = DTS - header - 2
    link.responder.register_vendor_handler(*PCI_SIG, lambda payload, _: payload[:fitting])
    request = vendor(600)
    ack = send_whole(link, request)
    error = ErrorResponse.decode(ack.response)
    assert error.error_code == SpdmErrorCode.LARGE_RESPONSE and error.large_response_handle is not None
    whole = b""
    for seq_no in range(10):
        chunk = ChunkResponse.decode(link.send(ChunkGet(spdm_version=V13, handle=error.large_response_handle,
                                                        chunk_seq_no=seq_no).encode()))
        whole += chunk.chunk
        if chunk.last:
            break
    assert len(whole) == DTS - 2
    sent = VendorDefinedRequest.decode(request).payload
    assert VendorDefinedResponse.decode(whole).payload == sent[:fitting]
