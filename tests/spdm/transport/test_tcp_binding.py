"""The DSP0287 binding codec on the reference's TCP capture (``spdm12-p384-tcp``) and on hand-made bytes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from spdm.capture import read_capture, write_capture
from spdm.errors import DecodeError, LocalProtocolError
from spdm.secured import open_record, seal
from spdm.transport.binding import BoundMessage
from spdm.transport.tcp_binding import (
    LINKTYPE_TCP_BINDING,
    TCP_CAPTURE,
    TCP_RECORDS,
    TcpBindingHeader,
    TcpMessageType,
    decode_message,
    encode_message,
    frame_message,
    unframe_message,
)
from tests.vectors import binding_records, follow_binding

SET = "spdm12-p384-tcp"


def test_every_record_decodes_and_re_encodes_byte_exact() -> None:
    records = binding_records(SET)
    assert len(records) == 50
    kinds = []
    for record in records:
        header = TcpBindingHeader.parse(record.data)
        assert header.payload_length == len(record.data) - 2
        assert TcpBindingHeader.build(header) + record.data[4:] == record.data
        message = TCP_CAPTURE.decode(record.data)
        assert TCP_CAPTURE.encode(message) == record.data
        kinds.append(message.secured)
    assert kinds.count(True) == 20 and kinds[26:36] == [True] * 10


def test_the_capture_round_trips_through_the_pcap_writer() -> None:
    records = [r.data for r in binding_records(SET)]
    pcap = write_capture(records, link_type=LINKTYPE_TCP_BINDING)
    assert [r.data for r in read_capture(pcap, link_type=LINKTYPE_TCP_BINDING)] == records
    with pytest.raises(DecodeError, match="link type 147"):
        read_capture(pcap)


def test_first_records_as_the_readme_shows_them() -> None:
    records = binding_records(SET)
    assert records[0].data.hex() == "0600010510840000"
    assert TCP_CAPTURE.decode(records[0].data) == BoundMessage(False, bytes.fromhex("10840000"))
    assert records[26].data[:10].hex() == "22000106ffffffff1a00"


def test_every_secured_record_opens_and_re_seals_byte_exact_with_tcp_parameters() -> None:
    followed = follow_binding(SET)
    assert len(followed.opened) == 20
    for opened in followed.opened:
        assert opened.state.record_format is TCP_RECORDS
        # No sequence number on the wire: Length follows the SessionID directly.
        assert int.from_bytes(opened.record[4:6], "little") == len(opened.record) - 6
        assert open_record(replace(opened.state), opened.record) == opened.message
        assert seal(replace(opened.state), 0xFFFFFFFF, opened.message) == opened.record
    # No random padding: Length = AppDataLength(2) + binding header(4) + message + MAC(16).
    assert all(len(o.record) == 6 + 2 + 4 + len(o.message) + 16 for o in followed.opened)


def test_the_application_data_carries_its_own_binding_header() -> None:
    assert frame_message(b"\x12\xe8\x00\x00") == bytes.fromhex("06000105") + b"\x12\xe8\x00\x00"
    assert unframe_message(bytes.fromhex("0600010512e80000")) == bytes.fromhex("12e80000")
    with pytest.raises(DecodeError, match="type 0x06"):
        unframe_message(bytes.fromhex("0600010612e80000"))
    with pytest.raises(DecodeError, match="PayloadLength"):
        unframe_message(bytes.fromhex("0700010512e80000"))


@pytest.mark.parametrize(("data", "match"), [
    (b"\x02\x00\x01", "DSP0287 message of 3 bytes"),
    (bytes.fromhex("02000205"), "DSP0287 message of 4 bytes"),  # binding version 2
    (bytes.fromhex("03000105"), "PayloadLength 3"),
    (bytes.fromhex("030001bf00"), None),
])
def test_malformed_messages_are_refused(data: bytes, match: str | None) -> None:
    if match is None:  # RoleInquiry decodes as a binding message, but carries no SPDM
        assert decode_message(data) == (TcpMessageType.ROLE_INQUIRY, b"\x00")
        with pytest.raises(DecodeError, match="0xbf carries no SPDM"):
            TCP_CAPTURE.decode(data)
        return
    with pytest.raises(DecodeError, match=match):
        decode_message(data)


def test_a_payload_too_large_for_the_length_field_cannot_be_framed() -> None:
    assert len(encode_message(TcpMessageType.SPDM, bytes(0xFFFD))) == 0xFFFD + 4
    with pytest.raises(LocalProtocolError, match="does not fit"):
        encode_message(TcpMessageType.SPDM, bytes(0xFFFE))


def test_a_tcp_record_refuses_trailing_bytes_and_padding() -> None:
    opened = follow_binding(SET).opened[0]
    with pytest.raises(DecodeError, match="not transport padding"):
        open_record(replace(opened.state), opened.record + b"\0")
    with pytest.raises(LocalProtocolError, match="random padding"):
        seal(replace(opened.state), 0xFFFFFFFF, opened.message, padding=b"\0")
