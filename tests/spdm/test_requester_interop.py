"""Our requester against the reference responder's recorded answers (libspdm captures).

For each capture, the requester is configured the way the reference requester
was (flags, sizes, algorithm masks) and fed the reference's nonces through its
injected ``rng``.  It must then emit every request byte-for-byte as the
reference did, accept every recorded response, and verify every signature in
it: that is interoperability with an independent implementation, in both the
encoding and the verification direction, without a live peer.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime
from enum import IntFlag
from typing import TypeVar

import pytest

from spdm.config import RequesterConfig
from spdm.crypto import Certificate, load_certificates, parse_spdm_cert_chain
from spdm.errors import VerificationError
from spdm.events import (
    AlgorithmsNegotiated,
    CertificateChainReceived,
    ChallengeAuthenticated,
    ErrorResponseReceived,
    Event,
    MeasurementsReceived,
)
from spdm.messages import (
    Algorithms,
    Challenge,
    GetCapabilities,
    GetCertificate,
    GetMeasurements,
    NegotiateAlgorithms,
)
from spdm.messages import Certificate as Certificate_
from spdm.messages.codes import (
    AeadSuite,
    AlgType,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    KeyScheduleAlgo,
    MeasurementSummaryHashType,
    OpaqueDataFormat,
    RequestCode,
    ResponseCode,
    SpdmVersion,
)
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import Requester
from tests.vectors import SETS, Exchange, spdm_exchanges

E = TypeVar("E", bound=IntFlag)
NOW = datetime(2026, 11, 22, tzinfo=UTC)  # inside every captured certificate's validity
_STOP = {RequestCode.KEY_EXCHANGE, RequestCode.PSK_EXCHANGE}
_SKIP = {RequestCode.GET_ENCAPSULATED_REQUEST, RequestCode.DELIVER_ENCAPSULATED_RESPONSE}


def _bits(mask: int, enum: type[E]) -> tuple[E, ...]:
    return tuple(enum(1 << i) for i in range(32) if mask >> i & 1)


def _captured_roots(exchanges: tuple[Exchange, ...], hash_alg: BaseHashAlgo) -> tuple[Certificate, ...]:
    """The roots of the chains the reference responder sent (slots may have different roots)."""
    roots = {
        parse_spdm_cert_chain(
            Certificate_.decode(e.response_payload, padded=True).cert_chain, hash_alg
        ).root.der
        for e in exchanges if e.response_payload[1] == ResponseCode.CERTIFICATE
    }
    return tuple(load_certificates(der)[0] for der in sorted(roots))


def _config_like_reference(exchanges: tuple[Exchange, ...]) -> RequesterConfig:
    """A RequesterConfig that makes our VCA requests identical to the reference's.

    Its trust anchors are the roots of the reference device's own chains.
    """
    caps = next(GetCapabilities.decode(e.request_payload, padded=True) for e in exchanges
                if e.request_payload[1] == RequestCode.GET_CAPABILITIES)
    algs = next(NegotiateAlgorithms.decode(e.request_payload, padded=True) for e in exchanges
                if e.request_payload[1] == RequestCode.NEGOTIATE_ALGORITHMS)
    prefs = AlgorithmPreferences(
        hash_algs=_bits(algs.base_hash_algo, BaseHashAlgo),
        asym_algs=_bits(algs.base_asym_algo, BaseAsymAlgo),
        dhe_groups=_bits(algs.alg_supported(AlgType.DHE), DheGroup),
        aead_suites=_bits(algs.alg_supported(AlgType.AEAD), AeadSuite),
        req_asym_algs=_bits(algs.alg_supported(AlgType.REQ_BASE_ASYM_ALG), BaseAsymAlgo),
        key_schedules=_bits(algs.alg_supported(AlgType.KEY_SCHEDULE), KeyScheduleAlgo),
        opaque_formats=_bits(algs.other_params_support & 0x0F, OpaqueDataFormat),
    )
    selected = next(Algorithms.decode(e.response_payload, padded=True) for e in exchanges
                    if e.response_payload[1] == ResponseCode.ALGORITHMS)
    portion = next(GetCertificate.decode(e.request_payload, padded=True).length for e in exchanges
                   if e.request_payload[1] == RequestCode.GET_CERTIFICATE)
    return RequesterConfig(
        trust_anchors=_captured_roots(exchanges, BaseHashAlgo(selected.base_hash_sel)),
        versions=(SpdmVersion(caps.spdm_version),),
        capabilities=CapabilityFlags(caps.flags),
        ct_exponent=caps.ct_exponent,
        algorithms=prefs,
        data_transfer_size=caps.data_transfer_size,
        max_spdm_msg_size=caps.max_spdm_msg_size,
        multi_key_conn=bool(algs.other_params_support & 0x10),
        mel_specification=algs.mel_specification,
        certificate_portion=portion,
    )


class ScriptedRandom:
    """An rng that hands out the reference requester's nonces and contexts in order."""

    def __init__(self) -> None:
        self.queue: deque[bytes] = deque()

    def __call__(self, size: int) -> bytes:
        value = self.queue.popleft()
        assert len(value) == size
        return value


def _issue(requester: Requester, rng: ScriptedRandom, payload: bytes) -> None:
    """Call the requester command that produces the captured request."""
    code = payload[1]
    if code == RequestCode.GET_VERSION:
        requester.get_version()
    elif code == RequestCode.GET_CAPABILITIES:
        requester.get_capabilities()
    elif code == RequestCode.NEGOTIATE_ALGORITHMS:
        requester.negotiate_algorithms()
    elif code == RequestCode.GET_DIGESTS:
        requester.get_digests()
    elif code == RequestCode.GET_CERTIFICATE:
        request = GetCertificate.decode(payload, padded=True)
        assert request.offset == 0
        requester.get_certificate(request.slot_id, now=NOW)
    elif code == RequestCode.CHALLENGE:
        challenge = Challenge.decode(payload, padded=True)
        rng.queue.append(challenge.nonce)
        if challenge.requester_context is not None:
            rng.queue.append(challenge.requester_context)
        requester.challenge(challenge.slot_id,
                            MeasurementSummaryHashType(challenge.measurement_summary_hash_type))
    elif code == RequestCode.GET_MEASUREMENTS:
        meas = GetMeasurements.decode(payload, padded=True)
        if meas.nonce is not None:
            rng.queue.append(meas.nonce)
        if meas.requester_context is not None:
            rng.queue.append(meas.requester_context)
        requester.get_measurements(
            meas.operation, signed=meas.signature_requested,
            raw_bit_stream=bool(meas.attributes & 2), slot_id=meas.slot_id or 0,
        )
    else:
        raise AssertionError(f"no command for request 0x{code:02x}")


def _replay(name: str, *, tamper: tuple[int, int] | None = None) -> list[Event]:
    """Drive the requester through a capture.

    ``tamper`` = (exchange number, byte offset): flip one bit of that response byte.
    """
    exchanges = spdm_exchanges(name)
    rng = ScriptedRandom()
    requester = Requester(_config_like_reference(exchanges), rng=rng)
    events: list[Event] = []
    for number, exchange in enumerate(exchanges):
        code = exchange.request_payload[1]
        if code in _STOP:
            break
        if code in _SKIP:
            continue
        if not requester.busy:
            _issue(requester, rng, exchange.request_payload)
        sent = requester.data_to_send()
        assert sent == exchange.request_payload[: len(sent)], f"record {exchange.index}"
        assert not any(exchange.request_payload[len(sent):]), "only DOE padding may differ"
        response = bytearray(exchange.response_payload)
        if tamper is not None and tamper[0] == number:
            response[tamper[1]] ^= 0x01
        requester.receive_data(bytes(response))
        while (event := requester.next_event()) is not None:
            events.append(event)
    return events


@pytest.mark.parametrize("name", SETS)
def test_requests_match_and_responses_verify(name: str) -> None:
    events = _replay(name)
    negotiated = next(e.negotiated for e in events if isinstance(e, AlgorithmsNegotiated))
    assert negotiated.version == {"spdm11-p256": 0x11, "spdm12-p384": 0x12}.get(name, 0x13)
    chains = [e for e in events if isinstance(e, CertificateChainReceived)]
    assert chains and all("responder cert" in c.chain.leaf.subject for c in chains)
    assert all(c.trusted for c in chains)
    challenges = [e for e in events if isinstance(e, ChallengeAuthenticated)]
    assert len(challenges) == 1
    assert challenges[0].evidence.combined_prefix == (
        b"" if name == "spdm11-p256" else challenges[0].evidence.combined_prefix
    )
    signed = [e for e in events if isinstance(e, MeasurementsReceived) and e.evidence]
    assert signed, "every capture has at least one signed MEASUREMENTS"
    if name == "spdm11-p256":
        errors = [e for e in events if isinstance(e, ErrorResponseReceived)]
        assert errors and all(e.name == "INVALID_REQUEST" for e in errors)


@pytest.mark.parametrize("name", SETS)
def test_tampered_challenge_auth_is_refused(name: str) -> None:
    exchanges = spdm_exchanges(name)
    number = next(i for i, e in enumerate(exchanges) if e.request_payload[1] == RequestCode.CHALLENGE)
    with pytest.raises(VerificationError):
        _replay(name, tamper=(number, -9))  # a byte of the signature


@pytest.mark.parametrize("name", SETS)
def test_tampered_measurement_record_is_refused(name: str) -> None:
    exchanges = spdm_exchanges(name)
    number = max(
        i for i, e in enumerate(exchanges)
        if e.request_payload[1] == RequestCode.GET_MEASUREMENTS and e.request_payload[2] & 1
        and e.response_payload[1] == 0x60
    )
    # Byte 16 lies in the first block's value: header 8 + block header 4 + DMTF header 3 + 1.
    with pytest.raises(VerificationError, match="signature"):
        _replay(name, tamper=(number, 16))
