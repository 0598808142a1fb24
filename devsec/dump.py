"""``devsec dump``: one line per captured DOE object (or MCTP / DSP0287 TCP message), and which
signatures in the capture verify.

The decoding follows the conversation with a :class:`spdm.requester.follow.Follower`
(the requester engine wrapped as a passive monitor): the capture's requests, our response
checks and transcripts.  So the signatures reported as verified are verified
by exactly the code that verifies a live device.  Secured (type 2) records are
decrypted when the session secrets are given (``--secrets``: the
reference's secrets file), through the same engine: a record that opens is
one whose keys our key schedule derived from the captured transcript.

What the captured requester chose -- its version, capabilities and every
algorithm it offered -- comes from the capture, not from devsec's own
preferences, and its retries (after Busy or ResponseNotReady) are followed
as such.  Where a capture cannot be followed further (a request the engine
does not send, a check that fails, a slot whose chain it never showed), the
dump says where and why, and goes on decoding what it can without keys.

The pcap's link type says which binding's records it holds: 292 PCI DOE, 291
MCTP (:mod:`spdm.transport.mctp`), 147 DSP0287 TCP
(:mod:`spdm.transport.tcp_binding`, the reference set's choice: none is
registered).  The follower then opens records with that binding's record
parameters (MCTP's wire sequence number, shown as ``Seq``, and random padding).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from spdm.capture import CaptureRecord, pcap_link_type, read_capture
from spdm.config import DEFER_TRUST, RequesterConfig
from spdm.errors import ConfigurationError, DevsecError, VerificationError
from spdm.events import (
    ChallengeAuthenticated,
    EndpointInfoReceived,
    Event,
    KeyPairInfoReceived,
    KeyPairInfoSet,
    MeasurementExtensionLogReceived,
    MeasurementsReceived,
    MutualAuthCompleted,
    SessionEstablished,
    SignedEvidence,
)
from spdm.messages import (
    REQUEST_TYPES,
    RESPONSE_TYPES,
    ChunkGet,
    ChunkSend,
    ChunkSendAck,
    ErrorResponse,
    Message,
    RespondIfReady,
    peek_code,
)
from spdm.messages.codes import RequestCode, ResponseCode, SpdmVersion
from spdm.requester.follow import Follower
from spdm.secured import DOE_RECORDS, RecordFormat
from spdm.transport.binding import BindingCodec
from spdm.transport.doe import (
    DataObjectType,
    decode_data_object,
    decode_discovery_request,
    decode_discovery_response,
)
from spdm.transport.mctp import MCTP_CAPTURE
from spdm.transport.tcp_binding import TCP_CAPTURE

__all__ = ["dump", "parse_secrets"]

_SHORT_BYTES = 8
_ANY_COUNT = 1 << 20
"""Retries and polls a followed requester may make (more than any capture holds)."""
_ENCAPSULATION = (RequestCode.GET_ENCAPSULATED_REQUEST, RequestCode.DELIVER_ENCAPSULATED_RESPONSE)
"""Mutual-auth requests the follower steps over (their transcript resets still apply)."""
_BINDINGS: dict[int, BindingCodec] = {codec.link_type: codec for codec in (MCTP_CAPTURE, TCP_CAPTURE)}
"""The bindings other than PCI DOE whose captures ``dump`` reads, by pcap link type."""


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
    """Follows one capture's SPDM conversation, opening session records with the secrets given."""

    def __init__(self, now: datetime, secrets: Sequence[bytes], record_format: RecordFormat) -> None:
        # How often the captured requester retried after Busy or polled after
        # ResponseNotReady is the capture's business: the follower allows any count, and any
        # version devsec knows (SPDM 1.4 included, which a requester does not offer by default).
        self.engine = Follower(RequesterConfig(versions=tuple(SpdmVersion), trust_anchors=DEFER_TRUST,
                                               busy_retries=_ANY_COUNT, max_not_ready_polls=_ANY_COUNT),
                               record_format=record_format)
        self.now = now
        self.secrets = list(secrets)
        self.following = True
        self.verified = 0
        self.decrypted = 0
        self.failed: list[str] = []
        self.stopped = ""
        self._request: Message | None = None
        self._chunks: list[bytes] = []

    def _stop(self, reason: str) -> None:
        if self.following:
            self.following = False
            self.stopped = reason

    def request(self, payload: bytes, *, secured: bool) -> list[str]:
        message: Message | None = None
        notes: list[str] = []
        if self.following:
            try:
                message = self._adopt(payload, secured)
            except VerificationError as exc:
                self._stop(str(exc))
                self.failed.append(str(exc))
                notes.append(f"    verification FAILED: {exc}")
            except DevsecError as exc:
                self._stop(str(exc))
        if message is None:
            if secured:
                return ["<encrypted>", *notes]
            _, code = peek_code(payload)
            request_type = REQUEST_TYPES.get(code)
            if request_type is None:
                return [f"SPDM request 0x{code:02x} (not decoded)", *notes]
            message = request_type.decode(payload, self.engine.response_context(None), padded=True)
        elif secured:
            self.decrypted += 1
        if isinstance(message, ChunkSend):
            return [_spdm_line(message), *notes, *self._large_request(message)]
        if not isinstance(message, RespondIfReady | ChunkGet):
            # a poll's response, and the large response the last chunk completes,
            # are decoded as the polled (chunked) request's
            self._request = message
        return [_spdm_line(message), *notes]

    def _large_request(self, chunk: ChunkSend) -> list[str]:
        """The large request a CHUNK_SEND sequence carries, shown once its last chunk passed."""
        if chunk.chunk_seq_no == 0:
            self._chunks = []
        self._chunks.append(chunk.chunk)
        if not chunk.last:
            return []
        whole, self._chunks = b"".join(self._chunks), []
        _, code = peek_code(whole)
        request_type = REQUEST_TYPES.get(code)
        if request_type is None:
            return [f"    reassembled: SPDM request 0x{code:02x} (not decoded)"]
        try:
            self._request = request_type.decode(whole, self.engine.response_context(None))
        except DevsecError as exc:
            return [f"    reassembled: undecodable: {exc}"]
        return [f"    reassembled: {_spdm_line(self._request)}"]

    def _chunk_ack_response(self, ack: ChunkSendAck) -> list[str]:
        """The large request's response, which rides in the last CHUNK_SEND_ACK."""
        if not ack.has_response or ack.early_error:
            return []
        _, code = peek_code(ack.response)
        response_type = ErrorResponse if code == 0x7F else RESPONSE_TYPES.get(code)
        if response_type is None:
            return [f"    response: SPDM response 0x{code:02x} (not decoded)"]
        try:
            decoded = response_type.decode(ack.response, self.engine.response_context(self._request),
                                           padded=True)
        except DevsecError as exc:
            return [f"    response: undecodable: {exc}"]
        return [f"    response: {_spdm_line(decoded)}"]

    def _adopt(self, payload: bytes, secured: bool) -> Message:
        if not secured:
            _, code = peek_code(payload)
            if code in _ENCAPSULATION and self.engine.outstanding_code != code:
                # Basic mutual authentication after CHALLENGE is not followed; its
                # transcript resets still apply.
                self.engine.skip(code)
                request_type = REQUEST_TYPES[code]
                return request_type.decode(payload, self.engine.response_context(None), padded=True)
            if code in (RequestCode.KEY_EXCHANGE, RequestCode.PSK_EXCHANGE):
                if not self.secrets:
                    raise DevsecError("no secret left for the next session (--secrets)")
                return self.engine.adopt(payload, now=self.now, secret=self.secrets.pop(0))
        return self.engine.adopt(payload, now=self.now, secured=secured)

    def response(self, payload: bytes, *, secured: bool) -> list[str]:
        lines: list[str] = []
        plain = None if secured else payload
        if self.following and self.engine.busy:
            try:
                self.engine.receive_data(payload, secured=secured)
                plain = self.engine.last_received
            except VerificationError as exc:
                self._stop(str(exc))
                self.failed.append(str(exc))
                lines.append(f"    verification FAILED: {exc}")
            except DevsecError as exc:
                self._stop(str(exc))  # beyond what the engine follows (e.g. mutual authentication)
        if plain is None:
            return ["<encrypted>", *lines]
        if secured:
            self.decrypted += 1
        _, code = peek_code(plain)
        response_type = ErrorResponse if code == 0x7F else RESPONSE_TYPES.get(code)
        if response_type is None:
            return [f"SPDM response 0x{code:02x} (not decoded)", *lines]
        ctx = self.engine.response_context(self._request)
        decoded = response_type.decode(plain, ctx, padded=True)
        extra = self._chunk_ack_response(decoded) if isinstance(decoded, ChunkSendAck) else []
        return [_spdm_line(decoded), *extra, *lines, *self._events()]

    def _events(self) -> list[str]:
        lines = []
        while (event := self.engine.next_event()) is not None:
            evidence = _evidence(event)
            if evidence is not None:
                self.verified += 1
                lines.append(_signature_line(evidence))
            if isinstance(event, SessionEstablished):
                how = ", requester authenticated (FINISH signature verified)" if event.mutual_auth else ""
                lines.append(f"    session 0x{event.session_id:08x} established{how}")
                self.verified += bool(event.mutual_auth)
            if isinstance(event, MutualAuthCompleted):
                self.verified += 1
                lines.append("    requester authenticated: its CHALLENGE_AUTH signature over M2 verified")
            lines += _endpoint_lines(event)
        return lines


def _evidence(event: Event) -> SignedEvidence | None:
    if isinstance(event, ChallengeAuthenticated | MeasurementsReceived | EndpointInfoReceived):
        return event.evidence
    return None


def _endpoint_lines(event: Event) -> list[str]:
    """What the engine made of an SPDM 1.3 endpoint message (its signature has its own line)."""
    if isinstance(event, EndpointInfoReceived) and event.evidence is None:
        return [f"    endpoint info (subcode {event.subcode}), unsigned: {event.ep_info.hex()}"]
    if isinstance(event, MeasurementExtensionLogReceived):
        return [f"    measurement extension log complete: {event.entries} entries, {len(event.mel)} bytes"]
    if isinstance(event, KeyPairInfoReceived):
        return [f"    key pair {event.key_pair_id} of {event.total_key_pairs}: "
                f"usage 0x{event.current_key_usage:04x} of 0x{event.key_usage_capabilities:04x}, "
                f"algorithm 0x{event.current_asym_algo:08x}, "
                f"slots 0x{event.assoc_cert_slot_mask:02x}"]
    if isinstance(event, KeyPairInfoSet):
        return [f"    key pair {event.key_pair_id} set (operation {event.operation})"]
    return []


def dump(capture: bytes, *, now: datetime, secrets: Sequence[bytes] = ()) -> list[str]:
    """Decode a PCI DOE, MCTP or DSP0287 TCP capture into lines, ending with the signature summary.

    Args:
        capture: the pcap file's bytes (link type 292, 291 or 147).
        secrets: the session secrets (DHE shared secrets, PSKs) in the order the
            sessions were created; with them secured records are decrypted.
        now: the time certificate validity is checked against.

    Raises:
        DecodeError: the file is not a capture of one of these link types.
    """
    codec = _BINDINGS.get(pcap_link_type(capture))
    if codec is not None:
        follower = _Follower(now, secrets, codec.record_format)
        lines = _binding_lines(read_capture(capture, link_type=codec.link_type), codec, follower)
    else:
        follower = _Follower(now, secrets, DOE_RECORDS)
        lines = _doe_lines(read_capture(capture), follower)
    if follower.stopped:
        lines.append(f"followed the conversation up to where it stopped: {follower.stopped}")
    lines.append(f"secured records decrypted: {follower.decrypted}")
    lines.append(f"signatures: {follower.verified} verified, {len(follower.failed)} failed")
    return lines


def _binding_lines(records: list[CaptureRecord], codec: BindingCodec, follower: _Follower) -> list[str]:
    """The lines of an MCTP or DSP0287 capture: one message per record."""
    lines = []
    sequence_size = codec.record_format.sequence_size
    for record in records:
        direction = "REQ->RSP" if record.index % 2 == 0 else "RSP->REQ"
        prefix = f"{record.index + 1} "
        try:
            message = codec.decode(record.data)
            head = f"{prefix}{codec.label(record.data)} {direction} "
            if message.secured:
                session_id = int.from_bytes(message.payload[:4], "little")
                wire_seq = int.from_bytes(message.payload[4:4 + sequence_size], "little")
                sequence = f", Seq=0x{wire_seq:0{2 * sequence_size}x}" if sequence_size else ""
                head += f"SecuredSPDM(0x{session_id:08x}{sequence}) "
            if direction == "REQ->RSP":
                first, *rest = follower.request(message.payload, secured=message.secured)
            else:
                first, *rest = follower.response(message.payload, secured=message.secured)
            lines += [head + first, *rest]
        except DevsecError as exc:
            lines.append(f"{prefix}undecodable record: {exc}")
    return lines


def _doe_lines(records: list[CaptureRecord], follower: _Follower) -> list[str]:
    """The lines of a PCI DOE capture: one data object per record."""
    lines = []
    for record in records:
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
            elif obj.object_type in (DataObjectType.SPDM, DataObjectType.SECURED_SPDM):
                secured = obj.object_type == DataObjectType.SECURED_SPDM
                if secured:
                    head += f"SecuredSPDM(0x{int.from_bytes(obj.payload[:4], 'little'):08x}) "
                if direction == "REQ->RSP":
                    first, *rest = follower.request(obj.payload, secured=secured)
                else:
                    first, *rest = follower.response(obj.payload, secured=secured)
                lines += [head + first, *rest]
            else:
                lines.append(head + f"<{len(obj.payload)} bytes>")
        except DevsecError as exc:
            lines.append(f"{prefix}undecodable record: {exc}")
    return lines


def parse_secrets(text: str, source: str) -> list[bytes]:
    """The reference's secrets file: ``--dhe_secret HEX`` / ``--kem_secret HEX`` / ``--psk HEX`` lines,
    in session order (``--kem_secret``: an SPDM 1.4 ML-KEM session's shared secret, which takes the
    DHE secret's place in the key schedule).

    Args:
        text: the file's contents.
        source: the file's name, for error messages.

    Raises:
        ConfigurationError: a line is neither form, or its value is not hex.
    """
    secrets = []
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words:
            continue
        if len(words) != 2 or words[0] not in ("--dhe_secret", "--kem_secret", "--psk"):
            raise ConfigurationError(
                f"{source}:{number}: expected '--dhe_secret HEX', '--kem_secret HEX' or '--psk HEX'")
        try:
            secret = bytes.fromhex(words[1])
        except ValueError as exc:
            raise ConfigurationError(f"{source}:{number} wants hex digits: {exc}") from exc
        if not secret:
            raise ConfigurationError(f"{source}:{number} must not be empty")
        secrets.append(secret)
    return secrets
