"""Replay of libspdm's endpoint capture (``spdm13-p384-endpoint-mel-keypair``) against our two engines.

* Our requester follows the reference responder: the passive
  :class:`~spdm.requester.follow.Follower` (the engine ``devsec dump`` runs)
  takes the whole capture, plain and secured (two KEY_EXCHANGE sessions,
  opened with ``secrets.txt``), and reports every endpoint message with the
  engine's own checks: each ENDPOINT_INFO signature verified over IL1 with the
  leaf of the slot it names, each MEL decoded, each key pair reported.  A
  flipped signature bit is refused.  The in-session encapsulated
  GET_ENDPOINT_INFO exchange is not mistaken for a responder key update.
* Our responder answers the reference requester's out-of-session requests
  (VCA selecting MULTI_KEY_CONN as the reference did, the multi-key DIGESTS,
  CERTIFICATE slots 0 and 4, the MEL, signed ENDPOINT_INFO, KEY_PAIR_INFO, SET_KEY_PAIR_INFO Change and Erase)
  with the response the reference responder gave each (its own content: our
  keys, our MEL), and its signature verifies over the A our device saw.  The
  encapsulated requests are answered per our capabilities (no ENCAP_CAP here:
  UnsupportedRequest), and the sessions are not replayed to our responder (the
  captured FINISH is bound to the reference's keys; the pair tests cover
  endpoint messages in our own sessions).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spdm.config import DEFAULT_RESPONDER_CAPS, ResponderConfig
from spdm.crypto import verify
from spdm.crypto.certs import parse_der_certificates
from spdm.device import DeviceModel
from spdm.device_endpoint import EndpointData, KeyPair
from spdm.errors import VerificationError
from spdm.events import (
    EndpointInfoReceived,
    Event,
    KeyPairInfoReceived,
    KeyPairInfoSet,
    KeyUpdated,
    MeasurementExtensionLogReceived,
    SessionEstablished,
)
from spdm.messages import REQUEST_TYPES, CodecContext, Digests, EndpointInfo, GetEndpointInfo
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, RequestCode, ResponseCode, SpdmVersion
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.mel import Mel
from spdm.responder import Responder
from tests.vectors import TYPE_SPDM, Exchange, exchanges, flip_last_byte_of, follow_doe

SET = "spdm13-p384-endpoint-mel-keypair"
NOW = datetime(2026, 11, 22, tzinfo=UTC)
ENDPOINT_CAPS = F.EP_INFO_CAP_SIG | F.MEL_CAP | F.GET_KEY_PAIR_INFO_CAP | F.SET_KEY_PAIR_INFO_CAP
VCA = (RequestCode.GET_VERSION, RequestCode.GET_CAPABILITIES, RequestCode.NEGOTIATE_ALGORITHMS)
ENCAPSULATED = (RequestCode.GET_ENCAPSULATED_REQUEST, RequestCode.DELIVER_ENCAPSULATED_RESPONSE)


def follow(tamper: int | None = None) -> list[Event]:
    """Every event of the followed capture (``tamper``: flip that dump.txt record's last byte)."""
    return follow_doe(SET, now=NOW, alter=flip_last_byte_of(tamper) if tamper else None)[1]


def test_our_requester_follows_every_endpoint_exchange_with_signatures_verified() -> None:
    events = follow()
    infos = [e for e in events if isinstance(e, EndpointInfoReceived)]
    assert [(e.slot_id, e.evidence is not None) for e in infos] == [(0, True), (0, True), (4, True)]
    for info in infos:
        assert info.evidence is not None
        assert info.evidence.context == "responder-endpoint_info signing"
    mels = [e for e in events if isinstance(e, MeasurementExtensionLogReceived)]
    assert len(mels) == 3 and all(e.entries == 3 and len(e.mel) == 0x3F for e in mels)
    values = [e.value for e in Mel.decode(mels[0].mel).entries]
    assert values == [b"ROM", b"Boot FW", bytes.fromhex("0a030001")]
    pairs = [(e.key_pair_id, e.total_key_pairs, e.current_asym_algo)
             for e in events if isinstance(e, KeyPairInfoReceived)]
    assert pairs == [(1, 24, 1), (1, 24, 0), (1, 24, 0)]
    sets = [(e.operation, e.key_pair_id) for e in events if isinstance(e, KeyPairInfoSet)]
    assert sets == [(0, 1), (1, 1)] * 3
    assert sum(isinstance(e, SessionEstablished) for e in events) == 2


def test_the_encapsulated_endpoint_info_in_a_session_is_no_key_update() -> None:
    assert not [e for e in follow() if isinstance(e, KeyUpdated)]


def test_a_flipped_endpoint_info_signature_is_refused() -> None:
    with pytest.raises(VerificationError, match="endpoint_info"):
        follow(tamper=28)  # dump.txt record 28: the first ENDPOINT_INFO


def _our_device() -> tuple[Responder, DeviceModel]:
    model = DeviceModel.generate(BaseAsymAlgo.ECDSA_P384, slots=(0, 1, 4))
    data = EndpointData(key_pairs=[KeyPair(1, 0x3F, 0xF, 0xF, 0x1FF, 0x1, 0x13)])  # slots 0, 1, 4
    data.extend(0x11, 0x89, b"ROM")
    model = model.with_endpoint(data)
    config = ResponderConfig(versions=(SpdmVersion.V13,),
                             capabilities=DEFAULT_RESPONDER_CAPS | ENDPOINT_CAPS | F.MULTI_KEY_CAP_NEG)
    return Responder(config, model), model


def _plain_before_sessions() -> list[Exchange]:
    out = []
    for exchange in exchanges(SET):
        if exchange.object_type != TYPE_SPDM:
            continue
        if exchange.request_payload[1] == RequestCode.KEY_EXCHANGE:
            break
        out.append(exchange)
    return out


def test_our_responder_answers_the_reference_requests() -> None:
    responder, model = _our_device()
    a = b""
    signed = 0
    for exchange in _plain_before_sessions():
        request = exchange.request_payload
        answer = responder.handle(request)
        if request[1] in ENCAPSULATED:
            assert answer[1] == ResponseCode.ERROR
            continue
        assert answer[1] == exchange.response_payload[1]
        if request[1] == RequestCode.NEGOTIATE_ALGORITHMS:  # MULTI_KEY_CONN, as the reference selected
            assert answer[7] == exchange.response_payload[7] == 0x12
        if request[1] == RequestCode.GET_DIGESTS:
            digests = Digests.decode(answer, CodecContext(hash_size=48, multi_key=True))
            assert digests.key_pair_ids == (1, 1, 1) and digests.key_usage_masks == (0xF, 0xF, 0xF)
        get = None
        if request[1] == RequestCode.GET_ENDPOINT_INFO:
            get = GetEndpointInfo.decode(request, padded=True)
        if request[1] in VCA:
            a += REQUEST_TYPES[request[1]].decode(request, padded=True).raw + answer
        if get is not None and get.signature_requested:
            info = EndpointInfo.decode(answer, CodecContext(signature_size=96, signed=True))
            chain = model.certificate_chain(get.slot_id, BaseHashAlgo.SHA_384)
            assert chain is not None
            key = parse_der_certificates(chain[4 + 48:])[-1].public_key()
            verify(key, BaseAsymAlgo.ECDSA_P384, BaseHashAlgo.SHA_384, SpdmVersion.V13,
                   "responder-endpoint_info signing", a + get.raw + info.signed_part, info.signature)
            signed += 1
    assert signed == 1
    assert [k.current_asym_algo for k in model.endpoint.key_pairs()] == [0]  # the captured Erase took

