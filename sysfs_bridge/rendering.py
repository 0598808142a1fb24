"""Write a device's evidence as a sysfs-like tree under a root the caller passes (STYLE R12).

Layout (ARCHITECTURE.md, the kernel's names)::

    ROOT/bus/pci/devices/DDDD:BB:DD.F -> ../../../devices/devsec/DDDD:BB:DD.F@<token>
    ROOT/devices/devsec/DDDD:BB:DD.F@<token>/
        authenticated  certificates/slotN (each supported slot)  signatures/<N>_*
        signatures/next_requester_nonce  doe_features/doe_discovery  doe_features/VVVV:TT
        measurements/<index>/*  tsm/*  spdm/*  interface_report/*  mel/*
        vendor  device  subsystem_vendor  subsystem_device  class
    ROOT/class/tsm/tsmN -> ../../devices/virtual/tsm/tsmN

Modes are a real sysfs's: every file is world-readable (0444), every
directory 0755 (whatever the umask), and the write-only attributes
(``tsm/disconnect``, ``tsm/unlock``) are empty files of mode 0200 with no
readable content, listed as sysfs lists them.  The DOE discovery protocol's
feature is named ``doe_discovery`` (holding ``0001:00``), as in the kernel.

As in the kernel, ``bus/pci/devices/<bdf>`` is a symlink to the device
directory.  A re-render builds a complete new directory next to the old one
and swaps the symlink with one ``rename``, so a reader sees the old tree or
the new one, never a mix; the old directory is deleted afterwards (see
:func:`sysfs_bridge.read.read_device`, which retries when that races it).
Every file is written to a temporary name in its directory and renamed.

The ``signatures/`` log is carried over from the previous tree byte for byte
(hard-linked: a re-render never launders an entry); the evidence's entries are appended
with the next numbers, except those already in the log unchanged under any
number (a TSM reports the signatures of its connect again with every later
operation, numbered from 0 in its own list), and the oldest entries beyond
``max_signatures`` are purged.  One renderer per device
at a time.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Final

from spdm.errors import ConfigurationError, DecodeError

from .attribute import read_attribute
from .evidence import (
    SPDM_ATTRIBUTES,
    SPDM_OPTIONAL_ATTRIBUTES,
    TSM_ATTRIBUTES,
    TSM_WRITE_ONLY,
    DeviceEvidence,
    SignatureEntry,
    check_bdf,
)
from .interface_report import DIRECTORY as INTERFACE_REPORT
from .interface_report import report_files
from .mel import DIRECTORY as MEL
from .mel import mel_files
from .pci import PCI_ID_ATTRIBUTES

__all__ = ["DEFAULT_MAX_SIGNATURES", "DOE_DISCOVERY", "device_files", "entry_files", "remove_device",
           "render", "write_only_files"]

DOE_DISCOVERY: Final = "doe_discovery"
"""The kernel's name for the DOE discovery protocol's feature file (it holds ``0001:00``)."""

FILE_MODE: Final = 0o444
WRITE_ONLY_MODE: Final = 0o200
DIRECTORY_MODE: Final = 0o755

DEFAULT_MAX_SIGNATURES: Final = 64
"""Default cap on the ``signatures/`` log (entries)."""

ENTRY_FILES: Final = ("signature", "transcript", "requester_nonce", "responder_nonce",
                      "hash_algorithm", "combined_spdm_prefix", "type")
"""The regular files of one log entry (plus ``certificate_chain``, a symlink, and
devsec's optional ``asym_algorithm``)."""

_ENTRY = re.compile(r"([0-9]{1,10})_([a-z_]+)")


def _line(text: str) -> bytes:
    return text.encode("ascii") + b"\n"


def entry_files(entry: SignatureEntry) -> dict[str, bytes]:
    """The regular files of one log entry, name -> contents (pure).

    ``<N>_certificate_chain`` is a symlink and not included; ``<N>_asym_algorithm``
    (devsec's extension) only when the algorithm is known.
    """
    n = entry.number
    files = {
        f"{n}_signature": entry.signature,
        f"{n}_transcript": entry.transcript,
        f"{n}_requester_nonce": entry.requester_nonce,
        f"{n}_responder_nonce": entry.responder_nonce,
        f"{n}_hash_algorithm": _line(entry.hash_algorithm),
        f"{n}_combined_spdm_prefix": entry.combined_spdm_prefix,
        f"{n}_type": _line(entry.type),
    }
    if entry.asym_algorithm:
        files[f"{n}_asym_algorithm"] = _line(entry.asym_algorithm)
    return files


def chain_link(slot: int) -> str:
    """The target of ``<N>_certificate_chain`` for a slot."""
    return f"../certificates/slot{slot}"


_SLOT_LINK = re.compile(r"\.\./certificates/(slot[0-7])")
"""What :func:`chain_link` writes, read back (the slot's file name)."""


def device_files(evidence: DeviceEvidence) -> dict[str, bytes]:
    """Every regular file of a device directory except the signature log entries (pure).

    Returns:
        Relative POSIX path -> contents.
    """
    auth = evidence.authenticated
    files = {"authenticated": _line(("1" if auth else "0") if isinstance(auth, bool) else auth)}
    for slot in evidence.supported_slots:
        files[f"certificates/slot{slot}"] = evidence.certificates.get(slot, b"")
    files["signatures/next_requester_nonce"] = evidence.next_requester_nonce
    for vendor, kind in evidence.doe_features:
        feature = f"{vendor:04x}:{kind:02x}"
        files[f"doe_features/{DOE_DISCOVERY if (vendor, kind) == (1, 0) else feature}"] = _line(feature)
    for m in evidence.measurements:
        base = f"measurements/{m.index}"
        files[f"{base}/value_type"] = _line(m.value_type)
        files[f"{base}/representation"] = _line(m.representation)
        files[f"{base}/value"] = m.value
        files[f"{base}/hash_algorithm"] = _line(m.hash_algorithm)
        files[f"{base}/source"] = _line(m.source)
    if evidence.tsm is not None:
        for name in TSM_ATTRIBUTES:
            value = getattr(evidence.tsm, name)
            if value is not None:
                files[f"tsm/{name}"] = _line(value)
    if evidence.interface_report:
        for name, data in report_files(evidence.interface_report).items():
            files[f"{INTERFACE_REPORT}/{name}"] = data
    if evidence.mel:
        for name, data in mel_files(evidence.mel).items():
            files[f"{MEL}/{name}"] = data
    if evidence.spdm is not None:
        for name in SPDM_ATTRIBUTES:
            value = getattr(evidence.spdm, name)
            if not value and name in SPDM_OPTIONAL_ATTRIBUTES:
                continue
            files[f"spdm/{name}"] = _line(" ".join(value) if isinstance(value, tuple) else value)
    for name, number in zip(PCI_ID_ATTRIBUTES, evidence.pci.values(), strict=True):
        if number is not None:
            files[name] = _line(f"0x{number:06x}" if name == "class" else f"0x{number:04x}")
    return files


def write_only_files(evidence: DeviceEvidence) -> tuple[str, ...]:
    """The write-only attributes of a device directory (pure): relative paths of empty 0200 files."""
    tsm = evidence.tsm
    if tsm is None:
        return ()
    return tuple(f"tsm/{partner}" for name, partner in TSM_WRITE_ONLY.items()
                 if getattr(tsm, name) is not None)


_CREATE: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _write(path: str, data: bytes, mode: int = FILE_MODE) -> None:
    """Write atomically: a temporary name in the same directory, then rename; ``mode`` set exactly.

    Files are only written into the device directory this render just created
    (its name holds a random token, and one renderer works per device), so a
    fixed temporary name per file cannot collide; ``O_EXCL`` refuses anything
    already there rather than write through it.  Plain ``os`` calls on string
    paths: a device has ~90 files and the render has a 5 ms budget.
    """
    head, _, name = path.rpartition("/")
    tmp = f"{head}/.{name}.tmp"
    fd = os.open(tmp, _CREATE, 0o600)
    try:
        try:
            os.fchmod(fd, mode)  # exactly, whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _symlink(path: Path, target: str) -> None:
    """Create or replace a symlink atomically."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}"
    os.symlink(target, tmp)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _inside(root: Path, path: Path) -> Path:
    """``path`` resolved, refusing anything that leaves ``root``."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root):
        raise ConfigurationError(f"{path} resolves outside the root {root}")
    return resolved


def _directory(root: Path, *parts: str) -> Path:
    """Create ``root/parts...`` as real directories (no symlink may be on the way)."""
    path = root
    for part in parts:
        path = path / part
        if path.is_symlink():
            raise ConfigurationError(f"{path} is a symlink; refusing to write through it")
        path.mkdir(exist_ok=True)
    return _inside(root, path)


def _log_numbers(directory: Path) -> dict[int, list[str]]:
    """Entry number -> file names in an existing ``signatures/`` directory."""
    numbers: dict[int, list[str]] = {}
    if directory.is_dir():
        for name in os.listdir(directory):
            match = _ENTRY.fullmatch(name)
            if match:
                numbers.setdefault(int(match.group(1)), []).append(name)
    return numbers


def _logged_signatures(old: Path, numbers: dict[int, list[str]]) -> dict[bytes, int]:
    """Signature bytes -> entry number, for the entries of an existing log (signatures are unique)."""
    logged = {}
    for number, names in numbers.items():
        if f"{number}_signature" in names:
            try:
                logged[read_attribute(old / f"{number}_signature")] = number
            except (DecodeError, OSError):
                continue  # not a file the renderer wrote: never a match
    return logged


def _unchanged(old: Path, entry: SignatureEntry, names: list[str] | None) -> bool:
    """Whether ``entry`` is already in the old log exactly (a re-render of read-back evidence)."""
    if names is None:
        return False
    files = entry_files(entry)
    link = f"{entry.number}_certificate_chain"
    if set(names) != set(files) | {link}:
        return False
    try:
        if os.readlink(f"{old}/{link}") != chain_link(entry.certificate_slot):
            return False
    except OSError:  # not a symlink
        return False
    for name, data in files.items():
        try:
            if read_attribute(old / name) != data:
                return False
        except (DecodeError, OSError):
            return False
    return True


def _replaced_slots(old_tree: Path, evidence: DeviceEvidence) -> frozenset[str]:
    """The slot files (``slot<N>``) whose chain the evidence replaces: a chain it writes that is
    not the old tree's.

    An old log entry names its chain only through the ``certificates/slot<N>``
    its symlink leads to.  When that slot now holds another chain (the device
    was provisioned anew, or another device took the address), the entry would
    claim a chain that never signed it and fail every verification.  A slot
    with no chain this time (a failed authentication read none) contradicts
    nothing: the log keeps its history there, as the kernel's does.
    """
    replaced = set()
    for slot in evidence.supported_slots:
        chain = evidence.certificates.get(slot, b"")
        try:
            before: bytes | None = read_attribute(old_tree / "certificates" / f"slot{slot}")
        except (DecodeError, OSError):
            before = None
        if chain and chain != before:
            replaced.add(f"slot{slot}")
    return frozenset(replaced)


def _still_signed(old: Path, names: list[str], number: int, replaced: frozenset[str]) -> bool:
    """Whether an old log entry may be carried over: its chain link is the renderer's and leads
    to a slot whose chain is not replaced (:func:`_replaced_slots`)."""
    link = f"{number}_certificate_chain"
    if link not in names:
        return False
    try:
        slot = _SLOT_LINK.fullmatch(os.readlink(f"{old}/{link}"))
    except OSError:  # not a symlink: not an entry the renderer wrote
        return False
    return slot is not None and slot.group(1) not in replaced


def _write_log(new: Path, old: Path | None, evidence: DeviceEvidence, max_signatures: int) -> None:
    """Carry the old log over (the entries whose chain is unchanged), append the evidence's new
    entries, purge the oldest."""
    old_numbers = _log_numbers(old) if old is not None else {}
    if old is not None:
        replaced = _replaced_slots(old.parent, evidence)
        old_numbers = {number: names for number, names in old_numbers.items()
                       if _still_signed(old, names, number, replaced)}
    entries: dict[int, SignatureEntry | Path] = {n: old for n in old_numbers} if old else {}
    logged = _logged_signatures(old, old_numbers) if old is not None and evidence.signatures else {}
    following = max(old_numbers, default=-1) + 1
    for entry in evidence.signatures:
        number = logged.get(entry.signature)
        if (old is not None and number is not None
                and _unchanged(old, replace(entry, number=number), old_numbers[number])):
            continue
        entries[following] = SignatureEntry(
            number=following, type=entry.type, transcript=entry.transcript,
            signature=entry.signature, requester_nonce=entry.requester_nonce,
            responder_nonce=entry.responder_nonce, hash_algorithm=entry.hash_algorithm,
            combined_spdm_prefix=entry.combined_spdm_prefix,
            certificate_slot=entry.certificate_slot, asym_algorithm=entry.asym_algorithm)
        following += 1
    for number in sorted(entries)[-max_signatures:]:
        source = entries[number]
        if isinstance(source, Path):
            # A hard link carries the entry over byte for byte (the renderer never
            # rewrites a file in place); the symlink is linked as a symlink.
            for name in old_numbers[number]:
                os.link(f"{source}/{name}", f"{new}/{name}", follow_symlinks=False)
        else:
            for name, data in entry_files(source).items():
                _write(f"{new}/{name}", data)
            _symlink(new / f"{number}_certificate_chain", chain_link(source.certificate_slot))


def render(evidence: DeviceEvidence, root: Path, *,
           max_signatures: int = DEFAULT_MAX_SIGNATURES) -> Path:
    """Write (or replace) one device's evidence tree under ``root``.

    Args:
        evidence: the device's evidence.
        root: the tree's root (created if missing); nothing is written outside it.
        max_signatures: how many log entries to keep (the newest; at least 1).

    Returns:
        ``root/bus/pci/devices/<bdf>``.

    Raises:
        ConfigurationError: a bad address or cap, a symlink leading out of ``root``,
            or a ``bus/pci/devices/<bdf>`` that devsec did not render.
        OSError: the file system refused a write (the previous tree stays in place).
    """
    bdf = check_bdf(evidence.bdf)
    if max_signatures < 1:
        raise ConfigurationError(f"max_signatures must be at least 1, not {max_signatures}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    real_root = root.resolve()
    store = _directory(real_root, "devices", "devsec")
    links = _directory(real_root, "bus", "pci", "devices")
    link = links / bdf
    old: Path | None = None
    if link.is_symlink():
        old = _inside(store, link)
        if old.parent != store or not old.name.startswith(f"{bdf}@"):
            raise ConfigurationError(f"{link} does not lead to a devsec-rendered device")
    elif os.path.lexists(link):
        raise ConfigurationError(f"{link} exists and was not rendered by devsec")
    new = store / f"{bdf}@{secrets.token_hex(8)}"
    new.mkdir()
    try:
        files = device_files(evidence)
        # Sorted, so each parent comes before its children.
        write_only = write_only_files(evidence)
        os.chmod(new, DIRECTORY_MODE)
        for sub in sorted({"certificates", "signatures", "doe_features", "measurements"}
                          | {relative.rpartition("/")[0] for relative in (*files, *write_only)} - {""}):
            os.mkdir(f"{new}/{sub}")
            os.chmod(f"{new}/{sub}", DIRECTORY_MODE)
        for relative, data in files.items():
            _write(f"{new}/{relative}", data)
        for relative in write_only:
            _write(f"{new}/{relative}", b"", WRITE_ONLY_MODE)
        _write_log(new / "signatures", old / "signatures" if old else None, evidence, max_signatures)
        for name in evidence.tsm_names:
            _directory(real_root, "devices", "virtual", "tsm", name)
            tsm_links = _directory(real_root, "class", "tsm")
            if not (tsm_links / name).is_symlink():
                _symlink(tsm_links / name, f"../../devices/virtual/tsm/{name}")
        _symlink(link, f"../../../devices/devsec/{new.name}")
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return root / "bus" / "pci" / "devices" / bdf


def remove_device(bdf: str, root: Path) -> bool:
    """Remove one device's evidence tree from under ``root`` (the device went away).

    The ``bus/pci/devices/<bdf>`` link goes first, in one ``unlink``, so a
    reader sees the whole tree or none; the directory it led to is deleted
    afterwards.  The ``class/tsm`` entries stay (other devices may name them).

    Args:
        bdf: the device's PCI address.
        root: the tree's root.

    Returns:
        Whether there was a tree to remove.

    Raises:
        ConfigurationError: a bad address, or a ``bus/pci/devices/<bdf>`` that
            devsec did not render (it is left alone).
        OSError: the file system refused the unlink.
    """
    bdf = check_bdf(bdf)
    real_root = Path(root).resolve()
    link = real_root / "bus" / "pci" / "devices" / bdf
    if not link.is_symlink():
        if os.path.lexists(link):
            raise ConfigurationError(f"{link} exists and was not rendered by devsec")
        return False
    store = real_root / "devices" / "devsec"
    target = _inside(store, link)
    if target.parent != store or not target.name.startswith(f"{bdf}@"):
        raise ConfigurationError(f"{link} does not lead to a devsec-rendered device")
    link.unlink()
    shutil.rmtree(target, ignore_errors=True)
    return True
