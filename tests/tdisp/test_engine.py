"""The TDISP engines speak spdm.engine's one calling convention.

Statically (mypy checks the annotated assignments) TdispRequester is a
RequesterEngine and TdispDevice.handle a VendorHandler; at run time a driver
that knows only those two Protocols negotiates, locks and reads the report,
and an SPDM ERROR the carrier reports comes back through ``receive_error`` as
the engine's TdispRequestRefused event, after which the engine goes on.
"""

from __future__ import annotations

import pytest

from spdm.engine import RequesterEngine, VendorHandler
from spdm.errors import LocalProtocolError, ProtocolError, RemoteErrorResponse, SpdmErrorCode
from tdisp import (
    InterfaceLocked,
    InterfaceReportReceived,
    TdispCapabilitiesReceived,
    TdispLocalError,
    TdispRequestCode,
    TdispRequester,
    TdispRequesterConfig,
    TdispRequestRefused,
    TdispVersionNegotiated,
)

from .helpers import REFERENCE_FLAGS, REFERENCE_OFFSET, REFERENCE_TDI, SESSION, full_device


def drive(engine: RequesterEngine, handler: VendorHandler, session_id: int | None) -> list[object]:
    """Run the engine's command to its end through the Protocols alone; its events."""
    events: list[object] = []
    while engine.busy:
        assert engine.get_timer() is None
        request = engine.data_to_send()
        try:
            response = handler(request, session_id)
        except ProtocolError as exc:
            engine.receive_error(exc.error_code, exc.error_data)
        else:
            engine.receive_data(response)
        while (event := engine.next_event()) is not None:
            events.append(event)
    return events


def test_the_engines_satisfy_the_protocols() -> None:
    requester = TdispRequester(TdispRequesterConfig(REFERENCE_TDI, report_portion=0x20))
    device = full_device()
    engine: RequesterEngine = requester
    handler: VendorHandler = device.handle

    requester.get_version()
    assert [type(e) for e in drive(engine, handler, SESSION)] == [TdispVersionNegotiated]
    requester.get_capabilities()
    assert [type(e) for e in drive(engine, handler, SESSION)] == [TdispCapabilitiesReceived]
    requester.lock(REFERENCE_FLAGS, 0, REFERENCE_OFFSET)
    assert [type(e) for e in drive(engine, handler, SESSION)] == [InterfaceLocked]
    requester.get_report()  # several portions of 0x20 bytes
    assert [type(e) for e in drive(engine, handler, SESSION)] == [InterfaceReportReceived]


def test_an_spdm_error_comes_back_as_the_refusal_event() -> None:
    requester = TdispRequester(TdispRequesterConfig(REFERENCE_TDI))
    device = full_device()
    requester.get_version()
    # in the clear the device answers no TDISP at all: the SPDM responder sends ERROR
    events = drive(requester, device.handle, None)
    assert events == [TdispRequestRefused(REFERENCE_TDI, TdispRequestCode.GET_TDISP_VERSION,
                                          SpdmErrorCode.UNEXPECTED_REQUEST, 0)]
    assert not requester.busy and requester.version is None
    requester.get_version()  # still usable
    assert [type(e) for e in drive(requester, device.handle, SESSION)] == [TdispVersionNegotiated]


def test_an_spdm_error_abandons_a_report_read() -> None:
    requester = TdispRequester(TdispRequesterConfig(REFERENCE_TDI, report_portion=0x20))
    device = full_device()
    requester.get_version()
    drive(requester, device.handle, SESSION)
    requester.lock(REFERENCE_FLAGS, 0, REFERENCE_OFFSET)
    drive(requester, device.handle, SESSION)
    requester.get_report()
    requester.receive_data(device.handle(requester.data_to_send(), SESSION))
    assert requester.next_event() is None and requester.busy  # the next portion is queued
    requester.data_to_send()
    requester.receive_error(SpdmErrorCode.BUSY)
    refusal = requester.next_event()
    assert refusal == TdispRequestRefused(REFERENCE_TDI, TdispRequestCode.GET_DEVICE_INTERFACE_REPORT,
                                          SpdmErrorCode.BUSY)
    assert not requester.busy and requester.report is None
    requester.get_report()  # starts again from offset 0
    assert [type(e) for e in drive(requester, device.handle, SESSION)] == [InterfaceReportReceived]


def test_the_refusal_raises_as_the_spdm_driver_would() -> None:
    refusal = TdispRequestRefused(REFERENCE_TDI, TdispRequestCode.LOCK_INTERFACE_REQUEST,
                                  SpdmErrorCode.UNSUPPORTED_REQUEST, 0xFE)
    error = refusal.to_error()
    assert isinstance(error, RemoteErrorResponse)
    assert (error.code, error.data) == (SpdmErrorCode.UNSUPPORTED_REQUEST, 0xFE)
    assert "LOCK_INTERFACE_REQUEST" in str(error)


def test_an_error_needs_an_outstanding_request() -> None:
    requester = TdispRequester(TdispRequesterConfig(REFERENCE_TDI))
    with pytest.raises(TdispLocalError, match="no TDISP request"):
        requester.receive_error(SpdmErrorCode.BUSY)
    requester.get_version()
    with pytest.raises(TdispLocalError, match="no TDISP request"):  # not sent yet
        requester.receive_error(SpdmErrorCode.BUSY)
    assert requester.busy and requester.data_to_send()


def test_no_timer_runs() -> None:
    requester = TdispRequester(TdispRequesterConfig(REFERENCE_TDI))
    requester.get_version()
    assert requester.get_timer() is None
    with pytest.raises(LocalProtocolError, match="no timer"):
        requester.handle_timer()
    assert requester.busy and requester.data_to_send()
