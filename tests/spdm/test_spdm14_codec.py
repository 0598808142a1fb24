"""The SPDM 1.4 codec against libspdm's 1.4 capture (vectors/libspdm-doe/spdm14-p384) and by round trip.

Every message of the capture decodes and re-encodes byte-exact: the plain
ones from the pcap records, the secured ones (both sessions, the
encapsulated GET_ENDPOINT_INFO included) from the plaintext the reference
requester logged.  The 1.4 fields decode as spdm_dump named them: ExtFlags,
LARGE_RESP_CAP, the PqcAsym fields and AlgTypes 6/7, the LargeCertChain form
of GET_CERTIFICATE/CERTIFICATE and the opaque data of FINISH/FINISH_RSP.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import pytest

from spdm.errors import DecodeError, LocalProtocolError, SpdmErrorCode
from spdm.messages import (
    REQUEST_TYPES,
    RESPONSE_TYPES,
    Algorithms,
    AlgStruct,
    Capabilities,
    Certificate,
    CodecContext,
    DeliverEncapsulatedResponse,
    EncapsulatedRequest,
    Finish,
    FinishRsp,
    GetCapabilities,
    GetCertificate,
    Message,
    NegotiateAlgorithms,
    PskFinish,
    PskFinishRsp,
)
from spdm.messages.codes import (
    AlgType,
    CapabilityFlags,
    KemAlgo,
    PqcAsymAlgo,
    RequestCode,
    ResponseCode,
    SpdmVersion,
)
from tests.vectors import DOE_HEADER, TYPE_SPDM, LoggedMessage, dump_lines, logged_messages, records

SET = "spdm14-p384"
H, S_RESPONDER, S_REQUESTER, D = 48, 96, 384, 96  # SHA-384, ECDSA P-384, RSASSA-PSS-3072, secp384r1


def logged() -> tuple[LoggedMessage, ...]:
    """Every message of ``requester.log`` in order."""
    return logged_messages(SET)


def _context(request: bytes, *, encapsulated: bool) -> CodecContext:
    """What the receiver of the response to ``request`` knows (HANDSHAKE_IN_THE_CLEAR, MULTI_KEY_CONN)."""
    code = request[1]
    summary = (code == RequestCode.CHALLENGE and request[3] != 0) or (
        code == RequestCode.KEY_EXCHANGE and request[2] != 0)
    signed = (code == RequestCode.GET_MEASUREMENTS and bool(request[2] & 1)) or (
        code == RequestCode.GET_ENDPOINT_INFO and bool(request[4] & 1))
    return CodecContext(hash_size=H, signature_size=S_REQUESTER if encapsulated else S_RESPONDER,
                        measurement_summary=summary, signed=signed, dhe_size=D,
                        handshake_in_the_clear=True, multi_key=True)


@cache
def exchanges() -> tuple[tuple[int, bytes, bytes, CodecContext], ...]:
    """(session, request, response, context) of every exchange, encapsulated ones unwrapped as
    extra exchanges; plain ones from the capture, secured ones from the log (both sessions have
    ID 0xFFFFFFFF, and the log's order is the capture's)."""
    out: list[tuple[int, bytes, bytes, CodecContext]] = []
    plain = [r.data[DOE_HEADER:] for r in records(SET) if r.data[2] == TYPE_SPDM]
    messages = [(0, data) for data in plain]
    secured = [(m.session, m.data) for m in logged() if m.session]
    for group in (messages, secured):
        for (session, request), (_, response) in zip(group[::2], group[1::2], strict=True):
            out.append((session, request, response, _context(request, encapsulated=False)))
            if response[1] == ResponseCode.ENCAPSULATED_REQUEST:
                inner = EncapsulatedRequest.decode(response, padded=True).encapsulated_request
                out.append((session, inner, b"", _context(inner, encapsulated=True)))
            if request[1] == RequestCode.DELIVER_ENCAPSULATED_RESPONSE:
                inner = DeliverEncapsulatedResponse.decode(request, padded=True).encapsulated_response
                session_, encap_request, _, ctx = out[-2]
                out[-2] = (session_, encap_request, inner, ctx)
    return tuple(out)


def _exact(table: Mapping[int, type[Message]], data: bytes, ctx: CodecContext) -> Message:
    message = table[data[1]].decode(data, ctx, padded=True)
    assert not any(data[len(message.raw):]), "only DOE padding may follow"
    assert message.encode(ctx) == message.raw
    return message


def test_the_plain_records_are_the_logged_out_of_session_messages() -> None:
    plain = [r.data[DOE_HEADER:] for r in records(SET) if r.data[2] == TYPE_SPDM]
    logged_plain = [m.data for m in logged() if not m.session]
    assert len(plain) == len(logged_plain) == 30
    for record, message in zip(plain, logged_plain, strict=True):
        assert record[:len(message)] == message


def test_every_message_decodes_and_re_encodes_byte_exact() -> None:
    seen: set[int] = set()
    for _, request, response, ctx in exchanges():
        assert request[0] == SpdmVersion.V14 or request[1] == RequestCode.GET_VERSION
        _exact(REQUEST_TYPES, request, ctx)
        _exact(RESPONSE_TYPES, response, ctx)
        seen |= {request[1], response[1]}
    assert {RequestCode.FINISH, ResponseCode.FINISH_RSP, RequestCode.GET_ENDPOINT_INFO,
            ResponseCode.ENDPOINT_INFO, RequestCode.KEY_UPDATE} <= seen


def _first(code: int) -> tuple[bytes, bytes, CodecContext]:
    return next((q, r, c) for _, q, r, c in exchanges() if q[1] == code)


def test_capabilities_carry_ext_flags_and_large_resp() -> None:
    request, response, _ = _first(RequestCode.GET_CAPABILITIES)
    ours = GetCapabilities.decode(request, padded=True)
    theirs = Capabilities.decode(response, padded=True)
    assert (ours.flags, theirs.flags) == (0x8882F7C6, 0xB99AFBF7)  # as dump.txt prints them
    assert ours.ext_flags == theirs.ext_flags == 0
    assert ours.flags & theirs.flags & CapabilityFlags.LARGE_RESP_CAP
    assert not theirs.flags & CapabilityFlags.SET_KEY_PAIR_RESET_CAP


def test_algorithms_carry_the_pqc_fields() -> None:
    request, response, _ = _first(RequestCode.NEGOTIATE_ALGORITHMS)
    offer = NegotiateAlgorithms.decode(request, padded=True)
    pick = Algorithms.decode(response, padded=True)
    every_mldsa = PqcAsymAlgo.ML_DSA_44 | PqcAsymAlgo.ML_DSA_65 | PqcAsymAlgo.ML_DSA_87
    assert offer.pqc_asym_algo == every_mldsa
    assert offer.alg_supported(AlgType.REQ_PQC_ASYM_ALG) == every_mldsa
    assert offer.alg_supported(AlgType.KEM) == KemAlgo.ML_KEM_512 | KemAlgo.ML_KEM_768 | KemAlgo.ML_KEM_1024
    assert pick.pqc_asym_sel == 0 and pick.base_asym_sel == 0x80
    assert [a.alg_type for a in pick.alg_structs] == [2, 3, 4, 5, 6, 7]
    assert pick.alg_supported(AlgType.REQ_PQC_ASYM_ALG) == pick.alg_supported(AlgType.KEM) == 0
    line = next(x for x in dump_lines(SET) if "SPDM_ALGORITHMS" in x)
    assert "PqcAsym=0x00" in line and "KEM=0x0000" in line


def test_get_certificate_uses_the_large_form() -> None:
    gets = [(q, r, c) for _, q, r, c in exchanges() if q[1] == RequestCode.GET_CERTIFICATE]
    assert len(gets) == 3
    for request, response, ctx in gets:
        get = GetCertificate.decode(request, padded=True)
        cert = Certificate.decode(response, ctx, padded=True)
        assert get.large_cert_chain and cert.large_cert_chain
        assert (get.offset, get.length) == (0, 0x27FF0)
        assert cert.remainder_length == 0 and cert.slot_id == get.slot_id
        # the 1.4 chain header is one 32-bit Length
        assert int.from_bytes(cert.cert_chain[:4], "little") == len(cert.cert_chain)
    assert [GetCertificate.decode(q, padded=True).slot_id for q, _, _ in gets] == [0, 4, 0]


def test_finish_carries_empty_opaque_data() -> None:
    request, response, ctx = _first(RequestCode.FINISH)
    finish = Finish.decode(request, ctx, padded=True)
    finish_rsp = FinishRsp.decode(response, ctx, padded=True)
    assert request[4:6] == response[4:6] == b"\x00\x00"
    assert finish.opaque_data == finish_rsp.opaque_data == b""
    assert len(finish.requester_verify_data) == len(finish_rsp.responder_verify_data) == H


# --- round trips ---------------------------------------------------------------------------

CTX = CodecContext(hash_size=H, handshake_in_the_clear=True)


@pytest.mark.parametrize("message", [
    GetCapabilities(spdm_version=0x14, ct_exponent=12, ext_flags=0x1234,
                    flags=int(CapabilityFlags.LARGE_RESP_CAP | CapabilityFlags.CERT_CAP),
                    data_transfer_size=0x1200, max_spdm_msg_size=0x10000),
    Capabilities(spdm_version=0x14, ext_flags=1, flags=int(CapabilityFlags.SET_KEY_PAIR_RESET_CAP),
                 data_transfer_size=0x1200, max_spdm_msg_size=0x1200),
    NegotiateAlgorithms(spdm_version=0x14, base_hash_algo=2, pqc_asym_algo=2,
                        alg_structs=(AlgStruct(6, 2), AlgStruct(7, 2))),
    Algorithms(spdm_version=0x14, base_hash_sel=2, pqc_asym_sel=4, alg_structs=(AlgStruct(7, 4),)),
    GetCertificate(spdm_version=0x14, slot_id=3, offset=0x12345, length=0x20000, large_cert_chain=True),
    GetCertificate(spdm_version=0x14, slot_id=7, offset=0x10, length=0x400),
    Certificate(spdm_version=0x14, slot_id=1, remainder_length=0x10000, cert_chain=b"\x01" * 5,
                large_cert_chain=True),
    Finish(spdm_version=0x14, opaque_data=b"\x01\x02", requester_verify_data=bytes(H)),
    FinishRsp(spdm_version=0x14, opaque_data=b"\x09", responder_verify_data=bytes(H)),
    PskFinish(spdm_version=0x14, opaque_data=b"\x07" * 3, requester_verify_data=bytes(H)),
    PskFinishRsp(spdm_version=0x14, opaque_data=b"\x05"),
], ids=lambda m: type(m).__name__)
def test_round_trip(message: Message) -> None:
    assert type(message).decode(message.encode(CTX), CTX) == message


def test_the_14_fields_are_reserved_before_14() -> None:
    """Below 1.4 the new fields take no part: reserved on decode, absent from the encoding."""
    caps = bytes.fromhex("13e10000" "00000500" "02000000" "00120000" "00120000")
    assert GetCapabilities.decode(caps).ext_flags == 0
    get = GetCertificate.decode(bytes.fromhex("13828000" "10002000"))
    assert (get.large_cert_chain, get.slot_id, get.offset, get.length) == (False, 0, 0x10, 0x20)
    assert len(Finish(spdm_version=0x13, requester_verify_data=bytes(H)).encode(CTX)) == 4 + H
    assert PskFinishRsp(spdm_version=0x13).encode() == bytes.fromhex("13670000")
    with pytest.raises(LocalProtocolError):
        Finish(spdm_version=0x13, opaque_data=b"\x01", requester_verify_data=bytes(H)).encode(CTX)


def test_the_small_form_refuses_32_bit_values() -> None:
    with pytest.raises(LocalProtocolError):
        GetCertificate(spdm_version=0x14, offset=0x10000, length=0x400).encode()
    with pytest.raises(LocalProtocolError):
        Certificate(spdm_version=0x14, remainder_length=0x10000, cert_chain=b"x").encode()


def test_a_truncated_large_certificate_is_refused() -> None:
    good = Certificate(spdm_version=0x14, cert_chain=b"abc", large_cert_chain=True).encode()
    with pytest.raises(DecodeError):
        Certificate.decode(good[:-1])


def test_the_14_error_codes_have_names() -> None:
    assert SpdmErrorCode(0x12).name == "DATA_TOO_LARGE"
    assert SpdmErrorCode(0x46).name == "REQUEST_SESSION_TERMINATED"
    assert SpdmErrorCode(0x47).name == "INVALID_STATE"
