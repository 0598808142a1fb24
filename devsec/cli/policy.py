"""devsec policy check: allow or deny one device directory against a policy file."""

from __future__ import annotations

import argparse
from pathlib import Path

from sysfs_bridge import evaluate, load_policy

from .args import Subparsers
from .outcome import print_decision

__all__ = ["add_parser"]


def _check(args: argparse.Namespace) -> int:
    return print_decision(args, evaluate(load_policy(Path(args.policy)), Path(args.device_dir)))


def add_parser(sub: Subparsers) -> None:
    """Add ``devsec policy check``."""
    p = sub.add_parser("policy", help="check device evidence against a policy file")
    policy = p.add_subparsers(dest="policy_command", required=True)
    p = policy.add_parser("check", help="allow or deny one device directory, with every reason "
                                        "(exit 0 allow, 1 deny, 2 bad policy)")
    p.add_argument("device_dir", help="ROOT/bus/pci/devices/DDDD:BB:DD.F")
    p.add_argument("--policy", required=True, metavar="FILE", help="the TOML policy")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=_check)
