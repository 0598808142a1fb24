"""SPDM (DSP0274 1.0-1.3) over PCIe DOE: codec, crypto, requester and responder engines, transports.

The host flow, from a target string to a session:

- :func:`open_transport` (``tcp://HOST:PORT`` or a PCI address) -> a :class:`DoeTransport`;
- :func:`authenticate` -> :class:`AuthenticationReport` (CMA: certificates,
  challenge, signed measurements), or :func:`connect` -> :class:`Connection`,
  whose :meth:`~Connection.open_session` returns a :class:`Session` the caller
  keeps or ends.

Underneath: the sans-IO engines (:class:`Requester`, :class:`Responder`) and
their I/O loop (:class:`RequesterDriver`), :mod:`spdm.messages` for any
message's wire format, :mod:`spdm.transport` for DOE.  The emulated devices
are in :mod:`devsec.emulator`.  Names are imported on first use, so importing
one submodule does not load the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

if TYPE_CHECKING:
    from .cma import AuthenticationReport, SessionReport, authenticate, authenticate_with
    from .config import DEFER_TRUST, DeferredTrust, RequesterConfig, ResponderConfig
    from .connection import Connection, Session, connect
    from .device import DeviceModel
    from .driver import RequesterDriver
    from .errors import (
        ConfigurationError,
        DecodeError,
        DevsecError,
        LocalProtocolError,
        NegotiationError,
        ProtocolError,
        RemoteErrorResponse,
        RemoteProtocolError,
        TransportError,
        TransportTimeout,
        VerificationError,
    )
    from .negotiation import AlgorithmPreferences
    from .requester import Requester
    from .responder import Responder
    from .transport import DoeTransport
    from .transport.targets import open_target, open_transport

_HOMES = {
    "AuthenticationReport": "cma", "SessionReport": "cma",
    "authenticate": "cma", "authenticate_with": "cma",
    "DEFER_TRUST": "config", "DeferredTrust": "config", "RequesterConfig": "config",
    "ResponderConfig": "config",
    "Connection": "connection", "Session": "connection", "connect": "connection",
    "DeviceModel": "device",
    "RequesterDriver": "driver",
    "ConfigurationError": "errors", "DecodeError": "errors", "DevsecError": "errors",
    "LocalProtocolError": "errors", "NegotiationError": "errors", "ProtocolError": "errors",
    "RemoteErrorResponse": "errors", "RemoteProtocolError": "errors", "TransportError": "errors",
    "TransportTimeout": "errors", "VerificationError": "errors",
    "AlgorithmPreferences": "negotiation",
    "Requester": "requester",
    "Responder": "responder",
    "DoeTransport": "transport",
    "open_target": "transport.targets", "open_transport": "transport.targets",
}
"""Public name -> the submodule defining it."""

__all__ = [
    "AlgorithmPreferences",
    "AuthenticationReport",
    "ConfigurationError",
    "Connection",
    "DEFER_TRUST",
    "DecodeError",
    "DeferredTrust",
    "DeviceModel",
    "DevsecError",
    "DoeTransport",
    "LocalProtocolError",
    "NegotiationError",
    "ProtocolError",
    "RemoteErrorResponse",
    "RemoteProtocolError",
    "Requester",
    "RequesterConfig",
    "RequesterDriver",
    "Responder",
    "ResponderConfig",
    "Session",
    "SessionReport",
    "TransportError",
    "TransportTimeout",
    "VerificationError",
    "authenticate",
    "authenticate_with",
    "connect",
    "open_target",
    "open_transport",
]

__getattr__, __dir__ = lazy_exports(__name__, {name: f".{home}" for name, home in _HOMES.items()})
