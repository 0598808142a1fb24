"""SPDM wire codec (DSP0274 1.0-1.3): one frozen dataclass per message, shared by both roles.

Find a message's layout in the module of its group: :mod:`.vca`, :mod:`.auth`,
:mod:`.measurements`, :mod:`.control` (and :mod:`.session` for secure
sessions).  Numbers live in :mod:`.codes`; the shared machinery in
:mod:`spdm.codec`.
"""

from __future__ import annotations

from ..codec import NO_CONTEXT, CodecContext, Message
from ..errors import DecodeError
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

REQUEST_TYPES: dict[int, type[Message]] = {
    cls.CODE: cls
    for cls in (
        GetVersion, GetCapabilities, NegotiateAlgorithms, GetDigests, GetCertificate,
        Challenge, GetMeasurements, RespondIfReady, VendorDefinedRequest,
        KeyExchange, Finish, PskExchange, PskFinish, Heartbeat, KeyUpdate, EndSession,
        GetEncapsulatedRequest, DeliverEncapsulatedResponse,
        GetEndpointInfo, GetMeasurementExtensionLog, GetKeyPairInfo, SetKeyPairInfo,
        GetCsr, SetCertificate,
        ChunkSend, ChunkGet,
        GetSupportedEventTypes, SubscribeEventTypes, SendEvent,
    )
}
"""Request code -> message class, for the requests this codec knows."""

RESPONSE_TYPES: dict[int, type[Message]] = {
    cls.CODE: cls
    for cls in (
        Version, Capabilities, Algorithms, Digests, Certificate, ChallengeAuth,
        Measurements, ErrorResponse, VendorDefinedResponse,
        KeyExchangeRsp, FinishRsp, PskExchangeRsp, PskFinishRsp, HeartbeatAck, KeyUpdateAck,
        EndSessionAck, EncapsulatedRequest, EncapsulatedResponseAck,
        EndpointInfo, MeasurementExtensionLog, KeyPairInfo, SetKeyPairInfoAck,
        Csr, SetCertificateRsp,
        ChunkSendAck, ChunkResponse,
        SupportedEventTypes, SubscribeEventTypesAck, EventAck,
    )
}
"""Response code -> message class."""


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
