"""Tests for spdm.transport.pipe: the in-process transport."""

from __future__ import annotations

import pytest

from spdm.errors import LocalProtocolError, TransportError
from spdm.transport import DoeTransport
from spdm.transport.doe import DataObject, discover, encode_data_object
from spdm.transport.endpoint import DoeEndpoint
from spdm.transport.pipe import PipeTransport

GET_VERSION = encode_data_object(DataObject(1, 1, b"\x10\x84\x00\x00"))
VERSION = encode_data_object(DataObject(1, 1, b"\x10\x04\x00\x00\x00\x01\x00\x12"))


def make_pipe() -> PipeTransport:
    return PipeTransport(DoeEndpoint({(1, 1): lambda p: VERSION[8:], (1, 2): lambda p: None}).handle)


def test_is_a_doe_transport() -> None:
    assert isinstance(make_pipe(), DoeTransport)


def test_exchange_returns_the_endpoint_answer() -> None:
    seen: list[bytes] = []

    def endpoint(request: bytes) -> bytes:
        seen.append(request)
        return VERSION

    pipe = PipeTransport(endpoint)
    assert pipe.exchange(GET_VERSION) == VERSION
    assert seen == [GET_VERSION]


def test_discover_over_the_pipe() -> None:
    assert discover(make_pipe().exchange) == [(1, 0), (1, 1), (1, 2)]


def test_dropped_request_is_a_transport_error() -> None:
    pipe = make_pipe()
    with pytest.raises(TransportError, match="dropped"):
        pipe.exchange(encode_data_object(DataObject(1, 2, b"\x00" * 4)))
    assert pipe.exchange(GET_VERSION) == VERSION  # still usable


def test_closed_pipe_refuses_exchanges() -> None:
    pipe = make_pipe()
    pipe.close()
    pipe.close()
    with pytest.raises(LocalProtocolError, match="closed"):
        pipe.exchange(GET_VERSION)
