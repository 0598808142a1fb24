"""CoRIM reference values: written from a known-good device, read back, used by the policy engine."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cbor2
import pytest

from devsec.cli import main
from spdm.crypto import generate_device_identity
from spdm.errors import DecodeError, VerificationError
from spdm.messages import MeasurementBlock
from spdm.messages.codes import BaseAsymAlgo, MeasurementHashAlgo, SpdmVersion
from sysfs_bridge import evaluate, load_policy, render
from sysfs_bridge.corim import CORIM_TAG, NAMED_INFORMATION, class_name, read_corim, reference_corim
from sysfs_bridge.cose import sign1
from sysfs_bridge.eat import submodule_name
from sysfs_bridge.evidence import measurement_block
from sysfs_bridge.policy_file import PolicyError
from tests.devsec.test_cli import emulate
from tests.devsec.test_evidence_eat import report
from tests.sysfs_bridge.helpers import model, teeio_evidence

BLOCKS = (
    MeasurementBlock(1, 0x00, bytes(range(48))),
    MeasurementBlock(2, 0x82, b"hw config"),       # raw
    MeasurementBlock(0xFD, 0x84, b"manifest"),     # outside 1..239: left out
)


def test_round_trip_and_shape() -> None:
    data = reference_corim(BLOCKS, MeasurementHashAlgo.SHA_384, "spdm:CN=unit 7,O=ACME", "id-1")
    tagged = cbor2.loads(data)
    assert tagged.tag == CORIM_TAG
    corim = tagged.value
    assert corim[0] == "id-1" and corim[3] == cbor2.CBORTag(32, "tag:linaro.org,2025:device-spdm#1.0.0")
    (comid_tag,) = corim[1]
    assert comid_tag.tag == 506
    comid = cbor2.loads(comid_tag.value)
    ((environment, measurements),) = comid[4][0]
    assert environment == {0: {0: cbor2.CBORTag(560, b"spdm:O=ACME")}}
    assert [dict(m[1]) for m in measurements] == [
        {11: "immutable-rom", 2: [[7, bytes(range(48))]]},
        {11: "hardware-config", 4: cbor2.CBORTag(560, b"hw config")},
    ]
    classes = read_corim(data)
    assert list(classes) == ["spdm:O=ACME"]
    assert {i: (r.name, r.values) for i, r in classes["spdm:O=ACME"].items()} == {
        1: ("immutable-rom", frozenset({bytes(range(48))})),
        2: ("hardware-config", frozenset({b"hw config"})),
    }


def test_class_names_follow_da_spdm() -> None:
    assert class_name("spdm:C=CA,O=ACME,OU=Widget-B,CN=9876543210") == "spdm:C=CA,O=ACME,OU=Widget-B"
    assert class_name("spdm:CN=x,O=devsec") == "spdm:O=devsec"
    assert class_name("spdm:ACME:WIDGET-A:0123456789") == "spdm:ACME:WIDGET-A"
    assert class_name("spdm:CN=only") == "spdm:CN=only"


def test_reads_a_veraison_da_spdm_reference() -> None:
    """The shape of Veraison's DA_SPDM test CoRIM (scheme/da-spdm/test/corim/src/comid-da-ref.json),
    built here from its stated facts: one class by bytes, mkey uint, name + digests [[1, ...]]."""
    comid = {1: {0: "00000000-0000-0000-DA54-000000000001", 1: 0},
             4: {0: [[{0: {0: cbor2.CBORTag(560, b"spdm:C=CA,O=ACME,OU=Widget-B")}},
                      [{0: 1, 1: {11: "mutable-firmware", 2: [[1, bytes(32)]]}},
                       {0: 6, 1: {11: "hardware-config", 2: [[1, b"\x01" * 32]]}}]]]}}
    corim = cbor2.CBORTag(501, {0: "00000000-0000-0000-DA54-0000000000000",
                                1: [cbor2.CBORTag(506, cbor2.dumps(comid))],
                                3: cbor2.CBORTag(32, "tag:linaro.org,2025:device-spdm#1.0.0")})
    classes = read_corim(cbor2.dumps(cbor2.CBORTag(500, corim)))
    values = classes["spdm:C=CA,O=ACME,OU=Widget-B"]
    assert values[1].values == {bytes(32)} and values[6].name == "hardware-config"


def test_signed_corim_needs_its_signer() -> None:
    identity = generate_device_identity(BaseAsymAlgo.ECDSA_P256)
    data = reference_corim(BLOCKS, MeasurementHashAlgo.SHA_384, "spdm:O=ACME", "id")
    signed = sign1(data, identity.leaf_key)
    assert read_corim(signed, identity.leaf.public_key())["spdm:O=ACME"][2].values == {b"hw config"}
    with pytest.raises(VerificationError, match="name the key"):
        read_corim(signed)
    with pytest.raises(VerificationError, match="unsigned"):
        read_corim(data, identity.leaf.public_key())
    other = generate_device_identity(BaseAsymAlgo.ECDSA_P256).leaf.public_key()
    with pytest.raises(VerificationError):
        read_corim(signed, other)


def _one_triple(class_id: object, mkey: int) -> bytes:
    comid = {4: {0: [[{0: {0: class_id}}, [{0: mkey, 1: {11: "x", 2: [[1, b"a"]]}}]]]}}
    return cbor2.dumps(cbor2.CBORTag(501, {1: [cbor2.CBORTag(506, cbor2.dumps(comid))]}))


@pytest.mark.parametrize("data", [b"", cbor2.dumps({}), cbor2.dumps(cbor2.CBORTag(501, {1: []})),
                                  _one_triple(5, 1), _one_triple("c", 300)])
def test_malformed_corims_are_decode_errors(data: bytes) -> None:
    with pytest.raises(DecodeError):
        read_corim(data)


def test_independent_decoder_reads_the_same_corim(tmp_path: Path) -> None:
    """cbor2's own command-line tool (its diagnostic JSON) sees the structure devsec wrote."""
    path = tmp_path / "ref.corim"
    path.write_bytes(reference_corim(BLOCKS, MeasurementHashAlgo.SHA_256, "spdm:O=ACME", "id-2"))
    out = subprocess.run([sys.executable, "-m", "cbor2.tool", str(path)], capture_output=True, text=True,
                         check=True).stdout
    doc = json.loads(out)
    assert list(doc) == ["CBORTag:501"]
    diagnostic = doc["CBORTag:501"]
    for part in ("{0: 'id-2', 1: ('CBORtag:506:", "3: 'CBORtag:32:tag:linaro.org,2025:device-spdm#1.0.0'",
                 "hardware-config"):
        assert part in diagnostic, diagnostic
    assert NAMED_INFORMATION[MeasurementHashAlgo.SHA_256] == 1


# ------------------------------------------------------------------ the policy engine


POLICY = """
[trust]
roots = ["root.pem"]
[[reference]]
vendor = 0x1af4
device = 0x1234
corim = "ref.corim"
"""


def _policy_dir(tmp_path: Path, blocks: tuple[MeasurementBlock, ...], body: str = POLICY) -> Path:
    (tmp_path / "root.pem").write_bytes(model(BaseAsymAlgo.ECDSA_P384).root_certificate_pem())
    (tmp_path / "ref.corim").write_bytes(reference_corim(blocks, MeasurementHashAlgo.SHA_384,
                                                         "spdm:CN=x,O=devsec", "id"))
    (tmp_path / "policy.toml").write_text(body)
    return tmp_path / "policy.toml"


def test_policy_takes_corim_reference_values(tmp_path: Path) -> None:
    evidence = teeio_evidence()
    blocks = tuple(measurement_block(m) for m in evidence.measurements)
    policy = load_policy(_policy_dir(tmp_path, blocks))
    assert policy.references[(0x1af4, 0x1234)].measurements[1] == {blocks[0].value}
    tree = render(evidence, tmp_path / "sysfs")
    decision = evaluate(policy, tree)
    assert decision.allow, decision.reasons
    assert any("matches a reference value and is signed" in r for r in decision.reasons)
    changed = (replace(blocks[0], value=bytes(len(blocks[0].value))), *blocks[1:])
    denied = evaluate(load_policy(_policy_dir(tmp_path, changed)), tree)
    assert not denied.allow and any("not one of the reference values" in r for r in denied.reasons)


def test_policy_corim_errors_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"reference\[0\].corim_class: goes with corim"):
        load_policy(_policy_dir(tmp_path, BLOCKS, POLICY.replace('corim = "ref.corim"', 'corim_class = "x"')))
    with pytest.raises(PolicyError, match="states no class 'x'"):
        load_policy(_policy_dir(tmp_path, BLOCKS, POLICY + 'corim_class = "x"\n'))
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(_policy_dir(tmp_path, BLOCKS, POLICY.replace("ref.corim", "absent.corim")))
    (tmp_path / "bad.corim").write_bytes(b"\xff")
    with pytest.raises(PolicyError, match="not a CoRIM"):
        load_policy(_policy_dir(tmp_path, BLOCKS, POLICY.replace("ref.corim", "bad.corim")))


@pytest.mark.socket
def test_reference_command_writes_what_the_device_measures(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ref.corim"
    with emulate(tmp_path) as (url, root):
        assert main(["evidence", "reference", url, "-o", str(out), "--trust-root", str(root)]) == 0
    assert "CoRIM" in capsys.readouterr().out
    classes = read_corim(out.read_bytes())
    (values,) = classes.values()
    assert values and all(r.name for r in values.values())


def test_reference_of_an_authenticated_device_matches_its_measurements() -> None:
    auth = report(SpdmVersion.V13)
    assert auth.measurements is not None
    data = reference_corim(auth.measurements.blocks, auth.negotiated.measurement_hash_alg,
                           submodule_name(auth.chain.leaf), "id")
    (values,) = read_corim(data).values()
    for block in auth.measurements.blocks:
        if block.index <= 239:
            assert values[block.index].values == {block.value}
