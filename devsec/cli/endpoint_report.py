"""The SPDM 1.3 endpoint evidence (endpoint info, MEL, key pairs) in ``devsec connect``'s report.

Shaped like the rest of the report (:mod:`.report`): one JSON object under
``"endpoint"`` and aligned text lines before the verdict.
"""

from __future__ import annotations

from enum import IntFlag
from typing import Any

from spdm.events import KeyPairInfoReceived
from spdm.messages.codes import DMTF_RAW_BIT_STREAM, EndpointInfoSubcode, KeyPairCapabilities, KeyUsage
from spdm.messages.endpoint import DeviceClassIdentifier
from spdm.messages.mel import Mel
from spdm.names import value_type_name
from tsm.endpoint import EndpointEvidence

__all__ = ["endpoint_dict", "endpoint_lines"]

_SHOWN_HEX = 64


def _names(flag_type: type[IntFlag], value: int) -> list[str]:
    """A flag field by its bit names (an unnamed bit as ``0x...``)."""
    known = [f.name or "" for f in flag_type if value & f]
    unknown = value & ~sum(int(f) for f in flag_type)
    return known + ([f"0x{unknown:x}"] if unknown else [])


def _class_identifiers(ep_info: bytes) -> list[dict[str, Any]]:
    return [{"registry_id": c.registry_id, "vendor_id": c.vendor_id.hex(),
             "subordinate_ids": [s.hex() for s in c.subordinate_ids]}
            for c in DeviceClassIdentifier.decode(ep_info).identifiers]


def _mel_entries(mel: Mel) -> list[dict[str, Any]]:
    return [{"mel_index": e.mel_index, "measurement_index": e.measurement_index,
             "value_type": value_type_name(e.kind),
             "representation": "raw" if e.value_type & DMTF_RAW_BIT_STREAM else "digest",
             "value": e.value.hex()} for e in mel.entries]


def _algorithm(pair: dict[str, Any]) -> str:
    """A key pair's current algorithm: the classic bitmask, or ``pqc`` and the 1.4 PqcAsymAlgo one."""
    pqc = pair["current_pqc_asym_algo"]
    return f"pqc {pqc}" if int(pqc, 16) else str(pair["current_asym_algo"])


def _key_pair(pair: KeyPairInfoReceived) -> dict[str, Any]:
    return {
        "key_pair_id": pair.key_pair_id,
        "capabilities": _names(KeyPairCapabilities, pair.capabilities),
        "key_usage_capabilities": _names(KeyUsage, pair.key_usage_capabilities),
        "current_key_usage": _names(KeyUsage, pair.current_key_usage),
        "asym_algo_capabilities": f"0x{pair.asym_algo_capabilities:08x}",
        "current_asym_algo": f"0x{pair.current_asym_algo:08x}",
        "pqc_asym_algo_capabilities": f"0x{pair.pqc_asym_algo_capabilities:08x}",
        "current_pqc_asym_algo": f"0x{pair.current_pqc_asym_algo:08x}",
        "assoc_cert_slots": [slot for slot in range(8) if pair.assoc_cert_slot_mask >> slot & 1],
        "public_key_info": pair.public_key_info.hex(),
    }


def endpoint_dict(evidence: EndpointEvidence) -> dict[str, Any]:
    """The endpoint evidence as one JSON-serialisable object (None for what was not asked)."""
    info = evidence.endpoint_info
    return {
        "endpoint_info": None if info is None else {
            "subcode": info.subcode,
            "signed": info.evidence is not None,
            "slot": info.slot_id if info.evidence is not None else None,
            "ep_info": info.ep_info.hex(),
            "class_identifiers": (_class_identifiers(info.ep_info)
                                  if info.subcode == EndpointInfoSubcode.DEVICE_CLASS_IDENTIFIER else None),
        },
        "mel": None if evidence.mel is None else {
            "entries": _mel_entries(evidence.mel),
            "checked_against_measurements": evidence.mel_checked,
        },
        "key_pairs": [_key_pair(p) for p in evidence.key_pairs] if evidence.key_pairs else None,
    }


def _short(value: str) -> str:
    return value if len(value) <= _SHOWN_HEX else value[:_SHOWN_HEX - 3] + "..."


def endpoint_lines(evidence: EndpointEvidence) -> list[str]:
    """The endpoint evidence as report lines (nothing for what was not asked)."""
    doc = endpoint_dict(evidence)
    lines = []
    info = doc["endpoint_info"]
    if info is not None:
        how = f"signed by slot {info['slot']}, signature verified" if info["signed"] else "unsigned"
        lines.append(f"endpoint info {how}")
        for c in info["class_identifiers"] or ():
            vendor = f" vendor {c['vendor_id']}" if c["vendor_id"] else ""
            lines.append(f"  class identifier registry {c['registry_id']}{vendor}: "
                         f"{' '.join(c['subordinate_ids']) or '-'}")
        if info["class_identifiers"] is None:
            lines.append(f"  {_short(info['ep_info'])}")
    mel = doc["mel"]
    if mel is not None:
        how = ("checked against the signed measurements" if mel["checked_against_measurements"]
               else "not checked (no measurements read)")
        lines.append(f"MEL           {len(mel['entries'])} entries, {how}")
        lines += [f"  #{e['mel_index']} -> 0x{e['measurement_index']:02x} {e['value_type']:<26} "
                  f"{e['representation']:<6} {_short(e['value'])}" for e in mel["entries"]]
    pairs = doc["key_pairs"]
    if pairs is not None:
        lines.append(f"key pairs     {len(pairs)}")
        lines += [f"  #{p['key_pair_id']} usage {'|'.join(p['current_key_usage']) or '-'} "
                  f"of {'|'.join(p['key_usage_capabilities']) or '-'}, algorithm {_algorithm(p)}, "
                  f"slots {','.join(map(str, p['assoc_cert_slots'])) or '-'}, "
                  f"capabilities {'|'.join(p['capabilities']) or '-'}" for p in pairs]
    return lines
