"""``devsec emulate``: SIGUSR1 updates the emulated device's firmware while it serves.

A firmware update is what changes a real device's measurements: the mutable
firmware's measurement (index :data:`FIRMWARE_INDEX`) then covers another
image, and a requester subscribed to SPDM 1.3 events is sent
MeasurementChanged for it (:meth:`spdm.responder.Responder.update_measurements`).

Why a signal and not a period (``--measurement-change-every SECONDS``): an
update is an operator's act at a moment of their choosing, and a script or a
test that sends ``kill -USR1 PID`` between two requester steps knows the
change happened there, where a timer races with the requester's polls; a
device that is never signalled never changes.

The signal handler runs on the main thread while the server answers on its
own, and the engines are not thread-safe: the handler only counts the
updates asked for, and the serving thread applies them before it answers its
next message (``EmulatedDevice.server(between_messages=...)``), which is also
the first moment a requester could see them.
"""

from __future__ import annotations

from types import FrameType

from spdm.device import DeviceModel
from spdm.responder import Responder

__all__ = ["FIRMWARE_INDEX", "FirmwareUpdates"]

FIRMWARE_INDEX = 2
"""The mutable-firmware measurement of the emulated device (DMTF value type 1)."""


class FirmwareUpdates:
    """Firmware updates asked for by SIGUSR1, applied to a responder between messages."""

    def __init__(self, responder: Responder, model: DeviceModel) -> None:
        """Args:
            responder: the serving device's responder.
            model: the device it serves now.

        Raises:
            ConfigurationError: the device measures no firmware at :data:`FIRMWARE_INDEX`.
        """
        model.with_measurement(FIRMWARE_INDEX, b"")  # refuses a device without that measurement now
        self._responder = responder
        self._model = model
        self._asked = 0  # written only by the signal handler (main thread)
        self._applied = 0  # written only by the serving thread

    def ask(self, _signal: int = 0, _frame: FrameType | None = None) -> None:
        """Ask for one update (the SIGUSR1 handler)."""
        self._asked += 1

    def apply(self) -> None:
        """Apply every update asked for since the last call (on the serving thread)."""
        while self._applied < self._asked:
            self._applied += 1
            image = f"devsec emulated mutable firmware, update {self._applied}".encode()
            self._model = self._model.with_measurement(FIRMWARE_INDEX, image)
            self._responder.update_measurements(self._model)
