"""Property tests for chunking: random chunk sequences never crash either role or outgrow the bounds.

Responder: random CHUNK_SEND / CHUNK_GET sequences (mostly the right next
chunk, often with one field broken, sometimes random, mixed with other
requests) never make it raise; every answer is the ACK a reference model of
spdm.responder.chunk predicts (plain, with the response after the last
chunk, or EarlyErrorDetected with InvalidRequest / RequestTooLarge) or a
defined ERROR, so the device never holds more of a large request than the
model, which never exceeds LargeMessageSize <= MaxSPDMmsgSize.

Requester: random CHUNK_RESPONSE and CHUNK_SEND_ACK streams end in a
RemoteProtocolError or in exactly the message that was chunked.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spdm.config import ResponderConfig
from spdm.device import DeviceModel
from spdm.errors import RemoteProtocolError, SpdmErrorCode
from spdm.messages import (
    ChunkGet,
    ChunkResponse,
    ChunkSend,
    ChunkSendAck,
    ErrorResponse,
    GetCapabilities,
    GetDigests,
    GetVersion,
    NegotiateAlgorithms,
    VendorDefinedRequest,
)
from spdm.messages.chunk import CHUNK_LAST, split_message
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, CapabilityFlags, ResponseCode, SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from spdm.requester.chunk import ChunkFetch, ChunkSender
from spdm.responder import Responder

V13 = SpdmVersion.V13
DTS, MAX = 0x80, 0x400
P256 = BaseAsymAlgo.ECDSA_P256
INVALID, TOO_LARGE = SpdmErrorCode.INVALID_REQUEST, SpdmErrorCode.REQUEST_TOO_LARGE
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@cache
def model() -> DeviceModel:
    return DeviceModel.generate(P256, slots=(0,))


def responder() -> Responder:
    config = ResponderConfig(algorithms=AlgorithmPreferences(asym_algs=(P256,)),
                             capabilities=ResponderConfig().capabilities | CapabilityFlags.CHUNK_CAP,
                             data_transfer_size=DTS, max_spdm_msg_size=MAX)
    device = Responder(config, model(), rng=lambda size: b"\x5a" * size)
    device.register_vendor_handler(3, b"\x01\x00", lambda payload, _: payload[:8])
    chunk_cap = int(CapabilityFlags.CERT_CAP | CapabilityFlags.CHAL_CAP | CapabilityFlags.CHUNK_CAP)
    for request in (GetVersion(), GetCapabilities(spdm_version=V13, flags=chunk_cap, data_transfer_size=DTS,
                                                  max_spdm_msg_size=MAX),
                    NegotiateAlgorithms(spdm_version=V13, measurement_specification=1, other_params_support=2,
                                        base_asym_algo=P256, base_hash_algo=BaseHashAlgo.SHA_256)):
        answer = device.handle(request.encode())
        assert answer[1] != ResponseCode.ERROR, answer
    return device


@dataclass
class _Expected:
    """The reference model of one channel's large request (spdm.responder.chunk's rules)."""

    handle: int = 0
    size: int = 0
    received: int = 0
    next_seq_no: int = 0
    active: bool = False

    def send(self, request: ChunkSend) -> SpdmErrorCode | bool:
        """The early error this chunk must get, or whether its ACK carries the response."""
        error = self._judge(request)
        if error is not None:
            self.active = False
        return error if error is not None else not self.active and request.chunk_seq_no != 0

    def _judge(self, request: ChunkSend) -> SpdmErrorCode | None:
        if len(request.raw) > DTS:
            return TOO_LARGE
        chunk = len(request.chunk)
        if request.chunk_seq_no == 0:
            size = request.large_message_size or 0
            if self.active:
                return INVALID
            if size > MAX:
                return TOO_LARGE
            if request.last or not chunk or chunk >= size:
                return INVALID
            self.handle, self.size, self.received, self.next_seq_no, self.active = (
                request.handle, size, chunk, 1, True)
            return None
        received = self.received + chunk
        if (not self.active or request.handle != self.handle or request.chunk_seq_no != self.next_seq_no
                or received > self.size or request.last != (received == self.size) or not chunk):
            return INVALID
        self.received, self.next_seq_no = received, self.next_seq_no + 1
        self.active = not request.last
        return None


def _message(size: int) -> bytes:
    return VendorDefinedRequest(spdm_version=V13, standard_id=3, vendor_id=b"\x01\x00",
                                payload=bytes(size)).encode()


@FUZZ
@given(st.data())
def test_random_chunk_sequences_get_the_modelled_answer(data: st.DataObject) -> None:
    device = responder()
    expected = _Expected()
    message = _message(data.draw(st.integers(DTS - 16, 3 * DTS), label="payload"))
    pieces = split_message(message, DTS)
    for _ in range(data.draw(st.integers(1, 14), label="steps")):
        kind = data.draw(st.sampled_from(["next", "next", "next", "broken", "random", "get", "other"]))
        if kind == "other":
            expected.active = False  # any other request abandons the large request
            assert device.handle(GetDigests(spdm_version=V13).encode())[1] != 0
            continue
        if kind == "get":
            expected.active = False
            request = ChunkGet(spdm_version=V13, handle=data.draw(st.integers(0, 3)),
                               chunk_seq_no=data.draw(st.integers(0, 3))).encode()
            answer = device.handle(request)
            assert answer[1] == ResponseCode.CHUNK_RESPONSE or ErrorResponse.decode(answer).error_code in (
                SpdmErrorCode.UNEXPECTED_REQUEST, INVALID)
            continue
        seq_no = expected.next_seq_no if expected.active else 0
        fields: dict[str, object] = {
            "handle": expected.handle if expected.active else 1, "chunk_seq_no": seq_no,
            "large_message_size": len(message) if seq_no == 0 else None,
            "chunk": pieces[seq_no] if seq_no < len(pieces) else b"",
            "attributes": CHUNK_LAST if seq_no == len(pieces) - 1 else 0}
        if kind == "broken":
            name = data.draw(st.sampled_from(sorted(fields)))
            fields[name] = {
                "handle": data.draw(st.integers(0, 255)), "chunk_seq_no": data.draw(st.integers(0, 5)),
                "large_message_size": data.draw(st.integers(0, 2 * MAX)),
                "chunk": data.draw(st.binary(max_size=DTS)), "attributes": data.draw(st.integers(0, 1)),
            }[name]
        elif kind == "random":
            fields = {"handle": data.draw(st.integers(0, 2)), "chunk_seq_no": data.draw(st.integers(0, 4)),
                      "large_message_size": data.draw(st.integers(0, 2 * MAX)),
                      "chunk": data.draw(st.binary(max_size=DTS)), "attributes": data.draw(st.integers(0, 1))}
        if fields["chunk_seq_no"] == 0 and fields["large_message_size"] is None:
            fields["large_message_size"] = len(message)
        request = ChunkSend(spdm_version=V13, **fields).encode()  # type: ignore[arg-type]
        ack = ChunkSendAck.decode(device.handle(request))
        sent = ChunkSend.decode(request)
        assert (ack.handle, ack.chunk_seq_no) == (sent.handle, sent.chunk_seq_no)
        outcome = expected.send(sent)
        if isinstance(outcome, SpdmErrorCode):
            assert ack.early_error and ErrorResponse.decode(ack.response).error_code == outcome
        else:
            assert not ack.early_error and ack.has_response == outcome


# --- the requester -------------------------------------------------------------------------------------

LIMIT = 0x40


def _chunks(message: bytes, handle: int) -> list[bytes]:
    pieces = split_message(message, LIMIT)
    last = len(pieces) - 1
    return [ChunkResponse(spdm_version=V13, attributes=CHUNK_LAST if i == last else 0, handle=handle,
                          chunk_seq_no=i, large_message_size=len(message) if i == 0 else None,
                          chunk=piece).encode() for i, piece in enumerate(pieces)]


@st.composite
def _stream(draw: st.DrawFn, good: list[bytes]) -> tuple[list[bytes], bool]:
    """``good`` with some chunks replaced, dropped, repeated or bit-flipped; whether it is still ``good``."""
    stream = list(good)
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.integers(0, len(stream)))
        how = draw(st.sampled_from(["drop", "repeat", "flip", "random", "insert"]))
        if how == "insert" or not stream or not stream[min(where, len(stream) - 1)]:
            stream.insert(where, draw(st.binary(max_size=2 * LIMIT)))
            continue
        where = min(where, len(stream) - 1)
        if how == "drop":
            del stream[where]
        elif how == "repeat":
            stream.insert(where, stream[where])
        elif how == "random":
            stream[where] = draw(st.binary(max_size=2 * LIMIT))
        else:
            bit = draw(st.integers(0, 8 * len(stream[where]) - 1))
            flipped = bytearray(stream[where])
            flipped[bit // 8] ^= 1 << (bit % 8)
            stream[where] = bytes(flipped)
    return stream, stream == good


@FUZZ
@given(st.data())
def test_random_chunk_response_streams_end_in_a_typed_error_or_the_message(data: st.DataObject) -> None:
    message = data.draw(st.binary(min_size=LIMIT - 15, max_size=6 * LIMIT), label="message")
    stream, intact = data.draw(_stream(_chunks(message, 5)), label="stream")
    fetch = ChunkFetch(V13, 5, 0x400, receive_limit=LIMIT)
    try:
        for taken, item in enumerate(stream):
            whole = fetch.take(item)
            if whole is not None:
                assert whole == message and taken == len(stream) - 1 or not intact
                assert len(whole) <= 0x400
                return
    except RemoteProtocolError:
        assert not intact
        return
    assert not intact  # an intact stream ends in the message


def _acks(pieces: int, handle: int, response: bytes) -> list[bytes]:
    return [ChunkSendAck(spdm_version=V13, handle=handle, chunk_seq_no=i,
                         response=response if i == pieces - 1 else b"").encode() for i in range(pieces)]


@FUZZ
@given(st.data())
def test_random_chunk_send_ack_streams_end_in_a_typed_error_or_the_answer(data: st.DataObject) -> None:
    request = data.draw(st.binary(min_size=LIMIT - 15, max_size=6 * LIMIT), label="request")
    body = data.draw(st.binary(min_size=2, max_size=30))
    response = bytes([V13, ResponseCode.VENDOR_DEFINED_RESPONSE]) + body
    pieces = len(split_message(request, LIMIT))
    good = _acks(pieces, 2, response)
    stream, intact = data.draw(_stream(good), label="stream")
    sender = ChunkSender(V13, 2, request, LIMIT, receive_limit=LIMIT)
    try:
        for item in stream:
            sender.next_request()
            answer = sender.take(item)
            if answer is not None:
                # an intact stream brings the response; a broken one at most what its last ACK
                # carries (the requester cannot tell a changed response) or an ERROR answering the request
                if intact:
                    assert answer == response
                else:
                    assert answer[1] == ResponseCode.ERROR or answer == ChunkSendAck.decode(
                        item, padded=True).response
                return
    except RemoteProtocolError:
        assert not intact
        return
    assert not intact
