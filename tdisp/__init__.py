"""TDISP (PCIe 6.x Chapter 11): the TDI security protocol over an SPDM secured session.

Sans-IO engines (in spdm's calling convention, :mod:`spdm.engine`) and the
one codec both roles share:

* :class:`TdispRequester` (the TSM side, one per TDI; a
  :class:`~spdm.engine.RequesterEngine`): commands queue a TDISP payload for
  VENDOR_DEFINED_REQUEST; responses come back as events, and so does an SPDM
  ERROR its carrier reports (:class:`TdispRequestRefused`).
* :class:`TdispDevice` (the DSM side): several TDIs, each with the TDI state
  machine of :mod:`tdisp.state`; :meth:`TdispDevice.handle` is the vendor
  handler (a :class:`~spdm.engine.VendorHandler`) the SPDM responder calls.
* :mod:`tdisp.messages`: every TDISP message and the TDI report, over
  :class:`spdm.codec.WireMessage`.

The TSM layer that drives TDISP with IDE_KM over SPDM is the top-level :mod:`tsm` package.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from spdm.lazy import lazy_exports

if TYPE_CHECKING:
    from .device import IdeCheck, TdiConfig, TdispDevice, TdispDeviceConfig
    from .errors import TdispErrorCode, TdispErrorResponse, TdispLocalError
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
        PROTOCOL_ID,
        TDISP_VERSION_1_0,
        InterfaceInfo,
        InterfaceReport,
        LockInterfaceFlags,
        MmioAttributes,
        MmioRange,
        TdispRequestCode,
        TdispResponseCode,
        TdiState,
    )
    from .requester import TdispRequester, TdispRequesterConfig

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "PROTOCOL_ID",
    "TDISP_VERSION_1_0",
    "IdeCheck",
    "InterfaceInfo",
    "InterfaceLocked",
    "InterfaceReport",
    "InterfaceReportReceived",
    "InterfaceStarted",
    "InterfaceStateReceived",
    "InterfaceStopped",
    "LockInterfaceFlags",
    "MmioAttributeSet",
    "MmioAttributes",
    "MmioRange",
    "P2pStreamBound",
    "P2pStreamUnbound",
    "TdiConfig",
    "TdiState",
    "TdispCapabilitiesReceived",
    "TdispDevice",
    "TdispDeviceConfig",
    "TdispErrorCode",
    "TdispErrorReceived",
    "TdispErrorResponse",
    "TdispEvent",
    "TdispLocalError",
    "TdispRequestCode",
    "TdispRequestRefused",
    "TdispRequester",
    "TdispRequesterConfig",
    "TdispResponseCode",
    "TdispVersionNegotiated",
]

__getattr__, __dir__ = lazy_exports(__name__, {
    "IdeCheck": ".device",
    "TdiConfig": ".device",
    "TdispDevice": ".device",
    "TdispDeviceConfig": ".device",
    "TdispErrorCode": ".errors",
    "TdispErrorResponse": ".errors",
    "TdispLocalError": ".errors",
    "InterfaceLocked": ".events",
    "InterfaceReportReceived": ".events",
    "InterfaceStarted": ".events",
    "InterfaceStateReceived": ".events",
    "InterfaceStopped": ".events",
    "MmioAttributeSet": ".events",
    "P2pStreamBound": ".events",
    "P2pStreamUnbound": ".events",
    "TdispCapabilitiesReceived": ".events",
    "TdispErrorReceived": ".events",
    "TdispEvent": ".events",
    "TdispRequestRefused": ".events",
    "TdispVersionNegotiated": ".events",
    "PROTOCOL_ID": ".messages",
    "TDISP_VERSION_1_0": ".messages",
    "InterfaceInfo": ".messages",
    "InterfaceReport": ".messages",
    "LockInterfaceFlags": ".messages",
    "MmioAttributes": ".messages",
    "MmioRange": ".messages",
    "TdispRequestCode": ".messages",
    "TdispResponseCode": ".messages",
    "TdiState": ".messages",
    "TdispRequester": ".requester",
    "TdispRequesterConfig": ".requester",
})
"""Public name -> its home module, imported on first use (``import tdisp`` stays cheap)."""
