"""The CLI's mailbox flags (issue 11 items 11, 12): ``--cert-portion``, ``--data-transfer-size``, ``--force``.

The sizes are checked on the wire (a recording spdm-emu socket server in
front of an emulated device); ``--force`` against a directory shaped like
the kernel's ``/sys`` whose device the kernel's TSM holds.
"""

from __future__ import annotations

import functools
import struct
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from devsec.cli import build_parser, connect, evidence, main
from devsec.emulator import EmulatedDevice
from spdm.config import ResponderConfig
from spdm.device import DeviceModel
from spdm.messages.codes import BaseAsymAlgo, RequestCode
from spdm.negotiation import AlgorithmPreferences
from spdm.transport import EmuSocketServer
from spdm.transport.doe import decode_data_object
from spdm.transport.targets import open_transport

NONCE = "8d" * 16 + "5a" * 16
BDF = "0000:01:00.0"


@pytest.fixture(scope="module")
def device_model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P256)


class Recorder:
    """Every SPDM request (DOE type 1) the device received."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []

    def of(self, code: RequestCode) -> list[bytes]:
        return [r for r in self.requests if r[1] == code]


@pytest.fixture
def served(device_model: DeviceModel, tmp_path: Path) -> Iterator[tuple[str, Path, Recorder]]:
    """An emulated device on an ephemeral port recording what it is asked: (url, root.pem, recorder)."""
    root = tmp_path / "root.pem"
    root.write_bytes(device_model.root_certificate_pem())
    device = EmulatedDevice(ResponderConfig(algorithms=replace(
        AlgorithmPreferences(), asym_algs=(device_model.asym_alg,))), device_model)
    recorder = Recorder()

    def handle(request: bytes) -> bytes | None:
        obj = decode_data_object(request)
        if obj.object_type == 1:
            recorder.requests.append(obj.payload)
        return device.endpoint.handle(request)

    server = EmuSocketServer(handle, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.address[1]}", root, recorder
    finally:
        server.stop()
        thread.join(10)
        server.close()


def asked_lengths(recorder: Recorder) -> set[int]:
    return {struct.unpack_from("<H", r, 6)[0] for r in recorder.of(RequestCode.GET_CERTIFICATE)}


def advertised_sizes(recorder: Recorder) -> tuple[int, int]:
    [caps] = recorder.of(RequestCode.GET_CAPABILITIES)
    data_transfer_size, max_spdm_msg_size = struct.unpack_from("<II", caps, 12)
    return data_transfer_size, max_spdm_msg_size


@pytest.mark.socket
def test_connect_asks_0x400_portions_by_default(served: tuple[str, Path, Recorder],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    url, root, recorder = served
    assert main(["connect", url, "--trust-root", str(root)]) == 0, capsys.readouterr().err
    assert asked_lengths(recorder) == {0x400}
    assert len(recorder.of(RequestCode.GET_CERTIFICATE)) >= 2  # the chain (~1.6 KB) came in portions
    assert advertised_sizes(recorder) == (0x1200, 0x1200)


@pytest.mark.socket
def test_connect_and_evidence_export_take_the_sizes_given(served: tuple[str, Path, Recorder], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    url, root, recorder = served
    sizes = ["--cert-portion", "0x180", "--data-transfer-size", "1024"]
    assert main(["connect", url, "--trust-root", str(root), *sizes]) == 0, capsys.readouterr().err
    assert asked_lengths(recorder) == {0x180}
    assert advertised_sizes(recorder) == (1024, 1024)
    recorder.requests.clear()
    assert main(["evidence", "export", url, "--nonce", NONCE, "-o", str(tmp_path / "b.json"),
                 "--trust-root", str(root), "--cert-portion", "0xffff", "--data-transfer-size", "0x800"]) == 0
    assert asked_lengths(recorder) == {0xFFFF}
    assert advertised_sizes(recorder) == (0x800, 0x800)


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--cert-portion", "0"], "--cert-portion 0x0 is not in 1..0xffff"),
        (["--cert-portion", "0x10000"], "--cert-portion 0x10000 is not in 1..0xffff"),
        (["--data-transfer-size", "41"], "--data-transfer-size 41 is not in 42..0xffffffff"),
        (["--data-transfer-size", str(1 << 32)], "is not in 42..0xffffffff"),
    ],
)
def test_sizes_out_of_range_are_usage_errors(flags: list[str], says: str, device_model: DeviceModel,
                                             tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root.pem"
    root.write_bytes(device_model.root_certificate_pem())
    for command in (["connect", "tcp://127.0.0.1:1"],
                    ["evidence", "export", "tcp://127.0.0.1:1", "--nonce", NONCE, "-o", str(tmp_path / "b")]):
        assert main([*command, "--trust-root", str(root), *flags]) == 2
        assert says in capsys.readouterr().err


def test_a_size_that_is_no_number_is_refused_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as usage:
        build_parser().parse_args(["connect", "tcp://h:1", "--trust-root", "r", "--cert-portion", "1k"])
    assert usage.value.code == 2 and "is not a byte count" in capsys.readouterr().err


def test_every_command_that_opens_a_pci_target_has_the_flags() -> None:
    parser = build_parser()
    for argv in (["connect", BDF, "--trust-root", "r"],
                 ["evidence", "export", BDF, "--nonce", NONCE, "-o", "b", "--trust-root", "r"],
                 ["tsm", "serve", "--trust-root", "r"]):
        args = parser.parse_args([*argv, "--force", "--cert-portion", "0x200",
                                  "--data-transfer-size", "0x400"])
        assert (args.force, args.cert_portion, args.data_transfer_size) == (True, 0x200, 0x400)
    for command in ("daemon", "udev-hook"):
        args = parser.parse_args([command, "--policy", "p", "--sysfs", "s", "--force"])
        assert args.force is True


# ------------------------------------------------------------------ --force and the kernel's TSM


def kernel_sysfs(tmp_path: Path, device: EmulatedDevice, tsm: str) -> Path:
    """A /sys holding the device (its config space as a file) with tsm/connect naming ``tsm``."""
    sysfs = tmp_path / "sys"
    (sysfs / "class/tsm/tsm0").mkdir(parents=True)
    function = sysfs / "bus/pci/devices" / BDF
    (function / "tsm").mkdir(parents=True)
    config = device.config_space
    (function / "config").write_bytes(b"".join(struct.pack("<I", config.read32(offset))
                                               for offset in range(0, 0x1000, 4)))
    (function / "tsm/connect").write_text(f"{tsm}\n")
    (function / "tsm/disconnect").write_text("")
    return sysfs


@pytest.mark.parametrize("module", [connect, evidence], ids=["connect", "evidence-export"])
def test_a_device_the_kernel_tsm_holds_is_left_alone_unless_forced(
    module: object, device_model: DeviceModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sysfs = kernel_sysfs(tmp_path, EmulatedDevice(ResponderConfig(), device_model), "tsm0")
    monkeypatch.setattr(module, "open_transport", functools.partial(open_transport, sysfs_root=str(sysfs)))
    root = tmp_path / "root.pem"
    root.write_bytes(device_model.root_certificate_pem())
    command = (["connect", BDF] if module is connect else
               ["evidence", "export", BDF, "--nonce", NONCE, "-o", str(tmp_path / "b.json")])
    assert main([*command, "--trust-root", str(root)]) == 4
    err = capsys.readouterr().err
    assert "KernelTsmHoldsDevice" in err and f"{BDF} tsm/connect is 'tsm0'" in err
    # Forced, devsec drives the registers (a config file in a plain directory never answers).
    assert main([*command, "--trust-root", str(root), "--force"]) == 4
    err = capsys.readouterr().err
    assert "TransportTimeout" in err and "no response" in err


def test_the_udev_hook_refuses_to_authenticate_through_a_held_mailbox(
    device_model: DeviceModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sysfs = kernel_sysfs(tmp_path, EmulatedDevice(ResponderConfig(), device_model), "tsm0")
    policy = tmp_path / "policy.toml"
    policy.write_text('[trust]\nroots = ["root.pem"]\n')
    (tmp_path / "root.pem").write_bytes(device_model.root_certificate_pem())
    for name, value in {"ACTION": "change", "DEVPATH": f"/devices/pci0000:00/0000:00:01.0/{BDF}",
                        "SUBSYSTEM": "pci", "PCI_SLOT_NAME": BDF}.items():
        monkeypatch.setenv(name, value)
    flags = ["--policy", str(policy), "--sysfs", str(tmp_path / "out"), "--kernel-sysfs", str(sysfs),
             "--json"]
    assert main(["udev-hook", *flags]) == 1
    out = capsys.readouterr().out
    assert '"action": "leave"' in out and "not re-judged" in out and "held by the kernel's TSM" in out
