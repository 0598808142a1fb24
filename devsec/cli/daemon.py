"""devsec daemon and devsec udev-hook: admit PCI devices as the kernel announces them.

Both assemble the same one-device path (:class:`sysfs_bridge.admission.Admission`)
from the same flags: how devices are reached (their DOE mailbox, or ``--via``
an spdm-emu socket), who carries decisions out (the kernel's TSM, devsec's
own TSM with ``daemon --backend``, or a running TSM service with
``--tsm-service``), and where evidence is rendered.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from spdm.config import RequesterConfig
from spdm.errors import ConfigurationError, DecodeError
from sysfs_bridge import load_policy
from sysfs_bridge.actor import Actor, KernelTsmActor
from sysfs_bridge.admission import (
    Admission,
    config_space_identity,
    mailbox_opener,
    socket_opener,
    unknown_identity,
)
from sysfs_bridge.daemon import PolicyDaemon, kernel_devices
from sysfs_bridge.tsm_actor import TsmActor
from sysfs_bridge.uevent import NetlinkUeventSource, Work, uevent_from_environment, work_for
from tsm import Tsm, TsmConfig, backend_names, open_backend
from tsm.service import ServiceTsm

from .args import Subparsers, force_flag
from .outcome import print_decision, tsm_renderer

__all__ = ["add_parser"]


def _admission(args: argparse.Namespace, tsm: Tsm | None = None) -> Admission:
    """The one-device path the daemon and the hook share, from their common flags.

    With ``tsm`` (``daemon --backend``) or ``--tsm-service`` decisions are
    carried out by that TSM, and each device's evidence is rendered in TSM
    mode after it connected the device; otherwise through the kernel's TSM.

    Raises:
        ConfigurationError: more than one of ``--tsm-service``, ``--backend`` and ``--tsm``,
            or a bad policy or ``--via``.
    """
    kernel = Path(args.kernel_sysfs)
    root = Path(args.sysfs)
    opener = socket_opener(args.via) if args.via else mailbox_opener(kernel, force=args.force)
    actor: Actor = KernelTsmActor(kernel, tsm=args.tsm)
    if args.tsm_service is not None:
        if tsm is not None or args.tsm is not None:
            raise ConfigurationError("--tsm-service, --backend and --tsm each name who acts: choose one")
        via = args.via
        tsm = ServiceTsm(Path(args.tsm_service), target=(lambda _bdf: via) if via else str)
    if tsm is not None:
        actor = TsmActor(tsm, opener, after=tsm_renderer(root))
    return Admission(
        load_policy(Path(args.policy)), root, opener=opener,
        identify=unknown_identity if args.via else config_space_identity(kernel), actor=actor,
    )


def _daemon_tsm(args: argparse.Namespace) -> Tsm | None:
    """``daemon --backend``: the TSM the daemon holds, trusting the policy's root certificates.

    Raises:
        ConfigurationError: ``--tsm`` given too, or the policy trusts no root certificate file.
    """
    if args.backend is None:
        return None
    if args.tsm is not None:
        raise ConfigurationError("--tsm names a kernel TSM; --backend runs devsec's own: choose one")
    roots = load_policy(Path(args.policy)).roots
    if not roots:
        raise ConfigurationError("--backend needs the policy to trust roots as certificate files "
                                 "([trust] roots): the TSM verifies device chains against them")
    return open_backend(args.backend, TsmConfig(RequesterConfig(trust_anchors=roots)))


def _daemon(args: argparse.Namespace) -> int:
    logging.getLogger("sysfs_bridge").setLevel(logging.INFO)  # one JSON line per decision
    if args.processes and (args.backend or args.tsm_service is not None):
        raise ConfigurationError("--processes acts through the kernel's TSM only: devsec's TSM (--backend, "
                                 "--tsm-service) keeps its sessions and connection in one process")
    tsm = _daemon_tsm(args)
    try:
        return _run_daemon(args, _admission(args, tsm))
    finally:
        if tsm is not None:
            tsm.close()


def _run_daemon(args: argparse.Namespace, admission: Admission) -> int:
    source = NetlinkUeventSource()
    daemon = PolicyDaemon(source, admission, devices=kernel_devices(Path(args.kernel_sysfs)),
                          workers=args.workers, processes=args.processes)
    stop: Callable[[int, FrameType | None], None] = lambda _sig, _frame: daemon.stop()  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        daemon.submit(Work("rescan"))  # the devices that were added before we listened
        stats = daemon.run()
    finally:
        source.close()
    print(f"devsec daemon: {stats.allowed} allowed, {stats.denied} denied, {stats.forgotten} removed, "
          f"{stats.failed} failed, {stats.dropped} dropped at exit", file=sys.stderr)
    return 0


def _udev_hook(args: argparse.Namespace) -> int:
    logging.getLogger("sysfs_bridge").setLevel(logging.INFO)
    try:
        work = work_for(uevent_from_environment(os.environ))
    except DecodeError as exc:
        raise ConfigurationError(f"not run by udev for a device event: {exc}") from exc
    if work is None or work.kind == "rescan":
        raise ConfigurationError(f"not a PCI add, change or remove event (ACTION={os.environ.get('ACTION')}, "
                                 f"SUBSYSTEM={os.environ.get('SUBSYSTEM')})")
    decision = _admission(args).perform(work)
    if decision is None:
        print(f"{work.bdf}  evidence removed")
        return 0
    return print_decision(args, decision)


def _admission_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", required=True, metavar="FILE", help="the TOML policy")
    parser.add_argument("--sysfs", required=True, metavar="ROOT",
                        help="where the devices' evidence is rendered (e.g. /run/devsec)")
    parser.add_argument("--kernel-sysfs", default="/sys", metavar="DIR",
                        help="the kernel's sysfs: devices, their config space, the TSM (default /sys)")
    parser.add_argument("--via", metavar="tcp://HOST:PORT",
                        help="reach every device through this spdm-emu socket instead of its DOE "
                             "mailbox (emulators)")
    parser.add_argument("--tsm", metavar="NAME",
                        help="the TSM to connect devices to (default: the only one in class/tsm)")
    parser.add_argument("--tsm-service", metavar="SOCKET",
                        help="act through the devsec TSM service listening there ('devsec tsm serve') "
                             "instead of the kernel's TSM")
    force_flag(parser)


def add_parser(sub: Subparsers) -> None:
    """Add ``devsec daemon`` and ``devsec udev-hook``."""
    p = sub.add_parser("daemon", help="authenticate and decide for every PCI device as the kernel's uevents "
                                      "announce it, until SIGTERM")
    _admission_flags(p)
    p.add_argument("--workers", type=int, default=4, help="devices handled at once (default 4)")
    p.add_argument("--processes", type=int, default=0, metavar="N",
                   help="run the admissions in N forked processes, so they use every core (the worker "
                        "threads share one interpreter lock; bench/bench_daemon.py measures both); "
                        "default 0: in the worker threads")
    p.add_argument("--backend", choices=backend_names(),
                   help="carry decisions out through devsec's own TSM of this backend (hosts without a "
                        "kernel TSM) instead of the kernel's tsm/ attributes")
    p.set_defaults(func=_daemon)

    p = sub.add_parser("udev-hook", help="for udev RUN+=: authenticate and decide for the device in "
                                         "ACTION/DEVPATH/PCI_SLOT_NAME (exit 0 allow, 1 deny, 2 usage)")
    _admission_flags(p)
    p.add_argument("--json", action="store_true", help="print the decision as JSON")
    p.set_defaults(func=_udev_hook)
