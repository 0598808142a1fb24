"""Parse a device's sysfs evidence tree (devsec-rendered or a real kernel's ``/sys``).

Tolerant of what the kernel may leave out or add (optional files and
directories, unsupported slots, empty unprovisioned slots, write-only
attributes, ``authenticated`` holding a TSM name, the kernel's other
attributes and symlinks such as ``driver``, ``iommu_group``, ``config``) and
strict about garbage: malformed contents raise
:class:`~spdm.errors.DecodeError` naming the path.

Every file is read through :func:`~sysfs_bridge.attribute.read_attribute`:
regular files only, with a size cap, so a symlink to ``/dev/zero`` or a FIFO
at an attribute's name is garbage, not a hang.  Names that carry numbers
(``measurements/<index>``, ``signatures/<N>_*``) are ASCII digits only, and
``signatures/`` holds nothing but log entries and ``next_requester_nonce``.
An attribute that exists but cannot be read (EACCES, EIO: the kernel's
CMA-SPDM answers an error when it cannot tell whether the device supports
SPDM) is an error, never taken as absent; only a write-only attribute (no
read bit in its mode) reads as empty where the kernel has one.

The DOE discovery protocol's feature file is ``doe_discovery`` in the
kernel (and in devsec's trees); ``0001:00``, which older devsec trees hold,
is read as the same feature.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

from spdm.crypto import parse_der_certificates
from spdm.errors import ConfigurationError, DecodeError, DevsecError

from .attribute import MAX_TEXT_SIZE, is_write_only, read_attribute
from .evidence import (
    SLOTS,
    SPDM_ATTRIBUTES,
    SPDM_OPTIONAL_ATTRIBUTES,
    TSM_ATTRIBUTES,
    DeviceEvidence,
    MeasurementEntry,
    SignatureEntry,
    SpdmFacts,
    TsmState,
    check_bdf,
    check_tsm_name,
)
from .interface_report import read_interface_report
from .mel import read_mel
from .pci import PCI_ID_ATTRIBUTES, PciIdentity

__all__ = ["device_bdf", "list_devices", "read_device", "read_device_dir", "read_entry", "resolve_device_dir"]

_BDF = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]")
_ENTRY = re.compile(r"([0-9]{1,10})_([a-z_]+)")
_INDEX = re.compile(r"[0-9]{1,3}")
_FEATURE = re.compile(r"([0-9a-f]{4}):([0-9a-f]{2})")
_DOE_DISCOVERY = "doe_discovery"
_SLOT_LINK = re.compile(r"(?:.*/)?slot([0-7])")
_TEXT = re.compile(r"[\x20-\x7e]*")
_HEX_ID = re.compile(r"0x[0-9a-f]{1,6}")
_ATTEMPTS: Final = 8
"""Reads retried when a re-render swaps the device directory mid-read."""


def list_devices(root: Path) -> list[str]:
    """The PCI addresses under ``root/bus/pci/devices`` (sorted; none if it is missing)."""
    directory = Path(root) / "bus" / "pci" / "devices"
    if not directory.is_dir():
        return []
    return sorted(name for name in os.listdir(directory) if _BDF.fullmatch(name))


def _binary(path: Path) -> bytes:
    return read_attribute(path)


def _text(path: Path) -> str:
    """One printable ASCII line, with or without its newline (sysfs text attribute)."""
    data = read_attribute(path, MAX_TEXT_SIZE)
    if data.endswith(b"\n"):
        data = data[:-1]
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"{path}: not ASCII text") from exc
    if _TEXT.fullmatch(text) is None:
        raise DecodeError(f"{path}: not one line of printable text: {text!r}")
    return text


def _optional_text(path: Path) -> str | None:
    """A text attribute that may be absent (None)."""
    try:
        return _text(path)
    except FileNotFoundError:
        return None


def _write_only_or_missing(path: Path) -> bool:
    """Whether ``path`` is absent or a write-only attribute (nothing to read there)."""
    try:
        return is_write_only(path)
    except FileNotFoundError:
        return True


@contextmanager
def _naming(path: Path) -> Iterator[None]:
    """Report a value the evidence classes refuse as garbage at ``path``."""
    try:
        yield
    except ConfigurationError as exc:
        raise DecodeError(f"{path}: {exc}") from exc


def read_entry(signatures: Path, number: int) -> SignatureEntry:
    """One entry of a ``signatures/`` log, from its files.

    Args:
        signatures: the ``signatures`` directory.
        number: the entry number ``N``.

    Raises:
        DecodeError: a required file is missing or malformed (the path is named).
    """
    def path(suffix: str) -> Path:
        return signatures / f"{number}_{suffix}"

    try:
        link = os.readlink(path("certificate_chain"))
    except FileNotFoundError as exc:
        raise DecodeError(f"{path('certificate_chain')}: missing") from exc
    except OSError as exc:
        raise DecodeError(f"{path('certificate_chain')}: not a symlink") from exc
    slot = _SLOT_LINK.fullmatch(link)
    if slot is None:
        raise DecodeError(f"{path('certificate_chain')}: link {link!r} does not name a slot")
    try:
        fields = {name: _binary(path(name)) for name in
                  ("signature", "transcript", "requester_nonce", "responder_nonce",
                   "combined_spdm_prefix")}
        type_ = _text(path("type"))
        hash_algorithm = _text(path("hash_algorithm"))
    except FileNotFoundError as exc:
        raise DecodeError(f"{exc.filename}: missing") from exc
    asym_algorithm = _optional_text(path("asym_algorithm")) or ""
    with _naming(path("type")):
        return SignatureEntry(
            number=number, type=type_, hash_algorithm=hash_algorithm,
            certificate_slot=int(slot.group(1)), asym_algorithm=asym_algorithm,
            signature=fields["signature"], transcript=fields["transcript"],
            requester_nonce=fields["requester_nonce"], responder_nonce=fields["responder_nonce"],
            combined_spdm_prefix=fields["combined_spdm_prefix"])


def _log(signatures: Path) -> tuple[tuple[SignatureEntry, ...], bytes]:
    if not signatures.is_dir():
        return (), b""
    numbers = set()
    for name in os.listdir(signatures):
        match = _ENTRY.fullmatch(name)
        if match is not None:
            numbers.add(int(match.group(1)))
        elif not name.startswith(".") and name != "next_requester_nonce":
            raise DecodeError(f"{signatures / name}: not a signature log entry")
    nonce_path = signatures / "next_requester_nonce"
    # The kernel's next_requester_nonce is write-only (the nonce the next exchange is to use).
    nonce = b"" if _write_only_or_missing(nonce_path) else _binary(nonce_path)
    return tuple(read_entry(signatures, n) for n in sorted(numbers)), nonce


def _authenticated(path: Path) -> bool | str:
    try:
        text = _text(path)
    except FileNotFoundError:
        return False
    if text in ("0", "1"):
        return text == "1"
    if text:
        with _naming(path):
            check_tsm_name(text)
    return text


def _certificates(directory: Path) -> tuple[dict[int, bytes], tuple[int, ...]]:
    """The provisioned slots' certificates and the supported slots (those with a ``slotN`` file)."""
    certificates = {}
    supported = []
    for slot in SLOTS:
        path = directory / f"slot{slot}"
        try:
            der = _binary(path)
        except FileNotFoundError:
            continue
        supported.append(slot)
        if der:
            try:
                parse_der_certificates(der)
            except DevsecError as exc:
                raise DecodeError(f"{path}: {exc}") from exc
            certificates[slot] = der
    return certificates, tuple(supported)


def _features(directory: Path) -> tuple[tuple[int, int], ...]:
    if not directory.is_dir():
        return ()
    features = []
    for name in os.listdir(directory):
        if name.startswith("."):
            continue
        if name == _DOE_DISCOVERY:
            features.append((1, 0))
            continue
        match = _FEATURE.fullmatch(name)
        if match is None:
            raise DecodeError(f"{directory / name}: not a DOE feature name VVVV:TT or {_DOE_DISCOVERY}")
        features.append((int(match.group(1), 16), int(match.group(2), 16)))
    return tuple(features)


def _measurements(directory: Path) -> tuple[MeasurementEntry, ...]:
    if not directory.is_dir():
        return ()
    entries = []
    for name in os.listdir(directory):
        if name.startswith("."):
            continue
        path = directory / name
        if _INDEX.fullmatch(name) is None or not stat.S_ISDIR(os.lstat(path).st_mode):
            raise DecodeError(f"{path}: not a measurement index directory")
        try:
            fields = {key: _text(path / key) for key in
                      ("value_type", "representation", "hash_algorithm", "source")}
            value = _binary(path / "value")
        except FileNotFoundError as exc:
            raise DecodeError(f"{exc.filename}: missing") from exc
        with _naming(path):
            entries.append(MeasurementEntry(
                index=int(name), value=value, value_type=fields["value_type"],
                representation=fields["representation"], hash_algorithm=fields["hash_algorithm"],
                source=fields["source"]))
    return tuple(entries)


def _tsm(directory: Path) -> TsmState | None:
    """The readable ``tsm/`` attributes; an absent ``dsm``/``bound`` reads "" (the kernel hides
    ``bound`` on a function 0 without TEE capability), an absent ``connect``/``lock``/``accept``
    None.  The write-only ``disconnect``/``unlock`` are never read; other files are ignored."""
    if not directory.is_dir():
        return None
    values = {name: _optional_text(directory / name) for name in TSM_ATTRIBUTES}
    with _naming(directory):
        return TsmState(dsm=values["dsm"] or "", bound=values["bound"] or "", connect=values["connect"],
                        lock=values["lock"], accept=values["accept"])


def _spdm(directory: Path) -> SpdmFacts | None:
    """devsec's ``spdm/``: absent on a kernel's ``/sys``; when present, exactly its files."""
    if not directory.is_dir():
        return None
    for name in os.listdir(directory):
        if not name.startswith(".") and name not in SPDM_ATTRIBUTES:
            raise DecodeError(f"{directory / name}: not an spdm/ attribute")
    try:
        values = {name: _text(directory / name) for name in SPDM_ATTRIBUTES
                  if name not in SPDM_OPTIONAL_ATTRIBUTES or (directory / name).exists()}
    except FileNotFoundError as exc:
        raise DecodeError(f"{exc.filename}: missing") from exc
    with _naming(directory):
        return SpdmFacts(
            version=values["version"], hash_algorithm=values["hash_algorithm"],
            asym_algorithm=values["asym_algorithm"],
            measurement_hash_algorithm=values["measurement_hash_algorithm"],
            dhe_group=values["dhe_group"], aead_suite=values["aead_suite"],
            capabilities=tuple(values["capabilities"].split()),
            vendor_protocols=tuple(values["vendor_protocols"].split()),
            kem_algorithm=values.get("kem_algorithm", ""))


def _pci(directory: Path) -> PciIdentity:
    """The kernel's ``vendor``, ``device``, ``subsystem_*``, ``class`` (each optional)."""
    values: list[int | None] = []
    for name in PCI_ID_ATTRIBUTES:
        path = directory / name
        try:
            text = _text(path)
        except FileNotFoundError:
            values.append(None)
            continue
        if _HEX_ID.fullmatch(text) is None:
            raise DecodeError(f"{path}: not a hexadecimal ID 0x...: {text!r}")
        values.append(int(text, 16))
    vendor, device, subsystem_vendor, subsystem_device, class_code = values
    with _naming(directory):
        return PciIdentity(vendor=vendor, device=device, subsystem_vendor=subsystem_vendor,
                           subsystem_device=subsystem_device, class_code=class_code)


def _read(directory: Path, bdf: str) -> DeviceEvidence:
    signatures, nonce = _log(directory / "signatures")
    authenticated = _authenticated(directory / "authenticated")
    certificates, slots = _certificates(directory / "certificates")
    features = _features(directory / "doe_features")
    measurements = _measurements(directory / "measurements")
    tsm = _tsm(directory / "tsm")
    spdm = _spdm(directory / "spdm")
    pci = _pci(directory)
    report = read_interface_report(directory)
    mel = read_mel(directory)
    with _naming(directory):
        return DeviceEvidence(
            bdf=bdf, authenticated=authenticated, certificates=certificates, signatures=signatures,
            doe_features=features, measurements=measurements, tsm=tsm, next_requester_nonce=nonce,
            spdm=spdm, pci=pci, supported_slots=slots, interface_report=report,
            mel=mel)


def read_device(root: Path, bdf: str) -> DeviceEvidence:
    """Read one device's evidence from ``root/bus/pci/devices/<bdf>``.

    A devsec re-render swaps the device directory atomically; a read that
    overlaps the swap is retried, so the result is always one whole tree.

    Args:
        root: the tree's root (``/sys`` on a real system).
        bdf: the PCI address ``DDDD:BB:DD.F``.

    Returns:
        The evidence, equal to what was rendered.

    Raises:
        ConfigurationError: a malformed address, or no such device under ``root``.
        DecodeError: malformed contents (the message names the path).
    """
    check_bdf(bdf)
    link = Path(root) / "bus" / "pci" / "devices" / bdf
    if not os.path.lexists(link):
        raise ConfigurationError(f"no device {bdf} under {root}")
    return read_device_dir(link)


def device_bdf(device_dir: Path) -> str:
    """The PCI address a device directory belongs to.

    ``ROOT/bus/pci/devices/<bdf>`` and a kernel's ``/sys/devices/.../<bdf>`` are
    named after it; devsec's own ``devices/devsec/<bdf>@<token>`` carries it
    before the ``@``.

    Raises:
        ConfigurationError: the name holds no PCI address.
    """
    return check_bdf(Path(device_dir).name.partition("@")[0])


def read_device_dir(device_dir: Path) -> DeviceEvidence:
    """Read one device's evidence from its directory (or the ``bus/pci/devices`` link to it).

    Like :func:`read_device`, retried when a re-render swaps the directory mid-read.

    Args:
        device_dir: ``ROOT/bus/pci/devices/<bdf>``, or the directory it leads to.

    Returns:
        The evidence, equal to what was rendered.

    Raises:
        ConfigurationError: the directory's name is no PCI address, or it does not exist.
        DecodeError: malformed contents (the message names the path).
    """
    link = Path(device_dir)
    bdf = device_bdf(link)
    dangling = False
    for _ in range(_ATTEMPTS):
        directory = resolve_device_dir(link)
        dangling = directory is None
        if directory is None:  # the link's old target, just deleted by a re-render
            continue
        try:
            evidence = _read(directory, bdf)
        except (OSError, DecodeError) as exc:
            if link.resolve() != directory:
                continue
            if isinstance(exc, DecodeError):
                raise
            raise DecodeError(f"{directory}: {exc}") from exc
        if link.resolve() == directory:
            return evidence
    if dangling:
        raise ConfigurationError(f"no device directory {link}: the link leads nowhere")
    raise DecodeError(f"{link}: the device was re-rendered during every read attempt")


def resolve_device_dir(link: Path) -> Path | None:
    """The directory a device link leads to, or None while its target is gone.

    A re-render swaps the link and then deletes the old directory, so a link
    read just before the swap can lead nowhere for a moment: retry on None.

    Raises:
        ConfigurationError: nothing at ``link``, or a symlink loop.
    """
    try:
        return link.resolve(strict=True)
    except FileNotFoundError as exc:
        if os.path.lexists(link):
            return None
        raise ConfigurationError(f"no device directory {link}") from exc
    except RuntimeError as exc:
        raise ConfigurationError(f"no device directory {link}: {exc}") from exc
