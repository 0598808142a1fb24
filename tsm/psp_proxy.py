"""The ``psp-proxy`` backend, host side: relay DOE objects for a TSM that runs in another process.

The host starts the security-processor process (:mod:`.psp`), sends it the
TSM configuration, and for every operation sends one COMMAND and then serves
that command's ``DOE_REQUEST`` frames by passing each object to the device's
DOE transport — which the host opens and owns — with the response timeout
the TSM's requester allows for it, and returning the device's answer (or the
transport's error, whole).  The host learns what the TSM reports (evidence, states), never a
session key, DHE secret or IDE key: those stay in the other process.

A ``tap`` sees every byte the host exchanges with the TSM process, which is
everything the host ever sees of the link (the DOE objects are relayed
verbatim); the key-leak test records it there.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Final, TypeVar

from spdm.errors import (
    ConfigurationError,
    DecodeError,
    DevsecError,
    LocalProtocolError,
    TransportError,
    TransportTimeout,
)
from spdm.transport import DoeTransport

from .info import DeviceInfo, TdiInfo, expect_device, expect_tdi
from .interface import (
    DeviceTarget,
    Operation,
    Progress,
    TdiTarget,
    Tsm,
    TsmConfig,
    no_progress,
    register_backend,
)
from .psp import PSP_NAME
from .psp_wire import Frame, FrameKind, decode_doe_request, encode_frame, read_frame, write_frame
from .wire import (
    Answer,
    Failed,
    Stepped,
    Succeeded,
    decode_answer,
    encode_config,
    encode_error,
    encode_operation,
)

__all__ = ["ANSWER_TIMEOUT", "PspProxyTsm", "Tap"]

log = logging.getLogger(__name__)

Tap = Callable[[str, bytes], None]
"""Called with ("to-tsm" | "from-tsm", the bytes) for every frame crossing the host."""

ANSWER_TIMEOUT: Final = 60.0
"""Seconds the host waits for the security-processor process: to start, to take a frame, to send a
command's next frame.  The process only computes between frames (device waits are the host's own,
each with the requester's timeout): its slowest step, an RSA-4096 signature or an FFDHE-4096 key on a
loaded machine, takes about a second, so a minute of silence means it hangs."""

_EXIT_TIMEOUT: Final = 5.0
"""Seconds a closed process may take to exit before it is killed."""


def _psp_command() -> list[str]:
    return [sys.executable, "-m", "tsm.psp_main"]


class PspProxyTsm(Tsm):
    """The host's half of a TSM living in a separate process."""

    name = PSP_NAME

    def __init__(self, config: TsmConfig, *, command: Sequence[str] | None = None,
                 tap: Tap | None = None, answer_timeout: float = ANSWER_TIMEOUT) -> None:
        """Start the security-processor process and configure it.

        Args:
            config: the TSM configuration (sent to the process).
            command: how to start the process (default: this Python, ``-m tsm.psp_main``).
            tap: observer of every byte crossing the host (tests).
            answer_timeout: seconds the process may take to start, to take a
                frame and to send a command's next frame (:data:`ANSWER_TIMEOUT`).

        Raises:
            ConfigurationError: ``answer_timeout`` is not positive.
            TransportError: the process could not be started, or exited first.
            TransportTimeout: it did not start within ``answer_timeout`` (it is killed).
        """
        if not answer_timeout > 0:
            raise ConfigurationError(f"answer_timeout {answer_timeout!r} must be positive")
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        try:
            self.process = subprocess.Popen(list(command or _psp_command()), stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, env=env)
        except OSError as exc:
            raise TransportError(f"cannot start the TSM process: {exc}") from exc
        if self.process.stdin is None or self.process.stdout is None:  # Popen was asked for both pipes
            raise TransportError("the TSM process has no mailbox pipes")
        self._to_tsm: IO[bytes] = self.process.stdin
        self._from_tsm: IO[bytes] = self.process.stdout
        self._tap = tap
        self._answer_timeout = answer_timeout
        self._write_lock = threading.Lock()
        self._tags = itertools.count(1)
        self._waiting: dict[int, queue.Queue[Frame | None]] = {0: queue.Queue()}
        self._waiting_lock = threading.Lock()
        self._transports: dict[str, DoeTransport] = {}
        self._device_locks: dict[str, threading.Lock] = {}
        self._gone = False
        self._hung: str | None = None
        self._reader = threading.Thread(target=self._read, daemon=True, name="psp-proxy-reader")
        self._reader.start()
        self._send(Frame(FrameKind.CONFIGURE, 0, encode_config(config)))
        self._await_ready()

    # ------------------------------------------------------------------ mailbox

    def _await_ready(self) -> None:
        """Wait for the process to accept its configuration (READY), so no command waits on its start-up.

        Raises:
            TransportError: the process exited first.
            TransportTimeout: it did not answer within the answer timeout (it is killed).
            ConfigurationError and the like: it refused the configuration.
        """
        try:
            frame = self._next(self._waiting[0], "its start")
        finally:
            with self._waiting_lock:
                self._waiting.pop(0, None)
        if frame.kind == FrameKind.READY:
            return
        self._end_process()
        if frame.kind == FrameKind.FAILED:
            raise _answer(frame, Failed).exception()
        raise TransportError(f"the TSM process started with a {frame.kind.name} frame")

    def _next(self, answers: queue.Queue[Frame | None], what: str) -> Frame:
        """The process's next frame for a command (or its start), within the answer timeout.

        Raises:
            TransportError: the process exited (or was found hung) meanwhile.
            TransportTimeout: no frame within the answer timeout: the process
                is hung, and is killed (every other command fails with it).
        """
        try:
            frame = answers.get(timeout=self._answer_timeout)
        except queue.Empty:
            self._kill_hung(f"sent nothing for {self._answer_timeout:g} s during {what}")
            raise TransportTimeout(f"the TSM process {self._hung}; it was killed") from None
        if frame is None:
            if self._hung is not None:
                raise TransportTimeout(f"the TSM process {self._hung}; it was killed")
            raise TransportError(f"the TSM process exited during {what} "
                                 f"(exit status {self.process.poll()})")
        return frame

    def _kill_hung(self, how: str) -> None:
        """The process stopped answering: kill and reap it; the reader then wakes every waiting command."""
        with self._waiting_lock:
            if self._hung is None:
                self._hung = how
        log.error("the TSM process %s; killing it", how)
        self._end_process()

    def _end_process(self) -> None:
        self.process.kill()
        self.process.wait()

    def _send(self, frame: Frame) -> None:
        """Write one frame; a process that does not take it within the answer timeout is hung.

        A pipe whose reader stopped blocks the writer once its buffer is full
        (64 KiB; a DOE object is up to 1 MiB): a watchdog kills the process,
        which breaks the pipe and ends the write.

        Raises:
            TransportError: the process is gone (TransportTimeout: it was hung).
        """
        watchdog = threading.Timer(self._answer_timeout, self._kill_hung,
                                   (f"took no {frame.kind.name} frame for {self._answer_timeout:g} s",))
        watchdog.daemon = True
        watchdog.start()
        try:
            with self._write_lock:
                data = write_frame(self._to_tsm, frame)
        except TransportError as exc:
            if self._hung is not None:
                raise TransportTimeout(f"the TSM process {self._hung}; it was killed") from exc
            raise
        finally:
            watchdog.cancel()
        if self._tap is not None:
            self._tap("to-tsm", data)

    def _read(self) -> None:
        """Route the TSM's frames to the commands waiting for them; wake them all at the end."""
        try:
            while (frame := read_frame(self._from_tsm)) is not None:
                if self._tap is not None:
                    self._tap("from-tsm", encode_frame(frame))
                with self._waiting_lock:
                    waiting = self._waiting.get(frame.tag)
                if waiting is None:
                    log.warning("the TSM sent a %s frame for unknown tag %d", frame.kind.name, frame.tag)
                else:
                    waiting.put(frame)
        except DevsecError as exc:
            log.error("the TSM mailbox broke: %s", exc)
            self._end_process()  # it speaks nonsense: nothing it sends later can be trusted
        finally:
            with self._waiting_lock:
                self._gone = True
                for waiting in self._waiting.values():
                    waiting.put(None)

    def _command(self, operation: Operation, transport: DoeTransport,
                 progress: Progress) -> DeviceInfo | TdiInfo:
        """Send one command and relay its DOE objects until it ends."""
        tag = next(self._tags)
        answers: queue.Queue[Frame | None] = queue.Queue()
        with self._waiting_lock:
            if self._gone:
                raise TransportError("the TSM process has exited")
            self._waiting[tag] = answers
        what = f"{operation.op} of {operation.bdf}"
        try:
            self._send_during(Frame(FrameKind.COMMAND, tag, encode_operation(operation)), what)
            while True:
                frame = self._next(answers, what)
                if frame.kind == FrameKind.DOE_REQUEST:
                    self._relay(tag, transport, frame.body, what)
                elif frame.kind == FrameKind.PROGRESS:
                    progress(_answer(frame, Stepped).step)
                elif frame.kind == FrameKind.RESULT:
                    return _answer(frame, Succeeded).info
                elif frame.kind == FrameKind.FAILED:
                    raise _answer(frame, Failed).exception()
                else:
                    raise DecodeError(f"the TSM sent a {frame.kind.name} frame")
        finally:
            with self._waiting_lock:
                self._waiting.pop(tag, None)

    def _relay(self, tag: int, transport: DoeTransport, body: bytes, what: str) -> None:
        """Deliver one DOE object to the device, waiting as long as the TSM allows; hand back its answer.

        A transport error (a timeout, a device gone) goes back whole, to be
        raised in the TSM as the native backend would raise it.
        """
        request = decode_doe_request(body)
        try:
            response = transport.exchange(request.object, timeout=request.timeout)
        except DevsecError as exc:
            self._send_during(Frame(FrameKind.DOE_FAILED, tag, encode_error(exc)), what)
            return
        self._send_during(Frame(FrameKind.DOE_RESPONSE, tag, response), what)

    def _send_during(self, frame: Frame, what: str) -> None:
        """Send a frame of a command in flight: a mailbox that broke means the process died.

        Said the same way whether the reader saw the end first or this write did.
        """
        try:
            self._send(frame)
        except TransportTimeout:
            raise
        except TransportError as exc:
            raise TransportError(f"the TSM process exited during {what} ({exc})") from exc

    # ------------------------------------------------------------------ the interface

    def _lock(self, bdf: str) -> threading.Lock:
        with self._waiting_lock:
            return self._device_locks.setdefault(bdf, threading.Lock())

    def _transport(self, bdf: str) -> DoeTransport:
        transport = self._transports.get(bdf)
        if transport is None:
            raise LocalProtocolError(f"{bdf} has never been connected by this TSM")
        return transport

    def connect(self, device: DeviceTarget, progress: Progress = no_progress) -> DeviceInfo:
        with self._lock(device.bdf):
            transport = device.open()
            try:
                info = expect_device(self._command(Operation("connect", device.bdf), transport, progress),
                                     "connect")
            except BaseException:
                transport.close()
                raise
            old = self._transports.pop(device.bdf, None)
            if old is not None:
                old.close()
            self._transports[device.bdf] = transport
            return info

    def disconnect(self, bdf: str, progress: Progress = no_progress) -> DeviceInfo:
        with self._lock(bdf):
            transport = self._transport(bdf)
            try:
                return expect_device(self._command(Operation("disconnect", bdf), transport, progress),
                                     "disconnect")
            finally:
                transport.close()

    def _tdi_op(self, op: str, tdi: TdiTarget, progress: Progress) -> TdiInfo:
        with self._lock(tdi.dsm):
            transport = self._transport(tdi.dsm)
            answer = self._command(Operation(op, tdi.dsm, tdi.bdf), transport, progress)
            return expect_tdi(answer, op)

    def bind(self, tdi: TdiTarget, progress: Progress = no_progress) -> TdiInfo:
        return self._tdi_op("bind", tdi, progress)

    def accept(self, tdi: TdiTarget, progress: Progress = no_progress) -> TdiInfo:
        return self._tdi_op("accept", tdi, progress)

    def unbind(self, tdi: TdiTarget, progress: Progress = no_progress) -> TdiInfo:
        return self._tdi_op("unbind", tdi, progress)

    def info(self, bdf: str) -> DeviceInfo:
        with self._lock(bdf):
            answer = self._command(Operation("info", bdf), self._transport(bdf), no_progress)
            return expect_device(answer, "info")

    def refresh_evidence(self, bdf: str, nonce: bytes, progress: Progress = no_progress) -> DeviceInfo:
        with self._lock(bdf):
            return expect_device(self._command(Operation("refresh_evidence", bdf, nonce=nonce),
                                               self._transport(bdf), progress), "refresh_evidence")

    def close(self) -> None:
        """Close the mailbox (the process exits), then every device transport."""
        try:
            self._to_tsm.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=_EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._end_process()
        self._reader.join(_EXIT_TIMEOUT)  # the process is gone: its pipe is at its end
        self._from_tsm.close()
        for transport in self._transports.values():
            transport.close()
        self._transports.clear()


A = TypeVar("A", Stepped, Succeeded, Failed)


def _answer(frame: Frame, kind: type[A]) -> A:
    """The answer a PROGRESS, RESULT or FAILED frame carries, which must be of ``kind``.

    Raises:
        DecodeError: malformed, or another kind of answer than the frame's.
    """
    answer: Answer = decode_answer(frame.body)
    if not isinstance(answer, kind):
        raise DecodeError(f"the TSM sent a {frame.kind.name} frame carrying a {type(answer).__name__} answer")
    return answer


register_backend(PspProxyTsm.name, PspProxyTsm)
