"""Which transport reaches a device, from the one string a user types.

``tcp://HOST:PORT`` is a device (an emulator, spdm-emu's responder) served
over the DMTF spdm-emu socket protocol; a PCI address ``DDDD:BB:DD.F`` (or
``BB:DD.F``, domain 0000) is a real function whose DOE mailbox devsec drives
through its config-space file in sysfs.  The CLI, the TSM service and the
policy daemon all choose here, so every entry point accepts the same targets,
and every one that opens a PCI function's mailbox first checks that the
kernel's TSM does not hold it (:mod:`spdm.transport.ownership`) unless forced.

A socket target may also speak another binding than PCI DOE, as the
reference's ``spdm_responder_emu --trans MCTP`` (its default) and ``--trans
TCP`` do: :func:`open_binding` opens such a target as a
:class:`~spdm.transport.binding_driver.BindingChannel`, which
:func:`spdm.connection.connect` drives with the binding's codec and record
format (:mod:`spdm.transport.binding_socket` says what each binding's frames carry).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from spdm.errors import ConfigurationError

from . import DoeTransport

if TYPE_CHECKING:
    from .binding_driver import BindingChannel

__all__ = ["DEFAULT_SOCKET_TIMEOUT", "is_socket_target", "open_binding", "open_target", "open_transport"]

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


def open_binding(target: str, binding: str, *, timeout: float = DEFAULT_SOCKET_TIMEOUT) -> BindingChannel:
    """Open a socket target whose frames carry a message binding's messages; the caller closes it.

    Args:
        target: ``tcp://HOST:PORT`` of a device served with that binding
            (``spdm_responder_emu --trans MCTP`` or ``--trans TCP``,
            ``devsec emulate --binding mctp|tcp``).
        binding: ``mctp`` or ``tcp``.
        timeout: the socket's connect and response floor.

    Returns:
        The channel and the binding's codec, for :func:`spdm.connection.connect`
        (a context manager that closes the channel).

    Raises:
        ConfigurationError: a PCI address (a function's DOE mailbox carries DOE
            objects only), a malformed URL, or not a message binding.
        TransportError: the socket could not connect.
    """
    from .binding_driver import BindingChannel
    from .binding_socket import SOCKET_TRANSPORT_TYPES, message_codec
    from .emu_socket import EmuSocketClient

    if not is_socket_target(target):
        raise ConfigurationError(f"{target!r}: only a tcp:// target can speak the {binding} binding "
                                 f"(a PCI function's DOE mailbox carries DOE objects)")
    codec = message_codec(binding)
    client = EmuSocketClient.from_url(target, timeout=timeout, transport_type=SOCKET_TRANSPORT_TYPES[binding])
    return BindingChannel(client, codec)
