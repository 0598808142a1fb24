"""The host side of a message binding (MCTP, DSP0287 TCP): runs a sans-IO requester over binding messages.

:class:`spdm.driver.RequesterDriver` frames messages as DOE data objects;
:class:`BindingDriver` is that driver with a binding's codec in place of the
DOE framing (an MCTP message-type byte, a DSP0287 header), over any channel
that carries one whole binding message each way -- spdm-emu's socket with
transport type MCTP or TCP (``EmuSocketClient(..., transport_type=...)``),
as the reference's ``--trans MCTP`` / ``--trans TCP`` speak.  Everything
else -- Busy and ResponseNotReady waits, the request deadline, the events --
is the DOE driver's, so a :class:`~spdm.connection.Connection`, its sessions
and the TSM layer's vendor protocols run over it unchanged.  The requester
must run with the binding's record format
(``Requester(record_format=codec.record_format)``); :func:`requester_driver`
builds the pair for either kind of transport.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from spdm.backend import IdentityBackend
from spdm.config import RequesterConfig
from spdm.driver import REQUEST_DEADLINE, RequesterDriver
from spdm.requester import Requester

from ..record import record
from . import DoeTransport
from .binding import BoundMessage, MessageCodec

__all__ = ["BindingChannel", "BindingDriver", "MessageChannel", "requester_driver"]


class MessageChannel(Protocol):
    """Carries one whole binding message to the device and its answer back."""

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        """Send one message; return the answer (TransportError when none comes)."""
        ...

    def close(self) -> None:
        """Release the channel."""
        ...


@record(frozen=True)
class BindingChannel:
    """A channel to a device that speaks a message binding, and that binding's codec.

    What :func:`spdm.transport.targets.open_binding` opens.  It is not a
    :class:`~spdm.transport.DoeTransport` (it has no ``exchange``): its
    messages are not DOE objects, and a driver has to know which binding
    frames them.

    Attributes:
        channel: carries the binding's messages (e.g. an ``EmuSocketClient``).
        codec: the binding's message codec (e.g. ``mctp.MCTP_MESSAGES``).
    """

    channel: MessageChannel
    codec: MessageCodec

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        """Close the channel."""
        self.close()


class BindingDriver(RequesterDriver):
    """Moves one requester's messages over one binding channel."""

    def __init__(self, channel: MessageChannel, codec: MessageCodec, requester: Requester, *,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 deadline: float = REQUEST_DEADLINE) -> None:
        """Args:
            channel: carries the binding's messages.
            codec: the binding's message codec (e.g. ``tcp_binding.TCP_CAPTURE``).
            requester: the engine, on ``codec.record_format``.
            sleep, clock, deadline: as for :class:`~spdm.driver.RequesterDriver`.
        """
        super().__init__(channel, requester, sleep=sleep, clock=clock, deadline=deadline)
        self.channel = channel
        self.codec = codec

    def discover(self) -> list[tuple[int, int]]:
        """No DOE protocols: a binding has no DOE discovery, its message types say SPDM (empty list)."""
        return []

    def _exchange(self, message: bytes, secured: bool) -> tuple[bytes, bool]:
        """One binding round trip: (the answer's payload, whether it is a secured record).

        Raises:
            DecodeError: the answer is not a message of the binding's SPDM types.
            TransportError: the channel failed.
        """
        unit = self.codec.encode(BoundMessage(secured, message))
        answer = self.codec.decode(self.channel.exchange(unit, timeout=self.requester.response_timeout()))
        return answer.payload, answer.secured


def requester_driver(transport: DoeTransport | BindingChannel, config: RequesterConfig, *,
                     rng: Callable[[int], bytes] | None = None, identity: IdentityBackend | None = None,
                     sleep: Callable[[float], None] = time.sleep) -> RequesterDriver:
    """A requester on ``config`` and the driver that moves its messages over ``transport``.

    Over a DOE transport, :class:`~spdm.driver.RequesterDriver` and DOE's
    record format; over a :class:`BindingChannel`, a :class:`BindingDriver`
    and the binding's record format.

    Args:
        transport: a DOE transport, or a binding's channel.
        config: the requester's configuration.
        rng: nonce source (the OS when None).
        identity: our own certificates and keys, for mutual authentication.
        sleep: how the driver waits (Busy, ResponseNotReady).
    """
    nonces = os.urandom if rng is None else rng
    if isinstance(transport, BindingChannel):
        requester = Requester(config, rng=nonces, backend=identity,
                              record_format=transport.codec.record_format)
        return BindingDriver(transport.channel, transport.codec, requester, sleep=sleep)
    return RequesterDriver(transport, Requester(config, rng=nonces, backend=identity), sleep=sleep)
