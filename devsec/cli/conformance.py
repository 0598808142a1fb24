"""devsec conformance: run the responder conformance suite against a device and report per case.

``devsec conformance run TARGET`` opens a fresh transport to TARGET for every
case (a ``tcp://`` spdm-emu socket or a PCI function's DOE mailbox, as
``devsec connect`` takes), prints a progress line per case and a table per
group, and writes JUnit XML (``--junit``) and JSON (``--json``).  The exit
status is 0 only when no case failed or erred; skipped cases say why.
``--list`` prints the catalogue instead of running it.  ``--psk HEX`` with
``--psk-hint TEXT`` or ``--psk-hint-hex HEX`` (as ``devsec emulate`` takes
them) gives the device's PSK, so the PSK session cases run; ``--tdi`` names
the TDI the TDISP cases lock.  The JSON report records these options, saying
only whether a PSK was given.

``devsec conformance serve --requester-cmd CMD`` plays the device for
requester conformance: for each requester case it serves a fresh emulated
device on ``--listen`` (port 0: a free one per run), runs CMD once with
``{port}``, ``{host}``, ``{root}`` (the device's root certificate, PEM,
written to ``--root-out`` or a temporary file) and ``{chain}`` (slot 0's
chain as a PEM bundle, for ``devsec provision install``) substituted, and judges its
exit status together with the requests it sent.  ``--slot N:CHAIN:KEY`` (as
``devsec emulate`` takes it) gives the device a vendor's own identity, for a
requester that trusts only its vendor's root.  The same reports and exit
status as ``run``.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from spdm.device import DeviceModel
from spdm.errors import ConfigurationError
from spdm.messages.codes import BaseAsymAlgo
from spdm.names import parse_version
from spdm.transport.targets import open_target

from ..conformance import DEFAULT_VERSIONS, SUITES, Case, CaseResult, run_suite, select
from ..conformance import requester as rq
from ..conformance.case import needs_text
from ..conformance.options import DEFAULT_TDI, RunOptions
from ..conformance.report import dumps, group_table, progress_line, to_json, to_junit_xml
from ..conformance.requester import report as rq_report
from ..conformance.runner import SuiteResult
from .args import (
    Subparsers,
    certificates,
    force_flag,
    psk,
    psk_flags,
    psk_hint_hex_flag,
    root_certificates_pem,
    slot_identities,
    slot_spec,
)

__all__ = ["EXIT_NONCONFORMANT", "add_parser", "catalogue_text", "requester_catalogue_text"]

EXIT_NONCONFORMANT = 1
"""The exit status when a case failed or erred (0: every case passed or was skipped)."""


def _listing(entries: Sequence[tuple[str, str, str, str, str]]) -> str:
    """A catalogue: (group, id, clause, title, note) per case, grouped, one line each."""
    lines: list[str] = []
    for group in dict.fromkeys(entry[0] for entry in entries):
        members = [entry for entry in entries if entry[0] == group]
        lines.append(f"{group} ({len(members)} case{'s' if len(members) != 1 else ''})")
        lines += [f"  {id_:44} {clause:26} {title}{f' ({note})' if note else ''}"
                  for _, id_, clause, title, note in members]
    lines.append(f"{len(entries)} cases")
    return "\n".join(lines)


def catalogue_text(cases: tuple[Case, ...]) -> str:
    """The catalogue: one line per case (id, clause, what it needs, title), grouped."""
    return _listing([(c.group, c.id, c.reference, c.title, needs_text(c)) for c in cases])


def _finish(suite: SuiteResult | rq.RequesterSuiteResult, args: argparse.Namespace, name: str,
            document: Callable[[], dict[str, Any]]) -> int:
    """The group table, the reports asked for, and the exit status of a finished run."""
    print()
    print(group_table(suite))
    if args.junit:
        Path(args.junit).write_bytes(to_junit_xml(suite, name))
    if args.json:
        Path(args.json).write_text(dumps(document()) + "\n")
    return 0 if suite.ok else EXIT_NONCONFORMANT


def _selection_flags(parser: argparse.ArgumentParser, what: str) -> None:
    """``--case``, ``--skip``, ``--junit``, ``--json``, ``--list``: what runs and what is written."""
    parser.add_argument("--case", action="append", metavar="PATTERN",
                        help="run only cases whose id matches (glob, or a dotted prefix); repeatable")
    parser.add_argument("--skip", action="append", metavar="PATTERN",
                        help="leave out cases whose id matches (a claim the product does not make); "
                             "repeatable")
    parser.add_argument("--junit", metavar="FILE", help=f"write JUnit XML (one testcase per {what})")
    parser.add_argument("--json", metavar="FILE",
                        help="write JSON: every case and assertion, failing exchanges' bytes as hex")
    parser.add_argument("--list", action="store_true", help="print the case catalogue and exit")


def _suites(value: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in value.split(",") if s.strip())


def _run(args: argparse.Namespace) -> int:
    cases = select(args.suite, args.case or (), args.skip or ())
    if args.list:
        print(catalogue_text(cases))
        return 0
    if args.target is None:
        raise ConfigurationError("conformance run needs a TARGET (or --list)")
    versions = tuple(parse_version(v) for v in args.version) if args.version else DEFAULT_VERSIONS
    roots = certificates(args.trust_root or (), "trust root")
    options = _run_options(args)
    open_transport = functools.partial(open_target, args.target, force=args.force)

    def progress(result: CaseResult) -> None:
        print(progress_line(result), flush=True)

    suite = run_suite(open_transport, cases, versions=versions, trust_roots=roots, options=options,
                      on_result=progress)
    return _finish(suite, args, "devsec conformance", lambda: to_json(suite, args.target))


def _run_options(args: argparse.Namespace) -> RunOptions:
    """``--psk``, ``--psk-hint``/``--psk-hint-hex`` and ``--tdi`` as the run's options.

    Raises:
        ConfigurationError: malformed PSK flags (:func:`.args.psk`) or a FUNCTION_ID out of range.
    """
    given = psk(args)
    key, hint = given if given is not None else (None, b"")
    try:
        tdi = int(args.tdi, 0)
    except ValueError as exc:
        raise ConfigurationError(f"--tdi wants a FUNCTION_ID (decimal or 0x-hex), not {args.tdi!r}") from exc
    return RunOptions(psk=key, psk_hint=hint, tdi=tdi)


def requester_catalogue_text(cases: tuple[rq.RequesterCase, ...]) -> str:
    """The requester catalogue: one line per case (id, clause, kind, title), grouped."""
    return _listing([(c.group, c.id, c.reference, c.title, c.kind_text) for c in cases])


def _serve(args: argparse.Namespace) -> int:
    cases = rq.select(args.case or (), args.skip or ())
    if args.list:
        print(requester_catalogue_text(cases))
        return 0
    if not args.requester_cmd:
        raise ConfigurationError("conformance serve needs --requester-cmd (or --list)")
    if "{port}" not in args.requester_cmd:
        raise ConfigurationError("--requester-cmd must contain {port}, where the device listens")
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigurationError(f"--listen wants HOST:PORT, not {args.listen!r}")
    model = (DeviceModel(slot_identities([slot_spec(v) for v in args.slot])) if args.slot
             else DeviceModel.generate(BaseAsymAlgo.ECDSA_P384))
    impostor = DeviceModel.generate(model.asym_alg)
    with tempfile.TemporaryDirectory(prefix="devsec-serve-") as scratch:
        root = Path(args.root_out) if args.root_out else Path(scratch) / "root.pem"
        root.write_bytes(root_certificates_pem(model))
        requester = rq.Requester(args.requester_cmd, model, root, impostor, host.strip("[]"), int(port),
                                 args.timeout)

        def progress(result: rq.RequesterResult) -> None:
            print(progress_line(result), flush=True)

        suite = rq.run_requester_suite(requester, cases, on_result=progress)
    return _finish(suite, args, "devsec requester conformance",
                   lambda: rq_report.to_json(suite, args.requester_cmd))


def _add_serve(actions: Subparsers) -> None:
    serve = actions.add_parser("serve", help="play the device for a host requester and judge it per case")
    serve.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT",
                       help="where each case's device listens (port 0, the default: a free one per run)")
    serve.add_argument("--requester-cmd", metavar="CMD",
                       help="the requester to run once per case run; {port} (and {host}, {root}: the "
                            "device's root certificate, PEM, {chain}: slot 0's chain, PEM bundle) "
                            "are substituted")
    serve.add_argument("--slot", action="append", default=[], metavar="N:CHAIN:KEY",
                       help="the device's identity: slot N from a chain file (DER certificates root "
                            "first, or a PEM bundle) and the leaf's PEM private key, as devsec emulate "
                            "takes it (repeatable; default: a generated ECDSA P-384 identity in slot 0), "
                            "for a requester that trusts only its vendor's root")
    serve.add_argument("--root-out", metavar="FILE",
                       help="write the device's root certificate(s) (PEM, every slot's, each once) here "
                            "(default: a temporary file)")
    serve.add_argument("--timeout", type=float, default=rq.RUN_TIMEOUT, metavar="SECONDS",
                       help=f"kill a requester run after this long (default {rq.RUN_TIMEOUT:g})")
    _selection_flags(serve, "case")
    serve.set_defaults(func=_serve)


def add_parser(sub: Subparsers) -> None:
    """Add ``devsec conformance run`` and ``devsec conformance serve``."""
    p = sub.add_parser("conformance", help="conformance suites: SPDM, IDE_KM and TDISP responders (run), "
                                           "SPDM requesters (serve)")
    actions = p.add_subparsers(dest="conformance_command", required=True)
    run = actions.add_parser("run", help="run the responder cases against TARGET and report per case")
    run.add_argument("target", nargs="?", metavar="TARGET",
                     help="tcp://HOST:PORT (spdm-emu socket) or a PCI address DDDD:BB:DD.F")
    run.add_argument("--suite", type=_suites, default=SUITES, metavar="SUITE[,SUITE]",
                     help=f"suites to run (default and known: {','.join(SUITES)})")
    run.add_argument("--trust-root", action="append", metavar="FILE",
                     help="PEM/DER root certificate(s) the device's chains must lead to; repeatable")
    run.add_argument("--version", action="append", metavar="X.Y",
                     help="SPDM versions to test (default: every one the device lists up to 1.3; "
                          "1.4 when named); repeatable")
    psk_flags(run)
    psk_hint_hex_flag(run)
    run.add_argument("--tdi", default=hex(DEFAULT_TDI), metavar="FUNCTION_ID",
                     help=f"the TDI the TDISP cases lock (default 0x{DEFAULT_TDI:04x}, devsec emulate's PF)")
    _selection_flags(run, "case run")
    force_flag(run)
    run.set_defaults(func=_run)
    _add_serve(actions)
