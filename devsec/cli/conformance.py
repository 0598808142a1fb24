"""devsec conformance: run the responder conformance suite against a device and report per case.

``devsec conformance run TARGET`` opens a fresh transport to TARGET for every
case (a ``tcp://`` spdm-emu socket or a PCI function's DOE mailbox, as
``devsec connect`` takes), prints a progress line per case and a table per
group, and writes JUnit XML (``--junit``) and JSON (``--json``).  The exit
status is 0 only when no case failed or erred; skipped cases say why.
``--list`` prints the catalogue instead of running it.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from spdm.errors import ConfigurationError
from spdm.names import parse_version
from spdm.transport.targets import open_target

from ..conformance import SUITES, SUPPORTED_VERSIONS, Case, CaseResult, run_suite, select
from ..conformance.case import version_text
from ..conformance.report import dumps, group_table, progress_line, to_json, to_junit_xml
from .args import Subparsers, certificates, force_flag

__all__ = ["EXIT_NONCONFORMANT", "add_parser", "catalogue_text"]

EXIT_NONCONFORMANT = 1
"""The exit status when a case failed or erred (0: every case passed or was skipped)."""


def catalogue_text(cases: tuple[Case, ...]) -> str:
    """The catalogue: one line per case (id, clause, what it needs, title), grouped."""
    lines: list[str] = []
    group = ""
    for case in cases:
        if case.group != group:
            group = case.group
            count = sum(c.group == group for c in cases)
            lines.append(f"{group} ({count} case{'s' if count != 1 else ''})")
        needs = []
        if case.per_version:
            needs.append(f"each version from {version_text(case.min_version)}")
        elif case.min_version > 0x10:
            needs.append(f"from {version_text(case.min_version)}")
        if case.needs:
            needs.append("needs " + "|".join(f.name or hex(f) for f in type(case.needs) if f & case.needs))
        if case.needs_any:
            needs.append("needs " + " or ".join(f.name or hex(f) for f in type(case.needs_any)
                                                 if f & case.needs_any))
        extra = f" ({'; '.join(needs)})" if needs else ""
        lines.append(f"  {case.id:44} {case.reference:26} {case.title}{extra}")
    lines.append(f"{len(cases)} cases")
    return "\n".join(lines)


def _suites(value: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in value.split(",") if s.strip())


def _run(args: argparse.Namespace) -> int:
    cases = select(args.suite, args.case or (), args.skip or ())
    if args.list:
        print(catalogue_text(cases))
        return 0
    if args.target is None:
        raise ConfigurationError("conformance run needs a TARGET (or --list)")
    versions = tuple(parse_version(v) for v in args.version) if args.version else SUPPORTED_VERSIONS
    roots = certificates(args.trust_root or (), "trust root")
    open_transport = functools.partial(open_target, args.target, force=args.force)

    def progress(result: CaseResult) -> None:
        print(progress_line(result), flush=True)

    suite = run_suite(open_transport, cases, versions=versions, trust_roots=roots, on_result=progress)
    print()
    print(group_table(suite))
    if args.junit:
        Path(args.junit).write_bytes(to_junit_xml(suite))
    if args.json:
        Path(args.json).write_text(dumps(to_json(suite, args.target)) + "\n")
    return 0 if suite.ok else EXIT_NONCONFORMANT


def add_parser(sub: Subparsers) -> None:
    """Add ``devsec conformance run``."""
    p = sub.add_parser("conformance", help="conformance suite for SPDM responders (device vendors)")
    actions = p.add_subparsers(dest="conformance_command", required=True)
    run = actions.add_parser("run", help="run the responder cases against TARGET and report per case")
    run.add_argument("target", nargs="?", metavar="TARGET",
                     help="tcp://HOST:PORT (spdm-emu socket) or a PCI address DDDD:BB:DD.F")
    run.add_argument("--suite", type=_suites, default=SUITES, metavar="SUITE[,SUITE]",
                     help=f"suites to run (default and known: {','.join(SUITES)})")
    run.add_argument("--case", action="append", metavar="PATTERN",
                     help="run only cases whose id matches (glob, or a dotted prefix); repeatable")
    run.add_argument("--skip", action="append", metavar="PATTERN",
                     help="leave out cases whose id matches (a claim the product does not make); repeatable")
    run.add_argument("--trust-root", action="append", metavar="FILE",
                     help="PEM/DER root certificate(s) the device's chains must lead to; repeatable")
    run.add_argument("--version", action="append", metavar="X.Y",
                     help="SPDM versions to test (default: every one the device lists); repeatable")
    run.add_argument("--junit", metavar="FILE", help="write JUnit XML (one testcase per case run)")
    run.add_argument("--json", metavar="FILE",
                     help="write JSON: every case and assertion, failing exchanges' bytes as hex")
    run.add_argument("--list", action="store_true", help="print the case catalogue and exit")
    force_flag(run)
    run.set_defaults(func=_run)
