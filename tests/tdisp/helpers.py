"""Shared test fixtures: the reference device's TDI, an IDE-key table, and a requester/device pair.

The reference TDI is what spdm-emu's TDISP sample reports in the shared
captures (interface 0xBEEF, four MMIO ranges, 16 bytes of device-specific
data); ``keyed_on`` stands in for the IDE_KM device model with a plain table
of (stream, session) pairs whose keys were programmed.
"""

from __future__ import annotations

from collections.abc import Callable

from tdisp import (
    InterfaceInfo,
    LockInterfaceFlags,
    MmioAttributes,
    MmioRange,
    TdiConfig,
    TdispDevice,
    TdispDeviceConfig,
    TdispEvent,
    TdispRequestCode,
    TdispRequester,
    TdispRequesterConfig,
)

SESSION = 0xFFFFFFFF
"""The session the captures' TDISP runs in (and ours)."""

OTHER_SESSION = 0xFFFEFFFE

REFERENCE_TDI = 0xBEEF
REFERENCE_INFO = b"tdisp_dev_emu\x00\x00\x00"
REFERENCE_FLAGS = LockInterfaceFlags(0x7)
REFERENCE_OFFSET = 0xD0000000

REFERENCE_RANGES = (
    MmioRange(0x00000, 1, MmioAttributes.IS_NON_TEE_MEM, 1),
    MmioRange(0x08000, 4, MmioAttributes.IS_MEM_ATTR_UPDATABLE, 2),
    MmioRange(0x10000, 8, MmioAttributes.IS_MEM_ATTR_UPDATABLE, 3),
    MmioRange(0x20000, 8, MmioAttributes.IS_MEM_ATTR_UPDATABLE, 4),
)


def reference_tdi(function_id: int = REFERENCE_TDI, **changes: object) -> TdiConfig:
    """A TDI reporting what the reference sample reports."""
    fields: dict[str, object] = {
        "interface_info": InterfaceInfo.DMA_WITHOUT_PASID,
        "mmio_ranges": REFERENCE_RANGES,
        "device_specific_info": REFERENCE_INFO,
    }
    fields.update(changes)
    return TdiConfig(function_id, **fields)  # type: ignore[arg-type]


def reference_config(*tdis: TdiConfig, **changes: object) -> TdispDeviceConfig:
    """The reference device's TDISP_CAPABILITIES (lock flags 0x7, 48 address bits, NUM_REQ 0/0)."""
    fields: dict[str, object] = {
        "lock_interface_flags_supported": REFERENCE_FLAGS,
        "dev_addr_width": 0x30,
        "num_req_this": 0,
        "num_req_all": 0,
    }
    fields.update(changes)
    return TdispDeviceConfig(tdis or (reference_tdi(),), **fields)  # type: ignore[arg-type]


def keyed_on(*pairs: tuple[int, int]) -> Callable[[int, int], bool]:
    """An ``ide_check``: the streams whose keys were all programmed, per session."""
    keyed = set(pairs)

    def ide_check(stream_id: int, session_id: int) -> bool:
        return (stream_id, session_id) in keyed

    return ide_check


class FixedRng:
    """An ``rng`` handing out given nonces in turn (then counting ones)."""

    def __init__(self, *nonces: bytes) -> None:
        self.nonces = list(nonces)
        self.count = 0

    def __call__(self, size: int) -> bytes:
        self.count += 1
        if self.nonces:
            return self.nonces.pop(0)
        return self.count.to_bytes(size, "little")


ALL_OPTIONAL = frozenset({
    TdispRequestCode.BIND_P2P_STREAM_REQUEST,
    TdispRequestCode.UNBIND_P2P_STREAM_REQUEST,
    TdispRequestCode.SET_MMIO_ATTRIBUTE_REQUEST,
})

ALL_FLAGS = LockInterfaceFlags(0x1F)


def full_device(*tdis: TdiConfig, ide_check: Callable[[int, int], bool] | None = None,
                **changes: object) -> TdispDevice:
    """A device supporting every optional request and lock flag; keys on (stream 0, SESSION) by default."""
    config = reference_config(*tdis, optional_requests=ALL_OPTIONAL,
                              lock_interface_flags_supported=ALL_FLAGS, **changes)
    return TdispDevice(config, ide_check or keyed_on((0, SESSION), (1, SESSION), (2, SESSION)),
                       rng=FixedRng())


class Pair:
    """A requester for one TDI wired to a device in memory through ``device.handle``."""

    def __init__(self, device: TdispDevice, interface_id: int = REFERENCE_TDI,
                 session_id: int = SESSION, **config: object) -> None:
        self.device = device
        self.session_id = session_id
        self.requester = TdispRequester(TdispRequesterConfig(interface_id, **config))  # type: ignore[arg-type]
        self.sent: list[bytes] = []

    def run(self, command: str, *args: object, session_id: int | None = None) -> TdispEvent:
        """Issue one command and exchange payloads until its one event arrives."""
        getattr(self.requester, command)(*args)
        events: list[TdispEvent] = []
        while self.requester.busy:
            request = self.requester.data_to_send()
            self.sent.append(request)
            self.requester.receive_data(self.device.handle(
                request, self.session_id if session_id is None else session_id))
            event = self.requester.next_event()
            if event is not None:
                events.append(event)
        assert len(events) == 1, events
        return events[0]

    def negotiate(self) -> None:
        """GET_TDISP_VERSION and GET_TDISP_CAPABILITIES."""
        self.run("get_version")
        self.run("get_capabilities")
