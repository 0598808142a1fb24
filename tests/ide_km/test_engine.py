"""The IDE_KM engines speak spdm.engine's one calling convention.

Statically (mypy checks the annotated assignments) IdeKmRequester is a
RequesterEngine and IdeKmDevice.handle a VendorHandler; at run time a driver
that knows only those two Protocols programs and starts a stream, and a
refusal the device answers with an SPDM ERROR comes back through
``receive_error`` as the engine's RequestRefused event.
"""

from __future__ import annotations

import pytest

from ide_km import (
    IdeKmDevice,
    IdeKmDeviceConfig,
    IdeKmRequester,
    KeySet,
    KeySetActivated,
    KeySetProgrammed,
    PortConfig,
    PortQueried,
    RequestRefused,
    StreamState,
)
from spdm.engine import RequesterEngine, VendorHandler
from spdm.errors import LocalProtocolError, ProtocolError, SpdmErrorCode

from .pair import SESSION, Counter


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
    requester = IdeKmRequester(rng=Counter())
    device = IdeKmDevice(IdeKmDeviceConfig((PortConfig.selective((0,)),)))
    engine: RequesterEngine = requester
    handler: VendorHandler = device.handle

    requester.query(0)
    assert [type(e) for e in drive(engine, handler, SESSION)] == [PortQueried]
    requester.program_key_set(0, KeySet.K0)
    assert [type(e) for e in drive(engine, handler, SESSION)] == [KeySetProgrammed]
    requester.set_go(0, KeySet.K0)
    assert [type(e) for e in drive(engine, handler, SESSION)] == [KeySetActivated, KeySetActivated]
    assert device.stream_state(0, 0) == StreamState.SECURE


def test_an_spdm_error_comes_back_as_the_refusal_event() -> None:
    requester = IdeKmRequester(rng=Counter())
    device = IdeKmDevice(IdeKmDeviceConfig((PortConfig.selective((0,)),)))
    requester.set_go(0, KeySet.K1)
    events = drive(requester, device.handle, SESSION)
    assert events == [RequestRefused("K_SET_GO", SpdmErrorCode.UNEXPECTED_REQUEST, 0)]
    assert not requester.busy
    requester.query(0)  # still usable
    assert [type(e) for e in drive(requester, device.handle, SESSION)] == [PortQueried]


def test_no_timer_runs() -> None:
    requester = IdeKmRequester()
    requester.query(0)
    assert requester.get_timer() is None
    with pytest.raises(LocalProtocolError, match="no timer"):
        requester.handle_timer()
    assert requester.busy and requester.data_to_send()  # nothing changed
