"""A MEASUREMENTS response far larger than DataTransferSize, end to end over the DOE mailbox and the socket.

The device reports a 40000-byte raw measurement block beside its usual ones,
so its signed MEASUREMENTS is about 40 KiB while both sides' DataTransferSize
is 0x400: it comes by ERROR(LargeResponse) and some forty CHUNK_GETs, through
the modelled DOE mailbox registers and through the spdm-emu socket protocol,
and its signature verifies over the reassembled message.  The certificate
chain (larger than 0x400 too) comes in chunks the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from devsec.emulator import EmulatedDevice
from spdm.cma import authenticate
from spdm.config import DEFAULT_REQUESTER_CAPS, DEFAULT_RESPONDER_CAPS, RequesterConfig, ResponderConfig
from spdm.crypto import generate_device_identity
from spdm.device import DeviceModel, MeasurementSource, default_measurements
from spdm.errors import RemoteErrorResponse
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, DmtfValueType, RequestCode, SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from spdm.transport import DoeTransport, EmuSocketClient

NOW = datetime.now(UTC)
DTS = 0x400
MAX = 0x20000
LARGE_INDEX = 0x30
LARGE_VALUE = bytes(range(256)) * 156 + bytes(64)  # 40000 bytes
CHUNK = CapabilityFlags.CHUNK_CAP


@pytest.fixture(scope="module")
def device_model() -> DeviceModel:
    large = MeasurementSource(LARGE_INDEX, DmtfValueType.FIRMWARE_CONFIGURATION, LARGE_VALUE, digest=False)
    identity = generate_device_identity(BaseAsymAlgo.ECDSA_P384)
    return DeviceModel({0: identity}, (*default_measurements(), large))


def device(model: DeviceModel) -> EmulatedDevice:
    prefs = replace(AlgorithmPreferences(), asym_algs=(model.asym_alg,))
    return EmulatedDevice(ResponderConfig(versions=(SpdmVersion.V13,), algorithms=prefs,
                                          capabilities=DEFAULT_RESPONDER_CAPS | CHUNK,
                                          data_transfer_size=DTS, max_spdm_msg_size=MAX), model)


class Counting:
    """A DOE transport that records the SPDM request codes it carries."""

    def __init__(self, inner: DoeTransport) -> None:
        self.inner = inner
        self.codes: list[int] = []

    def exchange(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        if obj[2] == 1:
            self.codes.append(obj[9])
        return self.inner.exchange(obj, timeout=timeout)

    def close(self) -> None:
        self.inner.close()


@contextmanager
def socket_transport(emulated: EmulatedDevice) -> Iterator[DoeTransport]:
    server = emulated.server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = EmuSocketClient("127.0.0.1", server.address[1])
    try:
        yield client
    finally:
        client.close()
        server.stop()
        thread.join(10)
        server.close()


@contextmanager
def mailbox_transport(emulated: EmulatedDevice) -> Iterator[DoeTransport]:
    yield emulated.mailbox()


@pytest.mark.parametrize("transport", [
    "mailbox", pytest.param("socket", marks=pytest.mark.socket)])
def test_a_40_kib_measurements_response_comes_in_chunks(device_model: DeviceModel, transport: str) -> None:
    emulated = device(device_model)
    requester = RequesterConfig(trust_anchors=(device_model.root_certificate(),),
                                capabilities=DEFAULT_REQUESTER_CAPS | CHUNK,
                                data_transfer_size=DTS, max_spdm_msg_size=MAX, certificate_portion=0xFFFF)
    opened = mailbox_transport(emulated) if transport == "mailbox" else socket_transport(emulated)
    with opened as inner:
        counting = Counting(inner)
        report = authenticate(counting, requester, now=NOW)
    measurements = report.measurements
    assert measurements is not None and measurements.evidence is not None
    (large,) = [b for b in measurements.blocks if b.index == LARGE_INDEX]
    assert large.value == LARGE_VALUE and large.raw_bit_stream
    assert counting.codes.count(RequestCode.CHUNK_GET) >= len(LARGE_VALUE) // DTS
    assert counting.codes.count(RequestCode.GET_CERTIFICATE) == 1  # one request, the chain in chunks


def test_without_chunking_the_large_measurements_cannot_come(device_model: DeviceModel) -> None:
    emulated = device(device_model)
    requester = RequesterConfig(trust_anchors=(device_model.root_certificate(),),
                                data_transfer_size=DTS, max_spdm_msg_size=DTS)
    with pytest.raises(RemoteErrorResponse, match="0xe0 with ERROR RESPONSE_TOO_LARGE"):
        authenticate(emulated.mailbox(), requester, now=NOW)
