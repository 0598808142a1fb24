"""The requester's side of chunking (DSP0274 1.2+ §10.17-10.18): CHUNK_GET and CHUNK_SEND.

When both sides set CHUNK_CAP, a response the responder announces with
ERROR(LargeResponse, Handle) is fetched here chunk by chunk, and a request
larger than the responder's DataTransferSize is sent here chunk by chunk; the
core then handles the reassembled response exactly as if it had come whole,
so the transcripts hold the large messages and never a chunk.

Both transfers are bounded: the reassembly by
:class:`spdm.messages.chunk.ChunkAssembly` (our MaxSPDMmsgSize and
:data:`~spdm.messages.chunk.MAX_LARGE_MESSAGE_SIZE`, at most
:data:`~spdm.messages.chunk.MAX_CHUNK_COUNT` chunks), the sending by the
request's own size, and every CHUNK_RESPONSE / CHUNK_SEND_ACK by our own
DataTransferSize.  Whatever a responder gets wrong is a
:class:`~spdm.errors.RemoteProtocolError` (a :class:`~spdm.errors.DecodeError`
for bytes that do not decode): another message or SPDM version, another
Handle or ChunkSeqNo than asked for, a message beyond our DataTransferSize,
a LargeMessageSize beyond our MaxSPDMmsgSize or one that needs no chunking,
LastChunk early or missing, an empty chunk, a response in an ACK before the
last chunk or none after it.

Decisions where DSP0274 leaves room:

* ERROR Busy to a CHUNK_GET or CHUNK_SEND is retried by the core (the same
  chunk request again, within ``RequesterConfig.busy_retries`` for the whole
  request); every other ERROR to a chunk request ends the transfer with a
  RemoteProtocolError.  ResponseNotReady is for a response the responder
  needs time to compute, which no chunk is; where the spec has one, inside
  the last CHUNK_SEND_ACK as the answer to the reassembled request, it is
  that request's answer and the core polls RESPOND_IF_READY for it.
* An ACK with EarlyErrorDetected carries the ERROR that answers the large
  request (libspdm's requester reads it so): :meth:`ChunkSender.take` hands
  it to the core like any ERROR (Busy sends the whole request again, by new
  chunks; the rest end it with :class:`~spdm.events.ErrorResponseReceived`),
  except ERROR(LargeResponse), which cannot answer a request the responder
  dropped.
* The response to the large request may come as ERROR(LargeResponse)
  inside the last ACK (our responder, DSP0274) or, when the ACK would not
  fit our DataTransferSize, as a bare ERROR(LargeResponse) answering the last
  CHUNK_SEND (libspdm's responder); both are taken, and the response is then
  fetched by CHUNK_GET.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import RemoteProtocolError, SpdmErrorCode
from ..messages import ErrorResponse
from ..messages.codes import ResponseCode

if TYPE_CHECKING:
    from ..messages import ChunkResponse, ChunkSendAck
    from ..messages.chunk import ChunkAssembly

__all__ = ["ChunkFetch", "ChunkSender"]


def _is_error(data: bytes) -> bool:
    return len(data) >= 2 and data[1] == ResponseCode.ERROR


def _refuse_error(data: bytes, what: str) -> None:
    if _is_error(data):
        error = ErrorResponse.decode(data, padded=True)
        raise RemoteProtocolError(f"{what} was answered ERROR {error.name}")


def _check(version: int, message: ChunkResponse | ChunkSendAck, receive_limit: int) -> None:
    """The chunk message carries the connection's version and fits our DataTransferSize."""
    name = type(message).__name__
    if message.spdm_version != version:
        raise RemoteProtocolError(f"{name} carries version 0x{message.spdm_version:02x}, "
                                  f"the connection is at 0x{version:02x}")
    if receive_limit and len(message.raw) > receive_limit:
        raise RemoteProtocolError(
            f"a {len(message.raw)}-byte {name} exceeds our DataTransferSize {receive_limit}")


class ChunkFetch:
    """Fetch one large response by CHUNK_GET.

    Args:
        version: the connection's SPDM version.
        handle: the Handle of the ERROR(LargeResponse).
        max_size: the largest response we take (our MaxSPDMmsgSize).
        receive_limit: the largest CHUNK_RESPONSE we take (our DataTransferSize; 0: unchecked).
    """

    def __init__(self, version: int, handle: int, max_size: int, *, receive_limit: int = 0) -> None:
        self._version = version
        self._handle = handle
        self._max_size = max_size
        self._receive_limit = receive_limit
        self._assembly: ChunkAssembly | None = None

    def next_request(self) -> bytes:
        """The CHUNK_GET for the next chunk."""
        from ..messages import ChunkGet
        seq_no = 0 if self._assembly is None else self._assembly.next_seq_no
        return ChunkGet(spdm_version=self._version, handle=self._handle, chunk_seq_no=seq_no).encode()

    def take(self, data: bytes) -> bytes | None:
        """Take a CHUNK_RESPONSE; the whole large response after the last chunk, else None.

        Raises:
            RemoteProtocolError: an ERROR, another message or version, one
                beyond our DataTransferSize, another handle or ChunkSeqNo, or
                a chunk sequence :class:`ChunkAssembly` refuses.
        """
        from ..messages import ChunkResponse
        from ..messages.chunk import ChunkAssembly
        _refuse_error(data, "CHUNK_GET")
        response = ChunkResponse.decode(data, padded=True)
        _check(self._version, response, self._receive_limit)
        if self._assembly is None:
            if response.handle != self._handle or response.chunk_seq_no != 0:
                raise RemoteProtocolError(
                    f"CHUNK_RESPONSE handle {response.handle} ChunkSeqNo {response.chunk_seq_no}, "
                    f"asked for handle {self._handle} ChunkSeqNo 0")
            self._assembly = ChunkAssembly(response.handle, response.large_message_size, response.chunk,
                                           last=response.last, max_size=self._max_size)
            return None
        return self._assembly.add(response.handle, response.chunk_seq_no, response.chunk, last=response.last)


class ChunkSender:
    """Send one large request by CHUNK_SEND and collect the response from the last ACK.

    Args:
        version: the connection's SPDM version.
        handle: the handle this large request takes.
        message: the whole request.
        data_transfer_size: the responder's DataTransferSize.
        receive_limit: the largest CHUNK_SEND_ACK we take (our DataTransferSize; 0: unchecked).
    """

    def __init__(self, version: int, handle: int, message: bytes, data_transfer_size: int, *,
                 receive_limit: int = 0) -> None:
        from ..messages.chunk import split_message
        self._version = version
        self._handle = handle
        self._size = len(message)
        self._pieces = split_message(message, data_transfer_size)
        self._seq_no = 0
        self._receive_limit = receive_limit

    def next_request(self) -> bytes:
        """The CHUNK_SEND carrying the next chunk."""
        from ..messages import ChunkSend
        from ..messages.chunk import CHUNK_LAST
        seq_no = self._seq_no
        last = seq_no == len(self._pieces) - 1
        return ChunkSend(spdm_version=self._version, attributes=CHUNK_LAST if last else 0,
                         handle=self._handle, chunk_seq_no=seq_no,
                         large_message_size=self._size if seq_no == 0 else None,
                         chunk=self._pieces[seq_no]).encode()

    @property
    def _last(self) -> bool:
        return self._seq_no == len(self._pieces) - 1

    def take(self, data: bytes) -> bytes | None:
        """Take the answer to a CHUNK_SEND; the answer to the large request once there is one, else None.

        The answer to the large request is the response in the last ACK, the
        ERROR an ACK with EarlyErrorDetected carries, or a bare
        ERROR(LargeResponse) answering the last chunk.

        Raises:
            RemoteProtocolError: another ERROR or message, another version, an
                ACK beyond our DataTransferSize, another handle or ChunkSeqNo,
                a response before the last chunk or none after it, or an early
                error that carries no ERROR or carries LargeResponse.
        """
        if _is_error(data) and self._last:
            error = ErrorResponse.decode(data, padded=True)
            if error.error_code == SpdmErrorCode.LARGE_RESPONSE:
                return data
        from ..messages import ChunkSendAck
        _refuse_error(data, "CHUNK_SEND")
        ack = ChunkSendAck.decode(data, padded=True)
        _check(self._version, ack, self._receive_limit)
        if (ack.handle, ack.chunk_seq_no) != (self._handle, self._seq_no):
            raise RemoteProtocolError(
                f"CHUNK_SEND_ACK handle {ack.handle} ChunkSeqNo {ack.chunk_seq_no}, "
                f"sent handle {self._handle} ChunkSeqNo {self._seq_no}")
        if ack.early_error:
            return self._early_error(ack)
        if ack.has_response != self._last:
            raise RemoteProtocolError(
                "CHUNK_SEND_ACK " + ("without the response after the last chunk" if self._last
                                     else f"with a response after chunk {self._seq_no}"))
        last = self._last
        self._seq_no += 1
        return ack.response if last else None

    def _early_error(self, ack: ChunkSendAck) -> bytes:
        """The ERROR an ACK with EarlyErrorDetected carries: the answer to the large request."""
        if not _is_error(ack.response):
            raise RemoteProtocolError(f"CHUNK_SEND {self._seq_no}: EarlyErrorDetected without an ERROR")
        error = ErrorResponse.decode(ack.response, padded=True)
        if error.spdm_version != self._version or error.error_code == SpdmErrorCode.LARGE_RESPONSE:
            raise RemoteProtocolError(
                f"CHUNK_SEND {self._seq_no}: EarlyErrorDetected carries ERROR {error.name} "
                f"in version 0x{error.spdm_version:02x}")
        return error.raw
