"""Classic pcap files of SPDM traffic: PCI DOE (LINKTYPE_PCI_DOE = 292) and the other bindings'.

One record is one complete DOE data object, with no pseudo-header and no
direction flag: requests and responses alternate, request first.  This is the
format of the reference implementation's ``--pcap`` output and of the shared
vectors; ``devsec dump`` reads it, and :class:`RecordingTransport` writes
one from any live conversation.  Captures of the other bindings are the same
but for the link type and what a record holds: one MCTP message behind its
transport header (291, :mod:`spdm.transport.mctp`) or one DSP0287 message
(147, :mod:`spdm.transport.tcp_binding`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator

from construct import Const, ConstructError, Int16ul, Int32ul, Struct

from .errors import DecodeError, LocalProtocolError
from .record import record
from .transport import DoeTransport

__all__ = [
    "LINKTYPE_PCI_DOE",
    "PCAP_MAGIC",
    "CaptureRecord",
    "PcapFileHeader",
    "PcapRecordHeader",
    "RecordingTransport",
    "exchanges",
    "pcap_link_type",
    "read_capture",
    "write_capture",
]

LINKTYPE_PCI_DOE = 292
PCAP_MAGIC = 0xA1B2C3D4
_MAX_RECORD = (1 << 20) + 8  # a DOE object is at most 1 MiB (2^18 dwords)

# libpcap file format, little-endian variant (the magic reads a1b2c3d4 natively).
PcapFileHeader = Struct(
    "magic" / Const(PCAP_MAGIC, Int32ul),
    "version_major" / Int16ul,
    "version_minor" / Int16ul,
    "thiszone" / Int32ul,
    "sigfigs" / Int32ul,
    "snaplen" / Int32ul,
    "linktype" / Int32ul,
)
PcapRecordHeader = Struct(
    "ts_sec" / Int32ul,
    "ts_usec" / Int32ul,
    "incl_len" / Int32ul,
    "orig_len" / Int32ul,
)
_RECORD_HEADER = struct.Struct("<IIII")
"""PcapRecordHeader precompiled: read once per record, so a file of many tiny records stays cheap
(tests check it against the construct declaration)."""


@record(frozen=True, slots=True)
class CaptureRecord:
    """One captured DOE object and its position (0-based) in the file."""

    index: int
    data: bytes


def pcap_link_type(data: bytes) -> int:
    """The link type of a classic pcap file (which binding's records it holds).

    Raises:
        DecodeError: not a little-endian classic pcap.
    """
    try:
        linktype: int = PcapFileHeader.parse(data).linktype
    except ConstructError as exc:
        raise DecodeError(f"not a classic pcap file: {exc}") from exc
    return linktype


def read_capture(data: bytes, *, link_type: int = LINKTYPE_PCI_DOE) -> list[CaptureRecord]:
    """Split a pcap of one binding's records into its records.

    Linear in the file's size: each record header is read in place (never
    from a copy of the rest of the file), so a capture of many empty records
    costs no more than its bytes.

    Args:
        data: the file's bytes.
        link_type: the link type the file must have (PCI DOE's by default).

    Raises:
        DecodeError: not a little-endian classic pcap, not of ``link_type``, or a
            record runs past the end of the file.
    """
    linktype = pcap_link_type(data)
    if linktype != link_type:
        raise DecodeError(f"pcap link type {linktype}, expected {link_type}")
    records: list[CaptureRecord] = []
    offset = PcapFileHeader.sizeof()
    while offset < len(data):
        if len(data) - offset < _RECORD_HEADER.size:
            raise DecodeError(f"pcap record {len(records)}: truncated header")
        _, _, incl_len, _ = _RECORD_HEADER.unpack_from(data, offset)
        offset += _RECORD_HEADER.size
        end = offset + incl_len
        if incl_len > _MAX_RECORD or end > len(data):
            raise DecodeError(f"pcap record {len(records)}: length {incl_len} runs past the file")
        records.append(CaptureRecord(len(records), data[offset:end]))
        offset = end
    return records


def write_capture(objects: Iterable[bytes], *, link_type: int = LINKTYPE_PCI_DOE) -> bytes:
    """Render records as a pcap (timestamps zero: they carry no meaning); DOE objects by default."""
    out = bytearray(
        PcapFileHeader.build(
            dict(version_major=2, version_minor=4, thiszone=0, sigfigs=0,
                 snaplen=1 << 20, linktype=link_type)
        )
    )
    for obj in objects:
        if len(obj) > _MAX_RECORD:
            raise LocalProtocolError(f"a {len(obj)}-byte record is larger than any DOE object")
        out += PcapRecordHeader.build(dict(ts_sec=0, ts_usec=0, incl_len=len(obj), orig_len=len(obj)))
        out += obj
    return bytes(out)


class RecordingTransport:
    """A :class:`~spdm.transport.DoeTransport` that passes objects through and keeps them for a capture.

    Put it between a driver and any transport to record a live conversation
    in the order :func:`read_capture` expects (request, response, ...);
    :meth:`pcap` renders it.  A request that got no response (the transport
    failed) is not kept, so the capture's requests and responses still alternate.
    """

    def __init__(self, inner: DoeTransport) -> None:
        """Args:
            inner: the transport that really carries the objects.
        """
        self.inner = inner
        self.objects: list[bytes] = []
        """Every DOE object exchanged so far, requests and responses alternating."""

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        """Carry one object through ``inner`` and record it with its response.

        Raises:
            TransportError: from ``inner`` (nothing is recorded).
        """
        response = self.inner.exchange(request, timeout=timeout)
        self.objects += (bytes(request), bytes(response))
        return response

    def close(self) -> None:
        """Close ``inner``; what was recorded stays."""
        self.inner.close()

    def pcap(self) -> bytes:
        """The recorded conversation as a PCI DOE pcap file."""
        return write_capture(self.objects)


def exchanges(records: list[CaptureRecord]) -> Iterator[tuple[CaptureRecord, CaptureRecord | None]]:
    """Pair records as (request, response); a trailing unanswered request gets None."""
    for i in range(0, len(records), 2):
        yield records[i], records[i + 1] if i + 1 < len(records) else None
