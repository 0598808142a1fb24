"""What a transport binding carries: an SPDM message, in the clear or as a DSP0277 record.

MCTP (DSP0275) and TCP (DSP0287) frame every message with a type that says
which of the two it is; PCI DOE does it with the data object type.  A
:class:`MessageCodec` turns one binding message -- as a channel such as
spdm-emu's socket carries it -- into a :class:`BoundMessage` and back, and
names the DSP0277 record parameters (:class:`spdm.secured.RecordFormat`) the
binding chose, so the session layer opens and seals records the way that
binding does.  A :class:`BindingCodec` does the same for one record of a
capture, which may add a header the channel does not carry (spdm-emu writes
an MCTP transport header into its MCTP captures only).
"""

from __future__ import annotations

from typing import Protocol

from spdm.secured import RecordFormat

from ..record import record

__all__ = ["BindingCodec", "BoundMessage", "MessageCodec"]


@record(frozen=True)
class BoundMessage:
    """One message of a binding.

    Attributes:
        secured: ``payload`` is a DSP0277 secured-message record.
        payload: the SPDM message, or the record (SessionID first).
    """

    secured: bool
    payload: bytes


class MessageCodec(Protocol):
    """One binding's framing of a message (the unit a channel carries, or a capture records)."""

    @property
    def name(self) -> str:
        """The binding's name, as ``devsec dump`` prints it."""
        ...

    @property
    def record_format(self) -> RecordFormat:
        """Its DSP0277 record parameters."""
        ...

    def decode(self, unit: bytes) -> BoundMessage:
        """The message one unit carries.

        Raises:
            DecodeError: malformed, or a message type that is not SPDM.
        """
        ...

    def encode(self, message: BoundMessage) -> bytes:
        """The unit carrying ``message``."""
        ...


class BindingCodec(MessageCodec, Protocol):
    """One binding's framing of a message in its captures: a :class:`MessageCodec` with a link type."""

    @property
    def link_type(self) -> int:
        """The pcap link type of its captures."""
        ...

    def label(self, unit: bytes) -> str:
        """The unit's binding header as ``devsec dump`` (and the reference's spdm_dump) shows it."""
        ...
