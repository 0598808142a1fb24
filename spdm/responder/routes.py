"""The requests this responder implements: for each, how it is decoded, which handler answers it,
the capability it needs, where it may travel (clear, session, either, the handshake's way) and the
first SPDM version that defines it.  :class:`spdm.responder.Responder` dispatches through
:data:`ROUTES`; a code missing here is UnsupportedRequest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ..errors import RemoteProtocolError, SpdmErrorCode
from ..messages import (
    NO_CONTEXT,
    Challenge,
    ChunkGet,
    ChunkSend,
    DeliverEncapsulatedResponse,
    EndSession,
    Finish,
    GetCapabilities,
    GetCertificate,
    GetCsr,
    GetDigests,
    GetEncapsulatedRequest,
    GetMeasurements,
    GetVersion,
    Heartbeat,
    KeyExchange,
    KeyUpdate,
    Message,
    NegotiateAlgorithms,
    PskExchange,
    PskFinish,
    SetCertificate,
    VendorDefinedRequest,
    VendorDefinedResponse,
)
from ..messages.codes import CapabilityFlags, RequestCode, SpdmVersion
from ..messages.control import MAX_SMALL_VENDOR_PAYLOAD
from ..messages.endpoint import GetEndpointInfo
from ..messages.event import GetSupportedEventTypes, SubscribeEventTypes
from ..messages.key_pair import GetKeyPairInfo, SetKeyPairInfo
from ..messages.mel import GetMeasurementExtensionLog
from ..negotiation import MEAS_CAPS
from ..record import record
from . import auth, encap, measurements, provision, vca
from . import chunk as chunking
from . import session as secure
from ._connection import Connection, invalid_request, unsupported_request
from .endpoint import get_endpoint_info, get_key_pair_info, get_measurement_extension_log, set_key_pair_info
from .event import get_supported_event_types, subscribe_event_types

__all__ = ["CLEAR", "EITHER", "HANDSHAKE", "ROUTES", "SECURED", "Route"]

M = TypeVar("M", bound=Message)

PSK_CAPS = CapabilityFlags.PSK_CAP | CapabilityFlags.PSK_CAP_WITH_CONTEXT
SESSION_ANY = CapabilityFlags.KEY_EX_CAP | PSK_CAPS

CLEAR = "in the clear"
SECURED = "inside a session"
EITHER = "either way"
HANDSHAKE = "the way the handshake travels"
"""FINISH: in the clear when both sides set HANDSHAKE_IN_THE_CLEAR_CAP, inside the session otherwise."""


@record(frozen=True)
class Route(Generic[M]):
    """How one implemented request is decoded and handled, and what it needs from us.

    ``where`` says whether the request may come in the clear, inside a
    session, both, or the way the handshake travels (FINISH).  A request
    that only exists inside a session but came in the clear is answered
    SessionRequired from SPDM 1.2 on (the code 1.2 introduced for exactly
    this; libspdm and DMTF's SPDM-Responder-Validator expect it) and
    UnexpectedRequest in 1.0/1.1, which have no such code; any other
    misplaced request is UnexpectedRequest.  ``since`` is the first SPDM
    version that defines the request: on a connection at an older version it
    is UnsupportedRequest (libspdm answers so; the code does not exist there).
    """

    message: type[M]
    handler: Callable[[Connection, M], bytes]
    needs: CapabilityFlags = CapabilityFlags(0)
    where: str = CLEAR
    since: SpdmVersion = SpdmVersion.V10
    carrier: bool = False  # CHUNK_*: carries another message, never enters or resets a transcript

    def run(self, conn: Connection, data: bytes) -> bytes:
        """Decode, apply the transcript resets the request causes, then handle it."""
        ctx = conn.negotiated.codec() if conn.negotiated is not None else NO_CONTEXT
        request = self.message.decode(data, ctx, padded=True)
        if not self.carrier:
            conn.transcript.begin(self.message.CODE, conn.current_session)
        return self.handler(conn, request)


def vendor_defined(conn: Connection, request: VendorDefinedRequest) -> bytes:
    """Pass a vendor-defined payload to the protocol registered for its (StandardID, VendorID).

    The response takes the request's form: the 1.4 large form (LargeReq ->
    LargeResp, 32-bit lengths) or the small one, as libspdm's responder
    mirrors the bit.  A LargeReq needs LARGE_RESP_CAP on both sides (else
    InvalidRequest, what libspdm answers; its unit tests check our flag).  A
    handler's answer over 64 KiB to a small-form request cannot be carried:
    DataTooLarge at 1.4 (InvalidRequest before), as for a large certificate
    chain asked for in the 16-bit form.

    Raises:
        RemoteProtocolError: UnsupportedRequest when no protocol is registered;
            InvalidRequest / DataTooLarge as above; whatever ProtocolError the
            handler raises (its code is answered).
    """
    handler = conn.vendor_handlers.get((request.standard_id, request.vendor_id))
    if handler is None:
        raise unsupported_request(
            RequestCode.VENDOR_DEFINED_REQUEST,
            f"no vendor protocol for StandardID 0x{request.standard_id:04x}, "
            f"VendorID {request.vendor_id.hex() or '-'}",
        )
    version = conn.session.version
    if request.large and not conn.session.both(CapabilityFlags.LARGE_RESP_CAP):
        raise invalid_request("a LargeReq VENDOR_DEFINED_REQUEST without LARGE_RESP_CAP on both sides")
    session = conn.current_session
    payload = handler(request.payload, None if session is None else session.session_id)
    if not request.large and len(payload) > MAX_SMALL_VENDOR_PAYLOAD:
        reason = f"a {len(payload)}-byte vendor answer needs the LargeResp form"
        if version >= SpdmVersion.V14:
            raise RemoteProtocolError(reason, error_code=SpdmErrorCode.DATA_TOO_LARGE)
        raise invalid_request(reason)
    response = VendorDefinedResponse(
        spdm_version=version,
        standard_id=request.standard_id,
        vendor_id=request.vendor_id,
        payload=payload,
        large=request.large,
    ).encode()
    conn.check_fits(len(response))
    return response


V11, V12, V13 = SpdmVersion.V11, SpdmVersion.V12, SpdmVersion.V13
EP_INFO_CAPS = CapabilityFlags.EP_INFO_CAP_NO_SIG | CapabilityFlags.EP_INFO_CAP_SIG

ROUTES: dict[int, Route[Any]] = {
    RequestCode.GET_VERSION: Route(GetVersion, vca.get_version),
    RequestCode.GET_CAPABILITIES: Route(GetCapabilities, vca.get_capabilities),
    RequestCode.NEGOTIATE_ALGORITHMS: Route(NegotiateAlgorithms, vca.negotiate_algorithms),
    # In an established session too, as libspdm's responder answers them (its requester's
    # libspdm_get_digest/libspdm_get_certificate take a session ID); they then stay out of B.
    RequestCode.GET_DIGESTS: Route(GetDigests, auth.get_digests, CapabilityFlags.CERT_CAP, EITHER),
    RequestCode.GET_CERTIFICATE: Route(
        GetCertificate, auth.get_certificate, CapabilityFlags.CERT_CAP, EITHER),
    RequestCode.CHALLENGE: Route(Challenge, auth.challenge, CapabilityFlags.CHAL_CAP),
    RequestCode.GET_MEASUREMENTS: Route(
        GetMeasurements, measurements.get_measurements, MEAS_CAPS, EITHER),
    RequestCode.VENDOR_DEFINED_REQUEST: Route(VendorDefinedRequest, vendor_defined, where=EITHER),
    RequestCode.KEY_EXCHANGE: Route(KeyExchange, secure.key_exchange, CapabilityFlags.KEY_EX_CAP, since=V11),
    RequestCode.FINISH: Route(Finish, secure.finish, CapabilityFlags.KEY_EX_CAP, HANDSHAKE, since=V11),
    RequestCode.PSK_EXCHANGE: Route(PskExchange, secure.psk_exchange, PSK_CAPS, since=V11),
    RequestCode.PSK_FINISH: Route(
        PskFinish, secure.psk_finish, CapabilityFlags.PSK_CAP_WITH_CONTEXT, SECURED, since=V11),
    RequestCode.HEARTBEAT: Route(Heartbeat, secure.heartbeat, CapabilityFlags.HBEAT_CAP, SECURED, since=V11),
    RequestCode.KEY_UPDATE: Route(
        KeyUpdate, secure.key_update, CapabilityFlags.KEY_UPD_CAP, SECURED, since=V11),
    RequestCode.END_SESSION: Route(EndSession, secure.end_session, SESSION_ANY, SECURED, since=V11),
    RequestCode.GET_ENCAPSULATED_REQUEST: Route(
        GetEncapsulatedRequest, encap.get_encapsulated_request, CapabilityFlags.ENCAP_CAP, EITHER, since=V11),
    RequestCode.DELIVER_ENCAPSULATED_RESPONSE: Route(
        DeliverEncapsulatedResponse, encap.deliver_encapsulated_response, CapabilityFlags.ENCAP_CAP,
        EITHER, since=V11),
    RequestCode.GET_ENDPOINT_INFO: Route(
        GetEndpointInfo, get_endpoint_info, EP_INFO_CAPS, EITHER, since=V13),
    RequestCode.GET_MEASUREMENT_EXTENSION_LOG: Route(
        GetMeasurementExtensionLog, get_measurement_extension_log, CapabilityFlags.MEL_CAP, EITHER,
        since=V13),
    RequestCode.GET_KEY_PAIR_INFO: Route(
        GetKeyPairInfo, get_key_pair_info, CapabilityFlags.GET_KEY_PAIR_INFO_CAP, EITHER, since=V13),
    RequestCode.SET_KEY_PAIR_INFO: Route(
        SetKeyPairInfo, set_key_pair_info, CapabilityFlags.SET_KEY_PAIR_INFO_CAP, EITHER, since=V13),
    RequestCode.GET_CSR: Route(GetCsr, provision.get_csr, CapabilityFlags.CSR_CAP, EITHER, since=V12),
    RequestCode.SET_CERTIFICATE: Route(
        SetCertificate, provision.set_certificate, CapabilityFlags.SET_CERT_CAP, EITHER, since=V12),
    RequestCode.CHUNK_GET: Route(ChunkGet, chunking.chunk_get, CapabilityFlags.CHUNK_CAP, EITHER,
                                  since=SpdmVersion.V12, carrier=True),
    RequestCode.CHUNK_SEND: Route(ChunkSend, chunking.chunk_send, CapabilityFlags.CHUNK_CAP, EITHER,
                                   since=SpdmVersion.V12, carrier=True),
    RequestCode.GET_SUPPORTED_EVENT_TYPES: Route(
        GetSupportedEventTypes, get_supported_event_types, CapabilityFlags.EVENT_CAP, SECURED, since=V13),
    RequestCode.SUBSCRIBE_EVENT_TYPES: Route(
        SubscribeEventTypes, subscribe_event_types, CapabilityFlags.EVENT_CAP, SECURED, since=V13),
}
"""The requests this responder implements; every other code is UnsupportedRequest."""
