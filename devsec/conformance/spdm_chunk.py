"""Chunking judged on the responder: CHUNK_GET / CHUNK_RESPONSE and CHUNK_SEND / CHUNK_SEND_ACK.

DSP0274 1.3 §10.17-10.18 (Tables 83-90) and the LargeResponse error
(§10.12).  The suite asks for chunking in GET_CAPABILITIES (CHUNK_CAP,
DataTransferSize :data:`SMALL`, MaxSPDMmsgSize :data:`LARGE`) so that the
device's certificate chain is a large response, and it sends a
VENDOR_DEFINED_REQUEST larger than the device's own DataTransferSize as
its large request.

Decisions where DSP0274 leaves room:

* The large response judged is slot 0's CERTIFICATE for the whole chain
  (Length 0xFFFF): every CERT_CAP device has one larger than :data:`SMALL`.
* A refused chunk may be refused either way the specification allows: an
  ERROR (InvalidRequest, UnexpectedRequest) or, for CHUNK_SEND, a
  CHUNK_SEND_ACK with EarlyErrorDetected carrying an ERROR.  What is judged is
  that the device does not go on as if the chunk were good.
* The large request's answer (whatever the device makes of a vendor request
  it does not know) is not judged: only that it rides in the last ACK.
"""

from __future__ import annotations

from spdm.codec import CodecContext
from spdm.errors import DecodeError, SpdmErrorCode
from spdm.messages import (
    Algorithms,
    Capabilities,
    Certificate,
    ChunkGet,
    ChunkResponse,
    ChunkSend,
    ChunkSendAck,
    Digests,
    ErrorResponse,
    GetCapabilities,
    GetCertificate,
    GetDigests,
    GetVersion,
    VendorDefinedRequest,
)
from spdm.messages import Version as VersionResponse
from spdm.messages.chunk import CHUNK_LAST, split_message
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.codes import ResponseCode
from spdm.record import record

from .context import CaseContext
from .registry import case
from .requests import codec_context, get_capabilities, negotiate_algorithms

__all__ = [
    "LARGE", "SMALL", "get_after_last", "get_bad_handle", "get_bad_sequence", "get_sequence",
    "send_bad_sequence", "send_oversize", "send_sequence",
]

CLAUSE = "DSP0274 1.3 §10.17-10.18, Tables 83-90"
SMALL = 0x100
"""The DataTransferSize the suite announces: far below any certificate chain."""
LARGE = 0x10000
"""The MaxSPDMmsgSize the suite announces."""
V12 = 0x12
_REFUSALS = (SpdmErrorCode.INVALID_REQUEST, SpdmErrorCode.UNEXPECTED_REQUEST)


@record(frozen=True)
class _Chunking:
    """A connection set up for chunking: the device's sizes and its responses' codec."""

    codec: CodecContext
    data_transfer_size: int
    max_spdm_msg_size: int


def _chunking(ctx: CaseContext) -> _Chunking:
    """VCA asking for chunking (and GET_DIGESTS); what the device said about its sizes."""
    ours = get_capabilities(ctx.version)
    request = GetCapabilities(spdm_version=ours.spdm_version, ct_exponent=ours.ct_exponent,
                              flags=ours.flags | int(F.CHUNK_CAP), data_transfer_size=SMALL,
                              max_spdm_msg_size=LARGE)
    ctx.decode(VersionResponse, ctx.send(GetVersion()), reference="DSP0274 1.3 §10.3")
    caps = ctx.decode(Capabilities, ctx.send(request), reference="DSP0274 1.3 §10.4")
    algs = ctx.decode(Algorithms, ctx.send(negotiate_algorithms(ctx.version)), reference="DSP0274 1.3 §10.5")
    codec = codec_context(algs)
    if caps.flags & F.CERT_CAP:
        ctx.decode(Digests, ctx.send(GetDigests(spdm_version=ctx.version)), codec,
                   reference="DSP0274 1.3 Tables 27-28")
    return _Chunking(codec, caps.data_transfer_size, caps.max_spdm_msg_size)


def _large_certificate(ctx: CaseContext) -> int:
    """GET_CERTIFICATE for all of slot 0's chain; the handle of the ERROR(LargeResponse) it must get."""
    data = ctx.send(GetCertificate(spdm_version=ctx.version, slot_id=0, offset=0, length=0xFFFF))
    ctx.require("a CERTIFICATE larger than the DataTransferSize is announced ERROR(LargeResponse)",
                len(data) >= 2 and data[1] == ResponseCode.ERROR, expected="ERROR LargeResponse",
                actual=f"response code 0x{data[1]:02x}" if len(data) >= 2 else data.hex(), reference=CLAUSE)
    error = ctx.decode(ErrorResponse, data, reference=CLAUSE)
    ctx.require("the ERROR is LargeResponse with a Handle", error.large_response_handle is not None,
                expected="ErrorCode 0x0f with ExtendedErrorData Handle",
                actual=f"ErrorCode 0x{error.error_code:02x}", reference=CLAUSE)
    assert error.large_response_handle is not None
    return error.large_response_handle


def _get(ctx: CaseContext, handle: int, seq_no: int) -> bytes:
    return ctx.send(ChunkGet(spdm_version=ctx.version, handle=handle, chunk_seq_no=seq_no))


def _refused(ctx: CaseContext, what: str, data: bytes) -> None:
    ctx.expect_error(what, data, _REFUSALS)


@case("spdm.chunk.get-sequence", "A large CERTIFICATE comes by CHUNK_GET: every CHUNK_RESPONSE echoes "
      "the Handle and ChunkSeqNo, fits the DataTransferSize, the first states LargeMessageSize, the last is "
      "marked, and the chunks add up to a CERTIFICATE", CLAUSE, per_version=True, min_version=V12,
      needs=F.CHUNK_CAP | F.CERT_CAP)
def get_sequence(ctx: CaseContext) -> None:
    setup = _chunking(ctx)
    handle = _large_certificate(ctx)
    whole, size, seq_no = bytearray(), None, 0
    while True:
        data = _get(ctx, handle, seq_no)
        chunk = ctx.decode(ChunkResponse, data, reference=CLAUSE)
        ctx.equal(f"chunk {seq_no}: Handle is echoed", handle, chunk.handle, reference=CLAUSE)
        ctx.equal(f"chunk {seq_no}: ChunkSeqNo is echoed", seq_no, chunk.chunk_seq_no, reference=CLAUSE)
        ctx.check(f"chunk {seq_no}: fits our DataTransferSize", len(data) <= SMALL, expected=f"<= {SMALL}",
                  actual=len(data), reference=CLAUSE)
        if seq_no == 0:
            size = chunk.large_message_size
            ctx.check("the first chunk states LargeMessageSize, above our DataTransferSize",
                      size is not None and size > SMALL, expected=f"> {SMALL}", actual=size, reference=CLAUSE)
        whole += chunk.chunk
        if chunk.last or not chunk.chunk or len(whole) > LARGE:
            break
        seq_no += 1
    ctx.equal("the chunks add up to LargeMessageSize", size, len(whole), reference=CLAUSE)
    try:
        Certificate.decode(bytes(whole), setup.codec)
        decoded = "a CERTIFICATE"
    except DecodeError as exc:
        decoded = str(exc)
    ctx.equal("the reassembled message is the CERTIFICATE", "a CERTIFICATE", decoded, reference=CLAUSE)


@case("spdm.chunk.get-bad-handle", "CHUNK_GET naming another Handle than the LargeResponse's is refused",
      CLAUSE, per_version=True, min_version=V12, needs=F.CHUNK_CAP | F.CERT_CAP)
def get_bad_handle(ctx: CaseContext) -> None:
    _chunking(ctx)
    handle = _large_certificate(ctx)
    _refused(ctx, f"CHUNK_GET for Handle {(handle + 1) & 0xFF} (pending: {handle}) is refused",
             _get(ctx, (handle + 1) & 0xFF, 0))


@case("spdm.chunk.get-bad-sequence", "CHUNK_GET starting at ChunkSeqNo 1 instead of 0 is refused", CLAUSE,
      per_version=True, min_version=V12, needs=F.CHUNK_CAP | F.CERT_CAP)
def get_bad_sequence(ctx: CaseContext) -> None:
    _chunking(ctx)
    handle = _large_certificate(ctx)
    _refused(ctx, "CHUNK_GET ChunkSeqNo 1 before chunk 0 is refused", _get(ctx, handle, 1))


@case("spdm.chunk.get-after-last", "CHUNK_GET after the last chunk was served is refused", CLAUSE,
      per_version=True, min_version=V12, needs=F.CHUNK_CAP | F.CERT_CAP)
def get_after_last(ctx: CaseContext) -> None:
    _chunking(ctx)
    handle = _large_certificate(ctx)
    seq_no = 0
    while True:
        chunk = ctx.decode(ChunkResponse, _get(ctx, handle, seq_no), reference=CLAUSE)
        seq_no += 1
        if chunk.last or not chunk.chunk or seq_no * SMALL > LARGE:
            break
    _refused(ctx, f"CHUNK_GET ChunkSeqNo {seq_no} after the last chunk is refused", _get(ctx, handle, seq_no))


def _large_request(ctx: CaseContext, device_dts: int) -> list[bytes]:
    """The chunk payloads of a VENDOR_DEFINED_REQUEST twice the device's DataTransferSize."""
    request = VendorDefinedRequest(spdm_version=ctx.version, standard_id=0, vendor_id=b"",
                                   payload=bytes(2 * device_dts)).encode()
    return split_message(request, device_dts)


def _send(ctx: CaseContext, handle: int, seq_no: int, chunk: bytes, *, size: int | None = None,
          last: bool = False) -> bytes:
    return ctx.send(ChunkSend(spdm_version=ctx.version, attributes=CHUNK_LAST if last else 0, handle=handle,
                              chunk_seq_no=seq_no, large_message_size=size if seq_no == 0 else None,
                              chunk=chunk))


def _send_refused(ctx: CaseContext, what: str, data: bytes,
                  codes: tuple[SpdmErrorCode, ...] = _REFUSALS) -> None:
    """Refused: an ERROR with one of ``codes``, or an ACK with EarlyErrorDetected carrying an ERROR."""
    if len(data) >= 2 and data[1] == ResponseCode.ERROR:
        ctx.expect_error(what, data, codes)
        return
    ack = ctx.decode(ChunkSendAck, data, reference=CLAUSE)
    carried = ack.response[1] if len(ack.response) >= 2 else None
    ctx.check(what, ack.early_error and carried == ResponseCode.ERROR,
              expected="ERROR, or CHUNK_SEND_ACK with EarlyErrorDetected and an ERROR",
              actual=f"CHUNK_SEND_ACK EarlyErrorDetected={ack.early_error}, response code "
                     f"{'none' if carried is None else f'0x{carried:02x}'}", reference=CLAUSE)


@case("spdm.chunk.send-sequence", "A large request by CHUNK_SEND: every ACK echoes Handle and ChunkSeqNo "
      "without EarlyErrorDetected, and only the last carries the response", CLAUSE, per_version=True,
      min_version=V12, needs=F.CHUNK_CAP)
def send_sequence(ctx: CaseContext) -> None:
    pieces = _large_request(ctx, _chunking(ctx).data_transfer_size)
    size = sum(len(p) for p in pieces)
    for seq_no, piece in enumerate(pieces):
        last = seq_no == len(pieces) - 1
        ack = ctx.decode(ChunkSendAck, _send(ctx, 0, seq_no, piece, size=size, last=last), reference=CLAUSE)
        ctx.equal(f"ACK {seq_no}: Handle and ChunkSeqNo are echoed", (0, seq_no),
                  (ack.handle, ack.chunk_seq_no), reference=CLAUSE)
        ctx.equal(f"ACK {seq_no}: no EarlyErrorDetected", False, ack.early_error, reference=CLAUSE)
        ctx.equal(f"ACK {seq_no}: {'carries' if last else 'carries no'} response", last, ack.has_response,
                  reference=CLAUSE)


@case("spdm.chunk.send-bad-sequence", "A CHUNK_SEND skipping a ChunkSeqNo is refused", CLAUSE,
      per_version=True, min_version=V12, needs=F.CHUNK_CAP)
def send_bad_sequence(ctx: CaseContext) -> None:
    pieces = _large_request(ctx, _chunking(ctx).data_transfer_size)
    size = sum(len(p) for p in pieces)
    ack = ctx.decode(ChunkSendAck, _send(ctx, 0, 0, pieces[0], size=size), reference=CLAUSE)
    ctx.equal("the first chunk is taken", False, ack.early_error, reference=CLAUSE)
    _send_refused(ctx, "ChunkSeqNo 2 after 0 is refused", _send(ctx, 0, 2, pieces[1]))


@case("spdm.chunk.send-oversize", "A CHUNK_SEND announcing a LargeMessageSize above the device's "
      "MaxSPDMmsgSize is refused", CLAUSE, per_version=True, min_version=V12, needs=F.CHUNK_CAP)
def send_oversize(ctx: CaseContext) -> None:
    setup = _chunking(ctx)
    pieces = _large_request(ctx, setup.data_transfer_size)
    too_large = setup.max_spdm_msg_size + 1
    _send_refused(ctx, f"LargeMessageSize {too_large:#x} (MaxSPDMmsgSize {setup.max_spdm_msg_size:#x}) is "
                  "refused", _send(ctx, 0, 0, pieces[0], size=too_large),
                  (*_REFUSALS, SpdmErrorCode.REQUEST_TOO_LARGE))

