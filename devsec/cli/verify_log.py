"""devsec verify-log: re-verify a rendered signatures/ log from its files alone."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sysfs_bridge import verify_log

from .args import Subparsers

__all__ = ["add_parser"]


def _run(args: argparse.Namespace) -> int:
    verdicts = verify_log(Path(args.device_dir))
    if args.json:
        print(json.dumps([{"entry": v.number, "ok": v.ok, "reason": v.reason} for v in verdicts],
                         indent=2))
    elif not verdicts:
        print(f"{args.device_dir}: no signature log to verify; give a device directory "
              "(ROOT/bus/pci/devices/DDDD:BB:DD.F) or its signatures/ directory")
    else:
        for v in verdicts:
            print(f"{v.number:>4}  {'ok    ' if v.ok else 'FAILED'}  {v.reason}")
        print(f"{sum(v.ok for v in verdicts)} of {len(verdicts)} signatures verify")
    return 0 if verdicts and all(v.ok for v in verdicts) else 1


def add_parser(sub: Subparsers) -> None:
    """Add ``devsec verify-log``."""
    p = sub.add_parser("verify-log", help="re-verify a rendered signatures/ log from its files alone")
    p.add_argument("device_dir", help="ROOT/bus/pci/devices/DDDD:BB:DD.F, or its signatures/ directory")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=_run)
