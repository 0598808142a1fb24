"""The device a requester case plays: the TEE-IO emulator, recorded, optionally misbehaving in one way.

Every SPDM request the requester sends, and the response it got, is kept in
order (DOE payloads, pad included) so the case can judge the requester's
conduct.  Requests inside a session are kept as their plaintext, flagged
with the SessionID of their record: the responder hands them over before it
seals the answer (:meth:`spdm.responder.Responder.register_session_filter`),
so the session keys never leave it.  The device speaks IDE_KM and TDISP too,
so a TSM that programs IDE keys and locks interfaces runs to its end.  A
device that offers EVENT_CAP (the event cases') updates a firmware
measurement right after each SUBSCRIBE_EVENT_TYPES it acknowledges, so the
subscriber gets a MeasurementChanged event to receive.

A :class:`Misbehaviour` stands between the requester and the healthy
responder: it sees each request, may ask the responder, and returns the
response to send, so one rule is broken while everything else stays healthy;
inside a session it changes the plaintext response before it is sealed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol, runtime_checkable

from devsec.emulator import SecureDevice
from spdm.backend import ResponderBackend
from spdm.config import ResponderConfig
from spdm.device import DeviceModel
from spdm.errors import DecodeError
from spdm.messages.codes import CapabilityFlags, RequestCode, ResponseCode
from spdm.transport.doe import (
    PCI_SIG_VENDOR_ID,
    DataObject,
    DataObjectType,
    decode_data_object,
    encode_data_object,
)

from ..context import Exchange
from .case import NO_CAPS, DeviceSetup

__all__ = ["ENDPOINT_CAPS", "CaseDevice", "Misbehaviour", "Recurring"]

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

    def inside(self, request: bytes, response: bytes) -> bytes:
        """The plaintext response to seal for an in-session ``request`` (``response``: the healthy one)."""


@runtime_checkable
class Recurring(Protocol):
    """A misbehaviour that acts differently in a case's later runs (a replay of the first run)."""

    def next_run(self) -> None:
        """The requester is about to run again, against a fresh device."""


ENDPOINT_CAPS = (CapabilityFlags.EP_INFO_CAP_SIG | CapabilityFlags.MEL_CAP
                 | CapabilityFlags.GET_KEY_PAIR_INFO_CAP | CapabilityFlags.CHUNK_CAP)
"""SPDM 1.3's endpoint messages, offered as ``devsec emulate`` offers them, and chunking, used only
with a requester that offers it too (:mod:`.endpoint`'s cases)."""


class CaseDevice:
    """The TEE-IO emulator with its defaults behind a recording, optionally misbehaving, DOE handler."""

    def __init__(self, model: DeviceModel, misbehaviour: Misbehaviour | None = None,
                 without: CapabilityFlags = NO_CAPS, setup: DeviceSetup | None = None) -> None:
        """Args:
            model: the device's identity and measurements (it offers the
                signature algorithm of the model's keys, so a vendor's own
                identity of any algorithm serves).
            misbehaviour: the rule it breaks (None: healthy).
            without: capabilities it does not advertise (the emulator's defaults less these).
            setup: makes it another device than the default (the case's ``device``).
        """
        config = ResponderConfig()
        config = replace(config, capabilities=config.capabilities | ENDPOINT_CAPS,
                         algorithms=replace(config.algorithms, asym_algs=(model.asym_alg,)))
        backend: ResponderBackend = model
        if setup is not None:
            config, backend = setup(config, model)
        config = replace(config, capabilities=config.capabilities & ~without)
        self.device = SecureDevice(config, backend)
        self._backend = backend
        self._events = bool(config.capabilities & CapabilityFlags.EVENT_CAP)
        self._subscribed = False
        self._updates = 0
        self.misbehaviour = misbehaviour
        self.exchanges: list[Exchange] = []
        self.dropped: list[Exchange] = []
        self.device.spdm.responder.register_session_filter(self._sealing)

    def handle(self, obj: bytes) -> bytes | None:
        """One DOE object from the requester -> the object to answer with (None: dropped)."""
        try:
            request = decode_data_object(obj)
        except DecodeError:
            return self.device.spdm.endpoint.handle(obj)
        kind = request.object_type
        if request.vendor_id != PCI_SIG_VENDOR_ID or kind not in (DataObjectType.SPDM,
                                                                  DataObjectType.SECURED_SPDM):
            return self.device.spdm.endpoint.handle(obj)
        secured = kind == DataObjectType.SECURED_SPDM

        def ask(payload: bytes) -> bytes:
            return self._ask(kind, payload)

        if self.misbehaviour is None:
            response = ask(request.payload)
        else:
            response = self.misbehaviour.respond(request.payload, ask, secured=secured)
        if self._subscribed:
            self._subscribed = False
            self._update_firmware()
        if not secured:
            self.exchanges.append(Exchange(request.payload, response))
        elif not response:
            # A record the responder dropped (unknown SessionID, failed authentication):
            # kept as it came, with the SessionID its first four bytes name.
            self.dropped.append(Exchange(request.payload, b"", int.from_bytes(request.payload[:4], "little")))
        return encode_data_object(DataObject(PCI_SIG_VENDOR_ID, kind, response))

    def _sealing(self, session_id: int, request: bytes, response: bytes) -> bytes:
        """Record an in-session exchange (after the misbehaviour had its say) and seal that."""
        self._subscribed |= (self._events and request[1:2] == bytes([RequestCode.SUBSCRIBE_EVENT_TYPES])
                             and response[1:2] == bytes([ResponseCode.SUBSCRIBE_EVENT_TYPES_ACK]))
        if self.misbehaviour is not None:
            response = self.misbehaviour.inside(request, response)
        self.exchanges.append(Exchange(request, response, session_id))
        return response

    def _update_firmware(self) -> None:
        """A device offering events updates its first measurement's firmware after each subscription.

        So a subscriber always has a MeasurementChanged event to receive at its
        next in-session GET_ENCAPSULATED_REQUEST (:mod:`spdm.responder.event`).
        """
        if not isinstance(self._backend, DeviceModel):
            return
        self._updates += 1
        index = self._backend.measurements[0].index
        self._backend = self._backend.with_measurement(index, b"firmware update %d" % self._updates)
        self.device.spdm.responder.update_measurements(self._backend)

    def _ask(self, kind: int, payload: bytes) -> bytes:
        obj = encode_data_object(DataObject(PCI_SIG_VENDOR_ID, kind, payload))
        answer = self.device.spdm.endpoint.handle(obj)
        if answer is None:
            _log.debug("the responder dropped a request")
            return b""
        return decode_data_object(answer).payload
