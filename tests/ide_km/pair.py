"""Wire an IDE_KM requester to a device model in memory (what the SPDM session carries in between)."""

from __future__ import annotations

from ide_km import IdeKmDevice, IdeKmRequester
from spdm.errors import ProtocolError
from spdm.events import Event

SESSION = 0xFFFF_FFFF
"""libspdm's first SessionID, the one the captures use."""


class Counter:
    """A deterministic rng: 1, 2, 3, ... in every byte of successive draws."""

    def __init__(self) -> None:
        self.draws = 0

    def __call__(self, size: int) -> bytes:
        self.draws += 1
        return bytes([self.draws & 0xFF]) * size


def pump(requester: IdeKmRequester, device: IdeKmDevice, session_id: int | None = SESSION) -> list[Event]:
    """Carry requests and responses until the command ends; an ERROR goes back as the carrier would."""
    while True:
        payload = requester.data_to_send()
        if not payload:
            break
        try:
            response = device.handle(payload, session_id)
        except ProtocolError as exc:
            requester.receive_error(exc.error_code, exc.error_data)
            continue
        requester.receive_data(response)
    events = []
    while (event := requester.next_event()) is not None:
        events.append(event)
    return events
