"""The device side of a message binding (MCTP, DSP0287 TCP): one binding message in, one out, for a responder.

PCI DOE has :class:`~spdm.transport.endpoint.DoeEndpoint`; a binding whose
messages say themselves whether they carry an SPDM message or a secured
record (MCTP's and DSP0287's message type 0x05 / 0x06) needs only this: decode the message with
the binding's codec, hand it to the responder's ``handle`` or
``handle_secured``, encode the answer.  The responder must run with the
binding's record format (``ResponderConfig.record_format``).
"""

from __future__ import annotations

import logging
from typing import Protocol

from spdm.errors import DecodeError

from .binding import BoundMessage, MessageCodec

__all__ = ["BindingEndpoint", "MessageResponder"]

_log = logging.getLogger(__name__)


class MessageResponder(Protocol):
    """What :class:`BindingEndpoint` needs of a responder (``spdm.responder.Responder`` has it)."""

    def handle(self, request: bytes | bytearray | memoryview) -> bytes:
        """Answer one SPDM request."""
        ...

    def handle_secured(self, record: bytes | bytearray | memoryview) -> bytes | None:
        """Answer one secured record, or None to drop it."""
        ...


class BindingEndpoint:
    """Answers a binding's messages with a responder."""

    def __init__(self, codec: MessageCodec, responder: MessageResponder) -> None:
        """Args:
            codec: the binding's message codec (e.g. ``mctp.MCTP_MESSAGES``).
            responder: the device's responder, on the binding's record format.
        """
        self.codec = codec
        self.responder = responder

    def handle(self, data: bytes) -> bytes | None:
        """The answer to one binding message; None drops it (malformed, or a record the responder dropped)."""
        try:
            message = self.codec.decode(data)
        except DecodeError as exc:
            _log.debug("%s message dropped: %s", self.codec.name, exc)
            return None
        if message.secured:
            sealed = self.responder.handle_secured(message.payload)
            return None if sealed is None else self.codec.encode(BoundMessage(True, sealed))
        return self.codec.encode(BoundMessage(False, self.responder.handle(message.payload)))
