"""Kernel uevents as values, and the pluggable sources the policy daemon reads them from.

The kernel broadcasts every device event on the ``NETLINK_KOBJECT_UEVENT``
socket family (multicast group 1) as one datagram ``ACTION@DEVPATH\\0`` followed
by ``KEY=VALUE\\0`` pairs; udev passes the same pairs to ``RUN+=`` programs as
environment variables.  :func:`parse_uevent`, :func:`uevent_from_message`
(pyroute2's parsed form) and :func:`uevent_from_environment` all produce the
same :class:`Uevent`, and :func:`work_for` says what it asks of devsec, so the
daemon and the udev hook share one reading of events.

Sources (:class:`UeventSource`): :class:`NetlinkUeventSource`, the kernel
through pyroute2's uevent socket, and :class:`QueueUeventSource`, events
injected in process (tests, replays).
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import re
import select
import socket
import threading
from collections.abc import Iterable, Mapping
from dataclasses import field
from typing import Final, Literal, Protocol

from spdm.errors import ConfigurationError, DecodeError, TransportError
from spdm.record import record

from .evidence import check_bdf

__all__ = [
    "KERNEL_GROUP",
    "NetlinkUeventSource",
    "QueueUeventSource",
    "Uevent",
    "UeventSource",
    "UeventSourceClosed",
    "UeventsLost",
    "Work",
    "parse_uevent",
    "uevent_from_environment",
    "uevent_from_message",
    "work_for",
]

_log = logging.getLogger(__name__)

KERNEL_GROUP: Final = 1
"""The uevent multicast group the kernel sends on (udevd re-broadcasts on group 2)."""

_RECEIVE_SIZE: Final = 16384
"""Bytes read per datagram: a uevent is at most PATH_MAX plus the kernel's 2 KiB environment."""

_KEY = re.compile(r"[A-Z0-9_]+")
_REQUIRED: Final = ("ACTION", "DEVPATH", "SUBSYSTEM")


class UeventsLost(TransportError):
    """The kernel dropped uevents (the socket's receive buffer overflowed): rescan everything."""


class UeventSourceClosed(TransportError):
    """The source is closed and has nothing more to deliver."""


@record(frozen=True)
class Uevent:
    """One device event.

    Attributes:
        action: ``add``, ``change``, ``remove``, ``bind``, ...
        devpath: the device's path below ``/sys`` (``/devices/pci0000:00/0000:00:01.0``).
        subsystem: ``pci``, ``tsm``, ...
        env: every ``KEY=VALUE`` of the event, ACTION/DEVPATH/SUBSYSTEM included.
    """

    action: str
    devpath: str
    subsystem: str
    env: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def pci_device(self) -> str | None:
        """The PCI address of a ``pci`` event (its ``PCI_SLOT_NAME``), None for other events.

        Raises:
            DecodeError: a ``pci`` event whose slot name is missing or not an address.
        """
        if self.subsystem != "pci":
            return None
        slot = self.env.get("PCI_SLOT_NAME", "")
        try:
            return check_bdf(slot.lower())
        except ConfigurationError as exc:
            raise DecodeError(f"pci uevent for {self.devpath} without a valid PCI_SLOT_NAME: "
                              f"{slot!r}") from exc


def _uevent(env: Mapping[str, str], header: str | None) -> Uevent:
    """The one constructor every form goes through: required keys, header consistency."""
    for key in _REQUIRED:
        if not env.get(key):
            raise DecodeError(f"uevent without {key}")
    if header is not None and header != f"{env['ACTION']}@{env['DEVPATH']}":
        raise DecodeError(f"uevent header {header!r} disagrees with ACTION/DEVPATH")
    return Uevent(action=env["ACTION"], devpath=env["DEVPATH"], subsystem=env["SUBSYSTEM"],
                  env=dict(env))


def parse_uevent(data: bytes) -> Uevent:
    """Parse one kernel uevent datagram (``ACTION@DEVPATH\\0KEY=VALUE\\0...``).

    Args:
        data: the datagram as received.

    Returns:
        The event.

    Raises:
        DecodeError: not UTF-8, no ``@`` header, a pair without ``=`` or with a key
            that is not upper-case, a repeated key, a missing ACTION/DEVPATH/SUBSYSTEM,
            or a header that disagrees with them (libudev's re-broadcasts on group 2
            start with ``libudev\\0`` and are refused here).
    """
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"uevent is not UTF-8: {exc}") from exc
    header, *pairs = text.rstrip("\0").split("\0")
    if "@" not in header:
        raise DecodeError(f"uevent header {header[:64]!r} is not ACTION@DEVPATH")
    env: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or _KEY.fullmatch(key) is None:
            raise DecodeError(f"uevent pair {pair[:64]!r} is not KEY=VALUE")
        if key in env:
            raise DecodeError(f"uevent repeats {key}")
        env[key] = value
    return _uevent(env, header)


def uevent_from_message(message: Mapping[str, object]) -> Uevent:
    """The event in a message parsed by pyroute2 (``UeventSocket.get()`` / ``MarshalUevent``).

    Args:
        message: pyroute2's ``ueventmsg``: the upper-case keys are the event's pairs,
            ``message["header"]["message"]`` its ``ACTION@DEVPATH`` line.

    Raises:
        DecodeError: as :func:`parse_uevent`, or a value that is not a string.
    """
    env = {}
    for key, value in message.items():
        if _KEY.fullmatch(key):
            if not isinstance(value, str):
                raise DecodeError(f"uevent {key} is not a string: {value!r}")
            env[key] = value
    header = message.get("header")
    line = header.get("message") if isinstance(header, Mapping) else None
    return _uevent(env, line if isinstance(line, str) else None)


def uevent_from_environment(env: Mapping[str, str]) -> Uevent:
    """The event udev describes to a ``RUN+=`` program through its environment.

    Args:
        env: the program's environment (the caller reads it; unrelated variables
            such as PATH are dropped).

    Raises:
        DecodeError: ACTION, DEVPATH or SUBSYSTEM is missing or empty.
    """
    return _uevent({k: v for k, v in env.items() if _KEY.fullmatch(k)}, None)


@record(frozen=True, slots=True)
class Work:
    """What an event asks for: authenticate and decide, drop the evidence, or rescan all.

    Attributes:
        kind: ``admit`` (PCI add/change), ``forget`` (PCI remove), ``rescan`` (TSM change).
        bdf: the device, "" for ``rescan``.
    """

    kind: Literal["admit", "forget", "rescan"]
    bdf: str = ""


def work_for(event: Uevent) -> Work | None:
    """What devsec does about an event; None when it is none of its business.

    PCI ``add``/``change`` -> admit the device; PCI ``remove`` -> forget it; the
    ``tsm`` class ``change`` (mainline sends it when a TSM registers: PCI/TSM
    operations become possible) -> rescan every device.

    Raises:
        DecodeError: a PCI event without a valid ``PCI_SLOT_NAME``.
    """
    if event.subsystem == "tsm":
        return Work("rescan") if event.action == "change" else None
    if event.subsystem != "pci":
        return None
    if event.action in ("add", "change"):
        return Work("admit", event.pci_device or "")
    if event.action == "remove":
        return Work("forget", event.pci_device or "")
    return None


class UeventSource(Protocol):
    """Where the daemon's events come from."""

    def receive(self, timeout: float) -> Uevent | None:
        """The next event, or None when none came within ``timeout`` seconds.

        Raises:
            UeventsLost: events were dropped before they could be read.
            UeventSourceClosed: the source is closed (and drained).
            TransportError: the source failed.
        """
        ...

    def close(self) -> None:
        """Stop delivering events; idempotent."""
        ...


class NetlinkUeventSource:
    """The kernel's uevents, from pyroute2's ``UeventSocket`` bound to the kernel group.

    pyroute2 creates the ``NETLINK_KOBJECT_UEVENT`` socket (with its 1 MiB
    receive buffer) and binds it; datagrams are then read from a duplicate of
    its descriptor with ``select`` and ``recvfrom``, because pyroute2's
    ``get()`` has no timeout (the daemon could not stop) and hides the sender:
    only datagrams from port 0 (the kernel) are accepted, since any local
    process may unicast a forged "remove" to this socket.  Binding needs no
    privilege on Linux.
    """

    def __init__(self) -> None:
        """Open and bind the socket.

        Raises:
            TransportError: the socket could not be created or bound (the
                OSError, with its errno, is the cause).
        """
        from pyroute2 import UeventSocket  # here, not at the top: importing pyroute2 takes ~0.2 s

        try:
            self._socket = UeventSocket()
        except OSError as exc:
            raise TransportError(f"cannot open a uevent socket: {exc.strerror}") from exc
        try:
            self._socket.bind(groups=KERNEL_GROUP)
            self._reader = socket.socket(fileno=os.dup(self._socket.fileno()))
        except OSError as exc:
            self._socket.close()
            raise TransportError(f"cannot bind the uevent socket: {exc.strerror}") from exc
        self._closed = threading.Event()

    @property
    def port(self) -> int:
        """The socket's netlink port ID."""
        port: int = self._reader.getsockname()[0]
        return port

    def receive(self, timeout: float) -> Uevent | None:
        """The next kernel event, or None after ``timeout`` seconds.

        Datagrams that are not from the kernel, or that do not parse, are logged
        and dropped (and None returned).

        Raises:
            UeventsLost: the kernel reported ENOBUFS (the buffer overflowed).
            UeventSourceClosed: after :meth:`close`.
            TransportError: the socket failed.
        """
        if self._closed.is_set():
            raise UeventSourceClosed("the uevent socket is closed")
        try:
            ready, _, _ = select.select([self._reader], [], [], timeout)
            if not ready:
                return None
            data, (sender, _group) = self._reader.recvfrom(_RECEIVE_SIZE, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return None
        except OSError as exc:
            if self._closed.is_set():
                raise UeventSourceClosed("the uevent socket is closed") from exc
            if exc.errno == errno.ENOBUFS:
                raise UeventsLost("uevents were lost (receive buffer overflow)") from exc
            raise TransportError(f"uevent socket: {exc.strerror}") from exc
        if sender != 0:
            _log.warning("dropped a uevent datagram from port %d (not the kernel)", sender)
            return None
        try:
            return parse_uevent(data)
        except DecodeError as exc:
            _log.warning("dropped an unparsable uevent: %s", exc)
            return None

    def close(self) -> None:
        """Close the socket; idempotent."""
        if not self._closed.is_set():
            self._closed.set()
            self._reader.close()
            self._socket.close()


class QueueUeventSource:
    """Events injected in process, delivered in order (tests, replays).

    After :meth:`close`, the events already queued are still delivered; then
    :class:`UeventSourceClosed` is raised.  Thread-safe.
    """

    def __init__(self, events: Iterable[Uevent] = ()) -> None:
        self._queue: queue.SimpleQueue[Uevent | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        for event in events:
            self.put(event)

    def put(self, event: Uevent) -> None:
        """Queue one event.

        Raises:
            UeventSourceClosed: the source is closed.
        """
        with self._lock:
            if self._closed:
                raise UeventSourceClosed("the event queue is closed")
            self._queue.put(event)

    def receive(self, timeout: float) -> Uevent | None:
        """The next queued event, or None after ``timeout`` seconds.

        Raises:
            UeventSourceClosed: closed and drained.
        """
        try:
            event = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if event is None:
            self._queue.put(None)  # keep the end marker for every later receive
            raise UeventSourceClosed("the event queue is closed and drained")
        return event

    def close(self) -> None:
        """No more events; idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(None)
