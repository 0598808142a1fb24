"""Tests for :mod:`spdm.capture`: PCI DOE pcap files, read in linear time, written from live runs."""

from __future__ import annotations

import struct
import time

import pytest

from devsec.emulator import EmulatedDevice
from spdm.capture import (
    LINKTYPE_PCI_DOE,
    PcapFileHeader,
    PcapRecordHeader,
    RecordingTransport,
    exchanges,
    read_capture,
    write_capture,
)
from spdm.config import ResponderConfig
from spdm.device import DeviceModel
from spdm.errors import DecodeError, TransportError
from spdm.messages.codes import BaseAsymAlgo
from spdm.transport import PipeTransport
from spdm.transport.doe import DataObject, DataObjectType, decode_data_object, encode_data_object
from tests.vectors import ROOT, SETS

HEAD = PcapFileHeader.build(dict(version_major=2, version_minor=4, thiszone=0, sigfigs=0,
                                 snaplen=65536, linktype=LINKTYPE_PCI_DOE))
EMPTY_RECORD = struct.pack("<IIII", 0, 0, 0, 0)


@pytest.mark.parametrize("name", SETS)
def test_a_reference_capture_reads_and_writes_back_byte_for_byte(name: str) -> None:
    data = (ROOT / name / "capture.pcap").read_bytes()
    records = read_capture(data)
    assert [r.index for r in records] == list(range(len(records)))
    again = read_capture(write_capture(r.data for r in records))
    assert again == records


def test_the_precompiled_record_header_matches_the_construct_declaration() -> None:
    """R7: the fast path reads the same fields as PcapRecordHeader."""
    built = PcapRecordHeader.build(dict(ts_sec=1, ts_usec=2, incl_len=3, orig_len=4))
    assert struct.calcsize("<IIII") == PcapRecordHeader.sizeof() == len(built)
    assert read_capture(HEAD + built + b"abc")[0].data == b"abc"


def test_many_empty_records_read_in_linear_time() -> None:
    """Finding 06: each record header was parsed from a copy of the rest of the file (quadratic).

    2 MiB of empty records took minutes; in linear time it takes well under a second.
    """
    count = 131072
    started = time.monotonic()
    records = read_capture(HEAD + EMPTY_RECORD * count)
    elapsed = time.monotonic() - started
    assert len(records) == count and records[-1].data == b""
    assert elapsed < 10, f"{count} records took {elapsed:.1f} s"


@pytest.mark.parametrize(("data", "error"), [
    (b"not a pcap", "not a classic pcap"),
    (PcapFileHeader.build(dict(version_major=2, version_minor=4, thiszone=0, sigfigs=0,
                               snaplen=65536, linktype=1)), "link type 1"),
    (HEAD + EMPTY_RECORD[:15], "record 0: truncated header"),
    (HEAD + struct.pack("<IIII", 0, 0, 5, 5) + b"abcd", "record 0: length 5 runs past"),
    (HEAD + struct.pack("<IIII", 0, 0, 0xFFFFFFFF, 0), "length 4294967295 runs past"),
])
def test_a_malformed_capture_is_a_decode_error(data: bytes, error: str) -> None:
    with pytest.raises(DecodeError, match=error):
        read_capture(data)


def test_exchanges_pair_requests_with_responses() -> None:
    records = read_capture(write_capture([b"q1", b"r1", b"q2"]))
    assert [(q.data, r.data if r else None) for q, r in exchanges(records)] == [
        (b"q1", b"r1"), (b"q2", None)]


def _discovery(index: int) -> bytes:
    return encode_data_object(DataObject(1, DataObjectType.DISCOVERY, bytes([index, 0, 0, 0])))


def test_a_recording_transport_captures_a_live_conversation_in_order() -> None:
    device = EmulatedDevice(ResponderConfig(), DeviceModel.generate(BaseAsymAlgo.ECDSA_P256))
    recorder = RecordingTransport(device.pipe())
    answers = [recorder.exchange(_discovery(i)) for i in (0, 1)]
    records = read_capture(recorder.pcap())
    assert [r.data for r in records] == [_discovery(0), answers[0], _discovery(1), answers[1]]
    assert decode_data_object(records[1].data).object_type == DataObjectType.DISCOVERY
    recorder.close()
    assert recorder.objects == [r.data for r in records]  # what was recorded stays


def test_a_failed_exchange_is_not_recorded() -> None:
    recorder = RecordingTransport(PipeTransport(lambda request: None))
    with pytest.raises(TransportError):
        recorder.exchange(_discovery(0))
    assert recorder.objects == [] and read_capture(recorder.pcap()) == []
