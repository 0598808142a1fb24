"""``devsec dump``: one line per captured DOE object, and which signatures in the capture verify.

The decoding follows the conversation with a passive :class:`spdm.requester.Requester`
(:meth:`~spdm.requester.Requester.adopt`): the capture's requests, our response
checks and transcripts.  So the signatures reported as verified are verified
by exactly the code that verifies a live device.  Secured (type 2) records are
listed as such; decrypting them needs the session secrets (next issue).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from spdm.capture import read_capture
from spdm.config import RequesterConfig
from spdm.errors import DevsecError
from spdm.events import ChallengeAuthenticated, Event, MeasurementsReceived, SignedEvidence
from spdm.messages import REQUEST_TYPES, RESPONSE_TYPES, ErrorResponse, Message, peek_code
from spdm.messages.codes import RequestCode, ResponseCode
from spdm.requester import Requester
from spdm.transport.doe import (
    DataObjectType,
    decode_data_object,
    decode_discovery_request,
    decode_discovery_response,
)

_SHORT_BYTES = 8
_ENCAPSULATION = (RequestCode.GET_ENCAPSULATED_REQUEST, RequestCode.DELIVER_ENCAPSULATED_RESPONSE)
"""Mutual-auth requests the follower steps over (their transcript resets still apply)."""


def _fields(message: Message) -> str:
    """A compact rendering of a message's fields (ints in hex, long bytes as a length)."""
    parts = []
    for f in dataclasses.fields(message):
        if f.name in ("raw", "spdm_version"):
            continue
        value = getattr(message, f.name)
        if value is None:
            continue
        if isinstance(value, bool | int):
            parts.append(f"{f.name}=0x{int(value):x}")
        elif isinstance(value, bytes):
            shown = value.hex() if len(value) <= _SHORT_BYTES else f"<{len(value)} bytes>"
            parts.append(f"{f.name}={shown}")
        elif isinstance(value, tuple):
            parts.append(f"{f.name}=[{len(value)}]")
    return ", ".join(parts)


def _spdm_line(message: Message) -> str:
    version = message.spdm_version
    code = message.CODE
    name = (RequestCode if code & 0x80 else ResponseCode)(code).name
    return f"SPDM({version >> 4}.{version & 0xF}, 0x{code:02x}) SPDM_{name} ({_fields(message)})"


def _signature_line(evidence: SignedEvidence) -> str:
    return (f"    signature verified: {evidence.context}, slot {evidence.slot_id}, "
            f"{len(evidence.transcript)}-byte transcript")


class _Follower:
    """Follows one capture's SPDM conversation and verifies what it can."""

    def __init__(self, now: datetime) -> None:
        self.engine = Requester(RequesterConfig())
        self.now = now
        self.following = True
        self.verified = 0
        self.failed: list[str] = []
        self._request: Message | None = None

    def request(self, payload: bytes) -> str:
        _, code = peek_code(payload)
        request_type = REQUEST_TYPES.get(code)
        if request_type is None:
            return f"SPDM request 0x{code:02x} (not decoded)"
        message = request_type.decode(payload, self.engine.response_context(None), padded=True)
        self._request = message
        if self.following:
            try:
                if code in _ENCAPSULATION:
                    self.engine.skip(code)
                else:
                    self.engine.adopt(payload, now=self.now)
            except DevsecError:
                self.following = False  # beyond what the engine follows (e.g. sessions)
        return _spdm_line(message)

    def response(self, payload: bytes) -> list[str]:
        _, code = peek_code(payload)
        response_type = ErrorResponse if code == 0x7F else RESPONSE_TYPES.get(code)
        if response_type is None:
            return [f"SPDM response 0x{code:02x} (not decoded)"]
        ctx = self.engine.response_context(self._request)
        lines = [_spdm_line(response_type.decode(payload, ctx, padded=True))]
        if self.following and self.engine.busy:
            try:
                self.engine.receive_data(payload)
            except DevsecError as exc:
                self.following = False
                self.failed.append(str(exc))
                lines.append(f"    verification FAILED: {exc}")
            lines += self._events()
        return lines

    def _events(self) -> list[str]:
        lines = []
        while (event := self.engine.next_event()) is not None:
            evidence = _evidence(event)
            if evidence is not None:
                self.verified += 1
                lines.append(_signature_line(evidence))
        return lines


def _evidence(event: Event) -> SignedEvidence | None:
    if isinstance(event, ChallengeAuthenticated | MeasurementsReceived):
        return event.evidence
    return None


def dump(capture: bytes, *, now: datetime) -> list[str]:
    """Decode a PCI DOE capture into lines, ending with the signature summary.

    Args:
        capture: the pcap file's bytes (link type 292).
        now: the time certificate validity is checked against.

    Raises:
        DecodeError: the file is not a PCI DOE capture.
    """
    follower = _Follower(now)
    lines = []
    for record in read_capture(capture):
        direction = "REQ->RSP" if record.index % 2 == 0 else "RSP->REQ"
        prefix = f"{record.index + 1} "
        try:
            obj = decode_data_object(record.data)
            head = f"{prefix}PCI_DOE({obj.vendor_id}, {obj.object_type}) {direction} "
            if obj.object_type == DataObjectType.DISCOVERY:
                if direction == "REQ->RSP":
                    req = decode_discovery_request(obj.payload)
                    lines.append(head + f"DOE_DISCOVERY (index={req.index})")
                else:
                    rsp = decode_discovery_response(obj.payload)
                    lines.append(head + f"DOE_DISCOVERY ({rsp.vendor_id}, {rsp.object_type}, "
                                 f"next_index={rsp.next_index})")
            elif obj.object_type == DataObjectType.SPDM:
                if direction == "REQ->RSP":
                    lines.append(head + follower.request(obj.payload))
                else:
                    first, *rest = follower.response(obj.payload)
                    lines += [head + first, *rest]
            elif obj.object_type == DataObjectType.SECURED_SPDM:
                session_id = int.from_bytes(obj.payload[:4], "little")
                lines.append(head + f"SecuredSPDM(0x{session_id:08x}) "
                             f"<{len(obj.payload)} bytes, encrypted>")
            else:
                lines.append(head + f"<{len(obj.payload)} bytes>")
        except DevsecError as exc:
            lines.append(f"{prefix}undecodable record: {exc}")
    lines.append(f"signatures: {follower.verified} verified, {len(follower.failed)} failed")
    return lines
