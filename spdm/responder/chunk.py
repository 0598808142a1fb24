"""The responder's side of chunking (DSP0274 1.2+ §10.17-10.18): CHUNK_GET and CHUNK_SEND.

A response larger than the requester's DataTransferSize (up to its
MaxSPDMmsgSize) is kept here and answered ERROR(LargeResponse, Handle); the
requester then fetches it with CHUNK_GET.  A request larger than our
DataTransferSize arrives by CHUNK_SEND, is reassembled (bounded by
:class:`spdm.messages.chunk.ChunkAssembly`), answered like any request, and
its response rides in the last CHUNK_SEND_ACK.

The handlers compute the large message's response exactly as if it were sent
whole, so the transcripts (B, M, the session TH) hold the large message and
never a chunk; CHUNK_* requests neither enter nor reset a transcript.

Decisions where DSP0274 leaves room, following libspdm:

* Handles count per connection: a new large response takes the next handle
  and a completed one advances it again (libspdm's 1, 3, 5... in the chunking
  capture), so a replayed capture's CHUNK_GETs name the handles we give.
* CHUNK_GET with no large response pending is UnexpectedRequest; a wrong
  handle or ChunkSeqNo InvalidRequest.  Any other request abandons a pending
  large response.
* A CHUNK_SEND that breaks the sequence is acknowledged with EarlyErrorDetected
  and an ERROR InvalidRequest inside the ACK, and the large request is dropped;
  CHUNK_SEND while a large response is pending is UnsupportedRequest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ProtocolError, RemoteProtocolError, SpdmErrorCode
from ..messages import ChunkGet, ChunkResponse, ChunkSend, ChunkSendAck, ErrorResponse
from ..messages.chunk import CHUNK_ACK_EARLY_ERROR, CHUNK_LAST, ChunkAssembly, chunk_header_size
from ..messages.codes import RequestCode
from ._connection import Connection, invalid_request, unsupported_request

__all__ = ["ChunkContext", "chunk_get", "chunk_send", "large_response"]


@dataclass
class _LargeResponse:
    """A response waiting to be fetched by CHUNK_GET."""

    handle: int
    data: bytes = field(repr=False)
    sent: int = 0
    next_seq_no: int = 0


@dataclass
class ChunkContext:
    """One connection's chunk transfers in progress.

    Attributes:
        answer: processes one whole request and returns its response (or ERROR):
            the responder's own dispatch, for a reassembled large request.
        get_handle: the handle the next large response takes (minus one).
    """

    answer: Callable[[bytes], bytes]
    get_handle: int = 0
    pending: _LargeResponse | None = None
    send: ChunkAssembly | None = None

    def abandon(self) -> None:
        """Another request came: a large response not yet fetched is dropped."""
        if self.pending is not None:
            self.pending = None
            self.get_handle = (self.get_handle + 1) & 0xFF


def _context(conn: Connection) -> ChunkContext:
    if conn.chunks is None:
        raise unsupported_request(RequestCode.CHUNK_GET, "chunking is not set up on this connection")
    return conn.chunks


def large_response(conn: Connection, response: bytes) -> bytes:
    """``response`` itself when it fits the requester's DataTransferSize, else ERROR(LargeResponse).

    Only called with chunking in use on both sides (``conn.chunking``); the
    handlers already refused, with ResponseTooLarge, a response beyond what
    chunking can carry.
    """
    limit = conn.requester_sizes[0]
    if len(response) <= limit or conn.chunks is None:
        return response
    chunks = conn.chunks
    chunks.get_handle = (chunks.get_handle + 1) & 0xFF
    chunks.pending = _LargeResponse(chunks.get_handle, response)
    return ErrorResponse(spdm_version=conn.session_version, error_code=SpdmErrorCode.LARGE_RESPONSE,
                         extended_data=bytes([chunks.get_handle])).encode()


def chunk_get(conn: Connection, request: ChunkGet) -> bytes:
    """Serve the next chunk of the pending large response.

    Raises:
        RemoteProtocolError: UnexpectedRequest with nothing pending,
            InvalidRequest for another handle or ChunkSeqNo.
    """
    chunks = _context(conn)
    pending = chunks.pending
    if pending is None:
        raise RemoteProtocolError("CHUNK_GET with no large response pending",
                                  error_code=SpdmErrorCode.UNEXPECTED_REQUEST)
    if request.handle != pending.handle or request.chunk_seq_no != pending.next_seq_no:
        raise invalid_request(
            f"CHUNK_GET handle {request.handle} ChunkSeqNo {request.chunk_seq_no}; pending is handle "
            f"{pending.handle} ChunkSeqNo {pending.next_seq_no}")
    first = pending.next_seq_no == 0
    room = conn.requester_sizes[0] - chunk_header_size(first=first)
    piece = pending.data[pending.sent:pending.sent + room]
    last = pending.sent + len(piece) == len(pending.data)
    response = ChunkResponse(
        spdm_version=conn.session_version, attributes=CHUNK_LAST if last else 0, handle=pending.handle,
        chunk_seq_no=pending.next_seq_no, large_message_size=len(pending.data) if first else None,
        chunk=piece).encode()
    pending.sent += len(piece)
    pending.next_seq_no += 1
    if last:
        chunks.pending = None
        chunks.get_handle = (chunks.get_handle + 1) & 0xFF
    return response


def chunk_send(conn: Connection, request: ChunkSend) -> bytes:
    """Take one chunk of a large request; with the last, answer the whole request in the ACK.

    Raises:
        RemoteProtocolError: UnsupportedRequest while a large response is pending.
    """
    chunks = _context(conn)
    if chunks.pending is not None:
        raise unsupported_request(RequestCode.CHUNK_SEND, "CHUNK_SEND while a large response is pending")
    version = conn.session_version
    try:
        whole = _take(conn, chunks, request)
    except ProtocolError:
        chunks.send = None
        error = ErrorResponse(spdm_version=version, error_code=SpdmErrorCode.INVALID_REQUEST)
        return ChunkSendAck(spdm_version=version, attributes=CHUNK_ACK_EARLY_ERROR, handle=request.handle,
                            chunk_seq_no=request.chunk_seq_no,
                            response=error.encode()).encode()
    response = b"" if whole is None else chunks.answer(whole)
    return ChunkSendAck(spdm_version=version, handle=request.handle, chunk_seq_no=request.chunk_seq_no,
                        response=response).encode()


def _take(conn: Connection, chunks: ChunkContext, request: ChunkSend) -> bytes | None:
    """Add a chunk to the large request; the whole request once complete."""
    ours = conn.config.data_transfer_size
    if len(request.raw) > ours:
        raise invalid_request(f"a {len(request.raw)}-byte chunk exceeds our DataTransferSize {ours}")
    if request.chunk_seq_no == 0:
        chunks.send = None
        chunks.send = ChunkAssembly(request.handle, request.large_message_size, request.chunk,
                                    last=request.last, max_size=conn.config.max_spdm_msg_size)
        return None
    if chunks.send is None:
        raise invalid_request(f"CHUNK_SEND ChunkSeqNo {request.chunk_seq_no} without a first chunk")
    whole = chunks.send.add(request.handle, request.chunk_seq_no, request.chunk, last=request.last)
    if whole is not None:
        chunks.send = None
    return whole
