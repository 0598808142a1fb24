"""A security-processor process or TSM service that hangs (fuzz finding 14): every host wait has a deadline.

A process that dies was always handled (its pipe ends); one that stops
(SIGSTOP, a deadlock, an endless loop) kept the host's operation waiting
forever.  Now the host waits at most ``answer_timeout`` for the process to
start, to take a frame and to send a command's next frame; then it raises
:class:`TransportTimeout`, and the process is killed and reaped.  A client
of a TSM service (:func:`tsm.service.call`) waits at most its timeout for
the whole operation, and reads answer lines of bounded length.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from spdm.errors import ConfigurationError, TransportError, TransportTimeout
from spdm.transport import DoeTransport
from tsm import PspProxyTsm, service
from tsm.interface import Operation
from tsm.psp_wire import Frame, FrameKind, encode_frame
from tsm.service import call

from .helpers import model, new_board, tsm_config
from .test_psp import within

TIMEOUT = 4.0
"""The answer timeout of these tests (the default is a minute).  It also bounds the process's
start, which on a loaded 2-core CI machine took more than 1.5 s once (the case then failed on
"during its start" instead of judging the hang); every bound below is still well under it x 5."""


class Stopping:
    """A device transport that stops (SIGSTOP) the TSM process at its ``at``-th exchange."""

    def __init__(self, inner: DoeTransport, tsm: list[PspProxyTsm], at: int) -> None:
        self._inner, self._tsm, self._at, self._count = inner, tsm, at, 0

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        self._count += 1
        if self._count == self._at:
            os.kill(self._tsm[0].process.pid, signal.SIGSTOP)
        return self._inner.exchange(request, timeout=timeout)

    def close(self) -> None:
        self._inner.close()


def reaped_by_kill(process: subprocess.Popen[bytes]) -> bool:
    return process.returncode == -signal.SIGKILL


@pytest.mark.parametrize("at", [1, 5])
def test_a_hung_process_fails_the_operation_in_time_and_is_reaped(at: int) -> None:
    board = new_board(1)
    holder: list[PspProxyTsm] = []
    tsm = PspProxyTsm(tsm_config(), answer_timeout=TIMEOUT)
    holder.append(tsm)
    target = replace(board.target, open=lambda: Stopping(board.device.spdm.mailbox(), holder, at))
    started = time.monotonic()
    with pytest.raises(TransportTimeout, match="killed"):
        within(30, lambda: tsm.connect(target))
    assert time.monotonic() - started < 20
    assert reaped_by_kill(tsm.process)
    with pytest.raises(TransportError, match="exited"):  # the TSM is gone for good, and says so at once
        within(5, lambda: tsm.connect(new_board(1).target))
    within(10, tsm.close)


def test_a_process_that_never_starts_is_killed() -> None:
    started = time.monotonic()
    with pytest.raises(TransportTimeout, match="during its start"):
        PspProxyTsm(tsm_config(), answer_timeout=TIMEOUT,
                    command=[sys.executable, "-c", "import time; time.sleep(60)"])
    assert time.monotonic() - started < 20


def test_a_process_that_takes_no_frame_is_killed() -> None:
    """The CONFIGURE (hundreds of KiB of trust anchors) fills the pipe of a process that never reads."""
    anchors = (model().root_certificate(),) * 400
    config = replace(tsm_config(), requester=replace(tsm_config().requester, trust_anchors=anchors))
    started = time.monotonic()
    with pytest.raises(TransportTimeout, match="took no CONFIGURE frame"):
        within(30, lambda: PspProxyTsm(config, answer_timeout=TIMEOUT,
                                       command=[sys.executable, "-c", "import time; time.sleep(60)"]))
    assert time.monotonic() - started < 20


def test_a_process_that_answers_before_its_configure_is_refused() -> None:
    ready_first = encode_frame(Frame(FrameKind.PROGRESS, 0, b"{}"))
    script = f"import sys, time; sys.stdout.buffer.write({ready_first!r}); sys.stdout.flush(); time.sleep(60)"
    with pytest.raises(TransportError, match="started with a PROGRESS frame"):
        within(30, lambda: PspProxyTsm(tsm_config(), answer_timeout=TIMEOUT,
                                       command=[sys.executable, "-c", script]))


def test_the_answer_timeout_must_be_positive() -> None:
    with pytest.raises(ConfigurationError):
        PspProxyTsm(tsm_config(), answer_timeout=0)


def trickling_service(path: Path, line: bytes, pause: float) -> threading.Thread:
    """A TSM service at ``path`` that reads a request and answers ``line`` one byte every ``pause`` s."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            conn.recv(1 << 16)
            for byte in line:
                time.sleep(pause)
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_a_trickling_service_does_not_hold_its_client(tmp_path: Path) -> None:
    """The client's timeout was per receive: a byte a second kept it waiting forever."""
    trickling_service(tmp_path / "tsm.sock", b'{"progress":"' + b"x" * 1000, 0.2)
    started = time.monotonic()
    with pytest.raises(TransportTimeout, match="did not finish info of 0000:01:00.0"):
        within(20, lambda: call(tmp_path / "tsm.sock", Operation("info", "0000:01:00.0"),
                                lambda _step, _elapsed: None, timeout=1.5))
    assert time.monotonic() - started < 10


def test_an_endless_answer_line_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "MAX_ANSWER", 100)
    trickling_service(tmp_path / "tsm.sock", b"x" * 300, 0)
    with pytest.raises(TransportError, match="exceeds 100 bytes"):
        within(20, lambda: call(tmp_path / "tsm.sock", Operation("info", "0000:01:00.0"),
                                lambda _step, _elapsed: None, timeout=10))
