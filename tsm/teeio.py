"""``connect --ide --tdisp`` and the demo's TEE-IO part: IDE keys, then a TDI through its states.

Runs inside an SPDM session the caller opened and keeps (:class:`spdm.connection.Session`),
through the TSM layer's link helpers, and records one line per step with the TDI's state.
"""

from __future__ import annotations

from dataclasses import field

from ide_km import IdeKmRequester, KeySet
from spdm.connection import Session
from spdm.record import record
from tdisp import TdispRequester, TdispRequesterConfig
from tdisp.events import InterfaceReportReceived, InterfaceStateReceived
from tdisp.messages import LockInterfaceFlags
from tsm.link import VendorChannel, bind_tdi, run, secure_link

__all__ = ["TeeIoSteps"]


@record
class TeeIoSteps:
    """What to do inside the session, and the steps that were done."""

    ide: bool
    tdis: tuple[int, ...] = ()
    stream_id: int = 0
    steps: list[dict[str, object]] = field(default_factory=list)

    def _step(self, name: str, **details: object) -> None:
        self.steps.append({"step": name, **details})

    def run(self, session: Session) -> None:
        """Program the stream's keys, bind and start each TDI, refresh keys, stop everything.

        The session stays open.

        Raises:
            RemoteProtocolError: the device refused a step or a TDI did not reach its state.
            RemoteErrorResponse / VerificationError / TransportError: the session failed.
        """
        channel = VendorChannel.through(session)
        ide = IdeKmRequester()
        if self.ide:
            secure_link(channel, ide, stream_id=self.stream_id)
            self._step("ide_km keys programmed and started", stream=self.stream_id, key_set="K0")
        engines = []
        for tdi in self.tdis:
            tdisp = TdispRequester(TdispRequesterConfig(interface_id=tdi))
            events = bind_tdi(channel, tdisp, flags=LockInterfaceFlags.NO_FW_UPDATE,
                              default_stream_id=self.stream_id)
            report = next(e.report for e in events if isinstance(e, InterfaceReportReceived))
            self._step("tdisp locked, report read, started", tdi=f"0x{tdi:04x}", state="RUN",
                       mmio_ranges=len(report.mmio_ranges))
            engines.append(tdisp)
        if self.ide:
            ide.refresh(self.stream_id)
            run(channel, ide)
            self._step("ide_km key refresh", stream=self.stream_id, key_set="K1",
                       tdi_states=[self._state(channel, t) for t in engines])
        for tdisp in engines:
            tdisp.stop()
            run(channel, tdisp)
            self._step("tdisp stopped", tdi=f"0x{tdisp.interface_id:04x}",
                       state=self._state(channel, tdisp))
        if self.ide:
            ide.set_stop(self.stream_id, KeySet.K1)
            run(channel, ide)
            self._step("ide_km stream stopped", stream=self.stream_id)

    @staticmethod
    def _state(channel: VendorChannel, tdisp: TdispRequester) -> str:
        tdisp.get_state()
        events = run(channel, tdisp)
        return next(e.state.name for e in events if isinstance(e, InterfaceStateReceived))

    @property
    def vendor_protocols(self) -> tuple[str, ...]:
        """The vendor-defined protocols the device answered in the steps done (``ide_km``, ``tdisp``)."""
        return tuple(protocol for protocol in ("ide_km", "tdisp")
                     if any(str(step["step"]).startswith(protocol) for step in self.steps))

    def lines(self) -> list[str]:
        """The steps for a terminal."""
        out = []
        for step in self.steps:
            details = ", ".join(f"{k} {v}" for k, v in step.items() if k != "step")
            out.append(f"  {step['step']}: {details}")
        return out
