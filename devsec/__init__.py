"""devsec: PCIe device security (SPDM over DOE, IDE_KM, TDISP, a TSM) as a library and a command.

The public API, for a host policy daemon or any other program::

    import devsec

    config = devsec.RequesterConfig(trust_anchors=roots)      # or DEFER_TRUST
    with devsec.open_transport("0000:3a:00.0") as transport:   # or "tcp://127.0.0.1:2323"
        report = devsec.authenticate(transport, config)         # CMA only, no session

    with devsec.open_transport(target) as transport:
        connection = devsec.connect(transport, config)
        with connection.open_session() as session:             # KEY_EXCHANGE (or psk=...)
            session.measure()                                   # ... heartbeat(), update_keys()
        evidence = devsec.evidence_from_report(connection.report, "0000:3a:00.0")

Devices:
    :func:`open_transport` (a context manager: ``tcp://HOST:PORT`` for an
    spdm-emu socket, ``DDDD:BB:DD.F`` for a function's config-space DOE
    mailbox; :func:`open_binding` for a socket carrying MCTP or DSP0287
    messages instead of DOE objects), :func:`authenticate` -> :class:`AuthenticationReport`,
    :func:`connect` -> :class:`Connection` (``report``, ``measure(nonce)``,
    ``open_session(psk)`` -> :class:`Session`: ``measure()``, ``heartbeat()``,
    ``update_keys(all_keys)``, ``close()``), :class:`RequesterConfig`,
    :data:`DEFER_TRUST`, :class:`AlgorithmPreferences`.
TSM (connect a device, bind its TDIs):
    :func:`open_backend` (``native``, ``psp-proxy``; :func:`backend_names`) ->
    :class:`Tsm`, :class:`TsmConfig`, :class:`DeviceTarget`, :class:`TdiTarget`,
    :class:`DeviceInfo`, :class:`TdiInfo`.
Evidence (the kernel's sysfs layout):
    :func:`evidence_from_report`, :func:`evidence_from_tsm` ->
    :class:`DeviceEvidence`; :func:`render`, :func:`read_device_dir`,
    :func:`verify_log`; :func:`pci_identity`; bundles for a remote verifier:
    :func:`export_bundle`, :func:`verify_bundle`; or an EAT-DA token for RATS verifiers:
    :func:`export_eat`, :func:`verify_eat` -> :class:`EatVerdict`; reference values as
    CoRIM: :func:`reference_corim`, :func:`read_corim`.
Policy:
    :func:`load_policy` -> :class:`Policy`, :func:`evaluate` -> :class:`Decision`.
Errors:
    :class:`DevsecError` and below it :class:`ProtocolError`
    (:class:`LocalProtocolError`, :class:`RemoteProtocolError`,
    :class:`DecodeError`, :class:`RemoteErrorResponse`), :class:`VerificationError`,
    :class:`NegotiationError`, :class:`TransportError` (:class:`TransportTimeout`),
    :class:`ConfigurationError` (:class:`PolicyError`).

Emulated devices for tests and demos are in :mod:`devsec.emulator`
(:class:`~devsec.emulator.EmulatedDevice`, :class:`~devsec.emulator.SecureDevice`);
the ``devsec`` command is :mod:`devsec.cli`.

Stability: the names in ``__all__`` here and in :mod:`devsec.emulator`, with
their documented arguments, attributes and exceptions, are devsec's public
API; they change only in a release whose version number says so, with the
change noted in the README.  The lower packages (``spdm``, ``ide_km``, ``tdisp``,
``tsm``, ``sysfs_bridge``) are public too but follow the protocol work more
closely and may change between minor releases; ``_``-prefixed names and
modules are private everywhere.  The command line's flags, outputs and exit
statuses are an interface of their own (the README lists them).

Names are imported on first use, so ``import devsec`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spdm.lazy import lazy_exports

if TYPE_CHECKING:
    from spdm.cma import AuthenticationReport, SessionReport, authenticate
    from spdm.config import DEFER_TRUST, RequesterConfig
    from spdm.connection import Connection, Session, connect
    from spdm.errors import (
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
    from spdm.negotiation import AlgorithmPreferences
    from spdm.transport import DoeTransport
    from spdm.transport.targets import open_binding, open_transport
    from sysfs_bridge import (
        Decision,
        DeviceEvidence,
        EatVerdict,
        PciIdentity,
        Policy,
        PolicyError,
        evaluate,
        evidence_from_report,
        evidence_from_tsm,
        export_bundle,
        export_eat,
        load_policy,
        pci_identity,
        read_corim,
        read_device_dir,
        reference_corim,
        render,
        verify_bundle,
        verify_eat,
        verify_log,
    )
    from tsm import DeviceInfo, DeviceTarget, TdiInfo, TdiTarget, Tsm, TsmConfig, backend_names, open_backend

_HOMES = {
    "AuthenticationReport": "spdm.cma", "SessionReport": "spdm.cma",
    "authenticate": "spdm.cma",
    "DEFER_TRUST": "spdm.config", "RequesterConfig": "spdm.config",
    "Connection": "spdm.connection", "Session": "spdm.connection", "connect": "spdm.connection",
    "ConfigurationError": "spdm.errors", "DecodeError": "spdm.errors", "DevsecError": "spdm.errors",
    "LocalProtocolError": "spdm.errors", "NegotiationError": "spdm.errors",
    "ProtocolError": "spdm.errors", "RemoteErrorResponse": "spdm.errors",
    "RemoteProtocolError": "spdm.errors", "TransportError": "spdm.errors",
    "TransportTimeout": "spdm.errors", "VerificationError": "spdm.errors",
    "AlgorithmPreferences": "spdm.negotiation",
    "DoeTransport": "spdm.transport",
    "open_binding": "spdm.transport.targets", "open_transport": "spdm.transport.targets",
    "Decision": "sysfs_bridge", "DeviceEvidence": "sysfs_bridge", "PciIdentity": "sysfs_bridge",
    "Policy": "sysfs_bridge", "PolicyError": "sysfs_bridge", "evaluate": "sysfs_bridge",
    "evidence_from_report": "sysfs_bridge", "evidence_from_tsm": "sysfs_bridge",
    "export_bundle": "sysfs_bridge", "load_policy": "sysfs_bridge", "pci_identity": "sysfs_bridge",
    "read_device_dir": "sysfs_bridge", "render": "sysfs_bridge", "verify_bundle": "sysfs_bridge",
    "verify_log": "sysfs_bridge",
    "EatVerdict": "sysfs_bridge", "export_eat": "sysfs_bridge", "verify_eat": "sysfs_bridge",
    "read_corim": "sysfs_bridge", "reference_corim": "sysfs_bridge",
    "DeviceInfo": "tsm", "DeviceTarget": "tsm", "TdiInfo": "tsm", "TdiTarget": "tsm", "Tsm": "tsm",
    "TsmConfig": "tsm", "backend_names": "tsm", "open_backend": "tsm",
}
"""Public name -> the module defining it (imported on first use)."""

__all__ = [
    "DEFER_TRUST",
    "AlgorithmPreferences",
    "AuthenticationReport",
    "ConfigurationError",
    "Connection",
    "DecodeError",
    "Decision",
    "DeviceEvidence",
    "DeviceInfo",
    "DeviceTarget",
    "DevsecError",
    "DoeTransport",
    "EatVerdict",
    "LocalProtocolError",
    "NegotiationError",
    "PciIdentity",
    "Policy",
    "PolicyError",
    "ProtocolError",
    "RemoteErrorResponse",
    "RemoteProtocolError",
    "RequesterConfig",
    "Session",
    "SessionReport",
    "TdiInfo",
    "TdiTarget",
    "TransportError",
    "TransportTimeout",
    "Tsm",
    "TsmConfig",
    "VerificationError",
    "authenticate",
    "backend_names",
    "connect",
    "evaluate",
    "evidence_from_report",
    "evidence_from_tsm",
    "export_bundle",
    "export_eat",
    "load_policy",
    "open_backend",
    "open_binding",
    "open_transport",
    "pci_identity",
    "read_corim",
    "read_device_dir",
    "reference_corim",
    "render",
    "verify_bundle",
    "verify_eat",
    "verify_log",
]

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
