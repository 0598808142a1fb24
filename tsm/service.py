"""``devsec tsm``: a TSM held by a long-running service, driven by short operator commands.

A TSM keeps state between operations (the session with each device, its IDE
keys, the TDIs it bound), so one process must hold it: ``devsec tsm serve``
opens a backend and listens on a Unix socket; ``devsec tsm connect|bind|...``
send one request each and print the progress lines and the result.  The
service is the host: it opens each device's DOE transport (a ``tcp://``
socket or a PCI address's config-space mailbox) and, with ``--sysfs``,
renders the evidence after every operation.

Protocol: one JSON request line (op, target, bdf, tdi, nonce: see
:func:`tsm.interface.perform`; optionally ``backend``, the backend the
operator expects, refused when the service runs another); the answer is
JSON lines: ``{"progress": step}`` ..., then ``{"result": info}`` or
``{"error": {"kind", "message"}}``.  ``{"op": "shutdown"}`` stops the service
(answer ``{"stopped": backend}``).

Operators who pass ``--backend`` to an operation need not start the service
first: :func:`spawn` starts ``devsec tsm serve`` in the background when none
listens, the way ``gpg`` starts its agent, and ``devsec tsm stop`` ends it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from spdm.errors import (
    ConfigurationError,
    DecodeError,
    DevsecError,
    TransportError,
    error_named,
)
from spdm.transport import DoeTransport
from tsm import DeviceInfo, DeviceTarget, Progress, TdiInfo, TdiTarget, Tsm
from tsm.info import decode_info, encode_info, expect_device, expect_tdi
from tsm.interface import no_progress, perform

__all__ = ["ServiceTsm", "TsmService", "alive", "request", "shutdown", "spawn"]

log = logging.getLogger(__name__)

_LINE_LIMIT = 1 << 16


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

    def run(self, doc: dict[str, Any], progress: Callable[[str], None]) -> DeviceInfo | TdiInfo:
        """Carry out one request document.

        Raises:
            ConfigurationError: the request names another backend than this service runs.
            DecodeError: a malformed request (see :func:`tsm.interface.perform`); else
                whatever the TSM raises.
        """
        backend = doc.get("backend")
        if backend is not None and backend != self.tsm.name:
            raise ConfigurationError(f"this TSM service runs the {self.tsm.name} backend, not {backend}; "
                                     f"stop it first ('devsec tsm stop') to change backends")
        target = str(doc.get("target", ""))
        result = perform(self.tsm, doc, lambda: self._open(target), progress)
        if self._after is not None:
            self._after(result if isinstance(result, DeviceInfo) else self.tsm.info(str(doc["bdf"])))
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
            def handle(self) -> None:
                service._handle(self.rfile.readline(_LINE_LIMIT), self.wfile.write)

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

        def send(doc: dict[str, Any]) -> None:
            # An operator who presses Ctrl-C must not interrupt the TSM halfway
            # through an operation: once the client is gone, finish it unseen.
            nonlocal client_gone
            if client_gone:
                return
            try:
                write(json.dumps(doc).encode() + b"\n")
            except OSError as exc:
                client_gone = True
                log.info("the client left (%s); the request runs to its end", exc.strerror)

        try:
            doc = json.loads(line)
            if not isinstance(doc, dict):
                raise DecodeError("a TSM request is a JSON object")
            if doc.get("op") == "shutdown":
                log.info("shutting down on request")
                send({"stopped": self.tsm.name})
                self._stop.set()
                return
            result = self.run(doc, lambda step: send({"progress": step}))
            send({"result": json.loads(encode_info(result))})
        except (DevsecError, ValueError) as exc:
            log.info("request failed: %s: %s", type(exc).__name__, exc)
            send({"error": {"kind": type(exc).__name__, "message": str(exc)}})


def request(path: Path, doc: dict[str, Any], progress: Callable[[str, float], None],
            timeout: float = 600.0) -> DeviceInfo | TdiInfo:
    """Send one request to the service at ``path``; report progress lines with their elapsed time.

    Raises:
        ConfigurationError: no service listens there.
        The TSM's error, by kind (RemoteProtocolError for kinds not known here).
    """
    start = time.monotonic()
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(str(path))
    except OSError as exc:
        raise ConfigurationError(f"no TSM service at {path} ({exc.strerror}); start one with "
                                 f"'devsec tsm serve', or pass --backend and --trust-root") from exc
    with sock, sock.makefile("rwb") as stream:
        stream.write(json.dumps(doc).encode() + b"\n")
        stream.flush()
        for line in stream:
            answer = json.loads(line)
            if "progress" in answer:
                progress(str(answer["progress"]), time.monotonic() - start)
            elif "result" in answer:
                return decode_info(json.dumps(answer["result"]).encode())
            elif "error" in answer:
                kind, message = answer["error"]["kind"], answer["error"]["message"]
                raise error_named(str(kind), str(message))
    raise TransportError("the TSM service closed the connection without an answer")


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
            sock.sendall(json.dumps({"op": "shutdown"}).encode() + b"\n")
            answer = sock.makefile("rb").readline(_LINE_LIMIT)
    except OSError as exc:
        raise ConfigurationError(f"no TSM service at {path} ({exc.strerror})") from exc
    try:
        backend = str(json.loads(answer)["stopped"])
    except (ValueError, KeyError, TypeError) as exc:
        raise TransportError(f"the TSM service at {path} did not confirm the shutdown") from exc
    deadline = time.monotonic() + timeout
    while alive(path):
        if time.monotonic() > deadline:
            raise TransportError(f"the TSM service at {path} still listens {timeout:.0f} s after stopping")
        time.sleep(0.02)
    return backend


def spawn(path: Path, backend: str, trust_roots: Sequence[str], sysfs: str | None = None,
          timeout: float = 30.0) -> int:
    """Start ``devsec tsm serve`` in the background on ``path``; return its pid once it listens.

    The service runs in its own session (a terminal's hang-up does not end it)
    and writes its log to ``<path>.log``.

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

    def _request(self, doc: dict[str, Any], progress: Progress) -> DeviceInfo | TdiInfo:
        return request(self._path, doc, lambda step, _elapsed: progress(step))

    def _device(self, doc: dict[str, Any], progress: Progress = no_progress) -> DeviceInfo:
        return expect_device(self._request(doc, progress), str(doc["op"]))

    def _tdi(self, op: str, tdi: TdiTarget, progress: Progress) -> TdiInfo:
        return expect_tdi(self._request({"op": op, "bdf": tdi.dsm, "tdi": tdi.bdf}, progress), op)

    def connect(self, device: DeviceTarget, progress: Progress = no_progress) -> DeviceInfo:
        doc = {"op": "connect", "bdf": device.bdf, "target": self._target(device.bdf)}
        return self._device(doc, progress)

    def disconnect(self, bdf: str, progress: Progress = no_progress) -> DeviceInfo:
        return self._device({"op": "disconnect", "bdf": bdf}, progress)

    def bind(self, tdi: TdiTarget, progress: Progress = no_progress) -> TdiInfo:
        return self._tdi("bind", tdi, progress)

    def accept(self, tdi: TdiTarget, progress: Progress = no_progress) -> TdiInfo:
        return self._tdi("accept", tdi, progress)

    def unbind(self, tdi: TdiTarget, progress: Progress = no_progress) -> TdiInfo:
        return self._tdi("unbind", tdi, progress)

    def info(self, bdf: str) -> DeviceInfo:
        return self._device({"op": "info", "bdf": bdf})

    def tdi_info(self, tdi: TdiTarget) -> TdiInfo:
        return self._tdi("info", tdi, no_progress)

    def refresh_evidence(self, bdf: str, nonce: bytes, progress: Progress = no_progress) -> DeviceInfo:
        return self._device({"op": "refresh_evidence", "bdf": bdf, "nonce": nonce.hex()}, progress)
