"""The SPDM state tables (spdm.state): the connection (VCA) machine and the requester's flows."""

from __future__ import annotations

from enum import Enum

import pytest

from spdm.errors import LocalProtocolError
from spdm.messages.codes import RequestCode
from spdm.state import (
    CERTIFICATE_TRANSITIONS,
    ENCAPSULATED_TRANSITIONS,
    HANDSHAKE_TRANSITIONS,
    KEY_UPDATE_TRANSITIONS,
    TRANSITIONS,
    CertificateState,
    ConnectionState,
    EncapsulatedState,
    HandshakeState,
    KeyUpdateOperation,
    KeyUpdateState,
    Machine,
    next_state,
)

C = RequestCode
NS, AV, AC, NEG = (ConnectionState.NOT_STARTED, ConnectionState.AFTER_VERSION,
                   ConnectionState.AFTER_CAPABILITIES, ConnectionState.NEGOTIATED)

VCA_LEGAL = {
    C.GET_VERSION: {NS, AV, AC, NEG},
    C.GET_CAPABILITIES: {AV},
    C.NEGOTIATE_ALGORITHMS: {AC},
    C.CHUNK_SEND: {AC, NEG},  # carriers of another request: legal once CAPABILITIES settled the sizes
    C.CHUNK_GET: {AC, NEG},
}
"""DSP0274 §9 / libspdm: VCA in order; GET_VERSION restarts from anywhere; the rest only once negotiated."""


@pytest.mark.parametrize("code", list(C), ids=lambda c: c.name)
def test_legal_connection_states(code: RequestCode) -> None:
    legal = {s for s in ConnectionState if next_state(s, code) is not None}
    if code in VCA_LEGAL:
        assert legal == VCA_LEGAL[code]
    elif code in (C.RESPOND_IF_READY, C.CHUNK_SEND, C.CHUNK_GET,
                  C.SEND_EVENT):
        assert legal == set()  # not implemented, or (RESPOND_IF_READY) tracked by the responder
    else:
        assert legal == {NEG}


def test_vca_moves_forward_and_get_version_restarts() -> None:
    assert next_state(NS, C.GET_VERSION) == AV
    assert next_state(AV, C.GET_CAPABILITIES) == AC
    assert next_state(AC, C.NEGOTIATE_ALGORITHMS) == NEG
    assert next_state(NEG, C.GET_VERSION) == AV
    assert all(after == NEG for (state, _), after in TRANSITIONS.items() if state == NEG
               and _ != C.GET_VERSION)


def test_unknown_codes_are_illegal_not_errors() -> None:
    assert next_state(NEG, 0x01) is None
    assert next_state(NEG, 0xFF) is None


def _walk(table: dict[tuple[Enum, int], Enum], start: Enum, requests: list[int]) -> list[Enum]:
    machine = Machine("flow", table, start)
    return [machine.advance(r) for r in requests]


FLOWS = [
    # (table, initial state, a legal run, its states)
    (CERTIFICATE_TRANSITIONS, CertificateState.IDLE, [C.GET_CERTIFICATE] * 3,
     [CertificateState.FETCHING] * 3),
    (HANDSHAKE_TRANSITIONS, HandshakeState.IDLE, [C.KEY_EXCHANGE, C.FINISH],
     [HandshakeState.KEY_EXCHANGING, HandshakeState.FINISHING]),
    (HANDSHAKE_TRANSITIONS, HandshakeState.IDLE,
     [C.KEY_EXCHANGE, C.GET_ENCAPSULATED_REQUEST, C.DELIVER_ENCAPSULATED_RESPONSE,
      C.DELIVER_ENCAPSULATED_RESPONSE, C.FINISH],
     [HandshakeState.KEY_EXCHANGING, HandshakeState.MUTUAL_AUTH, HandshakeState.MUTUAL_AUTH,
      HandshakeState.MUTUAL_AUTH, HandshakeState.FINISHING]),
    (HANDSHAKE_TRANSITIONS, HandshakeState.IDLE, [C.PSK_EXCHANGE, C.PSK_FINISH],
     [HandshakeState.PSK_EXCHANGING, HandshakeState.PSK_FINISHING]),
    (ENCAPSULATED_TRANSITIONS, EncapsulatedState.IDLE,
     [C.GET_ENCAPSULATED_REQUEST, C.DELIVER_ENCAPSULATED_RESPONSE, C.DELIVER_ENCAPSULATED_RESPONSE],
     [EncapsulatedState.PULLING, EncapsulatedState.DELIVERING, EncapsulatedState.DELIVERING]),
    (KEY_UPDATE_TRANSITIONS, KeyUpdateState.IDLE,
     [KeyUpdateOperation.UPDATE_KEY, KeyUpdateOperation.VERIFY_NEW_KEY],
     [KeyUpdateState.UPDATING, KeyUpdateState.VERIFYING]),
    (KEY_UPDATE_TRANSITIONS, KeyUpdateState.IDLE,
     [KeyUpdateOperation.UPDATE_ALL_KEYS, KeyUpdateOperation.VERIFY_NEW_KEY],
     [KeyUpdateState.UPDATING_ALL, KeyUpdateState.VERIFYING]),
]


@pytest.mark.parametrize(("table", "start", "requests", "states"), FLOWS)
def test_legal_flow_runs(table: dict[tuple[Enum, int], Enum], start: Enum, requests: list[int],
                         states: list[Enum]) -> None:
    assert _walk(table, start, requests) == states


ILLEGAL = [
    # (table, state, request): what each flow refuses
    (HANDSHAKE_TRANSITIONS, HandshakeState.IDLE, C.FINISH),
    (HANDSHAKE_TRANSITIONS, HandshakeState.IDLE, C.PSK_FINISH),
    (HANDSHAKE_TRANSITIONS, HandshakeState.KEY_EXCHANGING, C.PSK_FINISH),
    (HANDSHAKE_TRANSITIONS, HandshakeState.KEY_EXCHANGING, C.KEY_EXCHANGE),
    (HANDSHAKE_TRANSITIONS, HandshakeState.PSK_EXCHANGING, C.FINISH),
    (HANDSHAKE_TRANSITIONS, HandshakeState.PSK_EXCHANGING, C.GET_ENCAPSULATED_REQUEST),
    (HANDSHAKE_TRANSITIONS, HandshakeState.FINISHING, C.FINISH),
    (HANDSHAKE_TRANSITIONS, HandshakeState.MUTUAL_AUTH, C.GET_ENCAPSULATED_REQUEST),
    (ENCAPSULATED_TRANSITIONS, EncapsulatedState.IDLE, C.DELIVER_ENCAPSULATED_RESPONSE),
    (ENCAPSULATED_TRANSITIONS, EncapsulatedState.PULLING, C.GET_ENCAPSULATED_REQUEST),
    (KEY_UPDATE_TRANSITIONS, KeyUpdateState.IDLE, KeyUpdateOperation.VERIFY_NEW_KEY),
    (KEY_UPDATE_TRANSITIONS, KeyUpdateState.UPDATING, KeyUpdateOperation.UPDATE_KEY),
    (KEY_UPDATE_TRANSITIONS, KeyUpdateState.VERIFYING, KeyUpdateOperation.VERIFY_NEW_KEY),
    (CERTIFICATE_TRANSITIONS, CertificateState.IDLE, C.GET_DIGESTS),
]


@pytest.mark.parametrize(("table", "state", "request_code"), ILLEGAL)
def test_a_missing_entry_is_refused_and_changes_nothing(table: dict[tuple[Enum, int], Enum],
                                                       state: Enum, request_code: int) -> None:
    machine = Machine("flow", table, state)
    assert not machine.allows(request_code)
    with pytest.raises(LocalProtocolError, match="not allowed in state"):
        machine.advance(request_code)
    assert machine.state is state


@pytest.mark.parametrize("table", [CERTIFICATE_TRANSITIONS, HANDSHAKE_TRANSITIONS,
                                   ENCAPSULATED_TRANSITIONS, KEY_UPDATE_TRANSITIONS])
def test_every_flow_starts_only_from_idle_and_never_returns_there_by_a_request(
        table: dict[tuple[Enum, int], Enum]) -> None:
    (kind,) = {type(state) for state, _ in table}
    idle = kind["IDLE"]
    assert any(state is idle for state, _ in table)
    assert all(after is not idle for after in table.values())  # only end() goes back


def test_end_returns_to_the_initial_state() -> None:
    machine = Machine("handshake", HANDSHAKE_TRANSITIONS, HandshakeState.IDLE)
    assert not machine.active
    machine.advance(C.KEY_EXCHANGE)
    assert machine.active and machine.allows(C.FINISH) and not machine.allows(C.KEY_EXCHANGE)
    machine.end()
    assert machine.state is HandshakeState.IDLE and machine.allows(C.KEY_EXCHANGE)
