"""GET_ENDPOINT_INFO / ENDPOINT_INFO and the device class identifier: round trips and refusals."""

from __future__ import annotations

import pytest

from spdm.errors import DecodeError
from spdm.messages import CodecContext, EndpointInfo, GetEndpointInfo
from spdm.messages.endpoint import ClassIdentifier, DeviceClassIdentifier

SIGNED = CodecContext(hash_size=48, signature_size=96, signed=True)


def test_unsigned_request_has_no_nonce_and_round_trips() -> None:
    request = GetEndpointInfo(0x13, subcode=1, slot_id=0, request_attributes=0)
    data = request.encode()
    assert data == bytes.fromhex("13870100" "00000000")
    assert GetEndpointInfo.decode(data) == request and not request.signature_requested


def test_signed_request_carries_the_nonce_and_slot() -> None:
    request = GetEndpointInfo(0x13, subcode=1, slot_id=4, request_attributes=1, nonce=bytes(range(32)))
    data = request.encode()
    assert data[:8] == bytes.fromhex("13870104" "01000000") and data[8:] == bytes(range(32))
    assert GetEndpointInfo.decode(data) == request
    with pytest.raises(DecodeError):
        GetEndpointInfo.decode(data[:-1])


def test_response_layout_follows_the_context() -> None:
    unsigned = EndpointInfo(0x13, slot_id=0, ep_info=b"\x01\x02")
    assert unsigned.encode() == bytes.fromhex("13070000" "00000000" "02000000" "0102")
    signed = EndpointInfo(0x13, slot_id=3, nonce=b"\x11" * 32, ep_info=b"\x05", signature=b"\x22" * 96)
    data = signed.encode(SIGNED)
    assert len(data) == 8 + 32 + 4 + 1 + 96
    decoded = EndpointInfo.decode(data, SIGNED)
    assert decoded == signed and decoded.signed_part == data[:-96]
    with pytest.raises(DecodeError):
        EndpointInfo.decode(data)  # unsigned context: the nonce is read as the length


def test_device_class_identifier_round_trips_several_elements() -> None:
    dci = DeviceClassIdentifier((ClassIdentifier(0, b"", (b"\x12\x34\x56",)),
                                 ClassIdentifier(3, b"\x01\x00", (b"a", b"bc"))))
    data = dci.encode()
    assert data[:4] == b"\x02\0\0\0"
    assert DeviceClassIdentifier.decode(data) == dci


def test_device_class_identifier_element_length_must_match_its_content() -> None:
    data = bytearray(DeviceClassIdentifier((ClassIdentifier(0, b"", (b"\x12",)),)).encode())
    data[4] += 1
    with pytest.raises(DecodeError):
        DeviceClassIdentifier.decode(bytes(data))
