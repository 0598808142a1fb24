"""sysfs_bridge.policy_file: the schema, parsed strictly; every mistake names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from spdm.errors import ConfigurationError
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, SpdmVersion
from sysfs_bridge import Policy, PolicyError, load_policy
from sysfs_bridge.policy_file import ALGORITHM_KINDS, STRENGTH, AlgorithmRule
from tests.sysfs_bridge.helpers import model

EXAMPLE = Path(__file__).parents[2] / "contrib" / "policy.example.toml"
ROOTS = '[trust]\nroots = ["root.pem"]\n'


def _load(tmp_path: Path, body: str) -> Policy:
    (tmp_path / "root.pem").write_bytes(model(BaseAsymAlgo.ECDSA_P384).root_certificate_pem())
    path = tmp_path / "policy.toml"
    path.write_text(body)
    return load_policy(path)


def test_the_shipped_example_loads() -> None:
    policy = load_policy(EXAMPLE)
    assert policy.action == "connect" and policy.min_version == SpdmVersion.V12
    assert policy.root_hashes[0][0] == BaseHashAlgo.SHA_384 and not policy.roots
    assert {rule.kind for rule in policy.algorithms} == {"hash", "asym", "measurement_hash"}
    assert policy.required == {"measurements", "sessions"}
    assert set(policy.references) == {(0x1AF4, 0x1234), (0x8086, 0x0D58)}
    assert len(policy.references[(0x1AF4, 0x1234)].measurements[2]) == 2
    assert policy.references[(0x8086, 0x0D58)].measurements == {}


def test_a_full_policy(tmp_path: Path) -> None:
    policy = _load(tmp_path, 'action = "bind"\n' + ROOTS + '[spdm]\nversions = ["1.2", "1.3"]\n'
                   'dhe = ["secp384r1"]\nmin_dhe = "secp256r1"\n[require]\ncapabilities = ["ide"]\n'
                   '[[reference]]\nvendor = 1\ndevice = 0xffff\n[reference.measurements]\n'
                   '1 = ["AbCd"]\n254 = ["00", "01"]\n')
    assert policy.action == "bind" and policy.source == tmp_path / "policy.toml"
    assert policy.roots == (model(BaseAsymAlgo.ECDSA_P384).root_certificate(),)
    assert policy.versions == frozenset({SpdmVersion.V12, SpdmVersion.V13}) and policy.min_version is None
    assert policy.algorithms == (AlgorithmRule("dhe", frozenset({"secp384r1"}), "secp256r1"),)
    assert policy.references[(1, 0xFFFF)].measurements == {1: {b"\xab\xcd"}, 254: {b"\0", b"\1"}}


def test_rules() -> None:
    rule = AlgorithmRule("asym", frozenset({"ecdsa-p384", "rsapss-2048"}), "ecdsa-p256")
    assert rule.violation("ecdsa-p384") is None
    assert rule.violation("rsapss-2048") == "rsapss-2048 is weaker than the minimum ecdsa-p256"
    assert rule.violation("ecdsa-p521") == "ecdsa-p521 is not allowed (allowed: ecdsa-p384, rsapss-2048)"
    assert AlgorithmRule("measurement_hash", minimum="sha256").violation("raw-bit-stream-only")
    for names in ALGORITHM_KINDS.values():  # every name but raw-bit-stream-only has a strength
        assert names - set(STRENGTH) <= {"raw-bit-stream-only"}


BAD = [
    ("unknown top-level key", ROOTS + "actoin = 'bind'\n", "actoin: unknown key"),
    ("unknown table", ROOTS + "[spmd]\n", "spmd: unknown key"),
    ("unknown key in a table", ROOTS + "[spdm]\nmin_versoin = '1.2'\n", "spdm.min_versoin: unknown key"),
    ("unknown key in trust", ROOTS.replace("roots", "root"), "trust.root: unknown key"),
    ("unknown key in a reference", ROOTS + "[[reference]]\nvendor = 1\ndevice = 2\nsubsystem = 3\n",
     "reference[0].subsystem: unknown key"),
    ("no root", "[spdm]\nmin_version = '1.2'\n", "trust: names no root"),
    ("unreadable root file", '[trust]\nroots = ["missing.pem"]\n', "trust.roots: cannot read"),
    ("no certificate in the root file", '[trust]\nroots = ["policy.toml"]\n', "trust.roots: "),
    ("bad root hash algorithm", '[trust]\nroot_hashes = ["md5:00"]\n', "does not start with one of"),
    ("short root hash", '[trust]\nroot_hashes = ["sha256:0011"]\n', "a sha256 digest has 32 bytes, not 2"),
    ("non-hex root hash", '[trust]\nroot_hashes = ["sha256:xyz"]\n', "not a hexadecimal byte string"),
    ("roots not a list", '[trust]\nroots = "root.pem"\n', "trust.roots: must be a non-empty list"),
    ("trust not a table", 'trust = 1\n', "trust: must be a table"),
    ("a root file not a string", "[trust]\nroots = [1]\n", "trust.roots: must be a non-empty list of str"),
    ("a reference not a table", "reference = [1]\n" + ROOTS, "reference[0]: must be a table"),
    ("unknown version", ROOTS + "[spdm]\nmin_version = '2.0'\n", "spdm.min_version: '2.0' is not one of"),
    ("version as a number", ROOTS + "[spdm]\nmin_version = 1.2\n", "spdm.min_version: must be a string"),
    ("unknown algorithm", ROOTS + "[spdm]\nhash = ['md5']\n", "spdm.hash: 'md5' is not one of"),
    ("empty allowed list", ROOTS + "[spdm]\naead = []\n", "spdm.aead: must be a non-empty list"),
    ("minimum without a strength", ROOTS + "[spdm]\nmin_measurement_hash = 'raw-bit-stream-only'\n",
     "spdm.min_measurement_hash"),
    ("unknown capability", ROOTS + "[require]\ncapabilities = ['telepathy']\n",
     "require.capabilities: 'telepathy' is not one of"),
    ("bad action value", 'action = "allow"\n' + ROOTS, "action: 'allow' is not one of connect, bind"),
    ("reference not an array", ROOTS + "[reference]\nvendor = 1\n", "reference: must be an array"),
    ("reference without device", ROOTS + "[[reference]]\nvendor = 1\n", "reference[0].device: missing"),
    ("vendor out of range", ROOTS + "[[reference]]\nvendor = 0x10000\ndevice = 1\n",
     "reference[0].vendor: must be an integer 0..0xffff"),
    ("vendor as a string", ROOTS + "[[reference]]\nvendor = '0x1af4'\ndevice = 1\n", "reference[0].vendor"),
    ("duplicate model", ROOTS + "[[reference]]\nvendor = 1\ndevice = 2\n[[reference]]\nvendor = 1\n"
     "device = 2\n", "reference[1]: a second entry for 0001:0002"),
    ("bad index", ROOTS + "[[reference]]\nvendor = 1\ndevice = 2\n[reference.measurements]\n0 = ['00']\n",
     "reference[0].measurements.0: the key must be a measurement index"),
    ("bad digest", ROOTS + "[[reference]]\nvendor = 1\ndevice = 2\n[reference.measurements]\n1 = ['0']\n",
     "reference[0].measurements.1: '0' is not a hexadecimal"),
    ("measurements not a table", ROOTS + "[[reference]]\nvendor = 1\ndevice = 2\nmeasurements = 1\n",
     "reference[0].measurements: must be a table"),
    ("not TOML", "[trust\n", "not valid TOML"),
]


@pytest.mark.parametrize(("body", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_schema_violations_name_the_file_and_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        _load(tmp_path, body)
    assert isinstance(info.value, ConfigurationError)
    assert str(info.value).startswith(str(tmp_path / "policy.toml")), info.value
    assert message in str(info.value), info.value


def test_an_unreadable_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the policy"):
        load_policy(tmp_path / "absent.toml")
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(tmp_path / "binary.toml")
