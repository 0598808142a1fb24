"""Admit one device: authenticate it, render its evidence, let the policy decide, act on it.

The one path the policy daemon and the udev hook share (:meth:`Admission.perform`):

1. open the device (a pluggable :data:`Opener`: its config-space DOE mailbox by
   default, or an spdm-emu socket for emulators) and read its PCI identity;
2. authenticate it (:func:`spdm.connection.connect`) — unless the
   actor's TSM holds it, whose session then provides fresh evidence
   (:meth:`~sysfs_bridge.actor.Actor.held_evidence`);
3. render its evidence under the root (:func:`~sysfs_bridge.rendering.render`,
   atomic: readers see the old tree or the new one);
4. :func:`~sysfs_bridge.policy.evaluate` the rendered directory;
5. act (:class:`~sysfs_bridge.actor.Actor`): connect, bind, or refuse.

It fails closed.  When authentication fails (a bad signature, an untrusted
chain, a transport error or timeout, a device without DOE), the decision is a
deny naming the failure, and the device's tree is re-rendered with
``authenticated`` 0 and no certificates or measurements: the previous
evidence is replaced as a whole, never left half-written and never left
claiming an authentication that just failed (the ``signatures/`` log keeps
its history, as the kernel's does).  If even that render fails, the tree is
removed.  A device the kernel's TSM holds (its ``tsm/connect`` or a
``tsm/bound`` is set) is not authenticated through its mailbox, which the
kernel's session owns, and its evidence is not readable through the kernel's
ABI: the decision is then ``allow`` false with action ``leave`` and its reason,
and neither its tree nor its link is touched.  When the actor cannot carry out
an allow, the decision becomes a deny with that reason.  A ``remove`` takes the tree away (and the actor drops
what it holds for the device).

Trust: a policy trusting roots only as certificates makes them the
authentication's trust anchors (an untrusted chain fails right there, as in
CMA); a policy trusting any root by hash authenticates against the chain's
own root and leaves trust to the policy's root check (the rendered
``authenticated`` 1 then means the device proved its leaf key, not that its
root is trusted).

Each decision is logged as one JSON line (``sysfs_bridge.admission``, INFO):
``bdf``, ``action``, ``allow``, ``reasons``, ``duration_ms``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from spdm.config import DEFER_TRUST, RequesterConfig
from spdm.connection import connect
from spdm.errors import ConfigurationError, DevsecError
from spdm.transport import DoeTransport, KernelTsmHoldsDevice, SysfsConfigSpace
from spdm.transport.targets import is_socket_target, open_target
from tsm.info import function_id

from .actor import Actor
from .evidence import DeviceEvidence, check_bdf, evidence_from_report
from .pci import PciIdentity, pci_identity
from .policy import DENY_ACTION, Decision, evaluate
from .policy_file import Policy
from .rendering import DEFAULT_MAX_SIGNATURES, remove_device, render
from .uevent import Work

__all__ = [
    "HELD_ACTION",
    "Admission",
    "Identify",
    "Opener",
    "config_space_identity",
    "mailbox_opener",
    "socket_opener",
    "unknown_identity",
]

_log = logging.getLogger(__name__)

Opener = Callable[[str], DoeTransport]
"""Opens the DOE transport to the device at a PCI address (the caller closes it)."""

Identify = Callable[[str], PciIdentity]
"""Reads the PCI identity of the device at a PCI address."""


HELD_ACTION: Final = "leave"
"""The action of a decision not taken: the kernel's TSM holds the device (see :meth:`Admission.admit`)."""


def mailbox_opener(sysfs: Path, *, force: bool = False) -> Opener:
    """Devices through the DOE mailbox of their config space (``<sysfs>/bus/pci/devices/<bdf>/config``).

    Opening raises TransportError when the config file cannot be opened (root
    is needed) or the function has no DOE capability, and its subclass
    KernelTsmHoldsDevice when the kernel's TSM holds the device (unless
    ``force``: see :func:`spdm.transport.targets.open_target`).
    """
    def open_device(bdf: str) -> DoeTransport:
        return open_target(bdf, sysfs_root=str(sysfs), force=force)
    return open_device


def socket_opener(url: str, *, timeout: float = 10.0) -> Opener:
    """Every device through one spdm-emu socket server (``tcp://HOST:PORT``): for emulators.

    Raises:
        ConfigurationError: ``url`` is not ``tcp://HOST:PORT``.
    """
    if not is_socket_target(url):
        raise ConfigurationError(f"--via wants tcp://HOST:PORT, not {url!r}")
    return lambda _bdf: open_target(url, timeout=timeout)


def config_space_identity(sysfs: Path) -> Identify:
    """Identities read from the devices' config space under ``sysfs``.

    Reading raises TransportError when the config file cannot be read.
    """
    def identify(bdf: str) -> PciIdentity:
        config = SysfsConfigSpace.for_device(bdf, str(sysfs))
        try:
            return pci_identity(config)
        finally:
            config.close()
    return identify


def unknown_identity(_bdf: str) -> PciIdentity:
    """No identity (a device reached over a socket has no config space)."""
    return PciIdentity()


def _now() -> datetime:
    return datetime.now(UTC)


class Admission:
    """Authenticates, renders, decides and acts for one device at a time (see the module docstring).

    Calls for different devices may run concurrently; calls for the same
    device must not (the renderer allows one writer per device).
    """

    def __init__(
        self,
        policy: Policy,
        root: Path,
        *,
        opener: Opener,
        actor: Actor,
        identify: Identify = unknown_identity,
        now: Callable[[], datetime] = _now,
        clock: Callable[[], float] = time.monotonic,
        max_signatures: int = DEFAULT_MAX_SIGNATURES,
    ) -> None:
        """Args:
            policy: the loaded policy.
            root: where evidence trees are rendered.
            opener: how a device is reached.
            actor: what carries out decisions.
            identify: how a device's PCI identity is read (reference values need it).
            now: the time certificates must be valid at.
            clock: monotonic seconds, for the logged duration.
            max_signatures: the cap on each device's ``signatures/`` log.
        """
        self.policy = policy
        self.root = Path(root)
        self._opener = opener
        self._actor = actor
        self._identify = identify
        self._now = now
        self._clock = clock
        self._max_signatures = max_signatures
        self._defer_trust = bool(policy.root_hashes)
        self._config = RequesterConfig(
            trust_anchors=DEFER_TRUST if self._defer_trust else policy.roots)

    def perform(self, work: Work) -> Decision | None:
        """Admit (``admit``) or forget (``forget``) a device.

        Returns:
            The decision for ``admit``; None for ``forget``.

        Raises:
            ConfigurationError: ``rescan`` work (it needs the device list: the
                daemon expands it), a malformed address, or (``forget``) a tree
                devsec did not render.
            OSError: ``forget`` could not unlink the tree.
        """
        if work.kind == "admit":
            return self.admit(work.bdf)
        if work.kind == "forget":
            self.forget(work.bdf)
            return None
        raise ConfigurationError(f"{work.kind} is not work for one device")

    def _authenticate(self, bdf: str, pci: PciIdentity) -> DeviceEvidence:
        """CMA authentication; plus, when the policy requires IDE or TDISP, a session that probes them.

        Without the probe nothing would show that the device speaks IDE_KM or
        TDISP, and such a policy would deny every device.
        """
        found: tuple[str, ...] = ()
        transport = self._opener(bdf)
        try:
            connection = connect(transport, self._config, now=self._now())
            if self.policy.required & {"ide", "tdisp"}:
                from tsm.link import VendorChannel, probe  # IDE_KM and TDISP load only for such a policy

                with connection.open_session() as session:
                    found = probe(VendorChannel.through(session), function_id(bdf))
            report = connection.report
        finally:
            transport.close()
        return evidence_from_report(report, bdf, pci=pci, vendor_protocols=found)

    def _render(self, evidence: DeviceEvidence) -> str | None:
        """Render; on failure remove the device's old tree and say why."""
        try:
            render(evidence, self.root, max_signatures=self._max_signatures)
            return None
        except (DevsecError, OSError) as exc:
            try:
                remove_device(evidence.bdf, self.root)
            except (DevsecError, OSError) as again:
                _log.error("%s: cannot remove the stale evidence either: %s", evidence.bdf, again)
            return f"cannot render the evidence: {exc}"

    def _act(self, decision: Decision) -> Decision:
        """Carry the decision out; an allow the actor cannot carry out becomes a deny."""
        if decision.allow:
            try:
                if decision.action == "connect":
                    self._actor.connect(decision.bdf)
                elif decision.action == "bind":
                    self._actor.bind(decision.bdf)
                else:
                    raise ConfigurationError(f"the policy allowed with an unknown action {decision.action!r}")
                return decision
            except DevsecError as exc:
                decision = Decision(decision.bdf, False, DENY_ACTION,
                                    (f"{decision.action} failed: {type(exc).__name__}: {exc}",))
        try:
            self._actor.refuse(decision.bdf, decision.reasons)
        except DevsecError as exc:
            _log.error("%s: refusing failed: %s", decision.bdf, exc)
        return decision

    def admit(self, bdf: str) -> Decision:
        """Authenticate, render, decide and act for the device at ``bdf``.

        Returns:
            The decision as carried out; never raises for the device's sake.

        Raises:
            ConfigurationError: ``bdf`` is not a PCI address.
        """
        check_bdf(bdf)
        start = self._clock()
        failure = None
        pci = PciIdentity()
        try:
            pci = self._identify(bdf)
            held = self._actor.held_evidence(bdf, pci)
            evidence = held if held is not None else self._authenticate(bdf, pci)
        except KernelTsmHoldsDevice as exc:
            # The kernel's TSM owns the device's mailbox and its evidence is not readable
            # through the kernel's ABI: devsec can neither re-judge the device nor, on that
            # ground alone, take it from the TSM.  Its tree and its link stay as they are.
            decision = Decision(bdf, False, HELD_ACTION, (f"not re-judged: {exc}",))
            _log.info("%s", json.dumps({**decision.to_dict(),
                                        "duration_ms": round((self._clock() - start) * 1000, 3)}))
            return decision
        except DevsecError as exc:
            failure = f"authentication failed: {type(exc).__name__}: {exc}"
            evidence = DeviceEvidence(bdf=bdf, authenticated=False, pci=pci)
        unrendered = self._render(evidence)
        if failure is not None or unrendered is not None:
            reasons = tuple(r for r in (failure, unrendered) if r is not None)
            decision = Decision(bdf, False, DENY_ACTION, reasons)
        else:
            decision = evaluate(self.policy, self.root / "bus" / "pci" / "devices" / bdf, now=self._now())
        decision = self._act(decision)
        _log.info("%s", json.dumps({**decision.to_dict(),
                                    "duration_ms": round((self._clock() - start) * 1000, 3)}))
        return decision

    def forget(self, bdf: str) -> bool:
        """Remove the evidence of a device that went away.

        Returns:
            Whether it had a tree.

        Raises:
            ConfigurationError: a malformed address, or a tree devsec did not render.
            OSError: the tree could not be unlinked.
        """
        self._actor.forget(check_bdf(bdf))
        removed = remove_device(bdf, self.root)
        _log.info("%s", json.dumps({"bdf": bdf, "action": "forget", "removed": removed}))
        return removed
