"""Rendering of an authentication report for people (text) and programs (JSON)."""

from __future__ import annotations

from typing import Any

from spdm.authenticate import AuthenticationReport
from spdm.messages import MeasurementBlock
from spdm.messages.codes import DmtfValueType

from .names import AEADS, ASYMS, DHE_GROUPS, HASHES, capability_names, measurement_hash_name, name_of

_PROTOCOL_NAMES = {(1, 0): "discovery", (1, 1): "CMA/SPDM", (1, 2): "secured CMA/SPDM"}


def _kind(block: MeasurementBlock) -> str:
    kind = block.kind
    return kind.name.lower() if isinstance(kind, DmtfValueType) else f"type-0x{kind:02x}"


def report_dict(report: AuthenticationReport, target: str) -> dict[str, Any]:
    """The report as one JSON-serialisable document."""
    n = report.negotiated
    meas = report.measurements
    return {
        "target": target,
        "verified": True,
        "doe_protocols": [f"{v:04x}:{t:02x}" for v, t in report.protocols],
        "spdm_version": n.version.text,
        "algorithms": {
            "hash": name_of(n.hash_alg, dict(HASHES)),
            "signature": name_of(n.asym_alg, dict(ASYMS)),
            "measurement_hash": measurement_hash_name(n.measurement_hash_alg),
        },
        "responder_capabilities": capability_names(n.responder_flags),
        "slot": report.slot_id,
        "digests": {str(slot): d.hex() for slot, d in sorted(report.digests.items())},
        "certificate_chain": [
            {"subject": c.subject, "issuer": c.issuer,
             "not_before": c.not_before.isoformat(), "not_after": c.not_after.isoformat()}
            for c in report.chain.certificates
        ],
        "challenge": None if report.challenge is None else {
            "verified": True,
            "measurement_summary_hash": report.challenge.measurement_summary_hash.hex(),
        },
        "session": None if report.session is None else _session_dict(report),
        "measurements": None if meas is None else {
            "signed": meas.evidence is not None,
            "blocks": [
                {"index": b.index, "type": _kind(b),
                 "representation": "raw" if b.raw_bit_stream else "digest",
                 "value": b.value.hex()}
                for b in meas.blocks
            ],
        },
    }


def _session_dict(report: AuthenticationReport) -> dict[str, Any]:
    session = report.session
    assert session is not None
    return {
        "session_id": f"0x{session.session_id:08x}",
        "kind": "psk" if session.psk else "key_exchange",
        "dhe": None if session.psk else name_of(session.dhe_group, dict(DHE_GROUPS)),
        "aead": name_of(session.aead_suite, dict(AEADS)),
        "secured_message_version": f"{session.secured_message_version >> 12}."
                                   f"{session.secured_message_version >> 8 & 0xF}",
        "mutual_auth": session.mutual_auth,
        "heartbeat": session.heartbeat,
        "key_updates": session.key_updates,
        "measurements_signed": bool(session.measurements and session.measurements.evidence),
        "ended": session.ended,
    }


def report_text(report: AuthenticationReport, target: str) -> str:
    """The report as aligned lines for a terminal."""
    doc = report_dict(report, target)
    algs = doc["algorithms"]
    protocols = ", ".join(
        f"{v:04x}:{t:02x} {_PROTOCOL_NAMES.get((v, t), '?')}" for v, t in report.protocols
    )
    lines = [
        f"device        {target}",
        f"DOE           {protocols}",
        f"SPDM          {doc['spdm_version']}",
        f"algorithms    hash {algs['hash']}, signature {algs['signature']}, "
        f"measurement hash {algs['measurement_hash']}",
        f"capabilities  {' '.join(doc['responder_capabilities'])}",
        f"slot {report.slot_id} chain  trusted, {len(report.chain.certificates)} certificates",
    ]
    certs = report.chain.certificates
    for i, cert in enumerate(certs):
        role = "root" if i == 0 else "leaf" if i == len(certs) - 1 else "intermediate"
        lines.append(f"  [{i}] {cert.subject}  ({role})")
    if report.challenge is not None:
        lines.append(f"challenge     verified (slot {report.slot_id} key signed M1)")
    meas = report.measurements
    if meas is not None:
        how = "signed, signature verified" if meas.evidence else "unsigned"
        lines.append(f"measurements  {len(meas.blocks)} blocks, {how}")
        for block in meas.blocks:
            rep = "raw   " if block.raw_bit_stream else "digest"
            value = block.value.hex()
            if len(value) > 64:
                value = value[:61] + "..."
            lines.append(f"  0x{block.index:02x} {_kind(block):<26} {rep} {value}")
    if report.session is not None:
        s = _session_dict(report)
        how = "PSK" if s["kind"] == "psk" else f"KEY_EXCHANGE {s['dhe']}"
        lines.append(f"session       {s['session_id']} {how}, {s['aead']}, "
                     f"secured messages {s['secured_message_version']}"
                     f"{', mutually authenticated' if s['mutual_auth'] else ''}")
        lines.append(f"  heartbeat {'ok' if s['heartbeat'] else 'not supported'}, "
                     f"{s['key_updates']} key updates, measurements inside the session "
                     f"{'signed and verified' if s['measurements_signed'] else 'not read'}, "
                     f"{'ended' if s['ended'] else 'open'}")
    lines.append("result        VERIFIED")
    return "\n".join(lines)
