"""A function's PCI identity: the kernel's ``vendor``, ``device``, ``subsystem_*`` and ``class`` files.

Read from the function's configuration space, rendered beside the evidence,
and matched by the policy's reference values.
"""

from __future__ import annotations

from typing import Final

from spdm.errors import ConfigurationError
from spdm.record import record
from spdm.transport import ConfigSpace

__all__ = ["PCI_ID_ATTRIBUTES", "PciIdentity", "pci_identity"]

PCI_ID_ATTRIBUTES: Final = ("vendor", "device", "subsystem_vendor", "subsystem_device", "class")
"""The kernel's top-level identity attributes, in :class:`PciIdentity`'s field order."""


@record(frozen=True, slots=True)
class PciIdentity:
    """A function's PCI identity: the kernel's ``vendor``, ``device``, ``subsystem_*`` and ``class``.

    Each is None when unknown (a device reached over a socket has no config space).

    Attributes:
        vendor / device: the Vendor and Device IDs (16-bit).
        subsystem_vendor / subsystem_device: the Subsystem IDs (16-bit; type 0 headers only).
        class_code: the 24-bit class code (base class, sub-class, programming interface).
    """

    vendor: int | None = None
    device: int | None = None
    subsystem_vendor: int | None = None
    subsystem_device: int | None = None
    class_code: int | None = None

    def __post_init__(self) -> None:
        for name, value in zip(PCI_ID_ATTRIBUTES, self.values(), strict=True):
            limit = 0xFF_FFFF if name == "class" else 0xFFFF
            if value is not None and not 0 <= value <= limit:
                raise ConfigurationError(f"PCI {name} {value!r} is out of range")

    def values(self) -> tuple[int | None, ...]:
        """The five values in :data:`PCI_ID_ATTRIBUTES` order."""
        return (self.vendor, self.device, self.subsystem_vendor, self.subsystem_device, self.class_code)


def pci_identity(config: ConfigSpace) -> PciIdentity:
    """Read a function's identity from its configuration space.

    Args:
        config: the function's config space (a real device's sysfs ``config``
            file or an emulated one).

    Returns:
        The IDs and class code; the subsystem IDs only for a type 0 header
        (elsewhere offset 0x2C holds something else).

    Raises:
        TransportError: config-space I/O failed.
    """
    ids = config.read32(0x00)
    header_type = config.read32(0x0C) >> 16 & 0x7F
    subsystem = config.read32(0x2C) if header_type == 0 else None
    return PciIdentity(
        vendor=ids & 0xFFFF, device=ids >> 16, class_code=config.read32(0x08) >> 8,
        subsystem_vendor=None if subsystem is None else subsystem & 0xFFFF,
        subsystem_device=None if subsystem is None else subsystem >> 16,
    )
