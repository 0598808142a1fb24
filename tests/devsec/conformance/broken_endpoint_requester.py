"""Requesters that take whatever the SPDM 1.3 endpoint messages bring: each must be caught.

Run as ``python broken_endpoint_requester.py FAULT PORT ROOT``: devsec's
requester authenticates the device, then sends one endpoint request of its
own and exits 0 whatever the answer, where a conformant requester checks it
(``unchecked-mel``: against the measurements it read;
``unchecked-key-pair-total``: it checks that KEY_PAIR_INFO echoes the
KeyPairID, and nothing else);
``any-chunk`` fetches a large CERTIFICATE's first two chunks and exits 0
whatever they say.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

from devsec.conformance.requests import get_capabilities, negotiate_algorithms
from spdm.cma import authenticate
from spdm.config import RequesterConfig
from spdm.crypto import load_certificates
from spdm.messages import (
    ChunkGet,
    ErrorResponse,
    GetCertificate,
    GetDigests,
    GetEndpointInfo,
    GetKeyPairInfo,
    GetMeasurementExtensionLog,
    GetVersion,
    KeyPairInfo,
    Message,
)
from spdm.messages.codes import CapabilityFlags, EndpointInfoAttributes
from spdm.transport import EmuSocketClient
from spdm.transport.doe import (
    PCI_SIG_VENDOR_ID,
    DataObject,
    DataObjectType,
    decode_data_object,
    encode_data_object,
)

CAUGHT_BY = {
    "any-endpoint-signature": "requester.endpoint.bad-signature",
    "any-mel": "requester.mel.remainder-overstated",
    "any-key-pair": "requester.key-pairs.not-echoed",
    "any-chunk": "requester.chunk.wrong-sequence",
    "any-endpoint-length": "requester.endpoint.length-lies",
    "any-mel-portion": "requester.mel.portion-length-lies",
    "unchecked-mel": "requester.mel.entry-changed",
    "unchecked-key-pair-total": "requester.key-pairs.total-below-id",
}
"""Each broken requester -> the case that must catch it."""


def _request(fault: str, version: int) -> Message:
    if fault == "any-endpoint-signature":
        return GetEndpointInfo(spdm_version=version, subcode=1,
                               request_attributes=int(EndpointInfoAttributes.SIGNATURE_REQUESTED),
                               nonce=os.urandom(32))
    if fault == "any-endpoint-length":
        return GetEndpointInfo(spdm_version=version, subcode=1)
    if fault in ("any-mel", "any-mel-portion", "unchecked-mel"):  # the log taken as it comes
        return GetMeasurementExtensionLog(spdm_version=version, offset=0, length=0x1000)
    return GetKeyPairInfo(spdm_version=version, key_pair_id=1)


def _send(client: EmuSocketClient, message: Message) -> bytes:
    answer = client.exchange(encode_data_object(DataObject(PCI_SIG_VENDOR_ID, DataObjectType.SPDM,
                                                           message.encode())))
    return decode_data_object(answer).payload


def _chunks_taken_blindly(client: EmuSocketClient) -> int:
    """VCA offering chunking with a tiny DataTransferSize, then a large CERTIFICATE taken unchecked."""
    version = 0x13
    ours = get_capabilities(version)
    _send(client, GetVersion())
    _send(client, replace(ours, flags=ours.flags | int(CapabilityFlags.CHUNK_CAP), data_transfer_size=0x100,
                          max_spdm_msg_size=0x10000))
    _send(client, negotiate_algorithms(version))
    _send(client, GetDigests(spdm_version=version))
    error = ErrorResponse.decode(_send(client, GetCertificate(spdm_version=version, length=0xFFFF)),
                                 padded=True)
    handle = error.large_response_handle or 0
    for seq_no in (0, 1):
        _send(client, ChunkGet(spdm_version=version, handle=handle, chunk_seq_no=seq_no))
    return 0


def run(fault: str, port: int, root: Path) -> int:
    if fault == "any-chunk":
        chunking = EmuSocketClient("127.0.0.1", port)
        try:
            return _chunks_taken_blindly(chunking)
        finally:
            chunking.close()
    config = RequesterConfig(trust_anchors=tuple(load_certificates(root.read_bytes())))
    client = EmuSocketClient("127.0.0.1", port)
    try:
        report = authenticate(client, config)
        request = _request(fault, report.negotiated.version)
        answer = _send(client, request)
    finally:
        client.close()
    if fault == "unchecked-key-pair-total":  # the echo checked, TotalKeyPairs taken as it comes
        return 0 if KeyPairInfo.decode(answer, padded=True).key_pair_id == 1 else 1
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])))
