"""What the deciding commands print and render: a policy decision, and the evidence a TSM reports.

Kept apart from :mod:`.args` so that commands which never decide (``connect``,
``emulate``) do not import the policy engine and the sysfs renderer.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from sysfs_bridge.policy import Decision
from sysfs_bridge.rendering import render
from sysfs_bridge.tsm_evidence import evidence_from_tsm
from tsm.info import DeviceInfo

__all__ = ["print_decision", "tsm_renderer"]


def print_decision(args: argparse.Namespace, decision: Decision) -> int:
    """Print a policy decision; its exit status (0 allow, 1 deny)."""
    if args.json:
        print(json.dumps(decision.to_dict(), indent=2))
    else:
        verdict = f"ALLOW ({decision.action})" if decision.allow else f"DENY ({decision.action})"
        print(f"{decision.bdf}  {verdict}")
        for reason in decision.reasons:
            print(f"  {'+' if decision.allow else '-'} {reason}")
    return 0 if decision.allow else 1


def tsm_renderer(root: Path) -> Callable[[DeviceInfo], None]:
    """Renders what a TSM reports of a device (its DSM and every TDI) under ``root``."""
    def render_all(info: DeviceInfo) -> None:
        for evidence in evidence_from_tsm(info):
            render(evidence, root)
    return render_all
