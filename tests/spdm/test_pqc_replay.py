"""Replay of the reference's post-quantum capture (spdm14-mldsa65-mlkem768): SPDM 1.4, ML-DSA-65,
ML-KEM-768, chunked CERTIFICATE and KEY_EXCHANGE_RSP.

* Our requester (the :class:`~spdm.requester.follow.Follower`, the engine ``devsec dump`` runs)
  follows the whole conversation: the chunked ML-DSA-65 chains of slots 0 and 4 validate, the
  CHALLENGE_AUTH, MEASUREMENTS and both KEY_EXCHANGE_RSP signatures verify, and with the capture's
  two ``--kem_secret`` values both ML-KEM sessions are decrypted (HEARTBEAT, KEY_UPDATE, END_SESSION).
* Our responder, set up like the reference device (ML-DSA-65, ML-KEM-768, CHUNK_CAP), answers the
  reference requester's out-of-session requests up to KEY_EXCHANGE, which it answers by encapsulating
  to the reference's ML-KEM-768 key.
"""

from __future__ import annotations

from datetime import UTC, datetime

from spdm.config import ResponderConfig
from spdm.device import DeviceModel
from spdm.errors import SpdmErrorCode
from spdm.events import (
    AlgorithmsNegotiated,
    CertificateChainReceived,
    ChallengeAuthenticated,
    Event,
    MeasurementsReceived,
    SessionEnded,
    SessionEstablished,
)
from spdm.messages import Algorithms, ErrorResponse
from spdm.messages.codes import (
    AeadSuite,
    AlgType,
    BaseHashAlgo,
    CapabilityFlags,
    KemAlgo,
    MeasurementHashAlgo,
    PqcAsymAlgo,
    RequestCode,
    ResponseCode,
    SpdmVersion,
)
from spdm.negotiation import SESSION_CAPS, AlgorithmPreferences
from spdm.requester.follow import Follower
from spdm.responder import Responder
from tests.vectors import follow_doe, spdm_exchanges

SET = "spdm14-mldsa65-mlkem768"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
F = CapabilityFlags


def follow_everything() -> tuple[Follower, list[Event]]:
    return follow_doe(SET, now=NOW)


def test_our_requester_follows_the_whole_capture() -> None:
    follower, events = follow_everything()
    (negotiated,) = [e.negotiated for e in events if isinstance(e, AlgorithmsNegotiated)]
    assert (negotiated.version, negotiated.pqc_asym_alg, negotiated.kem_alg) == (
        SpdmVersion.V14, PqcAsymAlgo.ML_DSA_65, KemAlgo.ML_KEM_768)
    chains = [e for e in events if isinstance(e, CertificateChainReceived)]
    assert [c.slot_id for c in chains] == [0, 4, 0]
    assert all(len(c.chain.raw) in (0x41D5, 0x41DB) for c in chains)
    assert sum(isinstance(e, ChallengeAuthenticated) for e in events) == 1
    (measurements,) = [e for e in events if isinstance(e, MeasurementsReceived)]
    assert measurements.evidence is not None and len(measurements.blocks) == 8
    assert sum(isinstance(e, SessionEstablished) for e in events) == 2
    assert sum(isinstance(e, SessionEnded) for e in events) == 2
    assert not follower.busy


def reference_like_responder() -> Responder:
    """A device configured as the reference one: an ML-DSA-65 identity in slots 0, 1 and 4, SHA-384,
    ML-KEM-768, AES-256-GCM, CHUNK_CAP, HANDSHAKE_IN_THE_CLEAR and LARGE_RESP_CAP (the requester
    asks for the chains in the 1.4 LargeCertChain form), SPDM 1.4, the reference's sizes."""
    model = DeviceModel.generate(PqcAsymAlgo.ML_DSA_65, slots=(0, 1, 4))
    caps = (F.CERT_CAP | F.CHAL_CAP | F.MEAS_CAP_SIG | F.MEAS_FRESH_CAP | F.CHUNK_CAP | SESSION_CAPS
            | F.HANDSHAKE_IN_THE_CLEAR_CAP | F.LARGE_RESP_CAP)
    config = ResponderConfig(
        versions=(SpdmVersion.V14,), capabilities=caps, data_transfer_size=0x1200, max_spdm_msg_size=0x28000,
        algorithms=AlgorithmPreferences(
            hash_algs=(BaseHashAlgo.SHA_384,), asym_algs=(), pqc_asym_algs=(PqcAsymAlgo.ML_DSA_65,),
            kem_algs=(KemAlgo.ML_KEM_768,), aead_suites=(AeadSuite.AES_256_GCM,),
            measurement_hash_algs=(MeasurementHashAlgo.SHA_384,)))
    return Responder(config, model)


def test_our_responder_answers_the_reference_requester() -> None:
    """Out of session, up to and including KEY_EXCHANGE (FINISH carries the reference's verify data
    under its own ML-KEM secret, which our responder's fresh encapsulation cannot reproduce).

    The reference selects MULTI_KEY_CONN; this device has no MULTI_KEY_CAP and answers single-key,
    which changes no response code here.  Every large response (the ML-DSA chains, KEY_EXCHANGE_RSP)
    is announced LargeResponse and its CHUNK_GETs served while our chunking and the reference's agree.
    """
    responder = reference_like_responder()
    answered: list[int] = []
    large = 0
    unchunked = False  # we answered in one message what the reference sent in chunks
    for exchange in spdm_exchanges(SET):
        request, captured = exchange.request_payload, exchange.response_payload
        if request[1] == RequestCode.FINISH:
            break
        if request[1] == RequestCode.CHUNK_GET and unchunked:
            continue
        answer = responder.handle(request)
        answered.append(request[1])
        unchunked = captured[1] == ResponseCode.ERROR and answer[1] != ResponseCode.ERROR
        if unchunked:
            # The reference device sends at most 0x1100 bytes at once (its own limit); ours sends
            # what the requester's DataTransferSize 0x1200 takes: the 4.5 KiB KEY_EXCHANGE_RSP fits.
            assert (request[1], answer[1]) == (RequestCode.KEY_EXCHANGE, ResponseCode.KEY_EXCHANGE_RSP)
            assert len(answer) <= 0x1200
            continue
        assert answer[1] == captured[1], (request[:4].hex(), answer[:8].hex())
        if answer[1] == ResponseCode.ERROR:
            mine = ErrorResponse.decode(answer)
            assert mine.error_code == SpdmErrorCode.LARGE_RESPONSE
            large += 1
        if answer[1] == ResponseCode.ALGORITHMS:
            algorithms = Algorithms.decode(answer)
            assert (algorithms.base_asym_sel, algorithms.pqc_asym_sel) == (0, PqcAsymAlgo.ML_DSA_65)
            assert algorithms.alg_supported(AlgType.KEM) == KemAlgo.ML_KEM_768
    assert large == 3  # the chains of slots 0, 4 and 0 again
    assert RequestCode.KEY_EXCHANGE in answered and RequestCode.CHALLENGE in answered


def test_a_key_exchange_with_a_broken_encapsulation_key_is_refused() -> None:
    """FIPS 203's modulus check fails on an all-0xff key: ERROR InvalidRequest, no session."""
    responder = reference_like_responder()
    for exchange in spdm_exchanges(SET):
        request = exchange.request_payload
        if request[1] == RequestCode.KEY_EXCHANGE:
            broken = request[:40] + b"\xff" * 1184 + request[40 + 1184:]
            answer = ErrorResponse.decode(responder.handle(broken))
            assert answer.error_code == SpdmErrorCode.INVALID_REQUEST
            assert responder.handle(request)[1] == ResponseCode.KEY_EXCHANGE_RSP  # the real one is fine
            return
        if request[1] != RequestCode.CHUNK_GET:
            responder.handle(request)
    raise AssertionError("no KEY_EXCHANGE in the capture")
