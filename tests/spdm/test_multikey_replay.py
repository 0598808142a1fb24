"""Replay of libspdm's provisioning capture (``spdm13-p384-csr-setcert``), a multi-key connection.

* Our requester follows the reference responder through the whole capture:
  VCA with MULTI_KEY_CONN both ways, the three multi-key DIGESTS (slots 0, 1
  and 4 with KeyPairIDs 5, 5, 0x11, device certificates, keys usable for
  everything), both KEY_EXCHANGE sessions (``secrets.txt``; their transcripts
  hold [D]), GET_CSR (KeyPairID 1, DeviceCert) twice and the four
  SET_CERTIFICATEs, two of them inside the sessions.  After SET_CERTIFICATE the
  reference requester goes on with the slot it wrote (KEY_EXCHANGE slot 4) and
  the reference responder signs with the chain it booted with: the follower
  keeps the retrieved chain, or that session could not be followed (it used
  to stop there).
* Our responder answers the reference requester's requests in the clear:
  VCA (selecting MULTI_KEY_CONN as the reference did, OtherParamsSelection
  0x12), DIGESTS with the key-pair tail, CERTIFICATE with the CertModel in
  Param2, KEY_EXCHANGE (the first; the second comes while the first handshake
  is still open here, and gets UnexpectedRequest), GET_CSR for key pair 1 /
  DeviceCert and SET_CERTIFICATE slot 0 for key pair 1 / DeviceCert.  Our device's key pair is
  not the reference's, so the SET_CERTIFICATE it takes carries a chain for its
  own key in the captured request's place (same header, same KeyPairID and
  CertModel); FINISH and the sessions' records are bound to the reference's
  keys and are not replayed to it (the pair tests run sessions with multi-key).
"""

from __future__ import annotations

import struct
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from spdm.config import ResponderConfig
from spdm.crypto import build_spdm_cert_chain, generate_ca, issue_leaf_from_csr, load_csr
from spdm.errors import SpdmErrorCode
from spdm.events import CertificateInstalled, CsrReceived, DigestsReceived, Event, SessionEstablished
from spdm.messages import Algorithms, Certificate, CodecContext, Csr, Digests, ErrorResponse, SetCertificate
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, RequestCode, ResponseCode, SpdmVersion
from spdm.messages.codes import CapabilityFlags as F
from spdm.negotiation import AlgorithmPreferences
from spdm.provisioning import ProvisionableDevice
from spdm.requester.follow import Follower
from spdm.responder import Responder
from spdm.slot_keys import SlotKey
from tests.vectors import TYPE_SPDM, exchanges, follow_doe

SET = "spdm13-p384-csr-setcert"
NOW = datetime(2026, 11, 22, tzinfo=UTC)
P384, SHA384 = BaseAsymAlgo.ECDSA_P384, BaseHashAlgo.SHA_384
MULTI_KEY = CodecContext(hash_size=48, multi_key=True)


def follow() -> tuple[Follower, list[Event]]:
    return follow_doe(SET, now=NOW)


def test_our_requester_follows_the_whole_multi_key_provisioning_capture() -> None:
    engine, events = follow()
    negotiated = engine.engine.negotiated
    assert negotiated is not None and negotiated.multi_key and negotiated.multi_key_req
    digests = [e for e in events if isinstance(e, DigestsReceived)]
    assert [(d.supported_slot_mask, d.provisioned_slot_mask) for d in digests] == [(0x13, 0x13)] * 3
    assert engine.engine.slot_keys == {0: SlotKey(5, 1, 0xF), 1: SlotKey(5, 1, 0xF), 4: SlotKey(0x11, 1, 0xF)}
    assert [e.key_pair_id for e in events if isinstance(e, CsrReceived)] == [1, 1]
    assert [e.slot_id for e in events if isinstance(e, CertificateInstalled)] == [0, 4, 0, 4]
    assert sum(isinstance(e, SessionEstablished) for e in events) == 2


def _device(tmp_path: Path) -> tuple[Responder, ProvisionableDevice]:
    """A provisionable P-384 device with slots 0, 1 and 4 filled, MULTI_KEY_CAP NEG like the reference."""
    device = ProvisionableDevice.open(tmp_path / "device.json", P384)
    ca, ca_key = generate_ca(P384)
    csr = load_csr(device.csr(1, b"", tracking_tag=0, overwrite=False))
    leaf = issue_leaf_from_csr(csr, ca, ca_key)
    for slot in (0, 1, 4):
        device.install(slot, 1, 1, [ca, leaf])
    caps = (F.CERT_CAP | F.CHAL_CAP | F.MEAS_CAP_SIG | F.MEAS_FRESH_CAP | F.KEY_EX_CAP | F.ENCRYPT_CAP
            | F.MAC_CAP | F.CSR_CAP | F.SET_CERT_CAP | F.MULTI_KEY_CAP_NEG)
    config = ResponderConfig(versions=(SpdmVersion.V13,), capabilities=caps,
                             algorithms=replace(AlgorithmPreferences(), asym_algs=(P384,)))
    return Responder(config, device, now=lambda: datetime.now(UTC)), device


def _own_chain(request: bytes, device: ProvisionableDevice) -> bytes:
    """The captured SET_CERTIFICATE with a chain for our device's key pair 1 in place of the reference's."""
    captured = SetCertificate.decode(request, padded=True)
    ca, ca_key = generate_ca(P384)
    csr = load_csr(device.csr(1, b"", tracking_tag=0, overwrite=False))
    chain = build_spdm_cert_chain([ca, issue_leaf_from_csr(csr, ca, ca_key)], SHA384)
    return replace(captured, cert_chain=chain).encode()


def test_our_responder_answers_the_reference_requests_on_a_multi_key_connection(tmp_path: Path) -> None:
    responder, device = _device(tmp_path)
    answered: list[int] = []
    for exchange in exchanges(SET):
        if exchange.object_type != TYPE_SPDM:
            continue
        request, captured = exchange.request_payload, exchange.response_payload
        code = request[1]
        if code == RequestCode.FINISH:
            continue  # bound to the reference's session keys
        if code == RequestCode.SET_CERTIFICATE:
            request = _own_chain(request, device)
        answer = responder.handle(request)
        if code == RequestCode.KEY_EXCHANGE and RequestCode.KEY_EXCHANGE in answered:
            # the first handshake never finished here (its FINISH is the reference's)
            assert ErrorResponse.decode(answer).error_code == SpdmErrorCode.UNEXPECTED_REQUEST
            continue
        assert answer[1] == captured[1], (hex(code), answer[:8].hex())
        answered.append(code)
        if code == RequestCode.NEGOTIATE_ALGORITHMS:
            selected = Algorithms.decode(captured, padded=True).other_params_selection
            assert Algorithms.decode(answer).other_params_selection == selected == 0x12
        elif code == RequestCode.GET_DIGESTS:
            digests = Digests.decode(answer, MULTI_KEY)
            assert digests.provisioned_slot_mask == 0x13 and digests.supported_slot_mask == 0xFF
            assert digests.key_pair_ids == (1, 1, 1) and digests.certificate_infos == (1, 1, 1)
            assert digests.key_usage_masks == (0xF, 0xF, 0xF)
        elif code == RequestCode.GET_CERTIFICATE:
            assert Certificate.decode(answer).certificate_info == 1  # DeviceCert, like the reference
        elif code == RequestCode.GET_CSR:
            assert load_csr(Csr.decode(answer).csr).public_key() == device.key_pairs[1].public_key()
    assert answered.count(RequestCode.GET_DIGESTS) == 3 and answered.count(RequestCode.KEY_EXCHANGE) == 1
    assert answered.count(RequestCode.GET_CSR) == 2 and answered.count(RequestCode.SET_CERTIFICATE) == 2


def test_the_captured_digests_tail_is_the_multi_key_layout() -> None:
    records = [e.response_payload for e in exchanges(SET)
               if e.object_type == TYPE_SPDM and e.request_payload[1] == RequestCode.GET_DIGESTS]
    for raw in records:
        digests = Digests.decode(raw, MULTI_KEY, padded=True)
        tail = raw[4 + 3 * 48: 4 + 3 * 48 + 12]
        assert tail == bytes([5, 5, 0x11, 1, 1, 1]) + struct.pack("<3H", 0xF, 0xF, 0xF)
        assert digests.raw == raw[:len(digests.raw)] and len(digests.raw) == 4 + 3 * 48 + 12
        assert raw[1] == ResponseCode.DIGESTS
