"""The devsec command: thin glue from arguments to the library and back to text or JSON.

Each subcommand lives in its own module (:mod:`.connect`, :mod:`.emulate`,
:mod:`.demo`, :mod:`.dump`, :mod:`.verify_log`, :mod:`.evidence`,
:mod:`.policy`, :mod:`.daemon` with the udev hook, :mod:`.tsm`), which adds
its parser and parses its flags into a library configuration, runs the
library and renders the result.  Exceptions map to exit statuses in one
table here (:data:`EXIT_STATUS`); nothing below this package prints or exits.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence

from spdm.errors import (
    ConfigurationError,
    DecodeError,
    DevsecError,
    NegotiationError,
    ProtocolError,
    TransportError,
    VerificationError,
)

from . import conformance, connect, daemon, demo, dump, emulate, evidence, policy, tsm, verify_log

__all__ = ["EXIT_OUTPUT_CLOSED", "EXIT_STATUS", "build_parser", "exit_status", "main"]

EXIT_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (VerificationError, 1),
    (NegotiationError, 1),
    (ConfigurationError, 2),
    (DecodeError, 3),
    (ProtocolError, 3),
    (TransportError, 4),
    (DevsecError, 5),
)
"""Exception class -> exit status; the first matching row wins.  0 means verified."""

EXIT_OUTPUT_CLOSED = 128 + signal.SIGPIPE
"""The exit status when whoever read the output closed it: a shell's status for a SIGPIPE death."""

DESCRIPTION = "PCIe device security: SPDM authentication, IDE_KM, TDISP, a TSM, evidence and policy."
"""The parser's description (plain text: argparse prints it as it is)."""


def exit_status(exc: BaseException) -> int:
    """The exit status for an exception (see :data:`EXIT_STATUS`)."""
    return next(code for cls, code in EXIT_STATUS if isinstance(exc, cls))


def build_parser() -> argparse.ArgumentParser:
    """The ``devsec`` argument parser."""
    parser = argparse.ArgumentParser(prog="devsec", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    connect.add_parser(sub)
    conformance.add_parser(sub)
    emulate.add_parser(sub)
    verify_log.add_parser(sub)
    policy.add_parser(sub)
    evidence.add_parser(sub)
    daemon.add_parsers(sub)
    dump.add_parser(sub)
    demo.add_parser(sub)
    tsm.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``devsec`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(name)s: %(message)s")
    try:
        return int(args.func(args))
    except DevsecError as exc:
        if getattr(args, "json", False):
            print(json.dumps({"verified": False, "error": str(exc), "kind": type(exc).__name__}))
        print(f"devsec: {type(exc).__name__}: {exc}", file=sys.stderr)
        return exit_status(exc)
    except BrokenPipeError:
        # The reader went away (``devsec dump ... | head``): stop quietly, as a
        # tool killed by SIGPIPE would, and keep the interpreter's final flush
        # of stdout from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OUTPUT_CLOSED
