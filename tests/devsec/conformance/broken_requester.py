"""Deliberately broken requesters for the requester conformance tests: each breaks one rule.

Run as ``python broken_requester.py FAULT PORT ROOT``: devsec's requester
(its engine over the spdm-emu socket) with one fault, which the requester
case :data:`CAUGHT_BY` names must catch.  A broken requester reports success
(exit status 0) where a conformant one would fail.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

from devsec.conformance.requests import get_capabilities, negotiate_algorithms
from spdm.cma import authenticate
from spdm.config import DEFER_TRUST, RequesterConfig
from spdm.connection import Connection, connect
from spdm.crypto import load_certificates
from spdm.errors import (
    DevsecError,
    RemoteErrorResponse,
    RemoteProtocolError,
    SpdmErrorCode,
    VerificationError,
)
from spdm.messages import Challenge, GetVersion, Message
from spdm.messages.codes import RequestCode
from spdm.messages.event import GetSupportedEventTypes
from spdm.secured import open_record, seal
from spdm.state import KeyUpdateOperation
from spdm.transport import EmuSocketClient
from spdm.transport.doe import (
    PCI_SIG_VENDOR_ID,
    DataObject,
    DataObjectType,
    decode_data_object,
    encode_data_object,
)

CAUGHT_BY = {
    "dts-41": "requester.vca.capabilities",
    "ignore-bad-signature": "requester.challenge.bad-signature",
    "reuse-nonce": "requester.nonces.challenge",
    "skip-capabilities": "requester.vca.order",
    "success-on-busy": "requester.timing.busy-forever",
    "trust-any-root": "requester.certificate.untrusted-root",
    "challenge-in-session": "requester.session.order",
    "old-key-after-ack": "requester.session.key-update",
    "rsp-half-only": "requester.session.ids",
    "heartbeat-without-cap": "requester.session.heartbeat",
    "ignore-bad-verify-data": "requester.key-exchange.bad-verify-data",
    "event-types-without-cap": "requester.events.without-cap",
    "accept-unrequested-multi-key": "requester.multikey.unrequested-selection",
    "ignore-slot-masks": "requester.multikey.stray-provisioned-slot",
}
"""Each broken requester -> the case that must catch it."""

IGNORED_CHECKS = {"accept-unrequested-multi-key": "MULTI_KEY_CONN", "ignore-slot-masks": "SupportedSlotMask"}
"""Broken requesters that are devsec's with one refusal ignored: fault -> what the refusal names."""


def _send(client: EmuSocketClient, message: Message) -> None:
    client.exchange(encode_data_object(DataObject(PCI_SIG_VENDOR_ID, DataObjectType.SPDM, message.encode())))


SESSION_FAULTS = frozenset({"challenge-in-session", "old-key-after-ack", "rsp-half-only",
                            "heartbeat-without-cap", "ignore-bad-verify-data"})
"""The faults of a requester that opens a session (devsec's, then one request of its own in it)."""


def _sealed(client: EmuSocketClient, connection: Connection, session_id: int, message: bytes, *,
            record_id: int | None = None) -> bytes:
    """Send ``message`` in the session under its current keys (as record ``record_id``); the answer or b""."""
    keys = connection.driver.requester.sessions[session_id].current_keys()
    record = seal(keys.request, session_id if record_id is None else record_id, message)
    answer = decode_data_object(client.exchange(encode_data_object(
        DataObject(PCI_SIG_VENDOR_ID, DataObjectType.SECURED_SPDM, record)))).payload
    return open_record(keys.response, answer) if answer else b""


def _session_fault(client: EmuSocketClient, fault: str, config: RequesterConfig) -> int:
    connection = connect(client, config)
    version = connection.negotiated.version
    try:
        session = connection.open_session()
    except VerificationError:
        return 0 if fault == "ignore-bad-verify-data" else 1
    sid = session.session_id
    if fault == "challenge-in-session":
        _sealed(client, connection, sid, Challenge(spdm_version=version, nonce=os.urandom(32),
                                                   requester_context=os.urandom(8) if version >= 0x13
                                                   else None).encode())
    elif fault == "heartbeat-without-cap":
        _sealed(client, connection, sid, bytes([version, RequestCode.HEARTBEAT, 0, 0]))
    elif fault == "old-key-after-ack":
        _sealed(client, connection, sid, bytes([version, RequestCode.KEY_UPDATE,
                                                KeyUpdateOperation.UPDATE_KEY, 0x11]))
        # VerifyNewKey under the key the ACK retired: the device cannot open it.
        _sealed(client, connection, sid, bytes([version, RequestCode.KEY_UPDATE,
                                                KeyUpdateOperation.VERIFY_NEW_KEY, 0x22]))
        return 0
    elif fault == "rsp-half-only":
        _sealed(client, connection, sid, bytes([version, RequestCode.END_SESSION, 0, 0]),
                record_id=sid & 0xFFFF0000)
        return 0
    session.close()
    return 0


def run(fault: str, port: int, root: Path) -> int:
    """Run the broken requester ``fault`` against the device on ``port``; returns its exit status."""
    anchors = tuple(load_certificates(root.read_bytes()))
    client = EmuSocketClient("127.0.0.1", port, timeout=5.0)
    try:
        if fault == "skip-capabilities":
            _send(client, GetVersion())
            _send(client, negotiate_algorithms(0x13))
            return 0
        if fault == "dts-41":
            _send(client, GetVersion())
            _send(client, replace(get_capabilities(0x13), data_transfer_size=41))
            return 0
        config = RequesterConfig(trust_anchors=DEFER_TRUST if fault == "trust-any-root" else anchors)
        if fault == "event-types-without-cap":  # asks a device without EVENT_CAP for its event types
            version = connect(client, config).negotiated.version
            _send(client, GetSupportedEventTypes(spdm_version=version))
            return 0
        if fault in SESSION_FAULTS:
            try:
                return _session_fault(client, fault, config)
            except DevsecError:
                return 1
        try:
            if fault == "reuse-nonce":
                authenticate(client, config, rng=lambda size: b"\x5a" * size)
            else:
                authenticate(client, config)
        except VerificationError:
            return 0 if fault == "ignore-bad-signature" else 1
        except RemoteErrorResponse as exc:
            return 0 if fault == "success-on-busy" and exc.code == SpdmErrorCode.BUSY else 1
        except RemoteProtocolError as exc:  # the multi-key checks of devsec's requester, ignored
            return 0 if fault in IGNORED_CHECKS and IGNORED_CHECKS[fault] in str(exc) else 1
        except DevsecError:
            return 1
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])))
