"""The SPDM requester engine (sans-IO): VCA, certificates, challenge, measurements.

Commands (:meth:`Requester.get_version`, :meth:`Requester.challenge`, ...)
queue one request; :meth:`Requester.data_to_send` hands out its bytes;
:meth:`Requester.receive_data` takes the response; :meth:`Requester.next_event`
reports what it meant.  One request is outstanding at a time.  The engine
never touches a socket or a clock: when it must wait (ResponseNotReady, Busy)
it says how long through :meth:`Requester.get_timer` and resumes on
:meth:`Requester.handle_timer`.  It is a :class:`spdm.engine.RequesterEngine`;
an ERROR that a carrier reports out of band goes to :meth:`Requester.receive_error`.

Failures are typed: a command that is illegal now raises
:class:`~spdm.errors.LocalProtocolError` and changes nothing; a response that
breaks the protocol raises :class:`~spdm.errors.RemoteProtocolError` (or
:class:`~spdm.errors.DecodeError`), one that fails a check raises
:class:`~spdm.errors.VerificationError`.  Either of the last two poisons the
engine: every later call raises, because a connection that once lied cannot be
trusted again without starting over.

Layout: :mod:`.core` (plumbing: I/O surface, sending, receiving, errors and
retries), :mod:`.vca`, :mod:`.auth`, :mod:`.session`, :mod:`.encap` (mutual
authentication), :mod:`.provision` (GET_CSR, SET_CERTIFICATE) and :mod:`.event`
(SPDM 1.3 events; :mod:`.event_receipt` answers SEND_EVENT), one module per
message group, whose response handlers are found through :data:`ROUTES`; :mod:`.flows` holds the state of each
multi-message flow (its table is in :mod:`spdm.state`); :mod:`.identity` what
the requester produces with its own keys; :mod:`.follow` wraps the engine to
follow a captured conversation (``devsec dump``).

Every command module is part of the engine, but the messages and events of the
flows beyond authentication (sessions, encapsulated requests, chunking, events,
endpoint info, MEL, key pairs, provisioning) are imported inside the methods
that send or handle them, and :data:`ROUTES` names each response by its code:
creating those message classes costs CPython milliseconds (see
bench/README.md, bench_startup), which a connection that only authenticates
should not pay.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ..messages.codes import RequestCode, ResponseCode
from .auth import CHALLENGE_CONTEXT, MEASUREMENTS_CONTEXT, AuthCommands
from .core import ST1_SECONDS, Route
from .encap import EncapCommands
from .endpoint import EndpointCommands
from .event import EventCommands
from .provision import ProvisionCommands
from .session import SessionCommands
from .vca import VcaCommands

ROUTES: Mapping[int, Route[Any, Any]] = {
    RequestCode.GET_VERSION: Route(ResponseCode.VERSION, VcaCommands._on_version),
    RequestCode.GET_CAPABILITIES: Route(ResponseCode.CAPABILITIES, VcaCommands._on_capabilities),
    RequestCode.NEGOTIATE_ALGORITHMS: Route(ResponseCode.ALGORITHMS, VcaCommands._on_algorithms),
    RequestCode.GET_DIGESTS: Route(ResponseCode.DIGESTS, AuthCommands._on_digests),
    RequestCode.GET_CERTIFICATE: Route(ResponseCode.CERTIFICATE, AuthCommands._on_certificate),
    RequestCode.CHALLENGE: Route(ResponseCode.CHALLENGE_AUTH, AuthCommands._on_challenge_auth),
    RequestCode.GET_MEASUREMENTS: Route(ResponseCode.MEASUREMENTS, AuthCommands._on_measurements),
    RequestCode.VENDOR_DEFINED_REQUEST: Route(
        ResponseCode.VENDOR_DEFINED_RESPONSE, AuthCommands._on_vendor_defined),
    RequestCode.KEY_EXCHANGE: Route(ResponseCode.KEY_EXCHANGE_RSP, SessionCommands._on_key_exchange_rsp),
    RequestCode.FINISH: Route(ResponseCode.FINISH_RSP, SessionCommands._on_finish_rsp),
    RequestCode.PSK_EXCHANGE: Route(ResponseCode.PSK_EXCHANGE_RSP, SessionCommands._on_psk_exchange_rsp),
    RequestCode.PSK_FINISH: Route(ResponseCode.PSK_FINISH_RSP, SessionCommands._on_psk_finish_rsp),
    RequestCode.HEARTBEAT: Route(ResponseCode.HEARTBEAT_ACK, SessionCommands._on_heartbeat_ack),
    RequestCode.KEY_UPDATE: Route(ResponseCode.KEY_UPDATE_ACK, SessionCommands._on_key_update_ack),
    RequestCode.END_SESSION: Route(ResponseCode.END_SESSION_ACK, SessionCommands._on_end_session_ack),
    RequestCode.GET_ENCAPSULATED_REQUEST: Route(
        ResponseCode.ENCAPSULATED_REQUEST, EncapCommands._on_encapsulated_request),
    RequestCode.DELIVER_ENCAPSULATED_RESPONSE: Route(
        ResponseCode.ENCAPSULATED_RESPONSE_ACK, EncapCommands._on_encapsulated_response_ack),
    RequestCode.GET_ENDPOINT_INFO: Route(ResponseCode.ENDPOINT_INFO, EndpointCommands._on_endpoint_info),
    RequestCode.GET_MEASUREMENT_EXTENSION_LOG: Route(
        ResponseCode.MEASUREMENT_EXTENSION_LOG, EndpointCommands._on_measurement_extension_log),
    RequestCode.GET_KEY_PAIR_INFO: Route(ResponseCode.KEY_PAIR_INFO, EndpointCommands._on_key_pair_info),
    RequestCode.SET_KEY_PAIR_INFO: Route(
        ResponseCode.SET_KEY_PAIR_INFO_ACK, EndpointCommands._on_set_key_pair_info_ack),
    RequestCode.GET_CSR: Route(ResponseCode.CSR, ProvisionCommands._on_csr),
    RequestCode.SET_CERTIFICATE: Route(
        ResponseCode.SET_CERTIFICATE_RSP, ProvisionCommands._on_set_certificate_rsp),
    RequestCode.GET_SUPPORTED_EVENT_TYPES: Route(
        ResponseCode.SUPPORTED_EVENT_TYPES, EventCommands._on_supported_event_types),
    RequestCode.SUBSCRIBE_EVENT_TYPES: Route(
        ResponseCode.SUBSCRIBE_EVENT_TYPES_ACK, EventCommands._on_subscribe_event_types_ack),
}
"""Request code -> how its response is decoded and which handler checks it; the requests
this engine sends (a code missing here cannot be followed either)."""


class Requester(VcaCommands, AuthCommands, SessionCommands, EndpointCommands, ProvisionCommands,
                EventCommands):
    """One SPDM connection, seen from the requester (host or TSM) side."""

    _ROUTES: ClassVar[Mapping[int, Route[Any, Any]]] = ROUTES


__all__ = ["CHALLENGE_CONTEXT", "MEASUREMENTS_CONTEXT", "ROUTES", "ST1_SECONDS", "Requester"]
