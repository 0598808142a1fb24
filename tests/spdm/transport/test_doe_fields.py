"""The record-free DOE framing (frame_data_object, data_object_fields) is encode/decode_data_object exactly.

The driver and the endpoint frame and read every exchange with these two, so they
must accept, produce and refuse exactly what the DataObject functions do.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spdm.errors import DecodeError, LocalProtocolError
from spdm.transport.doe import (
    DOE_HEADER_SIZE,
    DOE_MAX_OBJECT_DWORDS,
    DataObject,
    data_object_fields,
    decode_data_object,
    encode_data_object,
    frame_data_object,
)


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFF), st.binary(max_size=64))
def test_frame_is_encode_of_the_record(vendor: int, kind: int, payload: bytes) -> None:
    framed = frame_data_object(vendor, kind, payload)
    assert framed == encode_data_object(DataObject(vendor, kind, payload))
    assert data_object_fields(framed) == (vendor, kind, payload + bytes(-len(payload) % 4))


@pytest.mark.parametrize(("vendor", "kind"), [(-1, 0), (0x10000, 0), (0, -1), (0, 0x100)])
def test_frame_refuses_what_the_record_refuses(vendor: int, kind: int) -> None:
    with pytest.raises(LocalProtocolError) as record_error:
        DataObject(vendor, kind, b"")
    with pytest.raises(LocalProtocolError) as frame_error:
        frame_data_object(vendor, kind, b"")
    assert str(frame_error.value) == str(record_error.value)


def test_frame_refuses_an_oversized_object() -> None:
    payload = bytes(DOE_MAX_OBJECT_DWORDS * 4 - DOE_HEADER_SIZE + 1)
    with pytest.raises(LocalProtocolError, match="exceeds the DOE maximum"):
        frame_data_object(1, 1, payload)


def _same_as_decode(data: bytes) -> None:
    try:
        obj = decode_data_object(data)
    except DecodeError as exc:
        with pytest.raises(DecodeError) as fields_error:
            data_object_fields(data)
        assert str(fields_error.value) == str(exc)
    else:
        assert data_object_fields(data) == (obj.vendor_id, obj.object_type, obj.payload)


@given(st.binary(max_size=40))
def test_fields_decode_and_refuse_as_decode_data_object(data: bytes) -> None:
    _same_as_decode(data)


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFF), st.integers(0, 12), st.binary(max_size=44))
def test_fields_of_plausible_headers(vendor: int, kind: int, dwords: int, tail: bytes) -> None:
    _same_as_decode(vendor.to_bytes(2, "little") + bytes([kind, 0]) + dwords.to_bytes(4, "little") + tail)
