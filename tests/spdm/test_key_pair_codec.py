"""GET/SET_KEY_PAIR_INFO and their responses: round trips and the Erase layout."""

from __future__ import annotations

import pytest

from spdm.errors import DecodeError
from spdm.messages import GetKeyPairInfo, KeyPairInfo, SetKeyPairInfo, SetKeyPairInfoAck
from spdm.messages.codes import KeyPairCapabilities, KeyPairOperation, KeyUsage


def test_get_key_pair_info_round_trips() -> None:
    assert GetKeyPairInfo(0x13, key_pair_id=7).encode() == bytes.fromhex("13fc000007")
    assert GetKeyPairInfo.decode(bytes.fromhex("13fc000007")).key_pair_id == 7


def test_key_pair_info_round_trips() -> None:
    info = KeyPairInfo(0x13, total_key_pairs=2, key_pair_id=1,
                       capabilities=KeyPairCapabilities.ERASABLE | KeyPairCapabilities.KEY_USAGE,
                       key_usage_capabilities=KeyUsage.KEY_EXCHANGE | KeyUsage.ENDPOINT_INFO,
                       current_key_usage=KeyUsage.ENDPOINT_INFO, asym_algo_capabilities=0x10,
                       current_asym_algo=0x10, assoc_cert_slot_mask=1, public_key_info=b"\x30\x00")
    data = info.encode()
    assert len(data) == 4 + 1 + 1 + 2 * 3 + 4 * 2 + 2 + 1 + 2
    assert KeyPairInfo.decode(data) == info
    with pytest.raises(DecodeError):
        KeyPairInfo.decode(data + b"\0")


def test_change_carries_the_desired_values_and_erase_does_not() -> None:
    change = SetKeyPairInfo(0x13, operation=KeyPairOperation.CHANGE, key_pair_id=1, desired_key_usage=1,
                            desired_asym_algo=0x80, desired_assoc_cert_slot_mask=0x3)
    data = change.encode()
    assert data == bytes.fromhex("13fd0000" "01" "00" "0100" "80000000" "03")
    assert SetKeyPairInfo.decode(data) == change
    erase = SetKeyPairInfo(0x13, operation=KeyPairOperation.ERASE, key_pair_id=1)
    assert erase.encode() == bytes.fromhex("13fd010001")
    assert SetKeyPairInfo.decode(erase.encode()) == erase
    with pytest.raises(DecodeError):
        SetKeyPairInfo.decode(bytes.fromhex("13fd010001") + bytes(8))


def test_ack_is_a_header() -> None:
    assert SetKeyPairInfoAck.decode(bytes.fromhex("137d0000")) == SetKeyPairInfoAck(0x13)
