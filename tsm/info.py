"""What a TSM reports about a device and its TDIs, as values that survive a process boundary.

A TSM backend returns these from every operation; the host renders them
(``sysfs_bridge``), prints them (the CLI) or ships them to a verifier.  The
``psp-proxy`` backend receives them from another process, so they encode to
and from JSON here, in one place, with every byte field in hex.  They hold
evidence only: certificates, signed transcripts, measurements, the interface
report, states — never a key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from spdm.errors import DecodeError
from spdm.events import SignedEvidence
from spdm.messages import MeasurementBlock
from spdm.messages.codes import (
    AeadSuite,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    MeasurementHashAlgo,
    SpdmVersion,
)
from tdisp.messages import TdiState

__all__ = [
    "DeviceInfo",
    "LinkState",
    "TdiInfo",
    "decode_info",
    "encode_info",
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One device as its TSM knows it: identity, evidence, link and TDIs.

    Attributes:
        bdf: the DSM's PCI address (function 0).
        tsm: the backend's name (``native``, ``psp-proxy``).
        state: the link's state.
        version: the negotiated SPDM version.
        hash_alg / asym_alg / measurement_hash_alg / dhe_group / aead_suite:
            the negotiated algorithms.
        capabilities: the device's SPDM capability flags.
        doe_features: DOE protocols its mailbox lists, as (vendor, type).
        certificates: slot -> the slot's DER certificates concatenated.
        signatures: every signature received, with what it signed.
        measurements: the signed measurement blocks (the newest set).
        streams: IDE stream IDs programmed and running.
        tdis: the TDIs bound so far.
    """

    bdf: str
    tsm: str
    state: LinkState
    version: SpdmVersion
    hash_alg: BaseHashAlgo
    asym_alg: BaseAsymAlgo
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


_FORMAT: Final = "devsec-tsm-info/1"


def _signature_doc(s: SignedEvidence) -> dict[str, Any]:
    return {
        "context": s.context, "version": int(s.version), "hash_alg": int(s.hash_alg),
        "asym_alg": int(s.asym_alg), "slot_id": s.slot_id, "transcript": s.transcript.hex(),
        "signature": s.signature.hex(), "requester_nonce": s.requester_nonce.hex(),
        "responder_nonce": s.responder_nonce.hex(), "combined_prefix": s.combined_prefix.hex(),
    }


def _tdi_doc(t: TdiInfo) -> dict[str, Any]:
    return {"bdf": t.bdf, "dsm": t.dsm, "interface_id": t.interface_id, "state": t.state.name,
            "report": t.report.hex(), "mmio_ranges": t.mmio_ranges}


def _device_doc(d: DeviceInfo) -> dict[str, Any]:
    return {
        "bdf": d.bdf, "tsm": d.tsm, "state": d.state.value, "version": int(d.version),
        "hash_alg": int(d.hash_alg), "asym_alg": int(d.asym_alg),
        "measurement_hash_alg": int(d.measurement_hash_alg), "dhe_group": int(d.dhe_group),
        "aead_suite": int(d.aead_suite), "capabilities": int(d.capabilities),
        "doe_features": [list(f) for f in d.doe_features],
        "certificates": {str(slot): der.hex() for slot, der in d.certificates.items()},
        "signatures": [_signature_doc(s) for s in d.signatures],
        "measurements": [{"index": m.index, "value_type": m.value_type, "value": m.value.hex()}
                         for m in d.measurements],
        "streams": list(d.streams),
        "tdis": [_tdi_doc(t) for t in d.tdis],
    }


def encode_info(info: DeviceInfo | TdiInfo) -> bytes:
    """The JSON text of a device's or a TDI's info (UTF-8)."""
    if isinstance(info, DeviceInfo):
        doc = {"format": _FORMAT, "device": _device_doc(info)}
    else:
        doc = {"format": _FORMAT, "tdi": _tdi_doc(info)}
    return json.dumps(doc, separators=(",", ":")).encode()


def _signature(doc: dict[str, Any]) -> SignedEvidence:
    return SignedEvidence(
        context=str(doc["context"]), version=SpdmVersion(doc["version"]),
        hash_alg=BaseHashAlgo(doc["hash_alg"]), asym_alg=BaseAsymAlgo(doc["asym_alg"]),
        slot_id=int(doc["slot_id"]), transcript=bytes.fromhex(doc["transcript"]),
        signature=bytes.fromhex(doc["signature"]),
        requester_nonce=bytes.fromhex(doc["requester_nonce"]),
        responder_nonce=bytes.fromhex(doc["responder_nonce"]),
        combined_prefix=bytes.fromhex(doc["combined_prefix"]),
    )


def _tdi(doc: dict[str, Any]) -> TdiInfo:
    return TdiInfo(bdf=str(doc["bdf"]), dsm=str(doc["dsm"]), interface_id=int(doc["interface_id"]),
                   state=TdiState[doc["state"]], report=bytes.fromhex(doc["report"]),
                   mmio_ranges=int(doc["mmio_ranges"]))


def _device(doc: dict[str, Any]) -> DeviceInfo:
    return DeviceInfo(
        bdf=str(doc["bdf"]), tsm=str(doc["tsm"]), state=LinkState(doc["state"]),
        version=SpdmVersion(doc["version"]), hash_alg=BaseHashAlgo(doc["hash_alg"]),
        asym_alg=BaseAsymAlgo(doc["asym_alg"]),
        measurement_hash_alg=MeasurementHashAlgo(doc["measurement_hash_alg"]),
        dhe_group=DheGroup(doc["dhe_group"]), aead_suite=AeadSuite(doc["aead_suite"]),
        capabilities=CapabilityFlags(doc["capabilities"]),
        doe_features=tuple((int(v), int(t)) for v, t in doc["doe_features"]),
        certificates={int(slot): bytes.fromhex(der) for slot, der in doc["certificates"].items()},
        signatures=tuple(_signature(s) for s in doc["signatures"]),
        measurements=tuple(MeasurementBlock(index=int(m["index"]), value_type=int(m["value_type"]),
                                            value=bytes.fromhex(m["value"])) for m in doc["measurements"]),
        streams=tuple(int(s) for s in doc["streams"]),
        tdis=tuple(_tdi(t) for t in doc["tdis"]),
    )


def decode_info(data: bytes) -> DeviceInfo | TdiInfo:
    """Parse what :func:`encode_info` wrote.

    Raises:
        DecodeError: not JSON, another format, or a field missing or of the wrong kind.
    """
    try:
        doc = json.loads(data)
        if doc.get("format") != _FORMAT:
            raise DecodeError(f"TSM info has format {doc.get('format')!r}, expected {_FORMAT!r}")
        if "device" in doc:
            return _device(doc["device"])
        return _tdi(doc["tdi"])
    except DecodeError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DecodeError(f"malformed TSM info: {type(exc).__name__}: {exc}") from exc


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
