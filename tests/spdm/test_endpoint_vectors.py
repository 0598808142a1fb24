"""The SPDM 1.3 endpoint messages against libspdm's capture (R11).

Set ``spdm13-p384-endpoint-mel-keypair`` (vectors/README.md): GET_ENDPOINT_INFO
(also encapsulated, the responder asking the requester), GET_MEASUREMENT_EXTENSION_LOG,
GET/SET_KEY_PAIR_INFO and the 1.3 multi-key DIGESTS, out of session and in two
KEY_EXCHANGE sessions.  Every such message decodes and re-encodes to exactly
its bytes: the plain ones from the capture's DOE records, the secured ones
from the plaintext the reference requester logged (``requester.log``; the
out-of-session ones are checked equal to the records, so the log is the same
bytes).  Each responder ENDPOINT_INFO signature verifies with
:func:`spdm.crypto.verify` over IL1 = A ‖ GET_ENDPOINT_INFO ‖ ENDPOINT_INFO
without its signature, with the leaf key of the slot it names, and the IL1
hash equals the one libspdm logged.
"""

from __future__ import annotations

from functools import cache

import pytest

from spdm.crypto import digest, verify
from spdm.crypto.certs import parse_der_certificates
from spdm.messages import (
    REQUEST_TYPES,
    RESPONSE_TYPES,
    Certificate,
    CodecContext,
    DeliverEncapsulatedResponse,
    Digests,
    EncapsulatedRequest,
    EndpointInfo,
    GetEndpointInfo,
    GetKeyPairInfo,
    KeyPairInfo,
    MeasurementExtensionLog,
    Message,
    SetKeyPairInfo,
)
from spdm.messages.codes import (
    BaseAsymAlgo,
    BaseHashAlgo,
    KeyPairOperation,
    KeyUsage,
    RequestCode,
    ResponseCode,
    SpdmVersion,
)
from spdm.messages.endpoint import ClassIdentifier, DeviceClassIdentifier
from spdm.messages.mel import Mel
from tests.vectors import DOE_HEADER, TYPE_SPDM, LoggedMessage, dump_lines, logged_messages, records

SET = "spdm13-p384-endpoint-mel-keypair"
H = 48
S_RESPONDER = 96  # ECDSA P-384
S_REQUESTER = 384  # RSAPSS-3072 (ReqBaseAsymAlg), the encapsulated ENDPOINT_INFO
CONTEXT = "responder-endpoint_info signing"
NEW_CODES = {
    RequestCode.GET_ENDPOINT_INFO, RequestCode.GET_MEASUREMENT_EXTENSION_LOG,
    RequestCode.GET_KEY_PAIR_INFO, RequestCode.SET_KEY_PAIR_INFO,
    ResponseCode.ENDPOINT_INFO, ResponseCode.MEASUREMENT_EXTENSION_LOG,
    ResponseCode.KEY_PAIR_INFO, ResponseCode.SET_KEY_PAIR_INFO_ACK, ResponseCode.DIGESTS,
}


def logged() -> tuple[LoggedMessage, ...]:
    """Every message of ``requester.log`` in order."""
    return logged_messages(SET)


def _pairs(messages: list[tuple[bool, bytes]]) -> list[tuple[bytes, bytes]]:
    """(request, response) pairs, the encapsulated pairs unwrapped as extra pairs."""
    out = []
    for (sent, request), (received, response) in zip(messages[::2], messages[1::2], strict=True):
        assert sent and not received
        out.append((request, response))
        if response[1] == ResponseCode.ENCAPSULATED_REQUEST:
            inner = EncapsulatedRequest.decode(response, padded=True).encapsulated_request
            out.append((inner, b""))
        if request[1] == RequestCode.DELIVER_ENCAPSULATED_RESPONSE:
            inner = DeliverEncapsulatedResponse.decode(request, padded=True).encapsulated_response
            out[-2] = (out[-2][0], inner)
    return out


def _context(request: bytes, response: bytes, *, encapsulated: bool) -> CodecContext:
    """What the receiver of ``response`` knows: sizes, signature presence, multi-key."""
    signed = request[1] == RequestCode.GET_ENDPOINT_INFO and bool(request[4] & 1)
    return CodecContext(hash_size=H, signature_size=S_REQUESTER if encapsulated else S_RESPONDER,
                        signed=signed, multi_key=True)


@cache
def exchanges() -> tuple[tuple[int, bytes, bytes, CodecContext], ...]:
    """(session, request, response, context) of every exchange, encapsulated ones included,
    plain ones from the capture, secured ones from the log."""
    plain = [(r.data[2] == TYPE_SPDM, r.data[DOE_HEADER:]) for r in records(SET)]
    plain_messages = [(i % 2 == 0, data) for i, (spdm, data) in enumerate(plain) if spdm]
    by_session: dict[int, list[tuple[bool, bytes]]] = {}
    for entry in logged():
        if entry.session:
            by_session.setdefault(entry.session, []).append((entry.sent, entry.data))
    groups = [(0, plain_messages)]
    # the two sessions both have ID 0xFFFFFFFF: split the logged secured messages at END_SESSION_ACK
    secured = by_session.pop(0xFFFFFFFF)
    ends = [i for i, (_, data) in enumerate(secured) if data[1] == ResponseCode.END_SESSION_ACK]
    start = 0
    for end in ends:
        groups.append((0xFFFFFFFF, secured[start:end + 1]))
        start = end + 1
    assert start == len(secured) and not by_session
    out = []
    for session, messages in groups:
        pairs = _pairs(messages)
        for index, (request, response) in enumerate(pairs):
            encapsulated = index > 0 and pairs[index - 1][0][1] == RequestCode.GET_ENCAPSULATED_REQUEST
            out.append((session, request, response, _context(request, response, encapsulated=encapsulated)))
    return tuple(out)


def _strip(data: bytes, message: Message) -> bytes:
    assert not any(data[len(message.raw):]), "only DOE padding may follow"
    return message.raw


def test_plain_records_equal_the_logged_out_of_session_messages() -> None:
    plain = [r.data[DOE_HEADER:] for r in records(SET) if r.data[2] == TYPE_SPDM]
    logs = [e.data for e in logged() if not e.session]
    assert len(plain) == len(logs) == 40
    for record, log in zip(plain, logs, strict=True):
        assert record.rstrip(b"\0") == log.rstrip(b"\0")


def test_every_new_message_decodes_and_re_encodes_byte_exact() -> None:
    seen: dict[int, int] = {}
    for _, request, response, ctx in exchanges():
        for data, table in ((request, REQUEST_TYPES), (response, RESPONSE_TYPES)):
            if not data or data[1] not in NEW_CODES:
                continue
            message = table[data[1]].decode(data, ctx, padded=True)
            assert message.encode(ctx) == _strip(data, message)
            seen[data[1]] = seen.get(data[1], 0) + 1
    assert seen == {
        RequestCode.GET_ENDPOINT_INFO: 6, ResponseCode.ENDPOINT_INFO: 6,
        RequestCode.GET_MEASUREMENT_EXTENSION_LOG: 3, ResponseCode.MEASUREMENT_EXTENSION_LOG: 3,
        RequestCode.GET_KEY_PAIR_INFO: 3, ResponseCode.KEY_PAIR_INFO: 3,
        RequestCode.SET_KEY_PAIR_INFO: 6, ResponseCode.SET_KEY_PAIR_INFO_ACK: 6,
        ResponseCode.DIGESTS: 3,
    }


def _find(code: int) -> list[tuple[int, Message, Message]]:
    out = []
    for session, request, response, ctx in exchanges():
        if request[1] == code:
            out.append((session, REQUEST_TYPES[code].decode(request, ctx, padded=True),
                        RESPONSE_TYPES[response[1]].decode(response, ctx, padded=True)))
    return out


def test_the_decoded_fields_are_what_spdm_dump_shows() -> None:
    dump = "\n".join(dump_lines(SET))
    digests = [r for _, _, r in _find(RequestCode.GET_DIGESTS)]
    for d in digests:
        assert isinstance(d, Digests)
        assert (d.supported_slot_mask, d.provisioned_slot_mask) == (0x13, 0x13)
        assert d.key_pair_ids == (5, 5, 0x11) and d.certificate_infos == (1, 1, 1)
        assert d.key_usage_masks == (0x000F,) * 3
    dumped = "SPDM_DIGESTS (SupportedSlotMask=0x13, ProvisionedSlotMask=0x13) (KeyPairId=0x05,0x05,0x11"
    assert dump.count(dumped) == 3
    key_pairs = _find(RequestCode.GET_KEY_PAIR_INFO)
    for index, (_, request, info) in enumerate(key_pairs):
        assert isinstance(request, GetKeyPairInfo) and request.key_pair_id == 1
        assert isinstance(info, KeyPairInfo)
        assert (info.total_key_pairs, info.key_pair_id, info.capabilities) == (0x18, 1, 0x3F)
        assert info.key_usage_capabilities == KeyUsage.KEY_EXCHANGE
        assert info.asym_algo_capabilities == 0x1FF
        # erased by the SET_KEY_PAIR_INFO that follows the first one
        erased = index > 0
        assert info.current_key_usage == (0 if erased else 1)
        assert info.current_asym_algo == (0 if erased else 1)
        assert info.assoc_cert_slot_mask == (0 if erased else 3)
        assert info.public_key_info == bytes.fromhex("300d06092a864886f70d0101010500")
    operations = [r.operation for _, r, _ in _find(RequestCode.SET_KEY_PAIR_INFO)
                  if isinstance(r, SetKeyPairInfo)]
    assert operations == [KeyPairOperation.CHANGE, KeyPairOperation.ERASE] * 3
    change = next(r for _, r, _ in _find(RequestCode.SET_KEY_PAIR_INFO))
    assert isinstance(change, SetKeyPairInfo)
    desired = change.desired_key_usage, change.desired_asym_algo, change.desired_assoc_cert_slot_mask
    assert desired == (0, 0, 0)


def test_the_mel_decodes_as_the_dmtf_format() -> None:
    portions = _find(RequestCode.GET_MEASUREMENT_EXTENSION_LOG)
    assert len(portions) == 3
    for _, request, response in portions:
        assert isinstance(response, MeasurementExtensionLog)
        assert (request.offset, request.length) == (0, 0x27FF4)  # type: ignore[attr-defined]
        assert (len(response.portion), response.remainder_length) == (0x3F, 0)
        mel = Mel.decode(response.portion)
        assert mel.encode() == response.portion
        assert [(e.mel_index, e.measurement_index, e.value_type, e.value) for e in mel.entries] == [
            (1, 0x11, 0x89, b"ROM"), (2, 0x11, 0x89, b"Boot FW"), (3, 0x11, 0x86, bytes.fromhex("0a030001")),
        ]


def _vca() -> bytes:
    """A: the exact VCA messages (records 7-12 of dump.txt)."""
    a = b""
    for number in range(7, 13):
        payload = records(SET)[number - 1].data[DOE_HEADER:]
        table = REQUEST_TYPES if number % 2 else RESPONSE_TYPES
        a += table[payload[1]].decode(payload, padded=True).raw
    return a


def _leaf_key_of_slot(slot: int) -> bytes:
    for _, request, response, ctx in exchanges():
        if request[1] == RequestCode.GET_CERTIFICATE and request[2] == slot:
            chain = Certificate.decode(response, ctx, padded=True).cert_chain
            return parse_der_certificates(chain[4 + H:])[-1].der
    raise AssertionError(f"no certificate for slot {slot}")


LOGGED_IL1_HASHES = (
    "eec638a1cbf330aaa47972d0e72a0930f71a87fcdf694edea3cfa84ee01c5c9935edf664b9a989d315ca4baa68024ce4",
    "4b2ed9253f745b834fdf9ef5420e09db2a1041ec4542faec14575984b62e488b5ebc6726ccbd72e3f6adce2032f67e58",
)


@pytest.mark.parametrize("tamper", [False, True])
def test_every_responder_endpoint_info_signature_verifies_over_il1(tamper: bool) -> None:
    from spdm.crypto.certs import Certificate as X509

    a = _vca()
    verified = []
    for session, request, response, ctx in exchanges():
        if request[1] != RequestCode.GET_ENDPOINT_INFO or ctx.signature_size != S_RESPONDER:
            continue
        get = GetEndpointInfo.decode(request, ctx, padded=True)
        info = EndpointInfo.decode(response, ctx, padded=True)
        assert get.signature_requested and info.slot_id == get.slot_id
        assert DeviceClassIdentifier.decode(info.ep_info).identifiers == (
            ClassIdentifier(0, b"", (bytes.fromhex("123456"),)),)
        il1 = a + get.raw + info.signed_part
        if tamper:
            il1 = il1[:-1] + bytes([il1[-1] ^ 1])
        key = X509(_leaf_key_of_slot(info.slot_id)).public_key()
        args = (key, BaseAsymAlgo.ECDSA_P384, BaseHashAlgo.SHA_384, SpdmVersion.V13, CONTEXT, il1,
                info.signature)
        if tamper:
            with pytest.raises(Exception, match="does not verify"):
                verify(*args)
        else:
            verify(*args)
        verified.append((session, info.slot_id, digest(BaseHashAlgo.SHA_384, il1).hex()))
    assert [(s, slot) for s, slot, _ in verified] == [(0, 0), (0xFFFFFFFF, 0), (0xFFFFFFFF, 4)]
    if not tamper:
        assert verified[0][2] == LOGGED_IL1_HASHES[0] and verified[1][2] == LOGGED_IL1_HASHES[1]


def test_the_encapsulated_endpoint_info_carries_the_requesters_signature() -> None:
    encapsulated = [(request, response, ctx) for _, request, response, ctx in exchanges()
                    if request[1] == RequestCode.GET_ENDPOINT_INFO and ctx.signature_size == S_REQUESTER]
    assert len(encapsulated) == 3
    for request, response, ctx in encapsulated:
        info = EndpointInfo.decode(response, ctx)
        assert len(info.signature) == S_REQUESTER and info.nonce is not None
        assert GetEndpointInfo.decode(request, ctx).slot_id == 0
