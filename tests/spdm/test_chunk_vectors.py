"""The chunking codec against libspdm's chunking capture (vectors/libspdm-doe/spdm13-p384-chunking).

DataTransferSize 0x200 on both sides: CERTIFICATE and MEASUREMENTS come by
CHUNK_GET, SET_CERTIFICATE goes by CHUNK_SEND, out of session and inside
sessions.  Every CHUNK_* message decodes and re-encodes byte-exact: the
plain ones from the pcap records, the secured ones from the plaintext the
reference requester logged for them (the log holds every message it sent and
received, record for record).  Reassembling each handle's chunks gives the
large message, which decodes as what spdm_dump named, and whose certificate
chain validates with our chain rules.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest

from spdm.crypto import parse_spdm_cert_chain, validate_cert_chain
from spdm.messages import (
    Certificate,
    ChunkGet,
    ChunkResponse,
    ChunkSend,
    ChunkSendAck,
    CodecContext,
    ErrorResponse,
    Measurements,
    Message,
)
from spdm.messages.chunk import ChunkAssembly
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, RequestCode, ResponseCode
from tests.vectors import DOE_HEADER, TYPE_SPDM, LoggedMessage, dump_lines, logged_messages, records

SET = "spdm13-p384-chunking"
DATA_TRANSFER_SIZE = 0x200
CHUNK_TYPES: dict[int, type[Message]] = {
    RequestCode.CHUNK_SEND: ChunkSend, RequestCode.CHUNK_GET: ChunkGet,
    ResponseCode.CHUNK_SEND_ACK: ChunkSendAck, ResponseCode.CHUNK_RESPONSE: ChunkResponse,
}
NOW = datetime(2026, 11, 22, tzinfo=UTC)
SIGNED_P384 = CodecContext(hash_size=48, signature_size=96, signed=True, multi_key=True)


def logged() -> tuple[LoggedMessage, ...]:
    """Every message of requester.log with its plaintext."""
    return logged_messages(SET)


def plain_payloads() -> list[bytes]:
    """The SPDM payloads (DOE padding included) of the capture's plain records."""
    return [r.data[DOE_HEADER:] for r in records(SET) if r.data[2] == TYPE_SPDM]


def chunk_messages(payloads: list[bytes]) -> list[Message]:
    return [CHUNK_TYPES[p[1]].decode(p, padded=True) for p in payloads if p[1] in CHUNK_TYPES]


def exact(message: Message, payload: bytes) -> None:
    """Re-encoding gives the captured bytes; only zero DOE padding may follow."""
    encoded = message.encode()
    assert payload[:len(encoded)] == encoded
    assert not any(payload[len(encoded):]) and len(payload) - len(encoded) < 4


def test_every_plain_chunk_record_reencodes_byte_exact() -> None:
    payloads = [p for p in plain_payloads() if p[1] in CHUNK_TYPES]
    for payload in payloads:
        exact(CHUNK_TYPES[payload[1]].decode(payload, padded=True), payload)
    dumped = [line for line in dump_lines(SET) if "SPDM_CHUNK_" in line and "SecuredSPDM" not in line]
    assert len(payloads) == len(dumped) == 44


def test_every_secured_chunk_message_reencodes_byte_exact() -> None:
    secured = [m.data for m in logged() if m.session and m.data[1] in CHUNK_TYPES]
    for data in secured:
        message = CHUNK_TYPES[data[1]].decode(data)
        assert message.encode() == data
    dumped = [line for line in dump_lines(SET) if "SPDM_CHUNK_" in line and "SecuredSPDM" in line]
    assert len(secured) == len(dumped) == 24


def test_the_log_holds_the_plain_records() -> None:
    plain = [m.data for m in logged() if not m.session]
    payloads = plain_payloads()
    assert len(plain) == len(payloads)
    for data, payload in zip(plain, payloads, strict=True):  # requests are logged without the DOE pad
        assert payload.startswith(data) and not any(payload[len(data):])


def reassemble(messages: list[Message],
               kind: type[ChunkSend] | type[ChunkResponse]) -> dict[int, list[bytes]]:
    """Each handle's large messages, reassembled with the engine's own bounded assembly."""
    out: dict[int, list[bytes]] = defaultdict(list)
    assembly: ChunkAssembly | None = None
    for message in messages:
        if not isinstance(message, kind):
            continue
        if message.chunk_seq_no == 0:
            assembly = ChunkAssembly(message.handle, message.large_message_size, message.chunk,
                                     last=message.last, max_size=0x28000)
            continue
        assert assembly is not None
        whole = assembly.add(message.handle, message.chunk_seq_no, message.chunk, last=message.last)
        if whole is not None:
            assert len(whole) == assembly.size
            out[message.handle].append(whole)
    return out


def all_messages() -> list[Message]:
    """Every CHUNK_* message in capture order (secured ones from the log)."""
    return [CHUNK_TYPES[m.data[1]].decode(m.data, padded=not m.session)
            for m in logged() if m.data[1] in CHUNK_TYPES]


def test_chunks_fill_the_data_transfer_size() -> None:
    for message in all_messages():
        if isinstance(message, ChunkSend | ChunkResponse) and not message.last:
            assert len(message.encode()) == DATA_TRANSFER_SIZE


def test_large_response_errors_announce_the_chunk_get_handles() -> None:
    handles = []
    for message in logged():
        if message.data[1] == ResponseCode.ERROR:
            error = ErrorResponse.decode(message.data, padded=not message.session)
            handles.append(error.large_response_handle)
    assert handles == [1, 3, 5, 7, 9, 11]
    gets = [m.handle for m in all_messages() if isinstance(m, ChunkGet) and m.chunk_seq_no == 0]
    assert gets == handles


@pytest.fixture(scope="module")
def large_responses() -> dict[int, list[bytes]]:
    return reassemble(all_messages(), ChunkResponse)


def test_chunked_certificates_validate(large_responses: dict[int, list[bytes]]) -> None:
    sizes = {1: 0x63F, 3: 0x665, 5: 0x63F}
    for handle, size in sizes.items():
        (whole,) = large_responses[handle]
        assert len(whole) == size
        certificate = Certificate.decode(whole)
        assert certificate.remainder_length == 0
        chain = parse_spdm_cert_chain(certificate.cert_chain, BaseHashAlgo.SHA_384)
        root = chain.certificates[0]
        validate_cert_chain(chain, [root], BaseAsymAlgo.ECDSA_P384, now=NOW)
    assert Certificate.decode(large_responses[1][0]).slot_id == 0
    assert Certificate.decode(large_responses[3][0]).slot_id == 4
    assert large_responses[1] == large_responses[5]


def test_chunked_measurements_decode(large_responses: dict[int, list[bytes]]) -> None:
    for handle in (7, 9, 11):
        (whole,) = large_responses[handle]
        measurements = Measurements.decode(whole, SIGNED_P384)
        assert len(measurements.blocks) == 8 and len(measurements.signature) == 96


def test_chunk_send_carries_set_certificate_with_the_slot_0_chain(
        large_responses: dict[int, list[bytes]]) -> None:
    requests = reassemble(all_messages(), ChunkSend)
    assert sorted(requests) == [0, 1, 2, 3]
    chain = Certificate.decode(large_responses[1][0]).cert_chain
    for (whole,) in requests.values():
        assert len(whole) == 0x63B and whole[1] == RequestCode.SET_CERTIFICATE
        assert whole[4:] == chain  # the opaque payload: the header, then the chain
    acks = [m for m in all_messages() if isinstance(m, ChunkSendAck)]
    finals = [a for a in acks if a.has_response]
    assert len(acks) == 16 and len(finals) == 4
    assert all(not a.early_error and a.response[1] == ResponseCode.SET_CERTIFICATE_RSP for a in finals)
