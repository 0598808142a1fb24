"""Which transport reaches a device, from the one string a user types.

``tcp://HOST:PORT`` is a device (an emulator, spdm-emu's responder) served
over the DMTF spdm-emu socket protocol; a PCI address ``DDDD:BB:DD.F`` (or
``BB:DD.F``, domain 0000) is a real function whose DOE mailbox devsec drives
through its config-space file in sysfs.  The CLI, the TSM service and the
policy daemon all choose here, so every entry point accepts the same targets,
and every one that opens a PCI function's mailbox first checks that the
kernel's TSM does not hold it (:mod:`spdm.transport.ownership`) unless forced.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from . import DoeTransport

__all__ = ["DEFAULT_SOCKET_TIMEOUT", "is_socket_target", "open_target", "open_transport"]

DEFAULT_SOCKET_TIMEOUT = 10.0
"""Seconds a socket target waits for the connection and for each response (the transport's floor)."""


def is_socket_target(target: str) -> bool:
    """Whether ``target`` names an spdm-emu socket (``tcp://``) rather than a PCI function."""
    return target.startswith("tcp://")


def open_target(target: str, *, sysfs_root: str = "/sys",
                timeout: float = DEFAULT_SOCKET_TIMEOUT, force: bool = False) -> DoeTransport:
    """Open the DOE transport to ``target``; the caller closes it.

    Args:
        target: ``tcp://HOST:PORT`` (spdm-emu socket) or a PCI address
            ``DDDD:BB:DD.F`` (the function's config-space DOE mailbox).
        sysfs_root: where sysfs is mounted (PCI addresses only).
        timeout: the socket's connect and response floor (socket targets only).
        force: PCI addresses only: open the mailbox although the kernel's TSM
            holds the device, and reset it when another agent keeps it busy
            (either breaks the other side's exchange).

    Returns:
        An :class:`~spdm.transport.EmuSocketClient`, or a
        :class:`~spdm.transport.DeviceMailbox` (its ``config`` attribute is the
        function's config space, for reading its PCI identity).

    Raises:
        ConfigurationError: neither a ``tcp://HOST:PORT`` URL nor a PCI address.
        KernelTsmHoldsDevice: the kernel's TSM holds the PCI function (not ``force``).
        TransportError: the socket could not connect, the config file cannot be
            opened (root is needed) or the function has no DOE capability.
    """
    # Each kind's module is imported when a target of that kind is opened: a
    # one-shot tcp:// connect never loads the config-space mailbox, nor a PCI one the socket client.
    if is_socket_target(target):
        from .emu_socket import EmuSocketClient

        return EmuSocketClient.from_url(target, timeout=timeout)
    from .configspace import DeviceMailbox

    return DeviceMailbox(target, sysfs_root, force=force)


@contextmanager
def open_transport(target: str, *, sysfs_root: str = "/sys",
                   timeout: float = DEFAULT_SOCKET_TIMEOUT, force: bool = False) -> Iterator[DoeTransport]:
    """:func:`open_target` as a context manager: the transport is closed on leaving the block.

    Raises:
        The same as :func:`open_target`.
    """
    transport = open_target(target, sysfs_root=sysfs_root, timeout=timeout, force=force)
    try:
        yield transport
    finally:
        transport.close()
