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
