"""The DOE mailbox: the device's register model and the host's driver for it.

Both sides of the 0x18-byte DOE Extended Capability (PCIe r6.x §7.9.24,
PROTOCOLS.md §1.1) live here because they are two views of one register
contract: ``DoeMailboxModel`` is what an emulated function exposes (it feeds
complete objects to a device-side endpoint), and ``DoeMailbox`` is the host
procedure of Linux ``drivers/pci/doe.c`` run over any ``ConfigSpace``.  Testing
them against each other pins the contract down; the driver also runs unchanged
over a real device's sysfs ``config`` file.

A real device's mailbox is shared: Linux creates its own DOE mailbox driver
for every DOE capability, and its CMA/TSM code exchanges objects through it.
So the driver here polls politely (a short sleep that backs off to Linux's
own 1/128 s, never a spin), never aborts an exchange it did not start (a
mailbox found Busy or holding a response is another agent's: it waits, then
fails with :class:`MailboxInUse`), and resets the mailbox after one of its own
exchanges timed out so a lost object does not poison the next.
"""

from __future__ import annotations

import logging
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from spdm.errors import DecodeError, LocalProtocolError, TransportError, TransportTimeout
from spdm.transport.doe import (
    DOE_HEADER_SIZE,
    DOE_MAX_OBJECT_DWORDS,
    data_object_fields,
    data_object_length,
)

if TYPE_CHECKING:
    from spdm.transport.configspace import ConfigSpace

__all__ = [
    "DOE_CAP_SIZE",
    "DOE_CAP_VERSION",
    "DOE_CAPABILITIES",
    "DOE_CONTROL",
    "DOE_CONTROL_ABORT",
    "DOE_CONTROL_GO",
    "DOE_READ_MAILBOX",
    "DOE_STATUS",
    "DOE_STATUS_BUSY",
    "DOE_STATUS_DATA_OBJECT_READY",
    "DOE_STATUS_ERROR",
    "DOE_WRITE_MAILBOX",
    "EXT_CAP_ID_DOE",
    "FIRST_POLL_INTERVAL",
    "POLL_INTERVAL",
    "DoeMailbox",
    "DoeMailboxModel",
    "MailboxInUse",
]

_log = logging.getLogger(__name__)

EXT_CAP_ID_DOE = 0x2E
"""PCIe Extended Capability ID of DOE."""

DOE_CAP_VERSION = 1
"""Capability version the model reports (DOE as introduced in PCIe r6.0)."""

# Register offsets within the capability and their bits (PROTOCOLS.md §1.1).
DOE_CAPABILITIES = 0x04
DOE_CONTROL = 0x08
DOE_STATUS = 0x0C
DOE_WRITE_MAILBOX = 0x10
DOE_READ_MAILBOX = 0x14
DOE_CAP_SIZE = 0x18

DOE_CONTROL_ABORT = 1 << 0
DOE_CONTROL_GO = 1 << 31
DOE_STATUS_BUSY = 1 << 0
DOE_STATUS_ERROR = 1 << 2
DOE_STATUS_DATA_OBJECT_READY = 1 << 31

POLL_INTERVAL: Final = 1 / 128
"""Longest sleep between two Status polls, in seconds: Linux's ``PCI_DOE_POLL_INTERVAL`` (HZ / 128).

A device that takes seconds to sign is then read about 128 times a second,
not thousands (issue 11 item 12 saw 2,062 reads in 1 s with no pause)."""

FIRST_POLL_INTERVAL: Final = 1e-4
"""First sleep between Status polls; each later one doubles, up to :data:`POLL_INTERVAL`.

Most devices answer within microseconds to a few milliseconds, and an
emulated one at once; starting small keeps those fast while the doubling
bounds the reads of a slow one at about 7 plus 128 per second."""

_DWORD = struct.Struct("<I")
_HEADER_DWORDS = struct.Struct("<II")
_REGISTERS = frozenset(range(0, DOE_CAP_SIZE, 4))
"""The capability's dword offsets: checking one is a set lookup on the per-dword path."""


class MailboxInUse(TransportError):
    """The DOE mailbox belongs to another agent just now; devsec did not touch its exchange.

    Raised when the mailbox was found Busy or holding a response devsec did
    not ask for and stayed so for the mailbox's timeout (the kernel's DOE
    driver, its CMA or TSM, or another devsec process is using it).  Retry
    later; only if no other agent can be using it, open it with ``force`` to
    reset it.
    """


def _check_u32(value: int) -> None:
    if not 0 <= value <= 0xFFFF_FFFF:
        raise LocalProtocolError(f"register value {value!r} is not a 32-bit unsigned integer")


class DoeMailboxModel:
    """Device side of one DOE instance: the capability's registers.

    Semantics (what a host driver may rely on, and what a buggy one trips):

    * Write Data Mailbox writes accumulate dwords; the length in DW1 says how
      many make the object.  More dwords than that, a length of less than 2 or
      over ``max_object_dwords``, or reserved DW1 bits set -> Error.
    * Go hands the assembled object to ``endpoint``.  Go with no or an
      incomplete object, or while busy or a response is pending -> Error.
    * Busy reads as set for the next ``busy_polls`` Status reads after Go,
      and until ``response_delay`` seconds have passed since Go (a device
      that takes that long to answer); Data Object Ready shows only after
      that, while response dwords remain.
      An endpoint returning None (object dropped) leaves Data Object Ready
      clear, so the host times out as with a real DOE r1.x device.
    * Read Data Mailbox returns the current response dword (0 when nothing is
      ready, without side effects, so config-space dumps stay harmless);
      writing it pops that dword, and popping when nothing is ready -> Error.
    * While Error is set, data writes and Go are ignored.  Abort clears
      everything: Busy, Error, Data Object Ready and both buffers.
    * No interrupt support: DOE Capabilities and Control read as 0.
    """

    def __init__(
        self,
        endpoint: Callable[[bytes], bytes | None],
        *,
        max_object_dwords: int = DOE_MAX_OBJECT_DWORDS,
        busy_polls: int = 0,
        response_delay: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create an idle mailbox.

        Args:
            endpoint: takes one complete DOE object and returns the complete
                response object or None (e.g. ``DoeEndpoint.handle``).
            max_object_dwords: largest object accepted or returned, in dwords
                (2..2^18); models a device with a small buffer.
            busy_polls: Status reads that report Busy after each Go.
            response_delay: seconds after each Go before the response shows.
            clock: monotonic seconds, for ``response_delay``.

        Raises:
            LocalProtocolError: a limit is out of range.
        """
        if not 2 <= max_object_dwords <= DOE_MAX_OBJECT_DWORDS:
            raise LocalProtocolError(f"max_object_dwords {max_object_dwords} not in 2..2^18")
        if busy_polls < 0 or response_delay < 0:
            raise LocalProtocolError(f"busy_polls {busy_polls} or response_delay {response_delay} < 0")
        self._endpoint = endpoint
        self._max_dwords = max_object_dwords
        self._busy_polls = busy_polls
        self._response_delay = response_delay
        self._clock = clock
        self._ready_at: float | None = None
        self._request: list[int] = []
        self._expected: int | None = None
        self._response: deque[int] = deque()
        self._busy_left = 0
        self._error = False

    def read32(self, reg: int) -> int:
        """Read a register.

        Args:
            reg: dword offset within the capability, 0x00..0x14.

        Returns:
            The register value; Status reads also count down the Busy period.

        Raises:
            LocalProtocolError: ``reg`` is not a dword offset inside the capability.
        """
        if reg not in _REGISTERS:
            self._check_reg(reg)
        if reg == 0:
            return EXT_CAP_ID_DOE | DOE_CAP_VERSION << 16
        if reg == DOE_STATUS:
            return self._read_status()
        if reg == DOE_READ_MAILBOX and self._response and not (self._pending_work() and self._busy()):
            return self._response[0]
        return 0

    def write32(self, reg: int, value: int) -> None:
        """Write a register; writes to read-only registers are ignored.

        Args:
            reg: dword offset within the capability, 0x00..0x14.
            value: the 32-bit value.

        Raises:
            LocalProtocolError: bad ``reg`` or ``value``, or the endpoint
                returned a response that is not a whole number of dwords or is
                larger than ``max_object_dwords`` (a bug in the endpoint).
        """
        if reg not in _REGISTERS:
            self._check_reg(reg)
        if not 0 <= value <= 0xFFFF_FFFF:
            _check_u32(value)
        if reg == DOE_CONTROL:
            if value & DOE_CONTROL_ABORT:
                self._abort()
            elif value & DOE_CONTROL_GO:
                self._go()
        elif reg == DOE_WRITE_MAILBOX:
            self._write_dword(value)
        elif reg == DOE_READ_MAILBOX:
            self._pop()

    @staticmethod
    def _check_reg(reg: int) -> None:
        if reg % 4 or not 0 <= reg < DOE_CAP_SIZE:
            raise LocalProtocolError(f"{reg!r} is not a DOE register offset")

    def _pending_work(self) -> bool:
        """Cheap pre-check for :meth:`_busy` on the per-dword path: nothing to count down."""
        return bool(self._busy_left) or self._ready_at is not None

    def _busy(self) -> bool:
        """Still working on the last object (the clock is read only while a delay runs)."""
        if self._busy_left:
            return True
        if self._ready_at is not None:
            if self._clock() < self._ready_at:
                return True
            self._ready_at = None
        return False

    def _read_status(self) -> int:
        if self._busy():
            self._busy_left = max(self._busy_left - 1, 0)
            status = DOE_STATUS_BUSY
        else:
            status = DOE_STATUS_DATA_OBJECT_READY if self._response else 0
        return status | (DOE_STATUS_ERROR if self._error else 0)

    def _fail(self, reason: str) -> None:
        _log.debug("DOE model sets Error: %s", reason)
        self._error = True

    def _abort(self) -> None:
        _log.debug("DOE model aborted")
        self._request.clear()
        self._expected = None
        self._response.clear()
        self._busy_left = 0
        self._ready_at = None
        self._error = False

    def _write_dword(self, value: int) -> None:
        if self._error:
            return
        if self._response or self._busy():
            self._fail("request written while busy or a response is pending")
            return
        self._request.append(value)
        if len(self._request) == 2:
            try:
                length = data_object_length(_HEADER_DWORDS.pack(*self._request))
            except DecodeError as exc:
                self._fail(f"bad object header: {exc}")
                return
            self._expected = length // 4
            if self._expected > self._max_dwords:
                self._fail(f"object of {self._expected} dwords exceeds the buffer")
        elif self._expected is not None and len(self._request) > self._expected:
            self._fail("more dwords written than the header announced")

    def _go(self) -> None:
        if self._error:
            return
        if self._response or self._busy():
            self._fail("Go while busy or a response is pending")
            return
        if self._expected is None or len(self._request) != self._expected:
            self._fail(f"Go with an incomplete object ({len(self._request)} dwords)")
            return
        request = struct.pack(f"<{len(self._request)}I", *self._request)
        self._request.clear()
        self._expected = None
        self._busy_left = self._busy_polls
        if self._response_delay:
            self._ready_at = self._clock() + self._response_delay
        response = self._endpoint(request)
        if response is None:
            _log.debug("DOE model: endpoint dropped a %d-byte object", len(request))
            return
        if len(response) % 4 or not 2 <= len(response) // 4 <= self._max_dwords:
            raise LocalProtocolError(f"endpoint response of {len(response)} bytes does not fit")
        self._response.extend(dw for (dw,) in _DWORD.iter_unpack(response))

    def _pop(self) -> None:
        if not self._response or (self._pending_work() and self._busy()):
            self._fail("Read Data Mailbox popped with no data object ready")
            return
        self._response.popleft()


class DoeMailbox:
    """Host driver for one DOE instance; implements ``DoeTransport``.

    Follows Linux ``drivers/pci/doe.c``: abort first if Error is set, write
    the object and Go, poll for Data Object Ready or Error with a timeout,
    read and pop each dword using the length in DW1, drain any extra dwords,
    and check Error at the end.  Any failure after Go aborts the mailbox.

    Where it differs, it is because the mailbox is shared (see the module
    docstring):

    * Polling sleeps between Status reads, from :data:`FIRST_POLL_INTERVAL`
      doubling up to ``poll_interval`` (Linux's 1/128 s), and never past the
      deadline.
    * A mailbox found Busy or with Data Object Ready before devsec wrote
      anything is another agent's exchange: devsec waits (polling as above)
      for it to finish, up to ``timeout``, then raises :class:`MailboxInUse`
      (or, with ``force``, resets the mailbox and goes on).  It never aborts
      that exchange on sight, as Linux would not abort devsec's.
    * After one of its own exchanges timed out, the next exchange first
      resets the mailbox (Abort, then wait until Busy, Error and Data Object
      Ready are clear): a response the device produced late, or an abort
      that did not finish, is devsec's own leftover, not another agent's.

    The clock and sleep are injectable so tests never wait for real.
    """

    def __init__(
        self,
        config: ConfigSpace,
        cap_offset: int,
        *,
        timeout: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval: float = POLL_INTERVAL,
        force: bool = False,
    ) -> None:
        """Attach to the DOE capability at ``cap_offset``.

        Args:
            config: the function's configuration space; the caller keeps
                ownership (``close`` does not close it).
            cap_offset: offset of the DOE Extended Capability header.
            timeout: seconds to wait for a response, for an abort to
                complete, and for another agent to finish with the mailbox
                (PCIe's DOE timeout is 1 s).
            clock: monotonic time source in seconds.
            sleep: called between Status polls.
            poll_interval: the longest sleep between Status polls (the
                back-off ceiling; sleeps start at :data:`FIRST_POLL_INTERVAL`
                or this, whichever is smaller).
            force: when another agent's exchange does not finish within
                ``timeout``, reset the mailbox (aborting that exchange)
                instead of raising :class:`MailboxInUse`.

        Raises:
            LocalProtocolError: ``cap_offset`` is not a dword offset in
                extended config space, or a time is not positive.
        """
        if cap_offset % 4 or not 0x100 <= cap_offset <= 0x1000 - DOE_CAP_SIZE:
            raise LocalProtocolError(f"{cap_offset!r} is not an extended capability offset")
        if not (timeout > 0 and poll_interval > 0):
            raise LocalProtocolError("timeout and poll_interval must be positive (polling never spins)")
        self._config = config
        self._base = cap_offset
        self._timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self._poll_interval = poll_interval
        self._force = force
        self._reset_pending = False
        self._closed = False

    @property
    def config(self) -> ConfigSpace:
        """The config space the mailbox lives in (conformance cases drive its registers directly)."""
        return self._config

    @property
    def cap_offset(self) -> int:
        """Offset of the DOE Extended Capability this driver uses."""
        return self._base

    def _read(self, reg: int) -> int:
        return self._config.read32(self._base + reg)

    def _write(self, reg: int, value: int) -> None:
        self._config.write32(self._base + reg, value)

    def _poll(self, done: Callable[[int], bool], timeout: float) -> int | None:
        """Read Status until ``done(status)``, sleeping with back-off between reads.

        Returns:
            The Status that satisfied ``done``, or None once ``timeout``
            seconds passed without it.
        """
        deadline = self._clock() + timeout
        delay = min(FIRST_POLL_INTERVAL, self._poll_interval)
        while True:
            status = self._read(DOE_STATUS)
            if done(status):
                return status
            remaining = deadline - self._clock()
            if remaining <= 0:
                return None
            self._sleep(min(delay, remaining))
            delay = min(delay * 2, self._poll_interval)

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        """Send one data object and return the device's response object.

        Args:
            request: one complete, well-formed DOE object.
            timeout: seconds to wait for Data Object Ready this time, if longer
                than the mailbox's own timeout (PCIe's 1 s).

        Returns:
            The complete response object (extra dwords beyond its DW1 length
            are drained and discarded).

        Raises:
            LocalProtocolError: the mailbox is closed or ``request`` is not a
                well-formed DOE object.
            MailboxInUse: another agent's exchange held the mailbox (Busy, or
                a response devsec did not ask for) for the whole timeout;
                nothing was written.
            TransportError: the device set Error, or config-space I/O failed.
            TransportTimeout: no Data Object Ready within the timeout (the
                mailbox has been aborted, and is reset again before the next
                exchange; the device may have dropped the object), or an
                abort did not complete.
            DecodeError: the response header is malformed (mailbox aborted).
        """
        if self._closed:
            raise LocalProtocolError("DOE mailbox is closed")
        try:
            data_object_fields(request)
        except DecodeError as exc:
            raise LocalProtocolError(f"request is not a DOE data object: {exc}") from exc
        self._claim()
        write32, mailbox = self._config.write32, self._base + DOE_WRITE_MAILBOX
        for (dword,) in _DWORD.iter_unpack(request):
            write32(mailbox, dword)
        self._write(DOE_CONTROL, DOE_CONTROL_GO)
        self._wait_ready(self._timeout if timeout is None else max(self._timeout, timeout))
        response = self._read_response()
        _log.debug("DOE mailbox at %#x: %d bytes out, %d in", self._base, len(request), len(response))
        return response

    def _claim(self) -> None:
        """Make the mailbox ready for devsec's next object without breaking anyone else's.

        Raises:
            MailboxInUse: another agent kept it for the whole timeout (and not ``force``).
            TransportTimeout: a reset did not complete.
        """
        if self._reset_pending:
            _log.debug("DOE mailbox at %#x: resetting after an exchange that timed out", self._base)
            self._reset()
            return
        status = self._read(DOE_STATUS)
        if status & (DOE_STATUS_BUSY | DOE_STATUS_DATA_OBJECT_READY):
            what = "Busy" if status & DOE_STATUS_BUSY else "holding a response devsec did not ask for"
            _log.info("DOE mailbox at %#x is %s: waiting for its other user", self._base, what)
            found = self._poll(
                lambda s: not s & (DOE_STATUS_BUSY | DOE_STATUS_DATA_OBJECT_READY), self._timeout)
            if found is None:
                if not self._force:
                    raise MailboxInUse(
                        f"DOE mailbox at {self._base:#x} is in use by another agent: it was {what} "
                        f"and stayed so for {self._timeout} s (the kernel's DOE driver, CMA or TSM, or "
                        f"another devsec); devsec does not abort another agent's exchange: retry later, "
                        f"or force the reset if nothing else can be using the mailbox")
                _log.warning("DOE mailbox at %#x: forced: resetting it under its other user", self._base)
                self._reset()
                return
            status = found
        if status & DOE_STATUS_ERROR:
            _log.debug("DOE mailbox at %#x has Error set; aborting first", self._base)
            self.abort()

    def _reset(self) -> None:
        """Abort and wait for a clean mailbox; the reset stays pending until one succeeds."""
        self._reset_pending = True
        self.abort()
        self._reset_pending = False

    def _recover(self, *, timed_out: bool = False) -> None:
        """Abort after a failed exchange, keeping the failure the one the caller sees.

        If the abort does not complete, or the exchange timed out (the device
        may still answer late), the next exchange resets the mailbox first.
        """
        try:
            self.abort()
        except TransportTimeout as exc:
            _log.warning("%s; the next exchange resets it first", exc)
            self._reset_pending = True
            return
        self._reset_pending = timed_out

    def _wait_ready(self, timeout: float) -> None:
        status = self._poll(lambda s: bool(s & (DOE_STATUS_ERROR | DOE_STATUS_DATA_OBJECT_READY)), timeout)
        if status is None:
            self._recover(timed_out=True)
            raise TransportTimeout(f"DOE mailbox at {self._base:#x}: no response within {timeout} s")
        if status & DOE_STATUS_ERROR:
            self._recover()
            raise TransportError(f"DOE mailbox at {self._base:#x} set Error after Go")

    def _pop_dword(self) -> int:
        dword = self._read(DOE_READ_MAILBOX)
        # Any value written to Read Data Mailbox advances it; Linux writes 0.
        self._write(DOE_READ_MAILBOX, 0)
        return dword

    def _pop_dwords(self, count: int) -> list[int]:
        """``count`` times :meth:`_pop_dword`, with the accessors looked up once."""
        read32, write32 = self._config.read32, self._config.write32
        mailbox = self._base + DOE_READ_MAILBOX
        body = []
        for _ in range(count):
            body.append(read32(mailbox))
            write32(mailbox, 0)
        return body

    def _read_response(self) -> bytes:
        header = _HEADER_DWORDS.pack(self._pop_dword(), self._pop_dword())
        try:
            length = data_object_length(header)
        except DecodeError:
            self._recover()
            raise
        body = self._pop_dwords((length - DOE_HEADER_SIZE) // 4)
        # A device may hold more dwords than it announced; drain them so the
        # next exchange starts clean, bounded in case Ready never clears.
        for _ in range(DOE_MAX_OBJECT_DWORDS):
            if not self._read(DOE_STATUS) & DOE_STATUS_DATA_OBJECT_READY:
                break
            self._pop_dword()
        else:
            self._recover()
            raise TransportError(f"DOE mailbox at {self._base:#x} never cleared Data Object Ready")
        if self._read(DOE_STATUS) & DOE_STATUS_ERROR:
            self._recover()
            raise TransportError(f"DOE mailbox at {self._base:#x} set Error during the read")
        return header + struct.pack(f"<{len(body)}I", *body)

    def abort(self) -> None:
        """Abort the mailbox and wait until Busy, Error and Data Object Ready are all clear.

        Raises:
            TransportTimeout: one of them still set after the timeout.
            TransportError: config-space I/O failed.
        """
        _log.debug("aborting DOE mailbox at %#x", self._base)
        self._write(DOE_CONTROL, DOE_CONTROL_ABORT)
        settled = self._poll(
            lambda s: not s & (DOE_STATUS_BUSY | DOE_STATUS_ERROR | DOE_STATUS_DATA_OBJECT_READY),
            self._timeout)
        if settled is None:
            raise TransportTimeout(f"DOE mailbox at {self._base:#x}: abort did not complete")

    def close(self) -> None:
        """Stop using the mailbox; later exchanges raise LocalProtocolError."""
        self._closed = True
