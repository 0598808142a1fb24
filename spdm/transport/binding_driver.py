"""The host side of a message binding (DSP0287 TCP): runs a sans-IO requester over binding messages.

:class:`spdm.driver.RequesterDriver` frames messages as DOE data objects;
this driver frames them with a binding's codec (a DSP0287 header of type 0x05
or 0x06) and moves them through any channel that carries one whole binding
message each way -- spdm-emu's socket with transport type TCP
(``EmuSocketClient(..., transport_type=SocketTransportType.TCP)``), as the
reference's ``--trans TCP`` speaks.  The requester must run with the
binding's record format (``Requester(record_format=codec.record_format)``).
Busy and ResponseNotReady waits are slept as the engine asks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from spdm.errors import RemoteErrorResponse
from spdm.events import ErrorResponseReceived, Event
from spdm.requester import Requester

from .binding import BindingCodec, BoundMessage

__all__ = ["BindingDriver", "MessageChannel"]


class MessageChannel(Protocol):
    """Carries one whole binding message to the device and its answer back."""

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        """Send one message; return the answer (TransportError when none comes)."""
        ...

    def close(self) -> None:
        """Release the channel."""
        ...


class BindingDriver:
    """Moves one requester's messages over one binding channel."""

    def __init__(self, channel: MessageChannel, codec: BindingCodec, requester: Requester, *,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        """Args:
            channel: carries the binding's messages.
            codec: the binding's message codec (e.g. ``tcp_binding.TCP_CAPTURE``).
            requester: the engine, on ``codec.record_format``.
            sleep: how Busy / ResponseNotReady waits are slept.
        """
        self.channel = channel
        self.codec = codec
        self.requester = requester
        self._sleep = sleep

    def run(self, command: Callable[[], None]) -> list[Event]:
        """Issue one engine command and exchange messages until it has its answer.

        Raises:
            RemoteErrorResponse: the device answered with an ERROR.
            RemoteProtocolError / VerificationError: from the engine.
            DecodeError: the answer is not a message of the binding's SPDM types.
            TransportError: the channel failed.
        """
        command()
        events: list[Event] = []
        requester = self.requester
        while True:
            secured = requester.sending_secured
            request = requester.data_to_send()
            if request:
                unit = self.codec.encode(BoundMessage(secured, request))
                answer = self.codec.decode(self.channel.exchange(unit, timeout=requester.response_timeout()))
                requester.receive_data(answer.payload, secured=answer.secured)
            while (event := requester.next_event()) is not None:
                if isinstance(event, ErrorResponseReceived):
                    raise RemoteErrorResponse(
                        f"the device answered 0x{event.request_code:02x} with ERROR {event.name} "
                        f"(data 0x{event.error_data:02x})", code=event.error_code, data=event.error_data)
                events.append(event)
            delay = requester.get_timer()
            if delay is not None:
                self._sleep(delay)
                requester.handle_timer()
                continue
            if not requester.busy:
                return events
