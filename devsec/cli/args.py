"""What several commands share: flags, the configuration built from them, files, output.

Every error here is the user's (a flag, a file) and so a ``ConfigurationError``
(exit status 2).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from spdm.config import (
    DEFAULT_CERTIFICATE_PORTION,
    DEFAULT_DATA_TRANSFER_SIZE,
    DEFAULT_REQUESTER_VERSIONS,
    RequesterConfig,
)
from spdm.crypto import Certificate, DeviceIdentity, SigningAlgo, load_certificates
from spdm.errors import ConfigurationError
from spdm.messages import NONCE_SIZE
from spdm.messages.codes import BaseAsymAlgo, PqcAsymAlgo, SpdmVersion
from spdm.names import (
    AEADS,
    ASYMS,
    DHE_GROUPS,
    HASHES,
    KEMS,
    PQC_ASYMS,
    VERSIONS,
    parse_aead,
    parse_dhe,
    parse_hash,
    parse_kem,
    parse_signing,
    parse_version,
)
from spdm.negotiation import MIN_DATA_TRANSFER_SIZE_12, AlgorithmPreferences
from spdm.slots import SLOT_COUNT
from spdm.transport.targets import is_socket_target

if TYPE_CHECKING:
    from spdm.device import DeviceModel

__all__ = [
    "Subparsers",
    "algorithm_flags",
    "certificates",
    "force_flag",
    "hex_value",
    "nonce",
    "preferences",
    "print_report",
    "psk",
    "psk_flags",
    "psk_hint_hex_flag",
    "read",
    "root_certificates_pem",
    "session_flags",
    "slot_identities",
    "slot_spec",
    "target_bdf",
    "sized",
    "transfer_flags",
    "versions",
]

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``add_subparsers`` returns (argparse has no public name for it)."""


def preferences(args: argparse.Namespace, asym: SigningAlgo | None = None) -> AlgorithmPreferences:
    """The algorithms to offer, from ``--hash``, ``--asym``, ``--dhe``, ``--kem``, ``--aead`` (``asym`` wins).

    ``--asym`` takes classic and (SPDM 1.4) ML-DSA names alike: the classic ones become the
    BaseAsymAlgo offer, the ``ml-dsa-*`` ones the PqcAsymAlgo offer; given only ML-DSA names, no
    classic algorithm is offered.
    """
    prefs = AlgorithmPreferences()
    if getattr(args, "dhe", None):
        prefs = replace(prefs, dhe_groups=tuple(parse_dhe(g) for g in args.dhe))
    if getattr(args, "kem", None):
        prefs = replace(prefs, kem_algs=tuple(parse_kem(k) for k in args.kem))
    if getattr(args, "aead", None):
        prefs = replace(prefs, aead_suites=tuple(parse_aead(a) for a in args.aead))
    if args.hash:
        prefs = replace(prefs, hash_algs=tuple(parse_hash(h) for h in args.hash))
    chosen = [asym] if asym is not None else [parse_signing(a) for a in args.asym or ()]
    if chosen:
        prefs = replace(prefs, asym_algs=tuple(a for a in chosen if isinstance(a, BaseAsymAlgo)),
                        pqc_asym_algs=tuple(a for a in chosen if isinstance(a, PqcAsymAlgo)))
    return prefs


def _post_quantum(args: argparse.Namespace) -> bool:
    """An ``ml-dsa-*`` ``--asym`` or a ``--kem`` was given: SPDM 1.4 algorithms."""
    asyms = [a for a in getattr(args, "asym", None) or () if a.lower() in PQC_ASYMS]
    return bool(asyms or getattr(args, "kem", None))


def versions(args: argparse.Namespace,
             default: tuple[SpdmVersion, ...] = DEFAULT_REQUESTER_VERSIONS) -> tuple[SpdmVersion, ...]:
    """The SPDM versions to offer, from ``--version``; without it ``default`` (1.0-1.3 for a
    requester), plus 1.4 when a post-quantum ``--asym``/``--kem`` asks for 1.4's algorithms."""
    if args.version:
        return tuple(parse_version(v) for v in args.version)
    if _post_quantum(args) and SpdmVersion.V14 not in default:
        return (*default, SpdmVersion.V14)
    return default


def read(path: str, what: str) -> bytes:
    """A file's bytes; ``ConfigurationError`` naming ``what`` when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc.strerror}") from exc


def certificates(paths: Sequence[str], what: str) -> tuple[Certificate, ...]:
    """Every certificate in the given PEM or DER files."""
    return tuple(c for path in paths for c in load_certificates(read(path, what)))


def slot_spec(value: str) -> tuple[int, str, str]:
    """``--slot N:CHAIN:KEY`` (the file names may not contain ``:``)."""
    parts = value.split(":")
    if len(parts) != 3 or not parts[0].isdigit() or not all(parts[1:]):
        raise ConfigurationError(f"--slot wants N:CHAIN:KEY, not {value!r}")
    return int(parts[0]), parts[1], parts[2]


def slot_identities(files: Sequence[tuple[int, str, str]],
                    asym: SigningAlgo | None = None) -> dict[int, DeviceIdentity]:
    """Each slot's identity from its chain file and PEM key (``--slot``), slot by slot.

    Args:
        files: (slot, chain file, key file) per slot.
        asym: the signature algorithm every key must have (None: whatever each has).

    Raises:
        ConfigurationError: a slot given twice or not 0-7, unreadable or mismatching files.
    """
    from spdm.device import load_identity
    identities: dict[int, DeviceIdentity] = {}
    for slot, chain, key in files:
        if slot in identities or not 0 <= slot < SLOT_COUNT:
            raise ConfigurationError(f"slot {slot} is given twice or is not 0-{SLOT_COUNT - 1}")
        identities[slot] = load_identity(read(chain, "certificate chain"), read(key, "private key"),
                                         asym=asym)
    return identities


def root_certificates_pem(model: DeviceModel) -> bytes:
    """Every slot's root (each once), PEM: a verifier's trust-anchor file for any slot."""
    seen: list[bytes] = []
    for slot in model.slots:
        pem = model.root_certificate_pem(slot)
        if pem not in seen:
            seen.append(pem)
    return b"".join(seen)


def hex_value(value: str, flag: str) -> bytes:
    """A flag's non-empty hex bytes."""
    try:
        data = bytes.fromhex(value)
    except ValueError as exc:
        raise ConfigurationError(f"{flag} wants hex digits: {exc}") from exc
    if not data:
        raise ConfigurationError(f"{flag} must not be empty")
    return data


def nonce(value: str) -> bytes:
    """``--nonce``: a verifier's 32 bytes."""
    data = hex_value(value, "--nonce")
    if len(data) != NONCE_SIZE:
        raise ConfigurationError(f"--nonce wants {NONCE_SIZE} bytes ({2 * NONCE_SIZE} hex digits), "
                                 f"not {len(data)}")
    return data


def print_report(args: argparse.Namespace, doc: dict[str, Any], text: str) -> None:
    """One JSON document with ``--json``, else the text."""
    print(json.dumps(doc, indent=2) if args.json else text)


def session_flags(parser: argparse.ArgumentParser) -> None:
    """``--dhe``, ``--kem``, ``--aead``, ``--psk``, ``--psk-hint``."""
    parser.add_argument("--dhe", action="append", metavar="|".join(DHE_GROUPS),
                        help="DHE group to allow (repeatable)")
    parser.add_argument("--kem", action="append", metavar="|".join(KEMS),
                        help="SPDM 1.4 ML-KEM key encapsulation to allow for sessions, preferred to "
                             "DHE (repeatable; ML-KEM-512 is not supported)")
    parser.add_argument("--aead", action="append", metavar="|".join(AEADS),
                        help="AEAD suite to allow (repeatable)")
    psk_flags(parser)


def psk_flags(parser: argparse.ArgumentParser) -> None:
    """``--psk``, ``--psk-hint``."""
    parser.add_argument("--psk", metavar="HEX", help="pre-shared key (PSK sessions)")
    parser.add_argument("--psk-hint", metavar="TEXT", help="the hint naming that PSK")


def psk_hint_hex_flag(parser: argparse.ArgumentParser) -> None:
    """``--psk-hint-hex``: the hint as exact bytes (with :func:`psk_flags`; read with :func:`psk`)."""
    parser.add_argument("--psk-hint-hex", metavar="HEX",
                        help="the hint naming --psk, as exact bytes; --psk-hint TEXT is matched as its "
                             "UTF-8 bytes without a NUL.  A PSK_EXCHANGE hint must equal the bytes byte "
                             "for byte (no hint flag: the empty hint).  DMTF's requester and validator "
                             "send libspdm's sample PSK and hint as C strings: --psk "
                             "5465737450736b4461746100 --psk-hint-hex 5465737450736b48696e7400 "
                             "('TestPskData', 'TestPskHint', each NUL-terminated)")


def psk(args: argparse.Namespace) -> tuple[bytes, bytes] | None:
    """The PSK and its hint from :func:`psk_flags` and :func:`psk_hint_hex_flag` (None: no ``--psk``).

    No hint flag means the empty hint (PSKHintLength 0), which SPDM allows.

    Raises:
        ConfigurationError: both hint flags, a hint without ``--psk``, or bad hex.
    """
    if args.psk_hint is not None and args.psk_hint_hex is not None:
        raise ConfigurationError("--psk-hint and --psk-hint-hex name the same hint: give one")
    if (args.psk_hint is not None or args.psk_hint_hex is not None) and not args.psk:
        raise ConfigurationError("a PSK hint names a PSK: give --psk too")
    if not args.psk:
        return None
    hint = (hex_value(args.psk_hint_hex, "--psk-hint-hex") if args.psk_hint_hex is not None
            else (args.psk_hint or "").encode())
    return hex_value(args.psk, "--psk"), hint


def algorithm_flags(parser: argparse.ArgumentParser, asym_help: str) -> None:
    """``--version``, ``--hash``, ``--asym``."""
    parser.add_argument("--version", action="append", metavar="|".join(VERSIONS),
                        help="SPDM version to allow (repeatable; default 1.0-1.3 for a requester, "
                             "all for a device: 1.4 is opt-in for requesters)")
    parser.add_argument("--hash", action="append", metavar="|".join(HASHES),
                        help="hash algorithm to allow (repeatable)")
    parser.add_argument("--asym", action="append", metavar="|".join([*ASYMS, *PQC_ASYMS]), help=asym_help)


def _size(value: str) -> int:
    """A byte count in decimal or 0x-hex."""
    try:
        return int(value, 0)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a byte count (decimal or 0x-hex)") from exc


def transfer_flags(parser: argparse.ArgumentParser) -> None:
    """``--cert-portion``, ``--data-transfer-size``: what a device's mailbox (or a bridge before it) carries.

    Real devices and bridges have buffers smaller than SPDM allows (QEMU's
    DOE-to-SPDM bridge drops an object over 0x1200 bytes silently), so both
    are the user's to lower.
    """
    parser.add_argument(
        "--cert-portion", type=_size, default=DEFAULT_CERTIFICATE_PORTION, metavar="BYTES",
        help=f"bytes asked per GET_CERTIFICATE (1-0xffff; default {DEFAULT_CERTIFICATE_PORTION:#x}, as "
             f"libspdm and Linux ask; 0xffff: as much as the device sends at once)")
    parser.add_argument(
        "--data-transfer-size", type=_size, default=DEFAULT_DATA_TRANSFER_SIZE, metavar="BYTES",
        help=f"the largest SPDM message we receive, advertised as DataTransferSize and MaxSPDMmsgSize "
             f"({MIN_DATA_TRANSFER_SIZE_12}-0xffffffff; default {DEFAULT_DATA_TRANSFER_SIZE:#x})")


def sized(config: RequesterConfig, args: argparse.Namespace) -> RequesterConfig:
    """``config`` with the sizes of :func:`transfer_flags`.

    Raises:
        ConfigurationError: a size is out of range.
    """
    portion, size = args.cert_portion, args.data_transfer_size
    if not 1 <= portion <= 0xFFFF:
        raise ConfigurationError(f"--cert-portion {portion:#x} is not in 1..0xffff (a 16-bit length)")
    if not MIN_DATA_TRANSFER_SIZE_12 <= size <= 0xFFFF_FFFF:
        raise ConfigurationError(f"--data-transfer-size {size} is not in {MIN_DATA_TRANSFER_SIZE_12}.."
                                 f"0xffffffff (SPDM 1.2's minimum, a 32-bit field)")
    # Without CHUNK_CAP the two must be equal (DSP0274 GET_CAPABILITIES).
    return replace(config, certificate_portion=portion, data_transfer_size=size, max_spdm_msg_size=size)


def force_flag(parser: argparse.ArgumentParser) -> None:
    """``--force``: drive a PCI function's DOE mailbox although another agent holds it."""
    parser.add_argument(
        "--force", action="store_true",
        help="PCI targets: drive the device's DOE mailbox even though the kernel's TSM holds the device "
             "(tsm/connect set, or a TDI bound), and reset the mailbox when another agent keeps it "
             "busy; either breaks that agent's exchange")


def target_bdf(target: str, default: str) -> str:
    """The PCI address a target is filed under: its own (segment 0000 when omitted), or ``default`` for tcp://."""
    if is_socket_target(target):
        return default
    return target.lower() if target.count(":") == 2 else f"0000:{target.lower()}"
