"""GET_CSR/CSR/SET_CERTIFICATE/SET_CERTIFICATE_RSP codec: round trips and the reference capture.

Every provisioning record of ``spdm13-p384-csr-setcert`` (libspdm 1e16c60f as
requester and responder) decodes to the fields spdm_dump names and re-encodes
to exactly its bytes: the plain records from the pcap, the secured
SET_CERTIFICATE exchanges from the plaintext the reference requester logged
for them (the record layer of those is the session tests' business).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from spdm.crypto import load_csr, parse_spdm_cert_chain
from spdm.errors import DecodeError, LocalProtocolError
from spdm.messages import REQUEST_TYPES, RESPONSE_TYPES, Message
from spdm.messages.codes import CERT_MODEL_DEVICE, BaseHashAlgo, RequestCode, ResponseCode
from spdm.messages.provision import (
    Csr,
    GetCsr,
    SetCertificate,
    SetCertificateRsp,
    csr_request_attributes,
    set_certificate_attributes,
)
from spdm.transport.doe import decode_data_object, encode_data_object
from tests.vectors import DOE_HEADER, ROOT, TYPE_SPDM, dump_lines, records

SET = "spdm13-p384-csr-setcert"
CODES = {RequestCode.GET_CSR, ResponseCode.CSR, RequestCode.SET_CERTIFICATE,
         ResponseCode.SET_CERTIFICATE_RSP}


def _chain(body: bytes) -> bytes:
    return (len(body) + 2).to_bytes(2, "little") + body


ROUND_TRIPS: list[Message] = [
    GetCsr(0x12),
    GetCsr(0x13, key_pair_id=1, attributes=csr_request_attributes(CERT_MODEL_DEVICE, 5),
           requester_info=b"\x30\x03\x02\x01\x00", opaque_data=b"\x01\x00\x00\x00"),
    GetCsr(0x13, attributes=csr_request_attributes(overwrite=True)),
    Csr(0x12, csr=b"\x30\x82" + bytes(300)),
    SetCertificate(0x12, attributes=3, cert_chain=_chain(bytes(50))),
    SetCertificate(0x13, attributes=set_certificate_attributes(4, CERT_MODEL_DEVICE), key_pair_id=2,
                   cert_chain=_chain(b"\x00\x00" + bytes(48) + b"\x30\x00")),
    SetCertificate(0x13, attributes=set_certificate_attributes(2, erase=True)),
    SetCertificateRsp(0x13, slot_id=7),
]


@pytest.mark.parametrize("message", ROUND_TRIPS, ids=lambda m: type(m).__name__)
def test_round_trip(message: Message) -> None:
    data = message.encode()
    decoded = type(message).decode(data)
    assert decoded == message and decoded.raw == data
    assert decoded.encode() == data


def test_attribute_fields() -> None:
    request = GetCsr(0x13, attributes=csr_request_attributes(CERT_MODEL_DEVICE, 6, overwrite=True))
    assert (request.cert_model, request.csr_tracking_tag, request.overwrite) == (1, 6, True)
    setcert = SetCertificate(0x13, attributes=set_certificate_attributes(5, 2, erase=True))
    assert (setcert.slot_id, setcert.cert_model, setcert.erase) == (5, 2, True)
    with pytest.raises(ValueError):
        csr_request_attributes(tracking_tag=8)
    with pytest.raises(ValueError):
        set_certificate_attributes(16)


def test_erase_carries_no_chain_and_a_chain_needs_its_own_length() -> None:
    with pytest.raises(LocalProtocolError):
        SetCertificate(0x13, attributes=set_certificate_attributes(1, erase=True),
                       cert_chain=_chain(b"")).encode()
    with pytest.raises(LocalProtocolError):
        SetCertificate(0x13, attributes=1).encode()
    with pytest.raises(LocalProtocolError):
        SetCertificate(0x13, attributes=1, cert_chain=b"\x09\x00abc").encode()
    # Erase set: the bytes after the header are not a chain (a trailing byte is refused)
    with pytest.raises(DecodeError):
        SetCertificate.decode(bytes.fromhex("13ee8100") + b"\x00")


@pytest.mark.parametrize("data", [
    bytes.fromhex("13ee0000 0100"),  # chain Length 1: shorter than the Length field itself
    bytes.fromhex("13ee0000 0800 0000"),  # chain Length 8, 4 bytes present
    bytes.fromhex("13ed0000 0000 0104") + bytes(4),  # OpaqueDataLength 1025
    bytes.fromhex("136d0000 0500 0000 3000"),  # CSRLength 5, 2 bytes present
])
def test_malformed_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        (REQUEST_TYPES.get(data[1]) or RESPONSE_TYPES[data[1]]).decode(data)


def test_registered_in_the_message_tables() -> None:
    assert REQUEST_TYPES[RequestCode.GET_CSR] is GetCsr
    assert REQUEST_TYPES[RequestCode.SET_CERTIFICATE] is SetCertificate
    assert RESPONSE_TYPES[ResponseCode.CSR] is Csr
    assert RESPONSE_TYPES[ResponseCode.SET_CERTIFICATE_RSP] is SetCertificateRsp


# --- the reference capture ----------------------------------------------------------------------

_LOGGED = re.compile(r"^libspdm_(?:send|receive)_spdm_(?:request|response)\[([0-9a-f]+)\] msg "
                     r"\w+\(0x[0-9a-f]+\), size \(0x([0-9a-f]+)\): $")


def logged_messages(log: str) -> Iterator[tuple[int, bytes]]:
    """(session ID or 0, plaintext) of every message a libspdm debug log dumps in hex."""
    lines = (ROOT / SET / log).read_text().splitlines()
    for i, line in enumerate(lines):
        if (m := _LOGGED.match(line)) is None:
            continue
        size, j = int(m[2], 16), i + 1
        hexed: list[str] = []
        while len("".join(hexed)) < size * 2:
            hexed.append(lines[j].split(":", 1)[1].replace(" ", ""))
            j += 1
        yield int(m[1], 16), bytes.fromhex("".join(hexed))


def _decode(data: bytes, *, padded: bool) -> Message:
    types = REQUEST_TYPES if data[1] & 0x80 else RESPONSE_TYPES
    return types[data[1]].decode(data, padded=padded)


def plain_records() -> list[tuple[int, bytes]]:
    """(spdm_dump record number, SPDM payload) of every plain provisioning record."""
    return [(r.index + 1, r.data[DOE_HEADER:]) for r in records(SET)
            if r.data[2] == TYPE_SPDM and r.data[DOE_HEADER + 1] in CODES]


def test_every_doe_object_of_the_capture_reencodes() -> None:
    kinds = set()
    for record in records(SET):
        obj = decode_data_object(record.data)
        kinds.add((obj.vendor_id, obj.object_type))
        assert encode_data_object(obj) == record.data
    assert len(records(SET)) == 48 and kinds == {(1, 0), (1, 1), (1, 2)}


def test_every_plain_provisioning_record_round_trips_byte_exact() -> None:
    found = plain_records()
    assert [n for n, _ in found] == [29, 30, 31, 32, 41, 42, 43, 44]
    dumped = {int(line.split()[0]): line for line in dump_lines(SET) if line[:1].isdigit()}
    for number, payload in found:
        message = _decode(payload, padded=True)
        assert message.encode() == message.raw == payload[:len(message.raw)]
        line = dumped[number]
        if isinstance(message, GetCsr):
            assert "SPDM_GET_CSR (KeyPairID=0x01, Attr=0x01(DEVICE, Tag=0x00, Overwrite=00))" in line
            assert (message.key_pair_id, message.cert_model, message.csr_tracking_tag) == (1, 1, 0)
            assert not message.overwrite and message.requester_info == message.opaque_data == b""
        elif isinstance(message, Csr):
            assert "SPDM_CSR ()" in line
            assert message.csr[:2] == b"\x30\x82"  # one DER SEQUENCE, exactly CSRLength long
            assert len(message.csr) == 4 + int.from_bytes(message.csr[2:4], "big")
            load_csr(message.csr).verify()  # a real PKCS#10 request, signed by the device's key
        elif isinstance(message, SetCertificate):
            assert "Attr=0x10(SlotID=0x00, DEVICE, Erase=00), KeyPairID=0x01" in line
            assert (message.slot_id, message.cert_model, message.erase) == (0, CERT_MODEL_DEVICE, False)
            assert message.cert_chain is not None and len(message.cert_chain) == 0x637
            chain = parse_spdm_cert_chain(message.cert_chain, BaseHashAlgo.SHA_384)  # RootHash checked
            assert chain.root.subject == "CN=DMTF libspdm ECP384 CA"
        else:
            assert isinstance(message, SetCertificateRsp) and message.slot_id == 0
            assert "SPDM_SET_CERTIFICATE_RSP (SlotID=0x00)" in line


def test_the_logged_plaintexts_match_the_plain_records_and_the_secured_ones_round_trip() -> None:
    logged = [(sid, data) for sid, data in logged_messages("requester.log") if data[1] in CODES]
    plain = [data for sid, data in logged if sid == 0]
    secured = [data for sid, data in logged if sid != 0]
    assert [p[:len(d)] for (_, p), d in zip(plain_records(), plain, strict=True)] == plain
    assert len(secured) == 4  # SET_CERTIFICATE slot 4 and its answer, in each of the two sessions
    for data in secured:
        message = _decode(data, padded=False)
        assert message.encode() == data
        assert isinstance(message, SetCertificate | SetCertificateRsp) and message.slot_id == 4
        if isinstance(message, SetCertificate):
            assert (message.cert_model, message.key_pair_id) == (CERT_MODEL_DEVICE, 1)
