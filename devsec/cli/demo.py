"""devsec demo: the whole TEE-IO flow on an in-process emulated device (see devsec.demo)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from devsec.demo import run_demo
from tsm import backend_names

from .args import Subparsers

__all__ = ["add_parser"]


def _run(args: argparse.Namespace) -> int:
    run = run_demo(Path(args.sysfs), backend=args.backend)
    if args.json:
        print(json.dumps(run.document(), indent=2))
    else:
        print("devsec demo: an emulated TEE-IO device through a TSM\n" + "\n".join(run.lines()))
    return 0 if run.allowed else 1


def add_parser(sub: Subparsers) -> None:
    """Add ``devsec demo``."""
    p = sub.add_parser("demo", help="the whole TEE-IO flow on an in-process emulated device with 4 VFs")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--backend", choices=backend_names(), default="psp-proxy", help="the TSM backend")
    p.add_argument("--sysfs", default="devsec-sysfs", metavar="ROOT",
                   help="where to render the evidence (default ./devsec-sysfs)")
    p.set_defaults(func=_run)
