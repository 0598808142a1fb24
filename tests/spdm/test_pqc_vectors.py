"""Every record of the post-quantum capture (spdm14-mldsa65-mlkem768) decodes and re-encodes byte-exact.

Plain records come from the pcap, the large messages the reference sent in chunks (both CERTIFICATEs,
both KEY_EXCHANGE_RSPs) are reassembled from their CHUNK_RESPONSEs and decoded as the response to the
request that asked for them, and the secured messages of both ML-KEM sessions come from the plaintext
the reference requester logged.  The ML-DSA-65 signature (3309 bytes), the ML-KEM-768 encapsulation key
(1184) in KEY_EXCHANGE and ciphertext (1088) in KEY_EXCHANGE_RSP come out where spdm_dump put them.
"""

from __future__ import annotations

from collections.abc import Mapping

from spdm.messages import (
    REQUEST_TYPES,
    RESPONSE_TYPES,
    Algorithms,
    ChunkResponse,
    CodecContext,
    ErrorResponse,
    KeyExchange,
    KeyExchangeRsp,
    Message,
)
from spdm.messages.codes import (
    AlgType,
    BaseHashAlgo,
    KemAlgo,
    PqcAsymAlgo,
    RequestCode,
    ResponseCode,
    SpdmVersion,
)
from spdm.negotiation import Negotiated
from tests.vectors import DOE_HEADER, TYPE_SPDM, logged_messages, records

SET = "spdm14-mldsa65-mlkem768"
H, S, EK, CT = 48, 3309, 1184, 1088

def secured_messages() -> tuple[bytes, ...]:
    """The in-session messages of requester.log, in order (requests and responses alternating)."""
    return tuple(m.data for m in logged_messages(SET) if m.session)


def context(request: bytes) -> CodecContext:
    """What the receiver of the response to ``request`` knows: ML-DSA-65, ML-KEM-768, SHA-384,
    HANDSHAKE_IN_THE_CLEAR and MULTI_KEY_CONN negotiated (the ALGORITHMS and CAPABILITIES records)."""
    code = request[1]
    summary = (code == RequestCode.CHALLENGE and request[3] != 0) or (
        code == RequestCode.KEY_EXCHANGE and request[2] != 0)
    signed = code == RequestCode.GET_MEASUREMENTS and bool(request[2] & 1)
    return CodecContext(hash_size=H, signature_size=S, measurement_summary=summary, signed=signed,
                        dhe_size=EK, dhe_rsp_size=CT, handshake_in_the_clear=True, multi_key=True)


def exact(table: Mapping[int, type[Message]], data: bytes, ctx: CodecContext) -> Message:
    message = table[data[1]].decode(data, ctx, padded=True)
    assert not any(data[len(message.raw):]), "only DOE padding may follow"
    assert message.encode(ctx) == message.raw
    return message


def plain() -> list[bytes]:
    return [r.data[DOE_HEADER:] for r in records(SET) if r.data[2] == TYPE_SPDM]


def test_every_plain_record_and_every_reassembled_message() -> None:
    messages = plain()
    assert len(messages) == 62
    pending: tuple[bytes, bytearray] | None = None  # the request answered LargeResponse, its chunks
    reassembled: list[Message] = []
    for request, response in zip(messages[::2], messages[1::2], strict=True):
        assert request[0] == SpdmVersion.V14 or request[1] == RequestCode.GET_VERSION
        ctx = context(request)
        exact(REQUEST_TYPES, request, ctx)
        answer = exact(RESPONSE_TYPES, response, ctx)
        if isinstance(answer, ErrorResponse):
            pending = (request, bytearray())
        elif isinstance(answer, ChunkResponse):
            assert pending is not None
            pending[1].extend(answer.chunk)
            if answer.last:
                original, large = pending
                reassembled.append(exact(RESPONSE_TYPES, bytes(large), context(original)))
                pending = None
    codes = [m.CODE for m in reassembled]
    assert codes == [ResponseCode.CERTIFICATE] * 3 + [ResponseCode.KEY_EXCHANGE_RSP] * 2
    for message in reassembled[3:]:
        assert isinstance(message, KeyExchangeRsp)
        assert (len(message.exchange_data), len(message.signature)) == (CT, S)


def test_key_exchange_carries_the_encapsulation_key() -> None:
    requests = [m for m in plain() if m[1] == RequestCode.KEY_EXCHANGE]
    assert len(requests) == 2
    for data in requests:
        message = exact(REQUEST_TYPES, data, context(data))
        assert isinstance(message, KeyExchange) and len(message.exchange_data) == EK


def test_algorithms_select_mldsa65_and_mlkem768() -> None:
    data = plain()[5]
    algorithms = exact(RESPONSE_TYPES, data, context(plain()[4]))
    assert isinstance(algorithms, Algorithms)
    assert (algorithms.base_asym_sel, algorithms.pqc_asym_sel) == (0, PqcAsymAlgo.ML_DSA_65)
    assert algorithms.alg_supported(AlgType.KEM) == KemAlgo.ML_KEM_768
    assert algorithms.alg_supported(AlgType.DHE) == 0
    negotiated = Negotiated(version=SpdmVersion.V14, hash_alg=BaseHashAlgo(algorithms.base_hash_sel),
                            pqc_asym_alg=PqcAsymAlgo.ML_DSA_65, kem_alg=KemAlgo.ML_KEM_768)
    ctx = negotiated.codec()
    assert (ctx.signature_size, ctx.dhe_size, ctx.dhe_rsp_size) == (S, EK, CT)


def test_every_secured_message() -> None:
    messages = secured_messages()
    assert len(messages) == 16
    for request, response in zip(messages[::2], messages[1::2], strict=True):
        ctx = context(request)
        exact(REQUEST_TYPES, request, ctx)
        exact(RESPONSE_TYPES, response, ctx)
