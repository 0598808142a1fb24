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

Decisions where DSP0274 leaves room, following libspdm where it has an answer:

* Handles count per connection: a new large response takes the next handle
  and a completed one advances it again (libspdm's 1, 3, 5... in the chunking
  capture), so a replayed capture's CHUNK_GETs name the handles we give.
* CHUNK_GET or CHUNK_SEND while the requester did not set CHUNK_CAP (or
  before 1.2) is UnexpectedRequest (libspdm).
* A request larger than our DataTransferSize that does not come by CHUNK_SEND
  is RequestTooLarge once CAPABILITIES (1.2+) told the requester that size
  (:func:`check_request_size`): the ERROR whose name says what happened
  (libspdm's responder has no such check: its transport buffer drops it).
  Up to three zero bytes past the limit are taken as DOE padding.
* CHUNK_GET with no large response pending is UnexpectedRequest; a wrong
  handle or ChunkSeqNo InvalidRequest, and the large response stays (libspdm).
* A CHUNK_SEND that breaks the sequence is acknowledged with EarlyErrorDetected
  and an ERROR inside the ACK, and the large request is dropped (libspdm): a
  chunk larger than our DataTransferSize, or a LargeMessageSize beyond our
  MaxSPDMmsgSize (or :data:`~spdm.messages.chunk.MAX_LARGE_MESSAGE_SIZE`),
  carries RequestTooLarge (DSP0274's code for a request beyond the
  responder's MaxSPDMmsgSize; libspdm says InvalidRequest); every other break
  (ChunkSeqNo out of order, another handle, LastChunk early or missing, an
  empty chunk, bytes beyond LargeMessageSize, a ChunkSeqNo 0 while a large
  request is in progress, a next chunk with none in progress) InvalidRequest.
  A CHUNK_SEND that does not decode is a plain ERROR InvalidRequest like any
  undecodable request; the large request in progress stays (the chunk may
  come again).
* A reassembled CHUNK_SEND or CHUNK_GET (chunks within chunks) is answered
  InvalidRequest inside the last ACK (libspdm).
* A transfer belongs to the channel it started on (in the clear, or one
  session).  Only requests on that channel end it: any request there but
  CHUNK_GET abandons a pending large response, any but CHUNK_SEND a large
  request being reassembled (libspdm drops both the same way).  A CHUNK_GET
  on another channel finds nothing pending (UnexpectedRequest), so nobody
  reads in the clear a response computed inside a session (the hole
  RESPOND_IF_READY had, fuzz finding 15).  The device reassembles one large
  request at a time: a CHUNK_SEND ChunkSeqNo 0 on another channel while one
  is in progress is answered ERROR Busy (the device cannot take a second
  one now; the requester retries) and any later chunk there is an early
  error; neither disturbs the transfer in progress.  Nothing else makes the
  device Busy: it answers every chunk at once.
* When the response to a large request does not fit the last
  CHUNK_SEND_ACK within the requester's DataTransferSize, the ACK carries
  ERROR(LargeResponse) and the response comes by CHUNK_GET.  (libspdm then
  answers a bare ERROR(LargeResponse) instead of the ACK; our requester
  takes both.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field

from ..errors import ProtocolError, RemoteProtocolError, SpdmErrorCode
from ..messages import ChunkGet, ChunkResponse, ChunkSend, ChunkSendAck, ErrorResponse
from ..messages.chunk import (
    CHUNK_ACK_EARLY_ERROR,
    CHUNK_LAST,
    MAX_LARGE_MESSAGE_SIZE,
    ChunkAssembly,
    chunk_header_size,
)
from ..messages.codes import RequestCode, ResponseCode, SpdmVersion
from ..record import record
from ..session import Session
from ._connection import Connection, invalid_request, unsupported_request

__all__ = ["ChunkContext", "check_request_size", "chunk_get", "chunk_send", "large_response"]

_DOE_PAD = 3
"""Zero bytes a DOE object may add after a message to reach a whole dword."""


@record
class _LargeResponse:
    """A response waiting to be fetched by CHUNK_GET on ``channel`` (None: in the clear)."""

    handle: int
    data: bytes = field(repr=False)
    channel: Session | None = field(repr=False)
    sent: int = 0
    next_seq_no: int = 0


@record
class _LargeRequest:
    """A request being reassembled from the CHUNK_SENDs of ``channel`` (None: in the clear)."""

    assembly: ChunkAssembly = field(repr=False)
    channel: Session | None = field(repr=False)


@record
class ChunkContext:
    """One connection's chunk transfers in progress: at most one each way.

    Attributes:
        answer: processes one whole request and returns its response (or ERROR):
            the responder's own dispatch, for a reassembled large request.
        get_handle: the handle the next large response takes (minus one).
        pending: the large response waiting for CHUNK_GET.
        send: the large request being reassembled.
    """

    answer: Callable[[bytes], bytes]
    get_handle: int = 0
    pending: _LargeResponse | None = None
    send: _LargeRequest | None = None

    def request_arrived(self, code: int, channel: Session | None) -> None:
        """A request (not RESPOND_IF_READY) came on ``channel``: drop the transfers it ends.

        GET_VERSION ends every transfer (the connection starts over); on the
        transfer's own channel any request but CHUNK_GET ends a pending large
        response and any but CHUNK_SEND a large request; requests on other
        channels leave them alone.
        """
        pending, send = self.pending, self.send
        if pending is None and send is None:
            return  # nothing in flight (asked on every request)
        restart = code == RequestCode.GET_VERSION
        if pending is not None and (restart or pending.channel is channel and code != RequestCode.CHUNK_GET):
            self.drop_pending()
        if send is not None and (restart or send.channel is channel and code != RequestCode.CHUNK_SEND):
            self.send = None

    def drop_pending(self) -> None:
        """A large response is done with (fetched or abandoned): the next one takes a new handle."""
        self.pending = None
        self.get_handle = (self.get_handle + 1) & 0xFF


def _context(conn: Connection, code: RequestCode) -> ChunkContext:
    """The connection's transfers, once both sides set CHUNK_CAP (else UnexpectedRequest, as libspdm)."""
    if conn.chunks is None:
        raise unsupported_request(code, "chunking is not set up on this connection")
    if not conn.chunking:
        raise RemoteProtocolError(f"{code.name} but the requester did not set CHUNK_CAP",
                                  error_code=SpdmErrorCode.UNEXPECTED_REQUEST)
    return conn.chunks


def check_request_size(conn: Connection, data: bytes) -> None:
    """Refuse a request beyond our DataTransferSize that did not come by CHUNK_SEND (1.2+).

    Raises:
        RemoteProtocolError: RequestTooLarge.
    """
    limit = conn.config.data_transfer_size
    if conn.version is None or len(data) <= limit or conn.version < SpdmVersion.V12:
        return  # (the length first: it is the cheap test, and asked on every request)
    if data[1] == RequestCode.CHUNK_SEND:
        return  # judged by chunk_send, which answers in an ACK
    if len(data) - limit <= _DOE_PAD and not any(data[limit:]):
        return  # DOE padding: the decoder judges the message itself
    raise RemoteProtocolError(
        f"a {len(data)}-byte request exceeds our DataTransferSize {limit} and did not come by CHUNK_SEND",
        error_code=SpdmErrorCode.REQUEST_TOO_LARGE)


def large_response(conn: Connection, response: bytes, limit: int | None = None) -> bytes:
    """``response`` itself when it fits, else ERROR(LargeResponse) and the response kept for CHUNK_GET.

    Only called with chunking in use on both sides (``conn.chunking``); the
    handlers already refused, with ResponseTooLarge, a response beyond what
    chunking can carry.

    Args:
        conn: the connection.
        response: the whole response.
        limit: the room it has (default: the requester's DataTransferSize).
    """
    room = conn.requester_sizes[0] if limit is None else limit
    if len(response) <= room or conn.chunks is None:
        return response
    chunks = conn.chunks
    chunks.get_handle = (chunks.get_handle + 1) & 0xFF
    chunks.pending = _LargeResponse(chunks.get_handle, response, conn.current_session)
    return ErrorResponse(spdm_version=conn.session_version, error_code=SpdmErrorCode.LARGE_RESPONSE,
                         extended_data=bytes([chunks.get_handle])).encode()


def chunk_get(conn: Connection, request: ChunkGet) -> bytes:
    """Serve the next chunk of the pending large response.

    Raises:
        RemoteProtocolError: UnexpectedRequest without chunking or with nothing
            pending on this channel, InvalidRequest for another handle or ChunkSeqNo.
    """
    chunks = _context(conn, RequestCode.CHUNK_GET)
    pending = chunks.pending
    if pending is None or pending.channel is not conn.current_session:
        raise RemoteProtocolError(
            "CHUNK_GET with no large response pending "
            + ("in the clear" if conn.current_session is None else "in this session"),
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
        chunks.drop_pending()
    return response


def chunk_send(conn: Connection, request: ChunkSend) -> bytes:
    """Take one chunk of a large request; with the last, answer the whole request in the ACK.

    Raises:
        RemoteProtocolError: UnexpectedRequest without chunking; Busy for a new
            large request while another channel's is being reassembled.
    """
    chunks = _context(conn, RequestCode.CHUNK_SEND)
    version = conn.session_version
    channel = conn.current_session
    other = chunks.send is not None and chunks.send.channel is not channel
    if other and request.chunk_seq_no == 0:
        raise RemoteProtocolError("a large request is being reassembled on another channel",
                                  error_code=SpdmErrorCode.BUSY)
    try:
        if other:
            raise invalid_request(f"CHUNK_SEND ChunkSeqNo {request.chunk_seq_no} without a first chunk "
                                  "on this channel")
        whole = _take(conn, chunks, request)
    except ProtocolError as exc:
        if not other:
            chunks.send = None
        error = ErrorResponse(spdm_version=version, error_code=exc.error_code)
        return ChunkSendAck(spdm_version=version, attributes=CHUNK_ACK_EARLY_ERROR, handle=request.handle,
                            chunk_seq_no=request.chunk_seq_no, response=error.encode()).encode()
    ack = ChunkSendAck(spdm_version=version, handle=request.handle, chunk_seq_no=request.chunk_seq_no)
    if whole is None:
        return ack.encode()
    if whole[1] in (RequestCode.CHUNK_SEND, RequestCode.CHUNK_GET):
        response = ErrorResponse(spdm_version=version, error_code=SpdmErrorCode.INVALID_REQUEST).encode()
    else:
        response = chunks.answer(whole)
    head = len(ack.encode())
    if conn.chunking and not _is_large_response(response):
        response = large_response(conn, response, conn.requester_sizes[0] - head)
    return ChunkSendAck(spdm_version=version, handle=request.handle, chunk_seq_no=request.chunk_seq_no,
                        response=response).encode()


def _is_large_response(response: bytes) -> bool:
    return response[1] == ResponseCode.ERROR and response[2] == SpdmErrorCode.LARGE_RESPONSE


def _take(conn: Connection, chunks: ChunkContext, request: ChunkSend) -> bytes | None:
    """Add a chunk to the large request; the whole request once complete."""
    ours = conn.config.data_transfer_size
    if len(request.raw) > ours:
        raise RemoteProtocolError(f"a {len(request.raw)}-byte chunk exceeds our DataTransferSize {ours}",
                                  error_code=SpdmErrorCode.REQUEST_TOO_LARGE)
    if request.chunk_seq_no == 0:
        if chunks.send is not None:
            raise invalid_request("CHUNK_SEND ChunkSeqNo 0 while a large request is in progress")
        limit = min(conn.config.max_spdm_msg_size, MAX_LARGE_MESSAGE_SIZE)
        size = request.large_message_size
        if size is not None and size > limit:
            raise RemoteProtocolError(f"LargeMessageSize {size} exceeds our MaxSPDMmsgSize {limit}",
                                      error_code=SpdmErrorCode.REQUEST_TOO_LARGE)
        assembly = ChunkAssembly(request.handle, size, request.chunk, last=request.last, max_size=limit)
        chunks.send = _LargeRequest(assembly, conn.current_session)
        return None
    if chunks.send is None:
        raise invalid_request(f"CHUNK_SEND ChunkSeqNo {request.chunk_seq_no} without a first chunk")
    whole = chunks.send.assembly.add(request.handle, request.chunk_seq_no, request.chunk, last=request.last)
    if whole is not None:
        chunks.send = None
    return whole
