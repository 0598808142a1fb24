"""An emulated SPDM device assembled from the engines: responder, DOE endpoint, mailbox, config space.

One :class:`EmulatedDevice` can be reached the three ways a host reaches a
device: in process (:meth:`EmulatedDevice.pipe`), through the DOE mailbox
registers of its modelled config space with the real host mailbox driver
(:meth:`EmulatedDevice.mailbox`), or over the spdm-emu socket protocol
(:meth:`EmulatedDevice.server`, DOE objects or, as the reference's
``--trans MCTP`` / ``--trans TCP``, MCTP or DSP0287 messages).  Whatever the path, the same bytes reach the
same responder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Unpack

from spdm.backend import ResponderBackend
from spdm.config import ResponderConfig
from spdm.driver import SECURED_SPDM_PROTOCOL, SPDM_PROTOCOL
from spdm.responder import Responder
from spdm.transport import (
    DoeEndpoint,
    DoeMailbox,
    DoeMailboxModel,
    EmuSocketServer,
    ModelConfigSpace,
    PipeTransport,
    SocketTransportType,
    open_mailbox,
)
from spdm.transport.configspace import MailboxOptions

__all__ = ["EmulatedDevice"]


class EmulatedDevice:
    """A device function with one DOE mailbox that speaks CMA/SPDM."""

    def __init__(
        self,
        config: ResponderConfig,
        backend: ResponderBackend,
        *,
        rng: Callable[[int], bytes] = os.urandom,
        busy_polls: int = 0,
    ) -> None:
        """Args:
            config: what the device supports.
            backend: its keys, chains and measurements (e.g. :class:`spdm.device.DeviceModel`).
            rng: the responder's randomness.
            busy_polls: Status reads the mailbox stays Busy after Go (exercises polling).
        """
        self.responder = Responder(config, backend, rng=rng, now=lambda: datetime.now(UTC))
        self.endpoint = DoeEndpoint({
            SPDM_PROTOCOL: self.responder.handle,
            SECURED_SPDM_PROTOCOL: self.responder.handle_secured,
        })
        self.mailbox_model = DoeMailboxModel(self.endpoint.handle, busy_polls=busy_polls)
        self.config_space = ModelConfigSpace([self.mailbox_model])

    def pipe(self) -> PipeTransport:
        """A transport that calls the device directly."""
        return PipeTransport(self.endpoint.handle)

    def mailbox(self, **options: Unpack[MailboxOptions]) -> DoeMailbox:
        """The host's mailbox driver over this device's modelled config space."""
        return open_mailbox(self.config_space, **options)

    def server(self, host: str = "127.0.0.1", port: int = 2323, *, binding: str = "doe",
               between_messages: Callable[[], None] | None = None) -> EmuSocketServer:
        """A spdm-emu protocol server for this device (not yet serving).

        Args:
            host: address to bind.
            port: TCP port (0: a free one).
            binding: what the frames carry: ``doe`` objects to the DOE endpoint,
                or ``mctp`` / ``tcp`` messages straight to the responder (whose
                configuration must then hold that binding's record format).
            between_messages: called on the serving thread before each message
                is answered: where changes to the device (a firmware update,
                :meth:`Responder.update_measurements`) are applied, so the
                engines are never touched from two threads at once.

        Raises:
            ConfigurationError: an unknown binding, or a responder on another record format.
            TransportError: the address cannot be bound.
        """
        handler: Callable[[bytes], bytes | None] = self.endpoint.handle
        transport_type = SocketTransportType.PCI_DOE
        if binding != "doe":
            from spdm.transport.binding_socket import SOCKET_TRANSPORT_TYPES, binding_endpoint

            handler = binding_endpoint(self.responder, binding).handle
            transport_type = SOCKET_TRANSPORT_TYPES[binding]
        if between_messages is not None:
            answer, before = handler, between_messages

            def handler(message: bytes) -> bytes | None:
                before()
                return answer(message)

        return EmuSocketServer(handler, host, port, transport_type=transport_type)
