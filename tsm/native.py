"""The ``native`` TSM backend: the host runs the SPDM, IDE_KM and TDISP requesters itself.

Each connected device is one :class:`DeviceLink`: its DOE transport, the SPDM
requester with its long-lived session, the IDE_KM engine that programmed the
stream, and a TDISP engine per bound TDI.  The ``psp-proxy`` backend runs the
very same links inside the security-processor process, over a transport that
relays DOE objects through the host.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ide_km import IdeKmRequester, KeySet
from spdm.connection import Connection, Session, connect
from spdm.errors import LocalProtocolError, TransportError
from spdm.events import (
    ChallengeAuthenticated,
    MeasurementsReceived,
    SignedEvidence,
)
from spdm.messages import MeasurementBlock
from spdm.transport import DoeTransport
from tdisp.events import InterfaceReportReceived
from tdisp.messages import TdiState
from tdisp.requester import TdispRequester, TdispRequesterConfig

from .endpoint import read_offered_evidence
from .info import DeviceInfo, LinkState, TdiInfo
from .interface import DeviceTarget, Progress, TdiTarget, Tsm, TsmConfig, no_progress, register_backend
from .link import VendorChannel, lock_tdi, run, secure_link, start_tdi, stop_tdi

__all__ = ["DeviceLink", "NativeTsm"]

log = logging.getLogger(__name__)


class _Tdi:
    """A bound TDI: its engine and what it reported."""

    def __init__(self, target: TdiTarget) -> None:
        self.target = target
        self.engine = TdispRequester(TdispRequesterConfig(interface_id=target.interface_id))
        self.state = TdiState.CONFIG_UNLOCKED
        self.report = b""
        self.mmio_ranges = 0

    def info(self) -> TdiInfo:
        return TdiInfo(bdf=self.target.bdf, dsm=self.target.dsm, interface_id=self.target.interface_id,
                       state=self.state, report=self.report, mmio_ranges=self.mmio_ranges)


class DeviceLink:
    """One connected device: transport, session, IDE stream and TDIs.

    Not thread-safe by itself; :class:`NativeTsm` serializes calls per link.
    """

    def __init__(self, bdf: str, transport: DoeTransport, config: TsmConfig, tsm_name: str) -> None:
        self.bdf = bdf
        self._transport = transport
        self._config = config
        self._tsm_name = tsm_name
        self._ide = IdeKmRequester(rng=config.rng)
        self._connection: Connection | None = None
        self._session: Session | None = None
        self._signatures: list[SignedEvidence] = []
        self._measurements: tuple[MeasurementBlock, ...] = ()
        self._mel = b""
        self._streams: tuple[int, ...] = ()
        self._tdis: dict[str, _Tdi] = {}
        self.state = LinkState.DISCONNECTED

    # ------------------------------------------------------------------ operations

    def connect(self, progress: Progress) -> None:
        """Authenticate, open the session, program and start the stream's keys."""
        progress("SPDM: discovery, VCA, certificates, challenge, signed measurements")
        connection = connect(self._transport, self._config.requester, now=self._config.clock(),
                             slot_id=self._config.slot_id, rng=self._config.rng)
        self._connection = connection
        for event in connection.report.events:
            if isinstance(event, ChallengeAuthenticated):
                self._signatures.append(event.evidence)
            elif isinstance(event, MeasurementsReceived):
                self._record(event)
        endpoint = read_offered_evidence(connection)
        if endpoint is not None:
            progress("SPDM: GET_ENDPOINT_INFO (signed), GET_MEASUREMENT_EXTENSION_LOG, as offered")
            if endpoint.endpoint_info is not None and endpoint.endpoint_info.evidence is not None:
                self._signatures.append(endpoint.endpoint_info.evidence)
            if endpoint.mel is not None:
                self._mel = endpoint.mel.raw
        progress("SPDM: KEY_EXCHANGE, FINISH")
        self._session = connection.open_session()
        progress(f"IDE_KM: QUERY, KEY_PROG x6, K_SET_GO (stream {self._config.stream_id})")
        secure_link(VendorChannel.through(self._session), self._ide, stream_id=self._config.stream_id)
        self._streams = (self._config.stream_id,)
        self.state = LinkState.CONNECTED

    def disconnect(self, progress: Progress) -> None:
        """Stop running TDIs, K_SET_STOP, END_SESSION; the transport is closed in any case."""
        try:
            channel = self._channel()
            for tdi in self._tdis.values():
                if tdi.state in (TdiState.CONFIG_LOCKED, TdiState.RUN):
                    progress(f"TDISP: STOP {tdi.target.bdf}")
                    stop_tdi(channel, tdi.engine)
                    tdi.state = TdiState.CONFIG_UNLOCKED
            for stream_id in self._streams:
                key_set = self._ide.active_key_set(stream_id) or KeySet.K0
                progress(f"IDE_KM: K_SET_STOP (stream {stream_id})")
                self._ide.set_stop(stream_id, key_set)
                run(channel, self._ide)
            self._streams = ()
            progress("SPDM: END_SESSION")
            self._open_session().close()
            self._session = None
            self.state = LinkState.DISCONNECTED
        finally:
            self.close()

    def bind(self, target: TdiTarget, progress: Progress) -> TdiInfo:
        """LOCK_INTERFACE and the interface report."""
        known = self._tdis.get(target.bdf)
        if known is not None and known.state != TdiState.CONFIG_UNLOCKED:
            raise LocalProtocolError(f"TDI {target.bdf} is already bound ({known.state.name})")
        tdi = _Tdi(target)
        progress(f"TDISP: LOCK_INTERFACE, DEVICE_INTERFACE_REPORT ({target.bdf}, "
                 f"FUNCTION_ID 0x{target.interface_id:04x})")
        events = lock_tdi(self._channel(), tdi.engine, flags=self._config.lock_flags,
                          default_stream_id=self._config.stream_id)
        received = next(e for e in events if isinstance(e, InterfaceReportReceived))
        tdi.report, tdi.mmio_ranges = received.raw, len(received.report.mmio_ranges)
        tdi.state = TdiState.CONFIG_LOCKED
        self._tdis[target.bdf] = tdi
        return tdi.info()

    def accept(self, target: TdiTarget, progress: Progress) -> TdiInfo:
        """START_INTERFACE."""
        tdi = self._bound(target, TdiState.CONFIG_LOCKED)
        progress(f"TDISP: START_INTERFACE ({target.bdf})")
        start_tdi(self._channel(), tdi.engine)
        tdi.state = TdiState.RUN
        return tdi.info()

    def unbind(self, target: TdiTarget, progress: Progress) -> TdiInfo:
        """STOP_INTERFACE."""
        tdi = self._bound(target, None)
        progress(f"TDISP: STOP_INTERFACE ({target.bdf})")
        stop_tdi(self._channel(), tdi.engine)
        tdi.state = TdiState.CONFIG_UNLOCKED
        return tdi.info()

    def refresh(self, nonce: bytes, progress: Progress) -> None:
        """Signed GET_MEASUREMENTS over ``nonce`` inside the session."""
        if len(nonce) != 32:
            raise LocalProtocolError(f"the evidence nonce must be 32 bytes, not {len(nonce)}")
        session = self._open_session()
        progress("SPDM: GET_MEASUREMENTS (signed, in session)")
        self._record(session.measure(nonce))

    def lost(self, exc: BaseException) -> bool:
        """Whether ``exc`` cost the link its session; if so the link and its TDIs go to ERROR."""
        session, connection = self._session, self._connection
        gone = isinstance(exc, TransportError) or (
            session is not None and connection is not None
            and session.session_id not in connection.driver.requester.sessions)
        if gone:
            log.warning("%s: link lost: %s", self.bdf, exc)
            self.state = LinkState.ERROR
            for tdi in self._tdis.values():
                tdi.state = TdiState.ERROR
            self.close()
        return gone

    # ------------------------------------------------------------------ reporting

    def info(self) -> DeviceInfo:
        """What this link knows, as values."""
        if self._connection is None:
            raise LocalProtocolError(f"{self.bdf} was never authenticated")
        report = self._connection.report
        negotiated = report.negotiated
        certificates = {report.slot_id: b"".join(c.der for c in report.chain.certificates)}
        return DeviceInfo(
            bdf=self.bdf, tsm=self._tsm_name, state=self.state, version=negotiated.version,
            hash_alg=negotiated.hash_alg, asym_alg=negotiated.signing_alg,
            measurement_hash_alg=negotiated.measurement_hash_alg, dhe_group=negotiated.dhe_group,
            aead_suite=negotiated.aead_suite, capabilities=negotiated.responder_flags,
            doe_features=tuple(report.protocols), certificates=certificates,
            signatures=tuple(self._signatures), measurements=self._measurements,
            streams=self._streams, tdis=tuple(t.info() for t in self._tdis.values()), mel=self._mel,
            kem_alg=negotiated.kem_alg,
        )

    def tdi_info(self, bdf: str) -> TdiInfo:
        """One TDI's info.

        Raises:
            LocalProtocolError: the TDI was never bound through this link.
        """
        tdi = self._tdis.get(bdf)
        if tdi is None:
            raise LocalProtocolError(f"TDI {bdf} was never bound")
        return tdi.info()

    def close(self) -> None:
        """Close the transport; the session is abandoned."""
        self._transport.close()

    # ------------------------------------------------------------------ helpers

    def _record(self, event: MeasurementsReceived) -> None:
        if event.evidence is not None:
            self._signatures.append(event.evidence)
        self._measurements = event.blocks

    def _open_session(self) -> Session:
        if self._session is None or self.state != LinkState.CONNECTED:
            raise LocalProtocolError(f"{self.bdf} is not connected ({self.state.value})")
        return self._session

    def _channel(self) -> VendorChannel:
        return VendorChannel.through(self._open_session())

    def _bound(self, target: TdiTarget, state: TdiState | None) -> _Tdi:
        tdi = self._tdis.get(target.bdf)
        if tdi is None or tdi.state == TdiState.CONFIG_UNLOCKED:
            raise LocalProtocolError(f"TDI {target.bdf} is not bound")
        if state is not None and tdi.state != state:
            raise LocalProtocolError(f"TDI {target.bdf} is {tdi.state.name}, not {state.name}")
        return tdi


class NativeTsm(Tsm):
    """The host as TSM: one :class:`DeviceLink` per connected device, one lock per link."""

    name = "native"

    def __init__(self, config: TsmConfig, *, name: str = "native") -> None:
        """Args:
            config: how to authenticate devices and set up links.
            name: the name the evidence reports (the psp-proxy process runs this class too).
        """
        self.name = name
        self._config = config
        self._links: dict[str, DeviceLink] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._registry = threading.Lock()

    def _lock(self, bdf: str) -> threading.Lock:
        with self._registry:
            return self._locks.setdefault(bdf, threading.Lock())

    def _link(self, bdf: str) -> DeviceLink:
        link = self._links.get(bdf)
        if link is None:
            raise LocalProtocolError(f"{bdf} has never been connected by this TSM")
        return link

    def _guarded(self, link: DeviceLink, operation: Callable[[], object]) -> None:
        """Run an operation on a link; a failure that loses the session marks the link ERROR."""
        try:
            operation()
        except Exception as exc:
            link.lost(exc)
            raise

    def connect(self, device: DeviceTarget, progress: Progress = no_progress) -> DeviceInfo:
        with self._lock(device.bdf):
            known = self._links.get(device.bdf)
            if known is not None and known.state == LinkState.CONNECTED:
                raise LocalProtocolError(f"{device.bdf} is already connected")
            progress(f"opening the DOE mailbox of {device.bdf}")
            transport = device.open()
            link = DeviceLink(device.bdf, transport, self._config, self.name)
            try:
                link.connect(progress)
            except BaseException:
                transport.close()
                raise
            self._links[device.bdf] = link
            return link.info()

    def disconnect(self, bdf: str, progress: Progress = no_progress) -> DeviceInfo:
        with self._lock(bdf):
            link = self._link(bdf)
            self._guarded(link, lambda: link.disconnect(progress))
            return link.info()

    def _tdi_op(self, tdi: TdiTarget, operation: Callable[[DeviceLink], object]) -> TdiInfo:
        """Run a TDI operation on its DSM's link, under the DSM's lock."""
        with self._lock(tdi.dsm):
            link = self._link(tdi.dsm)
            self._guarded(link, lambda: operation(link))
            return link.tdi_info(tdi.bdf)

    def bind(self, tdi: TdiTarget, progress: Progress = no_progress) -> TdiInfo:
        return self._tdi_op(tdi, lambda link: link.bind(tdi, progress))

    def accept(self, tdi: TdiTarget, progress: Progress = no_progress) -> TdiInfo:
        return self._tdi_op(tdi, lambda link: link.accept(tdi, progress))

    def unbind(self, tdi: TdiTarget, progress: Progress = no_progress) -> TdiInfo:
        return self._tdi_op(tdi, lambda link: link.unbind(tdi, progress))

    def info(self, bdf: str) -> DeviceInfo:
        with self._lock(bdf):
            return self._link(bdf).info()

    def refresh_evidence(self, bdf: str, nonce: bytes, progress: Progress = no_progress) -> DeviceInfo:
        with self._lock(bdf):
            link = self._link(bdf)
            self._guarded(link, lambda: link.refresh(nonce, progress))
            return link.info()

    def close(self) -> None:
        """Close every link's transport (sessions are abandoned, not ended)."""
        with self._registry:
            links = list(self._links.values())
        for link in links:
            link.close()


register_backend(NativeTsm.name, NativeTsm)
