"""Hooks through which the engines reach secrets and device state (libspdm's HAL).

No engine holds a private key or decides what a device measures: it asks a
backend.  :class:`IdentityBackend` is what any signer needs (the responder,
and the requester in mutual authentication); :class:`ResponderBackend` adds
the device's measurements and PSKs.  :mod:`spdm.device` is the
default implementation (the emulated device); a vendor can plug in one that
talks to an HSM or real firmware.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .messages import MeasurementBlock
from .messages.codes import BaseAsymAlgo, BaseHashAlgo, MeasurementHashAlgo, PqcAsymAlgo, SpdmVersion

__all__ = ["IdentityBackend", "ResponderBackend"]


class IdentityBackend(Protocol):
    """Certificate slots and the keys that sign with them."""

    def asym_algorithms(self) -> BaseAsymAlgo:
        """The BaseAsymAlgos every provisioned slot's key signs with (the responder
        never selects another, whatever its preferences say)."""
        ...

    def pqc_asym_algorithms(self) -> PqcAsymAlgo:
        """The PqcAsymAlgos (SPDM 1.4 ML-DSA) every provisioned slot's key signs with (0 for
        classic keys): as ``asym_algorithms``, the only post-quantum algorithms selectable."""
        ...

    def provisioned_slots(self) -> int:
        """Bitmask of certificate slots holding a chain (DIGESTS Param2)."""
        ...

    def certificate_chain(self, slot_id: int, hash_alg: BaseHashAlgo) -> bytes | None:
        """The slot's SPDM certificate chain (header, root hash, DER certs), or None."""
        ...

    def sign(
        self,
        slot_id: int,
        hash_alg: BaseHashAlgo,
        version: SpdmVersion,
        context: str,
        transcript: bytes,
    ) -> bytes:
        """Sign ``transcript`` with the slot's private key, the SPDM way (see crypto.sign)."""
        ...


class ResponderBackend(IdentityBackend, Protocol):
    """What the responder needs from the device it speaks for."""

    def psk(self, hint: bytes) -> bytes | None:
        """The pre-shared key PSK_EXCHANGE's hint names, or None when there is none."""
        ...

    def measurement_blocks(
        self, hash_alg: MeasurementHashAlgo, *, raw_requested: bool
    ) -> Sequence[MeasurementBlock]:
        """Every measurement block, ascending index; digests use ``hash_alg``
        unless ``raw_requested`` (1.2) and the block can be shown raw."""
        ...
