"""Replay of libspdm's SPDM 1.4 capture (``spdm14-p384``) against our two engines.

* Our requester follows the reference responder: the passive
  :class:`~spdm.requester.follow.Follower` (the engine ``devsec dump`` runs)
  takes the whole capture, plain and secured (two KEY_EXCHANGE sessions, both
  ID 0xFFFFFFFF, opened with ``secrets.txt``), with the engine's own checks:
  the 1.4 VCA (PqcAsym/KEM offered, none selected), the LargeCertChain
  CERTIFICATEs of slots 0 and 4, CHALLENGE_AUTH and every MEASUREMENTS and
  ENDPOINT_INFO signature verified with the "dmtf-spdm-v1.4.*" prefix, FINISH
  and FINISH_RSP with their 1.4 opaque data.  A flipped signature bit is refused.
* The reference requester's in-session answer to the responder's encapsulated
  GET_ENDPOINT_INFO is signed with its RSASSA-PSS-3072 key; that key's chain
  is not in this capture (mutual authentication is off), so it is taken from
  the same emulator's mutual-auth capture (``spdm13-p384-mutauth-psk``, the
  chain its requester delivered) and both signatures verify over
  IL1 = A ‖ GET_ENDPOINT_INFO ‖ ENDPOINT_INFO without its signature.
* Our responder answers the reference requester's out-of-session requests
  (VCA, DIGESTS, large-form CERTIFICATE of slots 0 and 4, CHALLENGE,
  MEASUREMENTS) with the response the reference responder gave each, and its
  signatures verify over transcripts built here independently.  The
  reference selected MULTI_KEY_CONN (OtherParam 0x12); our responder does not
  (multi-key connections are another slice's work), so its ALGORITHMS answers
  0x02 and its DIGESTS carries no KeyPairID tail.  The sessions are not
  replayed to our responder (the captured FINISH is bound to the reference's
  keys; test_spdm14_pair.py covers our own 1.4 sessions).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spdm.config import DEFAULT_RESPONDER_CAPS, ResponderConfig
from spdm.crypto import parse_spdm_cert_chain, verify
from spdm.device import DeviceModel
from spdm.errors import VerificationError
from spdm.events import (
    AlgorithmsNegotiated,
    CertificateChainReceived,
    ChallengeAuthenticated,
    EndpointInfoReceived,
    Event,
    MeasurementsReceived,
    SessionEstablished,
)
from spdm.messages import (
    REQUEST_TYPES,
    Algorithms,
    Certificate,
    CodecContext,
    DeliverEncapsulatedResponse,
    Digests,
    EndpointInfo,
    GetCertificate,
    GetEndpointInfo,
)
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, RequestCode, ResponseCode, SpdmVersion
from spdm.responder import Responder
from tests.spdm.test_spdm14_codec import exchanges as logged_exchanges
from tests.vectors import flip_last_byte_of, follow_doe, spdm_exchanges

SET = "spdm14-p384"
NOW = datetime(2026, 12, 5, tzinfo=UTC)
P384, SHA384 = BaseAsymAlgo.ECDSA_P384, BaseHashAlgo.SHA_384
VCA = (RequestCode.GET_VERSION, RequestCode.GET_CAPABILITIES, RequestCode.NEGOTIATE_ALGORITHMS)
ENCAPSULATED = (RequestCode.GET_ENCAPSULATED_REQUEST, RequestCode.DELIVER_ENCAPSULATED_RESPONSE)
V14_PREFIX = b"dmtf-spdm-v1.4.*" * 4


def follow(tamper: int | None = None) -> list[Event]:
    """Every event of the followed capture (``tamper``: flip that dump.txt record's last byte)."""
    return follow_doe(SET, now=NOW, alter=flip_last_byte_of(tamper) if tamper else None)[1]


def test_our_requester_follows_the_whole_capture_with_every_signature_verified() -> None:
    events = follow()
    (negotiated,) = [e.negotiated for e in events if isinstance(e, AlgorithmsNegotiated)]
    assert negotiated.version == SpdmVersion.V14
    assert (negotiated.asym_alg, negotiated.pqc_asym_alg, negotiated.kem_alg) == (P384, 0, 0)
    assert negotiated.multi_key
    chains = [e for e in events if isinstance(e, CertificateChainReceived)]
    assert [e.slot_id for e in chains] == [0, 4, 0]
    (challenge,) = [e for e in events if isinstance(e, ChallengeAuthenticated)]
    assert challenge.evidence.combined_prefix.startswith(V14_PREFIX)
    measurements = [e for e in events if isinstance(e, MeasurementsReceived)]
    assert len(measurements) == 3 and all(e.evidence is not None for e in measurements)
    assert all(len(e.blocks) == 8 for e in measurements)
    infos = [e for e in events if isinstance(e, EndpointInfoReceived)]
    assert [e.slot_id for e in infos] == [0, 4]
    assert all(e.evidence is not None and e.evidence.combined_prefix.startswith(V14_PREFIX) for e in infos)
    sessions = [e for e in events if isinstance(e, SessionEstablished)]
    assert [(e.session_id, e.secured_message_version) for e in sessions] == [(0xFFFFFFFF, 0x1200)] * 2


@pytest.mark.parametrize("record", [20, 28, 30], ids=["challenge_auth", "measurements", "key_exchange_rsp"])
def test_a_flipped_signature_bit_is_refused(record: int) -> None:
    with pytest.raises(VerificationError, match="signature"):
        follow(tamper=record)  # dump.txt numbering; each of these responses ends in its signature


def _a() -> bytes:
    """A: the VCA messages as the reference requester logged them."""
    return b"".join(REQUEST_TYPES[q[1]].decode(q, padded=True).raw + r
                    for _, q, r, _ in logged_exchanges() if q[1] in VCA)


def _reference_requester_chain() -> bytes:
    """The chain spdm-emu's requester delivered (encapsulated CERTIFICATE) in its mutual-auth capture."""
    chain = b""
    for exchange in spdm_exchanges("spdm13-p384-mutauth-psk"):
        if exchange.request_payload[1] == RequestCode.DELIVER_ENCAPSULATED_RESPONSE:
            inner = DeliverEncapsulatedResponse.decode(exchange.request_payload,
                                                       padded=True).encapsulated_response
            if inner[1] == ResponseCode.CERTIFICATE:
                chain += Certificate.decode(inner).cert_chain
    return chain[:int.from_bytes(chain[:2], "little")]  # the first retrieval


@pytest.mark.parametrize("tamper", [False, True])
def test_the_encapsulated_endpoint_info_signatures_verify(tamper: bool) -> None:
    key = parse_spdm_cert_chain(_reference_requester_chain(), SHA384).leaf.public_key()
    encapsulated = [(q, r, c) for _, q, r, c in logged_exchanges()
                    if q[1] == RequestCode.GET_ENDPOINT_INFO and c.signature_size == 384]
    assert len(encapsulated) == 2
    for request, response, ctx in encapsulated:
        get = GetEndpointInfo.decode(request, ctx, padded=True)
        info = EndpointInfo.decode(response, ctx, padded=True)
        il1 = _a() + get.raw + info.signed_part + (b"\x00" if tamper else b"")
        if tamper:
            with pytest.raises(VerificationError):
                verify(key, BaseAsymAlgo.RSAPSS_3072, SHA384, SpdmVersion.V14,
                       "requester-endpoint_info signing", il1, info.signature)
        else:
            verify(key, BaseAsymAlgo.RSAPSS_3072, SHA384, SpdmVersion.V14,
                   "requester-endpoint_info signing", il1, info.signature)


def test_our_responder_answers_the_reference_requests() -> None:
    model = DeviceModel.generate(P384, slots=(0, 4))
    responder = Responder(ResponderConfig(capabilities=DEFAULT_RESPONDER_CAPS), model)
    ctx = CodecContext(hash_size=48, signature_size=96)
    a = b_part = l1 = b""
    verified = 0
    for exchange in spdm_exchanges(SET):
        request = exchange.request_payload
        if request[1] == RequestCode.KEY_EXCHANGE:
            break
        answer = responder.handle(request)
        captured = exchange.response_payload
        assert answer[1] == captured[1], (exchange.index, answer[:4].hex())
        raw = REQUEST_TYPES[request[1]].decode(request, padded=True).raw
        if request[1] in VCA:
            assert answer[0] == 0x10 or answer[0] == SpdmVersion.V14
            a += raw + answer
        if request[1] == RequestCode.NEGOTIATE_ALGORITHMS:
            algorithms = Algorithms.decode(answer)
            assert algorithms.pqc_asym_sel == 0 and algorithms.base_asym_sel == P384
            assert [(s.alg_type, s.alg_supported) for s in algorithms.alg_structs][4:] == [(6, 0), (7, 0)]
            assert algorithms.other_params_selection == 0x02  # no MULTI_KEY_CONN here (see above)
        if request[1] == RequestCode.GET_DIGESTS:
            assert Digests.decode(answer, ctx).provisioned_slot_mask == 0b10001
            b_part += raw + answer
        if request[1] == RequestCode.GET_CERTIFICATE:
            assert GetCertificate.decode(request, padded=True).large_cert_chain
            certificate = Certificate.decode(answer)
            assert certificate.large_cert_chain and certificate.remainder_length == 0
            b_part += raw + answer
        if request[1] == RequestCode.CHALLENGE:
            signed = a + b_part + raw + answer[:-96]
            verify(model.slots[0].leaf.public_key(), P384, SHA384, SpdmVersion.V14,
                   "responder-challenge_auth signing", signed, answer[-96:])
            verified += 1
        if request[1] == RequestCode.GET_MEASUREMENTS:
            l1 += raw + answer[:-96]
            verify(model.slots[0].leaf.public_key(), P384, SHA384, SpdmVersion.V14,
                   "responder-measurements signing", a + l1, answer[-96:])
            verified += 1
    assert verified == 2
