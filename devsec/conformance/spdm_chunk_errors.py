"""Chunking errors judged on the responder: each bad chunk sequence is refused, and so is a request
larger than the device's DataTransferSize that does not come by CHUNK_SEND.

DSP0274 1.3 §10.17-10.18 (Tables 83-90), the ErrorCode table (§10.12:
RequestTooLarge) and the CAPABILITIES sizes (§10.4).  Each case sets up
chunking as :mod:`.spdm_chunk` does (CHUNK_CAP, DataTransferSize
:data:`~.spdm_chunk.SMALL`), breaks one rule, and checks the device does not
go on as if nothing were wrong.

Decisions where DSP0274 leaves room:

* A refused chunk may be refused either way the specification allows: an
  ERROR, or a CHUNK_SEND_ACK with EarlyErrorDetected carrying an ERROR
  (:func:`.spdm_chunk._send_refused`); the ERROR codes taken are
  InvalidRequest and UnexpectedRequest, and RequestTooLarge where the break
  is a size (devsec's device says RequestTooLarge there, libspdm's
  InvalidRequest: both pass).
* A request beyond the DataTransferSize outside CHUNK_SEND must be refused
  RequestTooLarge or InvalidRequest (the size rule is the requester's to keep;
  a device that cannot take the bytes may also drop them, which is an error
  verdict, not a failure).  It is a VENDOR_DEFINED_REQUEST for a registry no
  device serves, so a device that ignores the size answers UnsupportedRequest.
* A CHUNK_SEND with ChunkSeqNo 0 while a large request is in progress is
  refused (libspdm's responder; devsec's): a requester starting over abandons
  its large request first.
* An ACK for the last chunk without LastChunk must not carry a response: a
  device that answered the large request anyway took a message the requester
  never said was complete.
"""

from __future__ import annotations

from spdm.errors import SpdmErrorCode as E
from spdm.messages import ChunkGet, ChunkSendAck, VendorDefinedRequest
from spdm.messages.codes import CapabilityFlags as F

from .context import CaseContext
from .registry import case
from .spdm_chunk import _chunking, _large_request, _send, _send_refused

__all__ = [
    "get_without_pending", "request_too_large", "send_chunk_too_large", "send_empty_chunk",
    "send_handle_changed", "send_last_early", "send_last_missing", "send_restart", "send_without_first",
]

CLAUSE = "DSP0274 1.3 §10.17-10.18, Tables 83-90"
SIZES = "DSP0274 1.3 §10.4 (DataTransferSize, MaxSPDMmsgSize), §10.12 (RequestTooLarge)"
V12 = 0x12
_SIZE_REFUSALS = (E.REQUEST_TOO_LARGE, E.INVALID_REQUEST)
_CHUNK_REFUSALS = (E.INVALID_REQUEST, E.UNEXPECTED_REQUEST, E.REQUEST_TOO_LARGE)


def _started(ctx: CaseContext) -> tuple[list[bytes], int]:
    """Chunk 0 of a large request taken by the device; its chunk payloads and LargeMessageSize."""
    pieces = _large_request(ctx, _chunking(ctx).data_transfer_size)
    size = sum(len(p) for p in pieces)
    ack = _send(ctx, 0, 0, pieces[0], size=size)
    _send_ok(ctx, "the first chunk is taken", ack)
    return pieces, size


def _send_ok(ctx: CaseContext, what: str, data: bytes) -> None:
    ack = ctx.decode(ChunkSendAck, data, reference=CLAUSE)
    ctx.require(what, not ack.early_error and not ack.has_response,
                expected="a CHUNK_SEND_ACK, no early error",
                actual=f"EarlyErrorDetected={ack.early_error}, response={ack.has_response}", reference=CLAUSE)


@case("spdm.chunk-errors.request-too-large", "A request larger than the device's DataTransferSize that "
      "does not come by CHUNK_SEND is refused (RequestTooLarge or InvalidRequest)", SIZES, per_version=True,
      min_version=V12)
def request_too_large(ctx: CaseContext) -> None:
    device_dts = _chunking(ctx).data_transfer_size
    request = VendorDefinedRequest(spdm_version=ctx.version, standard_id=0, vendor_id=b"",
                                   payload=bytes(range(1, 256)) * (device_dts // 255 + 1)).encode()
    ctx.expect_error(f"a {len(request)}-byte request (DataTransferSize {device_dts}) is refused",
                     ctx.send(request), _SIZE_REFUSALS, reference=SIZES)


@case("spdm.chunk-errors.send-chunk-too-large", "A CHUNK_SEND larger than the device's DataTransferSize is "
      "refused", CLAUSE, per_version=True, min_version=V12, needs=F.CHUNK_CAP)
def send_chunk_too_large(ctx: CaseContext) -> None:
    device_dts = _chunking(ctx).data_transfer_size
    size = 3 * device_dts
    chunk = bytes(device_dts - 16 + 4)
    _send_refused(ctx, f"a {device_dts + 4}-byte CHUNK_SEND (DataTransferSize {device_dts}) is refused",
                  _send(ctx, 0, 0, chunk, size=size), _CHUNK_REFUSALS)


@case("spdm.chunk-errors.send-handle-changed", "A CHUNK_SEND naming another Handle than its large "
      "request's is refused", CLAUSE, per_version=True, min_version=V12, needs=F.CHUNK_CAP)
def send_handle_changed(ctx: CaseContext) -> None:
    pieces, _ = _started(ctx)
    _send_refused(ctx, "chunk 1 under Handle 1 (chunk 0: Handle 0) is refused", _send(ctx, 1, 1, pieces[1]),
                  _CHUNK_REFUSALS)


@case("spdm.chunk-errors.send-last-early", "A CHUNK_SEND marked LastChunk before LargeMessageSize bytes "
      "came is refused", CLAUSE, per_version=True, min_version=V12, needs=F.CHUNK_CAP)
def send_last_early(ctx: CaseContext) -> None:
    pieces, _ = _started(ctx)
    _send_refused(ctx, "chunk 1 of 3 marked LastChunk is refused", _send(ctx, 0, 1, pieces[1], last=True),
                  _CHUNK_REFUSALS)


@case("spdm.chunk-errors.send-last-missing", "A CHUNK_SEND completing LargeMessageSize without LastChunk "
      "is refused, not answered", CLAUSE, per_version=True, min_version=V12, needs=F.CHUNK_CAP)
def send_last_missing(ctx: CaseContext) -> None:
    pieces, _ = _started(ctx)
    for seq_no in range(1, len(pieces) - 1):
        _send_ok(ctx, f"chunk {seq_no} is taken", _send(ctx, 0, seq_no, pieces[seq_no]))
    last = len(pieces) - 1
    _send_refused(ctx, f"chunk {last}, the last, without LastChunk is refused",
                  _send(ctx, 0, last, pieces[last]), _CHUNK_REFUSALS)


@case("spdm.chunk-errors.send-empty-chunk", "A CHUNK_SEND carrying no bytes in the middle of a large "
      "request is refused", CLAUSE, per_version=True, min_version=V12, needs=F.CHUNK_CAP)
def send_empty_chunk(ctx: CaseContext) -> None:
    _started(ctx)
    _send_refused(ctx, "an empty chunk 1 is refused", _send(ctx, 0, 1, b""), _CHUNK_REFUSALS)


@case("spdm.chunk-errors.send-restart", "A CHUNK_SEND with ChunkSeqNo 0 while a large request is in "
      "progress is refused", CLAUSE, per_version=True, min_version=V12, needs=F.CHUNK_CAP)
def send_restart(ctx: CaseContext) -> None:
    pieces, size = _started(ctx)
    _send_refused(ctx, "ChunkSeqNo 0 again after chunk 0 is refused", _send(ctx, 0, 0, pieces[0], size=size),
                  _CHUNK_REFUSALS)


@case("spdm.chunk-errors.send-without-first", "A CHUNK_SEND with ChunkSeqNo 1 and no large request in "
      "progress is refused", CLAUSE, per_version=True, min_version=V12, needs=F.CHUNK_CAP)
def send_without_first(ctx: CaseContext) -> None:
    pieces = _large_request(ctx, _chunking(ctx).data_transfer_size)
    _send_refused(ctx, "chunk 1 without chunk 0 is refused", _send(ctx, 0, 1, pieces[1]), _CHUNK_REFUSALS)


@case("spdm.chunk-errors.get-without-pending", "A CHUNK_GET with no large response pending is refused",
      CLAUSE, per_version=True, min_version=V12, needs=F.CHUNK_CAP)
def get_without_pending(ctx: CaseContext) -> None:
    _chunking(ctx)
    ctx.expect_error("CHUNK_GET before any ERROR(LargeResponse) is refused",
                     ctx.send(ChunkGet(spdm_version=ctx.version, handle=0, chunk_seq_no=0)),
                     (E.UNEXPECTED_REQUEST, E.INVALID_REQUEST))
