"""The MCTP codec and record parameters on the reference's MCTP capture (``spdm12-p384-mctp``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from spdm.capture import read_capture, write_capture
from spdm.crypto import aead_open
from spdm.errors import DecodeError, LocalProtocolError, VerificationError
from spdm.secured import DirectionState, open_record, seal
from spdm.transport.binding import BoundMessage
from spdm.transport.mctp import (
    EMU_TRANSPORT_HEADER,
    LINKTYPE_MCTP,
    MAX_RANDOM_PADDING,
    MCTP_CAPTURE,
    MCTP_RECORDS,
    MctpMessageHeader,
    MctpRecord,
    frame_message,
    unframe_message,
)
from tests.vectors import OpenedRecord, binding_records, follow_binding

SET = "spdm12-p384-mctp"
SESSION = 0xFFFFFFFF


def test_every_record_decodes_and_re_encodes_byte_exact() -> None:
    records = binding_records(SET)
    assert len(records) == 50
    secured = []
    for record in records:
        parsed = MctpRecord.parse(record.data)
        assert MctpRecord.build(parsed) == record.data
        flags = parsed.transport.flags
        assert (flags.som, flags.eom, flags.message_tag) == (True, True, 0)
        message = MCTP_CAPTURE.decode(record.data)
        assert MCTP_CAPTURE.encode(message) == record.data
        secured.append(message.secured)
    assert secured.count(True) == 20 and secured[26:36] == [True] * 10


def test_the_capture_round_trips_through_the_pcap_writer() -> None:
    records = [r.data for r in binding_records(SET)]
    pcap = write_capture(records, link_type=LINKTYPE_MCTP)
    assert pcap[20:24] == bytes.fromhex("23010000")
    assert [r.data for r in read_capture(pcap, link_type=LINKTYPE_MCTP)] == records


def test_first_records_as_the_readme_shows_them() -> None:
    first = binding_records(SET)[0].data
    assert first.hex() == "000000c00510840000"
    assert MCTP_CAPTURE.decode(first) == BoundMessage(False, bytes.fromhex("10840000"))


def _plaintext(opened: OpenedRecord) -> bytes:
    """The decrypted application data with its padding (what open_record authenticates and drops)."""
    state = opened.state
    nonce = (int.from_bytes(state.iv, "little") ^ state.seq).to_bytes(12, "little")
    return aead_open(state.aead, state.key, nonce, opened.record[8:], opened.record[:8])


def test_secured_records_carry_a_two_byte_sequence_number_and_random_padding() -> None:
    followed = follow_binding(SET)
    assert len(followed.opened) == 20
    wire = [int.from_bytes(o.record[4:6], "little") for o in followed.opened]
    # Per session: HEARTBEAT, KEY_UPDATE (the ACK already under the new response key),
    # VerifyNewKey (new request key), GET_MEASUREMENTS, END_SESSION.
    assert wire == [0, 0, 1, 0, 0, 1, 1, 2, 2, 3] * 2
    assert wire == [o.state.seq for o in followed.opened]
    paddings = []
    for opened in followed.opened:
        assert opened.state.record_format is MCTP_RECORDS
        assert int.from_bytes(opened.record[6:8], "little") == len(opened.record) - 8
        plain = _plaintext(opened)
        size = int.from_bytes(plain[:2], "little")
        assert plain[2:2 + size] == b"\x05" + opened.message
        padding = plain[2 + size:]
        paddings.append(len(padding))
        assert open_record(replace(opened.state), opened.record) == opened.message
        assert seal(replace(opened.state), SESSION, opened.message, padding=padding) == opened.record
    assert paddings[:2] == [17, 15]  # the two HEARTBEAT records: Length 0x28 and 0x26
    assert min(paddings) >= 1 and max(paddings) == MAX_RANDOM_PADDING


def test_a_record_out_of_sequence_is_refused() -> None:
    opened = follow_binding(SET).opened[2]  # KEY_UPDATE: wire sequence number 1
    behind: DirectionState = replace(opened.state, seq=0)
    with pytest.raises(VerificationError, match="sequence number 0x1"):
        open_record(behind, opened.record)
    assert behind.seq == 0
    forged = opened.record[:4] + b"\x00\x00" + opened.record[6:]
    with pytest.raises(VerificationError):
        open_record(replace(opened.state, seq=0), forged)  # the wire number is in the AAD


def test_devsec_seals_without_padding_and_refuses_too_much() -> None:
    opened = follow_binding(SET).opened[0]
    ours = seal(replace(opened.state), SESSION, opened.message)
    assert len(ours) == 8 + 2 + 1 + len(opened.message) + 16
    assert open_record(replace(opened.state), ours) == opened.message
    with pytest.raises(LocalProtocolError, match="allows 32"):
        seal(replace(opened.state), SESSION, opened.message, padding=bytes(MAX_RANDOM_PADDING + 1))
    with pytest.raises(DecodeError, match="not transport padding"):
        open_record(replace(opened.state), ours + b"\0")


def test_the_application_data_starts_with_the_message_type() -> None:
    assert frame_message(b"\x12\xe8\x00\x00") == bytes.fromhex("0512e80000")
    assert unframe_message(bytes.fromhex("0512e80000")) == bytes.fromhex("12e80000")
    with pytest.raises(DecodeError, match="not the SPDM message type"):
        unframe_message(bytes.fromhex("0612e80000"))
    with pytest.raises(DecodeError, match="nothing"):
        unframe_message(b"")


@pytest.mark.parametrize(("data", "match"), [
    (b"\x00\x00\x00", "MCTP record of 3 bytes"),
    (EMU_TRANSPORT_HEADER + b"\x85\x10", "not SPDM"),  # integrity check bit
    (EMU_TRANSPORT_HEADER + b"\x01\x10", "not SPDM"),  # PLDM
])
def test_malformed_records_are_refused(data: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        MCTP_CAPTURE.decode(data)


def test_the_message_type_byte() -> None:
    assert MctpMessageHeader.build(dict(integrity_check=True, message_type=6)) == b"\x86"
