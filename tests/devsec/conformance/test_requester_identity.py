"""``devsec conformance serve --slot N:CHAIN:KEY``: the device judging a requester has a vendor's identity."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from devsec.cli import main
from spdm.crypto import generate_device_identity, load_certificates
from spdm.messages.codes import BaseAsymAlgo

VENDOR_CONNECT = (f"{shlex.quote(sys.executable)} -m devsec connect tcp://{{host}}:{{port}} "
                  "--trust-root {vendor_root} --session")
"""devsec's requester trusting only the vendor's own root, not the ``{root}`` serve writes."""


def _vendor_identity(tmp_path: Path, asym: BaseAsymAlgo) -> tuple[str, Path]:
    identity = generate_device_identity(asym, common_name="vendor device")
    chain, key, root = tmp_path / "chain.pem", tmp_path / "leaf.key", tmp_path / "vendor-root.pem"
    chain.write_bytes(b"".join(c.to_pem() for c in identity.certificates))
    key.write_bytes(identity.leaf_key.to_pem())
    root.write_bytes(identity.certificates[0].to_pem())
    return f"0:{chain}:{key}", root


def test_a_requester_trusting_only_the_vendor_root_runs_against_the_vendor_identity(tmp_path: Path) -> None:
    slot, vendor_root = _vendor_identity(tmp_path, BaseAsymAlgo.ECDSA_P256)
    report, root_out = tmp_path / "report.json", tmp_path / "root-out.pem"
    command = VENDOR_CONNECT.replace("{vendor_root}", shlex.quote(str(vendor_root)))
    status = main(["conformance", "serve", "--slot", slot, "--root-out", str(root_out), "--requester-cmd",
                   command, "--case", "requester.vca", "--case", "requester.session.key-update",
                   "--case", "requester.certificate.untrusted-root", "--json", str(report)])
    document = json.loads(report.read_text())
    assert status == 0, document
    assert {c["verdict"] for c in document["cases"]} == {"pass"}
    [written] = load_certificates(root_out.read_bytes())
    assert written.der == load_certificates(vendor_root.read_bytes())[0].der


@pytest.mark.parametrize("value", ["0:only-a-chain", "9:a:b", "x:a:b"])
def test_a_malformed_slot_is_a_usage_error(value: str) -> None:
    assert main(["conformance", "serve", "--slot", value, "--requester-cmd", "true {port}"]) == 2
