"""A PCI device directory as a real kernel's ``/sys`` shows it, file for file (issue 11.10).

Modelled on ``/sys/bus/pci/devices/<BDF>/`` of Linux 6.19 (PCI core attributes
as a QEMU guest lists them, DOE ``doe_features/``, PCI/TSM ``tsm/`` and
``authenticated``) with the proposed CMA-SPDM ``certificates/`` and
``signatures/``: the kernel's modes (0444 read-only, 0644 read-write, 0200 and
0220 write-only, 0600 root-only), its symlinks (``driver``, ``iommu_group``,
``subsystem``, ``firmware_node``, each log entry's ``certificate_chain``), its
subdirectories (``power``, ``msi_irqs``, ``link``), text attributes ending in a
newline and binary ones without, and none of devsec's own files (``spdm/``,
``measurements/``, ``interface_report/``, ``_asym_algorithm``).
"""

from __future__ import annotations

from pathlib import Path

from sysfs_bridge import DeviceEvidence

__all__ = ["BDF", "kernel_device"]

BDF = "0000:01:00.0"
_PARENT = "devices/pci0000:00/0000:00:01.0"

_CORE = (  # name, mode, contents: the PCI core's attributes of an NVMe function in a QEMU guest
    ("ari_enabled", 0o444, b"0\n"), ("broken_parity_status", 0o644, b"0\n"), ("class", 0o444, b"0x010802\n"),
    ("consistent_dma_mask_bits", 0o444, b"64\n"), ("current_link_speed", 0o444, b"16.0 GT/s PCIe\n"),
    ("current_link_width", 0o444, b"4\n"), ("d3cold_allowed", 0o644, b"1\n"), ("device", 0o444, b"0x0010\n"),
    ("dma_mask_bits", 0o444, b"64\n"), ("driver_override", 0o644, b"(null)\n"), ("enable", 0o644, b"1\n"),
    ("irq", 0o444, b"11\n"), ("local_cpulist", 0o444, b"0-1\n"), ("local_cpus", 0o444, b"3\n"),
    ("modalias", 0o444, b"pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02\n"),
    ("msi_bus", 0o644, b"1\n"), ("numa_node", 0o644, b"-1\n"), ("power_state", 0o444, b"D0\n"),
    ("resource", 0o444, b"0x00000000fe000000 0x00000000fe003fff 0x0000000000140204\n"),
    ("revision", 0o444, b"0x02\n"), ("subsystem_device", 0o444, b"0x1100\n"),
    ("subsystem_vendor", 0o444, b"0x1af4\n"), ("uevent", 0o644, b"DRIVER=nvme\nPCI_CLASS=10802\n"),
    ("vendor", 0o444, b"0x1b36\n"), ("config", 0o644, bytes(256)),
    # root-only and write-only attributes: the reader must never need them
    ("resource0", 0o600, bytes(64)), ("remove", 0o220, b""), ("rescan", 0o200, b""), ("reset", 0o200, b""),
)
_LINKS = (
    ("driver", "../../../../bus/pci/drivers/nvme"), ("iommu_group", "../../../../kernel/iommu_groups/12"),
    ("subsystem", "../../../../bus/pci"), ("firmware_node", "../../../LNXSYSTM:00/LNXSYBUS:00/PNP0A08:00"),
)


def _file(path: Path, data: bytes, mode: int = 0o444) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def kernel_device(root: Path, evidence: DeviceEvidence, *, tsm: str = "") -> Path:
    """Lay out ``evidence`` under ``root`` as the kernel would show the device at :data:`BDF`.

    Args:
        root: where ``/sys`` is.
        evidence: the certificates, log and DOE features to show (devsec-only parts are not).
        tsm: the TSM holding the device (TSM mode: ``authenticated`` and ``tsm/`` name it);
            "" for CMA mode (``authenticated`` reads ``1``, ``tsm/`` shows no connection).

    Returns:
        ``root/bus/pci/devices/<BDF>`` (a symlink, as in the kernel).
    """
    device = root / _PARENT / BDF
    device.mkdir(parents=True)
    for name, mode, data in _CORE:
        _file(device / name, data, mode)
    for name, target in _LINKS:
        (device / name).symlink_to(target)
    for sub in ("power", "msi_irqs", "link"):
        (device / sub).mkdir()
    _file(device / "power/runtime_status", b"active\n")
    _file(device / "msi_irqs/24", b"msix\n")
    _file(device / "link/l1_aspm", b"0\n", 0o644)
    _file(device / "authenticated", (tsm or "1").encode() + b"\n", 0o444 if tsm else 0o644)
    for vendor, kind in evidence.doe_features:
        feature = f"{vendor:04x}:{kind:02x}"
        _file(device / "doe_features" / ("doe_discovery" if (vendor, kind) == (1, 0) else feature),
              feature.encode() + b"\n")
    for slot in evidence.supported_slots:
        _file(device / f"certificates/slot{slot}", evidence.certificates.get(slot, b""))
    signatures = device / "signatures"
    _file(signatures / "next_requester_nonce", b"", 0o200)
    for entry in evidence.signatures:
        n = entry.number
        for suffix, data in (("signature", entry.signature), ("transcript", entry.transcript),
                             ("requester_nonce", entry.requester_nonce),
                             ("responder_nonce", entry.responder_nonce),
                             ("combined_spdm_prefix", entry.combined_spdm_prefix),
                             ("type", entry.type.encode() + b"\n"),
                             ("hash_algorithm", entry.hash_algorithm.encode() + b"\n")):
            _file(signatures / f"{n}_{suffix}", data)
        (signatures / f"{n}_certificate_chain").symlink_to(f"../certificates/slot{entry.certificate_slot}")
    _file(device / "tsm/connect", f"{tsm}\n".encode(), 0o644)
    _file(device / "tsm/disconnect", b"", 0o200)
    _file(device / "tsm/dsm", f"{BDF if tsm else ''}\n".encode())
    _file(device / "tsm/bound", b"\n")
    (root / "bus/pci/devices").mkdir(parents=True, exist_ok=True)
    link = root / "bus/pci/devices" / BDF
    link.symlink_to(f"../../../{_PARENT}/{BDF}")
    if tsm:
        (root / "devices/virtual/tsm" / tsm).mkdir(parents=True)
        (root / "class/tsm").mkdir(parents=True)
        (root / "class/tsm" / tsm).symlink_to(f"../../devices/virtual/tsm/{tsm}")
    return link
