"""What a TSM reports about a device and its TDIs, as values that survive a process boundary.

A TSM backend returns these from every operation; the host renders them
(``sysfs_bridge``), prints them (the CLI) or ships them to a verifier.  The
``psp-proxy`` backend and the TSM service's clients receive them from another
process: :mod:`.wire` encodes them.  They hold evidence only: certificates,
signed transcripts, measurements, the interface report, states — never a key.
"""

from __future__ import annotations

import re
from dataclasses import field
from enum import Enum
from typing import Final

from spdm.crypto import SigningAlgo
from spdm.errors import DecodeError
from spdm.events import SignedEvidence
from spdm.messages import MeasurementBlock
from spdm.messages.codes import (
    AeadSuite,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    KemAlgo,
    MeasurementHashAlgo,
    SpdmVersion,
)
from spdm.record import record
from tdisp.messages import TdiState

__all__ = [
    "DeviceInfo",
    "LinkState",
    "TdiInfo",
    "expect_device",
    "expect_tdi",
    "function_id",
]


class LinkState(Enum):
    """Where a device's link stands from the TSM's point of view."""

    CONNECTED = "connected"
    """SPDM session up, IDE keys programmed and running."""
    DISCONNECTED = "disconnected"
    """Torn down on request."""
    ERROR = "error"
    """The session or the device was lost; its TDIs are in ERROR."""


_BDF: Final = re.compile(
    r"(?P<segment>[0-9a-fA-F]{4,8}):(?P<bus>[0-9a-fA-F]{2}):(?P<device>[0-9a-fA-F]{2})\.(?P<function>[0-7])")
"""Linux's spelling of a function's address: zero-padded hex, the segment 4 hex digits or more (VMD)."""


def function_id(bdf: str) -> int:
    """The TDISP FUNCTION_ID (PCIe Requester ID) of the function at ``DDDD:BB:DD.F``.

    Raises:
        DecodeError: ``bdf`` is not a PCI address.
    """
    match = _BDF.fullmatch(bdf)
    if match is None or int(match["device"], 16) > 0x1F:
        raise DecodeError(f"not a PCI address DDDD:BB:DD.F: {bdf!r}")
    return int(match["bus"], 16) << 8 | int(match["device"], 16) << 3 | int(match["function"])


@record(frozen=True, slots=True)
class TdiInfo:
    """One TDI (a function the device hands to a confidential VM).

    Attributes:
        bdf: the TDI's PCI address.
        dsm: the PCI address of the device security manager that owns it.
        interface_id: its TDISP FUNCTION_ID.
        state: the TDI's TDISP state as last seen (ERROR after a session loss).
        report: the raw TDISP DEVICE_INTERFACE_REPORT, empty before ``bind``.
        mmio_ranges: how many MMIO ranges the report lists.
    """

    bdf: str
    dsm: str
    interface_id: int
    state: TdiState
    report: bytes = field(default=b"", repr=False)
    mmio_ranges: int = 0


@record(frozen=True, slots=True)
class DeviceInfo:
    """One device as its TSM knows it: identity, evidence, link and TDIs.

    Attributes:
        bdf: the DSM's PCI address (function 0).
        tsm: the backend's name (``native``, ``psp-proxy``).
        state: the link's state.
        version: the negotiated SPDM version.
        hash_alg / asym_alg / measurement_hash_alg / dhe_group / aead_suite:
            the negotiated algorithms; ``asym_alg`` is the signing algorithm, a
            PqcAsymAlgo for an SPDM 1.4 ML-DSA identity (told apart by type: the two
            enums share bit values), and ``dhe_group`` is 0 when a KEM is negotiated.
        capabilities: the device's SPDM capability flags.
        doe_features: DOE protocols its mailbox lists, as (vendor, type).
        certificates: slot -> the slot's DER certificates concatenated.
        signatures: every signature received, with what it signed.
        measurements: the signed measurement blocks (the newest set).
        streams: IDE stream IDs programmed and running.
        tdis: the TDIs bound so far.
        mel: the device's SPDM 1.3 Measurement Extension Log (DMTF format), read on
            connect when the device offers it and checked against the signed
            measurements; empty otherwise.
        kem_alg: the SPDM 1.4 KEM the device's sessions use instead of DHE (0: none).
    """

    bdf: str
    tsm: str
    state: LinkState
    version: SpdmVersion
    hash_alg: BaseHashAlgo
    asym_alg: SigningAlgo
    measurement_hash_alg: MeasurementHashAlgo
    dhe_group: DheGroup
    aead_suite: AeadSuite
    capabilities: CapabilityFlags
    doe_features: tuple[tuple[int, int], ...] = ()
    certificates: dict[int, bytes] = field(default_factory=dict, repr=False)
    signatures: tuple[SignedEvidence, ...] = field(default=(), repr=False)
    measurements: tuple[MeasurementBlock, ...] = field(default=(), repr=False)
    streams: tuple[int, ...] = ()
    tdis: tuple[TdiInfo, ...] = ()
    mel: bytes = field(default=b"", repr=False)
    kem_alg: KemAlgo = KemAlgo(0)


def expect_device(info: DeviceInfo | TdiInfo, what: str) -> DeviceInfo:
    """``info`` from a peer's answer to ``what``, a device operation, which must be a device's.

    Raises:
        DecodeError: it is a TDI's.
    """
    if not isinstance(info, DeviceInfo):
        raise DecodeError(f"the TSM answered {what} with a TDI's info")
    return info


def expect_tdi(info: DeviceInfo | TdiInfo, what: str) -> TdiInfo:
    """``info`` from a peer's answer to ``what``, a TDI operation, which must be a TDI's.

    Raises:
        DecodeError: it is a device's.
    """
    if not isinstance(info, TdiInfo):
        raise DecodeError(f"the TSM answered {what} with a device's info")
    return info
