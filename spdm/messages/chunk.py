"""CHUNK_SEND / CHUNK_SEND_ACK and CHUNK_GET / CHUNK_RESPONSE (DSP0274 1.2+ §10.17-10.18).

Chunking carries one SPDM message larger than the peer's DataTransferSize
(but at most its MaxSPDMmsgSize) in pieces: a large *request* goes by
CHUNK_SEND (the responder answers every chunk with CHUNK_SEND_ACK, the last
ACK carrying the response to the reassembled request), a large *response* is
announced by ERROR(LargeResponse, extended data = Handle) and fetched with
CHUNK_GET / CHUNK_RESPONSE.  The first chunk (ChunkSeqNo 0) carries the
4-byte LargeMessageSize before its payload; the last carries the LastChunk
attribute (Param1 bit 0).

Layouts (PROTOCOLS.md §2.2; the chunking capture of libspdm, DataTransferSize
0x200: header 16 bytes in the first chunk, 12 after):

* 1.2/1.3: ``ChunkSeqNo`` u16 followed by 2 reserved bytes (CHUNK_SEND,
  CHUNK_RESPONSE), ``ChunkSeqNo`` u16 alone (CHUNK_GET, CHUNK_SEND_ACK).
* 1.4: ``ChunkSeqNo`` is u32 and takes the reserved bytes' place (spdm-rs reads
  it so; no 1.4 capture of a chunked request is here to confirm CHUNK_SEND).
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from ..codec import Message, declares_structs
from ..errors import LocalProtocolError, RemoteProtocolError
from ..record import record
from .codes import RequestCode, ResponseCode

__all__ = [
    "CHUNK_ACK_EARLY_ERROR",
    "CHUNK_LAST",
    "MAX_CHUNK_COUNT",
    "MAX_LARGE_MESSAGE_SIZE",
    "ChunkAssembly",
    "ChunkGet",
    "ChunkResponse",
    "ChunkSend",
    "ChunkSendAck",
    "chunk_header_size",
    "split_message",
]

CHUNK_LAST: Final = 0x01
"""ChunkSenderAttributes (Param1 of CHUNK_SEND / CHUNK_RESPONSE) bit 0: LastChunk."""

CHUNK_ACK_EARLY_ERROR: Final = 0x01
"""ChunkReceiverAttributes (Param1 of CHUNK_SEND_ACK) bit 0: EarlyErrorDetected; the ACK then
carries an ERROR message instead of the response to the large request."""

_V14: Final = 0x14

MAX_LARGE_MESSAGE_SIZE: Final = 1 << 20
"""The largest LargeMessageSize either role reassembles, whatever MaxSPDMmsgSize a peer offers.

A 64 KiB certificate chain (the 1.2/1.3 chain Length field is 16 bits) and
the largest MEASUREMENTS fit many times; libspdm's own default MaxSPDMmsgSize
is 0x28000.  The bound a connection really applies is the smaller of this and
our own MaxSPDMmsgSize."""

MAX_CHUNK_COUNT: Final = 1 << 16
"""The most chunks one large message may take: the 1.2/1.3 ChunkSeqNo is 16 bits and must not wrap."""


def chunk_header_size(first: bool) -> int:
    """Bytes of a CHUNK_SEND / CHUNK_RESPONSE before its chunk: 16 in the first chunk, 12 after.

    The same in every version (1.4's u32 ChunkSeqNo takes the reserved bytes),
    so the chunk payload a DataTransferSize allows is DataTransferSize minus this.
    """
    return 16 if first else 12


@record(frozen=True)
class _Chunk(Message):
    """The fields CHUNK_SEND and CHUNK_RESPONSE share (one layout, :func:`_chunk_body`)."""

    attributes: int = 0
    handle: int = 0
    chunk_seq_no: int = 0
    large_message_size: int | None = None
    chunk: bytes = b""

    @property
    def last(self) -> bool:
        """The LastChunk attribute is set."""
        return bool(self.attributes & CHUNK_LAST)


@record(frozen=True)
class ChunkSend(_Chunk):
    """CHUNK_SEND: one chunk of a large request.

    Attributes:
        attributes: ChunkSenderAttributes (Param1): :data:`CHUNK_LAST` on the last chunk.
        handle: the large request's handle (Param2), chosen by the requester.
        chunk_seq_no: 0 for the first chunk, +1 for each next.
        large_message_size: the whole request's size; present only in chunk 0.
        chunk: this chunk's bytes of the large request.
    """

    CODE: ClassVar[int] = RequestCode.CHUNK_SEND


@record(frozen=True)
class ChunkSendAck(Message):
    """CHUNK_SEND_ACK: the responder took a chunk.

    ``response`` (ResponseToLargeRequest) is empty until the last chunk; with
    the last chunk it is the response to the reassembled request, and with
    :data:`CHUNK_ACK_EARLY_ERROR` it is an ERROR message.  It runs to the end
    of the message, so when decoded from a DOE payload (``padded``) it keeps
    the DOE pad bytes: decode it with ``padded=True`` too.

    Attributes:
        attributes: ChunkReceiverAttributes (Param1).
        handle: the handle of the CHUNK_SEND acknowledged (Param2).
        chunk_seq_no: its ChunkSeqNo.
        response: ResponseToLargeRequest, or empty.
    """

    CODE: ClassVar[int] = ResponseCode.CHUNK_SEND_ACK

    attributes: int = 0
    handle: int = 0
    chunk_seq_no: int = 0
    response: bytes = b""

    @property
    def has_response(self) -> bool:
        """ResponseToLargeRequest is there: at least an SPDM header (fewer bytes are DOE padding)."""
        return len(self.response) >= 4

    @property
    def early_error(self) -> bool:
        """EarlyErrorDetected: the responder dropped the large request; ``response`` is its ERROR."""
        return bool(self.attributes & CHUNK_ACK_EARLY_ERROR)


@record(frozen=True)
class ChunkGet(Message):
    """CHUNK_GET: ask for chunk ``chunk_seq_no`` of the large response ``handle`` (Param2)."""

    CODE: ClassVar[int] = RequestCode.CHUNK_GET

    handle: int = 0
    chunk_seq_no: int = 0


@record(frozen=True)
class ChunkResponse(_Chunk):
    """CHUNK_RESPONSE: one chunk of a large response (the layout of :class:`ChunkSend`).

    Attributes:
        attributes: ChunkSenderAttributes (Param1): :data:`CHUNK_LAST` on the last chunk.
        handle: the handle the ERROR(LargeResponse) gave (Param2).
        chunk_seq_no: the ChunkSeqNo asked for.
        large_message_size: the whole response's size; present only in chunk 0.
        chunk: this chunk's bytes of the large response.
    """

    CODE: ClassVar[int] = ResponseCode.CHUNK_RESPONSE


def split_message(message: bytes, data_transfer_size: int) -> list[bytes]:
    """The chunk payloads of ``message`` sent to a peer whose DataTransferSize is ``data_transfer_size``.

    Every chunk but the last fills a whole DataTransferSize (16 header bytes
    in the first chunk, 12 after), as libspdm sends and checks.

    Raises:
        LocalProtocolError: no chunk payload fits that DataTransferSize.
    """
    if data_transfer_size <= chunk_header_size(first=True):
        raise LocalProtocolError(f"DataTransferSize {data_transfer_size} leaves no room for a chunk")
    first = data_transfer_size - chunk_header_size(first=True)
    rest = data_transfer_size - chunk_header_size(first=False)
    pieces = [message[:first]]
    pieces.extend(message[pos:pos + rest] for pos in range(first, len(message), rest))
    return pieces


class ChunkAssembly:
    """One large message being reassembled from its chunks (either role), bounded in memory and count.

    Checks what a chunk sender controls (DSP0274 §10.17/10.18 and libspdm's
    checks): chunk 0 carries LargeMessageSize, which must exceed the chunk
    itself and stay within ``max_size``; the handle stays the same; ChunkSeqNo
    counts up by one; no chunk but the last is empty; the bytes never exceed
    LargeMessageSize; LastChunk comes exactly when they reach it.

    Attributes:
        handle: the large message's handle.
        size: its LargeMessageSize.
    """

    def __init__(self, handle: int, large_message_size: int | None, first_chunk: bytes, *,
                 last: bool, max_size: int) -> None:
        """Start with chunk 0.

        Raises:
            RemoteProtocolError: no LargeMessageSize, one beyond ``max_size``
                (or :data:`MAX_LARGE_MESSAGE_SIZE`), a message that fits in
                one chunk, or a first chunk that is also the last.
        """
        limit = min(max_size, MAX_LARGE_MESSAGE_SIZE)
        if large_message_size is None:
            raise RemoteProtocolError("the first chunk carries no LargeMessageSize")
        if large_message_size > limit:
            raise RemoteProtocolError(
                f"LargeMessageSize {large_message_size} exceeds the {limit}-byte limit")
        if last or not first_chunk or len(first_chunk) >= large_message_size:
            raise RemoteProtocolError(
                f"a large message of {large_message_size} bytes does not fit in its first chunk "
                f"of {len(first_chunk)} (nothing to chunk)")
        self.handle = handle
        self.size = large_message_size
        self._parts = [first_chunk]
        self._received = len(first_chunk)
        self._next_seq_no = 1

    @property
    def next_seq_no(self) -> int:
        """The ChunkSeqNo expected next."""
        return self._next_seq_no

    def add(self, handle: int, seq_no: int, chunk: bytes, *, last: bool) -> bytes | None:
        """Take the next chunk; the whole message once ``last`` completes it, else None.

        Raises:
            RemoteProtocolError: another handle, a ChunkSeqNo out of order, an
                empty middle chunk, too many chunks, more bytes than
                LargeMessageSize, or LastChunk set too early or missing at the end.
        """
        if handle != self.handle:
            raise RemoteProtocolError(f"chunk of handle {handle} while handle {self.handle} is in use")
        if seq_no != self._next_seq_no:
            raise RemoteProtocolError(f"ChunkSeqNo {seq_no}, expected {self._next_seq_no}")
        if seq_no >= MAX_CHUNK_COUNT:
            raise RemoteProtocolError(f"more than {MAX_CHUNK_COUNT} chunks")
        received = self._received + len(chunk)
        if received > self.size:
            raise RemoteProtocolError(
                f"chunks of {received} bytes exceed LargeMessageSize {self.size}")
        if last != (received == self.size):
            raise RemoteProtocolError(
                f"LastChunk {'set' if last else 'missing'} with {received} of {self.size} bytes")
        if not chunk:
            raise RemoteProtocolError(f"chunk {seq_no} is empty")
        self._parts.append(chunk)
        self._received = received
        self._next_seq_no += 1
        return b"".join(self._parts) if last else None


@declares_structs(__name__)
def _declare_structs() -> None:
    """These messages' construct declarations (their wire format, which any ``struct`` fast path
    above follows), made when a ``STRUCT`` is first asked for (:func:`spdm.codec.declares_structs`)."""
    from construct import (
        Bytes,
        GreedyBytes,
        If,
        IfThenElse,
        Int16ul,
        Int32ul,
        Padding,
        Rebuild,
        Struct,
        len_,
        this,
    )

    from ..schema import header

    def _seq_no() -> Any:
        """ChunkSeqNo alone: u16 before 1.4, u32 from 1.4 (CHUNK_GET, CHUNK_SEND_ACK)."""
        return IfThenElse(this.spdm_version >= _V14, Int32ul, Int16ul)

    def _chunk_body() -> list[Any]:
        """ChunkSeqNo (+ reserved before 1.4), ChunkSize, LargeMessageSize (first chunk only), the chunk."""
        return [
            "chunk_seq_no" / _seq_no(),
            If(this.spdm_version < _V14, Padding(2)),
            "_chunk_size" / Rebuild(Int32ul, len_(this.chunk)),
            "large_message_size" / If(this.chunk_seq_no == 0, Int32ul),
            "chunk" / Bytes(this._chunk_size),
        ]

    ChunkSend.STRUCT = Struct(*header(RequestCode.CHUNK_SEND, "attributes", "handle"), *_chunk_body())
    ChunkSendAck.STRUCT = Struct(
        *header(ResponseCode.CHUNK_SEND_ACK, "attributes", "handle"),
        "chunk_seq_no" / _seq_no(),
        "response" / GreedyBytes,
    )
    ChunkGet.STRUCT = Struct(*header(RequestCode.CHUNK_GET, None, "handle"), "chunk_seq_no" / _seq_no())
    ChunkResponse.STRUCT = Struct(*header(ResponseCode.CHUNK_RESPONSE, "attributes", "handle"),
                                  *_chunk_body())
