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
import importlib
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

__all__ = ["COMMANDS", "EXIT_OUTPUT_CLOSED", "EXIT_STATUS", "build_parser", "exit_status", "main"]

COMMANDS: dict[str, str] = {
    "connect": "connect",
    "conformance": "conformance",
    "emulate": "emulate",
    "verify-log": "verify_log",
    "policy": "policy",
    "evidence": "evidence",
    "daemon": "daemon",
    "udev-hook": "daemon",
    "dump": "dump",
    "demo": "demo",
    "tsm": "tsm",
    "provision": "provision",
}
"""Command name -> the module of this package that adds its parser and runs it (help order).

A command imports only its own module: a udev hook or a one-shot ``connect``
pays for what it runs, not for the conformance suite or the TSM service.
"""

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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``devsec`` argument parser: every command's, or only ``command``'s when it is known.

    Args:
        command: the command being run (its module alone is imported), or None
            for the whole parser (``devsec --help``, an unknown command).
    """
    parser = argparse.ArgumentParser(prog="devsec", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    modules = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        module = importlib.import_module(f".{name}", __name__)
        module.add_parser(sub)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (its first argument that is not an option), or None."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``devsec`` command; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_command(argv)).parse_args(argv)
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
