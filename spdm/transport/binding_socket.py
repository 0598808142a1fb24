"""What spdm-emu's socket carries for each binding a user names: ``doe``, ``mctp`` or ``tcp``.

The reference's ``spdm_requester_emu`` / ``spdm_responder_emu --trans X``
put one transport unit in each NORMAL frame and name the transport in the
frame header (spdm-emu ``command.h``: NONE 0, MCTP 1, PCI_DOE 2, TCP 3); a
side receiving a frame of another type drops the connection.  Per binding:

=======  ==============  ==========================================================
binding  transport type  a NORMAL frame's payload
=======  ==============  ==========================================================
doe      PCI_DOE (2)     one DOE data object, header and dword padding included
mctp     MCTP (1)        one MCTP message: type byte (05 SPDM, 06 secured), message
tcp      TCP (3)         one DSP0287 message: 4-byte binding header, message
=======  ==============  ==========================================================

The evidence: the ``spdm12-p384-tcp`` set's loopback capture holds frames of
type 3 whose payloads are its capture's records; spdm-emu writes an MCTP
capture record as its fixed 4-byte MCTP transport header followed by the
socket payload (``command.c`` prepends the header "for PCAP"), so the
``spdm12-p384-mctp`` records minus those 4 bytes are what its socket carried.
The codecs of the two message bindings are imported when a binding is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from spdm.errors import ConfigurationError

from .binding import MessageCodec
from .binding_endpoint import BindingEndpoint
from .emu_frame import SocketTransportType

if TYPE_CHECKING:
    from spdm.responder import Responder

__all__ = ["BINDINGS", "SOCKET_TRANSPORT_TYPES", "binding_endpoint", "message_codec"]

BINDINGS: Final = ("doe", "mctp", "tcp")
"""The bindings' names, as ``devsec connect/emulate --binding`` takes them (doe first: the default)."""

SOCKET_TRANSPORT_TYPES: Final = {
    "doe": SocketTransportType.PCI_DOE,
    "mctp": SocketTransportType.MCTP,
    "tcp": SocketTransportType.TCP,
}
"""The transport type each binding's frames carry."""


def message_codec(binding: str) -> MessageCodec:
    """The codec of a message binding's socket payloads (``mctp`` or ``tcp``).

    Raises:
        ConfigurationError: ``doe`` (DOE objects need no binding codec) or an unknown name.
    """
    if binding == "mctp":
        from .mctp import MCTP_MESSAGES

        return MCTP_MESSAGES
    if binding == "tcp":
        from .tcp_binding import TCP_CAPTURE

        return TCP_CAPTURE  # a DSP0287 capture records exactly the socket's messages
    raise ConfigurationError(f"{binding!r} is not a message binding (mctp or tcp)")


def binding_endpoint(responder: Responder, binding: str) -> BindingEndpoint:
    """The endpoint that answers ``binding``'s socket messages with ``responder``.

    Raises:
        ConfigurationError: not a message binding, or a responder that does not
            seal records with the binding's parameters (``ResponderConfig.record_format``).
    """
    codec = message_codec(binding)
    if responder.config.record_format is not codec.record_format:
        raise ConfigurationError(f"the responder does not seal records as the {binding} binding does "
                                 f"(ResponderConfig.record_format)")
    return BindingEndpoint(codec, responder)
