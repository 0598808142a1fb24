"""The TDISP device model (the DSM side): TDIs with their state machines, answering TDISP requests.

:meth:`TdispDevice.handle` is the vendor handler the SPDM responder calls
with a PCI-SIG payload of Protocol ID 0x01 and the SessionID it arrived in.
Every refusal the TDISP chapter names is answered as a TDISP_ERROR payload;
only what cannot be answered in TDISP at all raises (a payload too short for
the TDISP header, or TDISP outside a secured session), and the SPDM responder
turns that into an SPDM ERROR.

The device has several TDIs (a PF and its SR-IOV VFs), each its own state
machine (:mod:`tdisp.state`).  What the device itself must tell us comes in
through methods: :meth:`~TdispDevice.session_ended` (register it as the SPDM
responder's session listener), :meth:`~TdispDevice.stream_insecure` (from the
IDE_KM device model), :meth:`~TdispDevice.config_changed` and
:meth:`~TdispDevice.function_level_reset`.  Whether an IDE stream's keys were
all programmed on a session is asked of the injected ``ide_check``.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Callable
from dataclasses import field

from spdm.errors import (
    ConfigurationError,
    DecodeError,
    LocalProtocolError,
    RemoteProtocolError,
    SpdmErrorCode,
)
from spdm.record import record

from .errors import TdispErrorCode, TdispErrorResponse
from .messages import (
    MANDATORY_REQUESTS,
    NONCE_SIZE,
    REQUESTS,
    TDISP_VERSION_1_0,
    BindP2pStreamRequest,
    BindP2pStreamResponse,
    DeviceInterfaceReport,
    DeviceInterfaceState,
    GetDeviceInterfaceReport,
    InterfaceInfo,
    InterfaceReport,
    LockInterfaceFlags,
    LockInterfaceRequest,
    LockInterfaceResponse,
    MmioAttributes,
    MmioRange,
    SetMmioAttributeRequest,
    SetMmioAttributeResponse,
    StartInterfaceRequest,
    StartInterfaceResponse,
    StopInterfaceResponse,
    TdispCapabilities,
    TdispErrorMessage,
    TdispHeader,
    TdispMessage,
    TdispRequestCode,
    TdispVersion,
    TdiState,
    UnbindP2pStreamRequest,
    UnbindP2pStreamResponse,
    peek_header,
)
from .messages.report import PAGE_SHIFT
from .state import (
    DURING_REPORT_READ,
    FAULTS,
    LOCKING_SESSION_ONLY,
    OTHER_SESSION,
    WRONG_STATE,
    next_state,
)

__all__ = [
    "ADDRESS_LIMIT",
    "MSIX_RANGES",
    "RID_MASK",
    "SEGMENT_VALID",
    "SETTABLE_ATTRIBUTES",
    "SUPPORTED_OPTIONAL",
    "IdeCheck",
    "TdiConfig",
    "TdispDevice",
    "TdispDeviceConfig",
]

logger = logging.getLogger(__name__)

IdeCheck = Callable[[int, int], bool]
"""(IDE stream ID, SessionID) -> were all keys of the stream's sub-streams programmed on that session?

The stream ID comes from the requester (LOCK's DEFAULT_STREAM_ID, BIND_P2P's P2P_STREAM_ID), so
it may name a stream the device does not have: the check may then answer False or raise
:class:`~spdm.errors.LocalProtocolError` (as the IDE_KM device model does, "no such stream");
either way the request is refused with TDISP_ERROR INVALID_REQUEST."""

SUPPORTED_OPTIONAL = frozenset({
    TdispRequestCode.BIND_P2P_STREAM_REQUEST,
    TdispRequestCode.UNBIND_P2P_STREAM_REQUEST,
    TdispRequestCode.SET_MMIO_ATTRIBUTE_REQUEST,
})
"""The optional requests this model can serve (VDM_REQUEST has no vendor behind it)."""

SETTABLE_ATTRIBUTES = MmioAttributes.IS_NON_TEE_MEM
"""The one attribute SET_MMIO_ATTRIBUTE_REQUEST may change (PCIe 6.x Table 11-24)."""

MSIX_RANGES = MmioAttributes.MSIX_TABLE | MmioAttributes.MSIX_PBA
ADDRESS_LIMIT = 1 << 64
RID_MASK = 0xFFFF
SEGMENT_VALID = 1 << 24


@record(frozen=True, slots=True)
class TdiConfig:
    """One TDI: the function hosting it and what its report says.

    Attributes:
        function_id: FUNCTION_ID of the hosting function; TDIs are told apart
            by its Requester ID (b[15:0]).
        interface_info: INTERFACE_INFO; NO_FW_UPDATE is also reported when the
            lock asked for it.
        msi_x_message_control: MSI-X Message Control (reported only when the lock locks MSI-X).
        lnr_control: LN Requester control register.
        tph_control: TPH Requester control register (reported only when the lock locks MSI-X).
        mmio_ranges: the TDI's ranges with their physical first pages, in TDI
            order; MSI-X table/PBA ranges are reported only when MSI-X is locked.
        device_specific_info: DEVICE_SPECIFIC_INFO.
        physical_function: for a VF, the FUNCTION_ID of its PF (an FLR of the PF hits the VF too).
    """

    function_id: int
    interface_info: InterfaceInfo = InterfaceInfo.DMA_WITHOUT_PASID
    msi_x_message_control: int = 0
    lnr_control: int = 0
    tph_control: int = 0
    mmio_ranges: tuple[MmioRange, ...] = ()
    device_specific_info: bytes = b""
    physical_function: int | None = None


@record(frozen=True, slots=True)
class TdispDeviceConfig:
    """The DSM: its TDIs and what it advertises in TDISP_CAPABILITIES.

    Attributes:
        tdis: the TDIs (at least one, Requester IDs distinct).
        lock_interface_flags_supported: LOCK flags honoured; a LOCK asking for
            any other is refused with INVALID_REQUEST.
        optional_requests: which of BIND_P2P_STREAM, UNBIND_P2P_STREAM and
            SET_MMIO_ATTRIBUTE are supported (others get UNSUPPORTED_REQUEST).
        dev_addr_width: DEV_ADDR_WIDTH.
        num_req_this / num_req_all: NUM_REQ_THIS / NUM_REQ_ALL.
        report_portion: the most report bytes one DEVICE_INTERFACE_REPORT carries.
        ide_required: LOCK and BIND_P2P need the stream's IDE keys programmed on
            the session (False: an RCIEP-like TDI whose link needs no IDE).
        segment: the device's PCI segment when it knows it; a FUNCTION_ID with
            Requester Segment Valid must then name it.
    """

    tdis: tuple[TdiConfig, ...]
    lock_interface_flags_supported: LockInterfaceFlags = (
        LockInterfaceFlags.NO_FW_UPDATE | LockInterfaceFlags.SYSTEM_CACHE_LINE_SIZE
        | LockInterfaceFlags.LOCK_MSIX | LockInterfaceFlags.ALL_REQUEST_REDIRECT)
    optional_requests: frozenset[TdispRequestCode] = frozenset()
    dev_addr_width: int = 52
    num_req_this: int = 1
    num_req_all: int = 1
    report_portion: int = 0x400
    ide_required: bool = True
    segment: int | None = None

    def __post_init__(self) -> None:
        """Raises ConfigurationError for TDIs or options the model cannot serve."""
        if not self.tdis:
            raise ConfigurationError("a TDISP device needs at least one TDI")
        rids = [t.function_id & RID_MASK for t in self.tdis]
        if len(set(rids)) != len(rids):
            raise ConfigurationError("two TDIs share a Requester ID")
        if self.optional_requests - SUPPORTED_OPTIONAL:
            names = sorted(c.name for c in self.optional_requests - SUPPORTED_OPTIONAL)
            raise ConfigurationError(f"the device model cannot serve {names}")
        if not 1 <= self.report_portion <= 0xFFFF:
            raise ConfigurationError(f"report_portion {self.report_portion} is not 1-65535")


@record
class _Tdi:
    """The mutable state of one TDI."""

    config: TdiConfig
    state: TdiState = TdiState.CONFIG_UNLOCKED
    nonce: bytes | None = field(default=None, repr=False)
    locked_session: int | None = None
    default_stream: int | None = None
    flags: LockInterfaceFlags = LockInterfaceFlags(0)
    report: bytes = b""
    ranges: list[MmioRange] = field(default_factory=list)
    p2p_streams: set[int] = field(default_factory=set)
    read_offset: int | None = None

    def enter(self, state: TdiState) -> None:
        """Move to ``state``: the nonce dies outside CONFIG_LOCKED, all lock state in CONFIG_UNLOCKED."""
        if state != self.state:
            logger.debug("TDI 0x%04x: %s -> %s", self.config.function_id & RID_MASK,
                         self.state.name, state.name)
        self.state = state
        if state != TdiState.CONFIG_LOCKED:
            self.nonce = None
        if state in (TdiState.CONFIG_UNLOCKED, TdiState.ERROR):
            self.read_offset = None
        if state == TdiState.CONFIG_UNLOCKED:
            self.locked_session = self.default_stream = None
            self.flags = LockInterfaceFlags(0)
            self.report = b""
            self.ranges.clear()
            self.p2p_streams.clear()


def _refuse(code: TdispErrorCode, reason: str, data: int = 0) -> TdispErrorResponse:
    return TdispErrorResponse(reason, code, data=data)


class TdispDevice:
    """A DSM serving TDISP for several TDIs.

    Args:
        config: the TDIs and the advertised capabilities.
        ide_check: asks the IDE_KM device whether all keys of a stream were
            programmed on a session; may be None only when
            ``config.ide_required`` is False.
        rng: source of START_INTERFACE_NONCEs.

    Raises:
        ConfigurationError: IDE is required but there is no ``ide_check``.
    """

    def __init__(
        self,
        config: TdispDeviceConfig,
        ide_check: IdeCheck | None = None,
        *,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if ide_check is None and config.ide_required:
            raise ConfigurationError("the TDIs need IDE (config.ide_required) but no ide_check was given")
        self.config = config
        self._ide_check = ide_check
        self._rng = rng
        self._tdis = {t.function_id & RID_MASK: _Tdi(t) for t in config.tdis}

    # --- what the SPDM responder calls -----------------------------------------------------

    def handle(self, payload: bytes, session_id: int | None) -> bytes:
        """Answer one TDISP request payload (Protocol ID first) with a TDISP response payload.

        Args:
            payload: the VENDOR_DEFINED_REQUEST payload.
            session_id: the secured session it came in, None in the clear.

        Returns:
            The VENDOR_DEFINED_RESPONSE payload: the response, or TDISP_ERROR.

        Raises:
            RemoteProtocolError: TDISP in the clear (UnexpectedRequest: PCIe 6.x
                §11.2.2 forbids answering it in TDISP); DecodeError (InvalidRequest)
                for a payload without a TDISP header or with another Protocol ID.
        """
        payload = bytes(payload)
        if session_id is None:
            raise RemoteProtocolError(
                "a TDISP message outside a secured session must not be used (PCIe 6.x §11.2.2)",
                error_code=SpdmErrorCode.UNEXPECTED_REQUEST)
        head = peek_header(payload)
        try:
            response = self._answer(head, payload, session_id)
        except TdispErrorResponse as exc:
            logger.debug("TDISP request 0x%02x for TDI 0x%08x refused: %s",
                         head.message_type, head.interface_id, exc)
            response = TdispErrorMessage(
                head.interface_id, error_code=exc.tdisp_code, error_data=exc.tdisp_data,
                extended_error_data=exc.tdisp_extended)
        return response.encode()

    def session_ended(self, session_id: int) -> None:
        """The SPDM session ``session_id`` ended: TDIs it locked go to ERROR (PCIe 6.x §11.4.5).

        They are no longer bound to it either, so another session can STOP them (a
        later session may even reuse the SessionID: it gets no rights from that).
        """
        for tdi in self._tdis.values():
            if tdi.locked_session == session_id:
                self._fault(tdi)
                tdi.locked_session = None

    def stream_insecure(self, stream_id: int) -> None:
        """An IDE stream went Insecure: locked TDIs bound to it go to ERROR (PCIe 6.x §11.4.3)."""
        for tdi in self._tdis.values():
            if tdi.default_stream == stream_id or stream_id in tdi.p2p_streams:
                self._fault(tdi)

    def config_changed(self, function_id: int) -> None:
        """A TDI's locked configuration changed (BAR, RID, Table 11-2 registers, an
        unrecoverable error...): a locked TDI goes to ERROR (PCIe 6.x §11.2).

        Raises:
            ConfigurationError: no such TDI.
        """
        self._fault(self._tdi(function_id))

    def function_level_reset(self, function_id: int) -> None:
        """An FLR of a function: its TDI, and for a PF every VF TDI under it, go to ERROR
        when locked (PCIe 6.x §11.4.9).

        Raises:
            ConfigurationError: no such TDI.
        """
        reset = self._tdi(function_id)
        for tdi in self._tdis.values():
            pf = tdi.config.physical_function
            if tdi is reset or pf is not None and pf & RID_MASK == reset.config.function_id & RID_MASK:
                self._fault(tdi)

    # --- inspection ------------------------------------------------------------------------

    def state(self, function_id: int) -> TdiState:
        """A TDI's state.

        Raises:
            ConfigurationError: no such TDI.
        """
        return self._tdi(function_id).state

    def mmio_ranges(self, function_id: int) -> tuple[MmioRange, ...]:
        """A locked TDI's ranges as reported (offset added) with their current attributes.

        Raises:
            ConfigurationError: no such TDI.
        """
        return tuple(self._tdi(function_id).ranges)

    def p2p_streams(self, function_id: int) -> frozenset[int]:
        """The P2P streams bound to a TDI.

        Raises:
            ConfigurationError: no such TDI.
        """
        return frozenset(self._tdi(function_id).p2p_streams)

    # --- internals -------------------------------------------------------------------------

    def _tdi(self, function_id: int) -> _Tdi:
        tdi = self._tdis.get(function_id & RID_MASK)
        if tdi is None:
            raise ConfigurationError(f"no TDI with Requester ID 0x{function_id & RID_MASK:04x}")
        return tdi

    def _keyed(self, stream_id: int, session_id: int) -> bool:
        """Were all keys of ``stream_id`` programmed on ``session_id`` (always, without IDE)?

        A stream the device does not have was keyed on no session (see :data:`IdeCheck`).
        """
        if not self.config.ide_required or self._ide_check is None:
            return True  # no ide_check only without ide_required (checked in __init__)
        try:
            return self._ide_check(stream_id, session_id)
        except LocalProtocolError as exc:
            logger.debug("IDE stream %d: %s", stream_id, exc)
            return False

    def _fault(self, tdi: _Tdi) -> None:
        after = FAULTS.get(tdi.state)
        if after is not None:
            tdi.enter(after)

    def _lookup(self, function_id: int) -> _Tdi:
        tdi = self._tdis.get(function_id & RID_MASK)
        segment = self.config.segment
        if tdi is None or (function_id & SEGMENT_VALID and segment is not None
                           and (function_id >> 16) & 0xFF != segment):
            raise _refuse(TdispErrorCode.INVALID_INTERFACE,
                          f"INTERFACE_ID 0x{function_id:08x} is not a TDI of this device")
        return tdi

    def _answer(self, head: TdispHeader, payload: bytes, session_id: int) -> TdispMessage:
        code = head.message_type
        if code not in REQUESTS or code not in MANDATORY_REQUESTS | self.config.optional_requests:
            raise _refuse(TdispErrorCode.UNSUPPORTED_REQUEST, f"request 0x{code:02x} is not supported",
                          data=code)
        request_code = TdispRequestCode(code)
        wanted = 1 if request_code == TdispRequestCode.GET_TDISP_VERSION else TDISP_VERSION_1_0
        got = head.version >> 4 if request_code == TdispRequestCode.GET_TDISP_VERSION else head.version
        if got != wanted:
            raise _refuse(TdispErrorCode.VERSION_MISMATCH, f"TDISPVersion 0x{head.version:02x}")
        tdi = self._lookup(head.interface_id)
        try:
            request = REQUESTS[code].decode(payload)
        except DecodeError as exc:
            raise _refuse(TdispErrorCode.INVALID_REQUEST, str(exc)) from exc
        if (request_code in LOCKING_SESSION_ONLY and tdi.locked_session is not None
                and session_id != tdi.locked_session):
            raise _refuse(OTHER_SESSION, f"{request_code.name}: the TDI was locked by session "
                          f"0x{tdi.locked_session:08x}, not 0x{session_id:08x}")
        if tdi.read_offset is not None and request_code not in DURING_REPORT_READ:
            raise _refuse(WRONG_STATE, f"{request_code.name} in the middle of a report read")
        after = next_state(tdi.state, request_code)
        if after is None:
            raise _refuse(WRONG_STATE, f"{request_code.name} with the TDI in {tdi.state.name}")
        response = self._serve(tdi, request, session_id)
        tdi.enter(after)
        return response

    def _serve(self, tdi: _Tdi, request: TdispMessage, session_id: int) -> TdispMessage:
        iid = request.interface_id
        code = request.CODE
        if code == TdispRequestCode.GET_TDISP_VERSION:
            return TdispVersion(iid, version_num_entries=(TDISP_VERSION_1_0,))
        if code == TdispRequestCode.GET_TDISP_CAPABILITIES:
            cfg = self.config
            return TdispCapabilities(
                iid, req_msgs_supported=MANDATORY_REQUESTS | cfg.optional_requests,
                lock_interface_flags_supported=cfg.lock_interface_flags_supported,
                dev_addr_width=cfg.dev_addr_width, num_req_this=cfg.num_req_this,
                num_req_all=cfg.num_req_all)
        if isinstance(request, LockInterfaceRequest):
            return self._lock(tdi, request, session_id)
        if isinstance(request, GetDeviceInterfaceReport):
            return self._report_portion(tdi, request)
        if code == TdispRequestCode.GET_DEVICE_INTERFACE_STATE:
            return DeviceInterfaceState(iid, tdi_state=tdi.state)
        if isinstance(request, StartInterfaceRequest):
            # The nonce is valid only on the session that locked the TDI: every move through
            # the state machine comes from one session (PCIe 6.x §11.6.3).
            if (session_id != tdi.locked_session or tdi.nonce is None
                    or not hmac.compare_digest(request.start_interface_nonce, tdi.nonce)):
                raise _refuse(TdispErrorCode.INVALID_NONCE, "START_INTERFACE_NONCE does not match")
            return StartInterfaceResponse(iid)
        if isinstance(request, BindP2pStreamRequest):
            return self._bind(tdi, request)
        if isinstance(request, UnbindP2pStreamRequest):
            if not tdi.flags & LockInterfaceFlags.BIND_P2P or request.p2p_stream_id not in tdi.p2p_streams:
                raise _refuse(TdispErrorCode.INVALID_REQUEST,
                              f"P2P stream {request.p2p_stream_id} is not bound to the TDI")
            tdi.p2p_streams.discard(request.p2p_stream_id)
            return UnbindP2pStreamResponse(iid)
        if isinstance(request, SetMmioAttributeRequest):
            return self._set_mmio_attribute(tdi, request)
        return StopInterfaceResponse(iid)

    def _lock(self, tdi: _Tdi, request: LockInterfaceRequest, session_id: int) -> TdispMessage:
        unsupported = request.flags & ~self.config.lock_interface_flags_supported
        if unsupported:
            raise _refuse(TdispErrorCode.INVALID_REQUEST,
                          f"lock flags {LockInterfaceFlags(unsupported)!r} are not supported")
        if not self._keyed(request.default_stream_id, session_id):
            raise _refuse(TdispErrorCode.INVALID_REQUEST,
                          f"IDE stream {request.default_stream_id} not keyed on session 0x{session_id:08x}")
        ranges = self._reported_ranges(tdi.config, request)
        nonce = bytes(self._rng(NONCE_SIZE))
        if len(nonce) != NONCE_SIZE:
            raise _refuse(TdispErrorCode.INSUFFICIENT_ENTROPY, "no START_INTERFACE_NONCE could be drawn")
        cfg = tdi.config
        msix_locked = bool(request.flags & LockInterfaceFlags.LOCK_MSIX)
        info = cfg.interface_info | InterfaceInfo(request.flags & LockInterfaceFlags.NO_FW_UPDATE)
        # The report is fixed at lock time: updatable ranges keep reporting the attributes
        # they were locked with (PCIe 6.x Table 11-15 IS_NON_TEE_MEM).
        tdi.report = InterfaceReport(
            interface_info=info,
            msi_x_message_control=cfg.msi_x_message_control if msix_locked else 0,
            lnr_control=cfg.lnr_control,
            tph_control=cfg.tph_control if msix_locked else 0,
            mmio_ranges=ranges,
            device_specific_info=cfg.device_specific_info,
        ).encode()
        tdi.ranges = list(ranges)
        tdi.nonce = nonce
        tdi.locked_session = session_id
        tdi.default_stream = request.default_stream_id
        tdi.flags = request.flags
        return LockInterfaceResponse(request.interface_id, start_interface_nonce=nonce)

    @staticmethod
    def _reported_ranges(cfg: TdiConfig, request: LockInterfaceRequest) -> tuple[MmioRange, ...]:
        """The ranges as reported: MMIO_REPORTING_OFFSET added to every address (PCIe 6.x §11.3.8)."""
        offset = request.mmio_reporting_offset
        msix_locked = bool(request.flags & LockInterfaceFlags.LOCK_MSIX)
        out = []
        for r in cfg.mmio_ranges:
            if r.range_attributes & MSIX_RANGES and not msix_locked:
                continue  # an unlocked MSI-X table/PBA must not be reported (Table 11-15)
            start = r.address + offset
            if not 0 <= start or start + r.size > ADDRESS_LIMIT:
                raise _refuse(TdispErrorCode.INVALID_REQUEST,
                              f"MMIO_REPORTING_OFFSET {offset:#x} moves a range out of the 64-bit space")
            out.append(MmioRange(start >> PAGE_SHIFT, r.number_of_pages, r.range_attributes, r.range_id))
        return tuple(out)

    def _report_portion(self, tdi: _Tdi, request: GetDeviceInterfaceReport) -> TdispMessage:
        offset = request.offset
        if offset != 0 and offset != tdi.read_offset:
            raise _refuse(TdispErrorCode.INVALID_REQUEST,
                          f"OFFSET {offset} is neither 0 nor where the report read stands")
        if request.length == 0:
            raise _refuse(TdispErrorCode.INVALID_REQUEST, "LENGTH 0")
        end = offset + min(request.length, self.config.report_portion)
        portion = tdi.report[offset:end]
        remainder = len(tdi.report) - offset - len(portion)
        tdi.read_offset = offset + len(portion) if remainder else None
        return DeviceInterfaceReport(request.interface_id, remainder_length=remainder, report_bytes=portion)

    def _bind(self, tdi: _Tdi, request: BindP2pStreamRequest) -> TdispMessage:
        stream = request.p2p_stream_id
        if not tdi.flags & LockInterfaceFlags.BIND_P2P:
            raise _refuse(TdispErrorCode.INVALID_REQUEST, "the TDI was not locked with BIND_P2P")
        if stream == tdi.default_stream or stream in tdi.p2p_streams:
            raise _refuse(TdispErrorCode.INVALID_REQUEST, f"stream {stream} is the default or already bound")
        # The P2P stream's keys must come from the session that locked the TDI (PCIe 6.x §11.3.18).
        assert tdi.locked_session is not None  # in RUN
        if not self._keyed(stream, tdi.locked_session):
            raise _refuse(TdispErrorCode.INVALID_REQUEST,
                          f"IDE stream {stream} was not keyed on the session that locked the TDI")
        tdi.p2p_streams.add(stream)
        return BindP2pStreamResponse(request.interface_id)

    def _set_mmio_attribute(self, tdi: _Tdi, request: SetMmioAttributeRequest) -> TdispMessage:
        wanted = request.mmio_range
        if wanted.range_attributes & ~SETTABLE_ATTRIBUTES:
            raise _refuse(TdispErrorCode.INVALID_REQUEST, "only IS_NON_TEE_MEM may be set")
        for i, r in enumerate(tdi.ranges):
            if (r.first_page, r.number_of_pages, r.range_id) == \
                    (wanted.first_page, wanted.number_of_pages, wanted.range_id):
                if not r.range_attributes & MmioAttributes.IS_MEM_ATTR_UPDATABLE:
                    raise _refuse(TdispErrorCode.INVALID_REQUEST, "the range's attributes are not updatable")
                kept = r.range_attributes & ~SETTABLE_ATTRIBUTES
                tdi.ranges[i] = MmioRange(r.first_page, r.number_of_pages,
                                          MmioAttributes(kept | wanted.range_attributes), r.range_id)
                return SetMmioAttributeResponse(request.interface_id)
        raise _refuse(TdispErrorCode.INVALID_REQUEST, "the range is not one of the TDI's")
