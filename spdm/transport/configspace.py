"""PCI configuration-space accessors and the extended-capability walk.

One responsibility: 32-bit access to a function's 4 KiB config space, whether
it is emulated in memory (``ModelConfigSpace``, whose DOE capabilities are
backed by ``DoeMailboxModel``s) or a real device's sysfs ``config`` file
(``SysfsConfigSpace``), plus finding capabilities in it.  The DOE host driver
(``DoeMailbox``) runs over either through the ``ConfigSpace`` protocol.
"""

from __future__ import annotations

import logging
import os
import re
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, TypedDict, Unpack

from spdm.errors import ConfigurationError, LocalProtocolError, RemoteProtocolError, TransportError
from spdm.transport.mailbox import DOE_CAP_SIZE, EXT_CAP_ID_DOE, DoeMailbox, DoeMailboxModel
from spdm.transport.ownership import check_not_held_by_kernel_tsm

__all__ = [
    "CONFIG_SPACE_SIZE",
    "EXT_CAP_ID_DOE",
    "EXT_CAP_START",
    "ConfigSpace",
    "DeviceMailbox",
    "MailboxOptions",
    "ModelConfigSpace",
    "SysfsConfigSpace",
    "device_directory",
    "find_extended_capabilities",
    "open_mailbox",
]

_log = logging.getLogger(__name__)

CONFIG_SPACE_SIZE = 0x1000
"""Size of a PCIe function's configuration space."""

EXT_CAP_START = 0x100
"""Offset of the first extended capability header."""

_DWORD = struct.Struct("<I")
_NULL_EXT_CAP = 0x0000
_BDF = re.compile(
    r"(?:(?P<domain>[0-9a-fA-F]{4,8}):)?(?P<bus>[0-9a-fA-F]{2}):"
    r"(?P<dev>[01][0-9a-fA-F])\.(?P<fn>[0-7])"
)


class ConfigSpace(Protocol):
    """32-bit access to one function's configuration space (little-endian dwords)."""

    def read32(self, offset: int) -> int:
        """Read the dword at ``offset`` (dword-aligned, below 0x1000)."""
        ...

    def write32(self, offset: int, value: int) -> None:
        """Write the dword at ``offset`` (dword-aligned, below 0x1000)."""
        ...


def _check_offset(offset: int) -> None:
    if offset % 4 or not 0 <= offset < CONFIG_SPACE_SIZE:
        raise LocalProtocolError(f"{offset!r} is not a dword offset in config space")


def find_extended_capabilities(config: ConfigSpace, cap_id: int) -> list[int]:
    """Find every extended capability with ID ``cap_id``.

    Walks the list from 0x100 as Linux ``pci_find_next_ext_capability`` does:
    it ends at a header of 0 or 0xFFFFFFFF (no extended space, or a removed
    device) or at a next pointer below 0x100.

    Args:
        config: the function's configuration space.
        cap_id: the 16-bit Extended Capability ID (e.g. ``EXT_CAP_ID_DOE``).

    Returns:
        The offsets of the matching capability headers, in list order.

    Raises:
        RemoteProtocolError: the list points back to a capability already
            visited (a loop in the device's config space).
        TransportError: config-space I/O failed.
    """
    found: list[int] = []
    visited: set[int] = set()
    offset = EXT_CAP_START
    # Offsets are dwords in 0x100..0xFFC, so refusing to revisit one bounds
    # the walk at 960 headers.
    while offset >= EXT_CAP_START:
        if offset in visited:
            raise RemoteProtocolError(f"extended capability list loops back to {offset:#x}")
        visited.add(offset)
        header = config.read32(offset)
        if header in (0, 0xFFFF_FFFF):
            break
        if header & 0xFFFF == cap_id:
            found.append(offset)
        # Bits [1:0] of the next pointer are reserved (PCIe r6.x §7.6.3).
        offset = (header >> 20) & 0xFFC
    return found


def device_directory(bdf: str, sysfs_root: str | os.PathLike[str] = "/sys") -> Path:
    """The sysfs directory of the PCI function at ``bdf``: ``<sysfs_root>/bus/pci/devices/<DDDD:BB:DD.F>``.

    Args:
        bdf: ``DDDD:BB:DD.F`` (hex; longer domains as Linux prints them are
            accepted, any case) or ``BB:DD.F`` for domain 0000.
        sysfs_root: where sysfs is mounted.

    Returns:
        The directory, named as the kernel names it (lower case); it need not exist.

    Raises:
        ConfigurationError: ``bdf`` is not a PCI address.
    """
    match = _BDF.fullmatch(bdf)
    if match is None:
        raise ConfigurationError(f"{bdf!r} is not a PCI address (DDDD:BB:DD.F)")
    domain = match["domain"] or "0000"
    name = f"{domain}:{match['bus']}:{match['dev']}.{match['fn']}".lower()
    return Path(sysfs_root, "bus", "pci", "devices", name)


class ModelConfigSpace:
    """An emulated function's 4 KiB configuration space.

    A type-0 header with the given IDs, then an extended capability list from
    0x100 holding one DOE capability per mailbox, packed back to back.  Each
    0x18-byte DOE window is forwarded to its ``DoeMailboxModel`` (the model
    supplies ID and version, this class the next pointer).  Everything else
    behaves as RAM, except that the ID dword and the extended capability
    headers are read-only.
    """

    def __init__(
        self,
        mailboxes: Sequence[DoeMailboxModel],
        *,
        vendor_id: int = 0x1AF4,
        device_id: int = 0x1234,
        first_cap: int = EXT_CAP_START,
    ) -> None:
        """Lay out the configuration space.

        Args:
            mailboxes: the DOE instances, in capability-list order.
            vendor_id: PCI Vendor ID at 0x00.
            device_id: PCI Device ID at 0x02.
            first_cap: where the first DOE capability goes.  Above 0x100, a
                Null capability (ID 0) at 0x100 points to it, so the walk
                from 0x100 has something to step over.

        Raises:
            LocalProtocolError: an ID is out of range, ``first_cap`` is not a
                dword offset (0x100, or 0x104 and above), or the capabilities
                do not fit in 4 KiB.
        """
        if not (0 <= vendor_id <= 0xFFFF and 0 <= device_id <= 0xFFFF):
            raise LocalProtocolError("vendor_id and device_id must be 16-bit")
        end = first_cap + len(mailboxes) * DOE_CAP_SIZE
        if first_cap % 4 or not (first_cap == EXT_CAP_START or first_cap >= EXT_CAP_START + 4):
            raise LocalProtocolError(f"first_cap {first_cap!r} is not an extended config offset")
        if end > CONFIG_SPACE_SIZE:
            raise LocalProtocolError(f"{len(mailboxes)} DOE capabilities do not fit at {first_cap:#x}")
        self._ram = bytearray(CONFIG_SPACE_SIZE)
        _DWORD.pack_into(self._ram, 0, vendor_id | device_id << 16)
        self._read_only = {0}
        if mailboxes and first_cap > EXT_CAP_START:
            _DWORD.pack_into(self._ram, EXT_CAP_START, _NULL_EXT_CAP | first_cap << 20)
            self._read_only.add(EXT_CAP_START)
        self._mailboxes = list(mailboxes)
        self._first_cap = first_cap
        self._end = end
        # Every DOE register's offset -> (its model, register, mailbox index): one dict lookup
        # per access on the mailbox's hot path (a data object moves dword by dword).
        self._doe_registers = {
            first_cap + index * DOE_CAP_SIZE + reg: (model, reg, index)
            for index, model in enumerate(self._mailboxes)
            for reg in range(0, DOE_CAP_SIZE, 4)
        }

    @property
    def doe_offsets(self) -> list[int]:
        """Offsets of the DOE capabilities, one per mailbox, in order."""
        return list(range(self._first_cap, self._end, DOE_CAP_SIZE))

    def read32(self, offset: int) -> int:
        """Read a dword.

        Args:
            offset: dword-aligned offset below 0x1000.

        Returns:
            The value (DOE registers come from their model).

        Raises:
            LocalProtocolError: bad offset.
        """
        hit = self._doe_registers.get(offset)
        if hit is None:
            _check_offset(offset)
            value: int = _DWORD.unpack_from(self._ram, offset)[0]
            return value
        model, reg, index = hit
        value = model.read32(reg)
        if reg == 0 and index + 1 < len(self._mailboxes):
            value = (value & 0x000F_FFFF) | (offset + DOE_CAP_SIZE) << 20
        return value

    def write32(self, offset: int, value: int) -> None:
        """Write a dword; the ID dword and capability headers ignore writes.

        Args:
            offset: dword-aligned offset below 0x1000.
            value: the 32-bit value.

        Raises:
            LocalProtocolError: bad offset or value.
        """
        hit = self._doe_registers.get(offset)
        if hit is None:
            _check_offset(offset)
        if not 0 <= value <= 0xFFFF_FFFF:
            raise LocalProtocolError(f"{value!r} is not a 32-bit unsigned integer")
        if hit is not None:
            hit[0].write32(hit[1], value)
        elif offset not in self._read_only:
            _DWORD.pack_into(self._ram, offset, value)


class SysfsConfigSpace:
    """A real function's config space through its sysfs ``config`` file.

    Each access is one ``pread``/``pwrite`` of 4 bytes at the offset, which the
    kernel turns into a single config-space dword access (a DOE mailbox must
    not see split or merged accesses).  Reading beyond the first 64 bytes, and
    any write, needs root (CAP_SYS_ADMIN); the kernel returns short reads
    otherwise, reported here as TransportError.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open the ``config`` file read-write.

        Args:
            path: the file, e.g. ``/sys/bus/pci/devices/0000:01:00.0/config``.

        Raises:
            TransportError: the file cannot be opened (names the path).
        """
        self._path = os.fspath(path)
        try:
            self._fd: int | None = os.open(self._path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise TransportError(f"cannot open {self._path}: {exc.strerror}") from exc

    @classmethod
    def for_device(cls, bdf: str, sysfs_root: str = "/sys") -> SysfsConfigSpace:
        """Open the config space of the device at ``bdf``.

        Args:
            bdf: ``DDDD:BB:DD.F`` (hex; longer domains as Linux prints them are
                accepted) or ``BB:DD.F`` for domain 0000.
            sysfs_root: where sysfs is mounted.

        Returns:
            The opened config space.

        Raises:
            ConfigurationError: ``bdf`` is not a PCI address.
            TransportError: the device's config file cannot be opened.
        """
        return cls(device_directory(bdf, sysfs_root) / "config")

    def _require_fd(self) -> int:
        if self._fd is None:
            raise LocalProtocolError(f"{self._path} is closed")
        return self._fd

    def read32(self, offset: int) -> int:
        """Read the dword at ``offset``.

        Args:
            offset: dword-aligned offset below 0x1000.

        Returns:
            The value.

        Raises:
            LocalProtocolError: bad offset, or the file is closed.
            TransportError: the read failed or was short.
        """
        _check_offset(offset)
        fd = self._require_fd()
        try:
            data = os.pread(fd, 4, offset)
        except OSError as exc:
            raise TransportError(f"read of {self._path} at {offset:#x}: {exc.strerror}") from exc
        if len(data) != 4:
            raise TransportError(f"short read of {self._path} at {offset:#x} ({len(data)} bytes)")
        value: int = _DWORD.unpack(data)[0]
        return value

    def write32(self, offset: int, value: int) -> None:
        """Write the dword at ``offset``.

        Args:
            offset: dword-aligned offset below 0x1000.
            value: the 32-bit value.

        Raises:
            LocalProtocolError: bad offset or value, or the file is closed.
            TransportError: the write failed or was short.
        """
        _check_offset(offset)
        if not 0 <= value <= 0xFFFF_FFFF:
            raise LocalProtocolError(f"{value!r} is not a 32-bit unsigned integer")
        fd = self._require_fd()
        try:
            written = os.pwrite(fd, _DWORD.pack(value), offset)
        except OSError as exc:
            raise TransportError(f"write of {self._path} at {offset:#x}: {exc.strerror}") from exc
        if written != 4:
            raise TransportError(f"short write of {self._path} at {offset:#x} ({written} bytes)")

    def close(self) -> None:
        """Close the file; idempotent."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class MailboxOptions(TypedDict, total=False):
    """Keyword arguments ``open_mailbox`` passes on to ``DoeMailbox``."""

    timeout: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    poll_interval: float
    force: bool


def open_mailbox(config: ConfigSpace, **kw: Unpack[MailboxOptions]) -> DoeMailbox:
    """Attach a host driver to the function's first DOE capability.

    Args:
        config: the function's configuration space.
        **kw: keyword arguments for ``DoeMailbox`` (timeout, clock, ...).

    Returns:
        The mailbox driver.

    Raises:
        TransportError: the function has no DOE capability, or I/O failed.
        RemoteProtocolError: the capability list loops.
    """
    offsets = find_extended_capabilities(config, EXT_CAP_ID_DOE)
    if not offsets:
        raise TransportError("no DOE extended capability found")
    _log.debug("using DOE capability at %#x (of %d)", offsets[0], len(offsets))
    return DoeMailbox(config, offsets[0], **kw)


class DeviceMailbox:
    """A real device's DOE mailbox that owns its sysfs ``config`` file: ``close`` closes both.

    ``DoeMailbox`` leaves its config space to the caller (it may be shared or
    emulated); a caller that opens a device by address only wants one handle
    to close.  Opening one first checks that the kernel's TSM does not hold
    the device (:mod:`spdm.transport.ownership`): the kernel drives the same
    mailbox registers for its own session.

    Attributes:
        config: the device's config space, for other reads while the mailbox is open.
    """

    def __init__(self, bdf: str, sysfs_root: str = "/sys", **kw: Unpack[MailboxOptions]) -> None:
        """Open ``<sysfs_root>/bus/pci/devices/<bdf>/config`` and attach to its first DOE capability.

        Args:
            bdf: the function's PCI address.
            sysfs_root: where sysfs is mounted.
            **kw: options for ``DoeMailbox``; ``force`` also skips the
                kernel-TSM check (the kernel's session will break).

        Raises:
            ConfigurationError: ``bdf`` is not a PCI address.
            KernelTsmHoldsDevice: the kernel's TSM holds the device (and not ``force``);
                nothing was opened.
            TransportError: the file cannot be opened, or the function has no DOE capability.
            RemoteProtocolError: the capability list loops.
        """
        directory = device_directory(bdf, sysfs_root)
        if not kw.get("force", False):
            check_not_held_by_kernel_tsm(directory)
        self.config = SysfsConfigSpace(directory / "config")
        try:
            self._mailbox = open_mailbox(self.config, **kw)
        except BaseException:
            self.config.close()
            raise

    @property
    def mailbox(self) -> DoeMailbox:
        """The driver of the function's DOE mailbox (its registers, for conformance cases)."""
        return self._mailbox

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        """One DOE object out, its response in (see ``DoeMailbox.exchange``)."""
        return self._mailbox.exchange(request, timeout=timeout)

    def close(self) -> None:
        """Stop using the mailbox and close the config file; idempotent."""
        self._mailbox.close()
        self.config.close()
