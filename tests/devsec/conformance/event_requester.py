"""Event subscribers for the requester conformance tests: devsec's, and broken ones.

Run as ``python event_requester.py MODE PORT ROOT``.  ``subscriber`` is
devsec's requester (the library): it authenticates the device, opens a
session, subscribes to every DMTF event, polls once (GET_ENCAPSULATED_REQUEST,
answering each SEND_EVENT) and ends the session.  Every other mode breaks one
rule and :data:`CAUGHT_BY` names the case that must catch it: ``never-acks``
polls and leaves without delivering anything; ``ack-any-*`` delivers EVENT_ACK
for whatever SEND_EVENT it got, unread.
"""

from __future__ import annotations

import sys
from pathlib import Path

from spdm.config import RequesterConfig
from spdm.connection import Connection, connect
from spdm.crypto import load_certificates
from spdm.errors import RemoteErrorResponse
from spdm.events import DeviceEventReceived
from spdm.messages import DeliverEncapsulatedResponse, EventAck, GetEncapsulatedRequest
from spdm.messages.codes import RequestCode
from spdm.secured import open_record, seal
from spdm.transport import EmuSocketClient
from spdm.transport.doe import (
    PCI_SIG_VENDOR_ID,
    DataObject,
    DataObjectType,
    decode_data_object,
    encode_data_object,
)

CAUGHT_BY = {
    "never-acks": "requester.events.ack",
    "ack-any-count": "requester.events.count-lies",
    "ack-any-detail": "requester.events.detail-overrun",
}
"""Each broken requester -> the case that must catch it."""


def _sealed(client: EmuSocketClient, connection: Connection, session_id: int, message: bytes) -> bytes:
    """Send ``message`` in the session under its current keys; the plaintext answer."""
    keys = connection.driver.requester.sessions[session_id].current_keys()
    answer = decode_data_object(client.exchange(encode_data_object(DataObject(
        PCI_SIG_VENDOR_ID, DataObjectType.SECURED_SPDM, seal(keys.request, session_id, message))))).payload
    return open_record(keys.response, answer)


def run(mode: str, port: int, root: Path) -> int:
    """Run the subscriber ``mode`` against the device on ``port``; returns its exit status."""
    config = RequesterConfig(trust_anchors=tuple(load_certificates(root.read_bytes())))
    client = EmuSocketClient("127.0.0.1", port, timeout=5.0)
    try:
        connection = connect(client, config)
        session = connection.open_session()
        sid, driver = session.session_id, connection.driver
        driver.run(lambda: driver.requester.subscribe_event_types(sid))
        if mode == "subscriber":
            try:
                events = driver.run(lambda: driver.requester.poll_encapsulated(sid))
            except RemoteErrorResponse:  # NoPendingRequests: nothing (more) to deliver
                events = []
            print(f"{sum(isinstance(e, DeviceEventReceived) for e in events)} event(s) received")
            session.close()
            return 0
        version = connection.negotiated.version
        got = _sealed(client, connection, sid, GetEncapsulatedRequest(spdm_version=version).encode())
        if mode != "never-acks" and got[1:2] == bytes([0x6A]):
            ack = EventAck(spdm_version=version).encode()
            _sealed(client, connection, sid, DeliverEncapsulatedResponse(
                spdm_version=version, request_id=got[2], encapsulated_response=ack).encode())
        _sealed(client, connection, sid, bytes([version, RequestCode.END_SESSION, 0, 0]))
        return 0
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])))
