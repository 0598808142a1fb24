"""Events, requester (Event Recipient) side: what the responder can send, subscriptions, receipt.

* :meth:`EventCommands.get_supported_event_types` and
  :meth:`EventCommands.subscribe_event_types` (:meth:`EventCommands.unsubscribe_events`)
  go inside an established session: DSP0274 1.3 allows them nowhere else,
  and the responder must advertise EVENT_CAP.
* Events arrive as encapsulated SEND_EVENT requests (a DOE device cannot
  initiate; libspdm's responder sends them so): the requester asks with
  :meth:`~.encap.EncapCommands.poll_encapsulated` (GET_ENCAPSULATED_REQUEST
  in the session), answers each SEND_EVENT with EVENT_ACK, and reports each
  event as :class:`~spdm.events.DeviceEventReceived` once its EVENT_ACK has
  been delivered, in EventInstanceID order (:mod:`.event_receipt`).  A SEND_EVENT that breaks
  :func:`~spdm.messages.event.check_event_list` (no event, a DMTF event of
  an unknown type or the wrong detail length, instance IDs with gaps or
  repeats: libspdm's recipient checks) is answered InvalidRequest and
  reported as nothing; one outside a session SessionRequired; one from a
  responder without EVENT_CAP UnsupportedRequest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import LocalProtocolError
from ..messages.codes import CapabilityFlags, RequestCode
from ..negotiation import Negotiated
from ..session import Session
from .core import RequesterCore

if TYPE_CHECKING:
    from ..messages.event import (
        EventGroup,
        GetSupportedEventTypes,
        SubscribeEventTypes,
        SubscribeEventTypesAck,
        SupportedEventTypes,
    )

__all__ = ["EventCommands"]


class EventCommands(RequesterCore):
    """GET_SUPPORTED_EVENT_TYPES and SUBSCRIBE_EVENT_TYPES, in a session."""

    def _event_session(self, code: RequestCode, session_id: int) -> tuple[Negotiated, Session | None]:
        """The negotiated parameters and the established session an event request goes in."""
        negotiated = self._need_negotiated(code)
        if negotiated.version < 0x13:
            raise LocalProtocolError(f"{code.name} needs SPDM 1.3")
        self._need_caps(negotiated, CapabilityFlags.EVENT_CAP, code.name)
        return negotiated, self._established_session(session_id)

    def get_supported_event_types(self, session_id: int) -> None:
        """Queue GET_SUPPORTED_EVENT_TYPES in the session.

        Raises:
            LocalProtocolError: not allowed now, no such established session,
                below 1.3, or the responder has no EVENT_CAP.
        """
        from ..messages.event import GetSupportedEventTypes
        negotiated, session = self._event_session(RequestCode.GET_SUPPORTED_EVENT_TYPES, session_id)
        self._send(GetSupportedEventTypes(spdm_version=negotiated.version), session=session)

    def subscribe_event_types(self, session_id: int, groups: Iterable[EventGroup] | None = None) -> None:
        """Queue SUBSCRIBE_EVENT_TYPES in the session (by default: every DMTF event type).

        Args:
            session_id: the established session the events are to come in.
            groups: the groups and types to subscribe to; empty unsubscribes from all;
                None: the DMTF group, all its types (Attributes SUBSCRIBE_ALL).

        Raises:
            LocalProtocolError: as :meth:`get_supported_event_types`.
        """
        from ..messages.event import SUBSCRIBE_ALL, EventGroup, SubscribeEventTypes
        if groups is None:
            groups = (EventGroup(attributes=SUBSCRIBE_ALL),)
        negotiated, session = self._event_session(RequestCode.SUBSCRIBE_EVENT_TYPES, session_id)
        request = SubscribeEventTypes(spdm_version=negotiated.version, groups=tuple(groups))
        self._send(request, session=session)

    def unsubscribe_events(self, session_id: int) -> None:
        """Queue SUBSCRIBE_EVENT_TYPES with no group: no more events in the session."""
        self.subscribe_event_types(session_id, ())

    def _on_supported_event_types(self, request: GetSupportedEventTypes,
                                  response: SupportedEventTypes) -> None:
        from ..events import SupportedEventTypesReceived
        session = self._answered_session
        assert session is not None
        self._events.append(SupportedEventTypesReceived(session.session_id, response.groups))

    def _on_subscribe_event_types_ack(self, request: SubscribeEventTypes,
                                      response: SubscribeEventTypesAck) -> None:
        from ..events import EventTypesSubscribed
        session = self._answered_session
        assert session is not None
        self._events.append(EventTypesSubscribed(session.session_id, request.groups))
