"""The requester keeps every request within the responder's DataTransferSize and MaxSPDMmsgSize (1.2+).

Found by the flow matrix (test_flow_matrix.py): an ML-DSA-44 chain (8 KiB) went
out as one SET_CERTIFICATE to a device whose DataTransferSize is 0x1200, and
the encapsulated CERTIFICATE portions of mutual authentication came out 4 bytes
over the device's DataTransferSize (the DELIVER_ENCAPSULATED_RESPONSE header was
not counted).  devsec's emulated device took both; a real DOE device has no
room past its buffer.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from devsec.emulator import EmulatedDevice
from spdm.config import (
    DEFAULT_REQUESTER_CAPS,
    DEFAULT_RESPONDER_CAPS,
    MUTUAL_AUTH_CAPS,
    RequesterConfig,
    ResponderConfig,
)
from spdm.connection import connect
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.errors import LocalProtocolError
from spdm.events import VendorResponseReceived
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, RequestCode
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import Requester

NOW = datetime.now(UTC)
P384 = BaseAsymAlgo.ECDSA_P384
PREFS = replace(AlgorithmPreferences(), asym_algs=(P384,))
CHUNK = CapabilityFlags.CHUNK_CAP


def _vendor_pair(transfer: int, largest: int, chunk: CapabilityFlags) -> tuple[Requester, RequesterDriver]:
    device = EmulatedDevice(ResponderConfig(algorithms=PREFS, capabilities=DEFAULT_RESPONDER_CAPS | chunk,
                                            data_transfer_size=transfer, max_spdm_msg_size=largest),
                            DeviceModel.generate(P384))
    device.responder.register_vendor_handler(0x7F, b"\x99", lambda payload, _: payload[::-1])
    requester = Requester(RequesterConfig(algorithms=PREFS, capabilities=DEFAULT_REQUESTER_CAPS | CHUNK))
    driver = RequesterDriver(device.pipe(), requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms):
        driver.run(command)
    return requester, driver


def test_over_the_transfer_size_without_chunking_is_refused_before_sending() -> None:
    requester, driver = _vendor_pair(0x400, 0x400, CapabilityFlags(0))
    with pytest.raises(LocalProtocolError, match="DataTransferSize 1024 and CHUNK_CAP"):
        requester.vendor_defined(0x7F, b"\x99", bytes(0x400))
    assert requester.data_to_send() == b""  # nothing queued, nothing changed: the next request goes
    [answer] = driver.run(lambda: requester.vendor_defined(0x7F, b"\x99", b"small"))
    assert isinstance(answer, VendorResponseReceived) and answer.payload == b"llams"


def test_over_max_spdm_msg_size_is_refused_even_with_chunking() -> None:
    requester, driver = _vendor_pair(0x100, 0x400, CHUNK)
    with pytest.raises(LocalProtocolError, match="MaxSPDMmsgSize 1024"):
        requester.vendor_defined(0x7F, b"\x99", bytes(0x400))
    [answer] = driver.run(lambda: requester.vendor_defined(0x7F, b"\x99", bytes(0x300)))
    assert isinstance(answer, VendorResponseReceived)  # in chunks: under MaxSPDMmsgSize


def test_encapsulated_certificate_portions_fit_the_devices_transfer_size() -> None:
    """Mutual authentication in KEY_EXCHANGE: the host's chain goes to a device with a 0x400
    DataTransferSize in portions, each DELIVER_ENCAPSULATED_RESPONSE within 0x400."""
    host = DeviceModel.generate(P384, role="requester")
    device_model = DeviceModel.generate(P384)
    device = EmulatedDevice(ResponderConfig(
        capabilities=DEFAULT_RESPONDER_CAPS | MUTUAL_AUTH_CAPS, algorithms=PREFS, mutual_auth=True,
        data_transfer_size=0x400, max_spdm_msg_size=0x400,
        requester_trust_anchors=(host.root_certificate(),)), device_model)
    sizes: list[int] = []

    def record(session_id: int, request: bytes, response: bytes) -> bytes:
        if request[1] == RequestCode.DELIVER_ENCAPSULATED_RESPONSE:
            sizes.append(len(request))
        return response

    device.responder.register_session_filter(record)
    config = RequesterConfig(capabilities=DEFAULT_REQUESTER_CAPS | MUTUAL_AUTH_CAPS, algorithms=PREFS,
                             trust_anchors=(device_model.root_certificate(),))
    connection = connect(device.pipe(), config, now=NOW, identity=host)
    with connection.open_session() as session:
        assert session.report.mutual_auth
    assert len(sizes) > 2 and max(sizes) <= 0x400
