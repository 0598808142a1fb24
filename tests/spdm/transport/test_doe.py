"""Tests for spdm.transport.doe: data-object framing and the Discovery codec."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import construct
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spdm.errors import DecodeError, LocalProtocolError, RemoteProtocolError
from spdm.transport import doe
from spdm.transport.doe import (
    DOE_MAX_OBJECT_DWORDS,
    PCI_SIG_VENDOR_ID,
    DataObject,
    DataObjectType,
    DiscoveryRequest,
    DiscoveryResponse,
    DoeDataObjectHeader,
    DoeDiscoveryRequest,
    DoeDiscoveryResponse,
    data_object_length,
    decode_data_object,
    decode_discovery_request,
    decode_discovery_response,
    discover,
    encode_data_object,
    encode_discovery_request,
    encode_discovery_response,
)
from spdm.transport.endpoint import DoeEndpoint

VECTORS = Path(__file__).resolve().parents[3] / "vectors" / "libspdm-doe"
CAPTURES = sorted(VECTORS.glob("*/capture.pcap"))

# PROTOCOLS.md §1.2: a GET_VERSION request as one DOE object.
GET_VERSION_OBJECT = bytes.fromhex("01000100 03000000 10840000")

# PROTOCOLS.md §1.3 / the spdm-emu captures: Discovery requests and answers.
DISCOVERY_TRACE = [
    ("010000000300000000000000", "010000000300000001000001"),
    ("010000000300000001000000", "010000000300000001000102"),
    ("010000000300000002000000", "010000000300000001000200"),
]


def pcap_records(path: Path) -> list[bytes]:
    """Minimal classic-pcap reader: little-endian, link type 292, no checks beyond that."""
    data = path.read_bytes()
    magic, _, _, _, _, _, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, linktype) == (0xA1B2C3D4, 292)
    records, offset = [], 24
    while offset < len(data):
        incl_len = struct.unpack_from("<IIII", data, offset)[2]
        offset += 16
        records.append(data[offset : offset + incl_len])
        offset += incl_len
    return records


def header(vendor: int, kind: int, dw1: int, reserved0: int = 0) -> bytes:
    return struct.pack("<HBBI", vendor, kind, reserved0, dw1)


# --- data objects ----------------------------------------------------------------------------


def test_get_version_example_decodes() -> None:
    obj = decode_data_object(GET_VERSION_OBJECT)
    assert obj == DataObject(PCI_SIG_VENDOR_ID, DataObjectType.SPDM, b"\x10\x84\x00\x00")


def test_get_version_example_encodes() -> None:
    obj = DataObject(PCI_SIG_VENDOR_ID, DataObjectType.SPDM, b"\x10\x84\x00\x00")
    assert encode_data_object(obj) == GET_VERSION_OBJECT


@pytest.mark.parametrize("size", range(0, 9))
def test_payload_is_zero_padded_to_a_dword(size: int) -> None:
    payload = bytes(range(1, size + 1))
    encoded = encode_data_object(DataObject(1, 2, payload))
    padded = -(-size // 4) * 4
    assert len(encoded) == 8 + padded
    assert encoded[8 : 8 + size] == payload
    assert encoded[8 + size :] == bytes(padded - size)
    assert struct.unpack_from("<I", encoded, 4)[0] == 2 + padded // 4
    # The pad stays in the decoded payload: only the message knows its length.
    assert decode_data_object(encoded).payload == payload + bytes(padded - size)


def test_maximum_object_encodes_length_zero() -> None:
    payload = bytes(DOE_MAX_OBJECT_DWORDS * 4 - 8)
    encoded = encode_data_object(DataObject(1, 1, payload))
    assert encoded[4:8] == b"\x00\x00\x00\x00"
    assert data_object_length(encoded[:8]) == 1 << 20
    assert decode_data_object(encoded).payload == payload


def test_oversized_object_is_refused() -> None:
    payload = bytes(DOE_MAX_OBJECT_DWORDS * 4 - 7)  # pads to one dword too many
    with pytest.raises(LocalProtocolError):
        encode_data_object(DataObject(1, 1, payload))


@pytest.mark.parametrize(("vendor", "kind"), [(-1, 0), (0x10000, 0), (1, -1), (1, 0x100)])
def test_data_object_fields_are_range_checked(vendor: int, kind: int) -> None:
    with pytest.raises(LocalProtocolError):
        DataObject(vendor, kind, b"")


@pytest.mark.parametrize("size", range(0, 8))
def test_decode_rejects_less_than_a_header(size: int) -> None:
    with pytest.raises(DecodeError):
        decode_data_object(GET_VERSION_OBJECT[:size])


@pytest.mark.parametrize("bit", range(24, 32))
def test_decode_rejects_dw0_reserved_bits(bit: int) -> None:
    data = header(1, 1, 3, reserved0=1 << (bit - 24)) + b"\x10\x84\x00\x00"
    with pytest.raises(DecodeError, match="DW0"):
        decode_data_object(data)


@pytest.mark.parametrize("bit", range(18, 32))
def test_decode_rejects_dw1_reserved_bits(bit: int) -> None:
    data = header(1, 1, 3 | 1 << bit) + b"\x10\x84\x00\x00"
    with pytest.raises(DecodeError, match="DW1"):
        decode_data_object(data)


@pytest.mark.parametrize("tail", [b"", b"\x00" * 4])
def test_decode_rejects_a_length_of_one_dword(tail: bytes) -> None:
    with pytest.raises(DecodeError, match="cannot hold"):
        decode_data_object(header(1, 1, 1) + tail)


def test_decode_rejects_length_zero_unless_one_mebibyte() -> None:
    with pytest.raises(DecodeError, match="1048576"):
        decode_data_object(header(1, 1, 0))


def test_decode_rejects_every_proper_prefix() -> None:
    obj = encode_data_object(DataObject(1, 1, bytes(range(20))))
    for end in range(len(obj)):
        with pytest.raises(DecodeError):
            decode_data_object(obj[:end])


@pytest.mark.parametrize("extra", [b"\x00", b"\x00\x00\x00\x00", b"\xff" * 7])
def test_decode_rejects_trailing_bytes(extra: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_data_object(GET_VERSION_OBJECT + extra)


def test_data_object_length() -> None:
    assert data_object_length(GET_VERSION_OBJECT[:8]) == 12
    assert data_object_length(header(0xFFFF, 0xFF, 0x3FFFF)) == 0x3FFFF * 4


@pytest.mark.parametrize(
    "hdr",
    [
        GET_VERSION_OBJECT[:7],
        GET_VERSION_OBJECT[:9],
        header(1, 1, 3, reserved0=0x80),
        header(1, 1, 3 | 1 << 31),
        header(1, 1, 1),
    ],
)
def test_data_object_length_rejects(hdr: bytes) -> None:
    with pytest.raises(DecodeError):
        data_object_length(hdr)


@given(st.binary(max_size=64))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    try:
        obj = decode_data_object(data)
    except DecodeError:
        return
    assert encode_data_object(obj) == data


@given(
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFF),
    st.integers(0, 0x3FFFF),
    st.binary(max_size=64),
)
def test_plausible_headers_raise_only_decode_error(vendor: int, kind: int, length: int, tail: bytes) -> None:
    data = header(vendor, kind, length) + tail
    try:
        obj = decode_data_object(data)
    except DecodeError:
        assert length * 4 != len(data)
        return
    assert (obj.vendor_id, obj.object_type, obj.payload) == (vendor, kind, tail)


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFF), st.binary(max_size=300))
def test_encode_decode_round_trip(vendor: int, kind: int, payload: bytes) -> None:
    encoded = encode_data_object(DataObject(vendor, kind, payload))
    decoded = decode_data_object(encoded)
    assert (decoded.vendor_id, decoded.object_type) == (vendor, kind)
    assert decoded.payload.rstrip(b"\x00") == payload.rstrip(b"\x00")
    assert decoded.payload[len(payload) :] == bytes(len(decoded.payload) - len(payload))
    assert len(decoded.payload) - len(payload) < 4
    assert encode_data_object(decoded) == encoded
    assert data_object_length(encoded[:8]) == len(encoded)


@given(st.binary(min_size=8, max_size=8))
def test_fast_header_path_matches_construct_declaration(raw: bytes) -> None:
    parsed = DoeDataObjectHeader.parse(raw)
    fast = doe._HEADER.unpack(raw)
    assert fast[:3] == (parsed.vendor_id, parsed.data_object_type, parsed.reserved0)
    assert fast[3] == parsed.dw1.reserved1 << 18 | parsed.dw1.length
    assert DoeDataObjectHeader.build(parsed) == raw
    assert doe._HEADER.pack(*fast) == raw


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFF), st.binary(max_size=40))
def test_encoded_header_matches_construct_declaration(vendor: int, kind: int, payload: bytes) -> None:
    encoded = encode_data_object(DataObject(vendor, kind, payload))
    declared = DoeDataObjectHeader.build({
        "vendor_id": vendor, "data_object_type": kind, "reserved0": 0,
        "dw1": {"reserved1": 0, "length": len(encoded) // 4},
    })
    assert encoded[:8] == declared


# --- discovery codec -------------------------------------------------------------------------


@given(st.binary(max_size=8))
def test_discovery_fast_paths_match_construct_declarations(raw: bytes) -> None:
    for declaration, decode, what in (
        (DoeDiscoveryRequest, decode_discovery_request, "request"),
        (DoeDiscoveryResponse, decode_discovery_response, "response"),
    ):
        try:
            parsed = declaration.parse(raw)
        except construct.ConstructError:
            with pytest.raises(DecodeError, match=f"Discovery {what}"):
                decode(raw)
            continue
        fields = [value for name, value in parsed.items() if not name.startswith("_")]
        if what == "request":
            assert decode(raw) == DiscoveryRequest(fields[0], fields[1])
            request = decode(raw)
            assert isinstance(request, DiscoveryRequest)
            assert encode_discovery_request(request) == declaration.build(
                {"index": fields[0], "version": fields[1], "reserved": 0})
        else:
            assert decode(raw) == DiscoveryResponse(*fields)
            response = decode(raw)
            assert isinstance(response, DiscoveryResponse)
            assert encode_discovery_response(response) == raw == declaration.build(parsed)


def test_discovery_request_codec() -> None:
    assert encode_discovery_request(DiscoveryRequest(2)) == b"\x02\x00\x00\x00"
    assert encode_discovery_request(DiscoveryRequest(7, version=2)) == b"\x07\x02\x00\x00"
    assert decode_discovery_request(b"\x07\x02\x00\x00") == DiscoveryRequest(7, 2)


def test_discovery_request_ignores_reserved_bytes() -> None:
    assert decode_discovery_request(b"\x01\x00\xff\xff") == DiscoveryRequest(1)


def test_discovery_response_codec() -> None:
    response = DiscoveryResponse(PCI_SIG_VENDOR_ID, DataObjectType.SECURED_SPDM, 0)
    assert encode_discovery_response(response) == b"\x01\x00\x02\x00"
    assert decode_discovery_response(b"\x01\x00\x02\x00") == response
    assert decode_discovery_response(b"\xff\xff\x00\x00") == DiscoveryResponse(0xFFFF, 0, 0)


@pytest.mark.parametrize("payload", [b"", b"\x00", b"\x00\x00\x00", b"\x00" * 5, b"\x00" * 8])
@pytest.mark.parametrize("decoder", [decode_discovery_request, decode_discovery_response])
def test_discovery_decoders_need_exactly_one_dword(
    decoder: Callable[[bytes], object], payload: bytes
) -> None:
    with pytest.raises(DecodeError, match="Discovery"):
        decoder(payload)


@pytest.mark.parametrize(
    "build",
    [
        lambda: DiscoveryRequest(256),
        lambda: DiscoveryRequest(0, -1),
        lambda: DiscoveryResponse(0x10000, 0, 0),
        lambda: DiscoveryResponse(1, 256, 0),
        lambda: DiscoveryResponse(1, 0, 256),
    ],
)
def test_discovery_fields_are_range_checked(build: Callable[[], object]) -> None:
    with pytest.raises(LocalProtocolError):
        build()


@given(st.binary(max_size=8))
def test_discovery_decoders_raise_only_decode_error(data: bytes) -> None:
    for decoder in (decode_discovery_request, decode_discovery_response):
        try:
            decoder(data)
        except DecodeError:
            assert len(data) != 4


# --- discover() ------------------------------------------------------------------------------


def recording(
    exchange: Callable[[bytes], bytes],
) -> tuple[Callable[[bytes], bytes], list[tuple[str, str]]]:
    log: list[tuple[str, str]] = []

    def wrapped(request: bytes) -> bytes:
        response = exchange(request)
        log.append((request.hex(), response.hex()))
        return response

    return wrapped, log


def endpoint_exchange(endpoint: DoeEndpoint) -> Callable[[bytes], bytes]:
    def exchange(request: bytes) -> bytes:
        response = endpoint.handle(request)
        assert response is not None
        return response

    return exchange


def test_discover_matches_spdm_emu_trace() -> None:
    endpoint = DoeEndpoint({(1, 1): lambda p: p, (1, 2): lambda p: p})
    exchange, log = recording(endpoint_exchange(endpoint))
    assert discover(exchange) == [(1, 0), (1, 1), (1, 2)]
    assert log == DISCOVERY_TRACE


def test_discover_walks_all_256_indices() -> None:
    def exchange(request: bytes) -> bytes:
        index = decode_data_object(request).payload[0]
        response = DiscoveryResponse(0x1000 + index, index, (index + 1) % 256)
        return encode_data_object(DataObject(1, 0, encode_discovery_response(response)))

    protocols = discover(exchange)
    assert len(protocols) == 256
    assert protocols[255] == (0x10FF, 255)


def test_discover_follows_next_index_not_order() -> None:
    table = {0: (1, 0, 5), 5: (1, 1, 3), 3: (0x1AB4, 7, 0)}

    def exchange(request: bytes) -> bytes:
        vendor, kind, nxt = table[decode_data_object(request).payload[0]]
        payload = encode_discovery_response(DiscoveryResponse(vendor, kind, nxt))
        return encode_data_object(DataObject(1, 0, payload))

    assert discover(exchange) == [(1, 0), (1, 1), (0x1AB4, 7)]


@pytest.mark.parametrize("loop_to", [0, 1, 2])
def test_discover_detects_loops(loop_to: int) -> None:
    def exchange(request: bytes) -> bytes:
        index = decode_data_object(request).payload[0]
        nxt = index + 1 if index < 2 else loop_to
        payload = encode_discovery_response(DiscoveryResponse(1, index, nxt))
        return encode_data_object(DataObject(1, 0, payload))

    if loop_to == 0:
        assert discover(exchange) == [(1, 0), (1, 1), (1, 2)]
    else:
        with pytest.raises(RemoteProtocolError, match="loops"):
            discover(exchange)


def test_discover_rejects_a_non_discovery_answer() -> None:
    answer = encode_data_object(DataObject(1, 1, b"\x01\x00\x00\x00"))
    with pytest.raises(RemoteProtocolError, match="0001:01"):
        discover(lambda _: answer)


@pytest.mark.parametrize(
    "answer",
    [
        b"",
        GET_VERSION_OBJECT[:8],
        encode_data_object(DataObject(1, 0, b"\x01\x00\x00\x00\x00\x00\x00\x00")),
    ],
)
def test_discover_rejects_malformed_answers(answer: bytes) -> None:
    with pytest.raises(DecodeError):
        discover(lambda _: answer)


# --- vectors ---------------------------------------------------------------------------------


def test_vectors_are_present() -> None:
    assert len(CAPTURES) >= 3


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.parent.name)
def test_vector_discovery_records(capture: Path) -> None:
    records = pcap_records(capture)
    expected = [(1, 0, 1), (1, 1, 2), (1, 2, 0)]
    for index, (vendor, kind, nxt) in enumerate(expected):
        request = decode_data_object(records[2 * index])
        response = decode_data_object(records[2 * index + 1])
        assert (request.vendor_id, request.object_type) == (1, DataObjectType.DISCOVERY)
        assert decode_discovery_request(request.payload) == DiscoveryRequest(index)
        assert (response.vendor_id, response.object_type) == (1, DataObjectType.DISCOVERY)
        assert decode_discovery_response(response.payload) == DiscoveryResponse(vendor, kind, nxt)
        assert [records[2 * index].hex(), records[2 * index + 1].hex()] == list(DISCOVERY_TRACE[index])
    assert records[6] == GET_VERSION_OBJECT


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.parent.name)
def test_vector_records_all_reencode_byte_for_byte(capture: Path) -> None:
    records = pcap_records(capture)
    assert len(records) > 100
    kinds = set()
    for record in records:
        obj = decode_data_object(record)
        kinds.add((obj.vendor_id, obj.object_type))
        assert encode_data_object(obj) == record
    assert kinds == {(1, 0), (1, 1), (1, 2)}
