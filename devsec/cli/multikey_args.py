"""The multi-key flags (SPDM 1.3) of ``devsec emulate`` and ``devsec connect``.

``devsec connect --multi-key`` asks for a multi-key connection: the requester
advertises its MULTI_KEY_CAP (NEG) and sets NEGOTIATE_ALGORITHMS'
MULTI_KEY_CONN for a device with MULTI_KEY_CAP (a device with ONLY gets it
anyway), as :attr:`spdm.config.RequesterConfig.multi_key_conn` does.

``devsec emulate``: ``--multi-key negotiated|only`` offers MULTI_KEY_CAP (NEG: the requester
chooses with NEGOTIATE_ALGORITHMS; ONLY: every connection is multi-key),
``--slot-key N:USAGE[:MODEL]`` restricts what slot N's key may sign on a
multi-key connection (``USAGE``: ``+``-joined ``key-exchange``, ``challenge``,
``measurement``, ``endpoint-info``; ``MODEL``: ``device``, ``alias`` or
``generic``), ``--supported-slots N,N,...`` names the slots the device could
hold (1.3 DIGESTS SupportedSlotMask; the provisioned ones are always in it).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Final

from spdm.errors import ConfigurationError
from spdm.messages.codes import (
    CERT_MODEL_ALIAS,
    CERT_MODEL_DEVICE,
    CERT_MODEL_GENERIC,
    CapabilityFlags,
    KeyUsage,
)
from spdm.slots import SLOT_COUNT

if TYPE_CHECKING:
    from spdm.device import DeviceModel

__all__ = [
    "MULTI_KEY_CAPS_BY_NAME",
    "add_multi_key_flags",
    "add_requester_multi_key_flag",
    "multi_key_caps",
    "with_slot_keys",
]

MULTI_KEY_CAPS_BY_NAME: Final = {
    "off": CapabilityFlags(0),
    "negotiated": CapabilityFlags.MULTI_KEY_CAP_NEG,
    "only": CapabilityFlags.MULTI_KEY_CAP_ONLY,
}
_USAGES: Final = {
    "key-exchange": KeyUsage.KEY_EXCHANGE,
    "challenge": KeyUsage.CHALLENGE,
    "measurement": KeyUsage.MEASUREMENT,
    "endpoint-info": KeyUsage.ENDPOINT_INFO,
}
_MODELS: Final = {"device": CERT_MODEL_DEVICE, "alias": CERT_MODEL_ALIAS, "generic": CERT_MODEL_GENERIC}


def add_multi_key_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--multi-key``, ``--slot-key`` and ``--supported-slots``."""
    parser.add_argument("--multi-key", choices=tuple(MULTI_KEY_CAPS_BY_NAME), default="off",
                        help="MULTI_KEY_CAP (SPDM 1.3): multi-key connections when the requester asks "
                             "(negotiated) or always (only); default off")
    parser.add_argument("--slot-key", action="append", default=[], metavar="N:USAGE[:MODEL]",
                        help="on multi-key connections slot N's key signs only USAGE ("
                             + "+".join(_USAGES) + ", '+'-joined) and its chain is of MODEL ("
                             + ", ".join(_MODELS) + "; default device) (repeatable)")
    parser.add_argument("--supported-slots", metavar="N,N,...",
                        help="the slots the device could hold (SPDM 1.3 SupportedSlotMask; default "
                             "the provisioned ones)")


def add_requester_multi_key_flag(parser: argparse.ArgumentParser) -> None:
    """Add ``devsec connect``'s ``--multi-key``."""
    parser.add_argument("--multi-key", action="store_true",
                        help="ask for a multi-key connection (SPDM 1.3; a device emulated with "
                             "--multi-key negotiated|only): we advertise MULTI_KEY_CAP and ask for "
                             "MULTI_KEY_CONN; the device's slot keys then sign only what DIGESTS "
                             "allows them, and with mutual authentication ours go multi-key too")


def multi_key_caps(args: argparse.Namespace) -> CapabilityFlags:
    """The MULTI_KEY_CAP bits ``--multi-key`` asks for."""
    return MULTI_KEY_CAPS_BY_NAME[args.multi_key]


def _slot_key(spec: str) -> tuple[int, int, int]:
    parts = spec.split(":")
    try:
        slot = int(parts[0])
        usage = 0
        for name in parts[1].split("+"):
            usage |= _USAGES[name]
        model = _MODELS[parts[2]] if len(parts) == 3 else CERT_MODEL_DEVICE
    except (ValueError, IndexError, KeyError) as exc:
        raise ConfigurationError(f"--slot-key wants N:USAGE[:MODEL], not {spec!r}") from exc
    if len(parts) > 3 or not 0 <= slot < SLOT_COUNT:
        raise ConfigurationError(f"--slot-key wants N:USAGE[:MODEL] with a slot 0-7, not {spec!r}")
    return slot, int(usage), model


def with_slot_keys(args: argparse.Namespace, model: DeviceModel) -> DeviceModel:
    """``model`` with the key usages, certificate models and SupportedSlotMask the flags give.

    Raises:
        ConfigurationError: a malformed ``--slot-key`` or ``--supported-slots``,
            or a ``--slot-key`` for a slot the device does not hold.
    """
    if not args.slot_key and not args.supported_slots:
        return model
    usages: dict[int, int] = {}
    models: dict[int, int] = {}
    for spec in args.slot_key:
        slot, usage, cert_model = _slot_key(spec)
        if slot not in model.slots:
            raise ConfigurationError(f"--slot-key {spec}: slot {slot} is not provisioned")
        usages[slot], models[slot] = usage, cert_model
    supported = None
    if args.supported_slots:
        try:
            slots = [int(s) for s in args.supported_slots.split(",")]
        except ValueError as exc:
            raise ConfigurationError(f"--supported-slots: not 0,1,...: {args.supported_slots!r}") from exc
        if not all(0 <= s < SLOT_COUNT for s in slots):
            raise ConfigurationError(f"--supported-slots: {args.supported_slots!r} are not slots 0-7")
        supported = sum(1 << s for s in set(slots))
    from spdm.device_endpoint import EndpointData  # the device side: not on a connect's import path
    return model.with_endpoint(EndpointData.for_slots(
        model.provisioned_slots(), int(model.asym_alg), key_usages=usages, cert_models=models,
        supported_slot_mask=supported))
