"""``devsec tsm``: a TSM held by a long-running service, driven by short operator commands.

A TSM keeps state between operations (the session with each device, its IDE
keys, the TDIs it bound), so one process must hold it: ``devsec tsm serve``
opens a backend and listens on a Unix socket; ``devsec tsm connect|bind|...``
send one request each and print the progress lines and the result.  The
service is the host: it opens each device's DOE transport (a ``tcp://``
socket or a PCI address's config-space mailbox) and, with ``--sysfs``,
renders the evidence after every operation.

Protocol: one request line, an :class:`~tsm.interface.Operation` (its
``backend``, the backend the operator expects, is refused when the service
runs another); the answer is lines of progress steps, then the result or
the failure (its class, message and every code field).  The shutdown
request stops the service (answer: stopped, with the backend's name).  The
documents are :mod:`tsm.wire`'s, as on the psp-proxy mailbox.

Operators who pass ``--backend`` to an operation need not start the service
first: :func:`spawn` starts ``devsec tsm serve`` in the background when none
listens, the way ``gpg`` starts its agent, and ``devsec tsm stop`` ends it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final

from spdm.errors import ConfigurationError, DecodeError, TransportError, TransportTimeout
from spdm.transport import DoeTransport

from .info import DeviceInfo, TdiInfo, expect_device, expect_tdi
from .interface import DeviceTarget, Operation, Progress, TdiTarget, Tsm, no_progress, perform
from .jsondoc import MAX_DOCUMENT
from .wire import (
    SHUTDOWN,
    Answer,
    Failed,
    Shutdown,
    Stepped,
    Stopped,
    Succeeded,
    decode_answer,
    decode_request,
    encode_answer,
    encode_request,
    operation_from,
)

__all__ = ["MAX_ANSWER", "ServiceTsm", "TsmService", "alive", "call", "request", "shutdown", "spawn"]

log = logging.getLogger(__name__)

_LINE_LIMIT = 1 << 16
"""Longest request line the service reads (an operation is a few hundred bytes)."""

MAX_ANSWER: Final = MAX_DOCUMENT
"""Longest answer line a client reads: a device's info (certificate chains, signed transcripts) in hex."""

_REQUEST_TIMEOUT: Final = 30.0
"""Seconds a client of the service may take to send its request line, and to take each answer line."""


class TsmService:
    """Runs operator requests against one TSM backend."""

    def __init__(self, tsm: Tsm, open_target: Callable[[str], DoeTransport],
                 after: Callable[[DeviceInfo], None] | None = None) -> None:
        """Args:
            tsm: the backend holding the state.
            open_target: opens a device's DOE transport from its target string.
            after: called with the device's info after every successful operation
                (rendering the evidence, say).
        """
        self.tsm = tsm
        self._open = open_target
        self._after = after
        self._stop = threading.Event()

    def run(self, operation: Operation, progress: Callable[[str], None]) -> DeviceInfo | TdiInfo:
        """Carry out one operation.

        Raises:
            ConfigurationError: the operation names another backend than this service runs.
            Whatever the TSM raises.
        """
        backend = operation.backend
        if backend is not None and backend != self.tsm.name:
            raise ConfigurationError(f"this TSM service runs the {self.tsm.name} backend, not {backend}; "
                                     f"stop it first ('devsec tsm stop') to change backends")
        target = operation.target or ""
        result = perform(self.tsm, operation, lambda: self._open(target), progress)
        if self._after is not None:
            self._after(result if isinstance(result, DeviceInfo) else self.tsm.info(operation.bdf))
        return result

    def serve(self, path: Path, ready: Callable[[], None] | None = None,
              stop: threading.Event | None = None) -> None:
        """Listen on the Unix socket ``path`` until ``stop`` is set or a client asks to shut down.

        Each client is served on its own thread.  A socket file nobody listens
        on (left by a killed service) is replaced; a live one is not.

        Raises:
            TransportError: the socket cannot be bound, or another service listens there.
        """
        service = self
        if stop is not None:
            self._stop = stop

        class Handler(socketserver.StreamRequestHandler):
            # A client that connects and says nothing, or stops reading its
            # answer, does not hold a thread: its writes fail, the operation ends unseen.
            timeout = _REQUEST_TIMEOUT

            def handle(self) -> None:
                try:
                    line = self.rfile.readline(_LINE_LIMIT)
                except OSError as exc:  # TimeoutError among them
                    log.info("dropping a client that sent no request: %s", exc)
                    return
                service._handle(line, self.wfile.write)

        if alive(path):
            raise TransportError(f"a TSM service already listens on {path}")
        if path.is_socket():
            path.unlink()
        try:
            server = socketserver.ThreadingUnixStreamServer(str(path), Handler)
        except OSError as exc:
            raise TransportError(f"cannot listen on {path}: {exc.strerror}") from exc
        server.daemon_threads = True
        try:
            if ready is not None:
                ready()
            thread = threading.Thread(target=server.serve_forever, args=(0.2,), daemon=True)
            thread.start()
            while not self._stop.wait(0.2):
                if not thread.is_alive():
                    break
        finally:
            server.shutdown()
            server.server_close()
            path.unlink(missing_ok=True)

    def _handle(self, line: bytes, write: Callable[[bytes], object]) -> None:
        if not line.strip():
            return  # a client that connected and left (``alive`` probing) asked nothing
        client_gone = False

        def send(answer: Answer) -> None:
            # An operator who presses Ctrl-C must not interrupt the TSM halfway
            # through an operation: once the client is gone, finish it unseen.
            nonlocal client_gone
            if client_gone:
                return
            try:
                write(encode_answer(answer) + b"\n")
            except OSError as exc:
                client_gone = True
                log.info("the client left (%s); the request runs to its end", exc.strerror)

        try:
            request = decode_request(line)
            if isinstance(request, Shutdown):
                log.info("shutting down on request")
                send(Stopped(self.tsm.name))
                self._stop.set()
                return
            result = self.run(request, lambda step: send(Stepped(step)))
            send(Succeeded(result))
        except Exception as exc:  # every failure goes back to the client, with its class and codes
            log.info("request failed: %s: %s", type(exc).__name__, exc)
            send(Failed.of(exc))


def request(path: Path, doc: Mapping[str, object], progress: Callable[[str, float], None],
            timeout: float = 600.0) -> DeviceInfo | TdiInfo:
    """Send one request document (an operator's, as parsed JSON) to the service at ``path``.

    The document is read as an :class:`~tsm.interface.Operation` first, so a
    malformed one fails here, before anything is sent.

    Raises:
        DecodeError: a malformed document.
        See :func:`call`.
    """
    return call(path, operation_from(doc), progress, timeout)


def call(path: Path, operation: Operation, progress: Callable[[str, float], None],
         timeout: float = 600.0) -> DeviceInfo | TdiInfo:
    """Run one operation on the service at ``path``; report progress steps with their elapsed time.

    Args:
        path: the service's socket.
        operation: what to run.
        progress: called with each step and the seconds since the call began.
        timeout: seconds the whole operation may take (a service that
            trickles its answer or goes silent does not hold the caller longer).

    Raises:
        ConfigurationError: no service listens there.
        TransportTimeout: the operation did not end within ``timeout`` seconds.
        TransportError: the connection broke, or an answer line is over :data:`MAX_ANSWER`.
        DecodeError: a malformed answer.
        The TSM's error: the same class, message and codes (RemoteProtocolError
        naming the original for kinds not known here).
    """
    start = time.monotonic()
    deadline = start + timeout
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(str(path))
    except OSError as exc:
        raise ConfigurationError(f"no TSM service at {path} ({exc.strerror}); start one with "
                                 f"'devsec tsm serve', or pass --backend and --trust-root") from exc
    with sock:
        lines = _Lines(sock, deadline, f"{operation.op} of {operation.bdf}")
        try:
            sock.sendall(encode_request(operation) + b"\n")
        except OSError as exc:
            raise TransportError(f"the TSM service at {path} took no request: {exc}") from exc
        while (line := lines.next()) is not None:
            answer = decode_answer(line)
            if isinstance(answer, Stepped):
                progress(answer.step, time.monotonic() - start)
            elif isinstance(answer, Succeeded):
                return answer.info
            elif isinstance(answer, Failed):
                raise answer.exception()
            else:
                raise DecodeError(f"the TSM service answered {operation.op} with {answer}")
    raise TransportError("the TSM service closed the connection without an answer")


class _Lines:
    """The answer lines of one request, each at most MAX_ANSWER bytes, all before one deadline."""

    def __init__(self, sock: socket.socket, deadline: float, what: str) -> None:
        self._sock = sock
        self._deadline = deadline
        self._what = what
        self._buffer = b""

    def next(self) -> bytes | None:
        """The next line (without its newline), or None at the end of the stream.

        Raises:
            TransportTimeout: the deadline passed.
            TransportError: the connection broke, or a line is too long.
        """
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > MAX_ANSWER:
                raise TransportError(f"the TSM service's answer to {self._what} exceeds {MAX_ANSWER} bytes")
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise TransportTimeout(f"the TSM service did not finish {self._what} in time")
            try:
                self._sock.settimeout(remaining)
                chunk = self._sock.recv(1 << 16)
            except TimeoutError as exc:
                raise TransportTimeout(f"the TSM service did not finish {self._what} in time") from exc
            except OSError as exc:
                raise TransportError(f"the TSM service's connection broke during {self._what}: "
                                     f"{exc}") from exc
            if not chunk:
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer[:end], self._buffer[end + 1:]
        return line


def alive(path: Path) -> bool:
    """Whether a service accepts connections on the Unix socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def shutdown(path: Path, timeout: float = 30.0) -> str:
    """Ask the service at ``path`` to stop; returns its backend's name once it no longer listens.

    Raises:
        ConfigurationError: no service listens there.
        TransportError: it did not answer, or still listens after ``timeout`` seconds.
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(encode_request(SHUTDOWN) + b"\n")
            line = sock.makefile("rb").readline(_LINE_LIMIT)
    except TimeoutError as exc:
        raise TransportTimeout(f"the TSM service at {path} did not confirm the shutdown in time") from exc
    except OSError as exc:
        raise ConfigurationError(f"no TSM service at {path} ({exc.strerror})") from exc
    try:
        answer = decode_answer(line)
    except DecodeError as exc:
        raise TransportError(f"the TSM service at {path} did not confirm the shutdown") from exc
    if not isinstance(answer, Stopped):
        raise TransportError(f"the TSM service at {path} did not confirm the shutdown: {answer}")
    backend = answer.backend
    deadline = time.monotonic() + timeout
    while alive(path):
        if time.monotonic() > deadline:
            raise TransportError(f"the TSM service at {path} still listens {timeout:.0f} s after stopping")
        time.sleep(0.02)
    return backend


def spawn(path: Path, backend: str, trust_roots: Sequence[str], sysfs: str | None = None,
          timeout: float = 30.0, offer: Sequence[str] = ()) -> int:
    """Start ``devsec tsm serve`` in the background on ``path``; return its pid once it listens.

    The service runs in its own session (a terminal's hang-up does not end it)
    and writes its log to ``<path>.log``.  ``offer`` are ``serve``'s algorithm
    flags (``--asym ml-dsa-65 --kem ml-kem-768``), passed on as given.

    Raises:
        ConfigurationError: no trust root was given (the service needs one).
        TransportError: it exited before listening (its last log line says why)
            or did not listen within ``timeout`` seconds.
    """
    if not trust_roots:
        raise ConfigurationError("starting a TSM service needs --trust-root")
    argv = [sys.executable, "-m", "devsec", "tsm", "serve", "--backend", backend, "--socket", str(path)]
    for root in trust_roots:
        argv += ["--trust-root", root]
    if sysfs is not None:
        argv += ["--sysfs", sysfs]
    argv += offer
    log_path = path.with_name(path.name + ".log")
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
               (os.POSIX_SPAWN_DUP2, 1, 2)]
    pid = os.posix_spawn(sys.executable, argv, os.environ, file_actions=actions, setsid=True)
    deadline = time.monotonic() + timeout
    while not alive(path):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            lines = log_path.read_text(errors="replace").strip().splitlines()
            raise TransportError(f"the TSM service exited with status {os.waitstatus_to_exitcode(status)} "
                                 f"at start: {lines[-1] if lines else 'no log'} (log: {log_path})")
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGTERM)
            raise TransportError(f"the TSM service did not listen on {path} within {timeout:.0f} s "
                                 f"(log: {log_path})")
        time.sleep(0.02)
    return pid


class ServiceTsm(Tsm):
    """The :class:`~tsm.Tsm` interface as a client of a running ``devsec tsm serve``.

    A process that lives for one event (the udev hook) cannot hold a session
    itself; through this it acts on a TSM that outlives it.  The service
    opens devices itself, from a target string (a transport cannot cross a
    socket), so :attr:`DeviceTarget.open <tsm.DeviceTarget.open>` is not
    used: ``target`` maps a DSM's address to the string, by default the
    address itself (its config-space mailbox).  The evidence a result carries
    names the service's backend (:attr:`DeviceInfo.tsm`); :attr:`name` names
    this client.
    """

    name = "tsm-service"

    def __init__(self, path: Path, *, target: Callable[[str], str] = str) -> None:
        self._path = path
        self._target = target

    def _device(self, operation: Operation, progress: Progress = no_progress) -> DeviceInfo:
        return expect_device(call(self._path, operation, lambda step, _elapsed: progress(step)), operation.op)

    def _tdi(self, operation: Operation, progress: Progress = no_progress) -> TdiInfo:
        return expect_tdi(call(self._path, operation, lambda step, _elapsed: progress(step)), operation.op)

    def connect(self, device: DeviceTarget, progress: Progress = no_progress) -> DeviceInfo:
        return self._device(Operation("connect", device.bdf, target=self._target(device.bdf)), progress)

    def disconnect(self, bdf: str, progress: Progress = no_progress) -> DeviceInfo:
        return self._device(Operation("disconnect", bdf), progress)

    def bind(self, tdi: TdiTarget, progress: Progress = no_progress) -> TdiInfo:
        return self._tdi(Operation("bind", tdi.dsm, tdi.bdf), progress)

    def accept(self, tdi: TdiTarget, progress: Progress = no_progress) -> TdiInfo:
        return self._tdi(Operation("accept", tdi.dsm, tdi.bdf), progress)

    def unbind(self, tdi: TdiTarget, progress: Progress = no_progress) -> TdiInfo:
        return self._tdi(Operation("unbind", tdi.dsm, tdi.bdf), progress)

    def info(self, bdf: str) -> DeviceInfo:
        return self._device(Operation("info", bdf))

    def tdi_info(self, tdi: TdiTarget) -> TdiInfo:
        return self._tdi(Operation("info", tdi.dsm, tdi.bdf))

    def refresh_evidence(self, bdf: str, nonce: bytes, progress: Progress = no_progress) -> DeviceInfo:
        return self._device(Operation("refresh_evidence", bdf, nonce=nonce), progress)
