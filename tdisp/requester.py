"""The TDISP requester (the TSM side) for one TDI: a sans-IO engine (STYLE R2).

Commands queue one request; :meth:`TdispRequester.data_to_send` hands out the
TDISP payload to carry in a VENDOR_DEFINED_REQUEST (inside the secured
session); the VENDOR_DEFINED_RESPONSE payload goes back in through
:meth:`~TdispRequester.receive_data`, and :meth:`~TdispRequester.next_event`
turns it into an event.  One request is outstanding at a time, which keeps
within any NUM_REQ_THIS/NUM_REQ_ALL a device can state (the reference device
states 0, which we read as "not stated").  The report is fetched in portions
without the caller's help: a portion that leaves a remainder queues the next
GET_DEVICE_INTERFACE_REPORT, and the event comes once the report is whole.

A TDISP_ERROR is an event (:class:`~tdisp.events.TdispErrorReceived`), not an
exception: the TDI refused one request and the engine stays usable.  So is an
SPDM ERROR answering a TDISP request, which the carrier reports through
:meth:`~TdispRequester.receive_error` (:class:`~tdisp.events.TdispRequestRefused`).
The engine satisfies :class:`spdm.engine.RequesterEngine`; it runs no timer
(:meth:`~TdispRequester.get_timer` is always None).  A
response that breaks the protocol (wrong type, wrong TDI, inconsistent
portions, malformed) raises :class:`~spdm.errors.RemoteProtocolError` and
poisons the engine.
"""

from __future__ import annotations

import logging

from spdm.errors import ConfigurationError, LocalProtocolError, NegotiationError, RemoteProtocolError
from spdm.record import record

from .errors import TdispLocalError, error_name
from .events import (
    InterfaceLocked,
    InterfaceReportReceived,
    InterfaceStarted,
    InterfaceStateReceived,
    InterfaceStopped,
    MmioAttributeSet,
    P2pStreamBound,
    P2pStreamUnbound,
    TdispCapabilitiesReceived,
    TdispErrorReceived,
    TdispEvent,
    TdispRequestRefused,
    TdispVersionNegotiated,
)
from .messages import (
    MANDATORY_REQUESTS,
    RESPONSES,
    TDISP_VERSION_1_0,
    BindP2pStreamRequest,
    DeviceInterfaceReport,
    DeviceInterfaceState,
    GetDeviceInterfaceReport,
    GetDeviceInterfaceState,
    GetTdispCapabilities,
    GetTdispVersion,
    InterfaceReport,
    LockInterfaceFlags,
    LockInterfaceRequest,
    LockInterfaceResponse,
    MmioRange,
    SetMmioAttributeRequest,
    StartInterfaceRequest,
    StopInterfaceRequest,
    TdispCapabilities,
    TdispErrorMessage,
    TdispMessage,
    TdispRequestCode,
    TdispResponseCode,
    TdispVersion,
    TdiState,
    UnbindP2pStreamRequest,
    peek_header,
)
from .messages.codes import NONCE_SIZE
from .state import target_state

__all__ = ["MAX_REPORT_OFFSET", "TdispRequester", "TdispRequesterConfig"]

logger = logging.getLogger(__name__)

MAX_REPORT_OFFSET = 0xFFFF
"""GET_DEVICE_INTERFACE_REPORT's OFFSET is 16 bits: no portion can start past it."""


@record(frozen=True, slots=True)
class TdispRequesterConfig:
    """What the TSM wants from one TDI.

    Attributes:
        interface_id: FUNCTION_ID of the TDI (b[15:0] Requester ID, b[23:16]
            segment, b24 segment valid).
        versions: the TDISP versions we speak; the highest one the device also lists is chosen.
        report_portion: LENGTH of each GET_DEVICE_INTERFACE_REPORT (our receive
            buffer, 1-0xFFFF; 0xFFFF with offset 0 asks for the whole report).
    """

    interface_id: int
    versions: tuple[int, ...] = (TDISP_VERSION_1_0,)
    report_portion: int = 0x400

    def __post_init__(self) -> None:
        """Raises ConfigurationError for a FUNCTION_ID, portion or version that cannot work."""
        if not 0 <= self.interface_id <= 0xFFFFFFFF:
            raise ConfigurationError(f"FUNCTION_ID 0x{self.interface_id:x} does not fit 32 bits")
        if not 1 <= self.report_portion <= 0xFFFF:
            raise ConfigurationError(f"report_portion {self.report_portion} is not 1-65535")
        if not self.versions or any(v >> 4 != 1 for v in self.versions):
            raise ConfigurationError("versions must list TDISP 1.x versions")


class TdispRequester:
    """Drive one TDI through TDISP: version, capabilities, lock, report, start, stop, P2P, MMIO.

    Args:
        config: the TDI and our limits.
    """

    def __init__(self, config: TdispRequesterConfig) -> None:
        self.config = config
        self._version: int | None = None
        self._capabilities: TdispCapabilities | None = None
        self._nonce: bytes | None = None
        self._state: TdiState | None = None
        self._report: InterfaceReport | None = None
        self._pending: TdispMessage | None = None
        self._outbound = b""
        self._inbound: bytes | None = None
        self._portions = bytearray()
        self._remainder: int | None = None
        self._poisoned: str | None = None
        self._refusal: TdispRequestRefused | None = None

    # --- what we know ----------------------------------------------------------------------

    @property
    def interface_id(self) -> int:
        """FUNCTION_ID of our TDI."""
        return self.config.interface_id

    @property
    def version(self) -> int | None:
        """The negotiated TDISP version, None before TDISP_VERSION."""
        return self._version

    @property
    def capabilities(self) -> TdispCapabilities | None:
        """The device's TDISP_CAPABILITIES, None before they arrived."""
        return self._capabilities

    @property
    def state(self) -> TdiState | None:
        """The TDI state as last reported or implied by a successful request; None when unknown."""
        return self._state

    @property
    def start_interface_nonce(self) -> bytes | None:
        """The nonce of the last successful LOCK, until START or STOP uses it up."""
        return self._nonce

    @property
    def report(self) -> InterfaceReport | None:
        """The last complete TDI report."""
        return self._report

    @property
    def busy(self) -> bool:
        """A request (or a report read in portions) is waiting for its answer."""
        return self._pending is not None

    # --- commands --------------------------------------------------------------------------

    def get_version(self) -> None:
        """Queue GET_TDISP_VERSION (always TDISPVersion 1.0).

        Raises:
            TdispLocalError: busy or poisoned.
        """
        self._send(GetTdispVersion(self.interface_id, version=TDISP_VERSION_1_0))

    def get_capabilities(self) -> None:
        """Queue GET_TDISP_CAPABILITIES.

        Raises:
            TdispLocalError: busy, poisoned, or no version negotiated yet.
        """
        self._send(GetTdispCapabilities(self.interface_id, version=self._negotiated()))

    def lock(
        self,
        flags: LockInterfaceFlags,
        default_stream_id: int,
        mmio_reporting_offset: int = 0,
        bind_p2p_address_mask: int = 0,
    ) -> None:
        """Queue LOCK_INTERFACE_REQUEST.

        Args:
            flags: the lock flags the TSM wants.
            default_stream_id: the IDE stream whose keys this session programmed.
            mmio_reporting_offset: signed offset the device adds to reported MMIO addresses.
            bind_p2p_address_mask: valid with ``flags`` BIND_P2P.

        Raises:
            TdispLocalError: busy, poisoned, no version yet, or a flag the
                device's capabilities do not list.
            LocalProtocolError: a value does not fit its field.
        """
        caps = self._capabilities
        if caps is not None and flags & ~caps.lock_interface_flags_supported:
            raise TdispLocalError(
                f"the device does not support lock flags "
                f"{LockInterfaceFlags(flags & ~caps.lock_interface_flags_supported)!r}")
        self._send(LockInterfaceRequest(
            self.interface_id, flags=flags, default_stream_id=default_stream_id,
            mmio_reporting_offset=mmio_reporting_offset, bind_p2p_address_mask=bind_p2p_address_mask,
            version=self._negotiated()))

    def get_report(self) -> None:
        """Queue the first GET_DEVICE_INTERFACE_REPORT; later portions follow by themselves.

        Raises:
            TdispLocalError: busy, poisoned, or no version yet.
        """
        self._portions.clear()
        self._remainder = None
        self._send(GetDeviceInterfaceReport(
            self.interface_id, offset=0, length=self.config.report_portion, version=self._negotiated()))

    def get_state(self) -> None:
        """Queue GET_DEVICE_INTERFACE_STATE.

        Raises:
            TdispLocalError: busy, poisoned, or no version yet.
        """
        self._send(GetDeviceInterfaceState(self.interface_id, version=self._negotiated()))

    def start(self, nonce: bytes | None = None) -> None:
        """Queue START_INTERFACE_REQUEST.

        Args:
            nonce: START_INTERFACE_NONCE; by default the one our last LOCK
                returned (pass one to start a TDI another requester locked).

        Raises:
            TdispLocalError: busy, poisoned, no version yet, or no nonce.
        """
        nonce = self._nonce if nonce is None else nonce
        if nonce is None:
            raise TdispLocalError("START_INTERFACE_REQUEST needs the nonce of a LOCK_INTERFACE_RESPONSE")
        if len(nonce) != NONCE_SIZE:
            raise TdispLocalError(f"a START_INTERFACE_NONCE has {NONCE_SIZE} bytes, not {len(nonce)}")
        self._send(StartInterfaceRequest(
            self.interface_id, start_interface_nonce=bytes(nonce), version=self._negotiated()))

    def stop(self) -> None:
        """Queue STOP_INTERFACE_REQUEST.

        Raises:
            TdispLocalError: busy, poisoned, or no version yet.
        """
        self._send(StopInterfaceRequest(self.interface_id, version=self._negotiated()))

    def bind_p2p(self, p2p_stream_id: int) -> None:
        """Queue BIND_P2P_STREAM_REQUEST.

        Raises:
            TdispLocalError: busy, poisoned, no version yet, or the device does not support it.
            LocalProtocolError: the stream ID does not fit a byte.
        """
        self._send(BindP2pStreamRequest(
            self.interface_id, p2p_stream_id=p2p_stream_id, version=self._negotiated()))

    def unbind_p2p(self, p2p_stream_id: int) -> None:
        """Queue UNBIND_P2P_STREAM_REQUEST.

        Raises:
            TdispLocalError: busy, poisoned, no version yet, or the device does not support it.
            LocalProtocolError: the stream ID does not fit a byte.
        """
        self._send(UnbindP2pStreamRequest(
            self.interface_id, p2p_stream_id=p2p_stream_id, version=self._negotiated()))

    def set_mmio_attribute(self, mmio_range: MmioRange) -> None:
        """Queue SET_MMIO_ATTRIBUTE_REQUEST for a range of the report.

        Args:
            mmio_range: the range as reported (offset added), with the wanted
                IS_NON_TEE_MEM attribute.

        Raises:
            TdispLocalError: busy, poisoned, no version yet, or the device does not support it.
            LocalProtocolError: a value does not fit its field.
        """
        self._send(SetMmioAttributeRequest(
            self.interface_id, mmio_range=mmio_range, version=self._negotiated()))

    # --- bytes in and out ------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """The queued request's TDISP payload (b"" when nothing is queued)."""
        data, self._outbound = self._outbound, b""
        return data

    def receive_data(self, payload: bytes | bytearray | memoryview) -> None:
        """Buffer the VENDOR_DEFINED_RESPONSE payload answering our request.

        Raises:
            TdispLocalError: poisoned, no request was sent, or a response is already buffered.
        """
        self._check_usable()
        if self._pending is None or self._outbound:
            raise TdispLocalError("no TDISP request is waiting for an answer")
        if self._inbound is not None:
            raise TdispLocalError("a TDISP response is already waiting for next_event()")
        self._inbound = bytes(payload)

    def receive_error(self, error_code: int, error_data: int = 0) -> None:
        """The device answered the outstanding request with an SPDM ERROR (reported by the carrier).

        :meth:`next_event` then gives :class:`~tdisp.events.TdispRequestRefused`;
        a report read in portions is abandoned.  The TDI state is not changed.

        Raises:
            TdispLocalError: poisoned, no request was sent, or a response is already buffered.
        """
        self._check_usable()
        request = self._pending
        if request is None or self._outbound or self._inbound is not None or self._refusal is not None:
            raise TdispLocalError("an SPDM ERROR arrived but no TDISP request is waiting for an answer")
        code = TdispRequestCode(request.CODE)
        logger.debug("TDISP %s for TDI 0x%08x refused with SPDM ERROR 0x%02x", code.name, self.interface_id,
                     error_code)
        self._pending = None
        self._remainder = None
        self._portions.clear()
        self._refusal = TdispRequestRefused(self.interface_id, code, error_code, error_data)

    def get_timer(self) -> float | None:
        """Always None: TDISP waits for nothing on its own (the SPDM carrier times its exchanges)."""
        return None

    def handle_timer(self) -> None:
        """No timer runs, so none can expire.

        Raises:
            TdispLocalError: always.
        """
        raise TdispLocalError("the TDISP requester runs no timer")

    def next_event(self) -> TdispEvent | None:
        """The next event, or None when the answer (or the next report portion) is still to come.

        Raises:
            RemoteProtocolError: the response breaks the protocol (the engine
                is poisoned; DecodeError for malformed bytes).
            NegotiationError: the device lists no TDISP version we speak (poisoned).
            TdispLocalError: the engine was poisoned before.
        """
        self._check_usable()
        refusal, self._refusal = self._refusal, None
        if refusal is not None:
            return refusal
        data, self._inbound = self._inbound, None
        if data is None:
            return None
        try:
            return self._process(data)
        except (RemoteProtocolError, NegotiationError) as exc:
            self._poisoned = str(exc)
            self._pending = None
            raise

    # --- internals -------------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self._poisoned is not None:
            raise TdispLocalError(f"the TDISP requester is unusable after: {self._poisoned}")

    def _negotiated(self) -> int:
        if self._version is None:
            raise TdispLocalError("no TDISP version negotiated yet: call get_version() first")
        return self._version

    def _send(self, request: TdispMessage) -> None:
        self._check_usable()
        if self.busy:
            raise TdispLocalError("a TDISP request is already outstanding")
        code = TdispRequestCode(request.CODE)
        caps = self._capabilities
        if caps is not None and code not in MANDATORY_REQUESTS and code not in caps.req_msgs_supported:
            raise TdispLocalError(f"the device does not support {code.name}")
        try:
            self._outbound = request.encode()
        except LocalProtocolError as exc:
            raise TdispLocalError(str(exc)) from exc
        self._pending = request
        logger.debug("TDISP %s for TDI 0x%08x queued", code.name, self.interface_id)

    def _process(self, data: bytes) -> TdispEvent | None:
        request = self._pending
        assert request is not None
        code = TdispRequestCode(request.CODE)
        head = peek_header(data)
        if head.interface_id != self.interface_id:
            raise RemoteProtocolError(
                f"the answer to {code.name} is about TDI 0x{head.interface_id:08x}, "
                f"not 0x{self.interface_id:08x}")
        # GET_TDISP_VERSION and its answer always carry 1.0 (PCIe 6.x §11.3.4)
        expected_version = TDISP_VERSION_1_0 if self._version is None or isinstance(
            request, GetTdispVersion) else self._version
        if head.version != expected_version:
            raise RemoteProtocolError(
                f"the answer to {code.name} carries TDISPVersion 0x{head.version:02x}, "
                f"not 0x{expected_version:02x}")
        if head.message_type == TdispResponseCode.TDISP_ERROR:
            return self._refused(code, TdispErrorMessage.decode(data))
        expected = code - 0x80
        if head.message_type != expected:
            # PCIe 6.x §11.3.2 treats an undefined response code like TDISP_ERROR; either way
            # this request failed, and a peer that answers out of turn is not trusted further.
            raise RemoteProtocolError(
                f"{code.name} answered with message type 0x{head.message_type:02x}, "
                f"not {TdispResponseCode(expected).name}")
        response = RESPONSES[expected].decode(data)
        logger.debug("TDISP %s for TDI 0x%08x answered", code.name, self.interface_id)
        if isinstance(response, DeviceInterfaceReport):
            return self._portion(response)
        self._pending = None
        after = target_state(code)
        if after is not None:
            self._state = after
        return self._event_for(request, response)

    def _event_for(self, request: TdispMessage, response: TdispMessage) -> TdispEvent:
        iid = self.interface_id
        if isinstance(response, TdispVersion):
            common = set(self.config.versions) & set(response.version_num_entries)
            if not common:
                raise NegotiationError(
                    "the device lists TDISP versions "
                    + ", ".join(f"0x{v:02x}" for v in response.version_num_entries)
                    + ", none of which we speak")
            self._version = max(common)
            return TdispVersionNegotiated(iid, self._version, response.version_num_entries)
        if isinstance(response, TdispCapabilities):
            self._capabilities = response
            return TdispCapabilitiesReceived(
                iid, response.req_msgs_supported, response.lock_interface_flags_supported,
                response.dev_addr_width, response.num_req_this, response.num_req_all)
        if isinstance(response, LockInterfaceResponse):
            self._nonce = response.start_interface_nonce
            return InterfaceLocked(iid, response.start_interface_nonce)
        if isinstance(response, DeviceInterfaceState):
            self._state = response.tdi_state
            if response.tdi_state != TdiState.CONFIG_LOCKED:
                self._nonce = None
            return InterfaceStateReceived(iid, response.tdi_state)
        if isinstance(request, BindP2pStreamRequest):
            return P2pStreamBound(iid, request.p2p_stream_id)
        if isinstance(request, UnbindP2pStreamRequest):
            return P2pStreamUnbound(iid, request.p2p_stream_id)
        if isinstance(request, SetMmioAttributeRequest):
            return MmioAttributeSet(iid, request.mmio_range)
        # START and STOP: the nonce is spent either way (§11.3.9, §11.3.14).
        self._nonce = None
        return InterfaceStarted(iid) if isinstance(request, StartInterfaceRequest) else InterfaceStopped(iid)

    def _refused(self, code: TdispRequestCode, error: TdispErrorMessage) -> TdispEvent:
        logger.debug("TDISP %s for TDI 0x%08x refused: %s", code.name, self.interface_id,
                     error_name(error.error_code))
        self._pending = None
        self._remainder = None
        self._portions.clear()
        return TdispErrorReceived(
            self.interface_id, code, error.error_code, error.error_data, error.extended_error_data,
            error.vendor_error())

    def _portion(self, response: DeviceInterfaceReport) -> TdispEvent | None:
        """Add a portion; ask for the next one, or parse the whole report."""
        request = self._pending
        assert isinstance(request, GetDeviceInterfaceReport)
        portion = response.portion_length
        if portion > request.length:
            raise RemoteProtocolError(
                f"a {portion}-byte report portion answers a {request.length}-byte request")
        if self._remainder is not None and response.remainder_length != self._remainder - portion:
            raise RemoteProtocolError(
                f"REMAINDER_LENGTH {response.remainder_length} after {portion} bytes does not follow "
                f"the previous {self._remainder}")
        if portion == 0 and response.remainder_length:
            raise RemoteProtocolError("an empty report portion with bytes remaining")
        self._portions += response.report_bytes
        if response.remainder_length:
            offset = len(self._portions)
            if offset > MAX_REPORT_OFFSET:
                raise RemoteProtocolError(f"the report is longer than OFFSET can address ({offset} bytes)")
            self._remainder = response.remainder_length
            self._pending = None
            self._send(GetDeviceInterfaceReport(
                self.interface_id, offset=offset,
                length=min(self.config.report_portion, response.remainder_length), version=request.version))
            return None
        raw = bytes(self._portions)
        self._portions.clear()
        self._remainder = None
        self._pending = None
        report = InterfaceReport.decode(raw)
        self._report = report
        return InterfaceReportReceived(self.interface_id, report, raw)
