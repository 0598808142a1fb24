"""Tests for :mod:`spdm.driver`: the requester engine over a DOE transport, with its clock injected.

The transport is scripted: it records each DOE object and the timeout the
driver gave it, and answers with real DOE objects framing real SPDM bytes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import pytest

from spdm.config import RequesterConfig
from spdm.driver import SECURED_SPDM_PROTOCOL, SPDM_PROTOCOL, RequesterDriver
from spdm.errors import RemoteErrorResponse, RemoteProtocolError, SpdmErrorCode, TransportError
from spdm.events import VersionNegotiated
from spdm.messages import ErrorResponse, GetVersion, Version
from spdm.messages.codes import SpdmVersion
from spdm.requester import ST1_SECONDS, Requester
from spdm.transport import DoeEndpoint
from spdm.transport.doe import (
    PCI_SIG_VENDOR_ID,
    DataObject,
    DataObjectType,
    decode_data_object,
    encode_data_object,
)

VERSION = Version(version_entries=(0x1200, 0x1300)).encode()


def _spdm(payload: bytes, object_type: int = DataObjectType.SPDM) -> bytes:
    return encode_data_object(DataObject(PCI_SIG_VENDOR_ID, object_type, payload))


class ScriptedTransport:
    """Answers each exchange with the next scripted DOE object and records what it was given."""

    def __init__(self, *answers: bytes) -> None:
        self.answers = deque(answers)
        self.sent: list[DataObject] = []
        self.timeouts: list[float | None] = []

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        self.sent.append(decode_data_object(request))
        self.timeouts.append(timeout)
        return self.answers.popleft()

    def close(self) -> None:
        self.answers.clear()


def _driver(transport: ScriptedTransport, sleeps: list[float] | None = None,
            config: RequesterConfig | None = None) -> RequesterDriver:
    record: Callable[[float], None] = (sleeps if sleeps is not None else []).append
    return RequesterDriver(transport, Requester(config or RequesterConfig()), sleep=record)


def test_run_frames_the_request_and_returns_the_events() -> None:
    transport = ScriptedTransport(_spdm(VERSION))
    driver = _driver(transport)
    events = driver.run(driver.requester.get_version)
    assert [type(e) for e in events] == [VersionNegotiated]
    assert isinstance(events[0], VersionNegotiated) and events[0].version == SpdmVersion.V13
    [sent] = transport.sent
    assert (sent.vendor_id, sent.object_type) == SPDM_PROTOCOL
    assert sent.payload == GetVersion().encode()  # 4 bytes: no DOE pad needed
    assert transport.timeouts == [pytest.approx(ST1_SECONDS)]
    assert not driver.requester.busy


def test_busy_sleeps_as_the_engine_asks_then_resends() -> None:
    busy = ErrorResponse(spdm_version=0x10, error_code=SpdmErrorCode.BUSY).encode()
    transport = ScriptedTransport(_spdm(busy), _spdm(busy), _spdm(VERSION))
    sleeps: list[float] = []
    config = RequesterConfig(busy_retry_delay=0.25)
    driver = _driver(transport, sleeps, config)
    events = driver.run(driver.requester.get_version)
    assert sleeps == [0.25, 0.25]
    assert [o.payload for o in transport.sent] == [GetVersion().encode()] * 3
    assert [type(e) for e in events] == [VersionNegotiated]


def test_an_error_answer_raises_with_its_code_and_data() -> None:
    error = ErrorResponse(spdm_version=0x10, error_code=SpdmErrorCode.UNSUPPORTED_REQUEST,
                          error_data=0x84).encode()
    driver = _driver(ScriptedTransport(_spdm(error)))
    with pytest.raises(RemoteErrorResponse, match="UNSUPPORTED_REQUEST") as caught:
        driver.run(driver.requester.get_version)
    assert (caught.value.code, caught.value.data) == (SpdmErrorCode.UNSUPPORTED_REQUEST, 0x84)


def test_an_answer_of_another_protocol_is_a_transport_error() -> None:
    other = encode_data_object(DataObject(PCI_SIG_VENDOR_ID, DataObjectType.DISCOVERY, bytes(4)))
    driver = _driver(ScriptedTransport(other))
    with pytest.raises(TransportError, match="expected an SPDM data object"):
        driver.run(driver.requester.get_version)


def test_a_secured_answer_to_a_request_in_the_clear_is_refused_by_the_engine() -> None:
    driver = _driver(ScriptedTransport(_spdm(VERSION, DataObjectType.SECURED_SPDM)))
    assert SECURED_SPDM_PROTOCOL == (PCI_SIG_VENDOR_ID, DataObjectType.SECURED_SPDM)
    with pytest.raises(RemoteProtocolError, match="secured record answered a request sent in the clear"):
        driver.run(driver.requester.get_version)


def test_discover_lists_the_mailbox_protocols() -> None:
    endpoint = DoeEndpoint({SPDM_PROTOCOL: lambda payload: VERSION,
                            SECURED_SPDM_PROTOCOL: lambda payload: None})
    transport = _EndpointTransport(endpoint)
    driver = RequesterDriver(transport, Requester(RequesterConfig()))
    assert driver.discover() == [(PCI_SIG_VENDOR_ID, 0), SPDM_PROTOCOL, SECURED_SPDM_PROTOCOL]


def test_discover_refuses_a_mailbox_without_spdm() -> None:
    endpoint = DoeEndpoint({(PCI_SIG_VENDOR_ID, 0x30): lambda payload: None})
    driver = RequesterDriver(_EndpointTransport(endpoint), Requester(RequesterConfig()))
    with pytest.raises(RemoteProtocolError, match="no CMA/SPDM protocol.*0001:30"):
        driver.discover()


class _EndpointTransport:
    """A device-side DOE endpoint behind the transport interface."""

    def __init__(self, endpoint: DoeEndpoint) -> None:
        self.endpoint = endpoint

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        del timeout
        answer = self.endpoint.handle(request)
        if answer is None:
            raise TransportError("the endpoint dropped the object")
        return answer

    def close(self) -> None:
        """Nothing to release."""
