"""Responder side of GET_MEASUREMENTS / MEASUREMENTS (PROTOCOLS.md §3.7, §5.3).

The device's blocks come from the backend; this module picks the ones the
operation asks for, fills the fixed fields the way libspdm's responder does
(``libspdm_rsp_measurements.c``) and signs L1 when asked.
"""

from __future__ import annotations

import logging

from ..messages import NONCE_SIZE, GetMeasurements, MeasurementBlock, Measurements
from ..messages.codes import (
    CapabilityFlags,
    MeasurementAttributes,
    MeasurementOperation,
    RequestCode,
    SpdmVersion,
)
from ._connection import Connection, invalid_request

__all__ = ["CONTENT_NO_CHANGE", "MEASUREMENTS_CONTEXT", "get_measurements"]

logger = logging.getLogger(__name__)

# Flags and attributes as plain ints: a Flag's & builds a new member per operation.
_MEAS_CAP_SIG = int(CapabilityFlags.MEAS_CAP_SIG)
_RAW_BIT_STREAM_REQUESTED = int(MeasurementAttributes.RAW_BIT_STREAM_REQUESTED)

MEASUREMENTS_CONTEXT = "responder-measurements signing"
CONTENT_NO_CHANGE = 0x2 << 4
"""Param2 b[5:4] = 10b (1.2+): no change detected since the last MEASUREMENTS."""


def get_measurements(conn: Connection, request: GetMeasurements) -> bytes:
    """Answer MEASUREMENTS: the count, one block or all, signed over L1 when requested.

    Raises:
        RemoteProtocolError: InvalidRequest for a signature without MEAS_CAP
            with signature, an unprovisioned signing slot, or an index the
            device does not measure.
        RemoteProtocolError: ResponseTooLarge, the response does not fit the requester's
            DataTransferSize.
        RemoteProtocolError: Unspecified, transcript M is full
            (:data:`~spdm.transcript.MAX_MESSAGE_M_SIZE`: unsigned requests
            repeated without a signed one); the ERROR starts M over.
    """
    negotiated = conn.session
    version = negotiated.version
    signed = request.signature_requested
    slot_id = request.slot_id or 0  # 1.0 names no slot: the signature uses slot 0
    if signed:
        if not int(conn.responder_flags) & _MEAS_CAP_SIG:
            raise invalid_request("a signature was requested but MEAS_CAP has no signature")
        conn.slot_chain(slot_id, signing_for=RequestCode.GET_MEASUREMENTS)
    raw_requested = version >= SpdmVersion.V12 and bool(request.attributes & _RAW_BIT_STREAM_REQUESTED)
    available = tuple(
        conn.backend.measurement_blocks(negotiated.measurement_hash_alg, raw_requested=raw_requested)
    )
    total = 0
    blocks: tuple[MeasurementBlock, ...]
    if request.operation == MeasurementOperation.QUERY_COUNT:
        blocks, total = (), len(available)
    elif request.operation == MeasurementOperation.ALL:
        blocks = available
    else:
        blocks = tuple(b for b in available if b.index == request.operation)
        if not blocks:
            raise invalid_request(f"no measurement block at index {request.operation}")
    attributes = 0
    if signed:
        attributes = slot_id | (CONTENT_NO_CHANGE if version >= SpdmVersion.V12 else 0)
    unsigned = Measurements(
        spdm_version=version,
        total_indices=total,
        attributes=attributes,
        blocks=blocks,
        nonce=conn.rng(NONCE_SIZE),
        requester_context=request.requester_context,
    ).encode(negotiated.codec())
    conn.check_fits(len(unsigned) + (negotiated.signature_size if signed else 0))
    session = conn.current_session
    conn.transcript.add_measurements(request.raw, unsigned, session)
    if not signed:
        return unsigned
    signature = conn.sign(slot_id, MEASUREMENTS_CONTEXT, conn.transcript.l1(version, session))
    conn.transcript.measurements_done(session)
    logger.debug("signed MEASUREMENTS (operation 0x%02x, slot %d)", request.operation, slot_id)
    return unsigned + signature
