"""Serving certificate slots: what DIGESTS and CERTIFICATE hold, for whichever side signs.

The responder serves its slots to the requester; in mutual authentication the
requester serves its own slots to the responder through encapsulated
requests.  Both build the same two answers from an :class:`IdentityBackend`,
here.
"""

from __future__ import annotations

from .backend import IdentityBackend
from .crypto import digest
from .messages import Certificate, Digests
from .messages.codes import BaseHashAlgo, SpdmVersion

__all__ = ["SLOT_COUNT", "certificate_portion", "digests_of", "provisioned_chain", "provisioned_chains"]

SLOT_COUNT = 8


def provisioned_chains(backend: IdentityBackend, hash_alg: BaseHashAlgo) -> dict[int, bytes]:
    """Slot -> SPDM certificate chain, for every slot the backend reports provisioned."""
    mask = backend.provisioned_slots()
    chains: dict[int, bytes] = {}
    for slot in range(SLOT_COUNT):
        if mask >> slot & 1:
            chain = backend.certificate_chain(slot, hash_alg)
            if chain is not None:
                chains[slot] = chain
    return chains


def provisioned_chain(backend: IdentityBackend, slot_id: int, hash_alg: BaseHashAlgo) -> bytes | None:
    """One slot's chain, as ``provisioned_chains(backend, hash_alg).get(slot_id)`` gives it
    (None for a slot out of range, not provisioned or without a chain), building no other."""
    if not (0 <= slot_id < SLOT_COUNT and backend.provisioned_slots() >> slot_id & 1):
        return None
    return backend.certificate_chain(slot_id, hash_alg)


def digests_of(version: int, hash_alg: BaseHashAlgo, chains: dict[int, bytes]) -> Digests:
    """DIGESTS: each provisioned slot's chain digest, ascending slot order.

    From 1.3 Param1 is SupportedSlotMask: every slot that can be filled is filled.
    """
    mask = sum(1 << slot for slot in chains)
    return Digests(
        spdm_version=version,
        supported_slot_mask=mask if version >= SpdmVersion.V13 else 0,
        provisioned_slot_mask=mask,
        digests=tuple(digest(hash_alg, chains[slot]) for slot in sorted(chains)),
    )


def certificate_portion(version: int, slot_id: int, chain: bytes, offset: int, size: int, *,
                        large: bool = False) -> Certificate:
    """CERTIFICATE carrying ``size`` bytes of ``chain`` from ``offset`` (the caller bounds size).

    ``large``: the 1.4 LargeCertChain form (32-bit portion and remainder lengths).
    """
    portion = chain[offset:offset + max(size, 0)]
    return Certificate(
        spdm_version=version,
        slot_id=slot_id,
        remainder_length=len(chain) - offset - len(portion),
        cert_chain=portion,
        large_cert_chain=large,
    )
