"""The native TSM's connect reads the SPDM 1.3 evidence a device offers: signed ENDPOINT_INFO and the MEL.

The signed ENDPOINT_INFO joins the signatures the TSM reports (and so the
kernel-style ``signatures/`` log), the MEL -- checked against the signed
hash-extended measurement -- joins DeviceInfo, crosses the wire document and
lands in the device's ``mel/``.  A device offering neither is connected as
before, and a MEL that does not extend to the measurement fails the connect.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devsec.emulator import SecureDevice
from spdm.config import DEFAULT_RESPONDER_CAPS, ResponderConfig
from spdm.device import DeviceModel, MeasurementSource, default_measurements
from spdm.device_endpoint import EndpointData
from spdm.errors import VerificationError
from spdm.messages.codes import DMTF_RAW_BIT_STREAM, CapabilityFlags, DmtfValueType
from spdm.messages.mel import MEL_HEADER_SIZE, Mel, MelEntry
from sysfs_bridge import evidence_from_tsm, read_device
from sysfs_bridge.rendering import render
from tsm import DeviceInfo, TdiTarget, open_backend
from tsm.wire import decode_info, encode_info

from .helpers import Board, bdf, check_signature, model, tsm_config

F = CapabilityFlags
HEM_INDEX = 0x11
ENTRY = MelEntry(1, HEM_INDEX, DMTF_RAW_BIT_STREAM | DmtfValueType.INFORMATIONAL, b"Boot FW")
LOG = Mel(entries=(ENTRY,))
CONTEXT = "responder-endpoint_info signing"


def board(bus: int, caps: CapabilityFlags, *, consistent: bool = True) -> Board:
    """A one-function device whose MEL (one entry) extends to its hash-extended measurement 0x11."""
    data = bytes(48) + LOG.encode()[MEL_HEADER_SIZE:] if consistent else b"another boot"
    hem = MeasurementSource(HEM_INDEX, DmtfValueType.HASH_EXTENDED, data, digest=True)
    measurements = (*default_measurements(), hem)
    device_model = DeviceModel(model().slots, measurements).with_endpoint(EndpointData(mel=LOG))
    function = bus << 8
    device = SecureDevice(ResponderConfig(capabilities=caps), device_model, functions=(function,))
    return Board(device, bdf(function), (TdiTarget(bdf(function), bdf(function)),), device.spdm.pipe)


def connected(target: Board) -> DeviceInfo:
    tsm = open_backend("native", tsm_config())
    try:
        tsm.connect(target.target)
        return tsm.info(target.dsm)
    finally:
        tsm.close()


def test_the_signed_endpoint_info_and_the_mel_become_evidence(tmp_path: Path) -> None:
    info = connected(board(0x61, DEFAULT_RESPONDER_CAPS | F.EP_INFO_CAP_SIG | F.MEL_CAP))
    (signed,) = [s for s in info.signatures if s.context == CONTEXT]
    check_signature(signed, model().slots[0].leaf)
    assert info.mel == LOG.encode()
    assert decode_info(encode_info(info)) == info
    (evidence,) = evidence_from_tsm(info)
    assert evidence.mel == LOG.encode()
    assert CONTEXT in [s.type for s in evidence.signatures]
    render(evidence, tmp_path)
    assert read_device(tmp_path, info.bdf) == evidence


def test_a_device_offering_neither_is_connected_as_before() -> None:
    info = connected(board(0x62, DEFAULT_RESPONDER_CAPS))
    assert info.mel == b"" and CONTEXT not in [s.context for s in info.signatures]
    assert "mel" not in encode_info(info).decode()


def test_a_mel_that_does_not_extend_to_the_measurement_fails_the_connect() -> None:
    with pytest.raises(VerificationError, match="not the extension of the MEL"):
        connected(board(0x63, DEFAULT_RESPONDER_CAPS | F.MEL_CAP, consistent=False))
