"""Device-side DOE dispatcher: routes each received data object to its protocol.

``DoeEndpoint`` is what a DOE instance does with a complete data object once
the host has pressed Go: answer DOE Discovery itself and hand every other
object to the handler registered for its (vendor ID, type).  It is pure (no
I/O, no clock), so the mailbox register model, the spdm-emu socket server and
the in-process pipe all drive the same endpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from spdm.errors import DecodeError, LocalProtocolError
from spdm.transport.doe import (
    PCI_SIG_VENDOR_ID,
    DataObjectType,
    DiscoveryResponse,
    data_object_fields,
    decode_discovery_request,
    encode_discovery_response,
    frame_data_object,
)

__all__ = ["DoeEndpoint", "ObjectHandler"]

_log = logging.getLogger(__name__)

ObjectHandler = Callable[[bytes], bytes | None]
"""Handles one object's payload (which may carry pad bytes).

Returns the response payload, sent back with the request's vendor ID and type,
or None to send no response at all.
"""

_DISCOVERY = (PCI_SIG_VENDOR_ID, int(DataObjectType.DISCOVERY))

# Vendor ID reported for an index past the end of the table, as Project
# Cerberus does (PROTOCOLS.md §1.3 [x1]); next index 0 ends the host's walk.
_NO_ENTRY_VENDOR_ID = 0xFFFF

# Discovery indices are one byte and index 0 is Discovery itself.
_MAX_HANDLERS = 255


class DoeEndpoint:
    """The protocol table of one DOE instance (device side).

    Undecodable objects and objects of a protocol with no handler are dropped
    silently: ``handle`` returns None and nothing goes back to the host, which
    is what DOE r1.x devices do (the host then times out and aborts).  The same
    holds for a malformed Discovery request.
    """

    def __init__(self, handlers: Mapping[tuple[int, int], ObjectHandler]) -> None:
        """Build the table.

        Args:
            handlers: one handler per ``(vendor_id, object_type)``.  Discovery
                (0001:00) is answered by the endpoint and must not be listed.

        Raises:
            LocalProtocolError: a key is the Discovery protocol or out of range,
                or there are more protocols than a one-byte Discovery index
                can reach (255 besides Discovery).
        """
        for vendor_id, object_type in handlers:
            if not (0 <= vendor_id <= 0xFFFF and 0 <= object_type <= 0xFF):
                raise LocalProtocolError(f"invalid protocol {vendor_id:#x}:{object_type:#x}")
            if (vendor_id, object_type) == _DISCOVERY:
                raise LocalProtocolError("DOE Discovery is answered by DoeEndpoint itself")
        if len(handlers) > _MAX_HANDLERS:
            raise LocalProtocolError(f"{len(handlers)} protocols exceed the {_MAX_HANDLERS} limit")
        self._handlers = dict(handlers)
        self._protocols = [_DISCOVERY, *sorted(self._handlers)]

    @property
    def protocols(self) -> list[tuple[int, int]]:
        """The Discovery table: Discovery itself, then the handlers' protocols.

        The handlers' protocols are in ascending (vendor ID, type) order.
        """
        return list(self._protocols)

    def handle(self, request: bytes) -> bytes | None:
        """Process one complete data object from the host.

        Args:
            request: the whole DOE object, header included.

        Returns:
            The whole response object, or None when the object is dropped
            (undecodable, unknown protocol, malformed Discovery request, or the
            handler chose not to answer).

        Raises:
            LocalProtocolError: a handler's response does not fit in one data
                object (a bug in the handler).
        """
        try:
            vendor_id, object_type, payload = data_object_fields(request)
        except DecodeError as exc:
            _log.debug("dropping undecodable DOE object of %d bytes: %s", len(request), exc)
            return None
        key = (vendor_id, object_type)
        if key == _DISCOVERY:
            answer = self._discovery(payload)
        else:
            handler = self._handlers.get(key)
            if handler is None:
                _log.debug("dropping DOE object of unsupported protocol %04x:%02x", *key)
                return None
            answer = handler(payload)
        if answer is None:
            _log.debug("no response to DOE object %04x:%02x", *key)
            return None
        if _log.isEnabledFor(logging.DEBUG):  # asked per exchange: no call into a log that is off
            _log.debug("DOE %04x:%02x: %d bytes in, %d out", *key, len(payload), len(answer))
        return frame_data_object(vendor_id, object_type, answer)

    def _discovery(self, payload: bytes) -> bytes | None:
        try:
            request = decode_discovery_request(payload)
        except DecodeError as exc:
            _log.debug("dropping malformed DOE Discovery request: %s", exc)
            return None
        if request.index >= len(self._protocols):
            return encode_discovery_response(DiscoveryResponse(_NO_ENTRY_VENDOR_ID, 0, 0))
        vendor_id, object_type = self._protocols[request.index]
        next_index = request.index + 1 if request.index + 1 < len(self._protocols) else 0
        return encode_discovery_response(DiscoveryResponse(vendor_id, object_type, next_index))
