"""devsec emulate: serve an emulated SPDM device over the spdm-emu socket protocol."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from devsec.emulator import SecureDevice, serve
from spdm.config import DEFAULT_RESPONDER_CAPS, MUTUAL_AUTH_CAPS, ResponderConfig
from spdm.crypto import Certificate
from spdm.device import DeviceModel
from spdm.errors import ConfigurationError
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags
from spdm.names import parse_asym

from .args import (
    Subparsers,
    algorithm_flags,
    certificates,
    hex_value,
    preferences,
    read,
    session_flags,
    versions,
)

__all__ = ["add_parser"]


def _device(args: argparse.Namespace) -> DeviceModel:
    if args.cert_chain or args.key:
        if not (args.cert_chain and args.key):
            raise ConfigurationError("--cert-chain and --key go together")
        asym = parse_asym(args.asym[0]) if args.asym else None
        return DeviceModel.from_files(
            read(args.cert_chain, "certificate chain"), read(args.key, "private key"), asym=asym,
        )
    return DeviceModel.generate(parse_asym(args.asym[0]) if args.asym else BaseAsymAlgo.ECDSA_P384)


def _responder_config(args: argparse.Namespace, model: DeviceModel) -> ResponderConfig:
    caps = DEFAULT_RESPONDER_CAPS
    if model.has_psks:
        caps |= CapabilityFlags.PSK_CAP_WITH_CONTEXT
    requester_roots: tuple[Certificate, ...] = ()
    if args.mutual_auth:
        if not args.requester_trust_root:
            raise ConfigurationError("--mutual-auth needs --requester-trust-root")
        requester_roots = certificates(args.requester_trust_root, "requester trust root")
        caps |= MUTUAL_AUTH_CAPS
    return ResponderConfig(versions=versions(args), capabilities=caps,
                           algorithms=preferences(args, model.asym_alg),
                           mutual_auth=args.mutual_auth, requester_trust_anchors=requester_roots)


def _run(args: argparse.Namespace) -> int:
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigurationError(f"--listen wants HOST:PORT, not {args.listen!r}")
    model = _device(args)
    if args.psk:
        model = model.with_psks({(args.psk_hint or "").encode(): hex_value(args.psk, "--psk")})
    if args.root_out:
        Path(args.root_out).write_bytes(model.root_certificate_pem())
    device = SecureDevice(_responder_config(args, model), model)
    server = device.spdm.server(host.strip("[]"), int(port))
    stop: Callable[[int, FrameType | None], None] = lambda _sig, _frame: server.stop()  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    address = "{}:{}".format(*server.address)
    print(f"devsec: emulating an SPDM device on {address} (PCI_DOE); "
          f"root certificate {'in ' + args.root_out if args.root_out else 'not written'}",
          flush=True)
    serve(server)
    return 0


def add_parser(sub: Subparsers) -> None:
    """Add ``devsec emulate``."""
    p = sub.add_parser("emulate", help="serve an emulated device over the spdm-emu socket protocol")
    p.add_argument("--listen", default="127.0.0.1:2323", metavar="HOST:PORT")
    p.add_argument("--cert-chain", metavar="FILE", help="DER certificates root first, or a PEM bundle")
    p.add_argument("--key", metavar="FILE", help="the leaf's PEM private key")
    p.add_argument("--root-out", metavar="FILE", help="write the root certificate (PEM) here")
    p.add_argument("--mutual-auth", action="store_true",
                   help="ask requesters to authenticate themselves in KEY_EXCHANGE")
    p.add_argument("--requester-trust-root", action="append", default=[], metavar="FILE",
                   help="root certificate(s) a requester's chain must lead to (repeatable)")
    algorithm_flags(p, "the device key's algorithm (default ecdsa-p384)")
    session_flags(p)
    p.set_defaults(func=_run)
