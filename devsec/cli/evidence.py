"""devsec evidence export|verify|reference: evidence for a remote verifier (devsec-evidence/1 or EAT-DA).

``export --format eat`` writes the draft-poirier-rats-eat-da token (CBOR, a CMW
collection holding a UCCS, or a COSE_Sign1 with ``--signing-key``), from the
device itself or, with ``--tsm SOCKET``, from the TSM service holding it.
``verify`` reads either format: a document starting with ``{`` is a bundle,
anything else a token.  ``reference`` writes a known-good device's measurements
as CoRIM reference values (``#6.501``), which a policy's ``[[reference]] corim``
and Veraison's DA_SPDM scheme read.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from spdm.cma import authenticate
from spdm.config import RequesterConfig
from spdm.errors import ConfigurationError, DecodeError, VerificationError
from spdm.transport.targets import open_transport
from sysfs_bridge import export_bundle, verify_bundle
from sysfs_bridge.corim import reference_corim
from sysfs_bridge.eat import claims_from_report, export_eat, submodule_name, verify_eat

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
from .evidence_eat import eat_dict, eat_text, signer_key, signing_key, tsm_claims
from .report import bundle_dict, bundle_text

__all__ = ["add_parser"]


def _export(args: argparse.Namespace) -> int:
    verifier_nonce = nonce(args.nonce)
    eat = args.format == "eat"
    if not eat and (args.tsm or args.signing_key or args.tdi):
        raise ConfigurationError("--tsm, --tdi and --signing-key go with --format eat")
    key = signing_key(args.signing_key) if eat else None
    if args.tsm:
        claims = tsm_claims(args, verifier_nonce)
        data = export_eat(claims, verifier_nonce, key)
        version, slot, blocks = claims.evidence.version, claims.evidence.slot_id, len(claims.measurements)
    else:
        if not args.trust_root:
            raise ConfigurationError("--trust-root is required when devsec reads the device itself")
        config = sized(RequesterConfig(versions=versions(args), algorithms=preferences(args),
                                       trust_anchors=certificates(args.trust_root, "trust root")), args)
        with open_transport(args.target, force=args.force) as transport:
            report = authenticate(transport, config, slot_id=args.slot, measurement_nonce=verifier_nonce)
        data = export_eat(claims_from_report(report), verifier_nonce, key) if eat \
            else export_bundle(report, verifier_nonce)
        version, slot = report.negotiated.version, args.slot
        blocks = len(report.measurements.blocks) if report.measurements else 0
    try:
        Path(args.output).write_bytes(data)
    except OSError as exc:
        raise ConfigurationError(f"cannot write bundle {args.output}: {exc.strerror}") from exc
    what = ("EAT-DA token (COSE_Sign1)" if key else "EAT-DA token (UCCS)") if eat else "evidence bundle"
    print(f"{what} {args.output}: SPDM {version.text}, slot {slot}, "
          f"{blocks} measurement blocks signed over the verifier's nonce")
    return 0


def _verify(args: argparse.Namespace) -> int:
    verifier_nonce = nonce(args.nonce)
    anchors = certificates(args.trust_root, "trust root")
    data = read(args.bundle, "bundle")
    signer = signer_key(args.signer)
    try:
        if data.lstrip()[:1] == b"{":
            if signer is not None:
                raise VerificationError("a devsec-evidence/1 bundle carries no broker signature to check")
            verdict = verify_bundle(data, verifier_nonce, anchors, datetime.now(UTC))
            doc, text = bundle_dict(verdict, args.bundle), bundle_text(verdict, args.bundle)
        else:
            token = verify_eat(data, verifier_nonce, anchors, datetime.now(UTC), signer)
            doc, text = eat_dict(token, args.bundle), eat_text(token, args.bundle)
    except (DecodeError, VerificationError) as exc:
        # A bundle that does not verify is this command's answer (exit 1), malformed or not;
        # only the caller's own mistakes (flags, unreadable files) are errors (exit 2).
        print_report(args, {"bundle": args.bundle, "verified": False, "error": str(exc),
                            "kind": type(exc).__name__},
                     f"bundle        {args.bundle}\nresult        NOT VERIFIED: {type(exc).__name__}: {exc}")
        return 1
    print_report(args, doc, text)
    return 0


def _reference(args: argparse.Namespace) -> int:
    config = sized(RequesterConfig(versions=versions(args), algorithms=preferences(args),
                                   trust_anchors=certificates(args.trust_root, "trust root")), args)
    with open_transport(args.target, force=args.force) as transport:
        report = authenticate(transport, config, slot_id=args.slot)
    if report.measurements is None:
        raise ConfigurationError("the device reported no measurements (no MEAS_CAP)")
    name = submodule_name(report.chain.leaf)
    corim = reference_corim(report.measurements.blocks, report.negotiated.measurement_hash_alg, name,
                            args.id or f"devsec-reference:{name}")
    try:
        Path(args.output).write_bytes(corim)
    except OSError as exc:
        raise ConfigurationError(f"cannot write CoRIM {args.output}: {exc.strerror}") from exc
    print(f"CoRIM {args.output}: reference values of {len(report.measurements.blocks)} measurement blocks "
          f"for {name}")
    return 0


def add_parser(sub: Subparsers) -> None:
    """Add ``devsec evidence export`` and ``devsec evidence verify``."""
    p = sub.add_parser("evidence", help="evidence for a remote verifier: export, verify, reference")
    evidence = p.add_subparsers(dest="evidence_command", required=True)
    e = evidence.add_parser("export", help="have a device sign its measurements over a verifier's nonce "
                                           "and write them as one bundle")
    e.add_argument("target", help="tcp://HOST:PORT (spdm-emu socket) or a PCI address DDDD:BB:DD.F")
    e.add_argument("--nonce", required=True, metavar="HEX",
                   help="the verifier's 32-byte nonce (64 hex digits)")
    e.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write the bundle")
    e.add_argument("--trust-root", action="append", metavar="FILE",
                   help="root certificate(s) the device must lead to here, PEM or DER (repeatable; "
                        "required unless --tsm)")
    e.add_argument("--slot", type=int, default=0, help="certificate slot (0-7)")
    e.add_argument("--format", choices=("devsec", "eat"), default="devsec",
                   help="devsec: devsec-evidence/1 JSON (default); eat: an EAT-DA token (CBOR)")
    e.add_argument("--signing-key", metavar="PEM",
                   help="--format eat: sign the token (COSE_Sign1) with this broker key; without it, a UCCS")
    e.add_argument("--tsm", metavar="SOCKET",
                   help="--format eat: take the evidence from the TSM service on SOCKET holding the device")
    e.add_argument("--bdf", default="0000:01:00.0", type=str.lower,
                   help="with --tsm and a tcp:// target: the DSM's PCI address (default 0000:01:00.0)")
    e.add_argument("--tdi", metavar="BDF", type=str.lower,
                   help="with --tsm: include this locked TDI's TDISP interface report")
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
    e.add_argument("--signer", metavar="CERT",
                   help="EAT-DA: the broker certificate whose COSE_Sign1 the token must carry "
                        "(without it the token must be an unsigned UCCS)")
    e.add_argument("--json", action="store_true", help="print one JSON document")
    e.set_defaults(func=_verify)
    e = evidence.add_parser("reference", help="write a known-good device's measurements as CoRIM "
                                              "reference values")
    e.add_argument("target", help="tcp://HOST:PORT (spdm-emu socket) or a PCI address DDDD:BB:DD.F")
    e.add_argument("-o", "--output", required=True, metavar="FILE", help="where to write the CoRIM")
    e.add_argument("--trust-root", action="append", required=True, metavar="FILE",
                   help="root certificate(s) the device must lead to, PEM or DER (repeatable)")
    e.add_argument("--slot", type=int, default=0, help="certificate slot (0-7)")
    e.add_argument("--id", metavar="TEXT", help="the CoRIM's id (default devsec-reference:SUBMODULE)")
    algorithm_flags(e, "signature algorithm to allow (repeatable)")
    transfer_flags(e)
    force_flag(e)
    e.set_defaults(func=_reference)
