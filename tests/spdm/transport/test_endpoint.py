"""Tests for spdm.transport.endpoint: the device-side DOE dispatcher."""

from __future__ import annotations

import logging

import pytest

from spdm.errors import LocalProtocolError
from spdm.transport.doe import (
    DataObject,
    DiscoveryResponse,
    decode_data_object,
    decode_discovery_response,
    discover,
    encode_data_object,
)
from spdm.transport.endpoint import DoeEndpoint


def discovery_request(index: int, version: int = 0) -> bytes:
    return encode_data_object(DataObject(1, 0, bytes([index, version, 0, 0])))


def answer(endpoint: DoeEndpoint, request: bytes) -> DataObject:
    response = endpoint.handle(request)
    assert response is not None
    return decode_data_object(response)


def test_protocols_list_discovery_first_then_sorted() -> None:
    endpoint = DoeEndpoint({(1, 2): lambda p: p, (0x1AB4, 0): lambda p: p, (1, 1): lambda p: p})
    assert endpoint.protocols == [(1, 0), (1, 1), (1, 2), (0x1AB4, 0)]
    endpoint.protocols.clear()  # a copy: the table itself is not exposed
    assert len(endpoint.protocols) == 4


def test_discovery_walks_the_table() -> None:
    endpoint = DoeEndpoint({(1, 1): lambda p: p, (0x1AB4, 7): lambda p: p})
    answers = [decode_discovery_response(answer(endpoint, discovery_request(i)).payload) for i in range(3)]
    assert answers == [
        DiscoveryResponse(1, 0, 1),
        DiscoveryResponse(1, 1, 2),
        DiscoveryResponse(0x1AB4, 7, 0),
    ]


def test_discovery_only_endpoint() -> None:
    endpoint = DoeEndpoint({})
    assert decode_discovery_response(answer(endpoint, discovery_request(0)).payload) == (
        DiscoveryResponse(1, 0, 0)
    )


def test_discovery_ignores_version() -> None:
    endpoint = DoeEndpoint({(1, 1): lambda p: p})
    assert answer(endpoint, discovery_request(1, version=2)).payload == b"\x01\x00\x01\x00"


@pytest.mark.parametrize("index", [3, 255])
def test_discovery_past_the_end_reports_no_entry(index: int) -> None:
    endpoint = DoeEndpoint({(1, 1): lambda p: p, (1, 2): lambda p: p})
    response = decode_discovery_response(answer(endpoint, discovery_request(index)).payload)
    assert response == DiscoveryResponse(0xFFFF, 0, 0)


def test_handler_gets_payload_and_answer_keeps_vendor_and_type() -> None:
    seen: list[bytes] = []

    def handler(payload: bytes) -> bytes:
        seen.append(payload)
        return b"\x10\x04\x00\x00\x00"

    endpoint = DoeEndpoint({(1, 2): handler})
    response = answer(endpoint, encode_data_object(DataObject(1, 2, b"\xaa\xbb\xcc")))
    assert seen == [b"\xaa\xbb\xcc\x00"]  # pad included: the handler sizes the message
    assert response == DataObject(1, 2, b"\x10\x04\x00\x00\x00\x00\x00\x00")


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"",
        b"\x01\x00\x01",
        bytes.fromhex("01000100 04000000 10840000"),  # length says 4 dwords, 3 sent
        bytes.fromhex("010001ff 03000000 10840000"),  # reserved bits
        encode_data_object(DataObject(1, 3, b"\x10\x84\x00\x00")),  # no handler
        encode_data_object(DataObject(2, 1, b"\x10\x84\x00\x00")),  # other vendor
        encode_data_object(DataObject(1, 0, b"\x00" * 8)),  # malformed Discovery
        encode_data_object(DataObject(1, 0, b"")),
    ],
)
def test_undecodable_and_unknown_objects_are_dropped(request_bytes: bytes) -> None:
    endpoint = DoeEndpoint({(1, 1): lambda p: b"\x10\x04\x00\x00"})
    assert endpoint.handle(request_bytes) is None


def test_handler_returning_none_drops() -> None:
    endpoint = DoeEndpoint({(1, 1): lambda p: None})
    assert endpoint.handle(encode_data_object(DataObject(1, 1, b"\x10\x84\x00\x00"))) is None


def test_handler_answer_too_large_is_a_local_error() -> None:
    endpoint = DoeEndpoint({(1, 1): lambda p: bytes(1 << 20)})
    with pytest.raises(LocalProtocolError):
        endpoint.handle(encode_data_object(DataObject(1, 1, b"\x10\x84\x00\x00")))


@pytest.mark.parametrize("key", [(1, 0), (-1, 1), (0x10000, 1), (1, 0x100), (1, -1)])
def test_bad_handler_keys_are_refused(key: tuple[int, int]) -> None:
    with pytest.raises(LocalProtocolError):
        DoeEndpoint({key: lambda p: p})


def test_255_handlers_fill_the_discovery_index_space() -> None:
    endpoint = DoeEndpoint({(2, t): (lambda p: p) for t in range(255)})
    protocols = discover(lambda r: endpoint.handle(r) or b"")
    assert protocols == [(1, 0)] + [(2, t) for t in range(255)]
    with pytest.raises(LocalProtocolError, match="255"):
        DoeEndpoint({(2, t): (lambda p: p) for t in range(256)})


def test_logs_carry_no_payload_bytes(caplog: pytest.LogCaptureFixture) -> None:
    secret = bytes.fromhex("5ec7e75ec7e75ec7")
    endpoint = DoeEndpoint({(1, 2): lambda p: secret, (1, 1): lambda p: None})
    with caplog.at_level(logging.DEBUG, logger="spdm.transport"):
        endpoint.handle(encode_data_object(DataObject(1, 2, secret)))
        endpoint.handle(encode_data_object(DataObject(1, 1, secret)))
        endpoint.handle(encode_data_object(DataObject(1, 7, secret)))
        endpoint.handle(secret)
    assert caplog.records
    assert all(r.levelno == logging.DEBUG for r in caplog.records)
    for text in (secret.hex(), repr(secret), "5e c7"):
        assert text not in caplog.text
