"""Carrying out a policy decision: the :class:`Actor` hook and the kernel TSM ABI behind it.

The policy engine only decides; an actor makes the decision true.  The
default, :class:`KernelTsmActor`, uses the mainline 6.19 PCI/TSM sysfs ABI:

- connect: write the TSM's name (``tsm0``) to ``/sys/bus/pci/devices/<bdf>/tsm/connect``;
  the TSM then authenticates the device, and sets up IDE, itself.
- bind: the kernel has no sysfs attribute for it (a TDI is bound when the VMM
  assigns the device to a confidential guest, through iommufd), so the actor
  connects the device, which bind needs first, and leaves the bind to the VMM.
- refuse: log the reasons, and disconnect the device if a TSM holds it (a
  device that no longer passes the policy loses its secure link: fail closed).

The kernel's TSM reports no evidence of its own through this ABI yet, so a
device it holds is re-authenticated through its mailbox when re-admitted
(:meth:`KernelTsmActor.held_evidence` is None); devsec's own TSM does better
(:class:`~sysfs_bridge.tsm_actor.TsmActor`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

from spdm.errors import ConfigurationError, TransportError

from .evidence import DeviceEvidence, check_bdf, check_tsm_name
from .pci import PciIdentity

__all__ = ["Actor", "KernelTsmActor"]

_log = logging.getLogger(__name__)


class Actor(Protocol):
    """What is done to a device once the policy decided (one call per decision)."""

    def held_evidence(self, bdf: str, pci: PciIdentity) -> DeviceEvidence | None:
        """The evidence of a device the actor's TSM holds, gathered by that TSM; None otherwise.

        An admission uses it instead of authenticating through the device's
        mailbox, which the TSM's session owns.

        Raises:
            DevsecError: the TSM holds the device but could not get its evidence (a deny).
        """
        ...

    def connect(self, bdf: str) -> None:
        """Establish the device's secure link (TSM connect).

        Raises:
            DevsecError: it could not be done (the decision then becomes a deny).
        """
        ...

    def bind(self, bdf: str) -> None:
        """Make the device's interface ready to be bound to a confidential guest.

        Raises:
            DevsecError: it could not be done (the decision then becomes a deny).
        """
        ...

    def refuse(self, bdf: str, reasons: tuple[str, ...]) -> None:
        """Keep the device out, saying why.

        Raises:
            DevsecError: the device could not be taken out (logged; it stays denied).
        """
        ...

    def forget(self, bdf: str) -> None:
        """The device went away; drop what is held for it (never raises for the device's sake)."""
        ...


class KernelTsmActor:
    """Acts through the kernel's PCI/TSM sysfs attributes (see the module docstring)."""

    def __init__(self, sysfs: Path = Path("/sys"), *, tsm: str | None = None) -> None:
        """Args:
            sysfs: where the kernel's sysfs is mounted.
            tsm: the TSM class device to connect devices to (``tsm0``); by default
                the only one registered under ``class/tsm/``.

        Raises:
            ConfigurationError: ``tsm`` is not a TSM device name.
        """
        self._sysfs = Path(sysfs)
        self._tsm = check_tsm_name(tsm) if tsm is not None else None

    def tsm_name(self) -> str:
        """The TSM devices are connected to.

        Raises:
            ConfigurationError: no TSM is registered, or several and none was chosen.
        """
        if self._tsm is not None:
            return self._tsm
        directory = self._sysfs / "class" / "tsm"
        names = sorted(os.listdir(directory)) if directory.is_dir() else []
        if not names:
            raise ConfigurationError(f"no TSM is registered under {directory}")
        if len(names) > 1:
            raise ConfigurationError(f"several TSMs under {directory} ({', '.join(names)}): choose one")
        return check_tsm_name(names[0])

    def held_evidence(self, bdf: str, pci: PciIdentity) -> DeviceEvidence | None:
        """None: the kernel TSM's own evidence is not read (see the module docstring)."""
        return None

    def forget(self, bdf: str) -> None:
        """Nothing: the kernel drops a removed device's TSM state itself."""

    def _attribute(self, bdf: str, name: str) -> Path:
        return self._sysfs / "bus" / "pci" / "devices" / check_bdf(bdf) / "tsm" / name

    def _connected_to(self, bdf: str) -> str:
        """The TSM holding the device ("" when none)."""
        try:
            return self._attribute(bdf, "connect").read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise TransportError(f"cannot read {self._attribute(bdf, 'connect')}: {exc}") from exc

    def _write(self, bdf: str, name: str, value: str) -> None:
        path = self._attribute(bdf, name)
        try:
            # Open without O_CREAT: on a real sysfs the attribute must exist already.
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, f"{value}\n".encode("ascii"))
            finally:
                os.close(fd)
        except OSError as exc:
            raise TransportError(f"cannot write {value!r} to {path}: {exc.strerror}") from exc

    def connect(self, bdf: str) -> None:
        """Connect the device to the TSM, unless it already is (the kernel answers EBUSY then).

        Raises:
            ConfigurationError: no (single) TSM is registered.
            TransportError: the attribute could not be read or written (no TSM
                support for this device, or the TSM failed to connect it).
        """
        name = self.tsm_name()
        current = self._connected_to(bdf)
        if current == name:
            return
        if current:
            raise TransportError(f"{bdf} is connected to {current}, not {name}")
        self._write(bdf, "connect", name)
        _log.info("%s: connected to %s", bdf, name)

    def bind(self, bdf: str) -> None:
        """Connect the device; binding its interface to a guest is the VMM's step.

        Raises:
            ConfigurationError / TransportError: as :meth:`connect`.
        """
        self.connect(bdf)
        _log.info("%s: ready to be bound; the bind itself is left to the VMM "
                  "(no kernel sysfs attribute for it)", bdf)

    def refuse(self, bdf: str, reasons: tuple[str, ...]) -> None:
        """Log why, and disconnect the device from the TSM that holds it, if any.

        Raises:
            TransportError: the device is connected and could not be disconnected.
        """
        _log.warning("%s: refused: %s", bdf, "; ".join(reasons))
        try:
            current = self._connected_to(bdf)
        except TransportError:
            return  # no tsm/ attributes: no TSM can hold this device
        if current:
            self._write(bdf, "disconnect", current)
            _log.warning("%s: disconnected from %s", bdf, current)
