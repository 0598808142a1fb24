"""devsec connect: authenticate a device, optionally exercise a session and run IDE_KM/TDISP in it."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from spdm.cma import AuthenticationReport
from spdm.config import DEFAULT_REQUESTER_CAPS, MUTUAL_AUTH_CAPS, RequesterConfig
from spdm.connection import Connection, Session, connect
from spdm.errors import ConfigurationError
from spdm.messages.codes import CapabilityFlags
from spdm.negotiation import MEAS_CAPS
from spdm.transport.targets import open_transport

from .args import (
    Subparsers,
    algorithm_flags,
    certificates,
    force_flag,
    hex_value,
    preferences,
    print_report,
    read,
    session_flags,
    sized,
    target_bdf,
    transfer_flags,
    versions,
)
from .multikey_args import add_requester_multi_key_flag
from .report import report_dict, report_text

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from spdm.events import DeviceEventReceived
    from spdm.transport import DoeTransport
    from spdm.transport.binding_driver import BindingChannel
    from sysfs_bridge.pci import PciIdentity
    from tsm.endpoint import EndpointEvidence
    from tsm.teeio import TeeIoSteps

__all__ = ["add_parser"]


def _exercise_session(connection: Connection, session: Session) -> None:
    """The session part of ``connect --session``: heartbeat, both key updates, measurements inside.

    Each step runs when the device advertises it, so the session shows it
    carries traffic and survives its keys changing.
    """
    flags = connection.negotiated.responder_flags
    if flags & CapabilityFlags.HBEAT_CAP:
        session.heartbeat()
    if flags & CapabilityFlags.KEY_UPD_CAP:
        session.update_keys()
        session.update_keys(all_keys=True)
    if flags & MEAS_CAPS:
        session.measure()


def _event_types(connection: Connection, session: Session) -> tuple[list[dict[str, object]], list[str]]:
    """``--event-types``: the event groups the device can send (GET_SUPPORTED_EVENT_TYPES in the session),
    as JSON entries and text lines.

    A device below SPDM 1.3 or without EVENT_CAP sends no events: both are empty.
    """
    from spdm.events import SupportedEventTypesReceived
    negotiated = connection.negotiated
    if negotiated.version < 0x13 or not negotiated.responder_flags & CapabilityFlags.EVENT_CAP:
        return [], []
    driver = session.driver
    events = driver.run(lambda: driver.requester.get_supported_event_types(session.session_id))
    groups = [g for e in events if isinstance(e, SupportedEventTypesReceived) for g in e.groups]
    doc: list[dict[str, object]] = []
    lines = []
    for group in groups:
        names = [_event_type_name(group.registry_id, t) for t in group.event_types]
        doc.append({"registry_id": group.registry_id, "vendor_id": group.vendor_id.hex(),
                    "version": group.version, "event_types": names})
        owner = "DMTF" if group.is_dmtf else f"registry {group.registry_id} {group.vendor_id.hex()}"
        lines.append(f"  {owner}: {', '.join(names) or 'none'}")
    return doc, lines


def _event_type_name(registry_id: int, event_type: int) -> str:
    from spdm.messages.event import DmtfEventType
    if registry_id == 0 and event_type in DmtfEventType._value2member_map_:
        return DmtfEventType(event_type).name
    return f"0x{event_type:04x}"


def _run(args: argparse.Namespace) -> int:
    if args.bdf == "0000:00:00.0":
        args.bdf = target_bdf(args.target, args.bdf)
    identity = None
    caps = DEFAULT_REQUESTER_CAPS
    if args.requester_cert_chain or args.requester_key:
        if not (args.requester_cert_chain and args.requester_key):
            raise ConfigurationError("--requester-cert-chain and --requester-key go together")
        from spdm.device import DeviceModel  # the device model's key store: only with mutual auth
        identity = DeviceModel.from_files(read(args.requester_cert_chain, "requester chain"),
                                          read(args.requester_key, "requester key"))
        caps |= MUTUAL_AUTH_CAPS
    if args.events is not None:
        caps |= CapabilityFlags.ENCAP_CAP  # events come as encapsulated SEND_EVENTs
    config = _chunked(sized(RequesterConfig(versions=versions(args), capabilities=caps,
                                            algorithms=preferences(args),
                                            trust_anchors=certificates(args.trust_root, "trust root"),
                                            multi_key_conn=args.multi_key), args),
                      args)
    teeio = _teeio_steps(args)
    psk = hex_value(args.psk, "--psk") if args.psk else None
    with _open(args) as transport:
        pci = _pci_identity(transport) if args.sysfs else None
        connection = connect(transport, config, slot_id=args.slot, identity=identity)
        event_types = None
        received: list[DeviceEventReceived] | None = None
        if (args.session or psk is not None or teeio is not None or args.event_types
                or args.events is not None):
            with connection.open_session(psk, psk_hint=(args.psk_hint or "").encode()) as session:
                _exercise_session(connection, session)
                if args.event_types:
                    event_types = _event_types(connection, session)
                if args.events is not None:
                    from .event_watch import watch_events

                    received = watch_events(connection, session, args.events)
                if teeio is not None:
                    teeio.run(session)
        endpoint = _endpoint(args, connection)
        report = connection.report
    if endpoint is not None:
        report = replace(report, events=report.events + endpoint.events)
    if args.sysfs:
        _render(args, report, pci, teeio)
    _print(args, report, teeio, event_types, endpoint, received)
    return 0


def _open(args: argparse.Namespace) -> AbstractContextManager[DoeTransport | BindingChannel]:
    """The target's DOE transport, or with ``--binding mctp|tcp`` its binding channel (closed on leaving).

    Raises:
        ConfigurationError / TransportError: as :func:`spdm.transport.targets.open_binding`
            and :func:`spdm.transport.targets.open_transport`.
    """
    if args.binding == "doe":
        return open_transport(args.target, force=args.force)
    from spdm.transport.targets import open_binding

    return open_binding(args.target, args.binding)


def _endpoint(args: argparse.Namespace, connection: Connection) -> EndpointEvidence | None:
    """``--endpoint-info``, ``--mel``, ``--key-pairs``: the SPDM 1.3 endpoint evidence, or None."""
    if not (args.endpoint_info or args.mel or args.key_pairs):
        return None
    from tsm.endpoint import read_endpoint

    return read_endpoint(connection, endpoint_info=args.endpoint_info, mel=args.mel, key_pairs=args.key_pairs)


def _chunked(config: RequesterConfig, args: argparse.Namespace) -> RequesterConfig:
    """``--max-spdm-msg-size``: above the DataTransferSize, messages that do not fit go in chunks (CHUNK_CAP).

    Raises:
        ConfigurationError: below the DataTransferSize or over 32 bits.
    """
    size = args.max_spdm_msg_size
    if size is None:
        return config
    if not config.data_transfer_size <= size <= 0xFFFF_FFFF:
        raise ConfigurationError(f"--max-spdm-msg-size {size:#x} is not in --data-transfer-size "
                                 f"({config.data_transfer_size:#x})..0xffffffff")
    caps = config.capabilities
    if size > config.data_transfer_size:
        caps |= CapabilityFlags.CHUNK_CAP
    return replace(config, max_spdm_msg_size=size, capabilities=caps)


# IDE_KM/TDISP (the TSM layer) and the sysfs renderer are imported only when a
# flag asks for them: a udev hook's plain connect pays for SPDM alone.

def _teeio_steps(args: argparse.Namespace) -> TeeIoSteps | None:
    """The IDE_KM / TDISP steps the flags ask for, or None."""
    tdis = tuple(args.tdi or ((0x0101,) if args.tdisp else ()))
    if not (args.ide or tdis):
        return None
    from tsm.teeio import TeeIoSteps

    return TeeIoSteps(ide=args.ide, tdis=tdis)


def _pci_identity(transport: DoeTransport | BindingChannel) -> PciIdentity | None:
    """``--sysfs``: a real function's PCI identity, read from its config space (None for a socket)."""
    from spdm.transport.configspace import DeviceMailbox
    from sysfs_bridge.pci import pci_identity

    return pci_identity(transport.config) if isinstance(transport, DeviceMailbox) else None


def _render(args: argparse.Namespace, report: AuthenticationReport, pci: PciIdentity | None,
            teeio: TeeIoSteps | None) -> None:
    """``--sysfs``: the device's evidence in the kernel's layout."""
    from sysfs_bridge.evidence import evidence_from_report
    from sysfs_bridge.rendering import render

    evidence = evidence_from_report(report, args.bdf, pci=pci,
                                    vendor_protocols=teeio.vendor_protocols if teeio else ())
    device_dir = render(evidence, Path(args.sysfs))
    print(f"evidence rendered under {device_dir}", file=sys.stderr)


def _print(args: argparse.Namespace, report: AuthenticationReport, teeio: TeeIoSteps | None,
           event_types: tuple[list[dict[str, object]], list[str]] | None,
           endpoint: EndpointEvidence | None, received: list[DeviceEventReceived] | None) -> None:
    doc = report_dict(report, args.target)
    text = report_text(report, args.target)
    if received is not None:
        from .event_watch import event_dict, event_line

        doc["device_events"] = [event_dict(e) for e in received]
        last = text.rindex("\nresult")
        text = (text[:last] + f"\ndevice events ({args.events:g} s)\n"
                + ("\n".join(event_line(e) for e in received) or "  none") + text[last:])
    if event_types is not None:
        doc["event_types"], lines = event_types
        last = text.rindex("\nresult")
        text = text[:last] + "\nevent types\n" + ("\n".join(lines) or "  none (no EVENT_CAP)") + text[last:]
    if endpoint is not None:
        from .endpoint_report import endpoint_dict, endpoint_lines

        doc["endpoint"] = endpoint_dict(endpoint)
        last = text.rindex("\nresult")
        text = text[:last] + "\n" + "\n".join(endpoint_lines(endpoint)) + text[last:]
    if teeio is not None and teeio.steps:
        doc["tee_io"] = teeio.steps
        last = text.rindex("\nresult")
        text = text[:last] + "\ntee-io\n" + "\n".join(teeio.lines()) + text[last:]
    print_report(args, doc, text)


def add_parser(sub: Subparsers) -> None:
    """Add ``devsec connect``."""
    p = sub.add_parser("connect", help="authenticate a device and read its measurements")
    p.add_argument("target", help="tcp://HOST:PORT (spdm-emu socket) or a PCI address DDDD:BB:DD.F")
    p.add_argument("--binding", choices=("doe", "mctp", "tcp"), default="doe",
                   help="tcp:// targets: what the socket's frames carry, as the device was started with: "
                        "PCI DOE objects (spdm-emu --trans PCI_DOE, devsec emulate's default), MCTP "
                        "messages (--trans MCTP, spdm-emu's default) or DSP0287 messages (--trans TCP); "
                        "mctp and tcp have no DOE discovery")
    p.add_argument("--trust-root", action="append", required=True, metavar="FILE",
                   help="root certificate(s), PEM or DER (repeatable)")
    p.add_argument("--slot", type=int, default=0, help="certificate slot (0-7)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    add_requester_multi_key_flag(p)
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
    p.add_argument("--event-types", action="store_true",
                   help="in the session: list the event types the device can send (SPDM 1.3 "
                        "GET_SUPPORTED_EVENT_TYPES; empty without EVENT_CAP)")
    p.add_argument("--events", type=float, metavar="SECONDS",
                   help="in the session: subscribe to every event type (SPDM 1.3 SUBSCRIBE_EVENT_TYPES), "
                        "poll the device for SECONDS and print each event it sends (e.g. "
                        "MEASUREMENT_CHANGED with the measurement indices; devsec emulate --events "
                        "changes its measurements on SIGUSR1)")
    p.add_argument("--max-spdm-msg-size", type=lambda v: int(v, 0), metavar="BYTES",
                   help="the largest SPDM message we assemble from chunks, advertised as MaxSPDMmsgSize; "
                        "above --data-transfer-size we offer CHUNK_CAP and messages that do not fit go "
                        "by CHUNK_GET/CHUNK_SEND (default: --data-transfer-size, no chunking)")
    p.add_argument("--endpoint-info", choices=("signed", "unsigned"),
                   help="SPDM 1.3: read the device class identifier (GET_ENDPOINT_INFO), signed by "
                        "--slot's key (verified, and logged under --sysfs) or unsigned")
    p.add_argument("--mel", action="store_true",
                   help="SPDM 1.3: read the Measurement Extension Log and check that it extends to the "
                        "signed hash-extended measurements")
    p.add_argument("--key-pairs", action="store_true",
                   help="SPDM 1.3: read every key pair's information (GET_KEY_PAIR_INFO)")
    algorithm_flags(p, "signature algorithm to allow (repeatable)")
    session_flags(p)
    transfer_flags(p)
    force_flag(p)
    p.set_defaults(func=_run)
