"""A peer that stalls cannot hold the spdm-emu socket (fuzz finding 12).

The server's frame timeout was a per-receive timeout: a client trickling one
byte every few seconds never tripped it and held the single-connection
server forever.  Now a frame must arrive whole within FRAME_TIMEOUT of its
first byte, a client idle between frames is dropped after IDLE_TIMEOUT when
another client waits (and kept when nobody does), and the client's own
timeout is a deadline for a whole reply.  The limits are shortened here.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from spdm.errors import TransportTimeout
from spdm.transport import emu_socket
from spdm.transport.emu_frame import SocketCommand, SocketTransportType
from spdm.transport.emu_socket import EmuSocketClient, EmuSocketServer

pytestmark = pytest.mark.socket

LIMIT = 1.0
"""FRAME_TIMEOUT and IDLE_TIMEOUT in these tests (10 s each in use)."""

HELLO = struct.pack(">III", SocketCommand.TEST, SocketTransportType.PCI_DOE, 14) + b"Client Hello!\x00"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int]]:
    monkeypatch.setattr(emu_socket, "FRAME_TIMEOUT", LIMIT)
    monkeypatch.setattr(emu_socket, "IDLE_TIMEOUT", LIMIT)
    served = EmuSocketServer(lambda request: request, port=0)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield served.address
    served.stop()
    thread.join(10)
    served.close()


def trickle(sock: socket.socket, data: bytes, pause: float) -> threading.Thread:
    def send() -> None:
        for byte in data:
            try:
                sock.send(bytes([byte]))
            except OSError:
                return
            time.sleep(pause)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def greet(address: tuple[str, int], timeout: float = 5.0) -> bytes:
    client = EmuSocketClient(*address, timeout=timeout)
    try:
        return client.test()
    finally:
        client.close()


def test_a_trickling_client_is_dropped_and_the_next_one_served(server: tuple[str, int]) -> None:
    with socket.create_connection(server) as slow:
        trickle(slow, HELLO, 0.3)  # 26 bytes: 8 s, but every byte well inside any per-receive timeout
        time.sleep(0.2)
        started = time.monotonic()
        assert greet(server) == b"Server Hello!\x00"
        assert time.monotonic() - started < 4 * LIMIT
        slow.settimeout(5)
        assert slow.recv(100) == b""  # dropped


def test_an_idle_client_yields_to_a_waiting_one(server: tuple[str, int]) -> None:
    with socket.create_connection(server) as idle:
        idle.sendall(HELLO)
        idle.settimeout(5)
        assert idle.recv(100).endswith(b"Server Hello!\x00")  # served, now idle
        started = time.monotonic()
        assert greet(server) == b"Server Hello!\x00"
        assert LIMIT * 0.5 < time.monotonic() - started < 4 * LIMIT
        assert idle.recv(100) == b""


def test_an_idle_client_keeps_the_server_while_nobody_waits(server: tuple[str, int]) -> None:
    client = EmuSocketClient(*server, timeout=5)
    try:
        time.sleep(2 * LIMIT)
        assert client.test() == b"Server Hello!\x00"
    finally:
        client.close()


def test_the_client_timeout_bounds_a_trickled_reply() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def answer_slowly() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(100)
                trickle(conn, HELLO.replace(b"Client", b"Server"), 0.3).join(15)

        threading.Thread(target=answer_slowly, daemon=True).start()
        client = EmuSocketClient(*listener.getsockname(), timeout=LIMIT)
        started = time.monotonic()
        with pytest.raises(TransportTimeout, match="within"):
            client.test()
        assert time.monotonic() - started < 4 * LIMIT
        client.close()
