"""IDE_KM: PCIe IDE key management over an SPDM secured session (PROTOCOLS.md §8).

Sans-IO, in parts that share one codec (:mod:`ide_km.messages`, over
:class:`spdm.codec.WireMessage`) and spdm's engine calling convention
(:mod:`spdm.engine`):

* :class:`IdeKmRequester`, the host (TSM) side (a
  :class:`~spdm.engine.RequesterEngine`): QUERY a port, program the six
  keys of a key set with fresh random keys, K_SET_GO/K_SET_STOP per direction,
  and key refresh.  Its payloads ride in VENDOR_DEFINED_REQUEST (StandardID 3,
  VendorID ``01 00``, Protocol ID 0x00) inside the session.
* :class:`IdeKmDevice`, the device side: ports with IDE register blocks,
  per-stream key slots (each key set following the state table of
  :mod:`ide_km.state`) and Secure/Insecure state, session binding, and the
  KP_ACK statuses and SPDM ERRORs the specification and the reference
  implementations name.  Plug :meth:`IdeKmDevice.handle` (a
  :class:`~spdm.engine.VendorHandler`) in as the responder's vendor handler
  and :meth:`IdeKmDevice.session_ended` as its session listener.
* :mod:`ide_km.errors` and :mod:`ide_km.events`: typed refusals and what the
  requester reports.

CXL's IDE_KM (VendorID 0x1E98, with GET_KEY 0x07 / GET_KEY_ACK 0x08 and a
3-DW IV) is a different protocol and is not implemented: its requests never
reach this handler (another VendorID), and a GET_KEY sent with PCI-SIG's
VendorID is refused as an unsupported object.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from spdm.lazy import lazy_exports

if TYPE_CHECKING:
    from .device import KEY_PROG_SIZE, IdeKmDevice, IdeKmDeviceConfig, PortConfig
    from .errors import (
        InvalidFieldError,
        KeySetNotProgrammedError,
        ResponseMismatchError,
        SessionMismatchError,
        UnsecuredRequestError,
        UnsupportedObjectError,
    )
    from .events import (
        KeyProgrammingFailed,
        KeySetActivated,
        KeySetProgrammed,
        KeySetStopped,
        KeysRefreshed,
        PortQueried,
        ProgrammedKey,
        RequestRefused,
    )
    from .messages import (
        PROTOCOL_ID,
        Direction,
        IdeRegisterBlock,
        KeySet,
        KeySubStream,
        KpAckStatus,
        ObjectId,
        StreamState,
        SubStream,
    )
    from .requester import IdeKmRequester

logging.getLogger(__name__).addHandler(logging.NullHandler())


__all__ = [
    "KEY_PROG_SIZE",
    "PROTOCOL_ID",
    "Direction",
    "IdeKmDevice",
    "IdeKmDeviceConfig",
    "IdeKmRequester",
    "IdeRegisterBlock",
    "InvalidFieldError",
    "KeyProgrammingFailed",
    "KeySet",
    "KeySetActivated",
    "KeySetNotProgrammedError",
    "KeySetProgrammed",
    "KeySetStopped",
    "KeySubStream",
    "KeysRefreshed",
    "KpAckStatus",
    "ObjectId",
    "PortConfig",
    "PortQueried",
    "ProgrammedKey",
    "RequestRefused",
    "ResponseMismatchError",
    "SessionMismatchError",
    "StreamState",
    "SubStream",
    "UnsecuredRequestError",
    "UnsupportedObjectError",
]

__getattr__, __dir__ = lazy_exports(__name__, {
    "KEY_PROG_SIZE": ".device",
    "IdeKmDevice": ".device",
    "IdeKmDeviceConfig": ".device",
    "PortConfig": ".device",
    "InvalidFieldError": ".errors",
    "KeySetNotProgrammedError": ".errors",
    "ResponseMismatchError": ".errors",
    "SessionMismatchError": ".errors",
    "UnsecuredRequestError": ".errors",
    "UnsupportedObjectError": ".errors",
    "KeyProgrammingFailed": ".events",
    "KeySetActivated": ".events",
    "KeySetProgrammed": ".events",
    "KeySetStopped": ".events",
    "KeysRefreshed": ".events",
    "PortQueried": ".events",
    "ProgrammedKey": ".events",
    "RequestRefused": ".events",
    "PROTOCOL_ID": ".messages",
    "Direction": ".messages",
    "IdeRegisterBlock": ".messages",
    "KeySet": ".messages",
    "KeySubStream": ".messages",
    "KpAckStatus": ".messages",
    "ObjectId": ".messages",
    "StreamState": ".messages",
    "SubStream": ".messages",
    "IdeKmRequester": ".requester",
})
"""Public name -> its home module, imported on first use (``import ide_km`` stays cheap)."""
