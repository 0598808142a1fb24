"""Rendering of an authentication report or a verified evidence bundle, as text and as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from spdm.cma import AuthenticationReport
from spdm.crypto import Certificate
from spdm.messages import MeasurementBlock
from spdm.messages.codes import (
    BaseAsymAlgo,
    BaseHashAlgo,
    MeasurementHashAlgo,
    PqcAsymAlgo,
)
from spdm.names import (
    AEADS,
    DHE_GROUPS,
    HASHES,
    KEMS,
    capability_names,
    measurement_dict,
    measurement_hash_name,
    name_of,
    signing_name,
    value_type_name,
)

from .report_slots import slot_lines, slots_dict

if TYPE_CHECKING:
    from sysfs_bridge.bundle import BundleVerdict

__all__ = ["bundle_dict", "bundle_text", "report_dict", "report_text"]

_PROTOCOL_NAMES = {(1, 0): "discovery", (1, 1): "CMA/SPDM", (1, 2): "secured CMA/SPDM"}


def report_dict(report: AuthenticationReport, target: str) -> dict[str, Any]:
    """The report as one JSON-serialisable document."""
    n = report.negotiated
    meas = report.measurements
    return {
        "target": target,
        "verified": True,
        "doe_protocols": [f"{v:04x}:{t:02x}" for v, t in report.protocols],
        "spdm_version": n.version.text,
        "algorithms": _algorithms(n.hash_alg, n.signing_alg, n.measurement_hash_alg),
        "responder_capabilities": capability_names(n.responder_flags),
        "slot": report.slot_id,
        "digests": {str(slot): d.hex() for slot, d in sorted(report.digests.items())},
        "slots": slots_dict(report),
        "certificate_chain": _chain(report.chain.certificates),
        "challenge": None if report.challenge is None else {
            "verified": True,
            "measurement_summary_hash": report.challenge.measurement_summary_hash.hex(),
        },
        "session": None if report.session is None else _session_dict(report),
        "measurements": None if meas is None else {
            "signed": meas.evidence is not None,
            "blocks": _blocks(meas.blocks),
        },
    }


def _algorithms(hash_alg: BaseHashAlgo, asym_alg: BaseAsymAlgo | PqcAsymAlgo,
                measurement_hash_alg: MeasurementHashAlgo) -> dict[str, str]:
    return {
        "hash": name_of(hash_alg, dict(HASHES)),
        "signature": signing_name(asym_alg),
        "measurement_hash": measurement_hash_name(measurement_hash_alg),
    }


def _chain(certificates: Sequence[Certificate]) -> list[dict[str, str]]:
    return [
        {"subject": c.subject, "issuer": c.issuer,
         "not_before": c.not_before.isoformat(), "not_after": c.not_after.isoformat()}
        for c in certificates
    ]


def _blocks(blocks: Sequence[MeasurementBlock]) -> list[dict[str, int | str]]:
    return [measurement_dict(b) for b in blocks]


def _session_dict(report: AuthenticationReport) -> dict[str, Any]:
    session = report.session
    assert session is not None
    return {
        "session_id": f"0x{session.session_id:08x}",
        "kind": "psk" if session.psk else "key_exchange",
        "dhe": None if session.psk or session.kem_alg else name_of(session.dhe_group, dict(DHE_GROUPS)),
        "kem": name_of(session.kem_alg, dict(KEMS)) if session.kem_alg else None,
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
        f"DOE           {protocols or 'none (reached over another binding)'}",
        f"SPDM          {doc['spdm_version']}",
        f"algorithms    hash {algs['hash']}, signature {algs['signature']}, "
        f"measurement hash {algs['measurement_hash']}",
        f"capabilities  {' '.join(doc['responder_capabilities'])}",
        f"slot {report.slot_id} chain  trusted, {len(report.chain.certificates)} certificates",
    ]
    lines += _chain_lines(report.chain.certificates)
    lines += slot_lines(report)
    if report.challenge is not None:
        lines.append(f"challenge     verified (slot {report.slot_id} key signed M1)")
    meas = report.measurements
    if meas is not None:
        how = "signed, signature verified" if meas.evidence else "unsigned"
        lines.append(f"measurements  {len(meas.blocks)} blocks, {how}")
        lines += _block_lines(meas.blocks)
    if report.session is not None:
        s = _session_dict(report)
        how = "PSK" if s["kind"] == "psk" else f"KEY_EXCHANGE {s['kem'] or s['dhe']}"
        lines.append(f"session       {s['session_id']} {how}, {s['aead']}, "
                     f"secured messages {s['secured_message_version']}"
                     f"{', mutually authenticated' if s['mutual_auth'] else ''}")
        lines.append(f"  heartbeat {'ok' if s['heartbeat'] else 'not supported'}, "
                     f"{s['key_updates']} key updates, measurements inside the session "
                     f"{'signed and verified' if s['measurements_signed'] else 'not read'}, "
                     f"{'ended' if s['ended'] else 'open'}")
    lines.append("result        VERIFIED")
    return "\n".join(lines)


def _chain_lines(certificates: Sequence[Certificate]) -> list[str]:
    lines = []
    for i, cert in enumerate(certificates):
        role = "root" if i == 0 else "leaf" if i == len(certificates) - 1 else "intermediate"
        lines.append(f"  [{i}] {cert.subject}  ({role})")
    return lines


def _block_lines(blocks: Sequence[MeasurementBlock]) -> list[str]:
    lines = []
    for block in blocks:
        rep = "raw   " if block.raw_bit_stream else "digest"
        value = block.value.hex()
        if len(value) > 64:
            value = value[:61] + "..."
        lines.append(f"  0x{block.index:02x} {value_type_name(block.kind):<26} {rep} {value}")
    return lines


def bundle_dict(verdict: BundleVerdict, path: str) -> dict[str, Any]:
    """A verified evidence bundle as one JSON-serialisable document."""
    return {
        "bundle": path,
        "format": verdict.format,
        "verified": True,
        "spdm_version": verdict.version.text,
        "algorithms": _algorithms(verdict.hash_alg, verdict.asym_alg, verdict.measurement_hash_alg),
        "algorithms_signed": verdict.vca_signed,
        "slot": verdict.slot_id,
        "certificate_chain": _chain(verdict.chain.certificates),
        "nonce_signed": True,
        "measurements": {"signed": True, "blocks": _blocks(verdict.measurements)},
    }


def bundle_text(verdict: BundleVerdict, path: str) -> str:
    """A verified evidence bundle as aligned lines for a terminal."""
    algs = _algorithms(verdict.hash_alg, verdict.asym_alg, verdict.measurement_hash_alg)
    how = "from the signed ALGORITHMS" if verdict.vca_signed else "as stated (SPDM < 1.2 signs no VCA)"
    lines = [
        f"bundle        {path} ({verdict.format})",
        f"SPDM          {verdict.version.text}",
        f"algorithms    hash {algs['hash']}, signature {algs['signature']}, "
        f"measurement hash {algs['measurement_hash']}, {how}",
        f"slot {verdict.slot_id} chain  trusted, {len(verdict.chain.certificates)} certificates",
        *_chain_lines(verdict.chain.certificates),
        "nonce         the signed GET_MEASUREMENTS carries the verifier's nonce",
        f"measurements  {len(verdict.measurements)} blocks, signed, signature verified",
        *_block_lines(verdict.measurements),
        "result        VERIFIED",
    ]
    return "\n".join(lines)
