"""DMTF spdm-emu "platform data" socket protocol: client and server (frames: :mod:`.emu_frame`).

spdm-emu's requester and responder talk over TCP (default port 2323) in frames
of ``command | transport type | payload size`` (each a big-endian u32) and the
payload (``spdm_emu_common/command.c``).  With transport type PCI_DOE the
payload of a NORMAL frame is exactly one DOE data object, header and pad
included; with transport type MCTP or TCP (the reference's ``--trans MCTP`` /
``--trans TCP``) it is one MCTP message or one DSP0287 message
(:mod:`.binding_socket`; :mod:`.binding_endpoint` and :mod:`.binding_driver`
serve and drive them).  Client and server speak the one
transport type they were made with.  What the reference responder does, and this server mirrors:

* TEST: answers TEST with ``"Server Hello!"`` plus its NUL terminator (the
  reference requester sends ``"Client Hello!"`` + NUL right after connecting).
* SHUTDOWN: answers SHUTDOWN with no payload and stops serving.
* CONTINUE: answers CONTINUE with no payload, closes the connection and waits
  for the next client (the requester uses it to end a run without stopping the
  responder).
* any other command: answers UNKNOWN with no payload and closes the
  connection.
* a frame of another transport type: the reference counts it as a receive
  failure and stops serving; here only that connection is closed.

One deliberate difference: a NORMAL object the device drops (the handler
returns None) is answered with an empty NORMAL frame, where the reference
closes the connection on a DOE object it cannot handle, so a client learns of
the drop at once and keeps its connection.

The reference writes each header field with its own ``send``; with Nagle's
algorithm that costs a delayed-ACK stall (~40 ms on loopback) per exchange.
Here every frame goes out in one ``sendall`` and TCP_NODELAY is set on every
socket.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Final

from spdm.errors import (
    ConfigurationError,
    LocalProtocolError,
    RemoteProtocolError,
    TransportError,
    TransportTimeout,
)

from .emu_frame import SocketCommand, SocketFrame, SocketTransportType, encode_frame, read_frame

__all__ = [
    "FRAME_TIMEOUT",
    "IDLE_TIMEOUT",
    "EmuSocketClient",
    "EmuSocketServer",
]

_log = logging.getLogger(__name__)


_CLIENT_HELLO = b"Client Hello!\x00"
_SERVER_HELLO = b"Server Hello!\x00"
# Server replies to the non-NORMAL commands: (reply, payload, verdict), where
# the verdict None keeps the connection and a bool ends it, True meaning "then
# accept the next client" (spdm_responder_emu.c platform_server).
_REPLIES: dict[int, tuple[SocketCommand, bytes, bool | None]] = {
    SocketCommand.TEST: (SocketCommand.TEST, _SERVER_HELLO, None),
    SocketCommand.SHUTDOWN: (SocketCommand.SHUTDOWN, b"", False),
    SocketCommand.CONTINUE: (SocketCommand.CONTINUE, b"", True),
}
_UNKNOWN_REPLY: tuple[SocketCommand, bytes, bool | None] = (SocketCommand.UNKNOWN, b"", True)
FRAME_TIMEOUT: Final = 10.0
"""Seconds a client may take to deliver a whole frame once its first byte arrived (the server side).

A deadline for the frame, not for each receive: a client trickling a byte
every few seconds is dropped after this long, as is one that does not take
the server's answer.  A DOE object of 1 MiB crosses loopback in milliseconds
and a slow link in well under a second."""

IDLE_TIMEOUT: Final = 10.0
"""Seconds a client may sit between frames while another client waits to connect; then it is dropped.

The server serves one client at a time, as the reference does (the device
has one SPDM state), so a connected client that goes quiet would hold it
forever; with nobody waiting it may stay idle indefinitely."""

def _check_port(port: int) -> None:
    # getaddrinfo() silently truncates larger numbers (70000 becomes 4464).
    if not 0 <= port <= 0xFFFF:
        raise ConfigurationError(f"{port!r} is not a TCP port number")


def _recv_frame(sock: socket.socket, seconds: float) -> SocketFrame | None:
    """Read one frame, all of it within ``seconds`` (a deadline, however the peer spaces its bytes)."""
    deadline = time.monotonic() + seconds

    def recv(size: int) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        return sock.recv(size)

    try:
        return read_frame(recv)
    except TimeoutError as exc:
        raise TransportTimeout(f"no whole platform data frame within {seconds:g} s") from exc
    except OSError as exc:
        raise TransportError(f"socket receive failed: {exc}") from exc


def _send_frame(sock: socket.socket, command: int, payload: bytes,
                transport_type: SocketTransportType) -> None:
    frame = SocketFrame(command, transport_type, payload)
    try:
        sock.sendall(encode_frame(frame))
    except TimeoutError as exc:
        raise TransportTimeout("timed out sending a platform data frame") from exc
    except OSError as exc:
        raise TransportError(f"socket send failed: {exc}") from exc


class EmuSocketClient:
    """Host side of the spdm-emu socket protocol; implements ``DoeTransport``.

    Speaks transport type PCI_DOE by default, so it talks to ``spdm_responder_emu
    --trans PCI_DOE`` as well as to ``EmuSocketServer`` (with transport type
    TCP, to ``--trans TCP`` and a TCP ``EmuSocketServer``).
    """

    def __init__(self, host: str, port: int, *, timeout: float = 10.0,
                 transport_type: SocketTransportType = SocketTransportType.PCI_DOE) -> None:
        """Connect.

        Args:
            host: server host name or address.
            port: server TCP port (spdm-emu uses 2323).
            timeout: seconds allowed for connecting and for each whole reply
                (a server that trickles its reply is given no longer).
            transport_type: what the NORMAL frames carry (DOE objects by default;
                TCP: DSP0287 messages).

        Raises:
            ConfigurationError: ``port`` is not a TCP port number or
                ``timeout`` is not positive.
            TransportTimeout: the connection attempt timed out.
            TransportError: the connection failed.
        """
        _check_port(port)
        if not timeout > 0:
            raise ConfigurationError(f"timeout {timeout!r} must be positive")
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except TimeoutError as exc:
            raise TransportTimeout(f"connecting to {host}:{port} timed out") from exc
        except OSError as exc:
            raise TransportError(f"cannot connect to {host}:{port}: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock: socket.socket | None = sock
        self._timeout = timeout
        self._transport_type = transport_type
        _log.debug("connected to spdm-emu server %s:%d", host, port)

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 10.0,
                 transport_type: SocketTransportType = SocketTransportType.PCI_DOE) -> EmuSocketClient:
        """Connect to ``tcp://HOST:PORT`` (IPv6 as ``tcp://[::1]:2323``).

        Args:
            url: the server URL; nothing may follow the port.
            timeout: as for the constructor.
            transport_type: as for the constructor.

        Returns:
            The connected client.

        Raises:
            ConfigurationError: ``url`` is not of that form.
            TransportError: the connection failed (TransportTimeout if it timed out).
        """
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ConfigurationError(f"bad spdm-emu URL {url!r}: {exc}") from exc
        if (
            parts.scheme != "tcp"
            or not parts.hostname
            or port is None
            or parts.path
            or parts.query
            or parts.fragment
            or parts.username is not None
        ):
            raise ConfigurationError(f"bad spdm-emu URL {url!r}: expected tcp://HOST:PORT")
        return cls(parts.hostname, port, timeout=timeout, transport_type=transport_type)

    def _call(self, command: SocketCommand, payload: bytes, timeout: float | None = None) -> bytes:
        if self._sock is None:
            raise LocalProtocolError("spdm-emu client is closed")
        seconds = self._timeout if timeout is None else max(self._timeout, timeout)
        self._sock.settimeout(seconds)
        _send_frame(self._sock, command, payload, self._transport_type)
        reply = _recv_frame(self._sock, seconds)
        if reply is None:
            raise TransportError("spdm-emu server closed the connection")
        if reply.command != command or reply.transport_type != self._transport_type:
            raise RemoteProtocolError(
                f"spdm-emu server answered {command.name} with command {reply.command:#x}, "
                f"transport {reply.transport_type}"
            )
        return reply.payload

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        """Send one DOE object in a NORMAL frame and return the response object.

        Args:
            request: one complete DOE object.
            timeout: seconds to wait for the reply this time, if longer than
                the client's own timeout.

        Returns:
            The response object, as received.

        Raises:
            LocalProtocolError: the client is closed or ``request`` exceeds the cap.
            TransportError: I/O failed, the server disconnected, or the device
                dropped the request (empty NORMAL reply).
            TransportTimeout: no reply within the timeout.
            RemoteProtocolError: the reply is not a NORMAL frame of the client's transport type or is
                over the size cap.
        """
        response = self._call(SocketCommand.NORMAL, request, timeout)
        if not response:
            raise TransportError("device dropped the request (empty NORMAL reply)")
        _log.debug("spdm-emu exchange: %d bytes out, %d in", len(request), len(response))
        return response

    def test(self, payload: bytes = _CLIENT_HELLO) -> bytes:
        """Send TEST, as the spdm-emu requester does on connect.

        Args:
            payload: the greeting; the reference sends "Client Hello!" + NUL.

        Returns:
            The server's greeting (``b"Server Hello!\\x00"`` from spdm-emu).

        Raises:
            The errors of ``exchange``, except that an empty reply is allowed.
        """
        return self._call(SocketCommand.TEST, payload)

    def shutdown(self) -> None:
        """Ask the server to stop serving and wait for its SHUTDOWN echo.

        The connection stays open until ``close``.

        Raises:
            The errors of ``exchange``, except that an empty reply is expected.
        """
        self._call(SocketCommand.SHUTDOWN, b"")

    def close(self) -> None:
        """Close the connection; idempotent."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class EmuSocketServer:
    """Device side of the spdm-emu socket protocol, serving one DOE endpoint.

    Serves one connection at a time, like ``spdm_responder_emu`` (the device
    has one SPDM state, which two interleaved clients would reset for each
    other).  Unlike the reference, a client cannot hold the server: each
    frame must arrive whole within :data:`FRAME_TIMEOUT` of its first byte,
    and a client idle between frames for :data:`IDLE_TIMEOUT` is dropped
    when another client waits.  See the module docstring for how each
    command is answered.
    """

    def __init__(
        self,
        handler: Callable[[bytes], bytes | None],
        host: str = "127.0.0.1",
        port: int = 2323,
        *,
        transport_type: SocketTransportType = SocketTransportType.PCI_DOE,
    ) -> None:
        """Bind and listen.

        Args:
            handler: takes one complete DOE object and returns the complete
                response object or None (e.g. ``DoeEndpoint.handle``); with
                transport type TCP one DSP0287 message (``BindingEndpoint.handle``).
            host: address to bind.
            port: TCP port; 0 picks a free one (see ``address``).
            transport_type: the one transport type served (a frame of another
                ends its connection).

        Raises:
            ConfigurationError: ``port`` is not a TCP port number.
            TransportError: the address cannot be resolved or bound.
        """
        _check_port(port)
        self._handler = handler
        self._transport_type = transport_type
        try:
            family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
            listener = socket.socket(family, kind, proto)
        except OSError as exc:
            raise TransportError(f"cannot create a listener for {host}:{port}: {exc}") from exc
        try:
            # As the reference: a restarted server must not wait out TIME_WAIT.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(sockaddr)
            listener.listen(1)
        except OSError as exc:
            listener.close()
            raise TransportError(f"cannot listen on {host}:{port}: {exc}") from exc
        self._listener = listener
        # stop() writes a byte here; select() then wakes serve_forever, and the
        # byte stays unread so every later wait returns at once too.
        self._wake_r, self._wake_w = socket.socketpair()
        # A selector rather than select(): no FD_SETSIZE limit on descriptors.
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._lock = threading.Lock()
        self._conn: socket.socket | None = None
        self._stopping = False
        self._closed = False

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port)."""
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    def _select(self, socks: tuple[socket.socket, ...], timeout: float | None = None) -> set[object] | None:
        """Those of ``socks`` readable within ``timeout`` (None: no limit); None once stop() was called."""
        for sock in socks:
            self._selector.register(sock, selectors.EVENT_READ)
        try:
            events = self._selector.select(timeout)
        finally:
            for sock in socks:
                self._selector.unregister(sock)
        ready: set[object] = {key.fileobj for key, _ in events}
        return None if self._wake_r in ready else ready

    def _wait(self, sock: socket.socket) -> bool:
        """Wait until ``sock`` is readable (True) or stop() was called (False)."""
        return self._select((sock,)) is not None

    def _next_frame(self, conn: socket.socket) -> bool | None:
        """Wait for the client's next frame: True when it starts, False on stop(), None to drop it.

        A client is dropped when it has been idle for IDLE_TIMEOUT and another
        client waits to connect (the listener is readable).
        """
        idle_since = time.monotonic()
        socks: tuple[socket.socket, ...] = (conn, self._listener)
        timeout: float | None = None
        while (ready := self._select(socks, timeout)) is not None:
            if conn in ready:
                return True
            if self._listener in ready:
                idle = time.monotonic() - idle_since
                if idle >= IDLE_TIMEOUT:
                    return None
                socks, timeout = (conn,), IDLE_TIMEOUT - idle  # the waiting client stays waiting
            else:
                socks, timeout = (conn, self._listener), None
        return False

    def serve_forever(self) -> None:
        """Accept and serve clients until SHUTDOWN or ``stop()``.

        A client that disconnects, breaks the framing or sends an unknown
        command loses its connection; the server then waits for the next one.

        Raises:
            TransportError: accepting a connection failed (e.g. out of file
                descriptors); the listener stays open, so the caller may retry.
            Any exception ``handler`` raises (the connection is closed first).
        """
        _log.debug("spdm-emu server listening on %s:%d", *self.address)
        while self._wait(self._listener):
            try:
                conn, _ = self._listener.accept()
            except OSError as exc:
                raise TransportError(f"accept failed: {exc}") from exc
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.settimeout(FRAME_TIMEOUT)
                with self._lock:
                    self._conn = conn
                try:
                    keep_serving = self._serve_connection(conn)
                finally:
                    with self._lock:
                        self._conn = None
            if not keep_serving:
                break
        _log.debug("spdm-emu server stopped")

    def _serve_connection(self, conn: socket.socket) -> bool:
        """Serve one client; return whether to accept another afterwards."""
        while started := self._next_frame(conn):
            try:
                frame = _recv_frame(conn, FRAME_TIMEOUT)
            except (TransportError, RemoteProtocolError) as exc:
                _log.debug("dropping client: %s", exc)
                return True
            if frame is None:
                _log.debug("spdm-emu client disconnected")
                return True
            if frame.transport_type != self._transport_type:
                _log.debug("dropping client: transport type %d", frame.transport_type)
                return True
            reply: SocketCommand
            payload: bytes | None
            verdict: bool | None
            if frame.command == SocketCommand.NORMAL:
                reply, payload, verdict = SocketCommand.NORMAL, self._handler(frame.payload), None
            else:
                _log.debug("platform command %#x", frame.command)
                reply, payload, verdict = _REPLIES.get(frame.command, _UNKNOWN_REPLY)
            try:
                conn.settimeout(FRAME_TIMEOUT)
                _send_frame(conn, reply, payload or b"", self._transport_type)
            except TransportError as exc:
                _log.debug("dropping client: %s", exc)
                return True
            if verdict is not None:
                return verdict
        if started is None:
            _log.debug("dropping a client idle for %g s: another one waits", IDLE_TIMEOUT)
            return True
        return False

    def stop(self) -> None:
        """Make ``serve_forever`` return soon; safe from any thread, idempotent.

        A client in the middle of sending a frame is disconnected.
        """
        with self._lock:
            if self._closed or self._stopping:
                return
            self._stopping = True
            self._wake_w.send(b"\x00")
            if self._conn is not None:
                # Unblocks a recv waiting for the rest of a frame; the peer may
                # already have reset the connection, which is just as good.
                with contextlib.suppress(OSError):
                    self._conn.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Release the sockets; call after ``serve_forever`` has returned."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._selector.close()
            self._listener.close()
            self._wake_r.close()
            self._wake_w.close()
