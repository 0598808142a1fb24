"""EAT-DA tokens as other decoders see them: cbor2's own tool, and the draft's example read by devsec."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cbor2

from spdm.messages.codes import SpdmVersion
from sysfs_bridge.eat import DEVICE_PROFILE, claims_from_report, export_eat
from sysfs_bridge.eat_claims import CERTIFICATES, MEASUREMENTS, SPDM_PROFILE, claimed_blocks, component_name
from tests.devsec.test_evidence_eat import NONCE, report


def _tool(path: Path, *options: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "cbor2.tool", *options, str(path)], capture_output=True,
                         text=True, check=True).stdout
    doc: dict[str, object] = json.loads(out)
    return doc


def test_cbor2_tool_sees_the_cmw_collection_and_the_uccs(tmp_path: Path) -> None:
    """The token through ``python -m cbor2.tool``: the CMW record, then (tag 601 ignored) the claims-set."""
    auth = report(SpdmVersion.V13)
    token = export_eat(claims_from_report(auth), NONCE)
    path = tmp_path / "dat.cbor"
    path.write_bytes(token)
    collection = _tool(path)
    record = collection["dat"]
    assert isinstance(record, list)
    assert record[0] == f'application/eat-ucs+cbor; eat_profile="{DEVICE_PROFILE}"'
    inner = tmp_path / "uccs.cbor"
    inner.write_bytes(cbor2.loads(token)["dat"][1])
    diagnostic = json.dumps(_tool(inner, "-i", "601"))
    for part in (DEVICE_PROFILE, SPDM_PROFILE, f"spdm:{auth.chain.leaf.subject}", "3802: ", "3803: ",
                 "3804: ", "'signature': ", "265: "):
        assert part in diagnostic, part


def test_the_drafts_example_reads_as_devsec_reads_claims() -> None:
    """draft-poirier-rats-eat-da-11 Appendix A (given as diagnostic notation, no bytes), rebuilt from its
    stated values: two SPDM submodules, raw and digest measurements, certificates in slots 0 and 2."""
    example = {
        265: "tag:linaro.org,2025:device#1.0.0",
        10: bytes.fromhex("f9efc3341597f75f8d94432ad39566a8c5704b2004ba001c094f475bfc057f9f25d7"
                          "aa40cd86cd30ebaae746fb19f008c1e6a1f23ad6a178e18dceda918f7f6e"),
        266: {
            "spdm:ACME:WIDGET-A:0123456789": {
                265: SPDM_PROFILE,
                0x0eda: {1: {1: 2, 3: bytes.fromhex("4f6d616861")}},
                0x0edb: {0: bytes.fromhex("676f616e6e61747261646974696f6e6d6f6e676572")},
            },
            "spdm:C=CA,O=ACME,OU=Widget-B,CN=9876543210": {
                265: SPDM_PROFILE,
                0x0eda: {1: {1: 1, 2: [1, bytes.fromhex("6b656e6e656c6c79")]},
                         6: {1: 2, 2: [0, bytes.fromhex("756e646572637279")]}},
                0x0edb: {0: bytes.fromhex("61746865697A656178696C6C6172"),
                         2: bytes.fromhex("23451576923AE99106783948598A")},
            },
        },
    }
    decoded = cbor2.loads(cbor2.dumps(cbor2.CBORTag(601, example))).value
    a, b = decoded[266].values()
    assert (MEASUREMENTS, CERTIFICATES) == (0x0eda, 0x0edb)
    assert claimed_blocks(a[MEASUREMENTS]) == {1: (1, 2, None, b"Omaha")}
    assert claimed_blocks(b[MEASUREMENTS]) == {1: (1, 1, 1, b"kennelly"), 6: (6, 2, 0, b"undercry")}
    assert [component_name(kind) for _, kind, _, _ in claimed_blocks(b[MEASUREMENTS]).values()] == [
        "mutable-firmware", "hardware-config"]
