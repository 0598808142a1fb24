"""The blank device the provisioning and chunk-sending cases play: one key pair, no slot, CSR_CAP.

Its one key pair is slot 0's leaf key of the identity ``conformance serve``
was given, so ``{chain}`` (slot 0's chain) is a chain it accepts.  It has no
MULTI_KEY_CAP (no connection is multi-key) and none of SPDM 1.3's endpoint
capabilities: a provisionable device keeps no endpoint data.
"""

from __future__ import annotations

from dataclasses import replace

from spdm.backend import ResponderBackend
from spdm.config import ResponderConfig
from spdm.device import DeviceModel
from spdm.messages.codes import CapabilityFlags
from spdm.negotiation import MULTI_KEY_CAPS
from spdm.provisioning import ProvisionableDevice

from .device import ENDPOINT_CAPS

__all__ = ["KEY_PAIR_ID", "PROVISIONING_CAPS", "provisionable"]

KEY_PAIR_ID = 1
"""The blank device's one key pair (a provisionable device numbers them from 1)."""

PROVISIONING_CAPS = CapabilityFlags.CSR_CAP | CapabilityFlags.SET_CERT_CAP
"""What the blank device offers beyond the case device's defaults."""

LARGE_MESSAGE_SIZE = 0x10000
"""The blank device's MaxSPDMmsgSize when its DataTransferSize is made small: chains come in chunks."""


def provisionable(config: ResponderConfig, model: DeviceModel, *, reset: bool = False,
                  transfer_size: int | None = None) -> tuple[ResponderConfig, ResponderBackend]:
    """The blank device's configuration and backend.

    Args:
        config: the case device's default configuration.
        model: the identity ``conformance serve`` was given.
        reset: installs and CSRs complete only after a reset (CERT_INSTALL_RESET_CAP).
        transfer_size: the device's DataTransferSize (None: the default); its
            MaxSPDMmsgSize becomes :data:`LARGE_MESSAGE_SIZE`, so a larger request comes in chunks.
    """
    key = model.slots[min(model.slots)].leaf_key
    caps = (config.capabilities | PROVISIONING_CAPS) & ~(ENDPOINT_CAPS & ~CapabilityFlags.CHUNK_CAP)
    caps &= ~MULTI_KEY_CAPS
    if reset:
        caps |= CapabilityFlags.CERT_INSTALL_RESET_CAP
    config = replace(config, capabilities=caps)
    if transfer_size is not None:
        config = replace(config, data_transfer_size=transfer_size, max_spdm_msg_size=LARGE_MESSAGE_SIZE)
    return config, ProvisionableDevice({KEY_PAIR_ID: key}, reset_required=reset)
