"""What a connect report says of the device's certificate slots: SPDM 1.3 slot masks and slot keys.

From the DIGESTS the authentication received: SupportedSlotMask and
ProvisionedSlotMask (1.3; SupportedSlotMask is 0 before), and on a multi-key
connection each provisioned slot's KeyPairID, certificate model and what its
key may sign.
"""

from __future__ import annotations

from typing import Any, Final

from spdm.cma import AuthenticationReport
from spdm.events import DigestsReceived
from spdm.messages.codes import KeyUsage

__all__ = ["slot_lines", "slots_dict"]

_MODELS: Final = {1: "device", 2: "alias", 3: "generic"}
_USAGES: Final = (
    (KeyUsage.KEY_EXCHANGE, "key-exchange"),
    (KeyUsage.CHALLENGE, "challenge"),
    (KeyUsage.MEASUREMENT, "measurement"),
    (KeyUsage.ENDPOINT_INFO, "endpoint-info"),
)


def _digests(report: AuthenticationReport) -> DigestsReceived | None:
    return next((e for e in reversed(report.events) if isinstance(e, DigestsReceived)), None)


def _usage(mask: int) -> list[str]:
    return [name for bit, name in _USAGES if mask & bit]


def slots_dict(report: AuthenticationReport) -> dict[str, Any] | None:
    """The slot masks and (multi-key) slot keys as a JSON document, None without DIGESTS."""
    digests = _digests(report)
    if digests is None:
        return None
    return {
        "supported_slot_mask": digests.supported_slot_mask,
        "provisioned_slot_mask": digests.provisioned_slot_mask,
        "multi_key": report.negotiated.multi_key,
        "keys": {str(slot): {"key_pair_id": key.key_pair_id,
                             "cert_model": _MODELS.get(key.cert_model, str(key.cert_model)),
                             "key_usage": _usage(key.key_usage)}
                 for slot, key in sorted(digests.slot_keys.items())},
    }


def slot_lines(report: AuthenticationReport) -> list[str]:
    """The same as report text lines."""
    digests = _digests(report)
    if digests is None:
        return []
    lines = [f"slots         provisioned 0x{digests.provisioned_slot_mask:02x}, "
             f"supported 0x{digests.supported_slot_mask:02x}"
             + (", multi-key connection" if report.negotiated.multi_key else "")]
    for slot, key in sorted(digests.slot_keys.items()):
        lines.append(f"  slot {slot}: key pair {key.key_pair_id}, "
                     f"{_MODELS.get(key.cert_model, str(key.cert_model))} certificate, signs "
                     + (" ".join(_usage(key.key_usage)) or "nothing"))
    return lines
