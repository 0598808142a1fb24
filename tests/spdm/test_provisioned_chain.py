"""slots.provisioned_chain: one slot's chain, exactly what provisioned_chains(...).get(slot) gives.

The responder looks up the slot a request names with it (GET_CERTIFICATE,
CHALLENGE, signed GET_MEASUREMENTS) instead of building every slot's chain.
"""

from __future__ import annotations

import pytest

from spdm.messages.codes import BaseHashAlgo
from spdm.slots import SLOT_COUNT, provisioned_chain, provisioned_chains


class _Slots:
    """A backend whose mask says slots 0, 3 and 7 are provisioned; slot 3 has no chain for the hash."""

    def __init__(self, mask: int = 0b1000_1001) -> None:
        self.mask = mask
        self.asked: list[int] = []

    def provisioned_slots(self) -> int:
        return self.mask

    def certificate_chain(self, slot_id: int, hash_alg: BaseHashAlgo) -> bytes | None:
        self.asked.append(slot_id)
        return None if slot_id == 3 else bytes([slot_id, int(hash_alg)])


@pytest.mark.parametrize("mask", [0, 0b1000_1001, 0xFF, 0x1FF])
@pytest.mark.parametrize("slot_id", [-1, *range(SLOT_COUNT), 8, 0xFF])
def test_one_slot_as_all_slots_give_it(mask: int, slot_id: int) -> None:
    expected = provisioned_chains(_Slots(mask), BaseHashAlgo.SHA_384).get(slot_id)  # type: ignore[arg-type]
    assert provisioned_chain(_Slots(mask), slot_id, BaseHashAlgo.SHA_384) == expected  # type: ignore[arg-type]


def test_only_the_named_slot_is_built() -> None:
    backend = _Slots()
    assert provisioned_chain(backend, 7, BaseHashAlgo.SHA_256) == bytes([7, 1])  # type: ignore[arg-type]
    assert backend.asked == [7]
