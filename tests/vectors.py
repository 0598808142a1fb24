"""The one loader of the shared vectors (captures of DMTF's libspdm/spdm-emu; see vectors/README.md)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from spdm.capture import CaptureRecord, read_capture

ROOT = Path(__file__).resolve().parent.parent / "vectors" / "libspdm-doe"
SETS = ("spdm11-p256", "spdm12-p384", "spdm13-p384-mutauth-psk")

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
    for line in (ROOT / name / "secrets.txt").read_text().split("\n"):
        if line.strip():
            kind, value = line.split()
            out.append((kind.lstrip("-"), bytes.fromhex(value)))
    return out


def dump_lines(name: str) -> list[str]:
    """The reference decoder's output lines (spdm_dump)."""
    return (ROOT / name / "dump.txt").read_text().splitlines()


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
    from spdm.requester.follow import Follower

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
