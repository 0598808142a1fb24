"""Receiving events: the requester's answer to an encapsulated SEND_EVENT, and what it reports.

Kept apart from :mod:`.event` (the commands) because the requester's
:mod:`.identity` answers encapsulated requests and is imported by the
engine's core, which :mod:`.event` builds on.  See :mod:`.event` for the rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import DecodeError, SpdmErrorCode
from ..messages import ErrorResponse, peek_code
from ..messages.codes import CapabilityFlags, RequestCode, ResponseCode
from ..negotiation import Negotiated

if TYPE_CHECKING:
    from ..events import DeviceEventReceived

__all__ = ["answer_send_event", "delivered_events"]


def answer_send_event(negotiated: Negotiated, inner: bytes, *, in_session: bool) -> bytes | None:
    """Our answer to an encapsulated SEND_EVENT (EVENT_ACK or ERROR); None for another request.

    The checks in libspdm's order (``libspdm_req_encap_event_ack.c``): below
    1.3 or without the responder's EVENT_CAP UnsupportedRequest, another
    SPDMVersion VersionMismatch, outside a session SessionRequired, then
    malformed bytes or a list :func:`check_event_list` refuses InvalidRequest.
    """
    from ..messages.event import EventAck, SendEvent, check_event_list
    try:
        _, code = peek_code(inner)
    except DecodeError:
        return None
    if code != RequestCode.SEND_EVENT:
        return None
    version = negotiated.version

    def error(error_code: SpdmErrorCode, data: int = 0) -> bytes:
        return ErrorResponse(spdm_version=version, error_code=error_code, error_data=data).encode()

    if version < 0x13 or not negotiated.responder_flags & CapabilityFlags.EVENT_CAP:
        return error(SpdmErrorCode.UNSUPPORTED_REQUEST, RequestCode.SEND_EVENT)
    if inner[0] != version:
        return error(SpdmErrorCode.VERSION_MISMATCH)
    if not in_session:
        return error(SpdmErrorCode.SESSION_REQUIRED)
    try:
        request = SendEvent.decode(inner, padded=True)
    except DecodeError:
        return error(SpdmErrorCode.INVALID_REQUEST)
    if check_event_list(request.events) is not None:
        return error(SpdmErrorCode.INVALID_REQUEST)
    return EventAck(spdm_version=version).encode()


def delivered_events(session_id: int, inner: bytes, answer: bytes) -> list[DeviceEventReceived]:
    """The events of an encapsulated SEND_EVENT whose EVENT_ACK we delivered, in instance order."""
    from ..events import DeviceEventReceived
    from ..messages.event import SendEvent
    if inner[1:2] != bytes([RequestCode.SEND_EVENT]) or answer[1:2] != bytes([ResponseCode.EVENT_ACK]):
        return []
    events = SendEvent.decode(inner, padded=True).events
    return [DeviceEventReceived(session_id, e.event_instance_id, e.event_type_id, e.event_detail,
                                e.registry_id, e.vendor_id)
            for e in sorted(events, key=lambda e: e.event_instance_id)]
