"""Our requester against our responder with a DataTransferSize small enough that messages go in chunks.

CERTIFICATE and the signed MEASUREMENTS come by ERROR(LargeResponse) and
CHUNK_GET, a large VENDOR_DEFINED_REQUEST goes by CHUNK_SEND; the chain and
the signature check out, which they only do when both transcripts hold the
large messages rather than the chunks.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from devsec.emulator import EmulatedDevice
from spdm.cma import authenticate
from spdm.config import DEFAULT_REQUESTER_CAPS, DEFAULT_RESPONDER_CAPS, RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.events import VendorResponseReceived
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, RequestCode, SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import Requester

NOW = datetime.now(UTC)
DTS = 0x100
MAX = 0x10000
CHUNK = CapabilityFlags.CHUNK_CAP


@pytest.fixture(scope="module")
def device_model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)


def configs(device_model: DeviceModel, version: SpdmVersion) -> tuple[ResponderConfig, RequesterConfig]:
    prefs = replace(AlgorithmPreferences(), asym_algs=(device_model.asym_alg,))
    responder = ResponderConfig(versions=(version,), algorithms=prefs,
                                capabilities=DEFAULT_RESPONDER_CAPS | CHUNK,
                                data_transfer_size=DTS, max_spdm_msg_size=MAX)
    requester = RequesterConfig(trust_anchors=(device_model.root_certificate(),),
                                capabilities=DEFAULT_REQUESTER_CAPS | CHUNK, data_transfer_size=DTS,
                                max_spdm_msg_size=MAX)
    return responder, requester


class CountingPipe:
    """A DOE transport that records the SPDM request codes it carries."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.codes: list[int] = []

    def exchange(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        if obj[2] == 1:
            self.codes.append(obj[9])
        return self.inner.exchange(obj, timeout=timeout)  # type: ignore[attr-defined, no-any-return]

    def close(self) -> None:
        self.inner.close()  # type: ignore[attr-defined]


@pytest.mark.parametrize("version", [SpdmVersion.V12, SpdmVersion.V13], ids=lambda v: v.text)
@pytest.mark.parametrize("transport", ["pipe", "mailbox"])
def test_certificate_and_measurements_come_in_chunks(device_model: DeviceModel, version: SpdmVersion,
                                                     transport: str) -> None:
    responder, requester = configs(device_model, version)
    device = EmulatedDevice(responder, device_model)
    pipe = CountingPipe(device.pipe() if transport == "pipe" else device.mailbox())
    report = authenticate(pipe, requester, now=NOW)
    assert report.challenge is not None
    assert report.measurements is not None and report.measurements.evidence is not None
    assert pipe.codes.count(RequestCode.CHUNK_GET) > 4
    assert pipe.codes.count(RequestCode.GET_CERTIFICATE) >= 1


def test_a_large_request_goes_by_chunk_send(device_model: DeviceModel) -> None:
    responder_config, requester_config = configs(device_model, SpdmVersion.V13)
    device = EmulatedDevice(responder_config, device_model)
    device.responder.register_vendor_handler(0x7F, b"\x99", lambda payload, _: payload[::-1])
    pipe = CountingPipe(device.pipe())
    requester = Requester(requester_config)
    driver = RequesterDriver(pipe, requester)
    driver.run(requester.get_version)
    driver.run(requester.get_capabilities)
    driver.run(requester.negotiate_algorithms)
    payload = bytes(range(256)) * 3
    events = driver.run(lambda: requester.vendor_defined(0x7F, b"\x99", payload))
    (answer,) = [e for e in events if isinstance(e, VendorResponseReceived)]
    assert answer.payload == payload[::-1]
    assert pipe.codes.count(RequestCode.CHUNK_SEND) == 4 and RequestCode.CHUNK_GET in pipe.codes
