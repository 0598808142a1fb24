"""``devsec evidence`` glue for EAT-DA tokens: where the claims come from, how a verdict prints."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from spdm.crypto import PrivateKey, PublicKey, load_certificates, load_private_key_pem
from spdm.errors import ConfigurationError
from sysfs_bridge.eat import DeviceClaims, EatVerdict, claims_from_tsm
from sysfs_bridge.eat_claims import component_name
from tsm import DeviceInfo
from tsm.service import request

from .args import read, target_bdf
from .report import bundle_dict, bundle_text

__all__ = ["eat_dict", "eat_text", "signer_key", "signing_key", "tsm_claims"]


def signing_key(path: str | None) -> PrivateKey | None:
    """``--signing-key``: the broker's PEM private key, or None for an unsigned UCCS."""
    return None if path is None else load_private_key_pem(read(path, "signing key"))


def signer_key(path: str | None) -> PublicKey | None:
    """``--signer``: the certificate of the broker whose COSE signature the token must carry."""
    if path is None:
        return None
    certificates = load_certificates(read(path, "signer certificate"))
    if len(certificates) != 1:
        raise ConfigurationError(f"--signer {path}: one certificate is expected, found {len(certificates)}")
    return certificates[0].public_key()


def tsm_claims(args: argparse.Namespace, nonce: bytes) -> DeviceClaims:
    """The claims of a TSM-held device: have its TSM service refresh the evidence over ``nonce``."""
    doc = {"op": "refresh_evidence", "bdf": target_bdf(args.target, args.bdf), "target": args.target,
           "nonce": nonce.hex()}

    def progress(step: str, elapsed: float) -> None:
        print(f"  {elapsed * 1e3:8.1f} ms  {step}", file=sys.stderr, flush=True)

    info = request(Path(args.tsm), doc, progress)
    if not isinstance(info, DeviceInfo):
        raise ConfigurationError("the TSM answered refresh_evidence with a TDI's info")
    return claims_from_tsm(info, nonce, args.tdi)


def eat_dict(verdict: EatVerdict, path: str) -> dict[str, Any]:
    """A verified token as one JSON document (the bundle's fields, plus the token's own)."""
    doc = bundle_dict(verdict.spdm, path)
    doc["format"] = verdict.format
    kinds = {block.index: block.value_type & 0x7F for block in verdict.spdm.measurements}
    for block in doc["measurements"]["blocks"]:
        block["component_type"] = component_name(kinds[block["index"]])
    doc.update({
        "submodule": verdict.submodule,
        "broker_signed": verdict.broker_signed,
        "certificate_slots": list(verdict.certificate_slots),
        "challenge_verified": verdict.challenge_verified,
        "interface_report": None if verdict.interface_report is None else {
            "signed": False,
            "interface_info": int(verdict.interface_report.interface_info),
            "mmio_ranges": len(verdict.interface_report.mmio_ranges),
        },
    })
    return doc


def eat_text(verdict: EatVerdict, path: str) -> str:
    """A verified token as aligned lines for a terminal."""
    lines = bundle_text(verdict.spdm, path).splitlines()
    lines[0] = f"bundle        {path} ({verdict.format})"
    extra = [
        f"submodule     {verdict.submodule}",
        "token         " + ("COSE_Sign1, broker signature verified" if verdict.broker_signed
                            else "UCCS (unsigned: the device's signature is the evidence)"),
        f"certificates  slots {list(verdict.certificate_slots)} stated, "
        f"slot {verdict.spdm.slot_id} validated",
    ]
    if verdict.challenge_verified:
        extra.append("challenge     CHALLENGE_AUTH signature verified (over the requester's own nonce)")
    if verdict.interface_report is not None:
        extra.append(f"interface     TDISP report stated (not device-signed), "
                     f"{len(verdict.interface_report.mmio_ranges)} MMIO range(s)")
    return "\n".join(lines[:-1] + extra + lines[-1:])
