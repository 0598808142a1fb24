"""The TDI state machine table (tdisp.state) against PCIe 6.x Table 11-3 and §11.2 (PROTOCOLS.md §9.5)."""

from __future__ import annotations

import pytest

from tdisp.errors import TdispErrorCode
from tdisp.messages import TdispRequestCode, TdiState
from tdisp.state import (
    DURING_REPORT_READ,
    FAULTS,
    LOCKED,
    TRANSITIONS,
    WRONG_STATE,
    next_state,
    target_state,
)

C = TdispRequestCode
U, L, R, E = TdiState.CONFIG_UNLOCKED, TdiState.CONFIG_LOCKED, TdiState.RUN, TdiState.ERROR

LEGAL = {
    C.GET_TDISP_VERSION: {U, L, R, E},
    C.GET_TDISP_CAPABILITIES: {U, L, R, E},
    C.LOCK_INTERFACE_REQUEST: {U},
    C.GET_DEVICE_INTERFACE_REPORT: {L, R},
    C.GET_DEVICE_INTERFACE_STATE: {U, L, R, E},
    C.START_INTERFACE_REQUEST: {L},
    C.STOP_INTERFACE_REQUEST: {U, L, R, E},
    C.BIND_P2P_STREAM_REQUEST: {R},
    C.UNBIND_P2P_STREAM_REQUEST: {R},
    C.SET_MMIO_ATTRIBUTE_REQUEST: {R},
    C.VDM_REQUEST: {U, L, R, E},
}
"""PCIe 6.x Table 11-3 "Legal TDISP states" ("N/A" read as every state)."""


@pytest.mark.parametrize("code", list(C), ids=lambda c: c.name)
def test_legal_states_match_table_11_3(code: TdispRequestCode) -> None:
    assert {s for s in TdiState if next_state(s, code) is not None} == LEGAL[code]


def test_every_entry_is_a_known_state_and_request() -> None:
    for (state, code), after in TRANSITIONS.items():
        assert isinstance(state, TdiState) and isinstance(code, TdispRequestCode)
        assert isinstance(after, TdiState)


def test_lock_start_stop_move_the_tdi() -> None:
    assert next_state(U, C.LOCK_INTERFACE_REQUEST) == L
    assert next_state(L, C.START_INTERFACE_REQUEST) == R
    for state in TdiState:
        # STOP is legal in CONFIG_UNLOCKED too (§11.2; the spdm-emu sample refuses it)
        assert next_state(state, C.STOP_INTERFACE_REQUEST) == U


def test_other_requests_keep_the_state() -> None:
    moving = {C.LOCK_INTERFACE_REQUEST, C.START_INTERFACE_REQUEST, C.STOP_INTERFACE_REQUEST}
    for (state, code), after in TRANSITIONS.items():
        if code not in moving:
            assert after == state


def test_illegal_pairs_are_invalid_interface_state() -> None:
    assert WRONG_STATE == TdispErrorCode.INVALID_INTERFACE_STATE
    assert next_state(L, C.LOCK_INTERFACE_REQUEST) is None
    assert next_state(R, C.START_INTERFACE_REQUEST) is None
    assert next_state(U, C.GET_DEVICE_INTERFACE_REPORT) is None
    assert next_state(E, C.GET_DEVICE_INTERFACE_REPORT) is None
    assert next_state(L, C.BIND_P2P_STREAM_REQUEST) is None


def test_target_states() -> None:
    assert target_state(C.LOCK_INTERFACE_REQUEST) == L
    assert target_state(C.START_INTERFACE_REQUEST) == R
    assert target_state(C.STOP_INTERFACE_REQUEST) == U
    for code in set(C) - {C.LOCK_INTERFACE_REQUEST, C.START_INTERFACE_REQUEST, C.STOP_INTERFACE_REQUEST}:
        assert target_state(code) is None


def test_faults_only_hit_locked_tdis() -> None:
    assert LOCKED == {L, R}
    assert FAULTS == {L: E, R: E}


def test_during_a_report_read_only_the_read_state_and_stop() -> None:
    assert DURING_REPORT_READ == {
        C.GET_DEVICE_INTERFACE_REPORT, C.GET_DEVICE_INTERFACE_STATE, C.STOP_INTERFACE_REQUEST}
