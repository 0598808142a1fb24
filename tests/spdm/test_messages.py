"""The SPDM wire codec (``spdm.messages``): round trips, known answers and negative cases (R10).

Every message class of ``REQUEST_TYPES``/``RESPONSE_TYPES`` appears in
:data:`CASES` once per SPDM version whose layout differs; the generic tests
run over all of them (round trip, truncation at every length, every wrong
code, trailing bytes with and without DOE padding).  Known answers are the
PROTOCOLS.md examples (inline hex, section cited).  The libspdm captures are
in ``test_messages_vectors.py``, property tests in ``test_messages_fuzz.py``.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any

import construct
import pytest

from spdm.errors import DecodeError, LocalProtocolError, SpdmErrorCode
from spdm.messages import (
    NO_CONTEXT,
    REQUEST_TYPES,
    RESPONSE_TYPES,
    Algorithms,
    AlgStruct,
    Capabilities,
    Certificate,
    Challenge,
    ChallengeAuth,
    ChunkGet,
    ChunkResponse,
    ChunkSend,
    ChunkSendAck,
    CodecContext,
    DeliverEncapsulatedResponse,
    Digests,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    EndSession,
    EndSessionAck,
    ErrorResponse,
    Finish,
    FinishRsp,
    GetCapabilities,
    GetCertificate,
    GetDigests,
    GetEncapsulatedRequest,
    GetMeasurements,
    GetVersion,
    Heartbeat,
    HeartbeatAck,
    KeyExchange,
    KeyExchangeRsp,
    KeyUpdate,
    KeyUpdateAck,
    MeasurementBlock,
    Measurements,
    Message,
    NegotiateAlgorithms,
    PskExchange,
    PskExchangeRsp,
    PskFinish,
    PskFinishRsp,
    RespondIfReady,
    ResponseNotReadyData,
    VendorDefinedRequest,
    VendorDefinedResponse,
    Version,
    peek_code,
)
from spdm.messages.codes import AlgType, DmtfValueType
from spdm.messages.endpoint import EndpointInfo, GetEndpointInfo
from spdm.messages.key_pair import GetKeyPairInfo, KeyPairInfo, SetKeyPairInfo, SetKeyPairInfoAck
from spdm.messages.mel import GetMeasurementExtensionLog, MeasurementExtensionLog
from spdm.messages.provision import Csr, GetCsr, SetCertificate, SetCertificateRsp
from tests.spdm.test_event_codec import EVENT_CASES

# Negotiated sizes of the two captured algorithm sets (PROTOCOLS.md §3.3, §3.8.3).
P256 = CodecContext(hash_size=32, signature_size=64, dhe_size=64, req_signature_size=384)
P384 = CodecContext(hash_size=48, signature_size=96, dhe_size=96, req_signature_size=384)
P384_MSH = dataclasses.replace(P384, measurement_summary=True)
P384_SIGNED = dataclasses.replace(P384, signed=True)
P384_CLEAR = dataclasses.replace(P384, handshake_in_the_clear=True)
P384_MULTI = dataclasses.replace(P384, multi_key=True)


def fill(size: int, byte: int) -> bytes:
    return bytes([byte]) * size


NONCE = fill(32, 0x4E)
CONTEXT8 = fill(8, 0xC8)
TRACE_11_ALG_STRUCTS = (  # PROTOCOLS.md §3.3, TRACE 1.1 request tail
    AlgStruct(AlgType.DHE, 0x001B),
    AlgStruct(AlgType.AEAD, 0x0006),
    AlgStruct(AlgType.REQ_BASE_ASYM_ALG, 0x000F),
    AlgStruct(AlgType.KEY_SCHEDULE, 0x0001),
)
# A valid 1.3 SupportedAlgorithms block (libspdm spdm_supported_algorithms_block_t, 30 bytes + 2 AlgStructs).
SUPPORTED_ALGORITHMS = (
    bytes([2, 0]) + (30 + 8).to_bytes(2, "little") + bytes([1, 2]) + (0x90).to_bytes(4, "little")
    + (0x03).to_bytes(4, "little") + bytes(16) + bytes.fromhex("0220 1b00 0320 0600".replace(" ", ""))
)
BLOCKS = (  # PROTOCOLS.md §3.7, TRACE 1.2
    MeasurementBlock(0x01, 0x00, fill(64, 0x11)),
    MeasurementBlock(0xFE, 0x85, fill(16, 0x22)),
    MeasurementBlock(0x10, 0x87, (7).to_bytes(8, "little")),
)

ENDPOINT_CASES = [
    # SPDM 1.3 endpoint messages (issue 13): endpoint info, MEL, key pair info
    pytest.param(GetEndpointInfo(spdm_version=0x13, subcode=1), NO_CONTEXT, id="get_endpoint_info"),
    pytest.param(GetEndpointInfo(spdm_version=0x13, subcode=1, slot_id=4, request_attributes=1,
                                 nonce=bytes(range(32))), NO_CONTEXT, id="get_endpoint_info-signed"),
    pytest.param(EndpointInfo(spdm_version=0x13, ep_info=b"\x01\0\0\0"), NO_CONTEXT, id="endpoint_info"),
    pytest.param(EndpointInfo(spdm_version=0x13, slot_id=4, nonce=bytes(32), ep_info=b"\x01",
                              signature=bytes(96)), P384_SIGNED, id="endpoint_info-signed"),
    pytest.param(GetMeasurementExtensionLog(spdm_version=0x13, offset=2, length=0x400), NO_CONTEXT,
                 id="get_measurement_extension_log"),
    pytest.param(MeasurementExtensionLog(spdm_version=0x13, remainder_length=3, portion=b"mel"), NO_CONTEXT,
                 id="measurement_extension_log"),
    pytest.param(GetKeyPairInfo(spdm_version=0x13, key_pair_id=1), NO_CONTEXT, id="get_key_pair_info"),
    pytest.param(KeyPairInfo(spdm_version=0x13, total_key_pairs=2, key_pair_id=1, capabilities=0x3F,
                             public_key_info=b"\x30\x00"), NO_CONTEXT, id="key_pair_info"),
    pytest.param(SetKeyPairInfo(spdm_version=0x13, operation=0, key_pair_id=1, desired_key_usage=1,
                                desired_asym_algo=0x80, desired_assoc_cert_slot_mask=1), NO_CONTEXT,
                 id="set_key_pair_info-change"),
    pytest.param(SetKeyPairInfo(spdm_version=0x13, operation=1, key_pair_id=1), NO_CONTEXT,
                 id="set_key_pair_info-erase"),
    pytest.param(SetKeyPairInfoAck(spdm_version=0x13), NO_CONTEXT, id="set_key_pair_info_ack"),
]

CASES = [
    # --- VCA
    pytest.param(GetVersion(), NO_CONTEXT, id="get_version"),
    pytest.param(Version(version_entries=(0x1000, 0x1100, 0x1200, 0x1300)), NO_CONTEXT, id="version"),
    pytest.param(Version(version_entries=()), NO_CONTEXT, id="version-empty"),
    pytest.param(GetCapabilities(spdm_version=0x10), NO_CONTEXT, id="get_capabilities-1.0"),
    pytest.param(GetCapabilities(spdm_version=0x11, ct_exponent=20, flags=0xF7C6), NO_CONTEXT,
                 id="get_capabilities-1.1"),
    pytest.param(GetCapabilities(spdm_version=0x12, ct_exponent=20, flags=0x2F7C6,
                                 data_transfer_size=0x1200, max_spdm_msg_size=0x28000), NO_CONTEXT,
                 id="get_capabilities-1.2"),
    pytest.param(GetCapabilities(spdm_version=0x13, param1=1, flags=0x0882F7C6,
                                 data_transfer_size=0x1200, max_spdm_msg_size=0x28000), NO_CONTEXT,
                 id="get_capabilities-1.3"),
    pytest.param(Capabilities(spdm_version=0x10, ct_exponent=12, flags=0x37), NO_CONTEXT,
                 id="capabilities-1.0"),
    pytest.param(Capabilities(spdm_version=0x11, ct_exponent=12, flags=0xFBF7), NO_CONTEXT,
                 id="capabilities-1.1"),
    pytest.param(Capabilities(spdm_version=0x12, flags=0x1AFBF7, data_transfer_size=0x1200,
                              max_spdm_msg_size=0x28000), NO_CONTEXT, id="capabilities-1.2"),
    pytest.param(Capabilities(spdm_version=0x13, flags=0x399AFBF7, data_transfer_size=0x1200,
                              max_spdm_msg_size=0x28000), NO_CONTEXT, id="capabilities-1.3"),
    pytest.param(Capabilities(spdm_version=0x13, param1=1, flags=0x399AFBF7, data_transfer_size=0x1200,
                              max_spdm_msg_size=0x28000, supported_algorithms=SUPPORTED_ALGORITHMS),
                 NO_CONTEXT, id="capabilities-1.3-supported-algorithms"),
    pytest.param(NegotiateAlgorithms(spdm_version=0x10, measurement_specification=1, base_asym_algo=0x90,
                                     base_hash_algo=0x03, ext_asym=(b"\x03\x00\x01\x00",)), NO_CONTEXT,
                 id="negotiate_algorithms-1.0"),
    pytest.param(NegotiateAlgorithms(spdm_version=0x11, measurement_specification=1, base_asym_algo=0x10,
                                     base_hash_algo=0x01, alg_structs=TRACE_11_ALG_STRUCTS), NO_CONTEXT,
                 id="negotiate_algorithms-1.1"),
    pytest.param(NegotiateAlgorithms(spdm_version=0x12, measurement_specification=1, other_params_support=2,
                                     base_asym_algo=0x90, base_hash_algo=0x03,
                                     ext_hash=(b"\x04\x00\x02\x00",),
                                     alg_structs=(AlgStruct(AlgType.DHE, 0x18, (b"\x03\x00\x07\x00",)),
                                                  AlgStruct(AlgType.AEAD, 0x02))), NO_CONTEXT,
                 id="negotiate_algorithms-1.2"),
    pytest.param(NegotiateAlgorithms(spdm_version=0x13, measurement_specification=1,
                                     other_params_support=0x12, base_asym_algo=0x90, base_hash_algo=0x03,
                                     mel_specification=1,
                                     alg_structs=TRACE_11_ALG_STRUCTS), NO_CONTEXT,
                 id="negotiate_algorithms-1.3"),
    pytest.param(Algorithms(spdm_version=0x10, measurement_specification_sel=1, measurement_hash_algo=2,
                            base_asym_sel=0x10, base_hash_sel=1), NO_CONTEXT, id="algorithms-1.0"),
    pytest.param(Algorithms(spdm_version=0x11, measurement_specification_sel=1, measurement_hash_algo=2,
                            base_asym_sel=0x10, base_hash_sel=1,
                            alg_structs=(AlgStruct(2, 0x08), AlgStruct(3, 0x01), AlgStruct(4, 0x08),
                                         AlgStruct(5, 0x01))), NO_CONTEXT, id="algorithms-1.1"),
    pytest.param(Algorithms(spdm_version=0x12, measurement_specification_sel=1, other_params_selection=2,
                            measurement_hash_algo=4, base_asym_sel=0x80, base_hash_sel=2,
                            ext_asym_sel=(b"\x03\x00\x09\x00",),
                            alg_structs=(AlgStruct(2, 0x10), AlgStruct(3, 0x02))), NO_CONTEXT,
                 id="algorithms-1.2"),
    pytest.param(Algorithms(spdm_version=0x13, measurement_specification_sel=1, other_params_selection=0x12,
                            measurement_hash_algo=4, base_asym_sel=0x80, base_hash_sel=2,
                            mel_specification_sel=1, alg_structs=(AlgStruct(2, 0x10),)), NO_CONTEXT,
                 id="algorithms-1.3"),
    # --- authentication
    pytest.param(GetDigests(spdm_version=0x12), NO_CONTEXT, id="get_digests"),
    pytest.param(Digests(spdm_version=0x11, provisioned_slot_mask=0x03,
                         digests=(fill(32, 0xD0), fill(32, 0xD1))), P256, id="digests-1.1"),
    pytest.param(Digests(spdm_version=0x12, provisioned_slot_mask=0x00), P384, id="digests-none"),
    pytest.param(Digests(spdm_version=0x13, supported_slot_mask=0x13, provisioned_slot_mask=0x13,
                         digests=(fill(48, 0xD0), fill(48, 0xD1), fill(48, 0xD4)),
                         key_pair_ids=(5, 5, 0x11), certificate_infos=(1, 1, 1),
                         key_usage_masks=(0xF, 0xF, 0xF)), P384_MULTI, id="digests-1.3-multi-key"),
    pytest.param(GetCertificate(spdm_version=0x11, slot_id=1, offset=0x100, length=0x400), NO_CONTEXT,
                 id="get_certificate-1.1"),
    pytest.param(GetCertificate(spdm_version=0x13, slot_id=4, attributes=1), NO_CONTEXT,
                 id="get_certificate-1.3"),
    pytest.param(Certificate(spdm_version=0x11, slot_id=1, remainder_length=0x20, cert_chain=fill(100, 0xCE)),
                 NO_CONTEXT, id="certificate-1.1"),
    pytest.param(Certificate(spdm_version=0x13, slot_id=4, certificate_info=1, cert_chain=fill(7, 0xCE)),
                 NO_CONTEXT, id="certificate-1.3"),
    pytest.param(Challenge(spdm_version=0x12, slot_id=0, measurement_summary_hash_type=0xFF, nonce=NONCE),
                 NO_CONTEXT, id="challenge-1.2"),
    pytest.param(Challenge(spdm_version=0x13, slot_id=0xFF, nonce=NONCE, requester_context=CONTEXT8),
                 NO_CONTEXT, id="challenge-1.3"),
    pytest.param(ChallengeAuth(spdm_version=0x11, slot_mask=3, cert_chain_hash=fill(32, 0xA1), nonce=NONCE,
                               signature=fill(64, 0x5A)), P256, id="challenge_auth-1.1"),
    pytest.param(ChallengeAuth(spdm_version=0x12, attributes=0x80, slot_mask=3,
                               cert_chain_hash=fill(48, 0xA1), nonce=NONCE,
                               measurement_summary_hash=fill(48, 0xA2),
                               opaque_data=fill(12, 0x0D), signature=fill(96, 0x5A)), P384_MSH,
                 id="challenge_auth-1.2-summary"),
    pytest.param(ChallengeAuth(spdm_version=0x13, slot_mask=0x13, cert_chain_hash=fill(48, 0xA1), nonce=NONCE,
                               requester_context=CONTEXT8, signature=fill(96, 0x5A)), P384,
                 id="challenge_auth-1.3"),
    # --- measurements
    pytest.param(GetMeasurements(spdm_version=0x10, operation=0), NO_CONTEXT, id="get_measurements-1.0"),
    pytest.param(GetMeasurements(spdm_version=0x10, attributes=1, operation=0xFF, nonce=NONCE), NO_CONTEXT,
                 id="get_measurements-1.0-signed"),
    pytest.param(GetMeasurements(spdm_version=0x11, attributes=1, operation=3, nonce=NONCE, slot_id=1),
                 NO_CONTEXT, id="get_measurements-1.1-signed"),
    pytest.param(GetMeasurements(spdm_version=0x12, attributes=2, operation=0xFF), NO_CONTEXT,
                 id="get_measurements-1.2"),
    pytest.param(GetMeasurements(spdm_version=0x13, operation=0xFF, requester_context=CONTEXT8), NO_CONTEXT,
                 id="get_measurements-1.3"),
    pytest.param(GetMeasurements(spdm_version=0x13, attributes=1, operation=0xFF, nonce=NONCE, slot_id=0xF,
                                 requester_context=CONTEXT8), NO_CONTEXT, id="get_measurements-1.3-signed"),
    pytest.param(Measurements(spdm_version=0x11, total_indices=8, nonce=NONCE), P256,
                 id="measurements-count"),
    pytest.param(Measurements(spdm_version=0x11, blocks=BLOCKS[:1], nonce=NONCE), P256,
                 id="measurements-1.1"),
    pytest.param(Measurements(spdm_version=0x12, attributes=0x20, blocks=BLOCKS, nonce=NONCE,
                              opaque_data=fill(8, 0x0D), signature=fill(96, 0x5A)), P384_SIGNED,
                 id="measurements-1.2-signed"),
    pytest.param(Measurements(spdm_version=0x13, blocks=BLOCKS[1:], nonce=NONCE, requester_context=CONTEXT8,
                              signature=fill(96, 0x5A)), P384_SIGNED, id="measurements-1.3-signed"),
    # --- control
    pytest.param(ErrorResponse(spdm_version=0x11, error_code=SpdmErrorCode.INVALID_REQUEST), NO_CONTEXT,
                 id="error"),
    pytest.param(ErrorResponse(spdm_version=0x12, error_code=SpdmErrorCode.RESPONSE_NOT_READY,
                               extended_data=bytes([20, 0xE0, 7, 3])), NO_CONTEXT, id="error-not-ready"),
    pytest.param(ErrorResponse(spdm_version=0x12, error_code=0xFF, extended_data=fill(32, 0xEE)), NO_CONTEXT,
                 id="error-vendor-32"),
    pytest.param(RespondIfReady(spdm_version=0x12, request_code=0xE0, token=7), NO_CONTEXT,
                 id="respond_if_ready"),
    pytest.param(VendorDefinedRequest(spdm_version=0x12, standard_id=3, vendor_id=b"\x01\x00",
                                      payload=bytes.fromhex("00000001")), NO_CONTEXT,
                 id="vendor_defined_request"),
    pytest.param(VendorDefinedRequest(spdm_version=0x11, standard_id=0), NO_CONTEXT,
                 id="vendor_defined_request-empty"),
    pytest.param(VendorDefinedResponse(spdm_version=0x12, standard_id=3, vendor_id=b"\x01\x00",
                                       payload=bytes.fromhex("0001000100000007")), NO_CONTEXT,
                 id="vendor_defined_response"),
    # --- sessions
    pytest.param(KeyExchange(spdm_version=0x11, measurement_summary_hash_type=0xFF, req_session_id=0xFFFF,
                             random_data=fill(32, 0x52), exchange_data=fill(64, 0xE1),
                             opaque_data=bytes.fromhex("46544d440101000000000500010101001100000000")), P256,
                 id="key_exchange-1.1"),
    pytest.param(KeyExchange(spdm_version=0x12, slot_id=1, req_session_id=0xFFFF, session_policy=1,
                             random_data=fill(32, 0x52), exchange_data=fill(96, 0xE1)), P384,
                 id="key_exchange-1.2"),
    pytest.param(KeyExchangeRsp(spdm_version=0x11, heartbeat_period=0xF0, rsp_session_id=0xFFFF,
                                random_data=fill(32, 0x52), exchange_data=fill(64, 0xE2),
                                signature=fill(64, 0x5A), responder_verify_data=fill(32, 0x56)), P256,
                 id="key_exchange_rsp"),
    pytest.param(KeyExchangeRsp(spdm_version=0x13, rsp_session_id=0xFFFF, mut_auth_requested=2,
                                req_slot_id=0xF,
                                random_data=fill(32, 0x52), exchange_data=fill(96, 0xE2),
                                measurement_summary_hash=fill(48, 0xA2), opaque_data=fill(16, 0x0D),
                                signature=fill(96, 0x5A)),
                 dataclasses.replace(P384_CLEAR, measurement_summary=True), id="key_exchange_rsp-clear"),
    pytest.param(Finish(spdm_version=0x11, requester_verify_data=fill(32, 0x56)), P256, id="finish"),
    pytest.param(Finish(spdm_version=0x13, attributes=1, req_slot_id=0, signature=fill(384, 0x5A),
                        requester_verify_data=fill(48, 0x56)), P384, id="finish-signed"),
    pytest.param(FinishRsp(spdm_version=0x11), P256, id="finish_rsp"),
    pytest.param(FinishRsp(spdm_version=0x12, responder_verify_data=fill(48, 0x56)), P384_CLEAR,
                 id="finish_rsp-clear"),
    pytest.param(PskExchange(spdm_version=0x12, measurement_summary_hash_type=0xFF, session_policy=1,
                             req_session_id=0xFFFE, psk_hint=b"SECONDARY_SESSION_0_PSK\x00",
                             requester_context=fill(64, 0xC1), opaque_data=fill(16, 0x0D)), P384,
                 id="psk_exchange"),
    pytest.param(PskExchangeRsp(spdm_version=0x12, heartbeat_period=0xF0, rsp_session_id=0xFFFE,
                                responder_context=fill(48, 0xC2), opaque_data=fill(12, 0x0D),
                                responder_verify_data=fill(48, 0x56)), P384, id="psk_exchange_rsp"),
    pytest.param(PskExchangeRsp(spdm_version=0x11, rsp_session_id=1, measurement_summary_hash=fill(32, 0xA2),
                                responder_verify_data=fill(32, 0x56)),
                 dataclasses.replace(P256, measurement_summary=True), id="psk_exchange_rsp-summary"),
    pytest.param(PskFinish(spdm_version=0x12, requester_verify_data=fill(48, 0x56)), P384, id="psk_finish"),
    pytest.param(PskFinishRsp(spdm_version=0x12), NO_CONTEXT, id="psk_finish_rsp"),
    pytest.param(Heartbeat(spdm_version=0x11), NO_CONTEXT, id="heartbeat"),
    pytest.param(HeartbeatAck(spdm_version=0x11), NO_CONTEXT, id="heartbeat_ack"),
    pytest.param(KeyUpdate(spdm_version=0x12, key_operation=2, tag=0x3C), NO_CONTEXT, id="key_update"),
    pytest.param(KeyUpdateAck(spdm_version=0x12, key_operation=2, tag=0x3C), NO_CONTEXT, id="key_update_ack"),
    pytest.param(EndSession(spdm_version=0x12, attributes=1), NO_CONTEXT, id="end_session"),
    pytest.param(EndSessionAck(spdm_version=0x12), NO_CONTEXT, id="end_session_ack"),
    pytest.param(GetEncapsulatedRequest(spdm_version=0x13), NO_CONTEXT, id="get_encapsulated_request"),
    pytest.param(EncapsulatedRequest(spdm_version=0x13, request_id=1,
                                     encapsulated_request=b"\x13\x81\x00\x00"), NO_CONTEXT,
                 id="encapsulated_request"),
    pytest.param(DeliverEncapsulatedResponse(spdm_version=0x13, request_id=1,
                                             encapsulated_response=b"\x13\x01\x00\x00"), NO_CONTEXT,
                 id="deliver_encapsulated_response"),
    pytest.param(EncapsulatedResponseAck(spdm_version=0x11, request_id=2, payload_type=1,
                                         encapsulated_request=bytes.fromhex("11820000 0000ffff")), NO_CONTEXT,
                 id="encapsulated_response_ack-1.1"),
    pytest.param(EncapsulatedResponseAck(spdm_version=0x13, request_id=2, payload_type=1, ack_request_id=1,
                                         encapsulated_request=bytes.fromhex("13820000 0000ffff")), NO_CONTEXT,
                 id="encapsulated_response_ack-1.3"),
    pytest.param(EncapsulatedResponseAck(spdm_version=0x13, ack_request_id=3), NO_CONTEXT,
                 id="encapsulated_response_ack-done"),
    *ENDPOINT_CASES,
    *EVENT_CASES,
    pytest.param(GetCsr(spdm_version=0x13, key_pair_id=1, attributes=0x09, requester_info=fill(20, 0x30),
                        opaque_data=fill(8, 0x01)), NO_CONTEXT, id="get_csr"),
    pytest.param(Csr(spdm_version=0x12, csr=fill(40, 0x30)), NO_CONTEXT, id="csr"),
    pytest.param(SetCertificate(spdm_version=0x13, attributes=0x13, key_pair_id=1,
                                cert_chain=b"\x38\x00" + fill(54, 0x30)), NO_CONTEXT, id="set_certificate"),
    pytest.param(SetCertificate(spdm_version=0x13, attributes=0x82), NO_CONTEXT, id="set_certificate-erase"),
    pytest.param(SetCertificateRsp(spdm_version=0x13, slot_id=3), NO_CONTEXT, id="set_certificate_rsp"),
    pytest.param(ChunkSend(spdm_version=0x13, handle=2, large_message_size=0x63B, chunk=b"\x13\xee" * 8),
                 NO_CONTEXT, id="chunk_send-first"),
    pytest.param(ChunkSend(spdm_version=0x14, attributes=1, handle=2, chunk_seq_no=0x10003,
                           chunk=b"\x5a" * 3), NO_CONTEXT, id="chunk_send-last-1.4"),
    pytest.param(ChunkSendAck(spdm_version=0x13, handle=2, chunk_seq_no=3,
                              response=bytes.fromhex("136e0000")), NO_CONTEXT, id="chunk_send_ack-last"),
    pytest.param(ChunkGet(spdm_version=0x13, handle=1, chunk_seq_no=3), NO_CONTEXT, id="chunk_get"),
    pytest.param(ChunkGet(spdm_version=0x14, handle=1, chunk_seq_no=0x10000), NO_CONTEXT, id="chunk_get-1.4"),
    pytest.param(ChunkResponse(spdm_version=0x13, handle=1, large_message_size=0x252, chunk=b"\x13\x60" * 4),
                 NO_CONTEXT, id="chunk_response-first"),
    pytest.param(ChunkResponse(spdm_version=0x13, attributes=1, handle=1, chunk_seq_no=1, chunk=b"\xfd"),
                 NO_CONTEXT, id="chunk_response-last"),
]

GREEDY_TAIL = {
    # Messages that end in "the rest of the message": trailing bytes become part of that field.
    ErrorResponse: "extended_data",
    EncapsulatedRequest: "encapsulated_request",
    DeliverEncapsulatedResponse: "encapsulated_response",
    EncapsulatedResponseAck: "encapsulated_request",
    ChunkSendAck: "response",
}


def known_case(name: str) -> tuple[Message, CodecContext]:
    """The message and context of the :data:`CASES` entry ``name``."""
    message, ctx = next(p.values for p in CASES if p.id == name)
    assert isinstance(message, Message) and isinstance(ctx, CodecContext)
    return message, ctx


def with_opaque(message: Message, opaque_data: bytes) -> Message:
    """``message`` (one with OpaqueData) carrying ``opaque_data``."""
    changes: dict[str, Any] = {"opaque_data": opaque_data}
    return dataclasses.replace(message, **changes)


def roundtrip(message: Message, ctx: CodecContext = NO_CONTEXT) -> bytes:
    """Encode, decode, compare; return the bytes."""
    data = message.encode(ctx)
    back = type(message).decode(data, ctx)
    assert back == message
    assert back.raw == data
    assert back.encode(ctx) == data
    return data


def fixed_size(message: Message, data: bytes) -> int:
    """Bytes before the greedy tail (all of them for the other messages)."""
    tail = GREEDY_TAIL.get(type(message))
    return len(data) - (len(getattr(message, tail)) if tail else 0)


def test_cases_cover_every_message_class() -> None:
    covered = {type(p.values[0]) for p in CASES}
    assert set(REQUEST_TYPES.values()) | set(RESPONSE_TYPES.values()) <= covered
    assert all(cls.CODE == code for code, cls in {**REQUEST_TYPES, **RESPONSE_TYPES}.items())


@pytest.mark.parametrize(("message", "ctx"), CASES)
def test_round_trip(message: Message, ctx: CodecContext) -> None:
    data = roundtrip(message, ctx)
    assert peek_code(data) == (message.spdm_version, type(message).CODE)


@pytest.mark.parametrize(("message", "ctx"), CASES)
def test_truncated_at_every_length(message: Message, ctx: CodecContext) -> None:
    data = message.encode(ctx)
    for size in range(fixed_size(message, data)):
        for padded in (False, True):
            with pytest.raises(DecodeError):
                type(message).decode(data[:size], ctx, padded=padded)


@pytest.mark.parametrize(("message", "ctx"), CASES)
def test_wrong_code(message: Message, ctx: CodecContext) -> None:
    data = bytearray(message.encode(ctx))
    for code in range(256):
        if code != type(message).CODE:
            data[1] = code
            with pytest.raises(DecodeError):
                type(message).decode(bytes(data), ctx)


@pytest.mark.parametrize(("message", "ctx"), CASES)
def test_trailing_bytes(message: Message, ctx: CodecContext) -> None:
    cls = type(message)
    data = message.encode(ctx)
    tail = GREEDY_TAIL.get(cls)
    if tail is not None:
        # No length field: what follows the fixed part is the tail, padding included.
        if isinstance(message, ErrorResponse) and len(message.extended_data) + 2 > 32:
            with pytest.raises(DecodeError):
                cls.decode(data + b"\x00\x01", ctx, padded=True)
            return
        back = cls.decode(data + b"\x00\x01", ctx, padded=True)
        assert getattr(back, tail) == getattr(message, tail) + b"\x00\x01"
        return
    for extra in (b"\x00", b"\x01", b"\x00\x00\x00", fill(5, 0)):
        with pytest.raises(DecodeError, match="unexpected byte"):
            cls.decode(data + extra, ctx)
    for pad in range(1, 4):
        back = cls.decode(data + bytes(pad), ctx, padded=True)
        assert back == message
        assert back.raw == data  # the pad is not part of the message (nor of any transcript)
    for extra in (bytes(4), b"\x00\x00\x01", b"\x80"):
        with pytest.raises(DecodeError, match="unexpected byte"):
            cls.decode(data + extra, ctx, padded=True)


@pytest.mark.parametrize(("message", "ctx"), CASES)
def test_decode_accepts_bytes_like(message: Message, ctx: CodecContext) -> None:
    data = message.encode(ctx)
    back = type(message).decode(memoryview(bytearray(data)), ctx)
    assert back == message
    assert type(back.raw) is bytes


@pytest.mark.parametrize(
    ("message", "ctx"),
    [p for p in CASES if p.id in {"get_version", "certificate-1.1", "measurements-1.2-signed",
                                  "key_exchange_rsp", "negotiate_algorithms-1.2", "digests-1.3-multi-key"}],
)
def test_whole_byte_by_byte_and_with_trailing_bytes(message: Message, ctx: CodecContext) -> None:
    """h11-style: whole; every prefix "not yet" (no partial message); trailing bytes left alone."""
    cls = type(message)
    data = message.encode(ctx)
    assert cls.decode(data, ctx) == message
    buffer = b""
    for byte in data[:-1]:
        buffer += bytes([byte])
        with pytest.raises(DecodeError):
            cls.decode(buffer, ctx)
    buffer += data[-1:]
    assert cls.decode(buffer, ctx).raw == data
    for trailing in (b"\x00", b"\x00\x00\x00", b"\xff" * 8):
        with pytest.raises(DecodeError):
            cls.decode(data + trailing, ctx)
    padded = cls.decode(data + b"\x00\x00\x00", ctx, padded=True)
    assert padded.raw == data  # the caller learns where the message ends; the rest is untouched


@pytest.mark.parametrize(("message", "ctx"), [p for p in CASES if type(p.values[0]) not in GREEDY_TAIL])
def test_decode_head_stops_where_the_message_ends(message: Message, ctx: CodecContext) -> None:
    """Transcripts hold messages back to back: decode_head takes one and leaves the rest."""
    cls = type(message)
    data = message.encode(ctx)
    following = GetVersion().encode()
    head = cls.decode_head(data + following, ctx)
    assert head == message and head.raw == data
    assert cls.decode_head(data, ctx).raw == data
    for size in (0, 3, len(data) - 1):
        if size < fixed_size(message, data):
            with pytest.raises(DecodeError):
                cls.decode_head(data[:size], ctx)


# --- known answers (PROTOCOLS.md) ---------------------------------------------------------------


def test_get_version_known_answer() -> None:
    # §3.1: GET_VERSION is 4 bytes, always SPDMVersion 0x10.
    assert GetVersion().encode() == bytes.fromhex("10840000")
    assert GetVersion.decode(bytes.fromhex("10840000")) == GetVersion(spdm_version=0x10)


def test_version_known_answer_1_4() -> None:
    # §3.1 TRACE (1.4 responder).
    data = bytes.fromhex("10040000 0005 0010 0011 0012 0013 0014".replace(" ", ""))
    version = Version.decode(data)
    assert version.version_entries == (0x1000, 0x1100, 0x1200, 0x1300, 0x1400)
    assert version.versions == (0x10, 0x11, 0x12, 0x13, 0x14)
    assert version.encode() == data


def test_version_known_answer_1_2() -> None:
    # §2.1: 1.2 is 0x1200, wire bytes 00 12 (the spdm12-p384 responder's VERSION).
    data = bytes.fromhex("1004000000010012")
    assert Version.decode(data) == Version(version_entries=(0x1200,))
    assert Version(version_entries=(0x1200,)).encode() == data
    # update/alpha nibbles are dropped by .versions, kept by the entries
    assert Version.decode(bytes.fromhex("1004000000013512")).versions == (0x12,)


def test_version_bad_count() -> None:
    with pytest.raises(DecodeError):
        Version.decode(bytes.fromhex("100400000002 0012".replace(" ", "")))
    with pytest.raises(DecodeError, match="unexpected byte"):
        Version.decode(bytes.fromhex("1004000000010012 0013".replace(" ", "")))


def test_capabilities_known_answers_and_sizes() -> None:
    # §3.2 TRACE 1.1: request flags c6 f7 00 00, response flags f7 fb 00 00.
    request = GetCapabilities(spdm_version=0x11, flags=0xF7C6)
    assert request.encode() == bytes.fromhex("11e1000000000000c6f70000")
    response = Capabilities.decode(bytes.fromhex("1161000000000000f7fb0000"))
    assert (response.flags, response.ct_exponent) == (0xFBF7, 0)
    # Message sizes: request 4 (1.0), 12 (1.1), 20 (1.2+); response 12 (1.0/1.1), 20 (1.2+).
    sizes = {v: len(GetCapabilities(spdm_version=v).encode()) for v in (0x10, 0x11, 0x12, 0x13)}
    assert sizes == {0x10: 4, 0x11: 12, 0x12: 20, 0x13: 20}
    sizes = {v: len(Capabilities(spdm_version=v).encode()) for v in (0x10, 0x11, 0x12, 0x13)}
    assert sizes == {0x10: 12, 0x11: 12, 0x12: 20, 0x13: 20}


def test_capabilities_1_2_layout_needs_the_sizes() -> None:
    data = GetCapabilities(spdm_version=0x12, flags=1, data_transfer_size=42, max_spdm_msg_size=42).encode()
    with pytest.raises(DecodeError, match="unexpected byte"):  # read as 1.1, the sizes are trailing bytes
        GetCapabilities.decode(b"\x11" + data[1:])
    with pytest.raises(DecodeError):  # a 1.1 message claiming 1.2 lacks them
        GetCapabilities.decode(b"\x12" + data[1:12])


def test_capabilities_supported_algorithms_block() -> None:
    # 1.3: Param1 b0 appends the SupportedAlgorithms block; its Length (offset 2) covers the whole block.
    message = Capabilities(spdm_version=0x13, param1=1, supported_algorithms=SUPPORTED_ALGORITHMS)
    data = roundtrip(message)
    assert data[20:] == SUPPORTED_ALGORITHMS
    # Param1 b0 clear, or before 1.3: no block, so it would be trailing bytes.
    with pytest.raises(DecodeError, match="unexpected byte"):
        Capabilities.decode(data[:2] + b"\x00" + data[3:])
    with pytest.raises(DecodeError, match="unexpected byte"):
        Capabilities.decode(b"\x12" + data[1:])


HEAD_1_3_WITH_BLOCK = bytes.fromhex("13610100") + Capabilities(spdm_version=0x13).encode()[4:]


@pytest.mark.parametrize("length", [0, 3, 4, 29])
def test_capabilities_supported_algorithms_shorter_than_its_fixed_part(length: int) -> None:
    block = SUPPORTED_ALGORITHMS[:2] + length.to_bytes(2, "little") + SUPPORTED_ALGORITHMS[4:]
    head = HEAD_1_3_WITH_BLOCK
    for data in (head + block, head + block[:length]):
        for padded in (False, True):
            with pytest.raises(DecodeError):
                Capabilities.decode(data, padded=padded)


def test_capabilities_supported_algorithms_length_beyond_message() -> None:
    block = SUPPORTED_ALGORITHMS[:2] + (len(SUPPORTED_ALGORITHMS) + 4).to_bytes(2, "little") \
        + SUPPORTED_ALGORITHMS[4:]
    head = HEAD_1_3_WITH_BLOCK
    with pytest.raises(DecodeError):
        Capabilities.decode(head + block)


@pytest.mark.parametrize("block", [b"", SUPPORTED_ALGORITHMS[:10], SUPPORTED_ALGORITHMS + b"\x00\x00"])
def test_capabilities_encode_refuses_inconsistent_block(block: bytes) -> None:
    with pytest.raises(LocalProtocolError):
        Capabilities(spdm_version=0x13, param1=1, supported_algorithms=block).encode()


def test_negotiate_algorithms_known_answer_1_1() -> None:
    # §3.3 TRACE 1.1 request tail.
    message = NegotiateAlgorithms(spdm_version=0x11, measurement_specification=1, base_asym_algo=0x10,
                                  base_hash_algo=0x01, alg_structs=TRACE_11_ALG_STRUCTS)
    data = message.encode()
    assert data[-16:] == bytes.fromhex("0220 1b00 0320 0600 0420 0f00 0520 0100".replace(" ", ""))
    assert data[:8] == bytes.fromhex("11e30400 3000 0100".replace(" ", ""))  # Param1 = 4 structs, Length 48
    back = NegotiateAlgorithms.decode(data)
    assert back.length == 48 == len(data)
    assert back.alg_supported(AlgType.DHE) == 0x1B
    assert back.alg_supported(AlgType.AEAD) == 0x06
    assert back.alg_supported(AlgType.REQ_BASE_ASYM_ALG) == 0x0F
    assert back.alg_supported(AlgType.KEY_SCHEDULE) == 0x01
    assert back.alg_supported(7) == 0


@pytest.mark.parametrize("cls_case", ["negotiate_algorithms-1.2", "algorithms-1.2"])
@pytest.mark.parametrize("delta", [-4, -1, 1, 4, 0x100])
def test_algorithms_length_mismatch(cls_case: str, delta: int) -> None:
    message, _ = known_case(cls_case)
    data = bytearray(message.encode())
    length = int.from_bytes(data[4:6], "little")
    assert length == len(data)
    data[4:6] = (length + delta).to_bytes(2, "little")
    for padded in (False, True):
        with pytest.raises(DecodeError):
            type(message).decode(bytes(data), padded=padded)


@pytest.mark.parametrize("cls_case", ["negotiate_algorithms-1.1", "algorithms-1.1"])
@pytest.mark.parametrize("alg_count", [0x00, 0x10, 0x30, 0xF0, 0x11])
def test_alg_struct_fixed_alg_count_must_be_2(cls_case: str, alg_count: int) -> None:
    message, _ = known_case(cls_case)
    data = bytearray(message.encode())
    first_struct = len(data) - 16
    assert data[first_struct + 1] == 0x20
    data[first_struct + 1] = alg_count
    with pytest.raises(DecodeError):
        type(message).decode(bytes(data))


def test_alg_struct_external_entries() -> None:
    # AlgCount b[3:0] counts the 4-byte external entries after AlgSupported.
    message = NegotiateAlgorithms(spdm_version=0x12, alg_structs=(
        AlgStruct(2, 0x18, (b"\x03\x00\x07\x00", b"\x03\x00\x08\x00")), AlgStruct(3, 2)))
    data = roundtrip(message)
    assert data[32:44] == bytes.fromhex("0222 1800 03000700 03000800".replace(" ", ""))
    with pytest.raises(LocalProtocolError):  # 16 entries do not fit the nibble
        NegotiateAlgorithms(spdm_version=0x12, alg_structs=(AlgStruct(2, 1, (bytes(4),) * 16),)).encode()


def test_algorithms_1_0_param1_is_reserved() -> None:
    # 1.0 has no AlgStructs and Param1 is reserved: ignored on parse, built as 0.
    for cls, case in ((NegotiateAlgorithms, "negotiate_algorithms-1.0"), (Algorithms, "algorithms-1.0")):
        message, _ = known_case(case)
        data = message.encode()
        assert data[2] == 0
        back = cls.decode(data[:2] + b"\x05" + data[3:])
        assert back == message
        assert back.alg_structs == ()
        with pytest.raises(LocalProtocolError):
            dataclasses.replace(message, alg_structs=(AlgStruct(2, 0x10),)).encode()


def test_digests_known_answer_multi_key_size() -> None:
    # §3.4: TRACE 1.4 (3 slots, SHA-384, multi-key) is 4 + 3*48 + 3 + 3 + 6 = 160 bytes.
    message, ctx = known_case("digests-1.3-multi-key")
    data = message.encode(ctx)
    assert len(data) == 160
    assert data[:4] == bytes.fromhex("13011313")
    assert data[-12:] == bytes.fromhex("050511 010101 0f000f000f00".replace(" ", ""))
    assert isinstance(message, Digests)
    assert message.by_slot() == {0: fill(48, 0xD0), 1: fill(48, 0xD1), 4: fill(48, 0xD4)}
    # Without MULTI_KEY_CONN the tail is trailing bytes.
    with pytest.raises(DecodeError, match="unexpected byte"):
        Digests.decode(data, P384)


def test_digests_count_follows_the_mask() -> None:
    with pytest.raises(LocalProtocolError):
        Digests(spdm_version=0x12, provisioned_slot_mask=0x03, digests=(fill(48, 1),)).encode(P384)
    data = Digests(spdm_version=0x12, provisioned_slot_mask=0x01, digests=(fill(48, 1),)).encode(P384)
    with pytest.raises(DecodeError):  # two bits set, one digest present
        Digests.decode(data[:3] + b"\x03" + data[4:], P384)


def test_get_certificate_known_answer_and_reserved_slot_bits() -> None:
    # §3.5: SlotID in Param1 b[3:0]; b[7:4] reserved (b7 is 1.4 LargeCertChain): ignored on parse.
    data = bytes.fromhex("11820100 0000ffff".replace(" ", ""))
    assert GetCertificate.decode(data) == GetCertificate(spdm_version=0x11, slot_id=1)
    back = GetCertificate.decode(bytes.fromhex("1182f100 0000ffff".replace(" ", "")))
    assert back.slot_id == 1
    assert back.encode() == data


@pytest.mark.parametrize(
    "message",
    [
        GetCertificate(spdm_version=0x12, slot_id=0x10),
        Certificate(spdm_version=0x12, slot_id=0xFF),
        GetMeasurements(spdm_version=0x12, attributes=1, nonce=NONCE, slot_id=0x1F),
        KeyExchangeRsp(spdm_version=0x12, req_slot_id=0x10, exchange_data=fill(96, 1), signature=fill(96, 1),
                       responder_verify_data=fill(48, 1)),
    ],
    ids=lambda m: type(m).__name__,
)
def test_slot_nibble_does_not_encode_reserved_bits(message: Message) -> None:
    with pytest.raises(LocalProtocolError):
        message.encode(P384)


def test_certificate_portion_length() -> None:
    data = Certificate(spdm_version=0x12, cert_chain=fill(10, 0xCE)).encode()
    assert data[4:8] == bytes.fromhex("0a00 0000".replace(" ", ""))
    with pytest.raises(DecodeError):  # PortionLength beyond the message
        Certificate.decode(data[:4] + b"\x0b\x00" + data[6:])
    with pytest.raises(DecodeError, match="unexpected byte"):  # shorter: the rest is trailing
        Certificate.decode(data[:4] + b"\x09\x00" + data[6:])


def test_challenge_and_get_measurements_sizes() -> None:
    # §3.6: CHALLENGE 36 bytes, 44 from 1.3.  §3.7: GET_MEASUREMENTS 4/12 unsigned, 36/37/45 signed.
    assert {v: len(Challenge(spdm_version=v, requester_context=CONTEXT8 if v >= 0x13 else None).encode())
            for v in (0x10, 0x11, 0x12, 0x13)} == {0x10: 36, 0x11: 36, 0x12: 36, 0x13: 44}
    sizes = {}
    for v in (0x10, 0x11, 0x12, 0x13):
        context = CONTEXT8 if v >= 0x13 else None
        unsigned = GetMeasurements(spdm_version=v, requester_context=context)
        signed = GetMeasurements(spdm_version=v, attributes=1, nonce=NONCE,
                                 slot_id=0 if v >= 0x11 else None, requester_context=context)
        sizes[v] = (len(unsigned.encode()), len(signed.encode()))
    assert sizes == {0x10: (4, 36), 0x11: (4, 37), 0x12: (4, 37), 0x13: (12, 45)}


def test_version_dependent_fields_must_be_present_to_encode() -> None:
    for message in (
        Challenge(spdm_version=0x13),
        GetMeasurements(spdm_version=0x13),
        GetMeasurements(spdm_version=0x12, attributes=1),
        ChallengeAuth(spdm_version=0x13, cert_chain_hash=fill(48, 1), signature=fill(96, 1)),
        Finish(spdm_version=0x12, attributes=1, requester_verify_data=fill(48, 1)),
        Capabilities(spdm_version=0x13, param1=1),
    ):
        with pytest.raises(LocalProtocolError):
            message.encode(P384)


def test_get_measurements_fields() -> None:
    data = bytes.fromhex("11e00103") + NONCE + b"\xf1"  # SlotIDParam b[7:4] reserved
    message = GetMeasurements.decode(data)
    assert (message.signature_requested, message.operation, message.slot_id) == (True, 3, 1)
    assert message.nonce == NONCE
    assert message.encode()[-1] == 0x01


# --- measurement blocks (§3.7) --------------------------------------------------------------------


def _record(blocks: bytes, count: int, length: int | None = None) -> bytes:
    """A 1.2 unsigned MEASUREMENTS around a hand-made record."""
    size = len(blocks) if length is None else length
    return bytes([0x12, 0x60, 0, 0, count]) + size.to_bytes(3, "little") + blocks + NONCE + b"\x00\x00"


def test_measurement_block_known_answers() -> None:
    # TRACE 1.2: index 0x01 SHA-512 digest, index 0xFE device mode (raw, 16 bytes), index 0x10 SVN = 7.
    expected = [
        bytes.fromhex("01014300004000") + fill(64, 0x11),
        bytes.fromhex("fe011300851000") + fill(16, 0x22),
        bytes.fromhex("10010b00870800 0700000000000000".replace(" ", "")),
    ]
    assert [b.encode() for b in BLOCKS] == expected
    message = Measurements.decode(_record(b"".join(expected), 3))
    assert message.blocks == BLOCKS
    assert message.measurement_record == b"".join(expected)
    assert [(b.raw_bit_stream, b.kind) for b in message.blocks] == [
        (False, DmtfValueType.IMMUTABLE_ROM),
        (True, DmtfValueType.DEVICE_MODE),
        (True, DmtfValueType.MUTABLE_FIRMWARE_SVN),
    ]
    assert MeasurementBlock(1, 0x7F, b"").kind == 0x7F  # unknown types stay ints


@pytest.mark.parametrize("value", [b"", b"\x00", fill(0xFFFF - 3, 0x33)])
def test_measurement_block_round_trip(value: bytes) -> None:
    block = MeasurementBlock(0x42, 0x80 | DmtfValueType.INFORMATIONAL, value)
    message = Measurements(spdm_version=0x12, blocks=(block,))
    assert roundtrip(message).startswith(bytes([0x12, 0x60, 0, 0, 1]))
    assert Measurements.decode(message.encode()).blocks == (block,)


def test_measurement_block_too_large_to_encode() -> None:
    with pytest.raises(LocalProtocolError):
        MeasurementBlock(1, 0x80, fill(0xFFFF - 2, 0)).encode()
    with pytest.raises(LocalProtocolError):
        Measurements(spdm_version=0x12, blocks=(MeasurementBlock(1, 0x80, fill(0x10000, 0)),)).encode()


@pytest.mark.parametrize("count", [0, 1, 3, 255])
def test_measurements_number_of_blocks_mismatch(count: int) -> None:
    record = BLOCKS[0].encode() + BLOCKS[1].encode()
    assert Measurements.decode(_record(record, 2)).blocks == BLOCKS[:2]
    with pytest.raises(DecodeError):
        Measurements.decode(_record(record, count))


@pytest.mark.parametrize("delta", [-1, 1, -len(BLOCKS[1].encode())])
def test_measurements_record_length_mismatch(delta: int) -> None:
    record = BLOCKS[0].encode() + BLOCKS[1].encode()
    with pytest.raises(DecodeError):
        Measurements.decode(_record(record, 2, len(record) + delta))


@pytest.mark.parametrize("spec", [0x00, 0x02, 0x03, 0x80, 0xFF])
def test_measurement_block_non_dmtf_specification(spec: int) -> None:
    block = bytearray(BLOCKS[2].encode())
    block[1] = spec
    with pytest.raises(DecodeError):
        Measurements.decode(_record(bytes(block), 1))


@pytest.mark.parametrize(("measurement_size", "value_size"), [(0x0B, 7), (0x0B, 9), (0x0A, 8), (0x0C, 8),
                                                              (2, 0)])
def test_measurement_block_inner_sizes_must_agree(measurement_size: int, value_size: int) -> None:
    block = bytearray(BLOCKS[2].encode())
    block[2:4] = measurement_size.to_bytes(2, "little")
    block[5:7] = value_size.to_bytes(2, "little")
    with pytest.raises(DecodeError):
        Measurements.decode(_record(bytes(block), 1))


def test_measurements_count_query_known_answer() -> None:
    data = bytes.fromhex("11600800 00000000".replace(" ", "")) + NONCE + b"\x00\x00"
    message = Measurements.decode(data)
    assert (message.total_indices, message.blocks) == (8, ())
    assert message.encode() == data


def test_measurements_attributes() -> None:
    message, ctx = known_case("measurements-1.2-signed")
    assert isinstance(message, Measurements)
    assert (message.slot_id, message.content_changed) == (0, 2)
    unsigned = Measurements.decode(message.encode(ctx), ctx)
    assert unsigned.signature == fill(96, 0x5A)
    with pytest.raises(DecodeError, match="unexpected byte"):  # not signed: the signature is trailing
        Measurements.decode(message.encode(ctx), P384)


# --- opaque data (DSP0274: OpaqueDataLength <= 1024) ---------------------------------------------

OPAQUE_CASES = [
    # (message, ctx, offset of OpaqueDataLength)
    pytest.param(ChallengeAuth(spdm_version=0x12, cert_chain_hash=fill(48, 1), signature=fill(96, 2)), P384,
                 4 + 48 + 32, id="challenge_auth"),
    pytest.param(Measurements(spdm_version=0x12, blocks=BLOCKS[2:]), P384, 8 + 15 + 32, id="measurements"),
    pytest.param(KeyExchange(spdm_version=0x12, exchange_data=fill(96, 1)), P384, 40 + 96, id="key_exchange"),
    pytest.param(KeyExchangeRsp(spdm_version=0x12, exchange_data=fill(96, 1), signature=fill(96, 2),
                                responder_verify_data=fill(48, 3)), P384, 40 + 96, id="key_exchange_rsp"),
    pytest.param(PskExchange(spdm_version=0x12, psk_hint=b"hint", requester_context=fill(48, 1)), P384, 10,
                 id="psk_exchange"),
    pytest.param(PskExchangeRsp(spdm_version=0x12, responder_context=fill(48, 1),
                                responder_verify_data=fill(48, 2)), P384, 10, id="psk_exchange_rsp"),
]


@pytest.mark.parametrize(("message", "ctx", "length_at"), OPAQUE_CASES)
def test_opaque_data_limit(message: Message, ctx: CodecContext, length_at: int) -> None:
    at_limit = with_opaque(message, fill(1024, 0xAA))
    data = roundtrip(at_limit, ctx)
    assert data[length_at:length_at + 2] == (1024).to_bytes(2, "little")
    with pytest.raises(LocalProtocolError):
        with_opaque(message, fill(1025, 0xAA)).encode(ctx)
    # The same bytes with OpaqueDataLength = 1025 and one more opaque byte.
    over = bytearray(data)
    over.insert(data.index(fill(1024, 0xAA)), 0xAA)
    over[length_at:length_at + 2] = (1025).to_bytes(2, "little")
    with pytest.raises(DecodeError):
        type(message).decode(bytes(over), ctx)


@pytest.mark.parametrize(("message", "ctx", "length_at"), OPAQUE_CASES)
def test_opaque_data_length_beyond_message(message: Message, ctx: CodecContext, length_at: int) -> None:
    data = bytearray(with_opaque(message, fill(8, 0xAA)).encode(ctx))
    assert data[length_at:length_at + 2] == b"\x08\x00"
    for length in (9, 0xFFFF):
        data[length_at:length_at + 2] = length.to_bytes(2, "little")
        for padded in (False, True):
            with pytest.raises(DecodeError):
                type(message).decode(bytes(data), ctx, padded=padded)


# --- control messages -----------------------------------------------------------------------------


def test_error_response_extended_data_limit() -> None:
    # §2.3: ExtendedErrorData is 0-32 bytes.
    head = bytes.fromhex("12 7f ff 00".replace(" ", ""))
    assert ErrorResponse.decode(head + fill(32, 1)).extended_data == fill(32, 1)
    for size in (33, 40, 1000):
        with pytest.raises(DecodeError):
            ErrorResponse.decode(head + fill(size, 1))
    with pytest.raises(LocalProtocolError):
        ErrorResponse(spdm_version=0x12, extended_data=fill(33, 1)).encode()


def test_error_response_not_ready_known_answer() -> None:
    # §2.3: ResponseNotReady ext = RDTExponent, RequestCode, Token, RDTM.
    data = bytes.fromhex("12 7f 42 00 14 e0 07 03".replace(" ", ""))
    error = ErrorResponse.decode(data)
    assert error.name == "RESPONSE_NOT_READY"
    assert error.not_ready == ResponseNotReadyData(rdt_exponent=20, request_code=0xE0, token=7, rdtm=3)
    assert error.not_ready.wait_us == 1 << 20
    assert error.not_ready.max_wait_us == 3 << 20
    assert ErrorResponse.decode(data[:7]).not_ready is None  # short data: no details
    assert ErrorResponse.decode(bytes.fromhex("117f0100")).not_ready is None
    assert ErrorResponse.decode(bytes.fromhex("117f1300")).name == "0x13"
    assert ResponseNotReadyData(200, 0, 0, 0).wait_us == 1 << 63


def test_vendor_defined_ide_km_query_known_answer() -> None:
    # §3.12 TRACE 1.2 (decrypted): IDE_KM QUERY for port 1.
    data = bytes.fromhex("12 fe 00 00 03 00 02 01 00 04 00 00 00 00 01".replace(" ", ""))
    message = VendorDefinedRequest.decode(data)
    assert message == VendorDefinedRequest(spdm_version=0x12, standard_id=3, vendor_id=b"\x01\x00",
                                           payload=bytes.fromhex("00000001"))
    assert message.encode() == data
    with pytest.raises(DecodeError):  # ReqLength one more than the payload
        VendorDefinedRequest.decode(data[:9] + b"\x05\x00" + data[11:])
    with pytest.raises(DecodeError, match="unexpected byte"):  # one less
        VendorDefinedRequest.decode(data[:9] + b"\x03\x00" + data[11:])
    with pytest.raises(DecodeError):  # VendorID Len 3 eats into ReqLength
        VendorDefinedRequest.decode(data[:6] + b"\x03" + data[7:])


def test_vendor_defined_payload_limit() -> None:
    assert len(roundtrip(VendorDefinedResponse(spdm_version=0x12, payload=fill(0xFFFF, 1)))) == 9 + 0xFFFF
    with pytest.raises(LocalProtocolError):
        VendorDefinedResponse(spdm_version=0x12, payload=fill(0x10000, 1)).encode()
    with pytest.raises(LocalProtocolError):
        VendorDefinedResponse(spdm_version=0x12, vendor_id=fill(256, 1)).encode()


# --- session messages -----------------------------------------------------------------------------


def test_key_exchange_known_answer_header() -> None:
    # §3.8: TRACE 1.2 KEY_EXCHANGE begins 12 e4 ff 00 ff ff 01 00; the RSP 12 64 f0 00 ff ff 02 00.
    request = KeyExchange(spdm_version=0x12, measurement_summary_hash_type=0xFF, slot_id=0,
                          req_session_id=0xFFFF, session_policy=1, exchange_data=fill(96, 1))
    assert request.encode(P384)[:8] == bytes.fromhex("12e4ff00ffff0100")
    assert len(request.encode(P384)) == 40 + 96 + 2
    response = KeyExchangeRsp(spdm_version=0x12, heartbeat_period=0xF0, rsp_session_id=0xFFFF,
                              mut_auth_requested=2, exchange_data=fill(96, 1), signature=fill(96, 2),
                              responder_verify_data=fill(48, 3))
    data = response.encode(P384)
    assert data[:8] == bytes.fromhex("1264f000ffff0200")
    assert len(data) == 40 + 96 + 2 + 96 + 48
    # HANDSHAKE_IN_THE_CLEAR moves the verify data to FINISH_RSP: the same bytes are now trailing.
    with pytest.raises(DecodeError, match="unexpected byte"):
        KeyExchangeRsp.decode(data, P384_CLEAR)


def test_psk_exchange_known_answer_header() -> None:
    # §3.10 TRACE: 12 e6 ff 01 fe ff 18 00 40 00 10 00.
    message, ctx = known_case("psk_exchange")
    assert message.encode(ctx)[:12] == bytes.fromhex("12e6ff01feff180040001000")


def test_finish_signature_follows_param1() -> None:
    # §3.9 TRACE 1.2: FINISH = 12 e5 01 00 | signature (S_req) | verify data (H).
    message, ctx = known_case("finish-signed")
    data = message.encode(ctx)
    assert data[:4] == bytes.fromhex("13e50100")
    assert len(data) == 4 + 384 + 48
    with pytest.raises(DecodeError, match="unexpected byte"):
        Finish.decode(data[:2] + b"\x00" + data[3:], ctx)


def test_end_session_known_answer() -> None:
    # §3.11 TRACE: 12 ec 01 00, then 12 6c 00 00.
    assert EndSession.decode(bytes.fromhex("12ec0100")) == EndSession(spdm_version=0x12, attributes=1)
    assert EndSession(spdm_version=0x12, attributes=1).encode() == bytes.fromhex("12ec0100")
    assert EndSessionAck.decode(bytes.fromhex("126c0000")) == EndSessionAck(spdm_version=0x12)


def test_key_update_known_answer() -> None:
    assert KeyUpdate(spdm_version=0x11, key_operation=3, tag=0x5A).encode() == bytes.fromhex("11e9035a")
    assert KeyUpdateAck.decode(bytes.fromhex("1169035a")) == KeyUpdateAck(spdm_version=0x11, key_operation=3,
                                                                          tag=0x5A)


def test_encapsulated_response_ack_layout_by_version() -> None:
    # 1.2 adds AckRequestID and 3 reserved bytes before the encapsulated request.
    assert EncapsulatedResponseAck(spdm_version=0x11, request_id=1, payload_type=1,
                                   encapsulated_request=b"\x11\x81\x00\x00").encode() == \
        bytes.fromhex("116b0101 11810000".replace(" ", ""))
    data = bytes.fromhex("136b0201 01ffffff 13810000".replace(" ", ""))
    message = EncapsulatedResponseAck.decode(data)
    assert (message.request_id, message.payload_type, message.ack_request_id) == (2, 1, 1)
    assert message.encapsulated_request == bytes.fromhex("13810000")
    assert message.encode() == bytes.fromhex("136b0201 01000000 13810000".replace(" ", ""))
    with pytest.raises(DecodeError):
        EncapsulatedResponseAck.decode(data[:7])


# --- reserved fields: ignored on parse, built as zero (R6) ----------------------------------------

RESERVED = [
    # (case id, wholly reserved byte offsets, offsets of bytes whose b[7:4] are reserved)
    ("get_version", [2, 3], []),
    ("version", [2, 3, 4], []),
    ("get_capabilities-1.2", [3, 4, 6, 7], []),
    ("capabilities-1.1", [3, 4, 6, 7], []),
    ("negotiate_algorithms-1.1", [3, *range(16, 28), 30], []),
    ("algorithms-1.1", [3, *range(20, 31), 34, 35], []),
    ("get_digests", [2, 3], []),
    ("get_certificate-1.1", [], [2]),
    ("certificate-1.1", [], [2]),
    ("get_measurements-1.1-signed", [], [36]),
    ("key_exchange-1.2", [7], []),
    ("key_exchange_rsp", [3], [7]),
    ("finish_rsp", [2, 3], []),
    ("psk_exchange_rsp", [3, 6, 7], []),
    ("psk_finish_rsp", [2, 3], []),
    ("heartbeat", [2, 3], []),
    ("end_session_ack", [2, 3], []),
    ("vendor_defined_request", [2, 3], []),
    ("encapsulated_response_ack-1.3", [5, 6, 7], []),
]


@pytest.mark.parametrize(("case", "whole", "nibble"), RESERVED, ids=[r[0] for r in RESERVED])
def test_reserved_bits_ignored_on_parse_and_built_as_zero(
    case: str, whole: list[int], nibble: list[int]
) -> None:
    message, ctx = known_case(case)
    data = message.encode(ctx)
    dirty = bytearray(data)
    for offset in whole:
        assert dirty[offset] == 0
        dirty[offset] = 0xFF
    for offset in nibble:
        assert dirty[offset] & 0xF0 == 0
        dirty[offset] |= 0xF0
    back = type(message).decode(bytes(dirty), ctx)
    assert back == message
    assert back.raw == bytes(dirty)  # what was received, for transcripts
    assert back.encode(ctx) == data


def test_peek_code() -> None:
    assert peek_code(bytes.fromhex("12e4ff00")) == (0x12, 0xE4)
    for size in range(4):
        with pytest.raises(DecodeError):
            peek_code(bytes(size))


def test_decode_error_names_the_message_and_path() -> None:
    with pytest.raises(DecodeError, match=r"malformed Certificate: .*cert_chain"):
        Certificate.decode(bytes.fromhex("12020000 0a000000 0102".replace(" ", "")))
    with pytest.raises(DecodeError) as info:
        GetVersion.decode(b"\x10")
    assert isinstance(info.value, ValueError)  # DecodeError is also a ValueError (R3)
    assert info.value.__cause__ is not None


def test_messages_are_frozen_and_compare_without_raw() -> None:
    message = Heartbeat.decode(bytes.fromhex("11e80000"))
    assert message == Heartbeat(spdm_version=0x11)
    assert message.raw == bytes.fromhex("11e80000")
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.spdm_version = 0x12  # type: ignore[misc]
    assert hash(message) == hash(Heartbeat(spdm_version=0x11))


# --- R6: how the construct definitions are written ------------------------------------------------


def _constructs(root: object) -> list[object]:
    """Every construct reachable from ``root`` (subcons, branches, cases)."""
    seen: dict[int, object] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen or not isinstance(node, construct.Construct):
            continue
        seen[id(node)] = node
        for value in vars(node).values():
            if isinstance(value, construct.Construct):
                stack.append(value)
            elif isinstance(value, list | tuple):
                stack.extend(value)
            elif isinstance(value, dict):
                stack.extend(value.values())
    return list(seen.values())


def test_construct_definitions_follow_r6() -> None:
    structs = [cls.STRUCT for cls in {*REQUEST_TYPES.values(), *RESPONSE_TYPES.values()}]
    for node in (n for s in structs for n in _constructs(s)):
        for name, value in vars(node).items():
            # `this`/`len_`/`obj_` expressions only (a lambda would also block compile(), A5);
            # construct's own helpers live in the underscore attributes.
            if not name.startswith("_"):
                assert not isinstance(value, types.FunctionType), f"{node!r}.{name} is a function"
        assert not isinstance(node, construct.Enum | construct.FlagsEnum | construct.Compiled)
        if isinstance(node, construct.Switch):
            assert isinstance(node.default, construct.Error)
