"""The one loader of the shared vectors (captures of DMTF's libspdm/spdm-emu; see vectors/README.md)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from spdm.capture import CaptureRecord, read_capture
from spdm.events import Event
from spdm.requester.follow import Follower
from spdm.responder import Responder
from spdm.secured import DirectionState, RecordFormat, record_session_id
from spdm.transport.binding import BindingCodec, BoundMessage
from spdm.transport.mctp import MCTP_CAPTURE
from spdm.transport.tcp_binding import TCP_CAPTURE

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
ROOT = VECTORS / "libspdm-doe"
SETS = ("spdm11-p256", "spdm12-p384", "spdm13-p384-mutauth-psk")
TRANSPORT_SETS: dict[str, tuple[Path, BindingCodec]] = {
    "spdm12-p384-tcp": (VECTORS / "libspdm-tcp" / "spdm12-p384-tcp", TCP_CAPTURE),
    "spdm12-p384-mctp": (VECTORS / "libspdm-mctp" / "spdm12-p384-mctp", MCTP_CAPTURE),
}
"""The captures of the other bindings (DSP0287 TCP, MCTP): their directory and record codec."""
NOW = datetime(2026, 11, 22, tzinfo=UTC)
"""When the captures' certificates are checked (inside their validity)."""

DOE_HEADER = 8
TYPE_SPDM = 1
TYPE_SECURED = 2


@dataclass(frozen=True)
class Exchange:
    """One captured request/response pair of DOE objects (records ``index`` and ``index+1``)."""

    index: int
    request: bytes
    response: bytes

    @property
    def object_type(self) -> int:
        return self.request[2]

    @property
    def request_payload(self) -> bytes:
        """The SPDM bytes of the request (DOE padding included)."""
        return self.request[DOE_HEADER:]

    @property
    def response_payload(self) -> bytes:
        return self.response[DOE_HEADER:]


@cache
def records(name: str) -> tuple[CaptureRecord, ...]:
    """All DOE objects of a set's capture."""
    return tuple(read_capture((ROOT / name / "capture.pcap").read_bytes()))


@cache
def exchanges(name: str) -> tuple[Exchange, ...]:
    """Request/response pairs in capture order."""
    recs = records(name)
    return tuple(
        Exchange(recs[i].index, recs[i].data, recs[i + 1].data) for i in range(0, len(recs) - 1, 2)
    )


def spdm_exchanges(name: str) -> tuple[Exchange, ...]:
    """The plain (DOE type 1) SPDM exchanges."""
    return tuple(e for e in exchanges(name) if e.object_type == TYPE_SPDM)


def secrets(name: str) -> list[tuple[str, bytes]]:
    """The session secrets in session order: ("dhe_secret" | "psk", value)."""
    out = []
    for line in (_directory(name) / "secrets.txt").read_text().split("\n"):
        if line.strip():
            kind, value = line.split()
            out.append((kind.lstrip("-"), bytes.fromhex(value)))
    return out


def dump_lines(name: str) -> list[str]:
    """The reference decoder's output lines (spdm_dump)."""
    return (_directory(name) / "dump.txt").read_text().splitlines()


@dataclass(frozen=True)
class LoggedMessage:
    """One SPDM message the reference requester logged: its session (0 outside one), direction, plaintext."""

    session: int
    sent: bool
    data: bytes  # as logged: a received message may carry its DOE padding


_LOG_HEADER = re.compile(r"libspdm_(send_spdm_request|receive_spdm_response)\[(\w+)\] msg \S+, "
                         r"size \(0x([0-9a-f]+)\):")
_LOG_HEX = re.compile(r"^([0-9a-f]{4}): ((?:[0-9a-f]{2} )+)")


@cache
def logged_messages(name: str) -> tuple[LoggedMessage, ...]:
    """Every message of a DOE set's ``requester.log`` in order, in and out of sessions.

    A hex dump follows each header line; it ends at its logged size, or where
    the next dump starts at offset 0000 again (a reassembled message's own).
    """
    out: list[LoggedMessage] = []
    lines = (ROOT / name / "requester.log").read_text().splitlines()
    for at, line in enumerate(lines):
        head = _LOG_HEADER.search(line)
        if head is None:
            continue
        size, data = int(head[3], 16), bytearray()
        for hex_line in lines[at + 1:]:
            row = _LOG_HEX.match(hex_line)
            if row is None or len(data) >= size or int(row[1], 16) != len(data):
                break
            data += bytes.fromhex(row[2])
        assert len(data) == size, line
        out.append(LoggedMessage(int(head[2], 16), head[1] == "send_spdm_request", bytes(data)))
    return tuple(out)


def _directory(name: str) -> Path:
    return TRANSPORT_SETS[name][0] if name in TRANSPORT_SETS else ROOT / name


@dataclass(frozen=True)
class BindingExchange:
    """One captured request/response pair of another binding (records ``index`` and ``index+1``)."""

    index: int
    request: BoundMessage
    response: BoundMessage


def binding_codec(name: str) -> BindingCodec:
    """The record codec of a :data:`TRANSPORT_SETS` capture."""
    return TRANSPORT_SETS[name][1]


@cache
def binding_records(name: str) -> tuple[CaptureRecord, ...]:
    """All records of a :data:`TRANSPORT_SETS` capture, as the file holds them."""
    directory, codec = TRANSPORT_SETS[name]
    return tuple(read_capture((directory / "capture.pcap").read_bytes(), link_type=codec.link_type))


@cache
def binding_exchanges(name: str) -> tuple[BindingExchange, ...]:
    """Request/response pairs of a :data:`TRANSPORT_SETS` capture, decoded by its binding."""
    codec = binding_codec(name)
    recs = binding_records(name)
    return tuple(BindingExchange(recs[i].index, codec.decode(recs[i].data), codec.decode(recs[i + 1].data))
                 for i in range(0, len(recs) - 1, 2))


@dataclass(frozen=True)
class VendorExchange:
    """One decrypted PCI-SIG VENDOR_DEFINED request/response payload pair of a capture.

    ``protocol`` is the PCI-SIG protocol ID (payload byte 0: 0 IDE_KM, 1 TDISP);
    ``session_id`` the session it travelled in; payloads start at the protocol ID.
    """

    index: int
    session_id: int
    protocol: int
    request: bytes
    response: bytes


PCI_SIG_VENDOR = b"\x01\x00"
CXL_VENDOR = b"\x98\x1e"


@cache
def vendor_exchanges(name: str, vendor_id: bytes = PCI_SIG_VENDOR) -> tuple[VendorExchange, ...]:
    """Every StandardID-3 VENDOR_DEFINED exchange of a capture with this VendorID (PCI-SIG's
    by default; ``CXL_VENDOR`` for the captures' CXL IDE_KM/TSP traffic), decrypted with its
    secrets.

    Uses the passive follower (the same engine code ``devsec dump`` runs), so
    a decryption failure here is a failure of ours, not of the loader.
    """
    from datetime import UTC, datetime

    from spdm.config import DEFER_TRUST, RequesterConfig
    from spdm.messages import VendorDefinedRequest, VendorDefinedResponse
    from spdm.messages.codes import RequestCode

    engine = Follower(RequesterConfig(trust_anchors=DEFER_TRUST))
    keys = [value for _, value in secrets(name)]
    now = datetime(2026, 11, 22, tzinfo=UTC)
    out = []
    for exchange in exchanges(name):
        secured = exchange.object_type == TYPE_SECURED
        if exchange.object_type not in (TYPE_SPDM, TYPE_SECURED):
            continue
        payload = exchange.request_payload
        code = None if secured else payload[1]
        if code in (RequestCode.GET_ENCAPSULATED_REQUEST, RequestCode.DELIVER_ENCAPSULATED_RESPONSE) \
                and engine.outstanding_code != code:
            engine.skip(code)
            continue
        secret = keys.pop(0) if code in (RequestCode.KEY_EXCHANGE, RequestCode.PSK_EXCHANGE) else None
        request = engine.adopt(payload, now=now, secured=secured, secret=secret)
        engine.receive_data(exchange.response_payload, secured=secured)
        while engine.next_event() is not None:
            pass
        if (isinstance(request, VendorDefinedRequest) and request.standard_id == 3
                and request.vendor_id == vendor_id and secured):
            response = VendorDefinedResponse.decode(engine.last_received, padded=True)
            session_id = int.from_bytes(payload[:4], "little")
            out.append(VendorExchange(exchange.index, session_id, request.payload[0],
                                      request.payload, response.payload))
    return tuple(out)


@dataclass(frozen=True)
class OpenedRecord:
    """One secured record of a followed capture, with what opened it.

    ``state`` is a copy of the receiving direction as it stood before the
    record (key, IV, sequence number, record format): it opens (and re-seals)
    the record again.
    """

    index: int
    state: DirectionState
    record: bytes
    message: bytes


@dataclass
class FollowedBinding:
    """What following a :data:`TRANSPORT_SETS` capture gave: every event, every record opened."""

    events: list[Event] = field(default_factory=list)
    opened: list[OpenedRecord] = field(default_factory=list)


def follow_binding(name: str, *, tamper: int | None = None,
                   record_format: RecordFormat | None = None) -> FollowedBinding:
    """Follow a whole :data:`TRANSPORT_SETS` capture with the passive requester engine.

    The engine runs with the binding's record format and the set's secrets;
    each secured record is kept with the direction state that opened it.

    Args:
        name: the set.
        tamper: flip the last byte of this record (0-based index) before it is followed.
        record_format: follow with these record parameters instead of the binding's.

    Raises:
        VerificationError: a signature, verify data or record does not verify.
    """
    from spdm.config import DEFER_TRUST, RequesterConfig
    from spdm.messages.codes import RequestCode

    codec = binding_codec(name)
    follower = Follower(RequesterConfig(trust_anchors=DEFER_TRUST),
                        record_format=record_format or codec.record_format)
    engine = follower.engine
    keys = [value for _, value in secrets(name)]
    out = FollowedBinding()

    def payload(index: int, message: BoundMessage) -> bytes:
        data = message.payload
        return data[:-1] + bytes([data[-1] ^ 1]) if index == tamper else data

    for exchange in binding_exchanges(name):
        request = payload(exchange.index, exchange.request)
        secret = None
        if exchange.request.secured:
            state = replace(engine.sessions[record_session_id(request)].current_keys().request)
        elif request[1] == RequestCode.KEY_EXCHANGE:
            secret = keys.pop(0)
        adopted = follower.adopt(request, now=NOW, secured=exchange.request.secured, secret=secret)
        if exchange.request.secured:
            out.opened.append(OpenedRecord(exchange.index, state, request, adopted.raw))
        response = payload(exchange.index + 1, exchange.response)
        if exchange.response.secured:
            state = replace(engine.sessions[record_session_id(response)].current_keys().response)
        follower.receive_data(response, secured=exchange.response.secured)
        if exchange.response.secured:
            out.opened.append(OpenedRecord(exchange.index + 1, state, response, follower.last_received))
        while (event := follower.next_event()) is not None:
            out.events.append(event)
    return out


def follow_doe(name: str, *, now: datetime = NOW,
               alter: Callable[[Exchange, bytes], bytes] | None = None) -> tuple[Follower, list[Event]]:
    """Follow a whole DOE capture (plain and secured SPDM) with the passive requester engine.

    Each KEY_EXCHANGE takes the next of the set's secrets (``--dhe_secret`` or
    ``--kem_secret``), and every one must be used.  Encapsulated exchanges the
    engine is not waiting for (the responder's encapsulated requests it only
    watches) are skipped the way ``devsec dump`` skips them.

    Args:
        name: the set.
        now: when the certificates are checked.
        alter: rewrite a response payload before it is followed (tampering tests).

    Returns:
        The engine and every event it reported.

    Raises:
        VerificationError: a signature, verify data or record does not verify.
    """
    from spdm.config import DEFER_TRUST, RequesterConfig
    from spdm.messages.codes import RequestCode

    encapsulated = (RequestCode.GET_ENCAPSULATED_REQUEST, RequestCode.DELIVER_ENCAPSULATED_RESPONSE)
    engine = Follower(RequesterConfig(trust_anchors=DEFER_TRUST))
    keys = [value for _, value in secrets(name)]
    events: list[Event] = []
    for exchange in exchanges(name):
        if exchange.object_type not in (TYPE_SPDM, TYPE_SECURED):
            continue
        secured = exchange.object_type == TYPE_SECURED
        payload = exchange.request_payload
        code = None if secured else payload[1]
        if code in encapsulated and engine.outstanding_code != code:
            engine.skip(code)
            continue
        secret = keys.pop(0) if code == RequestCode.KEY_EXCHANGE else None
        engine.adopt(payload, now=now, secured=secured, secret=secret)
        response = exchange.response_payload
        engine.receive_data(alter(exchange, response) if alter else response, secured=secured)
        while (event := engine.next_event()) is not None:
            events.append(event)
    assert not keys, f"{len(keys)} secrets of {name} were not used"
    return engine, events


def flip_last_byte_of(record: int) -> Callable[[Exchange, bytes], bytes]:
    """An ``alter`` for :func:`follow_doe`: flip the last (unpadded) byte of dump.txt's 1-based ``record``."""

    def alter(exchange: Exchange, response: bytes) -> bytes:
        if exchange.index + 2 != record:  # Exchange.index: 0-based request record
            return response
        end = len(response.rstrip(b"\0")) - 1
        return response[:end] + bytes([response[end] ^ 1]) + response[end + 1:]

    return alter


def replay_to_responder(name: str, responder: Responder, *, now: datetime) -> list[Event]:
    """Our responder answers a :data:`TRANSPORT_SETS` capture's requests up to its first KEY_EXCHANGE.

    Each answer must have the captured response's code; then the passive
    requester engine follows the captured requests with our answers, so every
    signature our device made is verified against the transcript it covers
    (with our device's chains, which our answers carried).

    Args:
        name: the set.
        responder: our responder, configured like the reference device.
        now: when our device's certificates are checked.

    Returns:
        The follower's events.
    """
    from spdm.config import DEFER_TRUST, RequesterConfig
    from spdm.messages.codes import RequestCode

    follower = Follower(RequesterConfig(trust_anchors=DEFER_TRUST),
                        record_format=binding_codec(name).record_format)
    events: list[Event] = []
    for exchange in binding_exchanges(name):
        request = exchange.request.payload
        if exchange.request.secured or request[1] == RequestCode.KEY_EXCHANGE:
            break
        answer = responder.handle(request)
        assert answer[1] == exchange.response.payload[1], (exchange.index, answer[:4].hex())
        follower.adopt(request, now=now)
        follower.receive_data(answer)
        while (event := follower.next_event()) is not None:
            events.append(event)
    return events
