"""The TSM layer: the one place that composes SPDM, IDE_KM and TDISP.

- :mod:`.interface`: the vendor-neutral :class:`Tsm` (connect, disconnect,
  bind, accept, unbind, info, refresh_evidence) and the backend registry.
- :mod:`.info`: what a TSM reports (:class:`DeviceInfo`, :class:`TdiInfo`), as
  values that also cross a process boundary.
- Backends: :mod:`.native` (the host runs the requesters) and
  :mod:`.psp_proxy` (a separate security-processor process, :mod:`.psp`, owns
  sessions and keys; the host relays DOE objects, :mod:`.psp_wire`).
- :mod:`.wire`: the one codec of every document crossing a process boundary
  (the configuration, operations, progress, info, failures with their codes),
  for the psp-proxy mailbox and the TSM service alike.
- :mod:`.link`: the IDE_KM and TDISP flows through an SPDM secure session.
- :mod:`.teeio`: ``connect --ide --tdisp``'s walk of a TDI through its states.
- :mod:`.endpoint`: a device's SPDM 1.3 endpoint evidence over a connection (signed
  ENDPOINT_INFO, the MEL checked against the signed measurements, key pairs).
- :mod:`.service`: a TSM held by a long-running service, and :class:`~tsm.service.ServiceTsm`,
  the interface as that service's client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spdm.lazy import lazy_exports

if TYPE_CHECKING:
    from .info import DeviceInfo, LinkState, TdiInfo, function_id
    from .interface import DeviceTarget, Progress, TdiTarget, Tsm, TsmConfig, backend_names, open_backend
    from .native import NativeTsm
    from .psp_proxy import PspProxyTsm

__all__ = [
    "DeviceInfo",
    "DeviceTarget",
    "LinkState",
    "NativeTsm",
    "Progress",
    "PspProxyTsm",
    "TdiInfo",
    "TdiTarget",
    "Tsm",
    "TsmConfig",
    "backend_names",
    "function_id",
    "open_backend",
]

__getattr__, __dir__ = lazy_exports(__name__, {
    "DeviceInfo": ".info",
    "LinkState": ".info",
    "TdiInfo": ".info",
    "function_id": ".info",
    "DeviceTarget": ".interface",
    "Progress": ".interface",
    "TdiTarget": ".interface",
    "Tsm": ".interface",
    "TsmConfig": ".interface",
    "backend_names": ".interface",
    "open_backend": ".interface",
    "NativeTsm": ".native",
    "PspProxyTsm": ".psp_proxy",
})
"""Public name -> its home module, imported on first use (``import tsm`` stays cheap)."""
