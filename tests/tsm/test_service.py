"""The TSM service's request handling, in-process: what a client's behaviour may and may not do to the TSM."""

from __future__ import annotations

import json

from ide_km import StreamState
from tests.tsm.helpers import new_board, tsm_config
from tsm import LinkState, NativeTsm
from tsm.service import TsmService


def test_a_client_that_leaves_mid_operation_does_not_interrupt_it() -> None:
    """Ctrl-C on ``devsec tsm connect`` closes the socket; the TSM must not stop halfway through a connect."""
    board = new_board(2)
    tsm = NativeTsm(tsm_config())
    service = TsmService(tsm, lambda _target: board.target.open())
    written: list[bytes] = []

    def write(data: bytes) -> None:
        if written:
            raise BrokenPipeError(32, "Broken pipe")
        written.append(data)

    try:
        request = {"op": "connect", "bdf": board.dsm, "target": "tcp://emulated"}
        service._handle(json.dumps(request).encode(), write)
        assert json.loads(written[0]) == {"progress": f"opening the DOE mailbox of {board.dsm}"}
        info = tsm.info(board.dsm)
        assert info.state == LinkState.CONNECTED and info.streams  # the whole connect ran, IDE included
        assert board.device.ide.stream_state(0, 0) == StreamState.SECURE  # and the device agrees
    finally:
        tsm.close()


def test_a_probe_that_sends_nothing_gets_nothing() -> None:
    tsm = NativeTsm(tsm_config())
    written: list[bytes] = []
    TsmService(tsm, lambda _target: new_board().target.open())._handle(b"", written.append)
    assert written == []


def test_a_request_for_another_backend_is_refused_before_anything_runs() -> None:
    board = new_board(1)
    tsm = NativeTsm(tsm_config())
    written: list[bytes] = []
    request = {"op": "connect", "bdf": board.dsm, "backend": "psp-proxy"}
    TsmService(tsm, lambda _target: board.target.open())._handle(json.dumps(request).encode() + b"\n",
                                                                   written.append)
    [answer] = [json.loads(line) for line in written]
    assert answer["error"]["kind"] == "spdm.errors.ConfigurationError"
    assert "runs the native backend, not psp-proxy" in answer["error"]["message"]
    assert board.transports == []  # the device was never opened
