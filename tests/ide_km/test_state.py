"""The key-set state table (ide_km.state) against PROTOCOLS.md §8.3 and TIV's cases, and the device
model following it on real IDE_KM bytes."""

from __future__ import annotations

import pytest

from ide_km import (
    Direction,
    IdeKmDevice,
    IdeKmDeviceConfig,
    KeySet,
    KeySetNotProgrammedError,
    KeySubStream,
    KpAckStatus,
    ObjectId,
    PortConfig,
    SubStream,
)
from ide_km.messages import KeyProg, KpAck, KSetGo, KSetStop
from ide_km.state import DEMOTED, FAULTS, TRANSITIONS, WRONG_STATE, KeySetState, next_state
from spdm.errors import SpdmErrorCode

from .pair import SESSION

EMPTY, PROGRAMMED, ACTIVE = KeySetState.EMPTY, KeySetState.PROGRAMMED, KeySetState.ACTIVE
KEY_REQUESTS = (ObjectId.KEY_PROG, ObjectId.K_SET_GO, ObjectId.K_SET_STOP)

LEGAL = {
    ObjectId.KEY_PROG: {EMPTY, PROGRAMMED},
    ObjectId.K_SET_GO: {PROGRAMMED, ACTIVE},
    ObjectId.K_SET_STOP: {EMPTY, PROGRAMMED, ACTIVE},
}
"""Where each key-programming request is legal: not KEY_PROG of the running set, not GO without a key."""


@pytest.mark.parametrize("request_id", KEY_REQUESTS, ids=lambda r: r.name)
def test_legal_states(request_id: ObjectId) -> None:
    assert {s for s in KeySetState if next_state(s, request_id) is not None} == LEGAL[request_id]


def test_every_entry_is_a_known_state_and_key_request() -> None:
    for (state, request_id), after in TRANSITIONS.items():
        assert isinstance(state, KeySetState) and isinstance(after, KeySetState)
        assert request_id in KEY_REQUESTS


def test_where_each_request_leads() -> None:
    assert next_state(EMPTY, ObjectId.KEY_PROG) == PROGRAMMED
    assert next_state(PROGRAMMED, ObjectId.KEY_PROG) == PROGRAMMED
    assert next_state(PROGRAMMED, ObjectId.K_SET_GO) == ACTIVE
    assert next_state(ACTIVE, ObjectId.K_SET_GO) == ACTIVE
    for state in KeySetState:
        assert next_state(state, ObjectId.K_SET_STOP) == EMPTY


def test_every_refused_request_has_its_answer() -> None:
    refused = {r for r in KEY_REQUESTS if any(next_state(s, r) is None for s in KeySetState)}
    assert set(WRONG_STATE) == refused
    assert WRONG_STATE[ObjectId.KEY_PROG] == KpAckStatus.UNSUPPORTED_VALUE
    assert WRONG_STATE[ObjectId.K_SET_GO] == SpdmErrorCode.UNEXPECTED_REQUEST


def test_query_is_no_key_set_request() -> None:
    for state in KeySetState:
        assert next_state(state, ObjectId.QUERY) is None


def test_one_running_set_per_slot_and_faults() -> None:
    assert DEMOTED == {ACTIVE: PROGRAMMED}
    assert FAULTS == {PROGRAMMED: EMPTY, ACTIVE: EMPTY}


# --- the device model follows the table -----------------------------------------------------------

KSS = KeySubStream(KeySet.K0, Direction.RX, SubStream.PR)


def device() -> IdeKmDevice:
    return IdeKmDevice(IdeKmDeviceConfig((PortConfig.selective((0,)),)))


def key_prog(dev: IdeKmDevice, kss: KeySubStream = KSS) -> KpAckStatus:
    answer = KpAck.decode(dev.handle(KeyProg(0, kss, 0, bytes(32)).encode(), SESSION))
    return answer.status


def test_device_refuses_key_prog_of_the_running_set() -> None:
    dev = device()
    assert key_prog(dev) == KpAckStatus.SUCCESS          # EMPTY -> PROGRAMMED
    assert key_prog(dev) == KpAckStatus.SUCCESS          # PROGRAMMED -> PROGRAMMED
    dev.handle(KSetGo(0, KSS, 0).encode(), SESSION)      # -> ACTIVE
    assert key_prog(dev) == WRONG_STATE[ObjectId.KEY_PROG]
    other = KeySubStream(KeySet.K1, KSS.direction, KSS.sub_stream)
    assert key_prog(dev, other) == KpAckStatus.SUCCESS   # the other set may be programmed to refresh


def test_device_refuses_go_without_a_key() -> None:
    dev = device()
    with pytest.raises(KeySetNotProgrammedError) as caught:
        dev.handle(KSetGo(0, KSS, 0).encode(), SESSION)
    assert caught.value.error_code == WRONG_STATE[ObjectId.K_SET_GO]
    key_prog(dev)
    dev.handle(KSetStop(0, KSS, 0).encode(), SESSION)   # PROGRAMMED -> EMPTY: the key is gone
    with pytest.raises(KeySetNotProgrammedError):
        dev.handle(KSetGo(0, KSS, 0).encode(), SESSION)


def test_device_runs_one_set_per_slot() -> None:
    dev = device()
    for direction in Direction:
        for sub_stream in SubStream:
            for key_set in KeySet:
                kss = KeySubStream(key_set, direction, sub_stream)
                assert key_prog(dev, kss) == KpAckStatus.SUCCESS
            dev.handle(KSetGo(0, KeySubStream(KeySet.K0, direction, sub_stream), 0).encode(), SESSION)
    assert dev.active_key_set(0, 0) == KeySet.K0
    for direction in Direction:
        for sub_stream in SubStream:
            dev.handle(KSetGo(0, KeySubStream(KeySet.K1, direction, sub_stream), 0).encode(), SESSION)
    assert dev.active_key_set(0, 0) == KeySet.K1     # K0 demoted, still programmed:
    dev.handle(KSetGo(0, KSS, 0).encode(), SESSION)  # so it may start again
    assert dev.active_key_set(0, 0) is None          # mid-switch: RX PR runs K0, the rest K1


def test_device_faults_empty_every_set() -> None:
    dev = device()
    key_prog(dev)
    dev.report_integrity_failure(0, 0)
    with pytest.raises(KeySetNotProgrammedError):
        dev.handle(KSetGo(0, KSS, 0).encode(), SESSION)
