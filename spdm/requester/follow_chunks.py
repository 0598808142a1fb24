"""Following a large request the followed requester sent in CHUNK_SENDs (1.2+ chunking).

A live requester's engine chunks a request larger than the responder's
DataTransferSize itself; a follower sees only the chunks.  It collects them
(each acknowledged by a CHUNK_SEND_ACK it checks), and when the last one
arrives it adopts the reassembled request as if it had been sent whole: the
response the last ACK carries is then that request's response, checked by
the engine like any other.
"""

from __future__ import annotations

from dataclasses import field

from ..errors import DecodeError, LocalProtocolError, RemoteProtocolError
from ..messages import ChunkSend, ChunkSendAck
from ..record import record
from ..session import Session

__all__ = ["ChunkedRequest"]


@record
class ChunkedRequest:
    """The CHUNK_SENDs of one large request seen so far.

    Attributes:
        session: the session they travel in (None: in the clear).
        handle: their Handle.
        size: the LargeMessageSize chunk 0 announced.
        data: the request's bytes so far.
        sent: the last CHUNK_SEND taken (None: none yet).
        ack_due: its CHUNK_SEND_ACK has not come yet.
    """

    session: Session | None
    handle: int
    size: int
    data: bytearray = field(default_factory=bytearray, repr=False)
    sent: ChunkSend | None = None
    ack_due: bool = False

    @classmethod
    def first(cls, chunk: ChunkSend, session: Session | None) -> ChunkedRequest:
        """The transfer chunk 0 opens.

        Raises:
            LocalProtocolError: it is not chunk 0 (the capture starts mid-transfer).
        """
        if chunk.chunk_seq_no != 0 or chunk.large_message_size is None:
            raise LocalProtocolError(
                f"CHUNK_SEND {chunk.chunk_seq_no} of a transfer whose start is not shown")
        return cls(session, chunk.handle, chunk.large_message_size)

    def add(self, chunk: ChunkSend, session: Session | None) -> bytes | None:
        """Take the next CHUNK_SEND; the whole request when it is the last.

        Raises:
            LocalProtocolError: another handle or session, a sequence gap, or
                more (or, on the last, fewer) bytes than announced.
        """
        expected = 0 if self.sent is None else self.sent.chunk_seq_no + 1
        if chunk.handle != self.handle or session is not self.session or chunk.chunk_seq_no != expected:
            raise LocalProtocolError(
                f"CHUNK_SEND handle {chunk.handle} #{chunk.chunk_seq_no} does not continue "
                f"handle {self.handle} at #{expected}")
        if self.ack_due:
            raise LocalProtocolError(f"CHUNK_SEND #{chunk.chunk_seq_no} before the ACK of the previous one")
        self.data += chunk.chunk
        self.sent, self.ack_due = chunk, True
        if len(self.data) > self.size or (chunk.last and len(self.data) != self.size):
            raise LocalProtocolError(f"chunks of {len(self.data)} bytes for a {self.size}-byte request")
        return bytes(self.data) if chunk.last else None

    def check_ack(self, data: bytes) -> ChunkSendAck:
        """The CHUNK_SEND_ACK to the last chunk taken, checked.

        Raises:
            DecodeError: it does not decode.
            RemoteProtocolError: it acknowledges another chunk, or carries an
                early error (the request was refused before it was whole).
        """
        sent = self.sent
        assert sent is not None
        self.ack_due = False
        ack = ChunkSendAck.decode(data, padded=True)
        if (ack.handle, ack.chunk_seq_no) != (sent.handle, sent.chunk_seq_no):
            raise RemoteProtocolError(
                f"CHUNK_SEND_ACK for handle {ack.handle} #{ack.chunk_seq_no}, "
                f"#{sent.chunk_seq_no} of handle {sent.handle} was sent")
        if not sent.last and ack.has_response:
            raise RemoteProtocolError(f"CHUNK_SEND_ACK #{ack.chunk_seq_no} ends the transfer early")
        if sent.last and not ack.response:
            raise DecodeError("the last CHUNK_SEND_ACK carries no response")
        return ack
