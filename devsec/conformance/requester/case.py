"""A requester conformance case as data: the device it plays, how often the requester runs, how it is judged.

Two kinds.  A *checking* case plays a healthy device and judges the
requester's conduct from the requests it recorded (GET_VERSION first, valid
GET_CAPABILITIES and NEGOTIATE_ALGORITHMS, fresh nonces, legal order).  An
*adversarial* case plays a device that breaks one rule (a bad signature, a
chain to another root, Busy for ever...) and a conformant requester must
exit non-zero: it may never report success on such a device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from spdm.backend import ResponderBackend
from spdm.config import ResponderConfig
from spdm.device import DeviceModel
from spdm.messages.codes import CapabilityFlags
from spdm.record import record

if TYPE_CHECKING:
    from .context import RequesterContext
    from .device import Misbehaviour

__all__ = ["NO_CAPS", "DeviceSetup", "RequesterCase"]

DeviceSetup = Callable[[ResponderConfig, DeviceModel], tuple[ResponderConfig, ResponderBackend]]
"""Turns the case device's default configuration and identity into the ones it plays (a device to
provision, one with events, a small DataTransferSize...)."""

NO_CAPS = CapabilityFlags(0)
"""No capability: a case whose device advertises all of the emulator's defaults."""


@record(frozen=True, slots=True)
class RequesterCase:
    """One requester conformance case.

    Attributes:
        id: the stable identifier (``requester.vca.version-first``).
        title: one line saying what a conformant requester does.
        reference: the rule's document and clause (``DSP0274 1.3 §10.3``).
        judge: records the case's assertions from the runs the context holds.
        misbehaviour: makes the device break one rule (None: a healthy device).
        impostor: the device's chain leads to a root other than the one the
            requester is given (``{root}``).
        runs: how often the requester runs (fresh device each time); nonce
            freshness needs two.  One misbehaviour serves every run of the case
            (a replay case records in the first and replays in the second).
        without: capabilities the device does not advertise in this case (a
            heartbeat must then never be sent, say).
        device: makes the device another one than the default (None: the
            default, the requester's identity behind the emulator); applied
            before ``without``.
    """

    id: str
    title: str
    reference: str
    judge: Callable[[RequesterContext], None]
    misbehaviour: Callable[[], Misbehaviour] | None = None
    impostor: bool = False
    runs: int = 1
    without: CapabilityFlags = NO_CAPS
    device: DeviceSetup | None = None

    @property
    def group(self) -> str:
        """The report group: the id's first two dotted parts."""
        return ".".join(self.id.split(".")[:2])

    @property
    def adversarial(self) -> bool:
        """The device misbehaves in this case."""
        return self.misbehaviour is not None or self.impostor

    @property
    def kind_text(self) -> str:
        """The case's kind in words, for the listing and the catalogue document."""
        kind = "adversarial" if self.adversarial else "checking"
        return kind + (f", {self.runs} runs" if self.runs > 1 else "")
