"""The vendor-neutral TSM interface: what every backend offers and how backends are found.

Modelled on Linux's ``pci_tsm_ops`` (connect, disconnect, bind, unbind; the
proposed accept and refresh_evidence): callers name a device by its DSM's
PCI address and say how the host reaches the DSM's DOE mailbox; a TDI by its
own address and its DSM's.  Whether the requesters run in this process
(``native``) or in a separate security processor that the host only relays
bytes for (``psp-proxy``) is the backend's business — nothing above this
module knows which one runs.
"""

from __future__ import annotations

import importlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import field
from datetime import UTC, datetime

from spdm.config import DeferredTrust, RequesterConfig
from spdm.errors import ConfigurationError, DecodeError, LocalProtocolError
from spdm.record import record
from spdm.transport import DoeTransport
from tdisp.messages import LockInterfaceFlags

from .info import DeviceInfo, TdiInfo, function_id

__all__ = [
    "OPERATIONS",
    "TDI_OPERATIONS",
    "Operation",
    "no_progress",
    "DeviceTarget",
    "Progress",
    "TdiTarget",
    "Tsm",
    "TsmConfig",
    "backend_names",
    "open_backend",
    "perform",
    "BUILTIN_BACKENDS",
    "register_backend",
]

Progress = Callable[[str], None]
"""Told one line per step of a long operation (``"KEY_EXCHANGE"``, ``"IDE_KM K_SET_GO"``...)."""


def no_progress(_step: str) -> None:
    """The default progress sink."""


@record(frozen=True)
class DeviceTarget:
    """A device as the host sees it: its DSM's PCI address and how to reach its DOE mailbox.

    Attributes:
        bdf: the DSM's (function 0's) address ``DDDD:BB:DD.F``.
        open: opens the DSM's DOE transport (config-space mailbox, spdm-emu
            socket, in-process mailbox); the host owns it, whichever backend runs.
    """

    bdf: str
    open: Callable[[], DoeTransport] = field(repr=False)

    def __post_init__(self) -> None:
        function_id(self.bdf)


@record(frozen=True)
class TdiTarget:
    """A TDI: its own PCI address (a VF, or the PF itself) and its DSM's."""

    dsm: str
    bdf: str

    def __post_init__(self) -> None:
        function_id(self.dsm)
        function_id(self.bdf)

    @property
    def interface_id(self) -> int:
        """The TDISP FUNCTION_ID of the TDI."""
        return function_id(self.bdf)


@record(frozen=True)
class TsmConfig:
    """How a TSM authenticates devices and sets up their links.

    Attributes:
        requester: SPDM versions, algorithms and the trust anchors device chains
            must lead to (at least one).
        slot_id: the certificate slot to authenticate and open sessions with.
        stream_id: the selective IDE stream to program on connect.
        lock_flags: TDISP LOCK_INTERFACE flags used by ``bind``.
        clock: the time certificates must be valid at.
        rng: randomness for nonces and IDE keys.
    """

    requester: RequesterConfig
    slot_id: int = 0
    stream_id: int = 0
    lock_flags: LockInterfaceFlags = LockInterfaceFlags.NO_FW_UPDATE
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), repr=False)
    rng: Callable[[int], bytes] = field(default=os.urandom, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.requester.trust_anchors, DeferredTrust) or not self.requester.trust_anchors:
            raise ConfigurationError("a TSM needs at least one trust anchor for device certificates")


class Tsm(ABC):
    """One TSM: connects devices, binds their TDIs, reports what it learned.

    Every operation either completes or raises and leaves the device as it
    was known before (a lost session moves the device to ``LinkState.ERROR``
    and its TDIs to ERROR).  Operations on different devices may run from
    different threads at once; a failing device never blocks another.
    """

    name: str
    """The backend's registered name; TSM-mode ``authenticated`` shows it."""

    @abstractmethod
    def connect(self, device: DeviceTarget, progress: Progress = no_progress) -> DeviceInfo:
        """Authenticate the DSM, collect its evidence, open a session, program and start IDE keys.

        Raises:
            VerificationError: the device failed authentication.
            NegotiationError / ProtocolError: the device misbehaved or lacks what is needed.
            TransportError: the device (or the TSM) went away.
            LocalProtocolError: the device is already connected.
        """

    @abstractmethod
    def disconnect(self, bdf: str, progress: Progress = no_progress) -> DeviceInfo:
        """Stop every running TDI, stop the IDE stream, end the session.

        Raises:
            LocalProtocolError: the device is not connected.
            TransportError: the device went away (the link is torn down anyway).
        """

    @abstractmethod
    def bind(self, tdi: TdiTarget, progress: Progress = no_progress) -> TdiInfo:
        """Lock the TDI (CONFIG_LOCKED) and fetch its interface report.

        Raises:
            LocalProtocolError: its DSM is not connected, or the TDI is already bound.
            ProtocolError: the device refused.
        """

    @abstractmethod
    def accept(self, tdi: TdiTarget, progress: Progress = no_progress) -> TdiInfo:
        """Start a bound TDI (RUN): the guest accepted its report."""

    @abstractmethod
    def unbind(self, tdi: TdiTarget, progress: Progress = no_progress) -> TdiInfo:
        """Stop the TDI (back to CONFIG_UNLOCKED)."""

    @abstractmethod
    def info(self, bdf: str) -> DeviceInfo:
        """What the TSM knows of a device: evidence, link state, TDIs.

        Raises:
            LocalProtocolError: the TSM has never connected the device.
        """

    def tdi_info(self, tdi: TdiTarget) -> TdiInfo:
        """What the TSM knows of one TDI (its state and interface report), from its DSM's info.

        Raises:
            LocalProtocolError: the DSM was never connected, or the TDI never bound through it.
        """
        for known in self.info(tdi.dsm).tdis:
            if known.bdf == tdi.bdf:
                return known
        raise LocalProtocolError(f"{tdi.bdf} has never been bound through {tdi.dsm}")

    @abstractmethod
    def refresh_evidence(self, bdf: str, nonce: bytes, progress: Progress = no_progress) -> DeviceInfo:
        """Read the measurements again, signed over ``nonce``, inside the session.

        Raises:
            LocalProtocolError: the device is not connected or ``nonce`` is not 32 bytes.
        """

    def close(self) -> None:  # noqa: B027 - optional hook with nothing to do by default
        """Release what the backend holds (processes, transports)."""


_BACKENDS: dict[str, Callable[[TsmConfig], Tsm]] = {}

BUILTIN_BACKENDS = {"native": "tsm.native", "psp-proxy": "tsm.psp_proxy"}
"""devsec's own backends by name -> the module that registers it, imported when first asked for
(so a command that never opens a TSM never imports one)."""


def register_backend(name: str, factory: Callable[[TsmConfig], Tsm]) -> None:
    """Make a backend available under ``name``.

    Raises:
        ConfigurationError: the name is taken.
    """
    if name in _BACKENDS:
        raise ConfigurationError(f"a TSM backend named {name!r} is already registered")
    _BACKENDS[name] = factory


def backend_names() -> tuple[str, ...]:
    """The registered backends' names (devsec's own among them)."""
    return tuple(sorted(set(_BACKENDS) | set(BUILTIN_BACKENDS)))


def open_backend(name: str, config: TsmConfig) -> Tsm:
    """Start the backend registered as ``name``.

    Raises:
        ConfigurationError: no such backend.
    """
    if name not in _BACKENDS and name in BUILTIN_BACKENDS:
        importlib.import_module(BUILTIN_BACKENDS[name])
    try:
        factory = _BACKENDS[name]
    except KeyError:
        raise ConfigurationError(
            f"no TSM backend {name!r}; available: {', '.join(backend_names())}") from None
    return factory(config)


OPERATIONS = ("connect", "disconnect", "bind", "accept", "unbind", "info", "refresh_evidence")
"""The operations a request may name (the psp-proxy mailbox's and the TSM service's)."""

TDI_OPERATIONS = ("bind", "accept", "unbind")
"""The operations that act on one TDI (and need :attr:`Operation.tdi`)."""


@record(frozen=True, slots=True)
class Operation:
    """One TSM operation as another process asks for it (the psp-proxy host, a TSM service client).

    :mod:`tsm.wire` encodes it; :func:`perform` carries it out.

    Attributes:
        op: one of :data:`OPERATIONS`.
        bdf: the DSM's PCI address.
        tdi: the TDI's address: required by :data:`TDI_OPERATIONS`; with
            ``info``, answer for that TDI alone.
        nonce: the verifier's nonce; ``refresh_evidence`` only, and required there.
        target: how a TSM service opens the device on ``connect`` (a
            ``tcp://`` URL or a PCI address); the psp-proxy host opens devices itself.
        backend: the backend the client expects the TSM service to run.

    Raises:
        DecodeError: an unknown operation, an address that is not one, a TDI
            operation without its TDI, a refresh without its nonce, a nonce elsewhere.
    """

    op: str
    bdf: str
    tdi: str | None = None
    nonce: bytes | None = None
    target: str | None = None
    backend: str | None = None

    def __post_init__(self) -> None:
        if self.op not in OPERATIONS:
            raise DecodeError(f"unknown TSM command {self.op!r} for {self.bdf!r}")
        function_id(self.bdf)
        if self.tdi is not None:
            function_id(self.tdi)
        elif self.op in TDI_OPERATIONS:
            raise DecodeError(f"unknown TSM command {self.op!r} without the TDI it is for")
        if (self.nonce is not None) != (self.op == "refresh_evidence"):
            raise DecodeError(f"a nonce goes with refresh_evidence only, and it needs one (not {self.op!r})")


def perform(tsm: Tsm, operation: Operation, open_device: Callable[[], DoeTransport],
            progress: Progress = no_progress) -> DeviceInfo | TdiInfo:
    """Carry out one operation; ``info`` with a ``tdi`` answers for that TDI alone.

    The psp-proxy security processor and the ``devsec tsm`` service both
    receive operations from another process; this is the one place that runs them.

    Args:
        tsm: the TSM to run it on.
        operation: what to do.
        open_device: how ``connect`` reaches the device's DOE mailbox.
        progress: told each step.

    Raises:
        Whatever the operation raises.
    """
    bdf = operation.bdf
    match operation:
        case Operation(op="connect"):
            return tsm.connect(DeviceTarget(bdf, open_device), progress)
        case Operation(op="disconnect"):
            return tsm.disconnect(bdf, progress)
        case Operation(op="info", tdi=None):
            return tsm.info(bdf)
        case Operation(op="info", tdi=str() as tdi):
            return tsm.tdi_info(TdiTarget(bdf, tdi))
        case Operation(op="refresh_evidence", nonce=bytes() as nonce):
            return tsm.refresh_evidence(bdf, nonce, progress)
        case Operation(op="bind", tdi=str() as tdi):
            return tsm.bind(TdiTarget(bdf, tdi), progress)
        case Operation(op="accept", tdi=str() as tdi):
            return tsm.accept(TdiTarget(bdf, tdi), progress)
        case Operation(op="unbind", tdi=str() as tdi):
            return tsm.unbind(TdiTarget(bdf, tdi), progress)
    raise DecodeError(f"no TSM operation {operation}")  # Operation's own checks make this unreachable
