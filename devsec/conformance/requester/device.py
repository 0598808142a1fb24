"""The device a requester case plays: the emulator, recorded, optionally misbehaving in one way.

Every SPDM request the requester sends in the clear, and the response it got,
is kept (DOE payloads, pad included) so the case can judge the requester's
conduct; secured messages (a session's records) pass the misbehaviour but
are not recorded: their plaintext is the session's.
A :class:`Misbehaviour` stands between the requester and the healthy
responder: it sees each request, may ask the responder, and returns the
response to send, so one rule is broken while everything else stays healthy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from devsec.emulator import EmulatedDevice
from spdm.config import ResponderConfig
from spdm.device import DeviceModel
from spdm.errors import DecodeError
from spdm.transport.doe import (
    PCI_SIG_VENDOR_ID,
    DataObject,
    DataObjectType,
    decode_data_object,
    encode_data_object,
)

from ..context import Exchange

__all__ = ["CaseDevice", "Misbehaviour"]

_log = logging.getLogger(__name__)


class Misbehaviour(Protocol):
    """How the device breaks a rule.

    Attributes:
        triggered: how many responses it changed (0: the requester never got
            far enough for the case to judge).
    """

    triggered: int

    def respond(self, request: bytes, ask: Callable[[bytes], bytes], *, secured: bool) -> bytes:
        """The response payload to ``request``; ``ask`` gets the healthy responder's.

        Args:
            request: an SPDM message, or (``secured``) a DSP0277 secured message.
            ask: the healthy responder, taking and returning the same kind.
            secured: the request came as a secured SPDM object (DOE type 2).
        """


class CaseDevice:
    """The emulator with its defaults behind a recording, optionally misbehaving, DOE handler."""

    def __init__(self, model: DeviceModel, misbehaviour: Misbehaviour | None = None) -> None:
        """Args:
            model: the device's identity and measurements.
            misbehaviour: the rule it breaks (None: healthy).
        """
        self.device = EmulatedDevice(ResponderConfig(), model)
        self.misbehaviour = misbehaviour
        self.exchanges: list[Exchange] = []

    def handle(self, obj: bytes) -> bytes | None:
        """One DOE object from the requester -> the object to answer with (None: dropped)."""
        try:
            request = decode_data_object(obj)
        except DecodeError:
            return self.device.endpoint.handle(obj)
        kind = request.object_type
        if request.vendor_id != PCI_SIG_VENDOR_ID or kind not in (DataObjectType.SPDM,
                                                                  DataObjectType.SECURED_SPDM):
            return self.device.endpoint.handle(obj)
        secured = kind == DataObjectType.SECURED_SPDM

        def ask(payload: bytes) -> bytes:
            return self._ask(kind, payload)

        if self.misbehaviour is None:
            response = ask(request.payload)
        else:
            response = self.misbehaviour.respond(request.payload, ask, secured=secured)
        if not secured:
            self.exchanges.append(Exchange(request.payload, response))
        return encode_data_object(DataObject(PCI_SIG_VENDOR_ID, kind, response))

    def _ask(self, kind: int, payload: bytes) -> bytes:
        obj = encode_data_object(DataObject(PCI_SIG_VENDOR_ID, kind, payload))
        answer = self.device.endpoint.handle(obj)
        if answer is None:
            _log.debug("the responder dropped a request")
            return b""
        return decode_data_object(answer).payload
