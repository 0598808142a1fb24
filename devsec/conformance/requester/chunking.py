"""Chunking cases, requester side (SPDM 1.2+ CHUNK_GET / CHUNK_SEND): large messages in pieces.

A requester whose DataTransferSize is smaller than a response fetches it by
CHUNK_GET after ERROR LargeResponse; one whose request is larger than the
device's DataTransferSize sends it by CHUNK_SEND (``devsec connect
--data-transfer-size 0x100 --max-spdm-msg-size 0x10000`` does the first,
``devsec provision install`` to the small-transfer device of
``requester.chunk.send`` the second).  A requester that never chunks has the
cases skipped, saying so.  :func:`whole_requests` reassembles what a
requester sent in chunks, for the cases that judge the large request itself.

Decision: a requester may not abandon a large response half-fetched and
report success; it must ask for ChunkSeqNo 0, 1, 2... with the device's
Handle up to the chunk marked last (DSP0274 1.3 §10.18 leaves no other way
to obtain the response).
"""

from __future__ import annotations

from collections.abc import Iterator

from spdm.backend import ResponderBackend
from spdm.config import ResponderConfig
from spdm.device import DeviceModel
from spdm.errors import DecodeError, SpdmErrorCode
from spdm.messages import ChunkResponse, ChunkSend, ChunkSendAck, ErrorResponse
from spdm.messages.codes import CapabilityFlags, RequestCode, ResponseCode

from ..context import Exchange
from .adversarial import Rewrite, refused_once_reached
from .blank_device import provisionable
from .context import RequesterContext, RequesterRun
from .registry import case

__all__ = ["SMALL_TRANSFER_SIZE", "chunk_get", "chunk_send", "oversize_large_message", "short_message",
           "whole_requests", "wrong_handle"]
"""The case judges (registered with :func:`.registry.case`; run them through the runner)."""

SMALL_TRANSFER_SIZE = 0x200
"""The DataTransferSize of ``requester.chunk.send``'s device: a certificate chain does not fit it."""

DOE_PAD = 3
"""A recorded request is its DOE payload, padded to whole dwords: up to 3 bytes past the message."""

_LARGE_MESSAGE_SIZE = 12
"""CHUNK_RESPONSE: header (4), ChunkSeqNo + Reserved (4), ChunkSize (4), LargeMessageSize (4) at 12."""


def whole_requests(run: RequesterRun) -> Iterator[Exchange]:
    """Each request the requester sent, a chunked one reassembled and paired with the response the
    last CHUNK_SEND_ACK carried (ResponseToLargeRequest).

    A CHUNK_SEND sequence that does not decode or add up is yielded as its
    chunks (the cases about chunking judge it; these see the pieces).
    """
    pending: list[Exchange] = []
    parts: list[bytes] = []
    for exchange in run.exchanges:
        if exchange.request[1:2] != bytes([RequestCode.CHUNK_SEND]):
            yield exchange
            continue
        try:
            chunk = ChunkSend.decode(exchange.request, padded=True)
        except DecodeError:
            yield exchange
            continue
        if chunk.chunk_seq_no == 0:
            yield from pending
            pending, parts = [], []
        pending.append(exchange)
        parts.append(chunk.chunk)
        if chunk.last:
            yield Exchange(b"".join(parts), _large_response(exchange.response), exchange.session_id)
            pending, parts = [], []
    yield from pending


def _large_response(ack: bytes) -> bytes:
    """The ResponseToLargeRequest of the last CHUNK_SEND_ACK (the ACK itself when it carries none)."""
    try:
        decoded = ChunkSendAck.decode(ack, padded=True)
    except DecodeError:
        return ack
    return decoded.response if decoded.has_response else ack


def _chunk_cap(run: RequesterRun) -> bool:
    caps = run.requests(RequestCode.GET_CAPABILITIES)
    return bool(caps) and len(caps[-1].request) >= 12 \
        and bool(int.from_bytes(caps[-1].request[8:12], "little") & CapabilityFlags.CHUNK_CAP)


def _small_device(config: ResponderConfig, model: DeviceModel) -> tuple[ResponderConfig, ResponderBackend]:
    return provisionable(config, model, transfer_size=SMALL_TRANSFER_SIZE)


@case("requester.chunk.send", "A request larger than the device's DataTransferSize (512 here) goes by "
      "CHUNK_SEND: every request fits it, chunks run 0, 1, 2... under one Handle, the first gives "
      "LargeMessageSize, the last is marked, and the requester set CHUNK_CAP",
      "DSP0274 1.3 §10.4 Table 11, §10.17 Tables 84-87", device=_small_device)
def chunk_send(ctx: RequesterContext) -> None:
    """A requester that gives up on a request it cannot send (no CHUNK_CAP of its own, say) has the
    case skipped: it sent nothing too large, and chunking is optional to it."""
    judged = False
    for run in ctx.runs:
        chunks = run.requests(RequestCode.CHUNK_SEND)
        oversized = [e for e in run.clear if len(e.request) > SMALL_TRANSFER_SIZE + DOE_PAD]
        if not chunks and not oversized:
            continue
        judged = True
        ctx.succeeded(run)
        for exchange in run.clear:
            ctx.check("the request fits the device's DataTransferSize", len(exchange.request)
                      <= SMALL_TRANSFER_SIZE + DOE_PAD, expected=f"<= {SMALL_TRANSFER_SIZE} bytes",
                      actual=f"{len(exchange.request)} bytes", exchange=exchange)
        if chunks:
            ctx.check("the requester set CHUNK_CAP", _chunk_cap(run),
                      expected="CHUNK_CAP in GET_CAPABILITIES", actual="no CHUNK_CAP", exchange=chunks[0])
            _judge_sequence(ctx, chunks)
    if not judged:
        ctx.skip("the requester never sent a request larger than the device's DataTransferSize, whole or "
                 f"in chunks ({ctx.runs[-1].status_text}: {ctx.runs[-1].output})")


def _judge_sequence(ctx: RequesterContext, chunks: list[Exchange]) -> None:
    expected_seq, handle, total, size = 0, None, 0, None
    for exchange in chunks:
        try:
            chunk = ChunkSend.decode(exchange.request, padded=True)
        except DecodeError as exc:
            ctx.check("CHUNK_SEND is well formed", False, expected="its ChunkSize matches",
                      actual=str(exc), exchange=exchange)
            return
        if chunk.chunk_seq_no == 0:
            handle, total, size, expected_seq = chunk.handle, 0, chunk.large_message_size, 0
        ctx.equal("CHUNK_SEND carries the next ChunkSeqNo", expected_seq, chunk.chunk_seq_no,
                  exchange=exchange)
        ctx.equal("CHUNK_SEND keeps the large request's Handle", handle, chunk.handle, exchange=exchange)
        total += len(chunk.chunk)
        expected_seq += 1
        if chunk.last:
            ctx.equal("the chunks add up to LargeMessageSize", size, total, exchange=exchange)
            ctx.check("a chunked request is larger than the DataTransferSize",
                      (size or 0) > SMALL_TRANSFER_SIZE, expected=f"> {SMALL_TRANSFER_SIZE}", actual=size,
                      exchange=exchange)
            handle, size = None, None
    ctx.check("the last CHUNK_SEND is marked LastChunk", handle is None, expected="a last chunk",
              actual="a sequence left open", exchange=chunks[-1])


def _large_response_handle(exchange: Exchange) -> int | None:
    if exchange.response[1:2] != bytes([ResponseCode.ERROR]):
        return None
    try:
        return ErrorResponse.decode(exchange.response, padded=True).large_response_handle
    except DecodeError:
        return None


@case("requester.chunk.get", "A response announced by ERROR LargeResponse is fetched by CHUNK_GET with "
      "its Handle, ChunkSeqNo 0, 1, 2... up to the chunk marked last", "DSP0274 1.3 §10.18 Tables 88-90")
def chunk_get(ctx: RequesterContext) -> None:
    judged = False
    for run in ctx.runs:
        ctx.succeeded(run)
        exchanges = [e for e in run.exchanges if e.request[1:2] != bytes([RequestCode.RESPOND_IF_READY])]
        for index, exchange in enumerate(exchanges):
            handle = _large_response_handle(exchange)
            if handle is None or exchange.request[1:2] == bytes([RequestCode.CHUNK_GET]):
                continue
            judged = True
            _judge_fetch(ctx, handle, exchange, exchanges[index + 1:])
    if not judged:
        ctx.skip(f"the requester never sent CHUNK_GET: it got no ERROR {SpdmErrorCode.LARGE_RESPONSE.name} "
                 "(a DataTransferSize that holds every response)")


def _judge_fetch(ctx: RequesterContext, handle: int, announced: Exchange, following: list[Exchange]) -> None:
    seq_no = 0
    for exchange in following:
        if (exchange.request[1:2] != bytes([RequestCode.CHUNK_GET])
                or exchange.session_id != announced.session_id):
            break
        ctx.equal("CHUNK_GET names the LargeResponse Handle", handle, exchange.request[3], exchange=exchange)
        asked = int.from_bytes(exchange.request[4:6], "little")
        ctx.equal("CHUNK_GET asks for the next ChunkSeqNo", seq_no, asked, exchange=exchange)
        seq_no += 1
        try:
            if ChunkResponse.decode(exchange.response, padded=True).last:
                return
        except DecodeError:
            return  # the device refused the CHUNK_GET: another rule broken, judged above
    ctx.check("the requester fetches every chunk, to the one marked last", False,
              expected="CHUNK_GET up to LastChunk", actual=f"{seq_no} chunk(s), then stopped",
              exchange=following[seq_no - 1] if seq_no else announced)


def _first_chunk(request: bytes, response: bytes) -> bool:
    return int.from_bytes(request[4:6], "little") == 0


def _other_handle(request: bytes, response: bytes) -> bytes:
    return response[:3] + bytes([response[3] ^ 0x01]) + response[4:]


def _huge_large_message(request: bytes, response: bytes) -> bytes:
    end = _LARGE_MESSAGE_SIZE + 4
    return response[:_LARGE_MESSAGE_SIZE] + (0xFFFF_FFF0).to_bytes(4, "little") + response[end:]


@case("requester.chunk.wrong-handle", "A CHUNK_RESPONSE carrying another Handle than the CHUNK_GET's "
      "is refused", "DSP0274 1.3 §10.18 Tables 88-90",
      misbehaviour=lambda: Rewrite(RequestCode.CHUNK_GET, _other_handle, _first_chunk))
def wrong_handle(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "a chunk of another Handle came back", "CHUNK_GET")


def _large_message_overstated(request: bytes, response: bytes) -> bytes:
    size = int.from_bytes(response[_LARGE_MESSAGE_SIZE:_LARGE_MESSAGE_SIZE + 4], "little") + 16
    return response[:_LARGE_MESSAGE_SIZE] + size.to_bytes(4, "little") + response[_LARGE_MESSAGE_SIZE + 4:]


@case("requester.chunk.short-message", "Chunks that end (LastChunk) 16 bytes short of the first "
      "CHUNK_RESPONSE's LargeMessageSize are refused", "DSP0274 1.3 §10.18 Tables 88-90",
      misbehaviour=lambda: Rewrite(RequestCode.CHUNK_GET, _large_message_overstated, _first_chunk))
def short_message(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "the chunks add up to less than LargeMessageSize", "CHUNK_GET")


@case("requester.chunk.oversize-large-message", "A first CHUNK_RESPONSE whose LargeMessageSize "
      "(0xFFFFFFF0) exceeds the requester's MaxSPDMmsgSize is refused", "DSP0274 1.3 §10.4 Table 11, "
      "§10.18 Table 90", misbehaviour=lambda: Rewrite(RequestCode.CHUNK_GET, _huge_large_message,
                                                      _first_chunk))
def oversize_large_message(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "LargeMessageSize is beyond any MaxSPDMmsgSize", "CHUNK_GET")
