"""Whether the kernel's TSM holds a PCI function, so that devsec must leave its DOE mailbox alone.

Linux (6.5+) creates its own DOE mailbox driver for every DOE capability when
it enumerates a device, and its PCI/TSM code (and CMA) exchange objects
through that same mailbox.  Config-space writes through the sysfs ``config``
file bypass the kernel's driver entirely: if devsec drove the registers while
the kernel's TSM holds an SPDM session over them, the two sides' objects would
interleave and both exchanges (and the TSM's session: GET_VERSION resets an
SPDM connection) would be corrupted.  So before devsec touches a real
device's mailbox it reads the kernel's PCI/TSM attributes (mainline 6.19,
``Documentation/ABI/testing/sysfs-bus-pci``) and refuses when:

* ``tsm/connect`` of the function is non-empty: it names the TSM the device
  (its DSM) is connected to;
* ``tsm/bound`` is non-empty on the function, on another function of the
  same device (``DDDD:BB:DD.0``-``.7``) or on one of its virtual functions
  (``virtfn*``): a TDI of it is bound (LOCKED, RUN or ERROR) through the
  TSM's session.

An attribute that exists but cannot be read counts as a claim (fail closed:
devsec cannot tell the mailbox is free).  Absent ``tsm/`` directories (a
kernel without PCI/TSM, a device the TSM does not manage) claim nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .mailbox import MailboxInUse

__all__ = ["MAX_ATTRIBUTE_SIZE", "KernelTsmHoldsDevice", "check_not_held_by_kernel_tsm", "kernel_tsm_claims"]

MAX_ATTRIBUTE_SIZE = 4096
"""Bytes read of an attribute: a sysfs attribute is at most a page (and /dev/zero is not read on)."""

_FUNCTION_NAME = re.compile(r"(?P<device>[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2})\.[0-7]")


class KernelTsmHoldsDevice(MailboxInUse):
    """The kernel's TSM holds the device (connected, or a TDI bound); devsec did not touch its mailbox.

    Disconnect the device from the kernel's TSM (or unbind its TDIs) first; or,
    knowing the kernel's session will be broken, open it with ``force``.
    """


def _read_attribute(path: Path) -> str | None:
    """The attribute's stripped text; None when it does not exist.

    Raises:
        OSError: it exists but cannot be read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        data = os.read(fd, MAX_ATTRIBUTE_SIZE)
    finally:
        os.close(fd)
    return data.decode("utf-8", errors="replace").strip()


def _claim(path: Path, label: str, meaning: str) -> str | None:
    try:
        value = _read_attribute(path)
    except OSError as exc:
        return f"{label} cannot be read ({exc.strerror}): whether the kernel's TSM holds it is unknown"
    return f"{label} is {value!r} ({meaning})" if value else None


def _name(function: Path) -> str:
    """The function's PCI name, through a ``virtfnN`` (or ``bus/pci/devices``) symlink."""
    try:
        return function.resolve().name
    except (OSError, RuntimeError):  # a symlink loop: name it as it was reached
        return function.name


def _functions(device_dir: Path) -> list[Path]:
    """The function itself, the other functions of its device, and every one's virtual functions."""
    found = [device_dir]
    match = _FUNCTION_NAME.fullmatch(device_dir.name)
    if match is not None:
        found += sorted(p for p in device_dir.parent.glob(f"{match['device']}.[0-7]") if p != device_dir)
    for function in list(found):
        found += sorted(function.glob("virtfn*"))
    return found


def kernel_tsm_claims(device_dir: str | os.PathLike[str]) -> list[str]:
    """Why the kernel's TSM holds the function whose sysfs directory is ``device_dir``.

    Args:
        device_dir: e.g. ``/sys/bus/pci/devices/0000:01:00.0``.

    Returns:
        One line per claim (which attribute says so); empty when nothing holds it.
    """
    directory = Path(device_dir)
    claims = [_claim(directory / "tsm" / "connect", f"{_name(directory)} tsm/connect",
                     "connected to that TSM")]
    for function in _functions(directory):
        claims.append(_claim(function / "tsm" / "bound", f"{_name(function)} tsm/bound",
                             "a TDI bound through that TSM"))
    return [claim for claim in claims if claim is not None]


def check_not_held_by_kernel_tsm(device_dir: str | os.PathLike[str]) -> None:
    """Refuse a function the kernel's TSM holds (see the module docstring).

    Args:
        device_dir: the function's sysfs directory.

    Raises:
        KernelTsmHoldsDevice: the kernel's TSM holds it, naming each attribute that says so.
    """
    claims = kernel_tsm_claims(device_dir)
    if claims:
        raise KernelTsmHoldsDevice(
            f"{Path(device_dir).name} is held by the kernel's TSM ({'; '.join(claims)}): its DOE "
            f"mailbox carries the TSM's SPDM session, and driving it from devsec too would corrupt "
            f"both; disconnect it from the TSM first, or force (which breaks the TSM's session)")
