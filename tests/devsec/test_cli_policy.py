"""``devsec policy check`` and the facts ``connect --sysfs`` renders for it: exit 0 allow, 1 deny, 2 error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devsec.cli import main
from spdm.messages.codes import BaseAsymAlgo
from sysfs_bridge import render
from tests.devsec.test_cli import emulate
from tests.sysfs_bridge.helpers import BDF, model, teeio_evidence

POLICY = """
action = "bind"
[trust]
roots = ["root.pem"]
[spdm]
min_version = "1.2"
min_hash = "sha384"
[require]
capabilities = ["measurements", "sessions", "ide", "tdisp"]
"""


@pytest.fixture
def device(tmp_path: Path) -> Path:
    (tmp_path / "root.pem").write_bytes(model(BaseAsymAlgo.ECDSA_P384).root_certificate_pem())
    return render(teeio_evidence(), tmp_path / "sysfs")


def _policy(tmp_path: Path, body: str) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(body)
    return str(path)


def test_allow_prints_the_action_and_exits_0(tmp_path: Path, device: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(device), "--policy", _policy(tmp_path, POLICY)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{BDF}  ALLOW (bind)"
    assert "  + capability tdisp present" in lines


def test_deny_prints_every_reason_and_exits_1(tmp_path: Path, device: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (device / "spdm/version").write_text("1.1\n")
    (device / "signatures/0_signature").write_bytes(b"\0" * 96)
    policy = _policy(tmp_path, POLICY + '[[reference]]\nvendor = 0x8086\ndevice = 1\n')
    assert main(["policy", "check", str(device), "--policy", policy]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{BDF}  DENY (refuse)\n")
    for reason in ("signature 0 does not verify", "SPDM 1.1 is below the minimum 1.2",
                   "the policy has no reference values for 1af4:1234"):
        assert any(line.startswith(f"  - {reason}") for line in out.splitlines()), reason
    assert main(["policy", "check", str(device), "--policy", policy, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["allow"] is False and doc["action"] == "refuse" and doc["bdf"] == BDF
    assert len(doc["reasons"]) >= 4


def test_a_bad_policy_exits_2(tmp_path: Path, device: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = _policy(tmp_path, POLICY + "[spdm.extra]\n")
    assert main(["policy", "check", str(device), "--policy", policy]) == 2
    assert "spdm.extra: unknown key" in capsys.readouterr().err
    assert main(["policy", "check", str(device), "--policy", str(tmp_path / "absent.toml")]) == 2
    assert "cannot read the policy" in capsys.readouterr().err


def test_a_missing_device_is_denied_not_an_error(tmp_path: Path, device: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    absent = device.parent / "0000:7f:00.0"
    assert main(["policy", "check", str(absent), "--policy", _policy(tmp_path, POLICY), "--json"]) == 1
    assert "no device directory" in json.loads(capsys.readouterr().out)["reasons"][0]


@pytest.mark.socket
def test_connect_renders_the_facts_a_policy_checks(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    sysfs = tmp_path / "sysfs"
    with emulate(tmp_path) as (url, root):
        assert main(["connect", url, "--trust-root", str(root), "--ide", "--tdisp", "--sysfs", str(sysfs),
                     "--bdf", "0000:3a:00.0"]) == 0
    device = sysfs / "bus/pci/devices/0000:3a:00.0"
    assert (device / "spdm/vendor_protocols").read_text() == "ide_km tdisp\n"
    assert (device / "spdm/version").read_text() == "1.3\n"
    assert (device / "spdm/dhe_group").read_text() == "secp384r1\n"
    assert not (device / "vendor").exists()  # a socket target has no config space
    capsys.readouterr()
    assert main(["policy", "check", str(device), "--policy", _policy(tmp_path, POLICY)]) == 0
    assert "ALLOW (bind)" in capsys.readouterr().out
    reference = _policy(tmp_path, POLICY + "[[reference]]\nvendor = 0x1af4\ndevice = 0x1234\n")
    assert main(["policy", "check", str(device), "--policy", reference]) == 1
    assert "PCI vendor/device IDs are unknown" in capsys.readouterr().out
