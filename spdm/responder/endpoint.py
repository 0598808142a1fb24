"""Responder side of the SPDM 1.3 endpoint messages: ENDPOINT_INFO, the MEL, key pair info.

The data comes from the backend's :class:`~spdm.device_endpoint.EndpointBackend`
side; a backend without it answers these requests UnsupportedRequest (as
libspdm does when no endpoint-info callback is registered).  The checks
follow libspdm's responder (``libspdm_rsp_endpoint_info.c`` and its MEL and
key-pair siblings).

ENDPOINT_INFO is signed over IL1 = A ‖ GET_ENDPOINT_INFO ‖ ENDPOINT_INFO
without the signature (only the current exchange: libspdm empties its
message_e after each answer), in a session as out of one; the reference
capture verifies exactly this.
"""

from __future__ import annotations

import logging

from ..codec import CodecContext
from ..device_endpoint import EndpointBackend
from ..messages import NONCE_SIZE
from ..messages.codes import CapabilityFlags, RequestCode
from ..messages.endpoint import EndpointInfo, GetEndpointInfo
from ..messages.key_pair import GetKeyPairInfo, KeyPairInfo, SetKeyPairInfo, SetKeyPairInfoAck
from ..messages.mel import GetMeasurementExtensionLog, MeasurementExtensionLog
from ._connection import Connection, invalid_request, unsupported_request

__all__ = [
    "ENDPOINT_INFO_CONTEXT",
    "MEL_HEADER_SIZE",
    "get_endpoint_info",
    "get_key_pair_info",
    "get_measurement_extension_log",
    "set_key_pair_info",
]

logger = logging.getLogger(__name__)

ENDPOINT_INFO_CONTEXT = "responder-endpoint_info signing"
MEL_HEADER_SIZE = 12
"""MEASUREMENT_EXTENSION_LOG before its portion: header, PortionLength, RemainderLength."""
PROVISIONED_KEY_SLOT = 0xF


def _backend(conn: Connection, code: int) -> EndpointBackend:
    backend = conn.backend
    if not isinstance(backend, EndpointBackend):
        raise unsupported_request(code, "the device keeps no endpoint data")
    return backend


def get_endpoint_info(conn: Connection, request: GetEndpointInfo) -> bytes:
    """Answer ENDPOINT_INFO, signed with the named slot's key when asked.

    Raises:
        RemoteProtocolError: InvalidRequest for an unknown subcode, the
            provisioned-key slot 0xF, or an unprovisioned slot;
            UnsupportedRequest for a signature without EP_INFO_CAP_SIG or a
            device with no endpoint data of that subcode.
    """
    backend = _backend(conn, RequestCode.GET_ENDPOINT_INFO)
    negotiated = conn.session
    ep_info = backend.endpoint_info(request.subcode)
    if ep_info is None:
        raise invalid_request(f"no endpoint information of subcode {request.subcode}")
    signed = request.signature_requested
    slot_id = request.slot_id if signed else 0
    if signed:
        if not conn.responder_flags & CapabilityFlags.EP_INFO_CAP_SIG:
            raise unsupported_request(RequestCode.GET_ENDPOINT_INFO,
                                      "a signature was requested but EP_INFO_CAP has no signature")
        if slot_id == PROVISIONED_KEY_SLOT:
            raise invalid_request("the device has no provisioned public key (slot 0xF)")
        conn.slot_chain(slot_id, signing_for=RequestCode.GET_ENDPOINT_INFO)
    size = negotiated.signature_size
    ctx = CodecContext(signature_size=size, signed=signed)
    response = EndpointInfo(
        spdm_version=negotiated.version, slot_id=slot_id,
        nonce=conn.rng(NONCE_SIZE) if signed else None, ep_info=ep_info,
        signature=bytes(size) if signed else b"",
    ).encode(ctx)
    conn.check_fits(len(response))
    if not signed:
        return response
    unsigned = response[:-size]
    il1 = bytes(conn.transcript.a) + request.raw + unsigned
    signature = conn.sign(slot_id, ENDPOINT_INFO_CONTEXT, il1)
    logger.debug("signed ENDPOINT_INFO (subcode %d, slot %d)", request.subcode, slot_id)
    return unsigned + signature


def get_measurement_extension_log(conn: Connection, request: GetMeasurementExtensionLog) -> bytes:
    """Answer one portion of the MEL: as much as asked, left, and both transfer sizes allow.

    Raises:
        RemoteProtocolError: InvalidRequest for an offset past the end of the
            MEL (an offset equal to its length, of an empty MEL included, gets
            an empty portion: nothing remains).
    """
    backend = _backend(conn, RequestCode.GET_MEASUREMENT_EXTENSION_LOG)
    mel = backend.measurement_extension_log()
    if request.offset > len(mel):
        raise invalid_request(f"offset {request.offset} is past the end of the {len(mel)}-byte MEL")
    limits = [request.length, len(mel) - request.offset, conn.config.data_transfer_size - MEL_HEADER_SIZE]
    requester_dts = conn.requester_sizes[0]
    if requester_dts:
        limits.append(requester_dts - MEL_HEADER_SIZE)
    portion = mel[request.offset:request.offset + max(0, min(limits))]
    response = MeasurementExtensionLog(
        spdm_version=conn.session.version, portion=portion,
        remainder_length=len(mel) - request.offset - len(portion),
    ).encode()
    conn.check_fits(len(response))
    return response


def get_key_pair_info(conn: Connection, request: GetKeyPairInfo) -> bytes:
    """Answer KEY_PAIR_INFO for one key pair.

    Raises:
        RemoteProtocolError: InvalidRequest for KeyPairID 0 or past TotalKeyPairs.
    """
    pairs = _backend(conn, RequestCode.GET_KEY_PAIR_INFO).key_pairs()
    if not 1 <= request.key_pair_id <= len(pairs):
        raise invalid_request(f"no key pair {request.key_pair_id} (the device has {len(pairs)})")
    pair = pairs[request.key_pair_id - 1]
    response = KeyPairInfo(
        spdm_version=conn.session.version, total_key_pairs=len(pairs), key_pair_id=pair.key_pair_id,
        capabilities=pair.capabilities, key_usage_capabilities=pair.key_usage_capabilities,
        current_key_usage=pair.current_key_usage, asym_algo_capabilities=pair.asym_algo_capabilities,
        current_asym_algo=pair.current_asym_algo, assoc_cert_slot_mask=pair.assoc_cert_slot_mask,
        public_key_info=pair.public_key_info, pqc_asym_algo_capabilities=pair.pqc_asym_algo_capabilities,
        current_pqc_asym_algo=pair.current_pqc_asym_algo,
    ).encode()
    conn.check_fits(len(response))
    return response


def set_key_pair_info(conn: Connection, request: SetKeyPairInfo) -> bytes:
    """Apply SET_KEY_PAIR_INFO and acknowledge it.

    Raises:
        RemoteProtocolError: InvalidRequest when the device refuses the change.
    """
    backend = _backend(conn, RequestCode.SET_KEY_PAIR_INFO)
    try:
        backend.set_key_pair(request.operation, request.key_pair_id, request.desired_key_usage or 0,
                             request.desired_asym_algo or 0, request.desired_assoc_cert_slot_mask or 0,
                             request.desired_pqc_asym_algo or 0)
    except ValueError as exc:
        raise invalid_request(str(exc)) from exc
    return SetKeyPairInfoAck(spdm_version=conn.session.version).encode()

