"""The chunking capture's in-session CHUNK_SENDs (SET_CERTIFICATE slot 4 in the first session), replayed.

Our Follower follows the capture into the first KEY_EXCHANGE session (the
capture's DHE secret), so it holds that session's keys; with them the
in-session records 81-88 open: four CHUNK_SENDs carrying a SET_CERTIFICATE
for slot 4 and the reference responder's four CHUNK_SEND_ACKs, the last
carrying SET_CERTIFICATE_RSP.  Every record authenticates under our key
schedule's keys (in order: the sequence numbers follow the session's), the
chunks reassemble into a SET_CERTIFICATE that decodes byte-exact, and our
responder, set up like the reference device, acknowledges each chunk as the
reference did (handle, ChunkSeqNo, no early error, the response in the last
ACK only).  Our responder takes them outside a session: the captured
session's keys are the reference's, so no record of ours could match them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from spdm.config import DEFER_TRUST, RequesterConfig
from spdm.messages import ChunkSend, ChunkSendAck, SetCertificate, SetCertificateRsp
from spdm.messages.codes import RequestCode, ResponseCode, SpdmVersion
from spdm.requester.follow import Follower
from spdm.secured import open_record, record_session_id
from tests.spdm.test_chunk_replay import SET, clear_part, reference_like_responder
from tests.vectors import TYPE_SECURED, TYPE_SPDM, exchanges, secrets

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def in_session_chunk_sends() -> list[tuple[bytes, bytes]]:
    """(CHUNK_SEND, CHUNK_SEND_ACK) plaintexts of the first session's SET_CERTIFICATE."""
    follower = Follower(RequesterConfig(trust_anchors=DEFER_TRUST))
    secret_values = [value for _, value in secrets(SET)]
    pairs: list[tuple[bytes, bytes]] = []
    following = True
    for exchange in exchanges(SET):
        kind = exchange.object_type
        if kind not in (TYPE_SPDM, TYPE_SECURED):
            continue
        payload = exchange.request_payload
        if following and kind == TYPE_SPDM and payload[1] == RequestCode.CHUNK_SEND:
            following = False  # the out-of-session SET_CERTIFICATE: not followed, no session record
        if following:
            secured = kind == TYPE_SECURED
            secret = secret_values.pop(0) if not secured and payload[1] == RequestCode.KEY_EXCHANGE else None
            follower.adopt(payload, now=NOW, secured=secured, secret=secret)
            follower.receive_data(exchange.response_payload, secured=secured)
            while follower.next_event() is not None:
                pass
            continue
        if kind != TYPE_SECURED:
            continue
        session = follower.engine.sessions[record_session_id(payload)]
        keys = session.current_keys()
        request = open_record(keys.request, payload, expected_session_id=session.session_id)
        response = open_record(keys.response, exchange.response_payload,
                               expected_session_id=session.session_id)
        if request[1] != RequestCode.CHUNK_SEND:
            break  # END_SESSION
        pairs.append((request, response))
    return pairs


def test_the_in_session_chunk_sends_open_and_reassemble() -> None:
    pairs = in_session_chunk_sends()
    sends = [ChunkSend.decode(request, padded=True) for request, _ in pairs]
    assert [s.chunk_seq_no for s in sends] == [0, 1, 2, 3] and sends[-1].last
    assert all(s.handle == sends[0].handle for s in sends)
    whole = b"".join(s.chunk for s in sends)
    assert sends[0].large_message_size == len(whole)
    request = SetCertificate.decode(whole)
    assert request.encode() == whole and request.slot_id == 4
    last_ack = ChunkSendAck.decode(pairs[-1][1], padded=True)
    assert SetCertificateRsp.decode(last_ack.response, padded=True).slot_id == 4


def test_our_responder_acknowledges_them_as_the_reference_did() -> None:
    responder = reference_like_responder()
    for request, _ in clear_part():  # VCA and what came before the session, as the reference sent it
        responder.handle(request)
    for request, captured in in_session_chunk_sends():
        ours = ChunkSendAck.decode(responder.handle(request))
        theirs = ChunkSendAck.decode(captured, padded=True)
        assert (ours.handle, ours.chunk_seq_no, ours.early_error, ours.has_response) == \
            (theirs.handle, theirs.chunk_seq_no, theirs.early_error, theirs.has_response)
    # the reassembled SET_CERTIFICATE was dispatched: this device has no SET_CERT_CAP, and says so
    assert ours.response[:2] == bytes([SpdmVersion.V13, ResponseCode.ERROR])
    assert ours.response[3] == RequestCode.SET_CERTIFICATE
