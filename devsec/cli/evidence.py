"""devsec evidence export|verify: evidence bundles for a remote verifier."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from spdm.authenticate import authenticate
from spdm.config import RequesterConfig
from spdm.errors import ConfigurationError, DecodeError, VerificationError
from spdm.transport.targets import open_transport
from sysfs_bridge import export_bundle, verify_bundle

from .args import (
    Subparsers,
    algorithm_flags,
    certificates,
    force_flag,
    nonce,
    preferences,
    print_report,
    read,
    sized,
    transfer_flags,
    versions,
)
from .report import bundle_dict, bundle_text

__all__ = ["add_parser"]


def _export(args: argparse.Namespace) -> int:
    verifier_nonce = nonce(args.nonce)
    config = sized(RequesterConfig(versions=versions(args), algorithms=preferences(args),
                                   trust_anchors=certificates(args.trust_root, "trust root")), args)
    with open_transport(args.target, force=args.force) as transport:
        report = authenticate(transport, config, slot_id=args.slot, measurement_nonce=verifier_nonce)
    bundle = export_bundle(report, verifier_nonce)
    try:
        Path(args.output).write_bytes(bundle)
    except OSError as exc:
        raise ConfigurationError(f"cannot write bundle {args.output}: {exc.strerror}") from exc
    blocks = len(report.measurements.blocks) if report.measurements else 0
    print(f"evidence bundle {args.output}: SPDM {report.negotiated.version.text}, slot {args.slot}, "
          f"{blocks} measurement blocks signed over the verifier's nonce")
    return 0


def _verify(args: argparse.Namespace) -> int:
    verifier_nonce = nonce(args.nonce)
    anchors = certificates(args.trust_root, "trust root")
    data = read(args.bundle, "bundle")
    try:
        verdict = verify_bundle(data, verifier_nonce, anchors, datetime.now(UTC))
    except (DecodeError, VerificationError) as exc:
        # A bundle that does not verify is this command's answer (exit 1), malformed or not;
        # only the caller's own mistakes (flags, unreadable files) are errors (exit 2).
        print_report(args, {"bundle": args.bundle, "verified": False, "error": str(exc),
                            "kind": type(exc).__name__},
                     f"bundle        {args.bundle}\nresult        NOT VERIFIED: {type(exc).__name__}: {exc}")
        return 1
    print_report(args, bundle_dict(verdict, args.bundle), bundle_text(verdict, args.bundle))
    return 0


def add_parser(sub: Subparsers) -> None:
    """Add ``devsec evidence export`` and ``devsec evidence verify``."""
    p = sub.add_parser("evidence", help="evidence bundles for a remote verifier: export, verify")
    evidence = p.add_subparsers(dest="evidence_command", required=True)
    e = evidence.add_parser("export", help="have a device sign its measurements over a verifier's nonce "
                                           "and write them as one bundle")
    e.add_argument("target", help="tcp://HOST:PORT (spdm-emu socket) or a PCI address DDDD:BB:DD.F")
    e.add_argument("--nonce", required=True, metavar="HEX",
                   help="the verifier's 32-byte nonce (64 hex digits)")
    e.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write the bundle")
    e.add_argument("--trust-root", action="append", required=True, metavar="FILE",
                   help="root certificate(s) the device must lead to here, PEM or DER (repeatable)")
    e.add_argument("--slot", type=int, default=0, help="certificate slot (0-7)")
    algorithm_flags(e, "signature algorithm to allow (repeatable)")
    transfer_flags(e)
    force_flag(e)
    e.set_defaults(func=_export)
    e = evidence.add_parser("verify", help="check a bundle offline against the nonce and trust roots")
    e.add_argument("bundle", metavar="FILE")
    e.add_argument("--nonce", required=True, metavar="HEX",
                   help="the nonce the verifier sent (64 hex digits)")
    e.add_argument("--trust-root", action="append", required=True, metavar="FILE",
                   help="root certificate(s) the bundle's chain must lead to, PEM or DER (repeatable)")
    e.add_argument("--json", action="store_true", help="print one JSON document")
    e.set_defaults(func=_verify)
