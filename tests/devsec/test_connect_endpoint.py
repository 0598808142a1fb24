"""``devsec connect --endpoint-info/--mel/--key-pairs`` against ``devsec emulate``'s device.

The device is built as ``devsec emulate`` builds it (its parser,
``model_from_args``, ``device_from_args``) and served on a socket in a thread;
the connect command reads the SPDM 1.3 endpoint evidence, reports it (text and
JSON), logs the signed ENDPOINT_INFO under ``--sysfs`` where ``verify-log``
re-verifies it, and checks the MEL against the signed hash-extended
measurement before rendering it under ``mel/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devsec.cli import build_parser, main
from devsec.cli.emulate import device_from_args, model_from_args
from devsec.emulator import SecureDevice
from devsec.emulator import serving as serve_device
from spdm.device import DeviceModel, MeasurementSource, default_measurements
from spdm.device_endpoint import EndpointData
from spdm.messages.codes import DMTF_RAW_BIT_STREAM, DmtfValueType, MeasurementHashAlgo
from spdm.messages.mel import MEL_HEADER_SIZE, Mel, MelEntry
from sysfs_bridge.read import read_device

HEM_INDEX = 0x11
ENTRY = MelEntry(1, HEM_INDEX, DMTF_RAW_BIT_STREAM | DmtfValueType.INFORMATIONAL, b"Boot FW")


def emulated(*argv: str) -> tuple[DeviceModel, SecureDevice]:
    args = build_parser().parse_args(["emulate", "--slots", "0", *argv])
    model = model_from_args(args)
    return model, device_from_args(args, model)


def with_one_entry_mel(model: DeviceModel, *, consistent: bool) -> DeviceModel:
    """The model with a one-entry MEL and (when ``consistent``) the hash-extended block it extends.

    With one entry the extension is H(zeros || entry), which is exactly the
    digest the device reports of a source whose data is ``zeros || entry``.
    """
    entry_bytes = Mel(entries=(ENTRY,)).encode()[MEL_HEADER_SIZE:]
    data = bytes(48) + entry_bytes if consistent else b"something else"
    hem = MeasurementSource(HEM_INDEX, DmtfValueType.HASH_EXTENDED, data, digest=True)
    mel = EndpointData(mel=Mel(entries=(ENTRY,)))
    return DeviceModel(model.slots, (*default_measurements(), hem)).with_endpoint(mel)


@contextmanager
def serving(model: DeviceModel, device: SecureDevice, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "root.pem"
    root.write_bytes(model.root_certificate_pem())
    with serve_device(device.spdm) as url:
        yield url, root


@pytest.mark.socket
def test_connect_reports_endpoint_info_mel_and_key_pairs(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    model, device = emulated()
    with serving(model, device, tmp_path) as (url, root):
        assert main(["connect", url, "--trust-root", str(root), "--endpoint-info", "signed", "--mel",
                     "--key-pairs", "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)["endpoint"]
        assert main(["connect", url, "--trust-root", str(root), "--endpoint-info", "unsigned",
                     "--key-pairs"]) == 0
        text = capsys.readouterr().out
    info = doc["endpoint_info"]
    assert info["signed"] and info["slot"] == 0
    assert info["class_identifiers"] == [{"registry_id": 0, "vendor_id": "", "subordinate_ids": ["123456"]}]
    assert doc["mel"] == {"entries": [], "checked_against_measurements": True}
    pairs = doc["key_pairs"]
    assert [p["key_pair_id"] for p in pairs] == list(range(1, 9))
    assert pairs[0]["assoc_cert_slots"] == [0] and pairs[1]["assoc_cert_slots"] == []
    assert "ENDPOINT_INFO" in pairs[0]["current_key_usage"]
    assert "endpoint info unsigned" in text and "class identifier registry 0: 123456" in text
    assert "key pairs     8" in text and text.rstrip().endswith("VERIFIED")


@pytest.mark.socket
def test_the_signed_endpoint_info_is_logged_and_re_verified(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    model, device = emulated()
    sysfs = tmp_path / "sysfs"
    with serving(model, device, tmp_path) as (url, root):
        assert main(["connect", url, "--trust-root", str(root), "--endpoint-info", "signed",
                     "--sysfs", str(sysfs), "--bdf", "0000:3a:00.0"]) == 0
    device_dir = sysfs / "bus/pci/devices/0000:3a:00.0"
    assert (device_dir / "signatures/2_type").read_text().strip() == "responder-endpoint_info signing"
    capsys.readouterr()
    assert main(["verify-log", str(device_dir)]) == 0
    assert "3 of 3 signatures verify" in capsys.readouterr().out


@pytest.mark.socket
@pytest.mark.parametrize("consistent", [True, False], ids=["consistent", "forged"])
def test_the_mel_must_extend_to_the_signed_measurement(tmp_path: Path, consistent: bool,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    model, _ = emulated()
    model = with_one_entry_mel(model, consistent=consistent)
    args = build_parser().parse_args(["emulate"])
    device = device_from_args(args, model)
    assert device.spdm.responder.config.algorithms.measurement_hash_algs[0] == MeasurementHashAlgo.SHA_384
    sysfs = tmp_path / "sysfs"
    with serving(model, device, tmp_path) as (url, root):
        status = main(["connect", url, "--trust-root", str(root), "--mel", "--json", "--sysfs", str(sysfs)])
    out = capsys.readouterr()
    if consistent:
        assert status == 0
        evidence = read_device(sysfs, "0000:00:00.0")
        assert evidence.mel == Mel(entries=(ENTRY,)).encode()
        assert {m.index for m in evidence.measurements} >= {HEM_INDEX}
        mel = json.loads(out.out)["endpoint"]["mel"]
        assert mel["checked_against_measurements"]
        assert mel["entries"] == [{"mel_index": 1, "measurement_index": HEM_INDEX,
                                   "value_type": "informational", "representation": "raw",
                                   "value": b"Boot FW".hex()}]
    else:
        assert status != 0 and "not the extension of the MEL" in out.err
        assert not sysfs.exists()  # nothing is rendered from a log that does not check out


def test_emulate_flags_withdraw_the_endpoint_capabilities() -> None:
    _, device = emulated("--endpoint-info", "none", "--no-mel", "--no-key-pair-info")
    caps = device.spdm.responder.config.capabilities
    for flag in ("EP_INFO_CAP_SIG", "EP_INFO_CAP_NO_SIG", "MEL_CAP", "GET_KEY_PAIR_INFO_CAP"):
        assert flag not in (caps.name or "")
    _, device = emulated("--endpoint-info", "unsigned")
    assert "EP_INFO_CAP_NO_SIG" in (device.spdm.responder.config.capabilities.name or "")
