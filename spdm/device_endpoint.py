"""What a device keeps for the SPDM 1.3 endpoint messages: identity, MEL, key pairs.

:class:`EndpointBackend` is what the responder asks for GET_ENDPOINT_INFO,
GET_MEASUREMENT_EXTENSION_LOG and GET/SET_KEY_PAIR_INFO; a backend that does
not implement it (an older one) gets those requests answered
UnsupportedRequest, as libspdm answers when no endpoint-info callback is
registered.  :class:`EndpointData` is the emulated device's implementation,
held by :class:`~spdm.device.DeviceModel`.

Unlike the rest of the device model, the MEL and the key pairs change at run
time (a device extends its log while it boots components; SET_KEY_PAIR_INFO
rewrites a key pair's settings), so :class:`EndpointData` is a mutable store,
like a device's flash.

Decided (SPDM leaves the contents to the device): the default device class
identifier is the one libspdm's sample device reports (one DMTF element with
one 3-byte subordinate ID), the default MEL is empty until something is
extended, and the default key pairs mirror the certificate slots (key pair
``slot + 1`` for each of the 8 slots, associated with it when provisioned, usage KEY_EX|CHALLENGE|MEASUREMENT|
ENDPOINT_INFO, not erasable, not changeable: the emulated keys are fixed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from .errors import ConfigurationError
from .messages.endpoint import ClassIdentifier, DeviceClassIdentifier, EndpointInfoSubcode
from .messages.key_pair import KeyPairCapabilities, KeyPairOperation, KeyUsage
from .messages.mel import Mel, MelEntry

__all__ = [
    "DEFAULT_CLASS_IDENTIFIER",
    "EMPTY_MEL",
    "EndpointBackend",
    "EndpointData",
    "KeyPair",
]

DEFAULT_CLASS_IDENTIFIER = DeviceClassIdentifier((ClassIdentifier(0, b"", (b"\x12\x34\x56",)),))
"""libspdm's sample device class identifier (DMTF registry, one subordinate ID 12 34 56)."""
EMPTY_MEL = Mel()


@dataclass(frozen=True)
class KeyPair:
    """One key pair as KEY_PAIR_INFO reports it (DSP0274 1.3 §10.30)."""

    key_pair_id: int
    capabilities: int
    key_usage_capabilities: int
    current_key_usage: int
    asym_algo_capabilities: int
    current_asym_algo: int
    assoc_cert_slot_mask: int
    public_key_info: bytes = b""


@runtime_checkable
class EndpointBackend(Protocol):
    """What the responder needs from a device for the 1.3 endpoint messages."""

    def endpoint_info(self, subcode: int) -> bytes | None:
        """EPInfo for ``subcode``, or None when the device has none of that kind."""
        ...

    def measurement_extension_log(self) -> bytes:
        """The whole MEL as bytes (the DMTF format)."""
        ...

    def key_pairs(self) -> Sequence[KeyPair]:
        """Every key pair, KeyPairID 1..N in order."""
        ...

    def set_key_pair(self, operation: int, key_pair_id: int, key_usage: int, asym_algo: int,
                     assoc_cert_slot_mask: int) -> None:
        """Apply SET_KEY_PAIR_INFO.

        Raises:
            ValueError: the device refuses (answered InvalidRequest).
        """
        ...


class EndpointData:
    """The emulated device's endpoint data: class identifier, MEL, key pairs (mutable)."""

    def __init__(self, *, class_identifier: DeviceClassIdentifier = DEFAULT_CLASS_IDENTIFIER,
                 mel: Mel = EMPTY_MEL, key_pairs: Sequence[KeyPair] = ()) -> None:
        ids = [k.key_pair_id for k in key_pairs]
        if ids != list(range(1, len(ids) + 1)):
            raise ConfigurationError(f"key pair IDs must be 1..N in order, got {ids}")
        if len(ids) > 0xFE:
            raise ConfigurationError(f"{len(ids)} key pairs: at most 254")
        self.class_identifier = class_identifier
        self.mel = mel
        self._key_pairs = list(key_pairs)

    @classmethod
    def for_slots(cls, provisioned_slot_mask: int, asym_algo: int) -> EndpointData:
        """Key pair ``slot + 1`` for each of the 8 slots (see the module docstring)."""
        usage = (KeyUsage.KEY_EXCHANGE | KeyUsage.CHALLENGE | KeyUsage.MEASUREMENT
                 | KeyUsage.ENDPOINT_INFO)
        pairs = [KeyPair(slot + 1, int(KeyPairCapabilities.CERT_ASSOC), int(usage), int(usage),
                         asym_algo, asym_algo, 1 << slot if provisioned_slot_mask >> slot & 1 else 0)
                 for slot in range(8)]
        return cls(key_pairs=pairs)

    def endpoint_info(self, subcode: int) -> bytes | None:
        """EPInfo: the device class identifier for subcode 1, nothing else."""
        if subcode == EndpointInfoSubcode.DEVICE_CLASS_IDENTIFIER:
            return self.class_identifier.encode()
        return None

    def measurement_extension_log(self) -> bytes:
        """The MEL's bytes."""
        return self.mel.encode()

    def extend(self, measurement_index: int, value_type: int, value: bytes) -> MelEntry:
        """Append a MEL entry (MELIndex counts from 1, as libspdm's) and return it."""
        entry = MelEntry(len(self.mel.entries) + 1, measurement_index, value_type, value)
        self.mel = self.mel.extended(entry)
        return entry

    def key_pairs(self) -> Sequence[KeyPair]:
        """Every key pair, KeyPairID order."""
        return tuple(self._key_pairs)

    def set_key_pair(self, operation: int, key_pair_id: int, key_usage: int, asym_algo: int,
                     assoc_cert_slot_mask: int) -> None:
        """Change or erase a key pair within what its capabilities allow.

        Raises:
            ValueError: unknown key pair or operation, a change the key pair's
                capabilities do not allow, or a value outside its capabilities.
        """
        if not 1 <= key_pair_id <= len(self._key_pairs):
            raise ValueError(f"no key pair {key_pair_id}")
        pair = self._key_pairs[key_pair_id - 1]
        caps = KeyPairCapabilities(pair.capabilities)
        if operation == KeyPairOperation.ERASE:
            if KeyPairCapabilities.ERASABLE not in caps:
                raise ValueError(f"key pair {key_pair_id} is not erasable")
            pair = replace(pair, current_key_usage=0, current_asym_algo=0, assoc_cert_slot_mask=0)
        elif operation == KeyPairOperation.CHANGE:
            if key_usage and (KeyPairCapabilities.KEY_USAGE not in caps
                              or key_usage & ~pair.key_usage_capabilities):
                raise ValueError(f"key pair {key_pair_id} cannot take key usage 0x{key_usage:04x}")
            if asym_algo and (KeyPairCapabilities.ASYM_ALGO not in caps
                              or asym_algo & ~pair.asym_algo_capabilities or asym_algo & (asym_algo - 1)):
                raise ValueError(f"key pair {key_pair_id} cannot take algorithm 0x{asym_algo:08x}")
            if assoc_cert_slot_mask and KeyPairCapabilities.CERT_ASSOC not in caps:
                raise ValueError(f"key pair {key_pair_id} cannot be associated with slots")
            pair = replace(pair, current_key_usage=key_usage or pair.current_key_usage,
                           current_asym_algo=asym_algo or pair.current_asym_algo,
                           assoc_cert_slot_mask=assoc_cert_slot_mask or pair.assoc_cert_slot_mask)
        else:
            raise ValueError(f"key pair operation {operation} is not supported (no key generation)")
        self._key_pairs[key_pair_id - 1] = pair
