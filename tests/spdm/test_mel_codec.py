"""GET_MEASUREMENT_EXTENSION_LOG / MEASUREMENT_EXTENSION_LOG and the DMTF MEL record."""

from __future__ import annotations

import pytest

from spdm.errors import DecodeError, LocalProtocolError
from spdm.messages import GetMeasurementExtensionLog, MeasurementExtensionLog
from spdm.messages.codes import DmtfValueType
from spdm.messages.mel import MEL_HEADER_SIZE, Mel, MelEntry


def test_request_round_trips() -> None:
    request = GetMeasurementExtensionLog(0x13, offset=0x10, length=0x200)
    data = request.encode()
    assert data == bytes.fromhex("13ef0000" "10000000" "00020000")
    assert GetMeasurementExtensionLog.decode(data) == request


def test_portion_round_trips_and_refuses_a_short_portion() -> None:
    portion = MeasurementExtensionLog(0x13, remainder_length=5, portion=b"abc")
    data = portion.encode()
    assert data == bytes.fromhex("136f0000" "03000000" "05000000") + b"abc"
    assert MeasurementExtensionLog.decode(data) == portion
    with pytest.raises(DecodeError):
        MeasurementExtensionLog.decode(data[:-1])


def test_mel_header_counts_entries_and_their_bytes() -> None:
    mel = Mel((MelEntry(1, 0x11, 0x89, b"ROM"), MelEntry(2, 0x11, 0x88, b"\0" * 48)))
    data = mel.encode()
    assert data[:8] == (2).to_bytes(4, "little") + (11 + 3 + 11 + 48).to_bytes(4, "little")
    assert len(data) == MEL_HEADER_SIZE + 11 + 3 + 11 + 48
    assert Mel.decode(data) == mel
    assert mel.entries[0].kind == DmtfValueType.INFORMATIONAL
    assert mel.entries[1].kind == DmtfValueType.HASH_EXTENDED


def test_an_empty_mel_is_its_header() -> None:
    assert Mel().encode() == bytes(MEL_HEADER_SIZE)
    assert Mel.decode(bytes(MEL_HEADER_SIZE)) == Mel()


@pytest.mark.parametrize("offset, delta", [(0, 1), (4, 1), (4, -1)])
def test_header_and_entries_must_agree(offset: int, delta: int) -> None:
    data = bytearray(Mel((MelEntry(1, 0x11, 0x89, b"ROM"),)).encode())
    data[offset] += delta
    with pytest.raises(DecodeError):
        Mel.decode(bytes(data))


def test_extended_appends() -> None:
    entry = MelEntry(1, 0x11, 0x89, b"x")
    assert Mel().extended(entry).entries == (entry,)


def test_an_entry_names_a_one_byte_measurement_index() -> None:
    data = bytearray(Mel((MelEntry(1, 0x11, 0x89, b"ROM"),)).encode())
    assert data[MEL_HEADER_SIZE + 4:MEL_HEADER_SIZE + 8] == b"\x11\0\0\0"
    data[MEL_HEADER_SIZE + 5] = 0xAA  # reserved
    assert Mel.decode(bytes(data)).entries[0].measurement_index == 0x11
    with pytest.raises(LocalProtocolError):
        Mel((MelEntry(1, 0x100, 0x89, b"x"),)).encode()
