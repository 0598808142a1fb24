"""devsec tsm serve|stop|connect|disconnect|bind|accept|unbind|info|refresh: argument glue.

``serve`` opens a backend and holds it (:class:`tsm.service.TsmService`), ``stop`` ends
it; the other subcommands send one request each, show its steps with their
elapsed time on stderr while it runs, and print the result (text, or
``--json``).  With ``--backend`` an operation insists on that backend and
starts a service running it when none listens (``--trust-root`` then needed).
``serve --version/--hash/--asym/--kem`` choose what the TSM's requester offers
(an ``ml-dsa-*`` ``--asym`` or a ``--kem`` adds SPDM 1.4, as for ``connect``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from spdm.config import RequesterConfig
from spdm.names import ASYMS, HASHES, KEMS, PQC_ASYMS, name_of, signing_name
from spdm.transport import DoeTransport
from spdm.transport.targets import open_target
from tsm import DeviceInfo, TdiInfo, TsmConfig, backend_names, open_backend
from tsm.service import TsmService, alive, request, shutdown, spawn
from tsm.wire import encode_info

from .args import (
    Subparsers,
    algorithm_flags,
    certificates,
    force_flag,
    preferences,
    sized,
    target_bdf,
    transfer_flags,
    versions,
)
from .outcome import tsm_renderer

__all__ = ["add_parser", "info_lines"]

DEFAULT_SOCKET = "devsec-tsm.sock"
DEFAULT_DSM = "0000:01:00.0"
"""The emulator's PF (FUNCTION_ID 0x0100), the address a tcp:// device is filed under by default."""


def info_lines(info: DeviceInfo | TdiInfo) -> list[str]:
    """A device's or a TDI's info for a terminal."""
    if isinstance(info, TdiInfo):
        return [f"tdi {info.bdf} (FUNCTION_ID 0x{info.interface_id:04x}) of {info.dsm}: {info.state.name}, "
                f"report {len(info.report)} bytes, {info.mmio_ranges} MMIO range(s)"]
    lines = [
        f"device {info.bdf}: {info.state.value} (TSM {info.tsm})",
        f"  SPDM {info.version.text}, {name_of(info.hash_alg, dict(HASHES))}, "
        f"{signing_name(info.asym_alg)}" + (f", {name_of(info.kem_alg, dict(KEMS))}" if info.kem_alg else ""),
        f"  certificates: slots {sorted(info.certificates)}; {len(info.signatures)} signature(s); "
        f"{len(info.measurements)} measurement block(s)",
        f"  IDE streams running: {list(info.streams) or 'none'}",
    ]
    lines += [f"  {line}" for tdi in info.tdis for line in info_lines(tdi)]
    return lines


def _client(op: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        doc = {"op": "refresh_evidence" if op == "refresh" else op,
               "bdf": target_bdf(args.target, args.bdf), "target": args.target}
        if op in ("bind", "accept", "unbind") or (op == "info" and args.tdi):
            doc["tdi"] = args.tdi.lower()
        if op == "refresh":
            doc["nonce"] = args.nonce
        socket_path = Path(args.socket)
        if args.backend is not None:
            doc["backend"] = args.backend
            if not alive(socket_path):
                offer = [*(f"--asym={a}" for a in args.asym or ()), *(f"--kem={k}" for k in args.kem or ())]
                pid = spawn(socket_path, args.backend, args.trust_root or [], args.sysfs, offer=offer)
                print(f"devsec: started a TSM service ({args.backend}, pid {pid}) on {socket_path}; "
                      f"'devsec tsm stop' ends it", file=sys.stderr, flush=True)

        def progress(step: str, elapsed: float) -> None:
            print(f"  {elapsed * 1e3:8.1f} ms  {step}", file=sys.stderr, flush=True)

        info = request(socket_path, doc, progress)
        print(encode_info(info).decode() if args.json else "\n".join(info_lines(info)))
        return 0
    return command


def _stop(args: argparse.Namespace) -> int:
    backend = shutdown(Path(args.socket))
    print(f"devsec: the TSM service ({backend}) on {args.socket} stopped")
    return 0


def _serve(args: argparse.Namespace) -> int:
    requester = RequesterConfig(versions=versions(args), algorithms=preferences(args),
                                trust_anchors=certificates(args.trust_root, "trust root"))
    config = TsmConfig(sized(requester, args))
    tsm = open_backend(args.backend, config)
    stop = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    after = tsm_renderer(Path(args.sysfs)) if args.sysfs else None
    force = args.force

    def open_device(target: str) -> DoeTransport:
        return open_target(target, force=force)

    service = TsmService(tsm, open_device, after)
    try:
        service.serve(Path(args.socket), stop=stop, ready=lambda: print(
            f"devsec: TSM service ({args.backend}) listening on {args.socket}", flush=True))
    finally:
        tsm.close()
    return 0


def add_parser(sub: Subparsers) -> None:
    """Add ``devsec tsm ...``."""
    tsm = sub.add_parser("tsm", help="drive devices through a TSM (connect, bind, accept, unbind, info)")
    ops = tsm.add_subparsers(dest="tsm_command", required=True)

    p = ops.add_parser("serve", help="hold a TSM backend and serve operator requests on a Unix socket")
    p.add_argument("--backend", choices=backend_names(), default="native")
    p.add_argument("--trust-root", action="append", required=True, metavar="FILE",
                   help="root certificate(s) device chains must lead to (repeatable)")
    p.add_argument("--socket", default=DEFAULT_SOCKET, metavar="PATH")
    p.add_argument("--sysfs", metavar="ROOT", help="render every device's evidence under ROOT")
    algorithm_flags(p, "signature algorithm to offer (repeatable; ml-dsa-* are SPDM 1.4's)")
    p.add_argument("--kem", action="append", metavar="|".join(KEMS),
                   help="SPDM 1.4 KEM to offer for sessions (repeatable)")
    transfer_flags(p)
    force_flag(p)
    p.set_defaults(func=_serve)

    p = ops.add_parser("stop", help="stop the TSM service (its sessions are abandoned)")
    p.add_argument("--socket", default=DEFAULT_SOCKET, metavar="PATH")
    p.set_defaults(func=_stop)

    helps = {
        "connect": "authenticate the device, open a session, program and start IDE keys",
        "disconnect": "stop TDIs and IDE, end the session",
        "bind": "lock a TDI and read its interface report",
        "accept": "start a bound TDI (RUN)",
        "unbind": "stop a TDI",
        "info": "what the TSM knows of the device",
        "refresh": "signed measurements over a verifier's nonce, in the session",
    }
    for op, text in helps.items():
        p = ops.add_parser(op, help=text)
        p.add_argument("target", help="tcp://HOST:PORT (spdm-emu socket) or the DSM's PCI address")
        p.add_argument("--bdf", default=DEFAULT_DSM, type=str.lower,
                       help=f"the DSM's PCI address for a tcp:// target (default {DEFAULT_DSM})")
        p.add_argument("--socket", default=DEFAULT_SOCKET, metavar="PATH", help="the TSM service")
        p.add_argument("--json", action="store_true", help="print the TSM info as JSON")
        start = p.add_argument_group(
            "backend", "insist on a backend; when no service listens, start one running it")
        start.add_argument("--backend", choices=backend_names(),
                           help="the backend the service must run (started if none listens)")
        start.add_argument("--trust-root", action="append", metavar="FILE",
                           help="for a service started here: root certificate(s) (repeatable)")
        start.add_argument("--sysfs", metavar="ROOT",
                           help="for a service started here: render evidence under ROOT")
        start.add_argument("--asym", action="append", metavar="|".join([*ASYMS, *PQC_ASYMS]),
                           help="for a service started here: signature algorithm to offer (repeatable)")
        start.add_argument("--kem", action="append", metavar="|".join(KEMS),
                           help="for a service started here: SPDM 1.4 KEM to offer (repeatable)")
        if op in ("bind", "accept", "unbind"):
            p.add_argument("--tdi", required=True, metavar="BDF", help="the TDI's PCI address (a VF)")
        if op == "info":
            p.add_argument("--tdi", metavar="BDF", help="answer for this TDI alone (state, interface report)")
        if op == "refresh":
            p.add_argument("--nonce", required=True, metavar="HEX", help="the verifier's 32-byte nonce")
        p.set_defaults(func=_client(op))

