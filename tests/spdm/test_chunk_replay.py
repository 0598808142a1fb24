"""Replay of libspdm's chunking capture (spdm13-p384-chunking, DataTransferSize 0x200).

* Our requester (the :class:`~spdm.requester.follow.Follower`, the engine
  ``devsec dump`` runs) follows the reference's conversation outside
  sessions: VCA, GET_DIGESTS, the chunked CERTIFICATEs of slots 0 and 4,
  CHALLENGE_AUTH and the chunked signed MEASUREMENTS.  Each captured CHUNK_GET
  must be exactly the one our engine would send, the chains validate and both
  signatures verify, which they only do when the transcripts hold the
  reassembled messages.  With the capture's DHE secret it goes on into the
  first session and follows the chunked signed MEASUREMENTS there too (up to
  the CHUNK_SENDs of SET_CERTIFICATE, which is not this module's message).
* Our responder, set up like the reference device (its algorithms, DataTransferSize
  0x200, CHUNK_CAP), answers the reference requester's requests up to
  KEY_EXCHANGE: every large response is announced LargeResponse with the
  handle the reference requester then asks for, and its CHUNK_GETs are served.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spdm.config import DEFER_TRUST, RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.errors import LocalProtocolError, SpdmErrorCode
from spdm.events import CertificateChainReceived, ChallengeAuthenticated, MeasurementsReceived
from spdm.messages import ChunkResponse, ChunkSend, ChunkSendAck, ErrorResponse
from spdm.messages.codes import (
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    MeasurementHashAlgo,
    RequestCode,
    ResponseCode,
    SpdmVersion,
)
from spdm.negotiation import AlgorithmPreferences
from spdm.requester.follow import Follower
from spdm.responder import Responder
from tests.vectors import TYPE_SECURED, TYPE_SPDM, exchanges, secrets, spdm_exchanges

SET = "spdm13-p384-chunking"
NOW = datetime(2026, 11, 22, tzinfo=UTC)
F = CapabilityFlags


def clear_part() -> list[tuple[bytes, bytes]]:
    """The plain exchanges before the first KEY_EXCHANGE (DOE padding included)."""
    out = []
    for exchange in spdm_exchanges(SET):
        if exchange.request_payload[1] == RequestCode.KEY_EXCHANGE:
            break
        out.append((exchange.request_payload, exchange.response_payload))
    return out


def test_our_requester_follows_the_chunked_responses() -> None:
    follower = Follower(RequesterConfig(trust_anchors=DEFER_TRUST))
    events = []
    chunk_gets = 0
    for request, response in clear_part():
        follower.adopt(request, now=NOW)
        chunk_gets += request[1] == RequestCode.CHUNK_GET
        follower.receive_data(response)
        while (event := follower.next_event()) is not None:
            events.append(event)
    assert chunk_gets == 14
    chains = [e for e in events if isinstance(e, CertificateChainReceived)]
    assert [c.slot_id for c in chains] == [0, 4, 0]
    assert any(isinstance(e, ChallengeAuthenticated) for e in events)
    (measurements,) = [e for e in events if isinstance(e, MeasurementsReceived)]
    assert measurements.evidence is not None and len(measurements.blocks) == 8
    assert not follower.busy


def reference_like_responder() -> Responder:
    """A device configured as the reference one: P-384, SHA-384, DataTransferSize 0x200, CHUNK_CAP."""
    model = DeviceModel.generate(BaseAsymAlgo.ECDSA_P384, slots=(0, 1, 4))
    caps = (F.CERT_CAP | F.CHAL_CAP | F.MEAS_CAP_SIG | F.MEAS_FRESH_CAP | F.CHUNK_CAP)
    config = ResponderConfig(
        versions=(SpdmVersion.V13,), capabilities=caps, data_transfer_size=0x200,
        max_spdm_msg_size=0x28000,
        algorithms=AlgorithmPreferences(
            hash_algs=(BaseHashAlgo.SHA_384,), asym_algs=(BaseAsymAlgo.ECDSA_P384,),
            measurement_hash_algs=(MeasurementHashAlgo.SHA_384,)))
    return Responder(config, model)


def test_our_responder_answers_the_reference_chunk_gets() -> None:
    responder = reference_like_responder()
    large = 0
    served = 0
    for request, captured in clear_part():
        answer = responder.handle(request)
        assert len(answer) <= 0x200
        if captured[1] == ResponseCode.ERROR:
            theirs = ErrorResponse.decode(captured, padded=True)
            mine = ErrorResponse.decode(answer)
            assert mine.error_code == SpdmErrorCode.LARGE_RESPONSE
            assert mine.large_response_handle == theirs.large_response_handle
            large += 1
        elif request[1] == RequestCode.CHUNK_GET:
            chunk = ChunkResponse.decode(answer)
            reference = ChunkResponse.decode(captured, padded=True)
            assert (chunk.handle, chunk.chunk_seq_no) == (reference.handle, reference.chunk_seq_no)
            served += 1
            if chunk.last != reference.last:
                # our chain or measurement record is not the reference's size: a different chunk count
                assert chunk.last or reference.last
                break
        else:
            assert answer[1] == captured[1], (request[:4].hex(), answer[:4].hex())
    assert large >= 1 and served >= 2


def test_a_captured_chunk_get_other_than_ours_is_refused() -> None:
    follower = Follower(RequesterConfig(trust_anchors=DEFER_TRUST))
    for request, response in clear_part():
        if request[1] == RequestCode.CHUNK_GET:
            wrong = request[:4] + bytes([request[4] + 1]) + request[5:]
            with pytest.raises(LocalProtocolError, match="differs from ours"):
                follower.adopt(wrong, now=NOW)
            return
        follower.adopt(request, now=NOW)
        follower.receive_data(response)
    raise AssertionError("no CHUNK_GET in the capture")


def test_our_requester_follows_chunked_measurements_inside_the_session() -> None:
    follower = Follower(RequesterConfig(trust_anchors=DEFER_TRUST))
    secret_values = [value for _, value in secrets(SET)]
    signed_in_session = 0
    for exchange in exchanges(SET):
        kind = exchange.object_type
        if kind not in (TYPE_SPDM, TYPE_SECURED):
            continue
        payload = exchange.request_payload
        if kind == TYPE_SPDM and payload[1] == RequestCode.CHUNK_SEND:
            break  # SET_CERTIFICATE: another slice's message, not followed here
        secured = kind == TYPE_SECURED
        code = None if secured else payload[1]
        secret = secret_values.pop(0) if code == RequestCode.KEY_EXCHANGE else None
        follower.adopt(payload, now=NOW, secured=secured, secret=secret)
        follower.receive_data(exchange.response_payload, secured=secured)
        while (event := follower.next_event()) is not None:
            if secured and isinstance(event, MeasurementsReceived) and event.evidence is not None:
                signed_in_session += 1
    assert signed_in_session == 1


def test_our_responder_reassembles_the_reference_chunk_sends() -> None:
    responder = reference_like_responder()
    acks = []
    for exchange in spdm_exchanges(SET):
        request = exchange.request_payload
        if request[1] in (RequestCode.KEY_EXCHANGE, RequestCode.FINISH):
            continue  # no sessions on this device; the plain CHUNK_SENDs come between them
        answer = responder.handle(request)
        if request[1] == RequestCode.CHUNK_SEND:
            sent = ChunkSend.decode(request, padded=True)
            ack = ChunkSendAck.decode(answer)
            reference = ChunkSendAck.decode(exchange.response_payload, padded=True)
            assert (ack.handle, ack.chunk_seq_no) == (sent.handle, sent.chunk_seq_no)
            assert (ack.handle, ack.chunk_seq_no, ack.early_error) == \
                (reference.handle, reference.chunk_seq_no, reference.early_error)
            assert ack.has_response == reference.has_response == sent.last
            acks.append(ack)
    assert len(acks) == 8
    # the reassembled SET_CERTIFICATE was dispatched: its own answer (SET_CERTIFICATE_RSP where the
    # device implements it, else UnsupportedRequest naming SET_CERTIFICATE) rides in the last ACK
    for ack in acks[3::4]:
        assert ack.response[0] == SpdmVersion.V13
        if ack.response[1] == ResponseCode.ERROR:
            error = ErrorResponse.decode(ack.response)
            assert error.error_data == RequestCode.SET_CERTIFICATE
        else:
            assert ack.response[1] == ResponseCode.SET_CERTIFICATE_RSP
