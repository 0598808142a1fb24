"""A LOCK or BIND_P2P naming an IDE stream the device does not have (fuzz finding 01).

The stream ID is the requester's to choose; the IDE_KM device model answers
"no such stream" with a LocalProtocolError, which used to escape
``TdispDevice.handle`` so that the SPDM responder answered ERROR Unspecified.
PCIe 6.x §11.3.8 refuses a LOCK whose default stream is not keyed with
TDISP_ERROR INVALID_REQUEST, and a stream that does not exist was keyed on no
session.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from devsec.emulator import SecureDevice
from ide_km import IdeKmRequester, KeySet
from spdm.config import DEFAULT_RESPONDER_CAPS, RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.errors import LocalProtocolError
from spdm.events import SessionEstablished
from spdm.messages.codes import BaseAsymAlgo
from spdm.requester import Requester
from tdisp import InterfaceLocked, InterfaceStarted, TdispErrorCode, TdispErrorReceived, TdiState
from tdisp.messages import (
    LockInterfaceFlags,
    LockInterfaceRequest,
    TdispErrorMessage,
    decode_response,
)
from tsm.link import VendorChannel, secure_link

from .helpers import REFERENCE_TDI, SESSION, Pair, full_device

TDI = 0x0101
UNKNOWN_STREAM = 127


@cache
def _model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)


def _device() -> SecureDevice:
    return SecureDevice(ResponderConfig(capabilities=DEFAULT_RESPONDER_CAPS), _model(),
                        functions=(0x0100, TDI))


def _lock(stream_id: int) -> bytes:
    return LockInterfaceRequest(TDI, flags=LockInterfaceFlags.NO_FW_UPDATE,
                                default_stream_id=stream_id).encode()


def test_the_device_model_refuses_a_lock_on_an_unknown_stream_in_tdisp() -> None:
    device = _device()
    answer = decode_response(device.tdisp.handle(_lock(UNKNOWN_STREAM), SESSION))
    assert isinstance(answer, TdispErrorMessage)
    assert answer.error_code == TdispErrorCode.INVALID_REQUEST
    assert device.tdisp.state(TDI) == TdiState.CONFIG_UNLOCKED


def test_a_requester_in_a_real_session_gets_tdisp_error_not_spdm_error() -> None:
    device = _device()
    requester = Requester(RequesterConfig(trust_anchors=(_model().root_certificate(),)))
    driver = RequesterDriver(device.spdm.pipe(), requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests, lambda: requester.get_certificate(0, now=datetime.now(UTC))):
        driver.run(command)
    [sid] = [e.session_id for e in driver.run(requester.key_exchange) if isinstance(e, SessionEstablished)]
    channel = VendorChannel(driver, requester, sid)
    secure_link(channel, IdeKmRequester(), stream_id=0, key_set=KeySet.K0)  # stream 0 keyed: a normal device
    answer = decode_response(channel.exchange(_lock(UNKNOWN_STREAM)))
    assert isinstance(answer, TdispErrorMessage)
    assert answer.error_code == TdispErrorCode.INVALID_REQUEST
    assert device.tdisp.state(TDI) == TdiState.CONFIG_UNLOCKED
    # the same session, the stream it keyed: the LOCK goes through
    assert not isinstance(decode_response(channel.exchange(_lock(0))), TdispErrorMessage)
    assert device.tdisp.state(TDI) == TdiState.CONFIG_LOCKED


def _streams_0_and_1(stream_id: int, session_id: int) -> bool:
    """An IDE_KM device with streams 0 and 1, keyed on SESSION, that raises for any other stream."""
    if stream_id not in (0, 1):
        raise LocalProtocolError(f"port 0 has no stream {stream_id}")
    return session_id == SESSION


def test_a_bind_p2p_naming_an_unknown_stream_is_refused_in_tdisp() -> None:
    pair = Pair(full_device(ide_check=_streams_0_and_1))
    pair.negotiate()
    refused = pair.run("lock", LockInterfaceFlags.BIND_P2P, UNKNOWN_STREAM, 0)
    assert isinstance(refused, TdispErrorReceived) and refused.error_code == TdispErrorCode.INVALID_REQUEST
    assert isinstance(pair.run("lock", LockInterfaceFlags.BIND_P2P, 0, 0), InterfaceLocked)
    assert isinstance(pair.run("start"), InterfaceStarted)
    refused = pair.run("bind_p2p", UNKNOWN_STREAM)
    assert isinstance(refused, TdispErrorReceived) and refused.error_code == TdispErrorCode.INVALID_REQUEST
    assert pair.device.p2p_streams(REFERENCE_TDI) == frozenset()
    assert pair.device.state(REFERENCE_TDI) == TdiState.RUN
