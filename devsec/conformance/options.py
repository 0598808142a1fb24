"""What a user tells a conformance run about the device beyond its address: its PSK, the TDI to lock.

Neither can be learned over the wire: a PSK is a shared secret the vendor
provisions (``--psk`` / ``--psk-hint``), and a device's TDIs are not
discoverable (``--tdi``).  Cases read them from ``ctx.options``; a case that
needs one the user did not give is skipped saying so.  The PSK never leaves
the run: :meth:`RunOptions.report` says only whether one was given.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any

from spdm.errors import ConfigurationError
from spdm.record import record

__all__ = ["DEFAULT_TDI", "NO_OPTIONS", "RunOptions"]

DEFAULT_TDI = 0x0100
"""FUNCTION_ID of the TDI the TDISP cases lock without ``--tdi`` (``devsec emulate``'s PF)."""

FUNCTION_ID_MASK = 0x01FF_FFFF
"""FUNCTION_ID's defined bits: Requester ID, Requester Segment and its valid bit (PROTOCOLS.md §9.1)."""


@record(frozen=True, slots=True)
class RunOptions:
    """One run's per-device facts.

    Attributes:
        psk: the pre-shared key the device holds (None: the PSK session cases are skipped).
        psk_hint: the PSKHint naming that key, byte for byte (may be empty).
        tdi: the FUNCTION_ID of the TDI the TDISP cases lock.

    Raises:
        ConfigurationError: a hint without a PSK, an empty PSK, or a FUNCTION_ID
            with bits outside the defined ones.
    """

    psk: bytes | None = field(default=None, repr=False)
    psk_hint: bytes = b""
    tdi: int = DEFAULT_TDI

    def __post_init__(self) -> None:
        if self.psk is None and self.psk_hint:
            raise ConfigurationError("a PSK hint names a PSK: give the PSK too")
        if self.psk is not None and not self.psk:
            raise ConfigurationError("an empty PSK cannot key a session")
        if not 0 <= self.tdi <= FUNCTION_ID_MASK:
            raise ConfigurationError(f"TDI FUNCTION_ID 0x{self.tdi:x} is not in 0..0x{FUNCTION_ID_MASK:x} "
                                     "(Requester ID, Segment, Segment Valid)")

    def report(self) -> dict[str, Any]:
        """The options as a report records them: whether a PSK was given, never the key."""
        given = self.psk is not None
        return {"psk": given, "psk_hint": self.psk_hint.hex() if given else None, "tdi": f"0x{self.tdi:04x}"}


NO_OPTIONS = RunOptions()
"""A run told nothing: no PSK, the default TDI."""
