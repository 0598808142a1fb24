"""Emulated devices: the engines' device models assembled into devices a host can reach.

- :class:`EmulatedDevice`: an SPDM responder behind a DOE endpoint, reachable in
  process, through its DOE mailbox registers, or over the spdm-emu socket.
- :class:`SecureDevice`: a TEE-IO device, the same with the IDE_KM and TDISP
  device models behind the PCI-SIG vendor-defined handler.

:func:`serve` runs one behind the spdm-emu socket protocol until it is stopped;
:func:`serving` in the background for the length of a ``with`` block.

The protocol device models themselves (:mod:`spdm.device`, :class:`ide_km.IdeKmDevice`,
:class:`tdisp.TdispDevice`) live beside their engines; this package only composes them.
"""

from __future__ import annotations

from .server import serve, serving
from .spdm_device import EmulatedDevice
from .teeio_device import DEFAULT_IDE_PORTS, SecureDevice, default_tdis

__all__ = ["DEFAULT_IDE_PORTS", "EmulatedDevice", "SecureDevice", "default_tdis", "serve", "serving"]
