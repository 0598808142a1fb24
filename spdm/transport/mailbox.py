"""The DOE mailbox: the device's register model and the host's driver for it.

Both sides of the 0x18-byte DOE Extended Capability (PCIe r6.x §7.9.24,
PROTOCOLS.md §1.1) live here because they are two views of one register
contract: ``DoeMailboxModel`` is what an emulated function exposes (it feeds
complete objects to a device-side endpoint), and ``DoeMailbox`` is the host
procedure of Linux ``drivers/pci/doe.c`` run over any ``ConfigSpace``.  Testing
them against each other pins the contract down; the driver also runs unchanged
over a real device's sysfs ``config`` file.
"""

from __future__ import annotations

import logging
import struct
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from spdm.errors import DecodeError, LocalProtocolError, TransportError, TransportTimeout
from spdm.transport.doe import (
    DOE_HEADER_SIZE,
    DOE_MAX_OBJECT_DWORDS,
    data_object_length,
    decode_data_object,
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
    "DoeMailbox",
    "DoeMailboxModel",
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

_DWORD = struct.Struct("<I")
_HEADER_DWORDS = struct.Struct("<II")
_REGISTERS = frozenset(range(0, DOE_CAP_SIZE, 4))
"""The capability's dword offsets: checking one is a set lookup on the per-dword path."""


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
    * Busy reads as set for the next ``busy_polls`` Status reads after Go;
      Data Object Ready shows only after that, while response dwords remain.
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
    ) -> None:
        """Create an idle mailbox.

        Args:
            endpoint: takes one complete DOE object and returns the complete
                response object or None (e.g. ``DoeEndpoint.handle``).
            max_object_dwords: largest object accepted or returned, in dwords
                (2..2^18); models a device with a small buffer.
            busy_polls: Status reads that report Busy after each Go.

        Raises:
            LocalProtocolError: a limit is out of range.
        """
        if not 2 <= max_object_dwords <= DOE_MAX_OBJECT_DWORDS:
            raise LocalProtocolError(f"max_object_dwords {max_object_dwords} not in 2..2^18")
        if busy_polls < 0:
            raise LocalProtocolError(f"busy_polls {busy_polls} is negative")
        self._endpoint = endpoint
        self._max_dwords = max_object_dwords
        self._busy_polls = busy_polls
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
        if reg == DOE_READ_MAILBOX and self._busy_left == 0 and self._response:
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

    def _read_status(self) -> int:
        if self._busy_left:
            self._busy_left -= 1
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
        self._error = False

    def _write_dword(self, value: int) -> None:
        if self._error:
            return
        if self._busy_left or self._response:
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
        if self._busy_left or self._response:
            self._fail("Go while busy or a response is pending")
            return
        if self._expected is None or len(self._request) != self._expected:
            self._fail(f"Go with an incomplete object ({len(self._request)} dwords)")
            return
        request = struct.pack(f"<{len(self._request)}I", *self._request)
        self._request.clear()
        self._expected = None
        self._busy_left = self._busy_polls
        response = self._endpoint(request)
        if response is None:
            _log.debug("DOE model: endpoint dropped a %d-byte object", len(request))
            return
        if len(response) % 4 or not 2 <= len(response) // 4 <= self._max_dwords:
            raise LocalProtocolError(f"endpoint response of {len(response)} bytes does not fit")
        self._response.extend(dw for (dw,) in _DWORD.iter_unpack(response))

    def _pop(self) -> None:
        if self._busy_left or not self._response:
            self._fail("Read Data Mailbox popped with no data object ready")
            return
        self._response.popleft()


class DoeMailbox:
    """Host driver for one DOE instance; implements ``DoeTransport``.

    Follows Linux ``drivers/pci/doe.c``: refuse a mailbox someone else has
    Busy, abort first if Error is set, write the object and Go, poll for Data
    Object Ready or Error with a timeout, read and pop each dword using the
    length in DW1, drain any extra dwords, and check Error at the end.  Any
    failure after Go aborts the mailbox so the next exchange starts clean.
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
        poll_interval: float = 0.0,
    ) -> None:
        """Attach to the DOE capability at ``cap_offset``.

        Args:
            config: the function's configuration space; the caller keeps
                ownership (``close`` does not close it).
            cap_offset: offset of the DOE Extended Capability header.
            timeout: seconds to wait for a response and for an abort to
                complete (PCIe's DOE timeout is 1 s).
            clock: monotonic time source in seconds.
            sleep: called with ``poll_interval`` between Status polls.
            poll_interval: seconds between Status polls.

        Raises:
            LocalProtocolError: ``cap_offset`` is not a dword offset in
                extended config space, or a time is negative or zero.
        """
        if cap_offset % 4 or not 0x100 <= cap_offset <= 0x1000 - DOE_CAP_SIZE:
            raise LocalProtocolError(f"{cap_offset!r} is not an extended capability offset")
        if timeout <= 0 or poll_interval < 0:
            raise LocalProtocolError("timeout must be positive and poll_interval not negative")
        self._config = config
        self._base = cap_offset
        self._timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self._poll_interval = poll_interval
        self._closed = False

    def _read(self, reg: int) -> int:
        return self._config.read32(self._base + reg)

    def _write(self, reg: int, value: int) -> None:
        self._config.write32(self._base + reg, value)

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
            TransportError: the mailbox is Busy (another agent owns it), the
                device set Error, or config-space I/O failed.
            TransportTimeout: no Data Object Ready within the timeout (the
                mailbox has been aborted; the device may have dropped the
                object), or an abort did not complete.
            DecodeError: the response header is malformed (mailbox aborted).
        """
        if self._closed:
            raise LocalProtocolError("DOE mailbox is closed")
        try:
            decode_data_object(request)
        except DecodeError as exc:
            raise LocalProtocolError(f"request is not a DOE data object: {exc}") from exc
        status = self._read(DOE_STATUS)
        if status & DOE_STATUS_BUSY:
            raise TransportError(f"DOE mailbox at {self._base:#x} is busy (owned by another agent)")
        if status & DOE_STATUS_ERROR:
            _log.debug("DOE mailbox at %#x has Error set; aborting first", self._base)
            self.abort()
        write32, mailbox = self._config.write32, self._base + DOE_WRITE_MAILBOX
        for (dword,) in _DWORD.iter_unpack(request):
            write32(mailbox, dword)
        self._write(DOE_CONTROL, DOE_CONTROL_GO)
        self._wait_ready(self._timeout if timeout is None else max(self._timeout, timeout))
        response = self._read_response()
        _log.debug("DOE mailbox at %#x: %d bytes out, %d in", self._base, len(request), len(response))
        return response

    def _wait_ready(self, timeout: float) -> None:
        deadline = self._clock() + timeout
        while True:
            status = self._read(DOE_STATUS)
            if status & DOE_STATUS_ERROR:
                self.abort()
                raise TransportError(f"DOE mailbox at {self._base:#x} set Error after Go")
            if status & DOE_STATUS_DATA_OBJECT_READY:
                return
            if self._clock() >= deadline:
                self.abort()
                raise TransportTimeout(
                    f"DOE mailbox at {self._base:#x}: no response within {timeout} s"
                )
            self._sleep(self._poll_interval)

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
            self.abort()
            raise
        body = self._pop_dwords((length - DOE_HEADER_SIZE) // 4)
        # A device may hold more dwords than it announced; drain them so the
        # next exchange starts clean, bounded in case Ready never clears.
        for _ in range(DOE_MAX_OBJECT_DWORDS):
            if not self._read(DOE_STATUS) & DOE_STATUS_DATA_OBJECT_READY:
                break
            self._pop_dword()
        else:
            self.abort()
            raise TransportError(f"DOE mailbox at {self._base:#x} never cleared Data Object Ready")
        if self._read(DOE_STATUS) & DOE_STATUS_ERROR:
            self.abort()
            raise TransportError(f"DOE mailbox at {self._base:#x} set Error during the read")
        return header + struct.pack(f"<{len(body)}I", *body)

    def abort(self) -> None:
        """Abort the mailbox and wait until Busy and Error are both clear.

        Raises:
            TransportTimeout: Busy or Error still set after the timeout.
            TransportError: config-space I/O failed.
        """
        _log.debug("aborting DOE mailbox at %#x", self._base)
        self._write(DOE_CONTROL, DOE_CONTROL_ABORT)
        deadline = self._clock() + self._timeout
        while self._read(DOE_STATUS) & (DOE_STATUS_BUSY | DOE_STATUS_ERROR):
            if self._clock() >= deadline:
                raise TransportTimeout(f"DOE mailbox at {self._base:#x}: abort did not complete")
            self._sleep(self._poll_interval)

    def close(self) -> None:
        """Stop using the mailbox; later exchanges raise LocalProtocolError."""
        self._closed = True
