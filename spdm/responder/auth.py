"""Responder side of authentication: GET_DIGESTS, GET_CERTIFICATE, CHALLENGE.

Certificate chains and signatures come from the backend; this module decides
what goes on the wire and into transcript B and M1 (PROTOCOLS.md §3.4-3.6,
§5.2), with libspdm's responder (``libspdm_rsp_{digests,certificate,
challenge_auth}.c``) as the reference for which request is refused how.
"""

from __future__ import annotations

import dataclasses
import logging

from ..crypto import digest
from ..errors import RemoteProtocolError, SpdmErrorCode
from ..messages import (
    NONCE_SIZE,
    SLOT_SIZE_REQUESTED,
    Challenge,
    ChallengeAuth,
    GetCertificate,
    GetDigests,
    MeasurementBlock,
)
from ..messages.auth import MAX_SMALL_CERT_FIELD
from ..messages.codes import (
    CapabilityFlags,
    DmtfValueType,
    MeasurementSummaryHashType,
    RequestCode,
    SpdmVersion,
)
from ..negotiation import MEAS_CAPS
from ..slot_keys import CERT_MODEL_MASK, digests_for, slot_key
from ..slots import certificate_portion, digests_of
from ._connection import Connection, invalid_request, unsupported_request
from .encap import BASIC_MUT_AUTH_REQ, EncapState

__all__ = [
    "CERTIFICATE_HEADER_SIZE",
    "CHALLENGE_CONTEXT",
    "LARGE_CERTIFICATE_HEADER_SIZE",
    "SLOT_SIZE_REQUESTED",
    "challenge",
    "get_certificate",
    "get_digests",
    "measurement_summary_hash",
]

logger = logging.getLogger(__name__)

_MEAS_CAPS = int(MEAS_CAPS)  # a plain int: a Flag's & builds a new member per operation
_LARGE_RESP_CAP = int(CapabilityFlags.LARGE_RESP_CAP)

CHALLENGE_CONTEXT = "responder-challenge_auth signing"
CERTIFICATE_HEADER_SIZE = 8
"""CERTIFICATE bytes before the portion: what DataTransferSize must also hold."""
LARGE_CERTIFICATE_HEADER_SIZE = 16
"""The same in the 1.4 LargeCertChain form."""


def _slot_mask(chains: dict[int, bytes]) -> int:
    return sum(1 << slot for slot in chains)


def get_digests(conn: Connection, request: GetDigests) -> bytes:
    """Answer DIGESTS: the hash of each provisioned slot's SPDM chain, ascending slot order.

    From 1.3 Param1 is the device's SupportedSlotMask; on a multi-key
    connection each slot's KeyPairID, CertificateInfo and KeyUsageMask follow.
    The response is kept as [D] for the next session's transcripts.

    Raises:
        RemoteProtocolError: ResponseTooLarge, the digests do not fit.
    """
    negotiated = conn.session
    chains = conn.provisioned_chains(negotiated.hash_alg)
    digests = digests_for(digests_of(negotiated.version, negotiated.hash_alg, chains), conn.backend,
                          multi_key=negotiated.multi_key)
    response = digests.encode(negotiated.codec())
    conn.check_fits(len(response))
    conn.transcript.add_b(request.raw, response, conn.current_session)
    conn.digests = response
    return response


def get_certificate(conn: Connection, request: GetCertificate) -> bytes:
    """Answer one CERTIFICATE portion of a slot's SPDM chain.

    The portion is as long as the request asks, the chain has left, and both
    sides' transfer sizes allow (ours always; the requester's from 1.2).  A
    1.4 LargeCertChain request (Param1 b7) is answered in the large form; it
    needs our LARGE_RESP_CAP (else UnsupportedRequest, as libspdm answers).
    A chain whose size or remainder does not fit the 16-bit form is only
    served in the large form.

    Raises:
        RemoteProtocolError: InvalidRequest for an unprovisioned slot or an
            offset at or past the end of the chain; UnsupportedRequest for a
            LargeCertChain request without our LARGE_RESP_CAP; DataTooLarge
            (1.4; InvalidRequest before) for a chain over 64 KiB asked for in
            the 16-bit form; Unspecified when transcript B is full
            (:data:`~spdm.transcript.MAX_MESSAGE_B_SIZE`: the requester
            repeats GET_CERTIFICATE without a GET_DIGESTS or CHALLENGE
            starting B over).
    """
    negotiated = conn.session
    large = request.large_cert_chain
    if large and not int(conn.responder_flags) & _LARGE_RESP_CAP:
        raise unsupported_request(RequestCode.GET_CERTIFICATE,
                                  "LargeCertChain GET_CERTIFICATE without LARGE_RESP_CAP")
    chain = conn.slot_chain(request.slot_id)
    offset, length = request.offset, request.length
    if negotiated.version >= SpdmVersion.V13 and request.attributes & SLOT_SIZE_REQUESTED:
        offset, length = 0, 0
    if offset >= len(chain):
        raise invalid_request(f"offset {offset} is past the {len(chain)}-byte chain")
    if not large and len(chain) > MAX_SMALL_CERT_FIELD:
        reason = f"the {len(chain)}-byte chain needs the LargeCertChain form"
        if negotiated.version >= SpdmVersion.V14:
            raise RemoteProtocolError(reason, error_code=SpdmErrorCode.DATA_TOO_LARGE)
        raise invalid_request(reason)
    header = LARGE_CERTIFICATE_HEADER_SIZE if large else CERTIFICATE_HEADER_SIZE
    ours = conn.config.max_spdm_msg_size if conn.chunking else conn.config.data_transfer_size
    limits = [length, len(chain) - offset, ours - header]
    requester_limit = conn.largest_response()
    if negotiated.version >= SpdmVersion.V12 and requester_limit:
        limits.append(requester_limit - header)
    portion = certificate_portion(negotiated.version, request.slot_id, chain, offset, min(limits),
                                  large=large)
    if negotiated.multi_key:  # Param2 CertificateInfo (1.3), as libspdm fills it on such connections
        portion = dataclasses.replace(
            portion, certificate_info=slot_key(conn.backend, request.slot_id).cert_model & CERT_MODEL_MASK)
    response = portion.encode()
    conn.check_fits(len(response))
    conn.transcript.add_b(request.raw, response, conn.current_session)
    return response


def measurement_summary_hash(conn: Connection, summary_type: int) -> bytes:
    """MeasurementSummaryHash: BaseHashAlgo over the selected encoded measurement blocks.

    ``ALL`` takes every block; ``TCB`` takes the immutable-ROM blocks, as the
    libspdm sample device does (DSP0274 leaves "TCB components" to the device).
    With no matching block the hash covers zero bytes.  ``NONE`` has no hash.
    """
    if summary_type == MeasurementSummaryHashType.NONE:
        return b""
    negotiated = conn.session
    blocks: list[MeasurementBlock] = list(
        conn.backend.measurement_blocks(negotiated.measurement_hash_alg, raw_requested=False)
    )
    if summary_type == MeasurementSummaryHashType.TCB:
        blocks = [b for b in blocks if b.kind == DmtfValueType.IMMUTABLE_ROM]
    return digest(negotiated.hash_alg, b"".join(b.encode() for b in blocks))


def challenge(conn: Connection, request: Challenge) -> bytes:
    """Answer CHALLENGE_AUTH, signed over M1 = A || B || C; a success resets B.

    Raises:
        RemoteProtocolError: InvalidRequest for an unprovisioned slot (0xFF
            included: no PUB_KEY_ID_CAP) or, on a multi-key connection, one whose
            key may not sign CHALLENGE_AUTH, a MeasurementSummaryHashType other
            than 0, 1 or 0xFF, or a nonzero one without MEAS_CAP.
        RemoteProtocolError: ResponseTooLarge, CHALLENGE_AUTH does not fit.
    """
    negotiated = conn.session
    chain = conn.slot_chain(request.slot_id, signing_for=RequestCode.CHALLENGE)
    summary_type = request.measurement_summary_hash_type
    if summary_type not in MeasurementSummaryHashType._value2member_map_:
        raise invalid_request(f"MeasurementSummaryHashType 0x{summary_type:02x} is undefined")
    if summary_type and not int(conn.responder_flags) & _MEAS_CAPS:
        raise invalid_request("a measurement summary hash needs MEAS_CAP")
    basic_mutual = (conn.config.mutual_auth and negotiated.both(CapabilityFlags.MUT_AUTH_CAP)
                    and negotiated.both(CapabilityFlags.ENCAP_CAP))
    unsigned = ChallengeAuth(
        spdm_version=negotiated.version,
        attributes=request.slot_id | (BASIC_MUT_AUTH_REQ if basic_mutual else 0),
        slot_mask=_slot_mask(conn.provisioned_chains(negotiated.hash_alg)),
        cert_chain_hash=digest(negotiated.hash_alg, chain),
        nonce=conn.rng(NONCE_SIZE),
        measurement_summary_hash=measurement_summary_hash(conn, summary_type),
        requester_context=request.requester_context,
    ).encode(dataclasses.replace(
        negotiated.codec(measurement_summary=bool(summary_type)), signature_size=0))
    conn.check_fits(len(unsigned) + negotiated.signature_size)
    signature = conn.sign(
        request.slot_id, CHALLENGE_CONTEXT, conn.transcript.m1(request.raw, unsigned)
    )
    conn.transcript.challenge_done(success=True)
    if basic_mutual:
        conn.encap = EncapState()  # the requester now pulls our encapsulated requests
    logger.debug("CHALLENGE_AUTH for slot %d (summary type 0x%02x)", request.slot_id, summary_type)
    return unsigned + signature

