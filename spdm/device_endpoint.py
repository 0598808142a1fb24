"""What a device keeps for the SPDM 1.3 endpoint messages: identity, MEL, key pairs, slot keys.

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

Multi-key connections (1.3 MULTI_KEY_CONN): each provisioned slot names the
key pair that signs for it, the slot's certificate model and what the key may
sign (DIGESTS' KeyPairID, CertificateInfo and KeyUsageMask).  Decided: a slot's
key pair is the one whose AssocCertSlotMask holds the slot (the lowest such
ID), and its KeyUsageMask is that key pair's CurrentKeyUsage, so DIGESTS and
KEY_PAIR_INFO never contradict each other; a provisioned slot no key pair is
associated with (none was configured, or SET_KEY_PAIR_INFO erased it) reports
KeyPairID 0 and no usage, and on a multi-key connection signs nothing.
(libspdm's sample keeps the two tables apart and reports key pairs 5, 5, 0x11
in DIGESTS while its KEY_PAIR_INFO associates key pair 1 with slots 0 and 1.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Protocol, runtime_checkable

from .errors import ConfigurationError
from .messages.codes import (
    CERT_MODEL_DEVICE,
    CERT_MODEL_GENERIC,
    EndpointInfoSubcode,
    KeyPairCapabilities,
    KeyPairOperation,
)
from .messages.endpoint import ClassIdentifier, DeviceClassIdentifier
from .messages.mel import Mel, MelEntry
from .record import record
from .slot_keys import KEY_USAGE_ALL, SlotKey

__all__ = [
    "DEFAULT_CLASS_IDENTIFIER",
    "EMPTY_MEL",
    "EndpointBackend",
    "EndpointData",
    "KeyPair",
    "slot_key_of",
]

DEFAULT_CLASS_IDENTIFIER = DeviceClassIdentifier((ClassIdentifier(0, b"", (b"\x12\x34\x56",)),))
"""libspdm's sample device class identifier (DMTF registry, one subordinate ID 12 34 56)."""
EMPTY_MEL = Mel()


@record(frozen=True)
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
    pqc_asym_algo_capabilities: int = 0
    current_pqc_asym_algo: int = 0


def slot_key_of(key_pairs: Sequence[KeyPair], slot_id: int, cert_model: int) -> SlotKey:
    """A slot's :class:`SlotKey` from the key pairs associated with it (see the module docstring)."""
    for pair in key_pairs:
        if pair.assoc_cert_slot_mask >> slot_id & 1:
            return SlotKey(pair.key_pair_id, cert_model, pair.current_key_usage)
    return SlotKey(0, cert_model, 0)


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
                     assoc_cert_slot_mask: int, pqc_asym_algo: int = 0) -> None:
        """Apply SET_KEY_PAIR_INFO (``pqc_asym_algo``: the 1.4 DesiredPqcAsymAlgo).

        Raises:
            ValueError: the device refuses (answered InvalidRequest).
        """
        ...


class EndpointData:
    """The emulated device's endpoint data: class identifier, MEL, key pairs (mutable)."""

    def __init__(self, *, class_identifier: DeviceClassIdentifier = DEFAULT_CLASS_IDENTIFIER,
                 mel: Mel = EMPTY_MEL, key_pairs: Sequence[KeyPair] = (),
                 supported_slot_mask: int | None = None,
                 cert_models: Mapping[int, int] | None = None) -> None:
        """See the class docstring.

        Args:
            class_identifier: what GET_ENDPOINT_INFO subcode 1 reports.
            mel: the measurement extension log to start with.
            key_pairs: KeyPairID 1..N in order.
            supported_slot_mask: SupportedSlotMask (None: the provisioned slots).
            cert_models: slot -> CertModel (missing slots: DeviceCert).

        Raises:
            ConfigurationError: key pair IDs not 1..N, more than 254 key pairs,
                a slot mask or slot outside 0-7, a CertModel outside 1-3.
        """
        ids = [k.key_pair_id for k in key_pairs]
        if ids != list(range(1, len(ids) + 1)):
            raise ConfigurationError(f"key pair IDs must be 1..N in order, got {ids}")
        if len(ids) > 0xFE:
            raise ConfigurationError(f"{len(ids)} key pairs: at most 254")
        if supported_slot_mask is not None and not 0 <= supported_slot_mask <= 0xFF:
            raise ConfigurationError(f"SupportedSlotMask 0x{supported_slot_mask:x} is not a byte")
        models = dict(cert_models or {})
        for slot, model in models.items():
            if not 0 <= slot < 8 or not CERT_MODEL_DEVICE <= model <= CERT_MODEL_GENERIC:
                raise ConfigurationError(f"slot {slot}: CertModel {model} (slots 0-7, models 1-3)")
        self.class_identifier = class_identifier
        self.mel = mel
        self._key_pairs = list(key_pairs)
        self.supported_slot_mask = supported_slot_mask
        self.cert_models: Mapping[int, int] = models

    @classmethod
    def for_slots(cls, provisioned_slot_mask: int, asym_algo: int, *, pqc_asym_algo: int = 0,
                  key_usages: Mapping[int, int] | None = None,
                  cert_models: Mapping[int, int] | None = None,
                  supported_slot_mask: int | None = None) -> EndpointData:
        """Key pair ``slot + 1`` for each of the 8 slots (see the module docstring).

        Args:
            provisioned_slot_mask: the slots whose key pair is associated with them.
            asym_algo: the key pairs' algorithm (0 for ML-DSA keys).
            pqc_asym_algo: the key pairs' 1.4 PqcAsymAlgo (ML-DSA keys; 0 otherwise).
            key_usages: slot -> the KeyUsageMask its key pair is restricted to
                (multi-key connections; the others may sign everything).
            cert_models: slot -> CertModel (the others: DeviceCert).
            supported_slot_mask: SupportedSlotMask (None: the provisioned slots).

        Raises:
            ConfigurationError: a usage outside KEY_EX|CHALLENGE|MEASUREMENT|ENDPOINT_INFO,
                or what :class:`EndpointData` refuses.
        """
        usages = dict(key_usages or {})
        for slot, usage in usages.items():
            if not 0 <= slot < 8 or usage & ~KEY_USAGE_ALL:
                raise ConfigurationError(f"slot {slot}: KeyUsageMask 0x{usage:04x} (slots 0-7, bits 0-3)")
        pairs = [KeyPair(slot + 1, int(KeyPairCapabilities.CERT_ASSOC), usages.get(slot, KEY_USAGE_ALL),
                         usages.get(slot, KEY_USAGE_ALL), asym_algo, asym_algo,
                         1 << slot if provisioned_slot_mask >> slot & 1 else 0,
                         pqc_asym_algo_capabilities=pqc_asym_algo, current_pqc_asym_algo=pqc_asym_algo)
                 for slot in range(8)]
        return cls(key_pairs=pairs, cert_models=cert_models, supported_slot_mask=supported_slot_mask)

    def slot_key(self, slot_id: int) -> SlotKey:
        """The slot's key pair, certificate model and key usage (see the module docstring)."""
        return slot_key_of(self._key_pairs, slot_id, self.cert_models.get(slot_id, CERT_MODEL_DEVICE))

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
                     assoc_cert_slot_mask: int, pqc_asym_algo: int = 0) -> None:
        """Change or erase a key pair within what its capabilities allow.

        A key pair takes one algorithm, classic or (1.4) post-quantum: asking
        for both at once is refused, as libspdm refuses it.

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
            pair = replace(pair, current_key_usage=0, current_asym_algo=0, current_pqc_asym_algo=0,
                           assoc_cert_slot_mask=0)
        elif operation == KeyPairOperation.CHANGE:
            if key_usage and (KeyPairCapabilities.KEY_USAGE not in caps
                              or key_usage & ~pair.key_usage_capabilities):
                raise ValueError(f"key pair {key_pair_id} cannot take key usage 0x{key_usage:04x}")
            if asym_algo and (KeyPairCapabilities.ASYM_ALGO not in caps
                              or asym_algo & ~pair.asym_algo_capabilities or asym_algo & (asym_algo - 1)):
                raise ValueError(f"key pair {key_pair_id} cannot take algorithm 0x{asym_algo:08x}")
            if pqc_asym_algo and (KeyPairCapabilities.ASYM_ALGO not in caps or asym_algo
                                  or pqc_asym_algo & ~pair.pqc_asym_algo_capabilities
                                  or pqc_asym_algo & (pqc_asym_algo - 1)):
                raise ValueError(f"key pair {key_pair_id} cannot take PQC algorithm 0x{pqc_asym_algo:08x}")
            if assoc_cert_slot_mask and KeyPairCapabilities.CERT_ASSOC not in caps:
                raise ValueError(f"key pair {key_pair_id} cannot be associated with slots")
            pair = replace(pair, current_key_usage=key_usage or pair.current_key_usage,
                           current_asym_algo=(asym_algo or (0 if pqc_asym_algo else pair.current_asym_algo)),
                           current_pqc_asym_algo=(pqc_asym_algo
                                                  or (0 if asym_algo else pair.current_pqc_asym_algo)),
                           assoc_cert_slot_mask=assoc_cert_slot_mask or pair.assoc_cert_slot_mask)
        else:
            raise ValueError(f"key pair operation {operation} is not supported (no key generation)")
        self._key_pairs[key_pair_id - 1] = pair
