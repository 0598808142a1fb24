"""``devsec emulate`` multi-key flags and what ``devsec connect`` reports of the slots.

The device is built as the command builds it; then one run of the two
commands over the socket: slot masks and each slot's key in the report, and a
connect naming a slot whose key may not sign CHALLENGE_AUTH refused before
anything is sent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devsec.cli import build_parser, main
from devsec.cli.emulate import device_from_args, model_from_args
from spdm.errors import ConfigurationError
from spdm.messages.codes import CapabilityFlags
from spdm.slot_keys import SlotKey
from tests.devsec.test_cli import emulate
from tests.vectors import ROOT as VECTORS

FLAGS = ("--slots", "0,1", "--multi-key", "negotiated", "--slot-key", "0:key-exchange",
         "--slot-key", "1:challenge+measurement:alias", "--supported-slots", "0,1,2,3")


def test_the_flags_configure_the_device() -> None:
    args = build_parser().parse_args(["emulate", *FLAGS])
    model = model_from_args(args)
    device = device_from_args(args, model)
    assert device.spdm.responder.config.capabilities & CapabilityFlags.MULTI_KEY_CAP_NEG
    assert model.supported_slots() == 0x0F
    assert model.slot_key(0) == SlotKey(1, 1, 0x1)
    assert model.slot_key(1) == SlotKey(2, 2, 0x6)


@pytest.mark.parametrize("bad", ["0", "0:sign", "9:challenge", "2:challenge", "0:challenge:other"])
def test_a_bad_slot_key_is_refused(bad: str) -> None:
    args = build_parser().parse_args(["emulate", "--slots", "0,1", "--slot-key", bad])
    with pytest.raises(ConfigurationError, match="slot-key"):
        model_from_args(args)


def test_connect_reports_the_slot_masks_and_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with emulate(tmp_path, *FLAGS) as (url, root):
        assert main(["connect", url, "--trust-root", str(root), "--slot", "1", "--multi-key", "--json"]) == 0
        slots = json.loads(capsys.readouterr().out)["slots"]
        assert slots == {"supported_slot_mask": 0x0F, "provisioned_slot_mask": 0x03, "multi_key": True,
                         "keys": {"0": {"key_pair_id": 1, "cert_model": "device",
                                        "key_usage": ["key-exchange"]},
                                  "1": {"key_pair_id": 2, "cert_model": "alias",
                                        "key_usage": ["challenge", "measurement"]}}}
        assert main(["connect", url, "--trust-root", str(root), "--slot", "0", "--multi-key"]) != 0
        assert "may not sign" in capsys.readouterr().err


def test_the_sysfs_certificates_follow_the_supported_slot_mask(tmp_path: Path) -> None:
    with emulate(tmp_path, *FLAGS) as (url, root):
        sysfs = tmp_path / "sysfs"
        assert main(["connect", url, "--trust-root", str(root), "--slot", "1", "--sysfs", str(sysfs)]) == 0
    [certificates] = list(sysfs.glob("bus/pci/devices/*/certificates"))
    assert sorted(p.name for p in certificates.iterdir()) == ["slot0", "slot1", "slot2", "slot3"]
    assert (certificates / "slot1").stat().st_size > 0 and (certificates / "slot2").stat().st_size == 0


@pytest.mark.parametrize(("name", "decrypted"), [("spdm13-p384-csr-setcert", 8),
                                                 ("spdm13-p384-chunking", 44)])
def test_dump_follows_the_provisioning_captures_to_their_end(
        name: str, decrypted: int, capsys: pytest.CaptureFixture[str]) -> None:
    capture = VECTORS / name
    assert main(["dump", str(capture / "capture.pcap"), "--secrets", str(capture / "secrets.txt")]) == 0
    out = capsys.readouterr().out
    assert "stopped" not in out and "<encrypted>" not in out and "undecodable" not in out
    assert f"secured records decrypted: {decrypted}" in out and ", 0 failed" in out
