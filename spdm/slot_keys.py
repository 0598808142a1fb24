"""Slot keys on SPDM 1.3 multi-key connections: the DIGESTS masks and tail, KeyUsageMask rules.

Before 1.3 every slot's leaf held the same key, usable for everything.  With
MULTI_KEY_CONN (PROTOCOLS.md §3.4) DIGESTS names, per provisioned slot, the
key pair that signs for it, the slot's certificate model and a KeyUsageMask
saying which signed responses (KEY_EXCHANGE_RSP, CHALLENGE_AUTH,
MEASUREMENTS, ENDPOINT_INFO) that key may produce.  The signer builds the
DIGESTS it serves here (:func:`digests_for`), the verifier checks the one it
received (:func:`check_digests`); both sides use :func:`usage_allows` when a
request names a slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Final, Protocol, runtime_checkable

from .backend import IdentityBackend
from .errors import LocalProtocolError, RemoteProtocolError
from .messages import Digests
from .messages.codes import (
    CERT_MODEL_DEVICE,
    CERT_MODEL_GENERIC,
    CERT_MODEL_NONE,
    KeyUsage,
    RequestCode,
    SpdmVersion,
)
from .negotiation import Negotiated
from .record import record
from .slots import SLOT_COUNT

__all__ = [
    "CERT_MODEL_MASK",
    "KEY_USAGE_ALL",
    "SlotKey",
    "SlotKeysBackend",
    "USAGE_OF_REQUEST",
    "check_digests",
    "check_key_usage",
    "digests_for",
    "slot_key",
    "supported_slots",
    "usage_allows",
]

KEY_USAGE_ALL = int(KeyUsage.KEY_EXCHANGE | KeyUsage.CHALLENGE | KeyUsage.MEASUREMENT
                    | KeyUsage.ENDPOINT_INFO)
"""A key that may sign every kind of response (what a single-key device's keys do)."""


@record(frozen=True)
class SlotKey:
    """What 1.3 DIGESTS says of one provisioned slot on a multi-key connection.

    Attributes:
        key_pair_id: the key pair that signs for the slot (0: none).
        cert_model: CertificateInfo b[2:0] (1 device, 2 alias, 3 generic).
        key_usage: KeyUsageMask: what the slot's key may sign.
    """

    key_pair_id: int
    cert_model: int
    key_usage: int


@runtime_checkable
class SlotKeysBackend(Protocol):
    """What the responder needs from a device for multi-key connections (1.3).

    A backend without it has every slot supported that is provisioned, key
    pair ``slot + 1`` per slot, device certificates and keys that sign
    everything (a 1.2 device's slots).
    """

    def supported_slots(self) -> int:
        """SupportedSlotMask: the slots that can hold a chain (DIGESTS Param1, 1.3)."""
        ...

    def slot_key(self, slot_id: int) -> SlotKey:
        """The key pair, certificate model and key usage of a provisioned slot."""
        ...


CERT_MODEL_MASK: Final = 0x07
"""CertificateInfo b[2:0]: the certificate model (the other bits are reserved)."""

USAGE_OF_REQUEST: Final = {
    RequestCode.KEY_EXCHANGE: KeyUsage.KEY_EXCHANGE,
    RequestCode.CHALLENGE: KeyUsage.CHALLENGE,
    RequestCode.GET_MEASUREMENTS: KeyUsage.MEASUREMENT,
    RequestCode.GET_ENDPOINT_INFO: KeyUsage.ENDPOINT_INFO,
}
"""The KeyUsageMask bit a signed answer to each request needs."""

_ALL_SLOTS = (1 << SLOT_COUNT) - 1


def supported_slots(backend: IdentityBackend) -> int:
    """SupportedSlotMask: the backend's (always including what it has provisioned)."""
    provisioned = backend.provisioned_slots()
    if isinstance(backend, SlotKeysBackend):
        return (backend.supported_slots() | provisioned) & _ALL_SLOTS
    return provisioned


def slot_key(backend: IdentityBackend, slot_id: int) -> SlotKey:
    """A provisioned slot's key pair, model and usage (a backend that does not say: key
    pair ``slot + 1``, a device certificate, every usage -- one key for everything)."""
    if isinstance(backend, SlotKeysBackend):
        return backend.slot_key(slot_id)
    return SlotKey(slot_id + 1, CERT_MODEL_DEVICE, KEY_USAGE_ALL)


def digests_for(digests: Digests, backend: IdentityBackend, *, multi_key: bool) -> Digests:
    """The DIGESTS a signer serves: ``digests`` with the 1.3 SupportedSlotMask and,
    on a multi-key connection, each provisioned slot's KeyPairID, CertificateInfo
    and KeyUsageMask."""
    if digests.spdm_version < SpdmVersion.V13:
        return digests
    served = replace(digests, supported_slot_mask=supported_slots(backend))
    if not multi_key:
        return served
    slots = [s for s in range(SLOT_COUNT) if digests.provisioned_slot_mask >> s & 1]
    keys = [slot_key(backend, s) for s in slots]
    return replace(served, key_pair_ids=tuple(k.key_pair_id for k in keys),
                   certificate_infos=tuple(k.cert_model & CERT_MODEL_MASK for k in keys),
                   key_usage_masks=tuple(k.key_usage for k in keys))


def check_digests(digests: Digests, *, multi_key: bool) -> None:
    """A verifier's checks of a 1.3 DIGESTS (the tail only on a multi-key connection).

    Raises:
        RemoteProtocolError: a provisioned slot outside SupportedSlotMask; on a
            multi-key connection a CertModel of none or an undefined one, or a
            key that may sign something without naming its key pair (KeyPairID 0).
    """
    if digests.spdm_version < SpdmVersion.V13:
        return
    stray = digests.provisioned_slot_mask & ~digests.supported_slot_mask
    if stray:
        raise RemoteProtocolError(
            f"DIGESTS: ProvisionedSlotMask 0x{digests.provisioned_slot_mask:02x} names slots outside "
            f"SupportedSlotMask 0x{digests.supported_slot_mask:02x}")
    if not multi_key:
        return
    slots = [s for s in range(SLOT_COUNT) if digests.provisioned_slot_mask >> s & 1]
    for slot, kp, info, usage in zip(slots, digests.key_pair_ids, digests.certificate_infos,
                                     digests.key_usage_masks, strict=True):
        model = info & CERT_MODEL_MASK
        if not CERT_MODEL_NONE < model <= CERT_MODEL_GENERIC:
            raise RemoteProtocolError(f"DIGESTS: slot {slot} has CertModel {model}")
        if kp == 0 and usage:
            raise RemoteProtocolError(
                f"DIGESTS: slot {slot}'s key may sign (KeyUsageMask 0x{usage:04x}) but names KeyPairID 0")


def check_key_usage(negotiated: Negotiated, slot_keys: Mapping[int, SlotKey], slot_id: int,
                    request_code: int) -> None:
    """A requester's check before naming a slot: on a multi-key connection the slot's
    KeyUsageMask (from DIGESTS) must allow the signed answer to ``request_code``.

    Raises:
        LocalProtocolError: DIGESTS said the slot's key may not sign it.
    """
    key = slot_keys.get(slot_id)
    if negotiated.multi_key and key is not None and not usage_allows(key.key_usage, request_code):
        usable = [s for s, k in sorted(slot_keys.items()) if usage_allows(k.key_usage, request_code)]
        raise LocalProtocolError(
            f"slot {slot_id}'s key may not sign the answer to request 0x{request_code:02x} "
            f"(KeyUsageMask 0x{key.key_usage:04x}); slots whose key may: {usable}")


def usage_allows(usage_mask: int, request_code: int) -> bool:
    """Whether a key with ``usage_mask`` may sign the answer to ``request_code``."""
    needed = USAGE_OF_REQUEST.get(RequestCode(request_code))
    return needed is None or bool(usage_mask & needed)
