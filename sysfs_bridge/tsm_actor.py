"""Carrying out decisions through devsec's own TSM, for hosts whose kernel has no PCI/TSM.

:class:`TsmActor` is the :class:`~sysfs_bridge.actor.Actor` of ``devsec daemon
--backend native|psp-proxy`` (the daemon itself holds a TSM backend,
:mod:`tsm`) and of ``--tsm-service`` (the daemon or the udev hook drives a
running ``devsec tsm serve`` through :class:`tsm.service.ServiceTsm`):
the policy's decision drives the TSM.

- connect: the TSM connects the device (session, certificates and measurements
  verified once more by the TSM itself, IDE keys programmed and started);
- bind: connect, then lock the device's own interface (TDISP LOCK + report):
  it is ready for the VMM to assign to a confidential guest;
- refuse: a device the TSM holds is disconnected (fail closed);
- forget (the device went away): its link is dropped.

Once the TSM holds a device, its DOE mailbox is the TSM's: DOE allows one
SPDM connection per mailbox and a GET_VERSION from anyone else would end the
TSM's session.  So a device the TSM holds is not authenticated again through
the mailbox when it is re-admitted (a ``change`` event, a rescan):
:meth:`TsmActor.held_evidence` asks the TSM for measurements signed in the
session over a fresh nonce, and the policy judges those, in TSM mode (as the
kernel reports a device a TSM holds).  After each operation the whole device
(the DSM and its TDIs) is handed to ``after``, the daemon's renderer.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from spdm.errors import DevsecError, LocalProtocolError
from spdm.transport import DoeTransport
from tdisp.messages import TdiState
from tsm import DeviceInfo, DeviceTarget, LinkState, TdiTarget, Tsm

from .evidence import DeviceEvidence
from .pci import PciIdentity
from .tsm_evidence import evidence_from_tsm

__all__ = ["TsmActor"]

_log = logging.getLogger(__name__)

_LOCKED = (TdiState.CONFIG_LOCKED, TdiState.RUN)


class TsmActor:
    """Acts through a :class:`~tsm.Tsm` the caller opened (see the module docstring)."""

    def __init__(self, tsm: Tsm, opener: Callable[[str], DoeTransport], *,
                 after: Callable[[DeviceInfo], None] | None = None,
                 nonce: Callable[[], bytes] = lambda: os.urandom(32)) -> None:
        """Args:
            tsm: the backend; the caller closes it.
            opener: how the TSM reaches a device's DOE mailbox (the admission's opener).
            after: told the device's info after every operation that changed it.
            nonce: the 32-byte nonces re-admissions ask signed measurements over.
        """
        self.tsm = tsm
        self._open = opener
        self._after = after
        self._nonce = nonce

    def _connected(self, bdf: str) -> DeviceInfo | None:
        """The device's info when the TSM holds a live session with it."""
        try:
            info = self.tsm.info(bdf)
        except LocalProtocolError:
            return None  # never connected by this TSM
        return info if info.state == LinkState.CONNECTED else None

    def _report(self, info: DeviceInfo) -> None:
        if self._after is not None:
            self._after(info)

    def held_evidence(self, bdf: str, pci: PciIdentity) -> DeviceEvidence | None:
        """For a device the TSM holds: its evidence with measurements signed now, in the session.

        Raises:
            DevsecError: the TSM could not get them (the session is then lost:
                the device is ERROR and the next admission authenticates afresh).
        """
        if self._connected(bdf) is None:
            return None
        info = self.tsm.refresh_evidence(bdf, self._nonce())
        return evidence_from_tsm(info, pci)[0]  # the admission renders it; the TDIs did not change

    def connect(self, bdf: str) -> None:
        """Connect the device unless the TSM holds it already.

        Raises:
            DevsecError: the TSM could not connect it.
        """
        if self._connected(bdf) is not None:
            return
        info = self.tsm.connect(DeviceTarget(bdf, lambda: self._open(bdf)))
        _log.info("%s: connected by the %s TSM", bdf, self.tsm.name)
        self._report(info)

    def bind(self, bdf: str) -> None:
        """Connect, then lock the device's own interface unless it is locked already.

        Raises:
            DevsecError: the TSM could not connect it or lock the interface.
        """
        self.connect(bdf)
        info = self.tsm.info(bdf)
        if any(t.bdf == bdf and t.state in _LOCKED for t in info.tdis):
            return
        tdi = self.tsm.bind(TdiTarget(bdf, bdf))
        _log.info("%s: interface locked (%s), ready to be assigned to a guest", bdf, tdi.state.name)
        self._report(self.tsm.info(bdf))

    def refuse(self, bdf: str, reasons: tuple[str, ...]) -> None:
        """Log why, and disconnect the device if the TSM holds it.

        Raises:
            DevsecError: the device is held and could not be disconnected cleanly
                (its link is closed regardless).
        """
        _log.warning("%s: refused: %s", bdf, "; ".join(reasons))
        if self._connected(bdf) is None:
            return
        try:
            info = self.tsm.disconnect(bdf)
        finally:
            self._report(self.tsm.info(bdf))
        _log.warning("%s: disconnected from the %s TSM (%s)", bdf, self.tsm.name, info.state.value)

    def forget(self, bdf: str) -> None:
        """The device went away: drop the TSM's link (a goodbye it cannot hear may fail)."""
        if self._connected(bdf) is None:
            return
        try:
            self.tsm.disconnect(bdf)
        except DevsecError as exc:
            _log.info("%s: removed while connected; link dropped (%s)", bdf, exc)
