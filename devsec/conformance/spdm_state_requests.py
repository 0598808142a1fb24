"""Every request DSP0274 1.0-1.3 defines, well formed, as data: the rows of the state matrix.

The state cases (:mod:`.spdm_state`, :mod:`.spdm_state_session`) send each
row in each state and judge the ERROR; a row says where its request may
travel (in the clear, inside a session, either) and which capability a
device must advertise to serve it, so a case can tell "not now" from "not
served".

Requests are built with the shared codec where it has the message, and by
hand (the layouts of DSP0274 1.3 Tables for GET_CSR, SET_CERTIFICATE, the
chunk, endpoint-info, event, MEL and key-pair requests) where devsec does not
implement the exchange.  Sizes a request carries (H, S, D) come from the
device's ALGORITHMS when there is one; before it, from devsec's first
preferences (SHA-384, ECDSA P-384, secp384r1): the device cannot judge a
size it has not negotiated, and the state check comes first anyway.

Left out on purpose: RESPOND_IF_READY (legal exactly while a response is held
back: :mod:`.spdm_not_ready` judges it), SEND_EVENT (the event notifier, the
responder, sends it) and SET_KEY_PAIR_INFO (its body names device-specific
key pairs, so no device-independent request is well formed).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable

from spdm.codec import CodecContext
from spdm.crypto import dhe_public_size
from spdm.messages import (
    PCI_SIG_STANDARD_ID,
    PCI_SIG_VENDOR_ID,
    Algorithms,
    Challenge,
    DeliverEncapsulatedResponse,
    EndSession,
    Finish,
    GetCertificate,
    GetDigests,
    GetEncapsulatedRequest,
    GetMeasurements,
    GetVersion,
    Heartbeat,
    KeyExchange,
    KeyUpdate,
    PskExchange,
    PskFinish,
    VendorDefinedRequest,
)
from spdm.messages.codes import AlgType, CapabilityFlags, DheGroup, RequestCode
from spdm.messages.opaque import encode_opaque, supported_versions_element
from spdm.record import record

from .requests import codec_context, get_capabilities, negotiate_algorithms

__all__ = ["CLEAR", "EITHER", "HANDSHAKE", "REQUESTS", "SECURED", "StateRequest", "defined_at", "sizes"]

F = CapabilityFlags
CLEAR = "in the clear"
SECURED = "inside a session"
EITHER = "either way"
HANDSHAKE = "as the handshake"
"""Where a request may travel (DSP0274 1.3 Table 4's session column; PROTOCOLS.md §3.11).
HANDSHAKE: FINISH, in the clear only when both sides set HANDSHAKE_IN_THE_CLEAR_CAP."""

PRE_NEGOTIATION = CodecContext(hash_size=48, signature_size=96, dhe_size=96)
"""H, S and D before ALGORITHMS: devsec's first preferences (SHA-384, P-384, secp384r1)."""

Build = Callable[[int, CodecContext], bytes]


@record(frozen=True)
class StateRequest:
    """One request of the matrix.

    Attributes:
        name: the request's name (the assertion says which request went wrong).
        code: its RequestResponseCode.
        since: the first SPDM version defining it.
        where: CLEAR, SECURED, EITHER or HANDSHAKE.
        needs: the capability flags of which the device must advertise one to
            serve it (none: every device serves it).
        build: (version, sizes) -> the request's bytes.
    """

    name: str
    code: int
    since: int
    where: str
    needs: CapabilityFlags
    build: Build

    def advertised(self, flags: int) -> bool:
        """Whether a device with CAPABILITIES ``flags`` claims to serve this request."""
        return not self.needs or bool(self.needs & flags)


def sizes(algs: Algorithms | None) -> CodecContext:
    """H, S and D of the device's ALGORITHMS (or :data:`PRE_NEGOTIATION` before one)."""
    if algs is None:
        return PRE_NEGOTIATION
    base = codec_context(algs)
    dhe = next((s.alg_supported for s in algs.alg_structs if s.alg_type == AlgType.DHE), 0)
    return CodecContext(hash_size=base.hash_size, signature_size=base.signature_size,
                        dhe_size=dhe_public_size(DheGroup(dhe)) if dhe else 96)


def _raw(code: int, tail: bytes = b"", param1: int = 0) -> Build:
    """A request devsec's codec does not hold: the header, then ``tail``."""
    return lambda v, c: bytes([v, code, param1, 0]) + tail


def _key_exchange(v: int, ctx: CodecContext) -> bytes:
    return KeyExchange(spdm_version=v, req_session_id=0xFFFE, random_data=os.urandom(32),
                       exchange_data=bytes(ctx.dhe_size),
                       opaque_data=encode_opaque(v, [supported_versions_element()])).encode(ctx)


def _psk_exchange(v: int, ctx: CodecContext) -> bytes:
    return PskExchange(spdm_version=v, req_session_id=0xFFFD, psk_hint=b"devsec",
                       requester_context=os.urandom(ctx.hash_size),
                       opaque_data=encode_opaque(v, [supported_versions_element()])).encode(ctx)


def _challenge(v: int, ctx: CodecContext) -> bytes:
    return Challenge(spdm_version=v, nonce=os.urandom(32),
                     requester_context=bytes(8) if v >= 0x13 else None).encode(ctx)


def _get_measurements(v: int, ctx: CodecContext) -> bytes:
    return GetMeasurements(spdm_version=v, requester_context=bytes(8) if v >= 0x13 else None).encode()


def _vendor_defined(v: int, ctx: CodecContext) -> bytes:
    return VendorDefinedRequest(spdm_version=v, standard_id=PCI_SIG_STANDARD_ID, vendor_id=PCI_SIG_VENDOR_ID,
                                payload=b"\x00\x00").encode()


def _deliver_encapsulated(v: int, ctx: CodecContext) -> bytes:
    return DeliverEncapsulatedResponse(spdm_version=v, request_id=1,
                                       encapsulated_response=bytes([v, 0x01, 0, 0])).encode()


def _set_certificate(v: int, ctx: CodecContext) -> bytes:
    # Param1 = slot 1; a certificate chain holding no certificate: Length, Reserved, RootHash.
    chain = struct.pack("<HH", 4 + ctx.hash_size, 0) + bytes(ctx.hash_size)
    return bytes([v, RequestCode.SET_CERTIFICATE, 1, 0]) + chain


def _chunk_send(v: int, ctx: CodecContext) -> bytes:
    # Param1 LAST_CHUNK, Handle 0; ChunkSeqNo 0, Reserved, ChunkSize, LargeMessageSize, the chunk.
    chunk = GetVersion().encode()
    fields = struct.pack("<HHII", 0, 0, len(chunk), len(chunk))
    return bytes([v, RequestCode.CHUNK_SEND, 1, 0]) + fields + chunk


R, NONE = RequestCode, F(0)
MEAS, EP_INFO = F.MEAS_CAP_NO_SIG | F.MEAS_CAP_SIG, F.EP_INFO_CAP_NO_SIG | F.EP_INFO_CAP_SIG
PSK, SESSIONS = F.PSK_CAP | F.PSK_CAP_WITH_CONTEXT, F.KEY_EX_CAP | F.PSK_CAP | F.PSK_CAP_WITH_CONTEXT

REQUESTS: tuple[StateRequest, ...] = (
    StateRequest("GET_DIGESTS", R.GET_DIGESTS, 0x10, EITHER, F.CERT_CAP,
                 lambda v, c: GetDigests(spdm_version=v).encode()),
    StateRequest("GET_VERSION", R.GET_VERSION, 0x10, CLEAR, NONE, lambda v, c: GetVersion().encode()),
    StateRequest("GET_CAPABILITIES", R.GET_CAPABILITIES, 0x10, CLEAR, NONE,
                 lambda v, c: get_capabilities(v).encode()),
    StateRequest("NEGOTIATE_ALGORITHMS", R.NEGOTIATE_ALGORITHMS, 0x10, CLEAR, NONE,
                 lambda v, c: negotiate_algorithms(v).encode()),
    StateRequest("GET_CERTIFICATE", R.GET_CERTIFICATE, 0x10, EITHER, F.CERT_CAP,
                 lambda v, c: GetCertificate(spdm_version=v, length=0x200).encode()),
    StateRequest("CHALLENGE", R.CHALLENGE, 0x10, CLEAR, F.CHAL_CAP, _challenge),
    StateRequest("GET_MEASUREMENTS", R.GET_MEASUREMENTS, 0x10, EITHER, MEAS, _get_measurements),
    StateRequest("VENDOR_DEFINED_REQUEST", R.VENDOR_DEFINED_REQUEST, 0x10, EITHER, NONE, _vendor_defined),
    StateRequest("KEY_EXCHANGE", R.KEY_EXCHANGE, 0x11, CLEAR, F.KEY_EX_CAP, _key_exchange),
    StateRequest("FINISH", R.FINISH, 0x11, HANDSHAKE, F.KEY_EX_CAP,
                 lambda v, c: Finish(spdm_version=v, requester_verify_data=bytes(c.hash_size)).encode(c)),
    StateRequest("PSK_EXCHANGE", R.PSK_EXCHANGE, 0x11, CLEAR, PSK, _psk_exchange),
    StateRequest("PSK_FINISH", R.PSK_FINISH, 0x11, SECURED, F.PSK_CAP_WITH_CONTEXT,
                 lambda v, c: PskFinish(spdm_version=v, requester_verify_data=bytes(c.hash_size)).encode(c)),
    StateRequest("HEARTBEAT", R.HEARTBEAT, 0x11, SECURED, F.HBEAT_CAP,
                 lambda v, c: Heartbeat(spdm_version=v).encode()),
    StateRequest("KEY_UPDATE", R.KEY_UPDATE, 0x11, SECURED, F.KEY_UPD_CAP,
                 lambda v, c: KeyUpdate(spdm_version=v, key_operation=1, tag=7).encode()),
    StateRequest("END_SESSION", R.END_SESSION, 0x11, SECURED, SESSIONS,
                 lambda v, c: EndSession(spdm_version=v).encode()),
    StateRequest("GET_ENCAPSULATED_REQUEST", R.GET_ENCAPSULATED_REQUEST, 0x11, EITHER, F.ENCAP_CAP,
                 lambda v, c: GetEncapsulatedRequest(spdm_version=v).encode()),
    StateRequest("DELIVER_ENCAPSULATED_RESPONSE", R.DELIVER_ENCAPSULATED_RESPONSE, 0x11, EITHER, F.ENCAP_CAP,
                 _deliver_encapsulated),
    StateRequest("GET_CSR", R.GET_CSR, 0x12, EITHER, F.CSR_CAP, _raw(R.GET_CSR, struct.pack("<HH", 0, 0))),
    StateRequest("SET_CERTIFICATE", R.SET_CERTIFICATE, 0x12, EITHER, F.SET_CERT_CAP, _set_certificate),
    StateRequest("CHUNK_SEND", R.CHUNK_SEND, 0x12, EITHER, F.CHUNK_CAP, _chunk_send),
    StateRequest("CHUNK_GET", R.CHUNK_GET, 0x12, EITHER, F.CHUNK_CAP,
                 _raw(R.CHUNK_GET, struct.pack("<H", 0))),
    StateRequest("GET_ENDPOINT_INFO", R.GET_ENDPOINT_INFO, 0x13, EITHER, EP_INFO,
                 _raw(R.GET_ENDPOINT_INFO, bytes(4), param1=1)),
    StateRequest("GET_SUPPORTED_EVENT_TYPES", R.GET_SUPPORTED_EVENT_TYPES, 0x13, EITHER, F.EVENT_CAP,
                 _raw(R.GET_SUPPORTED_EVENT_TYPES)),
    StateRequest("SUBSCRIBE_EVENT_TYPES", R.SUBSCRIBE_EVENT_TYPES, 0x13, EITHER, F.EVENT_CAP,
                 _raw(R.SUBSCRIBE_EVENT_TYPES)),
    StateRequest("GET_MEASUREMENT_EXTENSION_LOG", R.GET_MEASUREMENT_EXTENSION_LOG, 0x13, EITHER, F.MEL_CAP,
                 _raw(R.GET_MEASUREMENT_EXTENSION_LOG, struct.pack("<II", 0, 0x100))),
    StateRequest("GET_KEY_PAIR_INFO", R.GET_KEY_PAIR_INFO, 0x13, EITHER, F.GET_KEY_PAIR_INFO_CAP,
                 _raw(R.GET_KEY_PAIR_INFO, b"\x01")),
)
"""The matrix's rows, GET_DIGESTS first (the request a device most often answers too early)."""


def defined_at(version: int) -> tuple[StateRequest, ...]:
    """The rows a device speaking ``version`` knows."""
    return tuple(r for r in REQUESTS if r.since <= version)

