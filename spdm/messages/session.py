"""Session messages: KEY_EXCHANGE, FINISH, PSK_*, HEARTBEAT, KEY_UPDATE, END_SESSION, encapsulation.

Layouts per DSP0274 1.3 §10.16-10.23 (PROTOCOLS.md §3.8-3.11).  Exchange
data, summary hash, signatures and verify data are sized by the
:class:`CodecContext`; whether verify data rides in KEY_EXCHANGE_RSP or
FINISH_RSP follows HANDSHAKE_IN_THE_CLEAR.

Encapsulated messages carry a whole inner SPDM message as their tail.  Over
DOE that tail may end in the object's zero padding; the inner message is
decoded with ``padded=True``, which strips it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..codec import MAX_OPAQUE_SIZE, Message, declares_structs
from ..errors import LocalProtocolError
from ..record import record
from .codes import RequestCode, ResponseCode

__all__ = [
    "RANDOM_DATA_SIZE",
    "DeliverEncapsulatedResponse",
    "EncapsulatedRequest",
    "EncapsulatedResponseAck",
    "EndSession",
    "EndSessionAck",
    "Finish",
    "FinishRsp",
    "GetEncapsulatedRequest",
    "Heartbeat",
    "HeartbeatAck",
    "KeyExchange",
    "KeyExchangeRsp",
    "KeyUpdate",
    "KeyUpdateAck",
    "PskExchange",
    "PskExchangeRsp",
    "PskFinish",
    "PskFinishRsp",
]

RANDOM_DATA_SIZE = 32


# --- KEY_EXCHANGE / KEY_EXCHANGE_RSP (DSP0274 1.3 Tables 64-66) -----------------------------


@record(frozen=True)
class KeyExchange(Message):
    """KEY_EXCHANGE: the requester's DHE share and session-ID half."""

    CODE: ClassVar[int] = RequestCode.KEY_EXCHANGE

    measurement_summary_hash_type: int = 0
    slot_id: int = 0
    req_session_id: int = 0
    session_policy: int = 0
    random_data: bytes = bytes(RANDOM_DATA_SIZE)
    exchange_data: bytes = b""
    opaque_data: bytes = b""


@record(frozen=True)
class KeyExchangeRsp(Message):
    """KEY_EXCHANGE_RSP: the responder's DHE share, signature and (usually) verify data."""

    CODE: ClassVar[int] = ResponseCode.KEY_EXCHANGE_RSP

    heartbeat_period: int = 0
    rsp_session_id: int = 0
    mut_auth_requested: int = 0
    req_slot_id: int = 0
    random_data: bytes = bytes(RANDOM_DATA_SIZE)
    exchange_data: bytes = b""
    measurement_summary_hash: bytes = b""
    opaque_data: bytes = b""
    signature: bytes = b""
    responder_verify_data: bytes = b""


# --- FINISH / FINISH_RSP (DSP0274 1.3 Tables 67-68) -----------------------------------------


@record(frozen=True)
class _Opaque14(Message):
    """A message with the 1.4 opaque field after its header (``opaque_data`` stays b"" before 1.4)."""

    opaque_data: bytes = b""

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        opaque = fields.pop("opaque")
        fields["opaque_data"] = b"" if opaque is None else opaque["opaque_data"]
        return fields

    def _to_fields(self) -> dict[str, Any]:
        fields = super()._to_fields()
        opaque = fields.pop("opaque_data")
        if opaque and self.spdm_version < 0x14:
            raise LocalProtocolError(f"{type(self).__name__} has no opaque data before SPDM 1.4")
        fields["opaque"] = {"opaque_data": opaque}
        return fields


@record(frozen=True)
class Finish(_Opaque14):
    """FINISH: ``attributes`` b0 = a requester signature is included (mutual auth)."""

    CODE: ClassVar[int] = RequestCode.FINISH

    attributes: int = 0
    req_slot_id: int = 0
    signature: bytes | None = None
    requester_verify_data: bytes = b""


@record(frozen=True)
class FinishRsp(_Opaque14):
    """FINISH_RSP: (1.4 opaque data and) verify data only when the handshake ran in the clear."""

    CODE: ClassVar[int] = ResponseCode.FINISH_RSP

    responder_verify_data: bytes = b""


# --- PSK_EXCHANGE / PSK_FINISH (DSP0274 1.3 Tables 69-72) -----------------------------------


@record(frozen=True)
class PskExchange(Message):
    """PSK_EXCHANGE: PSK hint, requester context and opaque data."""

    CODE: ClassVar[int] = RequestCode.PSK_EXCHANGE

    measurement_summary_hash_type: int = 0
    session_policy: int = 0
    req_session_id: int = 0
    psk_hint: bytes = b""
    requester_context: bytes = b""
    opaque_data: bytes = b""


@record(frozen=True)
class PskExchangeRsp(Message):
    """PSK_EXCHANGE_RSP: responder context, opaque data and verify data (always)."""

    CODE: ClassVar[int] = ResponseCode.PSK_EXCHANGE_RSP

    heartbeat_period: int = 0
    rsp_session_id: int = 0
    measurement_summary_hash: bytes = b""
    responder_context: bytes = b""
    opaque_data: bytes = b""
    responder_verify_data: bytes = b""


@record(frozen=True)
class PskFinish(_Opaque14):
    """PSK_FINISH: (1.4 opaque data and) the requester's verify data."""

    CODE: ClassVar[int] = RequestCode.PSK_FINISH

    requester_verify_data: bytes = b""


@record(frozen=True)
class PskFinishRsp(_Opaque14):
    """PSK_FINISH_RSP: header only (plus the opaque data in 1.4)."""

    CODE: ClassVar[int] = ResponseCode.PSK_FINISH_RSP


# --- HEARTBEAT, KEY_UPDATE, END_SESSION (DSP0274 1.3 Tables 73-78) --------------------------


@record(frozen=True)
class Heartbeat(Message):
    """HEARTBEAT: header only."""

    CODE: ClassVar[int] = RequestCode.HEARTBEAT
    HEADER_ONLY = (None, None)


@record(frozen=True)
class HeartbeatAck(Message):
    """HEARTBEAT_ACK: header only."""

    CODE: ClassVar[int] = ResponseCode.HEARTBEAT_ACK
    HEADER_ONLY = (None, None)


@record(frozen=True)
class KeyUpdate(Message):
    """KEY_UPDATE: ``key_operation`` 1 UpdateKey, 2 UpdateAllKeys, 3 VerifyNewKey; ``tag`` echoed."""

    CODE: ClassVar[int] = RequestCode.KEY_UPDATE
    HEADER_ONLY = ("key_operation", "tag")

    key_operation: int = 0
    tag: int = 0


@record(frozen=True)
class KeyUpdateAck(Message):
    """KEY_UPDATE_ACK: echoes the request's operation and tag."""

    CODE: ClassVar[int] = ResponseCode.KEY_UPDATE_ACK
    HEADER_ONLY = ("key_operation", "tag")

    key_operation: int = 0
    tag: int = 0


@record(frozen=True)
class EndSession(Message):
    """END_SESSION: ``attributes`` b0 = NegotiatedStateClearingIndicator."""

    CODE: ClassVar[int] = RequestCode.END_SESSION
    HEADER_ONLY = ("attributes", None)

    attributes: int = 0


@record(frozen=True)
class EndSessionAck(Message):
    """END_SESSION_ACK: header only."""

    CODE: ClassVar[int] = ResponseCode.END_SESSION_ACK
    HEADER_ONLY = (None, None)


# --- Encapsulated requests (DSP0274 1.3 Tables 79-83) ---------------------------------------


@record(frozen=True)
class GetEncapsulatedRequest(Message):
    """GET_ENCAPSULATED_REQUEST: header only."""

    CODE: ClassVar[int] = RequestCode.GET_ENCAPSULATED_REQUEST
    HEADER_ONLY = (None, None)


@record(frozen=True)
class EncapsulatedRequest(Message):
    """ENCAPSULATED_REQUEST: a request of the responder's for the requester to answer."""

    CODE: ClassVar[int] = ResponseCode.ENCAPSULATED_REQUEST

    request_id: int = 0
    encapsulated_request: bytes = b""


@record(frozen=True)
class DeliverEncapsulatedResponse(Message):
    """DELIVER_ENCAPSULATED_RESPONSE: the requester's answer to an encapsulated request."""

    CODE: ClassVar[int] = RequestCode.DELIVER_ENCAPSULATED_RESPONSE

    request_id: int = 0
    encapsulated_response: bytes = b""


@record(frozen=True)
class EncapsulatedResponseAck(Message):
    """ENCAPSULATED_RESPONSE_ACK: the next encapsulated request, or the end of the flow.

    ``payload_type``: 0 no request follows, 1 a request follows, 2 the tail is
    the ReqSlotID for FINISH.  ``ack_request_id`` exists from 1.2.
    """

    CODE: ClassVar[int] = ResponseCode.ENCAPSULATED_RESPONSE_ACK

    request_id: int = 0
    payload_type: int = 0
    ack_request_id: int | None = None
    encapsulated_request: bytes = b""


@declares_structs(__name__)
def _declare_structs() -> None:
    """These messages' construct declarations (their wire format, which any ``struct`` fast path
    above follows), made when a ``STRUCT`` is first asked for (:func:`spdm.codec.declares_structs`)."""
    from construct import (
        Bytes,
        Check,
        GreedyBytes,
        If,
        Int8ul,
        Int16ul,
        Padding,
        Rebuild,
        Struct,
        len_,
        this,
    )

    from ..schema import header, low_nibble, opaque_data

    _opaque_14 = "opaque" / If(this.spdm_version >= 0x14, Struct(*opaque_data()))
    """OpaqueDataLength + OpaqueData right after the header: FINISH, FINISH_RSP, PSK_FINISH and
    PSK_FINISH_RSP carry it from 1.4 on (PROTOCOLS.md §3.9/3.10; spdm14-p384 sends ``00 00``)."""

    KeyExchange.STRUCT = Struct(
        *header(RequestCode.KEY_EXCHANGE, "measurement_summary_hash_type", "slot_id"),
        "req_session_id" / Int16ul,
        "session_policy" / Int8ul,
        Padding(1),
        "random_data" / Bytes(RANDOM_DATA_SIZE),
        "exchange_data" / Bytes(this._params.D),
        *opaque_data(),
    )
    KeyExchangeRsp.STRUCT = Struct(
        *header(ResponseCode.KEY_EXCHANGE_RSP, "heartbeat_period"),
        "rsp_session_id" / Int16ul,
        "mut_auth_requested" / Int8ul,
        "req_slot_id" / low_nibble,
        "random_data" / Bytes(RANDOM_DATA_SIZE),
        "exchange_data" / Bytes(this._params.D_RSP),  # a 1.4 KEM's ciphertext differs in size
        "measurement_summary_hash" / Bytes(this._params.MSH),
        *opaque_data(),
        "signature" / Bytes(this._params.S),
        "responder_verify_data" / Bytes(this._params.KE_VD),
    )
    Finish.STRUCT = Struct(
        *header(RequestCode.FINISH, "attributes", "req_slot_id"),
        _opaque_14,
        "signature" / If((this.attributes & 1) == 1, Bytes(this._params.SREQ)),
        "requester_verify_data" / Bytes(this._params.H),
    )
    FinishRsp.STRUCT = Struct(
        *header(ResponseCode.FINISH_RSP),
        _opaque_14,
        "responder_verify_data" / Bytes(this._params.FIN_VD),
    )
    PskExchange.STRUCT = Struct(
        *header(RequestCode.PSK_EXCHANGE, "measurement_summary_hash_type", "session_policy"),
        "req_session_id" / Int16ul,
        "_psk_hint_length" / Rebuild(Int16ul, len_(this.psk_hint)),
        "_requester_context_length" / Rebuild(Int16ul, len_(this.requester_context)),
        "_opaque_length" / Rebuild(Int16ul, len_(this.opaque_data)),
        Check(this._opaque_length <= MAX_OPAQUE_SIZE),
        "psk_hint" / Bytes(this._psk_hint_length),
        "requester_context" / Bytes(this._requester_context_length),
        "opaque_data" / Bytes(this._opaque_length),
    )
    PskExchangeRsp.STRUCT = Struct(
        *header(ResponseCode.PSK_EXCHANGE_RSP, "heartbeat_period"),
        "rsp_session_id" / Int16ul,
        Padding(2),
        "_responder_context_length" / Rebuild(Int16ul, len_(this.responder_context)),
        "_opaque_length" / Rebuild(Int16ul, len_(this.opaque_data)),
        Check(this._opaque_length <= MAX_OPAQUE_SIZE),
        "measurement_summary_hash" / Bytes(this._params.MSH),
        "responder_context" / Bytes(this._responder_context_length),
        "opaque_data" / Bytes(this._opaque_length),
        "responder_verify_data" / Bytes(this._params.H),
    )
    PskFinish.STRUCT = Struct(
        *header(RequestCode.PSK_FINISH),
        _opaque_14,
        "requester_verify_data" / Bytes(this._params.H),
    )
    PskFinishRsp.STRUCT = Struct(*header(ResponseCode.PSK_FINISH_RSP), _opaque_14)
    EncapsulatedRequest.STRUCT = Struct(
        *header(ResponseCode.ENCAPSULATED_REQUEST, "request_id"),
        "encapsulated_request" / GreedyBytes,
    )
    DeliverEncapsulatedResponse.STRUCT = Struct(
        *header(RequestCode.DELIVER_ENCAPSULATED_RESPONSE, "request_id"),
        "encapsulated_response" / GreedyBytes,
    )
    EncapsulatedResponseAck.STRUCT = Struct(
        *header(ResponseCode.ENCAPSULATED_RESPONSE_ACK, "request_id", "payload_type"),
        "ack_request_id" / If(this.spdm_version >= 0x12, Int8ul),
        If(this.spdm_version >= 0x12, Padding(3)),
        "encapsulated_request" / GreedyBytes,
    )
