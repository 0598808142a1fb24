"""devsec dump: decode a PCI DOE, MCTP or DSP0287 TCP capture and verify its signatures (see devsec.dump)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from devsec.dump import dump, parse_secrets

from .args import Subparsers, read

__all__ = ["add_parser"]


def _run(args: argparse.Namespace) -> int:
    secrets = (parse_secrets(read(args.secrets, "secrets").decode(errors="replace"), args.secrets)
               if args.secrets else [])
    for line in dump(read(args.pcap, "capture"), now=datetime.now(UTC), secrets=secrets):
        print(line)
    return 0


def add_parser(sub: Subparsers) -> None:
    """Add ``devsec dump``."""
    p = sub.add_parser("dump", help="decode a PCI DOE, MCTP or DSP0287 TCP capture "
                                    "(pcap, link type 292, 291 or 147)")
    p.add_argument("pcap")
    p.add_argument("--secrets", metavar="FILE",
                   help="session secrets ('--dhe_secret HEX' / '--kem_secret HEX' / '--psk HEX' lines, "
                        "in session order)")
    p.set_defaults(func=_run)
