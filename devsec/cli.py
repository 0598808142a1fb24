"""The ``devsec`` command: thin glue from arguments to the library and back to text or JSON.

Each subcommand parses its flags into a library configuration, runs the
library, and renders the result.  Exceptions map to exit statuses in one
table (:data:`EXIT_STATUS`); nothing below this module prints or exits.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from devsec.emulator import SecureDevice
from spdm.authenticate import AuthenticationReport, SessionOptions, authenticate
from spdm.config import (
    ALL_VERSIONS,
    DEFAULT_REQUESTER_CAPS,
    DEFAULT_RESPONDER_CAPS,
    MUTUAL_AUTH_CAPS,
    RequesterConfig,
    ResponderConfig,
)
from spdm.crypto import Certificate, load_certificates
from spdm.device import DeviceModel
from spdm.errors import (
    ConfigurationError,
    DecodeError,
    DevsecError,
    NegotiationError,
    ProtocolError,
    TransportError,
    VerificationError,
)
from spdm.messages import NONCE_SIZE
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, SpdmVersion
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
from spdm.transport import DeviceMailbox, DoeTransport, EmuSocketClient
from sysfs_bridge import (
    Decision,
    PciIdentity,
    evaluate,
    evidence_from_report,
    evidence_from_tsm,
    export_bundle,
    load_policy,
    pci_identity,
    render,
    verify_bundle,
    verify_log,
)
from sysfs_bridge.actor import Actor, KernelTsmActor
from sysfs_bridge.admission import (
    Admission,
    config_space_identity,
    mailbox_opener,
    socket_opener,
    unknown_identity,
)
from sysfs_bridge.daemon import PolicyDaemon, kernel_devices
from sysfs_bridge.tsm_actor import TsmActor
from sysfs_bridge.uevent import NetlinkUeventSource, Work, uevent_from_environment, work_for
from tsm import DeviceInfo, Tsm, TsmConfig, backend_names, open_backend
from tsm.service import ServiceTsm
from tsm.teeio import TeeIoSteps

from . import dump as dump_cmd
from . import tsm_cmd
from .demo import run_demo
from .report import bundle_dict, bundle_text, report_dict, report_text

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


def exit_status(exc: BaseException) -> int:
    """The exit status for an exception (see :data:`EXIT_STATUS`)."""
    return next(code for cls, code in EXIT_STATUS if isinstance(exc, cls))


# ------------------------------------------------------------------ configuration from flags


def _preferences(args: argparse.Namespace, asym: BaseAsymAlgo | None = None) -> AlgorithmPreferences:
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


def _versions(args: argparse.Namespace) -> tuple[SpdmVersion, ...]:
    return tuple(parse_version(v) for v in args.version) if args.version else ALL_VERSIONS


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc.strerror}") from exc


def open_target(target: str) -> tuple[DoeTransport, PciIdentity | None]:
    """``tcp://HOST:PORT`` (spdm-emu socket) or a PCI address (config-space DOE mailbox).

    Returns the transport and, for a PCI address, the function's identity from its config space.
    """
    if target.startswith("tcp://"):
        return EmuSocketClient.from_url(target), None
    mailbox = DeviceMailbox(target)
    try:
        return mailbox, pci_identity(mailbox.config)
    except BaseException:
        mailbox.close()
        raise


# ------------------------------------------------------------------ subcommands


def cmd_connect(args: argparse.Namespace) -> int:
    if args.bdf == "0000:00:00.0":
        args.bdf = tsm_cmd.target_bdf(args.target, args.bdf)
    anchors = _certificates(args.trust_root, "trust root")
    identity = None
    caps = DEFAULT_REQUESTER_CAPS
    if args.requester_cert_chain or args.requester_key:
        if not (args.requester_cert_chain and args.requester_key):
            raise ConfigurationError("--requester-cert-chain and --requester-key go together")
        identity = DeviceModel.from_files(_read(args.requester_cert_chain, "requester chain"),
                                          _read(args.requester_key, "requester key"))
        caps |= MUTUAL_AUTH_CAPS
    config = RequesterConfig(
        versions=_versions(args), capabilities=caps, algorithms=_preferences(args),
        trust_anchors=anchors,
    )
    session = None
    teeio = TeeIoSteps(ide=args.ide, tdis=tuple(args.tdi or ((0x0101,) if args.tdisp else ())))
    if args.session or args.psk or args.ide or args.tdisp:
        psk = _hex(args.psk, "--psk") if args.psk else None
        session = SessionOptions(psk=psk, psk_hint=(args.psk_hint or "").encode(),
                                 inside=teeio if (args.ide or teeio.tdis) else None)
    transport, pci = open_target(args.target)
    try:
        report = authenticate(transport, config, now=datetime.now(UTC), slot_id=args.slot,
                              session=session, identity=identity)
    finally:
        transport.close()
    if args.sysfs:
        evidence = evidence_from_report(report, args.bdf, pci=pci,
                                        vendor_protocols=teeio.vendor_protocols)
        device_dir = render(evidence, Path(args.sysfs))
        print(f"evidence rendered under {device_dir}", file=sys.stderr)
    _print_teeio_report(args, report, args.target, teeio)
    return 0


def cmd_verify_log(args: argparse.Namespace) -> int:
    verdicts = verify_log(Path(args.device_dir))
    if args.json:
        print(json.dumps([{"entry": v.number, "ok": v.ok, "reason": v.reason} for v in verdicts],
                         indent=2))
    else:
        for v in verdicts:
            print(f"{v.number:>4}  {'ok    ' if v.ok else 'FAILED'}  {v.reason}")
        print(f"{sum(v.ok for v in verdicts)} of {len(verdicts)} signatures verify")
    return 0 if verdicts and all(v.ok for v in verdicts) else 1


def _print_decision(args: argparse.Namespace, decision: Decision) -> int:
    """Print a policy decision; its exit status (0 allow, 1 deny)."""
    if args.json:
        print(json.dumps(decision.to_dict(), indent=2))
    else:
        verdict = f"ALLOW ({decision.action})" if decision.allow else f"DENY ({decision.action})"
        print(f"{decision.bdf}  {verdict}")
        for reason in decision.reasons:
            print(f"  {'+' if decision.allow else '-'} {reason}")
    return 0 if decision.allow else 1


def cmd_evidence_export(args: argparse.Namespace) -> int:
    nonce = _nonce(args.nonce)
    config = RequesterConfig(versions=_versions(args), algorithms=_preferences(args),
                             trust_anchors=_certificates(args.trust_root, "trust root"))
    transport, _ = open_target(args.target)
    try:
        report = authenticate(transport, config, now=datetime.now(UTC), slot_id=args.slot,
                              measurement_nonce=nonce)
    finally:
        transport.close()
    bundle = export_bundle(report, nonce)
    try:
        Path(args.output).write_bytes(bundle)
    except OSError as exc:
        raise ConfigurationError(f"cannot write bundle {args.output}: {exc.strerror}") from exc
    blocks = len(report.measurements.blocks) if report.measurements else 0
    print(f"evidence bundle {args.output}: SPDM {report.negotiated.version.text}, slot {args.slot}, "
          f"{blocks} measurement blocks signed over the verifier's nonce")
    return 0


def cmd_evidence_verify(args: argparse.Namespace) -> int:
    nonce = _nonce(args.nonce)
    anchors = _certificates(args.trust_root, "trust root")
    data = _read(args.bundle, "bundle")
    try:
        verdict = verify_bundle(data, nonce, anchors, datetime.now(UTC))
    except (DecodeError, VerificationError) as exc:
        # A bundle that does not verify is this command's answer (exit 1), malformed or not;
        # only the caller's own mistakes (flags, unreadable files) are errors (exit 2).
        _print_report(args, {"bundle": args.bundle, "verified": False, "error": str(exc),
                             "kind": type(exc).__name__},
                      f"bundle        {args.bundle}\nresult        NOT VERIFIED: {type(exc).__name__}: {exc}")
        return 1
    _print_report(args, bundle_dict(verdict, args.bundle), bundle_text(verdict, args.bundle))
    return 0


def cmd_policy_check(args: argparse.Namespace) -> int:
    return _print_decision(args, evaluate(load_policy(Path(args.policy)), Path(args.device_dir)))


def _admission(args: argparse.Namespace, tsm: Tsm | None = None) -> Admission:
    """The one-device path the daemon and the hook share, from their common flags.

    With ``tsm`` (``daemon --backend``) or ``--tsm-service`` decisions are
    carried out by that TSM, and each device's evidence is rendered in TSM
    mode after it connected the device; otherwise through the kernel's TSM.
    """
    kernel = Path(args.kernel_sysfs)
    root = Path(args.sysfs)
    opener = socket_opener(args.via) if args.via else mailbox_opener(kernel)
    actor: Actor = KernelTsmActor(kernel, tsm=args.tsm)
    if args.tsm_service is not None:
        if tsm is not None or args.tsm is not None:
            raise ConfigurationError("--tsm-service, --backend and --tsm each name who acts: choose one")
        via = args.via
        tsm = ServiceTsm(Path(args.tsm_service), target=(lambda _bdf: via) if via else str)
    if tsm is not None:
        actor = TsmActor(tsm, opener, after=_tsm_renderer(root))
    return Admission(
        load_policy(Path(args.policy)), root, opener=opener,
        identify=unknown_identity if args.via else config_space_identity(kernel), actor=actor,
    )


def _daemon_tsm(args: argparse.Namespace) -> Tsm | None:
    """``daemon --backend``: the TSM the daemon holds, trusting the policy's root certificates."""
    if args.backend is None:
        return None
    if args.tsm is not None:
        raise ConfigurationError("--tsm names a kernel TSM; --backend runs devsec's own: choose one")
    roots = load_policy(Path(args.policy)).roots
    if not roots:
        raise ConfigurationError("--backend needs the policy to trust roots as certificate files "
                                 "([trust] roots): the TSM verifies device chains against them")
    return open_backend(args.backend, TsmConfig(RequesterConfig(trust_anchors=roots)))


def cmd_daemon(args: argparse.Namespace) -> int:
    logging.getLogger("sysfs_bridge").setLevel(logging.INFO)  # one JSON line per decision
    tsm = _daemon_tsm(args)
    try:
        return _run_daemon(args, _admission(args, tsm))
    finally:
        if tsm is not None:
            tsm.close()


def _run_daemon(args: argparse.Namespace, admission: Admission) -> int:
    source = NetlinkUeventSource()
    daemon = PolicyDaemon(source, admission, devices=kernel_devices(Path(args.kernel_sysfs)),
                          workers=args.workers)
    stop: Callable[[int, FrameType | None], None] = lambda _sig, _frame: daemon.stop()  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        daemon.submit(Work("rescan"))  # the devices that were added before we listened
        stats = daemon.run()
    finally:
        source.close()
    print(f"devsec daemon: {stats.allowed} allowed, {stats.denied} denied, {stats.forgotten} removed, "
          f"{stats.failed} failed, {stats.dropped} dropped at exit", file=sys.stderr)
    return 0


def cmd_udev_hook(args: argparse.Namespace) -> int:
    logging.getLogger("sysfs_bridge").setLevel(logging.INFO)
    try:
        work = work_for(uevent_from_environment(os.environ))
    except DecodeError as exc:
        raise ConfigurationError(f"not run by udev for a device event: {exc}") from exc
    if work is None or work.kind == "rescan":
        raise ConfigurationError(f"not a PCI add, change or remove event (ACTION={os.environ.get('ACTION')}, "
                                 f"SUBSYSTEM={os.environ.get('SUBSYSTEM')})")
    decision = _admission(args).perform(work)
    if decision is None:
        print(f"{work.bdf}  evidence removed")
        return 0
    return _print_decision(args, decision)


def _print_teeio_report(args: argparse.Namespace, report: AuthenticationReport, target: str,
                        teeio: TeeIoSteps) -> None:
    doc = report_dict(report, target)
    text = report_text(report, target)
    if teeio.steps:
        doc["tee_io"] = teeio.steps
        last = text.rindex("\nresult")
        text = text[:last] + "\ntee-io\n" + "\n".join(teeio.lines()) + text[last:]
    _print_report(args, doc, text)


def _certificates(paths: Sequence[str], what: str) -> tuple[Certificate, ...]:
    return tuple(c for path in paths for c in load_certificates(_read(path, what)))


def _hex(value: str, flag: str) -> bytes:
    try:
        data = bytes.fromhex(value)
    except ValueError as exc:
        raise ConfigurationError(f"{flag} wants hex digits: {exc}") from exc
    if not data:
        raise ConfigurationError(f"{flag} must not be empty")
    return data


def _nonce(value: str) -> bytes:
    nonce = _hex(value, "--nonce")
    if len(nonce) != NONCE_SIZE:
        raise ConfigurationError(f"--nonce wants {NONCE_SIZE} bytes ({2 * NONCE_SIZE} hex digits), "
                                 f"not {len(nonce)}")
    return nonce


def _device(args: argparse.Namespace) -> DeviceModel:
    if args.cert_chain or args.key:
        if not (args.cert_chain and args.key):
            raise ConfigurationError("--cert-chain and --key go together")
        asym = parse_asym(args.asym[0]) if args.asym else None
        return DeviceModel.from_files(
            _read(args.cert_chain, "certificate chain"), _read(args.key, "private key"), asym=asym,
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
        requester_roots = _certificates(args.requester_trust_root, "requester trust root")
        caps |= MUTUAL_AUTH_CAPS
    return ResponderConfig(versions=_versions(args), capabilities=caps,
                           algorithms=_preferences(args, model.asym_alg),
                           mutual_auth=args.mutual_auth, requester_trust_anchors=requester_roots)


def cmd_emulate(args: argparse.Namespace) -> int:
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigurationError(f"--listen wants HOST:PORT, not {args.listen!r}")
    model = _device(args)
    if args.psk:
        model = model.with_psks({(args.psk_hint or "").encode(): _hex(args.psk, "--psk")})
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
    try:
        serve = threading.Thread(target=server.serve_forever, daemon=True)
        serve.start()
        while serve.is_alive():
            serve.join(0.2)
    except KeyboardInterrupt:
        server.stop()
    finally:
        server.close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    run = run_demo(Path(args.sysfs), backend=args.backend)
    if args.json:
        print(json.dumps(run.document(), indent=2))
    else:
        print("devsec demo: an emulated TEE-IO device through a TSM\n" + "\n".join(run.lines()))
    return 0 if run.allowed else 1


def _tsm_after(args: argparse.Namespace) -> Callable[[DeviceInfo], None] | None:
    """``tsm serve --sysfs ROOT``: render each device's evidence after every operation."""
    return _tsm_renderer(Path(args.sysfs)) if args.sysfs else None


def _tsm_renderer(root: Path) -> Callable[[DeviceInfo], None]:
    """Renders what a TSM reports of a device (its DSM and every TDI) under ``root``."""
    def render_all(info: DeviceInfo) -> None:
        for evidence in evidence_from_tsm(info):
            render(evidence, root)
    return render_all


def _secrets_file(path: str) -> list[bytes]:
    """The reference's secrets file: ``--dhe_secret HEX`` / ``--psk HEX`` lines, in session order."""
    secrets = []
    for number, line in enumerate(_read(path, "secrets").decode(errors="replace").splitlines(), 1):
        words = line.split()
        if not words:
            continue
        if len(words) != 2 or words[0] not in ("--dhe_secret", "--psk"):
            raise ConfigurationError(f"{path}:{number}: expected '--dhe_secret HEX' or '--psk HEX'")
        secrets.append(_hex(words[1], f"{path}:{number}"))
    return secrets


def cmd_dump(args: argparse.Namespace) -> int:
    secrets = _secrets_file(args.secrets) if args.secrets else []
    lines = dump_cmd.dump(_read(args.pcap, "capture"), now=datetime.now(UTC), secrets=secrets)
    for line in lines:
        print(line)
    return 0


def _print_report(args: argparse.Namespace, doc: dict[str, Any], text: str) -> None:
    print(json.dumps(doc, indent=2) if args.json else text)


# ------------------------------------------------------------------ argument parsing


def _session_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dhe", action="append", metavar="|".join(DHE_GROUPS),
                        help="DHE group to allow (repeatable)")
    parser.add_argument("--aead", action="append", metavar="|".join(AEADS),
                        help="AEAD suite to allow (repeatable)")
    parser.add_argument("--psk", metavar="HEX", help="pre-shared key (PSK sessions)")
    parser.add_argument("--psk-hint", metavar="TEXT", help="the hint naming that PSK")


def _algorithm_flags(parser: argparse.ArgumentParser, asym_help: str) -> None:
    parser.add_argument("--version", action="append", metavar="|".join(VERSIONS),
                        help="SPDM version to allow (repeatable; default all)")
    parser.add_argument("--hash", action="append", metavar="|".join(HASHES),
                        help="hash algorithm to allow (repeatable)")
    parser.add_argument("--asym", action="append", metavar="|".join(ASYMS), help=asym_help)


def _admission_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", required=True, metavar="FILE", help="the TOML policy")
    parser.add_argument("--sysfs", required=True, metavar="ROOT",
                        help="where the devices' evidence is rendered (e.g. /run/devsec)")
    parser.add_argument("--kernel-sysfs", default="/sys", metavar="DIR",
                        help="the kernel's sysfs: devices, their config space, the TSM (default /sys)")
    parser.add_argument("--via", metavar="tcp://HOST:PORT",
                        help="reach every device through this spdm-emu socket instead of its DOE "
                             "mailbox (emulators)")
    parser.add_argument("--tsm", metavar="NAME",
                        help="the TSM to connect devices to (default: the only one in class/tsm)")
    parser.add_argument("--tsm-service", metavar="SOCKET",
                        help="act through the devsec TSM service listening there ('devsec tsm serve') "
                             "instead of the kernel's TSM")


def build_parser() -> argparse.ArgumentParser:
    """The ``devsec`` argument parser."""
    parser = argparse.ArgumentParser(prog="devsec", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("connect", help="authenticate a device and read its measurements")
    p.add_argument("target", help="tcp://HOST:PORT (spdm-emu socket) or a PCI address DDDD:BB:DD.F")
    p.add_argument("--trust-root", action="append", required=True, metavar="FILE",
                   help="root certificate(s), PEM or DER (repeatable)")
    p.add_argument("--slot", type=int, default=0, help="certificate slot (0-7)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--requester-cert-chain", metavar="FILE",
                   help="our own chain (PEM bundle or DER root first), for mutual authentication")
    p.add_argument("--requester-key", metavar="FILE", help="our own leaf's PEM private key")
    p.add_argument("--sysfs", metavar="ROOT",
                   help="render the device's evidence under ROOT in the kernel's sysfs layout")
    p.add_argument("--bdf", default="0000:00:00.0", type=str.lower,
                   help="the PCI address to file the evidence under (default: the target's, for a "
                        "PCI address; else 0000:00:00.0)")
    p.add_argument("--ide", action="store_true",
                   help="in the session: program and start IDE keys (IDE_KM), refresh them, stop")
    p.add_argument("--tdisp", action="store_true",
                   help="in the session: lock, report, start and stop a TDI (TDISP)")
    p.add_argument("--tdi", action="append", type=lambda v: int(v, 0), metavar="FUNCTION_ID",
                   help="the TDI's FUNCTION_ID (repeatable; default 0x0101)")
    p.add_argument("--session", action="store_true",
                   help="then open a session (KEY_EXCHANGE, or PSK with --psk), heartbeat, update "
                        "keys, measure inside it, and end it")
    _algorithm_flags(p, "signature algorithm to allow (repeatable)")
    _session_flags(p)
    p.set_defaults(func=cmd_connect)

    p = sub.add_parser("emulate", help="serve an emulated device over the spdm-emu socket protocol")
    p.add_argument("--listen", default="127.0.0.1:2323", metavar="HOST:PORT")
    p.add_argument("--cert-chain", metavar="FILE", help="DER certificates root first, or a PEM bundle")
    p.add_argument("--key", metavar="FILE", help="the leaf's PEM private key")
    p.add_argument("--root-out", metavar="FILE", help="write the root certificate (PEM) here")
    p.add_argument("--mutual-auth", action="store_true",
                   help="ask requesters to authenticate themselves in KEY_EXCHANGE")
    p.add_argument("--requester-trust-root", action="append", default=[], metavar="FILE",
                   help="root certificate(s) a requester's chain must lead to (repeatable)")
    _algorithm_flags(p, "the device key's algorithm (default ecdsa-p384)")
    _session_flags(p)
    p.set_defaults(func=cmd_emulate)

    p = sub.add_parser("verify-log", help="re-verify a rendered signatures/ log from its files alone")
    p.add_argument("device_dir", help="ROOT/bus/pci/devices/DDDD:BB:DD.F")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=cmd_verify_log)

    p = sub.add_parser("policy", help="check device evidence against a policy file")
    policy = p.add_subparsers(dest="policy_command", required=True)
    p = policy.add_parser("check", help="allow or deny one device directory, with every reason "
                                        "(exit 0 allow, 1 deny, 2 bad policy)")
    p.add_argument("device_dir", help="ROOT/bus/pci/devices/DDDD:BB:DD.F")
    p.add_argument("--policy", required=True, metavar="FILE", help="the TOML policy")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=cmd_policy_check)

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
    _algorithm_flags(e, "signature algorithm to allow (repeatable)")
    e.set_defaults(func=cmd_evidence_export)
    e = evidence.add_parser("verify", help="check a bundle offline against the nonce and trust roots")
    e.add_argument("bundle", metavar="FILE")
    e.add_argument("--nonce", required=True, metavar="HEX",
                   help="the nonce the verifier sent (64 hex digits)")
    e.add_argument("--trust-root", action="append", required=True, metavar="FILE",
                   help="root certificate(s) the bundle's chain must lead to, PEM or DER (repeatable)")
    e.add_argument("--json", action="store_true", help="print one JSON document")
    e.set_defaults(func=cmd_evidence_verify)

    p = sub.add_parser("daemon", help="authenticate and decide for every PCI device as the kernel's uevents "
                                      "announce it, until SIGTERM")
    _admission_flags(p)
    p.add_argument("--workers", type=int, default=4, help="devices handled at once (default 4)")
    p.add_argument("--backend", choices=backend_names(),
                   help="carry decisions out through devsec's own TSM of this backend (hosts without a "
                        "kernel TSM) instead of the kernel's tsm/ attributes")
    p.set_defaults(func=cmd_daemon)

    p = sub.add_parser("udev-hook", help="for udev RUN+=: authenticate and decide for the device in "
                                         "ACTION/DEVPATH/PCI_SLOT_NAME (exit 0 allow, 1 deny, 2 usage)")
    _admission_flags(p)
    p.add_argument("--json", action="store_true", help="print the decision as JSON")
    p.set_defaults(func=cmd_udev_hook)

    p = sub.add_parser("dump", help="decode a PCI DOE capture (pcap, link type 292)")
    p.add_argument("pcap")
    p.add_argument("--secrets", metavar="FILE",
                   help="session secrets ('--dhe_secret HEX' / '--psk HEX' lines, in session order)")
    p.set_defaults(func=cmd_dump)

    p = sub.add_parser("demo", help="the whole TEE-IO flow on an in-process emulated device with 4 VFs")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.add_argument("--backend", choices=backend_names(), default="psp-proxy", help="the TSM backend")
    p.add_argument("--sysfs", default="devsec-sysfs", metavar="ROOT",
                   help="where to render the evidence (default ./devsec-sysfs)")
    p.set_defaults(func=cmd_demo)

    tsm_cmd.add_parsers(sub, lambda target: open_target(target)[0], _certificates, _tsm_after)
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
