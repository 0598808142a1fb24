"""Deliberately broken requesters for the requester conformance tests: each breaks one rule.

Run as ``python broken_requester.py FAULT PORT ROOT``: devsec's requester
(its engine over the spdm-emu socket) with one fault, which the requester
case :data:`CAUGHT_BY` names must catch.  A broken requester reports success
(exit status 0) where a conformant one would fail.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from devsec.conformance.requests import get_capabilities, negotiate_algorithms
from spdm.authenticate import authenticate
from spdm.config import DEFER_TRUST, RequesterConfig
from spdm.crypto import load_certificates
from spdm.errors import DevsecError, RemoteErrorResponse, SpdmErrorCode, VerificationError
from spdm.messages import GetVersion, Message
from spdm.transport import EmuSocketClient
from spdm.transport.doe import PCI_SIG_VENDOR_ID, DataObject, DataObjectType, encode_data_object

CAUGHT_BY = {
    "dts-41": "requester.vca.capabilities",
    "ignore-bad-signature": "requester.challenge.bad-signature",
    "reuse-nonce": "requester.nonces.challenge",
    "skip-capabilities": "requester.vca.order",
    "success-on-busy": "requester.timing.busy-forever",
    "trust-any-root": "requester.certificate.untrusted-root",
}
"""Each broken requester -> the case that must catch it."""


def _send(client: EmuSocketClient, message: Message) -> None:
    client.exchange(encode_data_object(DataObject(PCI_SIG_VENDOR_ID, DataObjectType.SPDM, message.encode())))


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
        try:
            if fault == "reuse-nonce":
                authenticate(client, config, rng=lambda size: b"\x5a" * size)
            else:
                authenticate(client, config)
        except VerificationError:
            return 0 if fault == "ignore-bad-signature" else 1
        except RemoteErrorResponse as exc:
            return 0 if fault == "success-on-busy" and exc.code == SpdmErrorCode.BUSY else 1
        except DevsecError:
            return 1
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])))
