"""SPDM wire codec (DSP0274 1.0-1.3): one frozen dataclass per message, shared by both roles.

Find a message's layout in the module of its group: :mod:`.vca`, :mod:`.auth`,
:mod:`.measurements`, :mod:`.control` (and :mod:`.session` for secure
sessions).  Numbers live in :mod:`.codes`; the shared machinery in
:mod:`spdm.codec`.

A group's module is imported when one of its names (or, through
:data:`REQUEST_TYPES`/:data:`RESPONSE_TYPES`, one of its codes) is first used
(:mod:`spdm.lazy`): each message class is a dataclass whose methods CPython
compiles when the class is created, so a connection that only authenticates
should not pay for the session, event or provisioning messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..codec import NO_CONTEXT, CodecContext, Message
from ..errors import DecodeError
from ..lazy import LazyTypes, lazy_exports
from .codes import RequestCode, ResponseCode

if TYPE_CHECKING:
    from .auth import (
        NONCE_SIZE,
        REQUESTER_CONTEXT_SIZE,
        SLOT_SIZE_REQUESTED,
        Certificate,
        Challenge,
        ChallengeAuth,
        Digests,
        GetCertificate,
        GetDigests,
    )
    from .chunk import ChunkGet, ChunkResponse, ChunkSend, ChunkSendAck
    from .control import (
        PCI_SIG_STANDARD_ID,
        PCI_SIG_VENDOR_ID,
        ErrorResponse,
        RespondIfReady,
        ResponseNotReadyData,
        VendorDefinedRequest,
        VendorDefinedResponse,
    )
    from .endpoint import EndpointInfo, GetEndpointInfo
    from .event import (
        EventAck,
        GetSupportedEventTypes,
        SendEvent,
        SubscribeEventTypes,
        SubscribeEventTypesAck,
        SupportedEventTypes,
    )
    from .key_pair import GetKeyPairInfo, KeyPairInfo, SetKeyPairInfo, SetKeyPairInfoAck
    from .measurements import GetMeasurements, MeasurementBlock, Measurements
    from .mel import GetMeasurementExtensionLog, MeasurementExtensionLog
    from .provision import Csr, GetCsr, SetCertificate, SetCertificateRsp
    from .session import (
        DeliverEncapsulatedResponse,
        EncapsulatedRequest,
        EncapsulatedResponseAck,
        EndSession,
        EndSessionAck,
        Finish,
        FinishRsp,
        GetEncapsulatedRequest,
        Heartbeat,
        HeartbeatAck,
        KeyExchange,
        KeyExchangeRsp,
        KeyUpdate,
        KeyUpdateAck,
        PskExchange,
        PskExchangeRsp,
        PskFinish,
        PskFinishRsp,
    )
    from .vca import (
        Algorithms,
        AlgStruct,
        Capabilities,
        GetCapabilities,
        GetVersion,
        NegotiateAlgorithms,
        Version,
    )

_HOMES = {
    "NONCE_SIZE": ".auth",
    "REQUESTER_CONTEXT_SIZE": ".auth",
    "SLOT_SIZE_REQUESTED": ".auth",
    "Certificate": ".auth",
    "Challenge": ".auth",
    "ChallengeAuth": ".auth",
    "Digests": ".auth",
    "GetCertificate": ".auth",
    "GetDigests": ".auth",
    "ChunkGet": ".chunk",
    "ChunkResponse": ".chunk",
    "ChunkSend": ".chunk",
    "ChunkSendAck": ".chunk",
    "PCI_SIG_STANDARD_ID": ".control",
    "PCI_SIG_VENDOR_ID": ".control",
    "ErrorResponse": ".control",
    "RespondIfReady": ".control",
    "ResponseNotReadyData": ".control",
    "VendorDefinedRequest": ".control",
    "VendorDefinedResponse": ".control",
    "EndpointInfo": ".endpoint",
    "GetEndpointInfo": ".endpoint",
    "EventAck": ".event",
    "GetSupportedEventTypes": ".event",
    "SendEvent": ".event",
    "SubscribeEventTypes": ".event",
    "SubscribeEventTypesAck": ".event",
    "SupportedEventTypes": ".event",
    "GetKeyPairInfo": ".key_pair",
    "KeyPairInfo": ".key_pair",
    "SetKeyPairInfo": ".key_pair",
    "SetKeyPairInfoAck": ".key_pair",
    "GetMeasurements": ".measurements",
    "MeasurementBlock": ".measurements",
    "Measurements": ".measurements",
    "GetMeasurementExtensionLog": ".mel",
    "MeasurementExtensionLog": ".mel",
    "Csr": ".provision",
    "GetCsr": ".provision",
    "SetCertificate": ".provision",
    "SetCertificateRsp": ".provision",
    "DeliverEncapsulatedResponse": ".session",
    "EncapsulatedRequest": ".session",
    "EncapsulatedResponseAck": ".session",
    "EndSession": ".session",
    "EndSessionAck": ".session",
    "Finish": ".session",
    "FinishRsp": ".session",
    "GetEncapsulatedRequest": ".session",
    "Heartbeat": ".session",
    "HeartbeatAck": ".session",
    "KeyExchange": ".session",
    "KeyExchangeRsp": ".session",
    "KeyUpdate": ".session",
    "KeyUpdateAck": ".session",
    "PskExchange": ".session",
    "PskExchangeRsp": ".session",
    "PskFinish": ".session",
    "PskFinishRsp": ".session",
    "Algorithms": ".vca",
    "AlgStruct": ".vca",
    "Capabilities": ".vca",
    "GetCapabilities": ".vca",
    "GetVersion": ".vca",
    "NegotiateAlgorithms": ".vca",
    "Version": ".vca",
}
"""Public name -> the group module defining it (imported on first use)."""

REQUEST_TYPES: Mapping[int, type[Message]] = LazyTypes(__name__, {
    RequestCode.GET_VERSION: "GetVersion",
    RequestCode.GET_CAPABILITIES: "GetCapabilities",
    RequestCode.NEGOTIATE_ALGORITHMS: "NegotiateAlgorithms",
    RequestCode.GET_DIGESTS: "GetDigests",
    RequestCode.GET_CERTIFICATE: "GetCertificate",
    RequestCode.CHALLENGE: "Challenge",
    RequestCode.GET_MEASUREMENTS: "GetMeasurements",
    RequestCode.RESPOND_IF_READY: "RespondIfReady",
    RequestCode.VENDOR_DEFINED_REQUEST: "VendorDefinedRequest",
    RequestCode.KEY_EXCHANGE: "KeyExchange",
    RequestCode.FINISH: "Finish",
    RequestCode.PSK_EXCHANGE: "PskExchange",
    RequestCode.PSK_FINISH: "PskFinish",
    RequestCode.HEARTBEAT: "Heartbeat",
    RequestCode.KEY_UPDATE: "KeyUpdate",
    RequestCode.END_SESSION: "EndSession",
    RequestCode.GET_ENCAPSULATED_REQUEST: "GetEncapsulatedRequest",
    RequestCode.DELIVER_ENCAPSULATED_RESPONSE: "DeliverEncapsulatedResponse",
    RequestCode.GET_ENDPOINT_INFO: "GetEndpointInfo",
    RequestCode.GET_MEASUREMENT_EXTENSION_LOG: "GetMeasurementExtensionLog",
    RequestCode.GET_KEY_PAIR_INFO: "GetKeyPairInfo",
    RequestCode.SET_KEY_PAIR_INFO: "SetKeyPairInfo",
    RequestCode.GET_CSR: "GetCsr",
    RequestCode.SET_CERTIFICATE: "SetCertificate",
    RequestCode.CHUNK_SEND: "ChunkSend",
    RequestCode.CHUNK_GET: "ChunkGet",
    RequestCode.GET_SUPPORTED_EVENT_TYPES: "GetSupportedEventTypes",
    RequestCode.SUBSCRIBE_EVENT_TYPES: "SubscribeEventTypes",
    RequestCode.SEND_EVENT: "SendEvent",
})
"""Request code -> message class, for the requests this codec knows (its group module loads on
first lookup: a connection that never opens a session never imports the session messages)."""

RESPONSE_TYPES: Mapping[int, type[Message]] = LazyTypes(__name__, {
    ResponseCode.VERSION: "Version",
    ResponseCode.CAPABILITIES: "Capabilities",
    ResponseCode.ALGORITHMS: "Algorithms",
    ResponseCode.DIGESTS: "Digests",
    ResponseCode.CERTIFICATE: "Certificate",
    ResponseCode.CHALLENGE_AUTH: "ChallengeAuth",
    ResponseCode.MEASUREMENTS: "Measurements",
    ResponseCode.ERROR: "ErrorResponse",
    ResponseCode.VENDOR_DEFINED_RESPONSE: "VendorDefinedResponse",
    ResponseCode.KEY_EXCHANGE_RSP: "KeyExchangeRsp",
    ResponseCode.FINISH_RSP: "FinishRsp",
    ResponseCode.PSK_EXCHANGE_RSP: "PskExchangeRsp",
    ResponseCode.PSK_FINISH_RSP: "PskFinishRsp",
    ResponseCode.HEARTBEAT_ACK: "HeartbeatAck",
    ResponseCode.KEY_UPDATE_ACK: "KeyUpdateAck",
    ResponseCode.END_SESSION_ACK: "EndSessionAck",
    ResponseCode.ENCAPSULATED_REQUEST: "EncapsulatedRequest",
    ResponseCode.ENCAPSULATED_RESPONSE_ACK: "EncapsulatedResponseAck",
    ResponseCode.ENDPOINT_INFO: "EndpointInfo",
    ResponseCode.MEASUREMENT_EXTENSION_LOG: "MeasurementExtensionLog",
    ResponseCode.KEY_PAIR_INFO: "KeyPairInfo",
    ResponseCode.SET_KEY_PAIR_INFO_ACK: "SetKeyPairInfoAck",
    ResponseCode.CSR: "Csr",
    ResponseCode.SET_CERTIFICATE_RSP: "SetCertificateRsp",
    ResponseCode.CHUNK_SEND_ACK: "ChunkSendAck",
    ResponseCode.CHUNK_RESPONSE: "ChunkResponse",
    ResponseCode.SUPPORTED_EVENT_TYPES: "SupportedEventTypes",
    ResponseCode.SUBSCRIBE_EVENT_TYPES_ACK: "SubscribeEventTypesAck",
    ResponseCode.EVENT_ACK: "EventAck",
})
"""Response code -> message class (loaded on first lookup, as :data:`REQUEST_TYPES`)."""


def peek_code(data: bytes) -> tuple[int, int]:
    """(SPDMVersion, RequestResponseCode) of a message, before decoding it.

    Raises:
        DecodeError: fewer than the 4 header bytes.
    """
    if len(data) < 4:
        raise DecodeError(f"SPDM message of {len(data)} byte(s) is shorter than its 4-byte header")
    return data[0], data[1]


__all__ = [
    "NO_CONTEXT", "NONCE_SIZE", "REQUESTER_CONTEXT_SIZE", "REQUEST_TYPES", "RESPONSE_TYPES",
    "SLOT_SIZE_REQUESTED",
    "AlgStruct", "Algorithms", "Capabilities", "Certificate", "Challenge", "ChallengeAuth",
    "CodecContext", "DeliverEncapsulatedResponse", "Digests", "EncapsulatedRequest",
    "EncapsulatedResponseAck", "EndSession", "EndSessionAck", "Finish", "FinishRsp",
    "GetEncapsulatedRequest", "Heartbeat", "HeartbeatAck", "KeyExchange", "KeyExchangeRsp",
    "KeyUpdate", "KeyUpdateAck", "PskExchange", "PskExchangeRsp", "PskFinish", "PskFinishRsp",
    "ErrorResponse", "GetCapabilities", "GetCertificate", "GetDigests",
    "GetMeasurements", "GetVersion", "MeasurementBlock", "Measurements", "Message",
    "NegotiateAlgorithms", "RespondIfReady", "ResponseNotReadyData", "VendorDefinedRequest",
    "PCI_SIG_STANDARD_ID", "PCI_SIG_VENDOR_ID",
    "ChunkGet", "ChunkResponse", "ChunkSend", "ChunkSendAck",
    "VendorDefinedResponse", "Version", "peek_code",
    "EndpointInfo", "GetEndpointInfo",
    "GetKeyPairInfo", "KeyPairInfo", "SetKeyPairInfo", "SetKeyPairInfoAck",
    "GetMeasurementExtensionLog", "MeasurementExtensionLog",
    "Csr", "GetCsr", "SetCertificate", "SetCertificateRsp",
    "EventAck", "GetSupportedEventTypes", "SendEvent", "SubscribeEventTypes", "SubscribeEventTypesAck",
    "SupportedEventTypes",
]

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
