"""``devsec tsm``: a TSM held by a long-running service, driven by short operator commands.

A TSM keeps state between operations (the session with each device, its IDE
keys, the TDIs it bound), so one process must hold it: ``devsec tsm serve``
opens a backend and listens on a Unix socket; ``devsec tsm connect|bind|...``
send one request each and print the progress lines and the result.  The
service is the host: it opens each device's DOE transport (a ``tcp://``
socket or a PCI address's config-space mailbox) and, with ``--sysfs``,
renders the evidence after every operation.

Protocol: one JSON request line (op, target, bdf, tdi, nonce: see
:func:`tdisp.tsm.interface.perform`); the answer is
JSON lines: ``{"progress": step}`` ..., then ``{"result": info}`` or
``{"error": {"kind", "message"}}``.
"""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from spdm.errors import ConfigurationError, DecodeError, DevsecError, TransportError, error_named
from spdm.transport import DoeTransport
from tdisp.tsm import DeviceInfo, TdiInfo, Tsm
from tdisp.tsm.info import decode_info, encode_info
from tdisp.tsm.interface import perform

__all__ = ["TsmService", "request"]

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

    def run(self, doc: dict[str, Any], progress: Callable[[str], None]) -> DeviceInfo | TdiInfo:
        """Carry out one request document.

        Raises:
            DecodeError: a malformed request (see :func:`tdisp.tsm.interface.perform`); else
                whatever the TSM raises.
        """
        target = str(doc.get("target", ""))
        result = perform(self.tsm, doc, lambda: self._open(target), progress)
        if self._after is not None:
            self._after(result if isinstance(result, DeviceInfo) else self.tsm.info(str(doc["bdf"])))
        return result

    def serve(self, path: Path, ready: Callable[[], None] | None = None,
              stop: threading.Event | None = None) -> None:
        """Listen on the Unix socket ``path`` until ``stop`` is set (each client on its own thread).

        Raises:
            TransportError: the socket cannot be bound (another service runs there?).
        """
        service = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                service._handle(self.rfile.readline(_LINE_LIMIT), self.wfile.write)

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
            while not (stop.wait(0.2) if stop is not None else False):
                if not thread.is_alive():
                    break
        finally:
            server.shutdown()
            server.server_close()
            path.unlink(missing_ok=True)

    def _handle(self, line: bytes, write: Callable[[bytes], object]) -> None:
        def send(doc: dict[str, Any]) -> None:
            write(json.dumps(doc).encode() + b"\n")

        try:
            doc = json.loads(line)
            if not isinstance(doc, dict):
                raise DecodeError("a TSM request is a JSON object")
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
        raise ConfigurationError(f"no TSM service at {path} ({exc.strerror}); "
                                 f"start one with 'devsec tsm serve'") from exc
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
