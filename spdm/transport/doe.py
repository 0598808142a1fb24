"""DOE data-object framing and the DOE Discovery protocol codec.

This module's single responsibility is the bytes of PCIe Data Object Exchange
(PCIe r6.x §6.30, PROTOCOLS.md §1.2-1.4): the two-dword header every data
object carries, the dword padding of its payload, and the one-dword Discovery
request/response.  It does no I/O; ``discover()`` walks the Discovery protocol
over any ``exchange`` callable a transport provides.

The header and the Discovery payloads are declared once with construct
(``DoeDataObjectHeader``, ``DoeDiscoveryRequest``, ``DoeDiscoveryResponse``,
made on first use).  Building and parsing them use precompiled
``struct.Struct``s of the same layouts (STYLE.md R7: one header is built and
parsed per object on every transport; parsing checks the length first), and
tests check each pair agrees.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from enum import IntEnum
from typing import TYPE_CHECKING

from spdm.errors import DecodeError, LocalProtocolError, RemoteProtocolError

from ..codec import declared_names, declares_structs
from ..record import record

if TYPE_CHECKING:
    from construct import Construct

__all__ = [
    "DOE_HEADER_SIZE",
    "DOE_MAX_OBJECT_DWORDS",
    "PCI_SIG_VENDOR_ID",
    "DataObject",
    "DataObjectType",
    "DiscoveryRequest",
    "DiscoveryResponse",
    "DoeDataObjectHeader",
    "DoeDiscoveryRequest",
    "DoeDiscoveryResponse",
    "data_object_fields",
    "data_object_length",
    "decode_data_object",
    "decode_discovery_request",
    "decode_discovery_response",
    "discover",
    "encode_data_object",
    "encode_discovery_request",
    "encode_discovery_response",
    "frame_data_object",
]

_log = logging.getLogger(__name__)

PCI_SIG_VENDOR_ID = 0x0001
"""Vendor ID of the PCI-SIG defined data object protocols (PROTOCOLS.md §1.2)."""

DOE_HEADER_SIZE = 8
"""Bytes of the two header dwords that start every data object."""

DOE_MAX_OBJECT_DWORDS = 1 << 18
"""Largest data object, in dwords including the header (1 MiB); encoded as length 0."""

_LENGTH_MASK = DOE_MAX_OBJECT_DWORDS - 1


class DataObjectType(IntEnum):
    """PCI-SIG data object types (vendor 0x0001), PROTOCOLS.md §1.4."""

    DISCOVERY = 0x00
    SPDM = 0x01
    SECURED_SPDM = 0x02





# Fast paths (R7), each cross-checked against its construct declaration by the tests.
# DoeDataObjectHeader: vendor_id, type, reserved0, DW1.
_HEADER = struct.Struct("<HBBI")
# DoeDiscoveryRequest: index, version, reserved.  DoeDiscoveryResponse: vendor_id, type, next_index.
_DISCOVERY_REQUEST = struct.Struct("<BBH")
_DISCOVERY_RESPONSE = struct.Struct("<HBB")


def _check_range(name: str, value: int, limit: int) -> None:
    if not 0 <= value < limit:
        raise LocalProtocolError(f"{name} {value!r} out of range 0..{limit - 1:#x}")


def _discovery_fields(layout: struct.Struct, payload: bytes, what: str) -> tuple[int, ...]:
    """Unpack a Discovery payload, which must be exactly one dword (the declarations end in Terminated)."""
    if len(payload) != layout.size:
        raise DecodeError(f"malformed {what}: {len(payload)} bytes, expected {layout.size}")
    return layout.unpack(payload)


@record(frozen=True, slots=True)
class DataObject:
    """One DOE data object, header fields plus payload.

    Attributes:
        vendor_id: the protocol's vendor ID (``PCI_SIG_VENDOR_ID`` for CMA/SPDM).
        object_type: the data object type within that vendor's space.
        payload: the bytes after the header as carried.  A decoded object keeps
            the pad (up to 3 bytes, zero from a conforming sender) at the end;
            it is not part of the SPDM message, whose own fields give its true
            length (PROTOCOLS.md §1.2).
    """

    vendor_id: int
    object_type: int
    payload: bytes

    def __post_init__(self) -> None:
        _check_header_fields(self.vendor_id, self.object_type)


def _check_header_fields(vendor_id: int, object_type: int) -> None:
    if 0 <= vendor_id < 1 << 16 and 0 <= object_type < 1 << 8:
        return  # in range (four objects per exchange: checked inline, named only when not)
    _check_range("vendor_id", vendor_id, 1 << 16)
    _check_range("object_type", object_type, 1 << 8)


def encode_data_object(obj: DataObject) -> bytes:
    """Frame a data object: header, payload, zero pad to a dword.

    Args:
        obj: the object to frame.

    Returns:
        The complete object; its DW1 length counts both header dwords, and a
        length of 2^18 dwords is encoded as 0.

    Raises:
        LocalProtocolError: the padded object would exceed 2^18 dwords (1 MiB);
            the caller must split or shrink the payload.
    """
    return _frame(obj.vendor_id, obj.object_type, obj.payload)


def frame_data_object(vendor_id: int, object_type: int, payload: bytes) -> bytes:
    """:func:`encode_data_object` of ``DataObject(vendor_id, object_type, payload)``, without the record.

    For the paths that frame every exchange (the requester's driver, the
    device's endpoint): making the record costs more than the framing.

    Raises:
        LocalProtocolError: a field out of range (as :class:`DataObject` refuses
            it), or the padded object would exceed 2^18 dwords (1 MiB).
    """
    _check_header_fields(vendor_id, object_type)
    return _frame(vendor_id, object_type, payload)


def _frame(vendor_id: int, object_type: int, payload: bytes) -> bytes:
    pad = -len(payload) % 4
    dwords = (DOE_HEADER_SIZE + len(payload) + pad) // 4
    if dwords > DOE_MAX_OBJECT_DWORDS:
        raise LocalProtocolError(
            f"data object of {dwords} dwords exceeds the DOE maximum of {DOE_MAX_OBJECT_DWORDS}"
        )
    # The field ranges were checked, so the fast path cannot overflow.
    header = _HEADER.pack(vendor_id, object_type, 0, dwords & _LENGTH_MASK)
    return header + payload + bytes(pad)


def _header_fields(header: bytes) -> tuple[int, int, int]:
    """Validate the first 8 bytes of ``header``; return (vendor_id, type, total bytes)."""
    if len(header) < DOE_HEADER_SIZE:
        raise DecodeError(f"DOE object of {len(header)} bytes is shorter than its 8-byte header")
    vendor_id, object_type, reserved0, dw1 = _HEADER.unpack_from(header)
    if reserved0:
        raise DecodeError(f"DOE header DW0[31:24] reserved bits set ({reserved0:#04x})")
    if dw1 >> 18:
        raise DecodeError(f"DOE header DW1[31:18] reserved bits set ({dw1 >> 18:#x})")
    dwords = (dw1 & _LENGTH_MASK) or DOE_MAX_OBJECT_DWORDS
    if dwords < 2:
        raise DecodeError(f"DOE length of {dwords} dword cannot hold the 2-dword header")
    return vendor_id, object_type, dwords * 4


def data_object_length(header: bytes) -> int:
    """Return the total size in bytes that a data object header announces.

    For stream readers (sockets, mailboxes) that read the header first.

    Args:
        header: exactly the 8 header bytes.

    Returns:
        The object's total size in bytes, header included (8 to 1 MiB).

    Raises:
        DecodeError: ``header`` is not 8 bytes, has reserved bits set, or
            announces fewer than 2 dwords.
    """
    if len(header) != DOE_HEADER_SIZE:
        raise DecodeError(f"DOE header must be 8 bytes, got {len(header)}")
    return _header_fields(header)[2]


def decode_data_object(data: bytes) -> DataObject:
    """Parse one complete data object.

    Args:
        data: exactly one object, header included.

    Returns:
        The object; its payload keeps any pad bytes (see ``DataObject``).

    Raises:
        DecodeError: fewer than 8 bytes, reserved header bits set, or the DW1
            length (0 meaning 2^18 dwords) disagrees with ``len(data)``.
    """
    return DataObject(*data_object_fields(data))


def data_object_fields(data: bytes) -> tuple[int, int, bytes]:
    """:func:`decode_data_object`'s fields, without the record: (vendor_id, object_type, payload).

    For the paths that read every exchange, as :func:`frame_data_object`.

    Raises:
        DecodeError: as :func:`decode_data_object`.
    """
    vendor_id, object_type, total = _header_fields(data)
    if total != len(data):
        raise DecodeError(f"DOE header announces {total} bytes but {len(data)} were received")
    return vendor_id, object_type, bytes(data[DOE_HEADER_SIZE:])


@record(frozen=True, slots=True)
class DiscoveryRequest:
    """DOE Discovery request (PCIe r6.x §6.30.1.1).

    Attributes:
        index: which entry of the protocol table to report (0 first).
        version: Discovery Version (PCIe 6.1+); 0 for earlier devices.
    """

    index: int
    version: int = 0

    def __post_init__(self) -> None:
        if 0 <= self.index < 1 << 8 and 0 <= self.version < 1 << 8:
            return  # in range (checked inline, as DataObject's, named only when not)
        _check_range("index", self.index, 1 << 8)
        _check_range("version", self.version, 1 << 8)


@record(frozen=True, slots=True)
class DiscoveryResponse:
    """DOE Discovery response (PCIe r6.x §6.30.1.1).

    Attributes:
        vendor_id: vendor ID of the protocol at the requested index.
        object_type: data object type of that protocol.
        next_index: index of the next entry; 0 means this was the last one.
    """

    vendor_id: int
    object_type: int
    next_index: int

    def __post_init__(self) -> None:
        if 0 <= self.vendor_id < 1 << 16 and 0 <= self.object_type < 1 << 8 and 0 <= self.next_index < 1 << 8:
            return  # in range (checked inline, as DataObject's, named only when not)
        _check_range("vendor_id", self.vendor_id, 1 << 16)
        _check_range("object_type", self.object_type, 1 << 8)
        _check_range("next_index", self.next_index, 1 << 8)


def encode_discovery_request(request: DiscoveryRequest) -> bytes:
    """Build the 4-byte Discovery request payload (no DOE header).

    Args:
        request: the request.

    Returns:
        The payload; the reserved bytes are zero.
    """
    return _DISCOVERY_REQUEST.pack(request.index, request.version, 0)


def decode_discovery_request(payload: bytes) -> DiscoveryRequest:
    """Parse a Discovery request payload (no DOE header).

    Args:
        payload: exactly the 4 payload bytes; the reserved bytes are ignored.

    Returns:
        The request.

    Raises:
        DecodeError: the payload is not exactly 4 bytes.
    """
    index, version, _ = _discovery_fields(_DISCOVERY_REQUEST, payload, "DOE Discovery request")
    return DiscoveryRequest(index, version)


def encode_discovery_response(response: DiscoveryResponse) -> bytes:
    """Build the 4-byte Discovery response payload (no DOE header).

    Args:
        response: the response.

    Returns:
        The payload.
    """
    return _DISCOVERY_RESPONSE.pack(response.vendor_id, response.object_type, response.next_index)


def decode_discovery_response(payload: bytes) -> DiscoveryResponse:
    """Parse a Discovery response payload (no DOE header).

    Args:
        payload: exactly the 4 payload bytes.

    Returns:
        The response.

    Raises:
        DecodeError: the payload is not exactly 4 bytes.
    """
    return DiscoveryResponse(*_discovery_fields(_DISCOVERY_RESPONSE, payload, "DOE Discovery response"))


def discover(exchange: Callable[[bytes], bytes]) -> list[tuple[int, int]]:
    """List the protocols a DOE instance supports by walking DOE Discovery.

    Starts at index 0 and follows ``next_index`` until it is 0, as Linux's
    ``pci_doe_cache_features`` does.  Indices are one byte, so refusing to
    revisit an index also bounds the walk at 256 entries.

    Args:
        exchange: sends one complete DOE object and returns the complete
            response object (``DoeTransport.exchange``).

    Returns:
        ``(vendor_id, object_type)`` per entry, in the device's order.

    Raises:
        DecodeError: a response is not a well-formed Discovery object.
        RemoteProtocolError: a response is not of the Discovery type, or the
            walk revisits an index.
        TransportError: raised by ``exchange``.
    """
    protocols: list[tuple[int, int]] = []
    visited: set[int] = set()
    index = 0
    while True:
        if index in visited:
            raise RemoteProtocolError(f"DOE Discovery loops back to index {index}")
        visited.add(index)
        request = frame_data_object(
            PCI_SIG_VENDOR_ID,
            DataObjectType.DISCOVERY,
            encode_discovery_request(DiscoveryRequest(index)),
        )
        vendor_id, object_type, payload = data_object_fields(exchange(request))
        if (vendor_id, object_type) != (PCI_SIG_VENDOR_ID, DataObjectType.DISCOVERY):
            raise RemoteProtocolError(
                f"DOE Discovery answered with object {vendor_id:04x}:{object_type:02x}"
            )
        entry = decode_discovery_response(payload)
        _log.debug(
            "DOE discovery index %d: %04x:%02x next %d",
            index,
            entry.vendor_id,
            entry.object_type,
            entry.next_index,
        )
        protocols.append((entry.vendor_id, entry.object_type))
        if entry.next_index == 0:
            return protocols
        index = entry.next_index


@declares_structs(__name__)
def _declare_structs() -> None:
    """The construct declarations of the header and the Discovery payloads, made on first use:
    every transport builds and parses them with the ``struct`` fast paths above, which the
    tests check against these."""
    global DoeDataObjectHeader, DoeDiscoveryRequest, DoeDiscoveryResponse
    from construct import BitsInteger, BitStruct, ByteSwapped, Int8ul, Int16ul, Struct, Terminated

    # PCIe r6.x §6.30.1 "Data Object Header 1" and "Data Object Header 2".  DW1 is a
    # little-endian dword whose top 14 bits are reserved; ByteSwapped turns it into
    # the MSB-first order BitStruct reads.
    DoeDataObjectHeader = Struct(
        "vendor_id" / Int16ul,
        "data_object_type" / Int8ul,
        "reserved0" / Int8ul,
        "dw1" / ByteSwapped(BitStruct("reserved1" / BitsInteger(14), "length" / BitsInteger(18))),
    )
    # PCIe r6.x §6.30.1.1 "DOE Discovery Request Data Object" (payload only).
    DoeDiscoveryRequest = Struct(
        "index" / Int8ul,
        "version" / Int8ul,
        "reserved" / Int16ul,
        Terminated,
    )
    # PCIe r6.x §6.30.1.1 "DOE Discovery Response Data Object" (payload only).
    DoeDiscoveryResponse = Struct(
        "vendor_id" / Int16ul,
        "data_object_type" / Int8ul,
        "next_index" / Int8ul,
        Terminated,
    )


DoeDataObjectHeader: Construct
DoeDiscoveryRequest: Construct
DoeDiscoveryResponse: Construct
_DECLARED = ("DoeDataObjectHeader", "DoeDiscoveryRequest", "DoeDiscoveryResponse")

__getattr__ = declared_names(__name__, _DECLARED)
