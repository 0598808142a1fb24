"""Our requester refuses every malformed CHUNK_RESPONSE / CHUNK_SEND_ACK with a typed error, and takes
the ERRORs a chunk transfer may legitimately meet (spdm.requester.chunk, spdm.requester.core).

Malformed: another handle or ChunkSeqNo, another version, a message beyond our
DataTransferSize, LastChunk early or missing, an empty chunk, a
LargeMessageSize beyond our MaxSPDMmsgSize or one needing no chunks, a
response in an ACK before the last chunk or none after it.  Legitimate: an
early error (it answers the large request), ERROR(LargeResponse) bare to the
last CHUNK_SEND (libspdm) or inside the last ACK (ours), ResponseNotReady
inside the last ACK, Busy (retried within the requester's Busy budget).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from devsec.emulator import EmulatedDevice
from spdm.config import DEFAULT_REQUESTER_CAPS, DEFAULT_RESPONDER_CAPS, RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.errors import LocalProtocolError, RemoteErrorResponse, RemoteProtocolError, SpdmErrorCode
from spdm.events import VendorResponseReceived
from spdm.messages import ChunkResponse, ChunkSendAck, ErrorResponse
from spdm.messages.chunk import CHUNK_ACK_EARLY_ERROR, CHUNK_LAST
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, RequestCode, ResponseCode, SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import Requester
from spdm.requester.chunk import ChunkFetch, ChunkSender
from spdm.transport import DoeTransport
from spdm.transport.doe import DataObject, decode_data_object, encode_data_object

V13 = SpdmVersion.V13
LIMIT = 64
"""Our DataTransferSize in the unit tests."""


def chunk(seq_no: int, data: bytes, *, handle: int = 1, last: bool = False, size: int | None = None,
          version: int = V13) -> bytes:
    return ChunkResponse(spdm_version=version, attributes=CHUNK_LAST if last else 0, handle=handle,
                         chunk_seq_no=seq_no, large_message_size=size, chunk=data).encode()


def fetch() -> ChunkFetch:
    return ChunkFetch(V13, 1, 0x1000, receive_limit=LIMIT)


FIRST = chunk(0, b"a" * 48, size=100)


@pytest.mark.parametrize("chunks", [
    [chunk(0, b"a" * 48, handle=2, size=100)],                  # another handle
    [chunk(1, b"a" * 48, size=None)],                           # not chunk 0
    [chunk(0, b"a" * 48, size=100, version=0x12)],              # another version
    [chunk(0, b"a" * 49, size=100)],                            # beyond our DataTransferSize
    [chunk(0, b"a" * 48, size=0x1001)],                         # beyond our MaxSPDMmsgSize
    [chunk(0, b"a" * 48, size=48)],                             # needs no chunks
    [chunk(0, b"a" * 48, size=100, last=True)],                 # LastChunk on chunk 0
    [FIRST, chunk(2, b"b" * 52, last=True)],                    # ChunkSeqNo skipped
    [FIRST, chunk(1, b"b" * 52, handle=3, last=True)],          # handle changed
    [FIRST, chunk(1, b"b" * 30, last=True)],                    # LastChunk early
    [FIRST, chunk(1, b"b" * 52)],                               # LastChunk missing
    [FIRST, chunk(1, b"")],                                     # empty chunk
    [FIRST, chunk(1, b"b" * 52, last=True)[:-1]],               # ChunkSize beyond the bytes
    [FIRST, ErrorResponse(spdm_version=V13, error_code=SpdmErrorCode.INVALID_REQUEST).encode()],
    [FIRST, ChunkSendAck(spdm_version=V13).encode()],           # another message
], ids=["handle", "seq", "version", "oversize", "max-size", "no-need", "last-first", "gap", "handle-changed",
        "last-early", "last-missing", "empty", "truncated", "error", "other-message"])
def test_fetch_refuses(chunks: list[bytes]) -> None:
    receiver = fetch()
    with pytest.raises(RemoteProtocolError):
        for data in chunks:
            assert receiver.take(data) is None


def test_fetch_takes_doe_padding_and_reassembles() -> None:
    receiver = fetch()
    assert receiver.take(FIRST + bytes(0)) is None
    assert receiver.take(chunk(1, b"b" * 52, last=True) + bytes(3)) == b"a" * 48 + b"b" * 52


def sender() -> ChunkSender:
    """A 100-byte request to a responder whose DataTransferSize is 64: two chunks (48 + 52 bytes)."""
    return ChunkSender(V13, 4, bytes(range(100)), 64, receive_limit=LIMIT)


def ack(seq_no: int, response: bytes = b"", *, handle: int = 4, attributes: int = 0,
        version: int = V13) -> bytes:
    return ChunkSendAck(spdm_version=version, attributes=attributes, handle=handle, chunk_seq_no=seq_no,
                        response=response).encode()


RESPONSE = bytes.fromhex("137e0000")
LARGE = ErrorResponse(spdm_version=V13, error_code=SpdmErrorCode.LARGE_RESPONSE,
                      extended_data=b"\x07").encode()
INVALID = ErrorResponse(spdm_version=V13, error_code=SpdmErrorCode.INVALID_REQUEST).encode()


@pytest.mark.parametrize("answers", [
    [ack(0, handle=5)],                                          # another handle
    [ack(1)],                                                    # another ChunkSeqNo
    [ack(0, version=0x12)],                                      # another version
    [ack(0, RESPONSE)],                                          # a response before the last chunk
    [ack(0), ack(1)],                                            # none after it
    [ack(0), ack(1, bytes(60))],                                 # beyond our DataTransferSize
    [ack(0, attributes=CHUNK_ACK_EARLY_ERROR)],                  # early error without an ERROR
    [ack(0, RESPONSE, attributes=CHUNK_ACK_EARLY_ERROR)],        # early error carrying no ERROR
    [ack(0, LARGE, attributes=CHUNK_ACK_EARLY_ERROR)],           # early error carrying LargeResponse
    [LARGE],                                                     # a bare LargeResponse before the last chunk
    [ack(0), INVALID],                                           # a bare ERROR
    [chunk(0, b"x", size=10)],                                   # another message
], ids=["handle", "seq", "version", "early-response", "no-response", "oversize", "early-empty",
        "early-not-error", "early-large", "bare-large-early", "bare-error", "other-message"])
def test_sender_refuses(answers: list[bytes]) -> None:
    chunks = sender()
    with pytest.raises(RemoteProtocolError):
        for data in answers:
            chunks.next_request()
            chunks.take(data)


@pytest.mark.parametrize(("answers", "expected"), [
    ([ack(0), ack(1, RESPONSE)], RESPONSE),                      # the response in the last ACK
    ([ack(0), ack(1, LARGE)], LARGE),                            # LargeResponse inside it (ours)
    ([ack(0), LARGE], LARGE),                                    # bare, answering the last chunk (libspdm)
    ([ack(0, INVALID, attributes=CHUNK_ACK_EARLY_ERROR)], INVALID),  # an early error answers the request
], ids=["response", "large-inside", "large-bare", "early-error"])
def test_sender_hands_over_the_answer_to_the_large_request(answers: list[bytes], expected: bytes) -> None:
    chunks = sender()
    results = [chunks.take(data) for data in answers]
    assert results[:-1] == [None] * (len(answers) - 1) and results[-1] == expected


# --- in the engine, against our device -------------------------------------------------------------

NOW = datetime.now(UTC)
DTS, MAX = 0x100, 0x10000
CHUNK = CapabilityFlags.CHUNK_CAP
PAYLOAD = bytes(range(256)) * 3


@pytest.fixture(scope="module")
def device_model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)


Rewrite = Callable[[bytes, bytes], bytes]


class Rewriting:
    """A DOE transport whose ``rewrite(request, response)`` may change each SPDM response.

    ``rewrite.device_sees(request)``, when there, is what the device gets instead of ``request``.
    """

    def __init__(self, inner: DoeTransport, rewrite: Rewrite) -> None:
        self.inner, self.rewrite = inner, rewrite
        self.codes: list[int] = []

    def exchange(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        request = decode_data_object(obj)
        if request.object_type != 1:
            return self.inner.exchange(obj, timeout=timeout)
        self.codes.append(request.payload[1])
        device_sees: Callable[[bytes], bytes] = getattr(self.rewrite, "device_sees", lambda data: data)
        sent = DataObject(request.vendor_id, request.object_type, device_sees(request.payload))
        answer = self.inner.exchange(encode_data_object(sent), timeout=timeout)
        response = decode_data_object(answer)
        new = self.rewrite(request.payload, response.payload)
        return encode_data_object(DataObject(response.vendor_id, response.object_type, new))

    def close(self) -> None:
        self.inner.close()


def negotiated(device_model: DeviceModel, rewrite: Rewrite, **device: object
               ) -> tuple[Rewriting, Requester, RequesterDriver]:
    prefs = replace(AlgorithmPreferences(), asym_algs=(device_model.asym_alg,))
    config = ResponderConfig(versions=(V13,), algorithms=prefs, capabilities=DEFAULT_RESPONDER_CAPS | CHUNK,
                             data_transfer_size=DTS, max_spdm_msg_size=MAX)
    emulated = EmulatedDevice(replace(config, **device), device_model)  # type: ignore[arg-type]
    emulated.responder.register_vendor_handler(0x7F, b"\x99", lambda payload, _: payload[::-1])
    transport = Rewriting(emulated.pipe(), rewrite)
    requester = Requester(RequesterConfig(trust_anchors=(device_model.root_certificate(),),
                                          capabilities=DEFAULT_REQUESTER_CAPS | CHUNK, data_transfer_size=DTS,
                                          max_spdm_msg_size=MAX, busy_retry_delay=0.0, busy_retries=2))
    driver = RequesterDriver(transport, requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms):
        driver.run(command)
    return transport, requester, driver


def vendor_answer(requester: Requester, driver: RequesterDriver) -> bytes:
    events = driver.run(lambda: requester.vendor_defined(0x7F, b"\x99", PAYLOAD))
    (answer,) = [e for e in events if isinstance(e, VendorResponseReceived)]
    return answer.payload


def _unchanged(request: bytes, response: bytes) -> bytes:
    return response


def _ack_response(response: bytes) -> bytes | None:
    """The response a (non-early) last CHUNK_SEND_ACK carries, or None."""
    if response[1] != ResponseCode.CHUNK_SEND_ACK:
        return None
    acked = ChunkSendAck.decode(response, padded=True)
    return acked.response if acked.has_response and not acked.early_error else None


def test_a_bare_large_response_to_the_last_chunk_send_is_fetched(device_model: DeviceModel) -> None:
    def bare(request: bytes, response: bytes) -> bytes:
        inner = _ack_response(response)
        return inner if inner is not None and inner[1] == ResponseCode.ERROR else response
    transport, requester, driver = negotiated(device_model, bare)
    assert vendor_answer(requester, driver) == PAYLOAD[::-1]
    assert RequestCode.CHUNK_GET in transport.codes


def test_response_not_ready_in_the_last_ack_is_polled(device_model: DeviceModel) -> None:
    transport, requester, driver = negotiated(
        device_model, _unchanged, not_ready_requests=frozenset({RequestCode.VENDOR_DEFINED_REQUEST}))
    assert vendor_answer(requester, driver) == PAYLOAD[::-1]
    assert RequestCode.RESPOND_IF_READY in transport.codes


class _Early:
    """The first ``times`` CHUNK_SEND 1 answered with an early error carrying ``code``.

    The device gets that chunk with a ChunkSeqNo out of order, so it really drops the large request.
    """

    def __init__(self, code: SpdmErrorCode, times: int) -> None:
        self.code, self.times, self.seen = code, times, 0

    def _hit(self, request: bytes) -> bool:
        return request[1] == RequestCode.CHUNK_SEND and request[4] == 1 and self.seen < self.times

    def device_sees(self, request: bytes) -> bytes:
        return request[:4] + b"\x07" + request[5:] if self._hit(request) else request

    def __call__(self, request: bytes, response: bytes) -> bytes:
        if not self._hit(request):
            return response
        self.seen += 1
        assert ChunkSendAck.decode(response, padded=True).early_error
        error = ErrorResponse(spdm_version=V13, error_code=self.code).encode()
        return ack(1, error, handle=request[3], attributes=CHUNK_ACK_EARLY_ERROR)


def _early(code: SpdmErrorCode, times: int) -> Rewrite:
    return _Early(code, times)


def test_an_early_error_answers_the_large_request(device_model: DeviceModel) -> None:
    _, requester, driver = negotiated(device_model, _early(SpdmErrorCode.INVALID_REQUEST, 1))
    with pytest.raises(RemoteErrorResponse) as refused:
        vendor_answer(requester, driver)
    assert refused.value.code == SpdmErrorCode.INVALID_REQUEST
    assert vendor_answer(requester, driver) == PAYLOAD[::-1]  # the connection goes on


def test_an_early_busy_sends_the_large_request_again_with_a_new_handle(device_model: DeviceModel) -> None:
    transport, requester, driver = negotiated(device_model, _early(SpdmErrorCode.BUSY, 2))
    assert vendor_answer(requester, driver) == PAYLOAD[::-1]
    assert transport.codes.count(RequestCode.CHUNK_SEND) == 2 + 2 + 4


def test_busy_for_good_exhausts_the_same_budget(device_model: DeviceModel) -> None:
    transport, requester, driver = negotiated(device_model, _early(SpdmErrorCode.BUSY, 100))
    with pytest.raises(RemoteErrorResponse) as refused:
        vendor_answer(requester, driver)
    assert refused.value.code == SpdmErrorCode.BUSY
    assert transport.codes.count(RequestCode.CHUNK_SEND) == 2 * 3  # the first try and 2 retries


def test_busy_reported_out_of_band_mid_transfer_retries_the_chunk(device_model: DeviceModel) -> None:
    _, requester, driver = negotiated(device_model, _unchanged)
    requester.vendor_defined(0x7F, b"\x99", PAYLOAD)
    first = requester.data_to_send()
    assert first[1] == RequestCode.CHUNK_SEND
    requester.receive_error(SpdmErrorCode.BUSY)  # a carrier says the device was Busy
    requester.handle_timer()
    assert requester.data_to_send() == first
    with pytest.raises(RemoteProtocolError):  # any other ERROR to a chunk request ends the transfer
        requester.receive_error(SpdmErrorCode.UNSPECIFIED)
    with pytest.raises(LocalProtocolError):
        requester.get_version()
