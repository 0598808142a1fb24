"""What several commands share: flags, the configuration built from them, files, output.

Every error here is the user's (a flag, a file) and so a ``ConfigurationError``
(exit status 2).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeAlias

from spdm.config import ALL_VERSIONS
from spdm.crypto import Certificate, load_certificates
from spdm.errors import ConfigurationError
from spdm.messages import NONCE_SIZE
from spdm.messages.codes import BaseAsymAlgo, SpdmVersion
from spdm.names import (
    AEADS,
    ASYMS,
    DHE_GROUPS,
    HASHES,
    VERSIONS,
    parse_aead,
    parse_asym,
    parse_dhe,
    parse_hash,
    parse_version,
)
from spdm.negotiation import AlgorithmPreferences
from sysfs_bridge import Decision, evidence_from_tsm, render
from tsm import DeviceInfo

__all__ = [
    "Subparsers",
    "algorithm_flags",
    "certificates",
    "hex_value",
    "nonce",
    "preferences",
    "print_decision",
    "print_report",
    "read",
    "session_flags",
    "tsm_renderer",
    "versions",
]

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``add_subparsers`` returns (argparse has no public name for it)."""


def preferences(args: argparse.Namespace, asym: BaseAsymAlgo | None = None) -> AlgorithmPreferences:
    """The algorithms to offer, from ``--hash``, ``--asym``, ``--dhe``, ``--aead`` (``asym`` wins)."""
    prefs = AlgorithmPreferences()
    if getattr(args, "dhe", None):
        prefs = replace(prefs, dhe_groups=tuple(parse_dhe(g) for g in args.dhe))
    if getattr(args, "aead", None):
        prefs = replace(prefs, aead_suites=tuple(parse_aead(a) for a in args.aead))
    if args.hash:
        prefs = replace(prefs, hash_algs=tuple(parse_hash(h) for h in args.hash))
    if asym is not None:
        prefs = replace(prefs, asym_algs=(asym,))
    elif args.asym:
        prefs = replace(prefs, asym_algs=tuple(parse_asym(a) for a in args.asym))
    return prefs


def versions(args: argparse.Namespace) -> tuple[SpdmVersion, ...]:
    """The SPDM versions to offer, from ``--version`` (all by default)."""
    return tuple(parse_version(v) for v in args.version) if args.version else ALL_VERSIONS


def read(path: str, what: str) -> bytes:
    """A file's bytes; ``ConfigurationError`` naming ``what`` when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc.strerror}") from exc


def certificates(paths: Sequence[str], what: str) -> tuple[Certificate, ...]:
    """Every certificate in the given PEM or DER files."""
    return tuple(c for path in paths for c in load_certificates(read(path, what)))


def hex_value(value: str, flag: str) -> bytes:
    """A flag's non-empty hex bytes."""
    try:
        data = bytes.fromhex(value)
    except ValueError as exc:
        raise ConfigurationError(f"{flag} wants hex digits: {exc}") from exc
    if not data:
        raise ConfigurationError(f"{flag} must not be empty")
    return data


def nonce(value: str) -> bytes:
    """``--nonce``: a verifier's 32 bytes."""
    data = hex_value(value, "--nonce")
    if len(data) != NONCE_SIZE:
        raise ConfigurationError(f"--nonce wants {NONCE_SIZE} bytes ({2 * NONCE_SIZE} hex digits), "
                                 f"not {len(data)}")
    return data


def print_report(args: argparse.Namespace, doc: dict[str, Any], text: str) -> None:
    """One JSON document with ``--json``, else the text."""
    print(json.dumps(doc, indent=2) if args.json else text)


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


def session_flags(parser: argparse.ArgumentParser) -> None:
    """``--dhe``, ``--aead``, ``--psk``, ``--psk-hint``."""
    parser.add_argument("--dhe", action="append", metavar="|".join(DHE_GROUPS),
                        help="DHE group to allow (repeatable)")
    parser.add_argument("--aead", action="append", metavar="|".join(AEADS),
                        help="AEAD suite to allow (repeatable)")
    parser.add_argument("--psk", metavar="HEX", help="pre-shared key (PSK sessions)")
    parser.add_argument("--psk-hint", metavar="TEXT", help="the hint naming that PSK")


def algorithm_flags(parser: argparse.ArgumentParser, asym_help: str) -> None:
    """``--version``, ``--hash``, ``--asym``."""
    parser.add_argument("--version", action="append", metavar="|".join(VERSIONS),
                        help="SPDM version to allow (repeatable; default all)")
    parser.add_argument("--hash", action="append", metavar="|".join(HASHES),
                        help="hash algorithm to allow (repeatable)")
    parser.add_argument("--asym", action="append", metavar="|".join(ASYMS), help=asym_help)
