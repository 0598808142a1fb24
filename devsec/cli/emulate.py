"""devsec emulate: serve an emulated TEE-IO device over the spdm-emu socket protocol.

The flags are what a device vendor configures: certificate slots (each with
its own chain and key), the capabilities offered, the HeartbeatPeriod, PSKs,
IDE_KM ports and TDISP interfaces.  The defaults offer everything the engines
can do, so that a conformance tool (DMTF's SPDM-Responder-Validator, the
reference requester) skips nothing because of how the device was started:
two generated slots, signed fresh measurements, KEY_EXCHANGE sessions with
encryption, heartbeat (60 s) and key update, HANDSHAKE_IN_THE_CLEAR_CAP, PSK
sessions with context when a PSK is given, SPDM 1.3's signed endpoint
info, MEL and key pair information, two IDE_KM ports, and a TDI for
spdm-emu's requester (interface 0xBEEF) beside a PF and two VFs.  With
--state FILE the device is instead one to provision (devsec provision):
its key pair and whatever chains are installed live in FILE (created blank,
with no slot, when missing), and it offers CSR_CAP and SET_CERT_CAP.
Otherwise SIGUSR1 updates the device's firmware while it serves: its
measurement 2 changes, and a requester subscribed to events (--events) is
sent MeasurementChanged.
"""

from __future__ import annotations

import argparse
import signal
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import FrameType

from devsec.emulator import DEFAULT_IDE_PORTS, SecureDevice, serve
from spdm.config import ALL_VERSIONS, DEFAULT_DATA_TRANSFER_SIZE, MUTUAL_AUTH_CAPS, ResponderConfig
from spdm.crypto import Certificate, SigningAlgo, generate_device_identity
from spdm.device import DeviceModel
from spdm.errors import ConfigurationError
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags
from spdm.names import parse_asym, parse_signing
from spdm.negotiation import MIN_DATA_TRANSFER_SIZE_12
from spdm.provisioning import ProvisionableDevice
from spdm.slots import SLOT_COUNT
from spdm.transport.binding_socket import BINDINGS, SOCKET_TRANSPORT_TYPES

from .args import (
    Subparsers,
    algorithm_flags,
    certificates,
    preferences,
    psk,
    psk_hint_hex_flag,
    root_certificates_pem,
    session_flags,
    slot_identities,
    slot_spec,
    versions,
)
from .multikey_args import add_multi_key_flags, multi_key_caps, with_slot_keys

__all__ = ["DEFAULT_HEARTBEAT_PERIOD", "DEFAULT_SLOTS", "DEFAULT_TDIS", "add_parser", "device_from_args",
           "model_from_args"]

F = CapabilityFlags

DEFAULT_SLOTS = (0, 1)
"""Slots provisioned with generated identities when no chain is given: more than one, so a
validator's per-slot cases (DIGESTS SlotMask, GET_CERTIFICATE, CHALLENGE, KEY_EXCHANGE) run."""

DEFAULT_HEARTBEAT_PERIOD = 60
"""Seconds; non-zero so that a validator's heartbeat cases run (it skips them for 0)."""

DEFAULT_TDIS = (0x0100, 0x0101, 0x0102, 0xBEEF)
"""A PF, two VFs, and 0xBEEF: the INTERFACE_ID DMTF's spdm-emu requester hard-codes."""

MEASUREMENT_CAPS = {"signed": F.MEAS_CAP_SIG, "unsigned": F.MEAS_CAP_NO_SIG, "none": F(0)}
ENDPOINT_INFO_CAPS = {"signed": F.EP_INFO_CAP_SIG, "unsigned": F.EP_INFO_CAP_NO_SIG, "none": F(0)}
"""``--endpoint-info``: EP_INFO_CAP (SPDM 1.3: GET_ENDPOINT_INFO answered signed, or unsigned only)."""


def _slot_list(value: str) -> tuple[int, ...]:
    """``--slots 0,1,2``."""
    try:
        slots = tuple(int(s) for s in value.split(","))
    except ValueError as exc:
        raise ConfigurationError(f"--slots wants slot numbers like 0,1,2, not {value!r}") from exc
    if len(set(slots)) != len(slots) or not all(0 <= s < SLOT_COUNT for s in slots):
        raise ConfigurationError(f"--slots: {value!r} are not distinct slots 0-{SLOT_COUNT - 1}")
    return slots


def model_from_args(args: argparse.Namespace) -> DeviceModel:
    """The device's slots, measurements and PSK, from ``--slot``, ``--slots``, ``--cert-chain/--key``,
    ``--asym``, ``--psk`` and ``--psk-hint`` / ``--psk-hint-hex``.

    Raises:
        ConfigurationError: unreadable or mismatching files, a slot given twice,
            slots signing with different algorithms, or malformed PSK flags.
    """
    asym: SigningAlgo | None = parse_signing(args.asym[0]) if args.asym else None
    files: list[tuple[int, str, str]] = [slot_spec(s) for s in args.slot]
    if args.cert_chain or args.key:
        if not (args.cert_chain and args.key):
            raise ConfigurationError("--cert-chain and --key go together")
        files.insert(0, (0, args.cert_chain, args.key))
    identities = slot_identities(files, asym)
    generated = _slot_list(args.slots) if args.slots else (() if files else DEFAULT_SLOTS)
    if asym is None:
        asym = (next(iter(identities.values())).leaf_key.asym if identities
                else BaseAsymAlgo.ECDSA_P384)
    for slot in generated:
        if slot in identities:
            raise ConfigurationError(f"slot {slot} is both given (--slot) and to be generated (--slots)")
        identities[slot] = generate_device_identity(asym, common_name=f"devsec emulated device slot {slot}")
    model = with_slot_keys(args, DeviceModel(identities))
    given = psk(args)
    if given is not None:
        secret, hint = given
        model = model.with_psks({hint: secret})
    return model


def provisionable_from_args(args: argparse.Namespace) -> ProvisionableDevice:
    """``--state FILE``: the provisionable device kept in FILE (``--asym`` for a new one's key).

    Raises:
        ConfigurationError: combined with slot flags, or an unreadable state file.
    """
    if args.slot or args.slots or args.cert_chain or args.key or args.psk or args.slot_key:
        raise ConfigurationError("--state keeps its own key pair and slots: no --slot(s), "
                                 "--cert-chain/--key or --psk with it")
    asym = parse_asym(args.asym[0]) if args.asym else BaseAsymAlgo.ECDSA_P384
    return ProvisionableDevice.open(Path(args.state), asym)


def _capabilities(args: argparse.Namespace, model: DeviceModel | ProvisionableDevice) -> CapabilityFlags:
    caps = (F.CERT_CAP | F.ENCRYPT_CAP | F.MAC_CAP | F.KEY_EX_CAP | F.KEY_UPD_CAP
            | MEASUREMENT_CAPS[args.measurements]
            | F.LARGE_RESP_CAP)  # 1.4 LargeCertChain; the responder sends it only at 1.4
    if args.challenge:
        caps |= F.CHAL_CAP
    if args.measurements != "none" and args.fresh_measurements:
        caps |= F.MEAS_FRESH_CAP
    if args.heartbeat_period:
        caps |= F.HBEAT_CAP
    if not args.key_update:
        caps &= ~F.KEY_UPD_CAP
    if args.mac_only:
        caps &= ~F.ENCRYPT_CAP
    if args.handshake_in_the_clear:
        caps |= F.HANDSHAKE_IN_THE_CLEAR_CAP
    if isinstance(model, ProvisionableDevice):
        caps |= F.CSR_CAP | F.SET_CERT_CAP
    elif model.has_psks:
        caps |= F.PSK_CAP_WITH_CONTEXT if args.psk_context else F.PSK_CAP
    if args.mutual_auth:
        caps |= MUTUAL_AUTH_CAPS
    if args.events:
        caps |= F.EVENT_CAP | F.ENCAP_CAP  # events go out as encapsulated SEND_EVENTs
    caps |= multi_key_caps(args)
    if isinstance(model, DeviceModel):  # a provisionable device keeps no endpoint data
        caps |= ENDPOINT_INFO_CAPS[args.endpoint_info]
        if args.mel:
            caps |= F.MEL_CAP
        if args.key_pair_info:
            caps |= F.GET_KEY_PAIR_INFO_CAP
    if _max_message_size(args) > args.data_transfer_size:
        caps |= F.CHUNK_CAP
    return caps


def device_from_args(args: argparse.Namespace, model: DeviceModel | ProvisionableDevice) -> SecureDevice:
    """The device ``devsec emulate`` serves: ``model`` behind the SPDM responder, IDE_KM and TDISP.

    Raises:
        ConfigurationError: an inconsistent flag (mutual authentication without
            a requester trust root, a heartbeat period over 255 s, bad ports or TDIs).
    """
    requester_roots: tuple[Certificate, ...] = ()
    if args.mutual_auth:
        if not args.requester_trust_root:
            raise ConfigurationError("--mutual-auth needs --requester-trust-root")
        requester_roots = certificates(args.requester_trust_root, "requester trust root")
    config = ResponderConfig(
        versions=versions(args, ALL_VERSIONS), capabilities=_capabilities(args, model),
        ct_exponent=args.ct_exponent,
        algorithms=preferences(args, model.pqc_asym_algorithms() or model.asym_algorithms()),
        heartbeat_period=args.heartbeat_period,
        mutual_auth=args.mutual_auth, requester_trust_anchors=requester_roots,
        data_transfer_size=_transfer_size(args.data_transfer_size),
        max_spdm_msg_size=_max_message_size(args))
    if args.binding != "doe":  # the responder seals and opens records as the binding does
        from spdm.transport.binding_socket import message_codec

        config = replace(config, record_format=message_codec(args.binding).record_format)
    functions = tuple(args.tdi) if args.tdi else DEFAULT_TDIS
    return SecureDevice(config, model, functions=functions, ide_ports=args.ide_ports)


def _transfer_size(size: int) -> int:
    """The device's DataTransferSize (its MaxSPDMmsgSize too unless ``--max-spdm-msg-size`` says more).

    Raises:
        ConfigurationError: below SPDM 1.2's minimum or over 32 bits.
    """
    if not MIN_DATA_TRANSFER_SIZE_12 <= size <= 0xFFFF_FFFF:
        raise ConfigurationError(f"--data-transfer-size {size} is not in {MIN_DATA_TRANSFER_SIZE_12}.."
                                 f"0xffffffff (SPDM 1.2's minimum, a 32-bit field)")
    return size


def _max_message_size(args: argparse.Namespace) -> int:
    """The device's MaxSPDMmsgSize: ``--max-spdm-msg-size``, else its DataTransferSize (no chunking).

    Raises:
        ConfigurationError: below the DataTransferSize or over 32 bits.
    """
    size: int = args.max_spdm_msg_size if args.max_spdm_msg_size is not None else args.data_transfer_size
    if not args.data_transfer_size <= size <= 0xFFFF_FFFF:
        raise ConfigurationError(f"--max-spdm-msg-size {size:#x} is not in --data-transfer-size "
                                 f"({args.data_transfer_size:#x})..0xffffffff")
    return size


def _run(args: argparse.Namespace) -> int:
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigurationError(f"--listen wants HOST:PORT, not {args.listen!r}")
    model = provisionable_from_args(args) if args.state else model_from_args(args)
    device = device_from_args(args, model)
    if args.root_out and isinstance(model, DeviceModel):
        Path(args.root_out).write_bytes(root_certificates_pem(model))
    updates = None
    if isinstance(model, DeviceModel):  # a device being provisioned has no firmware to update
        from .firmware_update import FirmwareUpdates

        updates = FirmwareUpdates(device.spdm.responder, model)
    server = device.spdm.server(host.strip("[]"), int(port), binding=args.binding,
                                between_messages=updates.apply if updates else None)
    stop: Callable[[int, FrameType | None], None] = lambda _sig, _frame: server.stop()  # noqa: E731
    signal.signal(signal.SIGTERM, stop)
    if updates is not None:
        signal.signal(signal.SIGUSR1, updates.ask)
    address = "{}:{}".format(*server.address)
    config = device.spdm.responder.config
    print(f"devsec: emulating an SPDM device on {address} ({SOCKET_TRANSPORT_TYPES[args.binding].name}); "
          f"root certificate {'in ' + args.root_out if args.root_out else 'not written'}; "
          f"slots {','.join(str(s) for s in model.slots)}; "
          f"capabilities {config.capabilities.name or 'none'}; heartbeat period {config.heartbeat_period} s; "
          f"IDE_KM ports 0-{device.ide.max_port_index}; "
          f"TDIs {','.join(f'0x{t:04x}' for t in (args.tdi or DEFAULT_TDIS))}"
          + ("; SIGUSR1 updates its firmware (measurement 2)" if updates is not None else ""),
          flush=True)
    serve(server)
    return 0


def _int(value: str) -> int:
    """A decimal or 0x-prefixed integer flag value."""
    try:
        return int(value, 0)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {value!r}") from exc


def _flag(parser: argparse.ArgumentParser, name: str, help_text: str) -> None:
    """An on-by-default choice the user can switch off with ``--no-NAME``."""
    parser.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=True,
                        help=f"{help_text} (default on)")


def add_parser(sub: Subparsers) -> None:
    """Add ``devsec emulate``."""
    p = sub.add_parser(
        "emulate", help="serve an emulated device over the spdm-emu socket protocol",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    p.add_argument("--listen", default="127.0.0.1:2323", metavar="HOST:PORT",
                   help="where to serve (default 127.0.0.1:2323)")
    p.add_argument("--binding", choices=BINDINGS, default="doe",
                   help="what the socket's frames carry: PCI DOE objects (spdm-emu --trans PCI_DOE, "
                        "the default), MCTP messages (--trans MCTP) or DSP0287 messages (--trans TCP); "
                        "with mctp and tcp SPDM only, no DOE discovery")
    p.add_argument("--slot", action="append", default=[], metavar="N:CHAIN:KEY",
                   help="provision slot N from a chain file (DER certificates root first, or a PEM "
                        "bundle) and the leaf's PEM private key (repeatable; every slot must sign "
                        "with one algorithm)")
    p.add_argument("--slots", metavar="N,N,...",
                   help="slots to provision with freshly generated identities, each with its own "
                        f"root and key (default {','.join(map(str, DEFAULT_SLOTS))} when no chain "
                        "is given, none otherwise)")
    p.add_argument("--cert-chain", metavar="FILE", help="slot 0's chain (same as --slot 0:FILE:KEY)")
    p.add_argument("--key", metavar="FILE", help="the private key of --cert-chain's leaf")
    p.add_argument("--state", metavar="FILE",
                   help="a device to provision (devsec provision): its key pair and installed chains "
                        "are kept in FILE (JSON, created blank when missing; holds private keys), "
                        "and it offers CSR_CAP and SET_CERT_CAP")
    p.add_argument("--root-out", metavar="FILE",
                   help="write every slot's root certificate (PEM, each once) here")
    p.add_argument("--heartbeat-period", type=int, default=DEFAULT_HEARTBEAT_PERIOD, metavar="S",
                   help="HeartbeatPeriod in KEY_EXCHANGE_RSP/PSK_EXCHANGE_RSP, seconds (0-255; "
                        f"default {DEFAULT_HEARTBEAT_PERIOD}); 0 also withdraws HBEAT_CAP.  The "
                        "device never ends a silent session itself")
    _flag(p, "handshake-in-the-clear",
          "offer HANDSHAKE_IN_THE_CLEAR_CAP (FINISH in the clear when the requester sets it too)")
    _flag(p, "key-update", "offer KEY_UPD_CAP")
    _flag(p, "challenge", "offer CHAL_CAP")
    p.add_argument("--measurements", choices=tuple(MEASUREMENT_CAPS), default="signed",
                   help="MEAS_CAP: signed measurements, unsigned only, or none (default signed)")
    _flag(p, "fresh-measurements", "offer MEAS_FRESH_CAP (measurements are taken anew on request)")
    p.add_argument("--mac-only", action="store_true",
                   help="sessions authenticate but do not encrypt (no ENCRYPT_CAP)")
    psk_hint_hex_flag(p)
    _flag(p, "psk-context", "with --psk offer PSK_CAP_WITH_CONTEXT (PSK_FINISH), else PSK_CAP")
    p.add_argument("--data-transfer-size", type=lambda v: int(v, 0), default=DEFAULT_DATA_TRANSFER_SIZE,
                   metavar="BYTES",
                   help="the largest SPDM message the device receives and sends whole, advertised as "
                        "DataTransferSize and MaxSPDMmsgSize: a device or DOE bridge with a small buffer "
                        "(CERTIFICATE portions shrink to fit; default %(default)#x)")
    p.add_argument("--max-spdm-msg-size", type=lambda v: int(v, 0), metavar="BYTES",
                   help="the largest SPDM message the device assembles from chunks, advertised as "
                        "MaxSPDMmsgSize; above --data-transfer-size the device offers CHUNK_CAP and "
                        "larger messages go by CHUNK_GET/CHUNK_SEND (default: --data-transfer-size, "
                        "no chunking)")
    p.add_argument("--endpoint-info", choices=tuple(ENDPOINT_INFO_CAPS), default="signed",
                   help="EP_INFO_CAP (SPDM 1.3): GET_ENDPOINT_INFO answered signed or unsigned, or not "
                        "at all (default signed; not with --state)")
    _flag(p, "mel", "offer MEL_CAP (SPDM 1.3: GET_MEASUREMENT_EXTENSION_LOG; not with --state)")
    _flag(p, "key-pair-info", "offer GET_KEY_PAIR_INFO_CAP (SPDM 1.3; not with --state)")
    p.add_argument("--ct-exponent", type=int, default=ResponderConfig.ct_exponent, metavar="N",
                   help="CTExponent: the device answers cryptographic requests within 2^N us "
                        "(default %(default)s)")
    p.add_argument("--mutual-auth", action="store_true",
                   help="ask requesters that can to authenticate themselves, with encapsulated "
                        "requests, in KEY_EXCHANGE and after CHALLENGE (MUT_AUTH_CAP, ENCAP_CAP)")
    p.add_argument("--events", action="store_true",
                   help="offer EVENT_CAP (SPDM 1.3 events: EventLost and MeasurementChanged, sent in a "
                        "session as encapsulated SEND_EVENTs, so ENCAP_CAP too); SIGUSR1 updates the "
                        "device's firmware, changing measurement 2")
    p.add_argument("--requester-trust-root", action="append", default=[], metavar="FILE",
                   help="root certificate(s) a requester's chain must lead to (repeatable)")
    p.add_argument("--ide-ports", type=int, default=DEFAULT_IDE_PORTS, metavar="N",
                   help="IDE_KM ports, PortIndex 0..N-1 (MaxPortIndex N-1; default %(default)s), "
                        "each with selective stream 0; KEY_PROG for another port gets KP_ACK "
                        "status 2, QUERY ERROR InvalidRequest")
    p.add_argument("--tdi", action="append", type=_int, metavar="FUNCTION_ID",
                   help="a TDISP interface's FUNCTION_ID, the PF first (repeatable; default "
                        + " ".join(f"0x{t:04x}" for t in DEFAULT_TDIS) + ")")
    algorithm_flags(p, "the generated slots' key algorithm (default ecdsa-p384; with chain files, "
                       "the algorithm their keys sign with); ml-dsa-44/65/87 make an SPDM 1.4 "
                       "post-quantum identity (1.4 is then offered too; with ml-dsa-87 or "
                       "ml-kem-1024, KEY_EXCHANGE_RSP exceeds the default size: give both sides "
                       "--data-transfer-size 0x1800)")
    session_flags(p)
    add_multi_key_flags(p)
    p.set_defaults(func=_run)
