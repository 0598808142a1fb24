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
request's own size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import RemoteProtocolError
from ..messages import ErrorResponse
from ..messages.codes import ResponseCode

if TYPE_CHECKING:
    from ..messages.chunk import ChunkAssembly

__all__ = ["ChunkFetch", "ChunkSender"]


def _refuse_error(data: bytes, what: str) -> None:
    if len(data) >= 2 and data[1] == ResponseCode.ERROR:
        error = ErrorResponse.decode(data, padded=True)
        raise RemoteProtocolError(f"{what} was answered ERROR {error.name}")


class ChunkFetch:
    """Fetch one large response by CHUNK_GET.

    Args:
        version: the connection's SPDM version.
        handle: the Handle of the ERROR(LargeResponse).
        max_size: the largest response we take (our MaxSPDMmsgSize).
    """

    def __init__(self, version: int, handle: int, max_size: int) -> None:
        self._version = version
        self._handle = handle
        self._max_size = max_size
        self._assembly: ChunkAssembly | None = None

    def next_request(self) -> bytes:
        """The CHUNK_GET for the next chunk."""
        from ..messages import ChunkGet
        seq_no = 0 if self._assembly is None else self._assembly.next_seq_no
        return ChunkGet(spdm_version=self._version, handle=self._handle, chunk_seq_no=seq_no).encode()

    def take(self, data: bytes) -> bytes | None:
        """Take a CHUNK_RESPONSE; the whole large response after the last chunk, else None.

        Raises:
            RemoteProtocolError: an ERROR, another message, another handle or
                ChunkSeqNo, or a chunk sequence :class:`ChunkAssembly` refuses.
        """
        from ..messages import ChunkResponse
        from ..messages.chunk import ChunkAssembly
        _refuse_error(data, "CHUNK_GET")
        response = ChunkResponse.decode(data, padded=True)
        if response.spdm_version != self._version:
            raise RemoteProtocolError(f"CHUNK_RESPONSE carries version 0x{response.spdm_version:02x}")
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
    """

    def __init__(self, version: int, handle: int, message: bytes, data_transfer_size: int) -> None:
        from ..messages.chunk import split_message
        self._version = version
        self._handle = handle
        self._size = len(message)
        self._pieces = split_message(message, data_transfer_size)
        self._seq_no = 0

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

    def take(self, data: bytes) -> bytes | None:
        """Take a CHUNK_SEND_ACK; the response to the large request after the last chunk, else None.

        Raises:
            RemoteProtocolError: an ERROR, EarlyErrorDetected, another handle
                or ChunkSeqNo, a response before the last chunk or none after it.
        """
        from ..messages import ChunkSendAck
        _refuse_error(data, "CHUNK_SEND")
        ack = ChunkSendAck.decode(data, padded=True)
        if ack.early_error:
            inner = ErrorResponse.decode(ack.response, padded=True) if ack.has_response else None
            raise RemoteProtocolError(
                f"CHUNK_SEND {self._seq_no} refused (EarlyErrorDetected"
                + (f", ERROR {inner.name})" if inner is not None else ")"))
        if (ack.handle, ack.chunk_seq_no) != (self._handle, self._seq_no):
            raise RemoteProtocolError(
                f"CHUNK_SEND_ACK handle {ack.handle} ChunkSeqNo {ack.chunk_seq_no}, "
                f"sent handle {self._handle} ChunkSeqNo {self._seq_no}")
        last = self._seq_no == len(self._pieces) - 1
        if ack.has_response != last:
            raise RemoteProtocolError(
                "CHUNK_SEND_ACK " + ("without the response after the last chunk" if last
                                     else f"with a response after chunk {self._seq_no}"))
        self._seq_no += 1
        return ack.response if last else None
