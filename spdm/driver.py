"""The I/O half of the requester: runs a sans-IO :class:`Requester` over a DOE transport.

The engine says what to send and how long to wait; this module frames SPDM
messages as DOE data objects (type 1), moves them through a
:class:`~spdm.transport.DoeTransport` (mailbox, spdm-emu socket or in-process
pipe), sleeps where the engine asks (Busy, ResponseNotReady) and hands back the
engine's events.  It is deliberately the only place where the requester meets
a clock, and it bounds how long any one request may take
(:data:`REQUEST_DEADLINE`): a device cannot hold the host by answering Busy or
ResponseNotReady for ever.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .errors import RemoteErrorResponse, RemoteProtocolError, TransportError, TransportTimeout
from .events import ErrorResponseReceived, Event
from .requester import Requester
from .transport import DoeTransport
from .transport.doe import (
    PCI_SIG_VENDOR_ID,
    DataObjectType,
    data_object_fields,
    discover,
    frame_data_object,
)

__all__ = ["REQUEST_DEADLINE", "SECURED_SPDM_PROTOCOL", "SPDM_PROTOCOL", "RequesterDriver"]

logger = logging.getLogger(__name__)

SPDM_PROTOCOL = (PCI_SIG_VENDOR_ID, int(DataObjectType.SPDM))
SECURED_SPDM_PROTOCOL = (PCI_SIG_VENDOR_ID, int(DataObjectType.SECURED_SPDM))

REQUEST_DEADLINE = 60.0
"""Seconds one request may take from its first sending to its answer, retries and polls included.

Each exchange is bounded by its transport's timeout (CT or ST1, with the
transport's floor), each Busy or ResponseNotReady wait by the engine
(:data:`spdm.requester.core.MAX_RDT_EXPONENT`: 8.4 s), and their number by
the requester's configuration; this bounds the sum, whatever the device
says.  A device may take up to CT = 2**23 us (8.4 s, the CMA limit) to
answer; 60 s is seven such waits, more than any device needs for one answer,
and short enough that a stalling device does not hold a caller (a policy
daemon, a TSM) for minutes."""


class RequesterDriver:
    """Moves one requester's messages over one DOE transport."""

    def __init__(
        self,
        transport: DoeTransport,
        requester: Requester,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        deadline: float = REQUEST_DEADLINE,
    ) -> None:
        """Args:
            transport: delivers whole DOE objects and returns the device's answer.
            requester: the engine to drive.
            sleep: how to wait (injected so tests do not really sleep).
            clock: monotonic seconds, read against ``deadline`` (inject it with
                ``sleep``: a clock that a fake sleep does not move never expires).
            deadline: the most seconds one request may take, from its first
                sending to its answer (:data:`REQUEST_DEADLINE`).
        """
        self.transport = transport
        self.requester = requester
        self._sleep = sleep
        self._clock = clock
        self._deadline = deadline

    def discover(self) -> list[tuple[int, int]]:
        """Run DOE discovery; the device must offer CMA/SPDM.

        Raises:
            RemoteProtocolError: the mailbox does not list SPDM (vendor 1, type 1).
            TransportError: the transport failed.
        """
        protocols = discover(self.transport.exchange)
        if SPDM_PROTOCOL not in protocols:
            raise RemoteProtocolError(
                "DOE discovery lists no CMA/SPDM protocol (vendor 0x0001 type 1): "
                + ", ".join(f"{v:04x}:{t:02x}" for v, t in protocols)
            )
        return protocols

    def run(self, command: Callable[[], None]) -> list[Event]:
        """Issue one engine command and exchange messages until it has its answer.

        Args:
            command: a bound engine command, e.g. ``requester.get_digests``.

        Returns:
            The events the command produced.

        Raises:
            RemoteErrorResponse: the device answered with an ERROR.
            RemoteProtocolError / VerificationError: from the engine.
            TransportTimeout: a request, with its Busy retries and
                ResponseNotReady polls, would take longer than the deadline;
                the request stays outstanding, so start the connection over.
            TransportError: the transport failed or the device sent a non-SPDM object.
        """
        command()
        events: list[Event] = []
        started: float | None = None  # when the request in flight was first sent
        while True:
            secured = self.requester.sending_secured
            request = self.requester.data_to_send()
            if request:
                if started is None:
                    started = self._clock()
                response, response_secured = self._exchange(request, secured)
                self.requester.receive_data(response, secured=response_secured)
            while (event := self.requester.next_event()) is not None:
                if isinstance(event, ErrorResponseReceived):
                    raise RemoteErrorResponse(
                        f"the device answered 0x{event.request_code:02x} with ERROR {event.name} "
                        f"(data 0x{event.error_data:02x})",
                        code=event.error_code,
                        data=event.error_data,
                    )
                events.append(event)
            delay = self.requester.get_timer()
            if delay is not None:
                self._check_deadline(started, delay)
                self._sleep(delay)
                self.requester.handle_timer()
                continue
            started = None  # answered: the next request of the flow has a deadline of its own
            if not self.requester.busy:
                return events

    def _check_deadline(self, started: float | None, delay: float) -> None:
        """Refuse a wait that would end past the outstanding request's deadline.

        Raises:
            TransportTimeout: the wait would end more than ``deadline`` seconds
                after the request was first sent.
        """
        now = self._clock()
        elapsed = 0.0 if started is None else now - started
        if elapsed + delay > self._deadline:
            code = self.requester.outstanding_code
            raise TransportTimeout(
                f"request 0x{code or 0:02x} unanswered after {elapsed:.1f} s; waiting "
                f"{delay:.3f} s more would pass the {self._deadline:.0f} s deadline"
            )

    def _exchange(self, message: bytes, secured: bool) -> tuple[bytes, bool]:
        """One DOE round trip: (response payload, whether it came as a secured object)."""
        object_type = SECURED_SPDM_PROTOCOL[1] if secured else SPDM_PROTOCOL[1]
        obj = frame_data_object(PCI_SIG_VENDOR_ID, object_type, message)
        # CT (from CTExponent) for crypto requests, ST1 otherwise; transports never
        # wait less than their own floor (1 s for a DOE mailbox).
        timeout = self.requester.response_timeout()
        vendor_id, object_type, payload = data_object_fields(self.transport.exchange(obj, timeout=timeout))
        kind = (vendor_id, object_type)
        if kind not in (SPDM_PROTOCOL, SECURED_SPDM_PROTOCOL):
            raise TransportError(
                f"expected an SPDM data object, got vendor 0x{vendor_id:04x} type {object_type}"
            )
        return payload, kind == SECURED_SPDM_PROTOCOL
