"""Host side: the IDE_KM and TDISP requesters driven through an SPDM secure session.

A :class:`VendorChannel` carries one payload at a time in VENDOR_DEFINED
(StandardID 3, VendorID 0x0001) inside an established session;
:func:`run` drives any of the two sans-IO requesters over it until the
command is done and returns its events.  :func:`secure_link` and
:func:`bind_tdi` are the flows the TSM runs: program and start the selective
stream's keys; lock a TDI, fetch its report, start it.
"""

from __future__ import annotations

from collections.abc import Callable

from ide_km import IdeKmRequester, KeyProgrammingFailed, KeySet, PortQueried, RequestRefused
from spdm.connection import Session
from spdm.driver import RequesterDriver
from spdm.engine import RequesterEngine
from spdm.errors import RemoteErrorResponse, RemoteProtocolError
from spdm.events import Event, VendorResponseReceived
from spdm.messages import PCI_SIG_STANDARD_ID, PCI_SIG_VENDOR_ID
from spdm.record import record
from spdm.requester import Requester
from tdisp.events import (
    InterfaceStateReceived,
    TdispErrorReceived,
    TdispRequestRefused,
    TdispVersionNegotiated,
)
from tdisp.messages import LockInterfaceFlags, TdiState
from tdisp.requester import TdispRequester, TdispRequesterConfig

__all__ = ["VendorChannel", "bind_tdi", "lock_tdi", "probe", "run", "secure_link", "start_tdi", "stop_tdi"]


@record
class VendorChannel:
    """PCI-SIG vendor payloads through one SPDM session."""

    driver: RequesterDriver
    requester: Requester
    session_id: int

    @classmethod
    def through(cls, session: Session) -> VendorChannel:
        """The channel through an open SPDM session (:meth:`spdm.connection.Connection.open_session`)."""
        return cls(session.driver, session.driver.requester, session.session_id)

    def exchange(self, payload: bytes) -> bytes:
        """One VENDOR_DEFINED round trip; the response payload.

        Raises:
            RemoteErrorResponse: the device answered with an SPDM ERROR.
        """
        events: list[Event] = self.driver.run(lambda: self.requester.vendor_defined(
            PCI_SIG_STANDARD_ID, PCI_SIG_VENDOR_ID, payload, session_id=self.session_id))
        return next(e.payload for e in events if isinstance(e, VendorResponseReceived))


def run(channel: VendorChannel, engine: RequesterEngine) -> list[object]:
    """Exchange the engine's payloads until its command is done; its events, in order.

    An SPDM ERROR answering a request is handed to the engine, which reports
    its refusal event (IDE_KM :class:`RequestRefused`, TDISP
    :class:`TdispRequestRefused`).
    """
    events: list[object] = []
    while True:
        payload = engine.data_to_send()
        if payload:
            try:
                engine.receive_data(channel.exchange(payload))
            except RemoteErrorResponse as exc:
                engine.receive_error(exc.code, exc.data)
        while (event := engine.next_event()) is not None:
            events.append(event)
        if not engine.busy and not payload:
            return events


def _refused(events: list[object], what: str) -> None:
    """Raise the first refusal among ``events``, with the device's code where it sent one.

    Raises:
        TdispErrorResponse: a TDISP_ERROR (its ERROR_CODE, ERROR_DATA, extended data).
        RemoteErrorResponse: an SPDM ERROR answering IDE_KM or TDISP (its code and data).
        RemoteProtocolError: a KP_ACK refusing a key.
    """
    for event in events:
        if isinstance(event, TdispErrorReceived | TdispRequestRefused):
            raise event.to_error()
        if isinstance(event, RequestRefused):
            raise RemoteErrorResponse(f"{what}: the device refused {event.request} with SPDM ERROR "
                                      f"0x{event.error_code:02x} (data 0x{event.error_data:02x})",
                                      code=event.error_code, data=event.error_data)
        if isinstance(event, KeyProgrammingFailed):
            raise RemoteProtocolError(f"{what}: the device refused: {event}")


def secure_link(channel: VendorChannel, ide: IdeKmRequester, *, stream_id: int = 0,
                key_set: KeySet = KeySet.K0, port_index: int = 0) -> list[object]:
    """QUERY the port, program the six keys of a key set, K_SET_GO (Rx then Tx).

    Returns:
        The IDE_KM events (the programmed keys are in KeySetProgrammed, for
        the host's own root port).

    Raises:
        RemoteProtocolError: a step was refused.
    """
    events: list[object] = []
    commands: tuple[Callable[[], None], ...] = (
        lambda: ide.query(port_index),
        lambda: ide.program_key_set(stream_id, key_set, port_index),
        lambda: ide.set_go(stream_id, key_set, port_index),
    )
    for command in commands:
        command()
        step = run(channel, ide)
        _refused(step, "IDE_KM")
        events += step
    return events


def _steps(channel: VendorChannel, tdisp: TdispRequester, commands: tuple[Callable[[], None], ...],
           expect: TdiState | None) -> list[object]:
    """Run TDISP commands in order; the last reported state must be ``expect`` (unless None)."""
    events: list[object] = []
    for command in commands:
        command()
        step = run(channel, tdisp)
        _refused(step, "TDISP")
        events += step
    states = [e.state for e in events if isinstance(e, InterfaceStateReceived)]
    if expect is not None and states[-1:] != [expect]:
        raise RemoteProtocolError(
            f"TDI 0x{tdisp.config.interface_id:04x} is not {expect.name}: {[s.name for s in states]}")
    return events


def lock_tdi(channel: VendorChannel, tdisp: TdispRequester, *, flags: LockInterfaceFlags,
             default_stream_id: int = 0, mmio_reporting_offset: int = 0) -> list[object]:
    """TDISP version, capabilities, state, LOCK, the report (in portions); state must be CONFIG_LOCKED.

    A TDI the device still holds in ERROR (its previous session was lost) is
    STOPped first: ERROR only leaves through STOP_INTERFACE, and nothing else
    would ever bring it back once the session that bound it is gone.

    Raises:
        RemoteProtocolError: a step was refused or the TDI is not locked at the end.
    """
    events = _steps(channel, tdisp, (tdisp.get_version, tdisp.get_capabilities, tdisp.get_state), None)
    if tdisp.state == TdiState.ERROR:
        events += stop_tdi(channel, tdisp)
    return events + _steps(channel, tdisp, (
        lambda: tdisp.lock(flags, default_stream_id, mmio_reporting_offset),
        tdisp.get_report, tdisp.get_state,
    ), TdiState.CONFIG_LOCKED)


def start_tdi(channel: VendorChannel, tdisp: TdispRequester) -> list[object]:
    """START_INTERFACE with the nonce LOCK returned; state must be RUN.

    Raises:
        RemoteProtocolError: refused, or the TDI is not running at the end.
    """
    return _steps(channel, tdisp, (tdisp.start, tdisp.get_state), TdiState.RUN)


def stop_tdi(channel: VendorChannel, tdisp: TdispRequester) -> list[object]:
    """STOP_INTERFACE; state must be CONFIG_UNLOCKED.

    Raises:
        RemoteProtocolError: refused, or the TDI did not return to CONFIG_UNLOCKED.
    """
    return _steps(channel, tdisp, (tdisp.stop, tdisp.get_state), TdiState.CONFIG_UNLOCKED)


def bind_tdi(channel: VendorChannel, tdisp: TdispRequester, *, flags: LockInterfaceFlags,
             default_stream_id: int = 0, mmio_reporting_offset: int = 0) -> list[object]:
    """:func:`lock_tdi` then :func:`start_tdi`: the TDI ends in RUN.

    Raises:
        RemoteProtocolError: a step was refused or the TDI is not running at the end.
    """
    return (lock_tdi(channel, tdisp, flags=flags, default_stream_id=default_stream_id,
                     mmio_reporting_offset=mmio_reporting_offset)
            + start_tdi(channel, tdisp))


def probe(channel: VendorChannel, interface_id: int) -> tuple[str, ...]:
    """Which PCI-SIG protocols the device answers in this session: ``ide_km``, ``tdisp``.

    IDE_KM: QUERY for port 0 is answered.  TDISP: GET_TDISP_VERSION for
    ``interface_id`` gets a TDISP answer (a TDISP ERROR counts: the device
    speaks TDISP, only not for that interface).  An SPDM ERROR (no handler
    for the protocol) means no.  Used where a policy requires IDE or TDISP
    and nothing else would show whether the device has them.

    Raises:
        TransportError / VerificationError: the session itself failed.
    """
    found: list[str] = []
    ide = IdeKmRequester()
    ide.query(0)
    if any(isinstance(e, PortQueried) for e in run(channel, ide)):
        found.append("ide_km")
    tdisp = TdispRequester(TdispRequesterConfig(interface_id=interface_id))
    tdisp.get_version()
    events = run(channel, tdisp)  # an SPDM ERROR comes back as TdispRequestRefused: not TDISP
    if any(isinstance(e, TdispVersionNegotiated | TdispErrorReceived) for e in events):
        found.append("tdisp")
    return tuple(found)
