"""An emulated TEE-IO device: an SPDM responder with IDE_KM and TDISP behind one DOE mailbox.

IDE_KM and TDISP share one vendor-defined key (StandardID 3, VendorID 0x0001)
and are told apart by the payload's Protocol ID.  The device models are wired
to each other and to the SPDM sessions here: TDISP's LOCK asks IDE_KM whether
the default stream's keys were programmed on the locking session, a stream
going Insecure moves the TDIs bound to it to ERROR, and a session ending
reaches both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import ide_km
import tdisp
from ide_km import IdeKmDevice, IdeKmDeviceConfig, PortConfig, StreamState
from spdm.backend import ResponderBackend
from spdm.config import ResponderConfig
from spdm.errors import RemoteProtocolError, SpdmErrorCode
from spdm.messages import PCI_SIG_STANDARD_ID, PCI_SIG_VENDOR_ID
from tdisp import TdiConfig, TdispDevice, TdispDeviceConfig
from tdisp.messages import MmioAttributes, MmioRange

from .spdm_device import EmulatedDevice

__all__ = ["DEFAULT_IDE_PORTS", "SecureDevice", "default_tdis"]

DEFAULT_IDE_PORTS = 2
"""Ports (MaxPortIndex + 1): PortIndex 0, the port of the DOE function itself, which devsec's
TSM programs, and PortIndex 1, which DMTF's spdm-emu requester QUERYs and programs (its
captures' ``QUERY port=0x01``)."""


def default_tdis(functions: Sequence[int]) -> tuple[TdiConfig, ...]:
    """One TDI per function: the first is the PF, the rest its VFs, each with one BAR range."""
    pf = functions[0]
    return tuple(
        TdiConfig(
            function_id=function,
            mmio_ranges=(MmioRange(first_page=0x80000 + 0x10 * n, number_of_pages=0x10,
                                   range_attributes=MmioAttributes(0), range_id=0),),
            device_specific_info=b"devsec-tdi",
            physical_function=None if function == pf else pf,
        )
        for n, function in enumerate(functions)
    )


class SecureDevice:
    """An SPDM device that also speaks IDE_KM and TDISP (the emulator of a TEE-IO device)."""

    def __init__(
        self,
        config: ResponderConfig,
        backend: ResponderBackend,
        *,
        functions: Sequence[int] = (0x0100, 0x0101, 0x0102),
        stream_ids: Sequence[int] = (0,),
        ide_ports: int = DEFAULT_IDE_PORTS,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        """Args:
            config: the SPDM side (must allow sessions).
            backend: keys, chains and measurements.
            functions: FUNCTION_IDs (Requester IDs) of the TDIs: the PF first, then its VFs.
            stream_ids: the selective IDE streams of each port.
            ide_ports: how many ports IDE_KM serves (PortIndex 0 .. ide_ports - 1), each
                with its own IDE register block and streams; any other PortIndex is
                refused as PCIe §6.33 says (KP_ACK status 2, QUERY: see :mod:`ide_km.device`).
            rng: randomness for SPDM nonces and TDISP start nonces.

        Raises:
            ConfigurationError: no port or more than 256, or unusable Stream IDs or TDIs.
        """
        self.spdm = EmulatedDevice(config, backend, rng=rng)
        port = PortConfig.selective(tuple(stream_ids))
        self.ide = IdeKmDevice(IdeKmDeviceConfig(ports=(port,) * ide_ports))
        self.tdisp = TdispDevice(TdispDeviceConfig(tdis=default_tdis(functions)),
                                 ide_check=self._ide_keys_on_session, rng=rng)
        responder = self.spdm.responder
        responder.register_vendor_handler(PCI_SIG_STANDARD_ID, PCI_SIG_VENDOR_ID, self._dispatch)
        responder.register_session_listener(self.ide.session_ended)
        responder.register_session_listener(self.tdisp.session_ended)
        self.ide.on_stream_insecure(lambda _port, stream_id: self.tdisp.stream_insecure(stream_id))

    def _ide_keys_on_session(self, stream_id: int, session_id: int) -> bool:
        """TDISP LOCK's precondition: the stream runs with keys this very session programmed.

        LOCK_INTERFACE names the default stream by Stream ID alone, so the
        stream may be on any of the device's ports: devsec's TSM keys port 0,
        spdm-emu's requester port 1.
        """
        return any(self.ide.stream_session(port, stream_id) == session_id
                   and self.ide.stream_state(port, stream_id) == StreamState.SECURE
                   for port in self.ide.ports_with_stream(stream_id))

    def _dispatch(self, payload: bytes, session_id: int | None) -> bytes:
        """Route a PCI-SIG vendor payload on its Protocol ID."""
        protocol = payload[0] if payload else None
        if protocol == ide_km.PROTOCOL_ID:
            return self.ide.handle(payload, session_id)
        if protocol == tdisp.PROTOCOL_ID:
            return self.tdisp.handle(payload, session_id)
        raise RemoteProtocolError(
            f"PCI-SIG protocol {protocol!r} is not served",
            error_code=SpdmErrorCode.UNSUPPORTED_REQUEST, error_data=0xFE)
