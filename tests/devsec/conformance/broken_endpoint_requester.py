"""Requesters that take whatever the SPDM 1.3 endpoint messages bring: each must be caught.

Run as ``python broken_endpoint_requester.py FAULT PORT ROOT``: devsec's
requester authenticates the device, then sends one endpoint request of its
own and exits 0 whatever the answer, where a conformant requester checks it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from spdm.authenticate import authenticate
from spdm.config import RequesterConfig
from spdm.crypto import load_certificates
from spdm.messages import GetEndpointInfo, GetKeyPairInfo, GetMeasurementExtensionLog, Message
from spdm.messages.endpoint import EndpointInfoAttributes
from spdm.transport import EmuSocketClient
from spdm.transport.doe import PCI_SIG_VENDOR_ID, DataObject, DataObjectType, encode_data_object

CAUGHT_BY = {
    "any-endpoint-signature": "requester.endpoint.bad-signature",
    "any-mel": "requester.mel.remainder-overstated",
    "any-key-pair": "requester.key-pairs.not-echoed",
}
"""Each broken requester -> the case that must catch it."""


def _request(fault: str, version: int) -> Message:
    if fault == "any-endpoint-signature":
        return GetEndpointInfo(spdm_version=version, subcode=1,
                               request_attributes=int(EndpointInfoAttributes.SIGNATURE_REQUESTED),
                               nonce=os.urandom(32))
    if fault == "any-mel":
        return GetMeasurementExtensionLog(spdm_version=version, offset=0, length=0x1000)
    return GetKeyPairInfo(spdm_version=version, key_pair_id=1)


def run(fault: str, port: int, root: Path) -> int:
    config = RequesterConfig(trust_anchors=tuple(load_certificates(root.read_bytes())))
    client = EmuSocketClient("127.0.0.1", port)
    try:
        report = authenticate(client, config)
        request = _request(fault, report.negotiated.version)
        client.exchange(encode_data_object(DataObject(PCI_SIG_VENDOR_ID, DataObjectType.SPDM,
                                                      request.encode())))
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])))
