"""Tests for spdm.transport.configspace: config-space accessors and the capability walk."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from spdm.errors import ConfigurationError, LocalProtocolError, RemoteProtocolError, TransportError
from spdm.transport.configspace import (
    EXT_CAP_ID_DOE,
    DeviceMailbox,
    ModelConfigSpace,
    SysfsConfigSpace,
    find_extended_capabilities,
    open_mailbox,
)
from spdm.transport.doe import DataObject, decode_data_object, discover, encode_data_object
from spdm.transport.endpoint import DoeEndpoint
from spdm.transport.mailbox import DOE_STATUS, DOE_WRITE_MAILBOX, DoeMailboxModel

EXT_CAP_ID_AER = 0x0001
EXT_CAP_ID_IDE = 0x0030


def ext_cap(cap_id: int, next_offset: int, version: int = 1) -> int:
    return cap_id | version << 16 | next_offset << 20


class DictConfig:
    """Sparse config space: unset dwords read as 0."""

    def __init__(self, dwords: dict[int, int]) -> None:
        self.dwords = dwords

    def read32(self, offset: int) -> int:
        return self.dwords.get(offset, 0)

    def write32(self, offset: int, value: int) -> None:
        self.dwords[offset] = value


def models(count: int) -> list[DoeMailboxModel]:
    endpoint = DoeEndpoint({(1, 1): lambda p: p, (1, 2): lambda p: p})
    return [DoeMailboxModel(endpoint.handle) for _ in range(count)]


# --- capability walk -------------------------------------------------------------------------


def test_walk_finds_every_match_in_a_chain() -> None:
    config = DictConfig(
        {
            0x100: ext_cap(EXT_CAP_ID_AER, 0x148),
            0x148: ext_cap(EXT_CAP_ID_DOE, 0x200),
            0x200: ext_cap(EXT_CAP_ID_IDE, 0x300),
            0x300: ext_cap(EXT_CAP_ID_DOE, 0x400, version=2),
            0x400: ext_cap(0x0023, 0),
        }
    )
    assert find_extended_capabilities(config, EXT_CAP_ID_DOE) == [0x148, 0x300]
    assert find_extended_capabilities(config, EXT_CAP_ID_AER) == [0x100]
    assert find_extended_capabilities(config, EXT_CAP_ID_IDE) == [0x200]
    assert find_extended_capabilities(config, 0x0099) == []


@pytest.mark.parametrize("first", [0, 0xFFFF_FFFF])
def test_walk_stops_on_an_empty_or_absent_list(first: int) -> None:
    config = DictConfig({0x100: first, 0x200: ext_cap(EXT_CAP_ID_DOE, 0)})
    assert find_extended_capabilities(config, EXT_CAP_ID_DOE) == []


def test_walk_stops_at_a_zero_header_mid_chain() -> None:
    config = DictConfig({0x100: ext_cap(EXT_CAP_ID_DOE, 0x200), 0x200: 0})
    assert find_extended_capabilities(config, EXT_CAP_ID_DOE) == [0x100]


def test_walk_stops_at_a_next_pointer_into_legacy_space() -> None:
    config = DictConfig({0x100: ext_cap(EXT_CAP_ID_DOE, 0x40), 0x40: ext_cap(EXT_CAP_ID_DOE, 0)})
    assert find_extended_capabilities(config, EXT_CAP_ID_DOE) == [0x100]


def test_walk_ignores_the_reserved_low_bits_of_next() -> None:
    config = DictConfig({0x100: ext_cap(EXT_CAP_ID_AER, 0x203), 0x200: ext_cap(EXT_CAP_ID_DOE, 0)})
    assert find_extended_capabilities(config, EXT_CAP_ID_DOE) == [0x200]


@pytest.mark.parametrize(
    "chain",
    [
        {0x100: ext_cap(EXT_CAP_ID_DOE, 0x100)},
        {0x100: ext_cap(EXT_CAP_ID_AER, 0x200), 0x200: ext_cap(EXT_CAP_ID_DOE, 0x100)},
        {
            0x100: ext_cap(EXT_CAP_ID_AER, 0x200),
            0x200: ext_cap(EXT_CAP_ID_DOE, 0x300),
            0x300: ext_cap(EXT_CAP_ID_IDE, 0x200),
        },
    ],
)
def test_walk_detects_cycles(chain: dict[int, int]) -> None:
    config = DictConfig(chain)
    with pytest.raises(RemoteProtocolError, match="loops"):
        find_extended_capabilities(config, EXT_CAP_ID_DOE)


def test_walk_handles_the_longest_possible_list() -> None:
    chain = {off: ext_cap(EXT_CAP_ID_DOE, off + 4) for off in range(0x100, 0xFFC, 4)}
    chain[0xFFC] = ext_cap(EXT_CAP_ID_DOE, 0)
    assert len(find_extended_capabilities(DictConfig(chain), EXT_CAP_ID_DOE)) == 960


# --- ModelConfigSpace ------------------------------------------------------------------------


def test_model_header_ids_are_read_only() -> None:
    config = ModelConfigSpace([], vendor_id=0x8086, device_id=0x0B25)
    assert config.read32(0) == 0x0B25_8086
    config.write32(0, 0)
    assert config.read32(0) == 0x0B25_8086


def test_model_other_dwords_are_ram() -> None:
    config = ModelConfigSpace(models(1))
    config.write32(0x04, 0x0010_0006)
    config.write32(0xFFC, 0xDEAD_BEEF)
    assert (config.read32(0x04), config.read32(0xFFC)) == (0x0010_0006, 0xDEAD_BEEF)


def test_model_chains_one_doe_capability_per_mailbox() -> None:
    config = ModelConfigSpace(models(3))
    assert config.doe_offsets == [0x100, 0x118, 0x130]
    assert find_extended_capabilities(config, EXT_CAP_ID_DOE) == [0x100, 0x118, 0x130]
    assert config.read32(0x100) == ext_cap(EXT_CAP_ID_DOE, 0x118)
    assert config.read32(0x130) == ext_cap(EXT_CAP_ID_DOE, 0)
    config.write32(0x118, 0)  # capability headers are read-only
    assert config.read32(0x118) == ext_cap(EXT_CAP_ID_DOE, 0x130)


def test_model_first_cap_elsewhere_puts_a_null_capability_at_0x100() -> None:
    config = ModelConfigSpace(models(2), first_cap=0x400)
    assert config.read32(0x100) == ext_cap(0, 0x400, version=0)
    config.write32(0x100, 0)
    assert find_extended_capabilities(config, EXT_CAP_ID_DOE) == [0x400, 0x418]


def test_model_without_mailboxes_has_no_extended_capabilities() -> None:
    config = ModelConfigSpace([])
    assert find_extended_capabilities(config, EXT_CAP_ID_DOE) == []
    with pytest.raises(TransportError, match="no DOE"):
        open_mailbox(config)


def test_model_windows_reach_their_own_mailbox() -> None:
    first, second = models(2)
    config = ModelConfigSpace([first, second])
    config.write32(0x118 + DOE_WRITE_MAILBOX, 0xFFFF_FFFF)
    config.write32(0x118 + DOE_WRITE_MAILBOX, 0xFFFF_FFFF)  # bad header: Error on the second
    assert config.read32(0x100 + DOE_STATUS) == 0
    assert config.read32(0x118 + DOE_STATUS) == 1 << 2
    assert first.read32(DOE_STATUS) == 0


def test_open_mailbox_uses_the_first_doe_instance() -> None:
    first, second = models(2)
    config = ModelConfigSpace([first, second])
    host = open_mailbox(config)
    assert discover(host.exchange) == [(1, 0), (1, 1), (1, 2)]
    request = encode_data_object(DataObject(1, 1, b"\x10\x84\x00\x00"))
    assert decode_data_object(host.exchange(request)).payload == b"\x10\x84\x00\x00"


@pytest.mark.parametrize("offset", [-4, 2, 0x1000])
def test_model_rejects_bad_offsets(offset: int) -> None:
    config = ModelConfigSpace([])
    with pytest.raises(LocalProtocolError):
        config.read32(offset)
    with pytest.raises(LocalProtocolError):
        config.write32(offset, 0)


@pytest.mark.parametrize("value", [-1, 1 << 32])
def test_model_rejects_bad_values(value: int) -> None:
    with pytest.raises(LocalProtocolError):
        ModelConfigSpace([]).write32(0x10, value)


@pytest.mark.parametrize(
    ("count", "kwargs"),
    [
        (1, {"first_cap": 0xFC}),
        (1, {"first_cap": 0x102}),
        (1, {"first_cap": 0xFF0}),
        (161, {}),
        (0, {"vendor_id": 0x10000}),
        (0, {"device_id": -1}),
    ],
)
def test_model_rejects_bad_layouts(count: int, kwargs: dict[str, int]) -> None:
    with pytest.raises(LocalProtocolError):
        ModelConfigSpace(models(count), **kwargs)


def test_model_fits_160_mailboxes() -> None:
    config = ModelConfigSpace(models(160))
    assert config.doe_offsets[-1] == 0x1000 - 0x18
    assert len(find_extended_capabilities(config, EXT_CAP_ID_DOE)) == 160


# --- SysfsConfigSpace ------------------------------------------------------------------------


def snapshot(config: ModelConfigSpace) -> bytes:
    return b"".join(struct.pack("<I", config.read32(off)) for off in range(0, 0x1000, 4))


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config"
    path.write_bytes(snapshot(ModelConfigSpace(models(2), vendor_id=0x1B36, first_cap=0x180)))
    return path


def test_sysfs_reads_what_the_model_holds(config_file: Path) -> None:
    config = SysfsConfigSpace(config_file)
    try:
        assert config.read32(0) == 0x1234_1B36
        assert find_extended_capabilities(config, EXT_CAP_ID_DOE) == [0x180, 0x198]
        assert config.read32(0xFFC) == 0
    finally:
        config.close()


def test_sysfs_writes_one_little_endian_dword(config_file: Path) -> None:
    config = SysfsConfigSpace(os.fspath(config_file))
    config.write32(0x10, 0x1122_3344)
    assert config.read32(0x10) == 0x1122_3344
    config.close()
    assert config_file.read_bytes()[0x10:0x14] == b"\x44\x33\x22\x11"
    assert len(config_file.read_bytes()) == 0x1000


def test_sysfs_short_file_reads_fail_with_the_path(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_bytes(bytes(64 + 2))  # what an unprivileged reader sees, and a torn dword
    config = SysfsConfigSpace(path)
    assert config.read32(0x3C) == 0
    with pytest.raises(TransportError, match=f"short read of {path} at 0x40"):
        config.read32(0x40)
    with pytest.raises(TransportError, match="short read"):
        config.read32(0x100)
    config.close()


def test_sysfs_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match=str(tmp_path / "nope")):
        SysfsConfigSpace(tmp_path / "nope")


def test_sysfs_closed_refuses_access(config_file: Path) -> None:
    config = SysfsConfigSpace(config_file)
    config.close()
    config.close()
    with pytest.raises(LocalProtocolError, match="closed"):
        config.read32(0)
    with pytest.raises(LocalProtocolError, match="closed"):
        config.write32(0, 0)


@pytest.mark.parametrize("offset", [-4, 1, 0x1000])
def test_sysfs_rejects_bad_offsets(config_file: Path, offset: int) -> None:
    config = SysfsConfigSpace(config_file)
    with pytest.raises(LocalProtocolError):
        config.read32(offset)
    with pytest.raises(LocalProtocolError):
        config.write32(offset, 0)
    with pytest.raises(LocalProtocolError):
        config.write32(0, 1 << 32)
    config.close()


def test_sysfs_unopenable_path_is_a_transport_error(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="cannot open"):
        SysfsConfigSpace(tmp_path)  # a directory


def test_sysfs_io_errors_become_transport_errors(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    config = SysfsConfigSpace(fifo)  # opens, but cannot seek: every pread/pwrite fails
    with pytest.raises(TransportError, match=f"read of {fifo} at 0x4"):
        config.read32(4)
    with pytest.raises(TransportError, match=f"write of {fifo} at 0x8"):
        config.write32(8, 0)
    config.close()


@pytest.fixture
def sysfs_root(tmp_path: Path, config_file: Path) -> Path:
    for name in ("0000:01:00.0", "0000:3a:1f.7", "10000:00:02.0"):
        device = tmp_path / "sys" / "bus" / "pci" / "devices" / name
        device.mkdir(parents=True)
        (device / "config").write_bytes(config_file.read_bytes())
    return tmp_path / "sys"


@pytest.mark.parametrize("bdf", ["0000:01:00.0", "01:00.0", "0000:3A:1F.7", "3a:1f.7", "10000:00:02.0"])
def test_for_device_finds_the_config_file(sysfs_root: Path, bdf: str) -> None:
    config = SysfsConfigSpace.for_device(bdf, sysfs_root=str(sysfs_root))
    assert config.read32(0) == 0x1234_1B36
    config.close()


@pytest.mark.parametrize(
    "bdf",
    [
        "",
        "1:00.0",
        "0000:01:20.0",
        "0000:01:00.8",
        "0000:01:00",
        "zz:00.0",
        "000:01:00.0",
        "0000:01:00.0 ",
        "0000:01:00.0/config",
        "../01:00.0",
    ],
)
def test_for_device_rejects_bad_addresses(sysfs_root: Path, bdf: str) -> None:
    with pytest.raises(ConfigurationError):
        SysfsConfigSpace.for_device(bdf, sysfs_root=str(sysfs_root))


def test_for_device_missing_device(sysfs_root: Path) -> None:
    with pytest.raises(TransportError, match="0000:02:00.0/config"):
        SysfsConfigSpace.for_device("02:00.0", sysfs_root=str(sysfs_root))


def test_sysfs_short_write_is_a_transport_error(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = SysfsConfigSpace(config_file)
    monkeypatch.setattr(os, "pwrite", lambda fd, data, offset: 2)
    with pytest.raises(TransportError, match="short write"):
        config.write32(0x10, 1)
    config.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_device_mailbox_owns_its_config_file(sysfs_root: Path) -> None:
    before = open_fds()
    mailbox = DeviceMailbox("01:00.0", str(sysfs_root))
    assert mailbox.config.read32(0) == 0x1234_1B36 and open_fds() == before + 1
    mailbox.close()
    mailbox.close()
    assert open_fds() == before
    with pytest.raises(LocalProtocolError, match="closed"):
        mailbox.config.read32(0)
    with pytest.raises(LocalProtocolError):
        mailbox.exchange(b"\x01\x00\x01\x00\x02\x00\x00\x00")


def test_device_mailbox_without_doe_closes_what_it_opened(sysfs_root: Path) -> None:
    (sysfs_root / "bus/pci/devices/0000:01:00.0/config").write_bytes(bytes(0x1000))
    before = open_fds()
    with pytest.raises(TransportError, match="no DOE"):
        DeviceMailbox("0000:01:00.0", str(sysfs_root))
    assert open_fds() == before
