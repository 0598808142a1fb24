"""Tests for spdm.transport.emu_socket: the spdm-emu platform-data protocol.

The frame codec and stream reader are tested without sockets.  Tests marked
``socket`` run an EmuSocketServer on 127.0.0.1 port 0 in a thread; every
socket has a timeout and every thread is joined with one, so nothing hangs.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spdm.errors import (
    ConfigurationError,
    DecodeError,
    LocalProtocolError,
    RemoteProtocolError,
    TransportError,
    TransportTimeout,
)
from spdm.transport import DoeTransport
from spdm.transport.doe import DataObject, discover, encode_data_object
from spdm.transport.emu_frame import (
    MAX_PAYLOAD_SIZE,
    SocketCommand,
    SocketFrame,
    SocketTransportType,
    decode_frame,
    encode_frame,
    read_frame,
)
from spdm.transport.emu_socket import EmuSocketClient, EmuSocketServer
from spdm.transport.endpoint import DoeEndpoint

GET_VERSION = encode_data_object(DataObject(1, 1, b"\x10\x84\x00\x00"))
VERSION = encode_data_object(DataObject(1, 1, b"\x10\x04\x00\x00\x00\x01\x00\x12"))
JOIN = 5.0
DOE = SocketTransportType.PCI_DOE


def frame(command: int, payload: bytes = b"", transport: int = DOE) -> bytes:
    return struct.pack(">III", command, transport, len(payload)) + payload


def chunked(data: bytes, size: int = 1) -> Callable[[int], bytes]:
    """A recv() over ``data`` that returns at most ``size`` bytes per call."""
    view = memoryview(data)
    position = 0

    def recv(wanted: int) -> bytes:
        nonlocal position
        chunk = bytes(view[position : position + min(wanted, size)])
        position += len(chunk)
        return chunk

    return recv


# --- frame codec -----------------------------------------------------------------------------


def test_encode_frame_layout() -> None:
    encoded = encode_frame(SocketFrame(SocketCommand.NORMAL, DOE, b"abc"))
    assert encoded == bytes.fromhex("00000001 00000002 00000003 616263")


def test_spdm_emu_hello_frames() -> None:
    hello = SocketFrame(SocketCommand.TEST, DOE, b"Client Hello!\x00")
    assert encode_frame(hello)[:12] == bytes.fromhex("0000dead 00000002 0000000e")
    assert decode_frame(encode_frame(hello)) == hello


@given(st.integers(0, 0xFFFF_FFFF), st.integers(0, 0xFFFF_FFFF), st.binary(max_size=64))
def test_frame_round_trip(command: int, transport: int, payload: bytes) -> None:
    original = SocketFrame(command, transport, payload)
    encoded = encode_frame(original)
    assert decode_frame(encoded) == original
    assert read_frame(chunked(encoded)) == original


def test_decode_rejects_every_proper_prefix() -> None:
    encoded = frame(SocketCommand.NORMAL, GET_VERSION)
    for end in range(len(encoded)):
        with pytest.raises(DecodeError):
            decode_frame(encoded[:end])


@pytest.mark.parametrize("extra", [b"\x00", frame(SocketCommand.TEST)])
def test_decode_rejects_trailing_bytes(extra: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_frame(frame(SocketCommand.NORMAL, GET_VERSION) + extra)


def test_decode_rejects_an_oversized_announcement() -> None:
    header = struct.pack(">III", 1, 2, MAX_PAYLOAD_SIZE + 1)
    with pytest.raises(RemoteProtocolError, match="payload"):
        decode_frame(header)


@given(st.binary(max_size=40), st.booleans())
def test_the_struct_path_agrees_with_the_declaration(data: bytes, well_formed: bool) -> None:
    """Frames are built and read with a ``struct`` (R7); construct's PlatformData is the layout."""
    from construct import ConstructError

    from spdm.transport.emu_frame import PlatformData

    if well_formed:
        data = struct.pack(">III", 1, 2, len(data)) + data
    try:
        parsed = PlatformData.parse(data)
    except ConstructError:
        with pytest.raises(RemoteProtocolError):  # DecodeError included
            decode_frame(data)
        return
    frame = decode_frame(data)
    assert (frame.command, frame.transport_type, frame.payload) == (
        parsed.command, parsed.transport_type, parsed.payload)
    assert encode_frame(frame) == PlatformData.build(
        {"command": frame.command, "transport_type": frame.transport_type, "payload": frame.payload})


@given(st.binary(max_size=40))
def test_random_bytes_raise_only_remote_errors(data: bytes) -> None:
    try:
        decoded = decode_frame(data)
    except RemoteProtocolError:  # DecodeError included
        return
    assert encode_frame(decoded) == data


@pytest.mark.parametrize(
    ("command", "transport", "payload"),
    [(-1, 2, b""), (1 << 32, 2, b""), (1, -1, b""), (1, 1 << 32, b""), (1, 2, bytes(MAX_PAYLOAD_SIZE + 1))],
    ids=["command<0", "command>u32", "transport<0", "transport>u32", "payload>cap"],
)
def test_frame_fields_are_checked(command: int, transport: int, payload: bytes) -> None:
    with pytest.raises(LocalProtocolError):
        SocketFrame(command, transport, payload)


# --- stream reader ---------------------------------------------------------------------------


def test_read_frame_byte_by_byte_leaves_the_next_frame_alone() -> None:
    stream = frame(SocketCommand.NORMAL, GET_VERSION) + frame(SocketCommand.SHUTDOWN)
    recv = chunked(stream)
    assert read_frame(recv) == SocketFrame(SocketCommand.NORMAL, DOE, GET_VERSION)
    assert read_frame(recv) == SocketFrame(SocketCommand.SHUTDOWN, DOE, b"")
    assert read_frame(recv) is None


def test_read_frame_large_payload_in_uneven_chunks() -> None:
    payload = bytes(range(256)) * 4096
    assert read_frame(chunked(frame(1, payload), 7777)) == SocketFrame(1, DOE, payload)


def test_read_frame_clean_end_of_stream() -> None:
    assert read_frame(chunked(b"")) is None


@pytest.mark.parametrize("cut", [1, 11, 12, 15])
def test_read_frame_end_inside_a_frame(cut: int) -> None:
    with pytest.raises(TransportError, match="inside a frame"):
        read_frame(chunked(frame(1, GET_VERSION)[:cut]))


def test_read_frame_checks_the_size_before_reading_the_payload() -> None:
    calls: list[int] = []
    inner = chunked(struct.pack(">III", 1, 2, MAX_PAYLOAD_SIZE + 1) + b"x" * 100, size=100)

    def recv(wanted: int) -> bytes:
        calls.append(wanted)
        return inner(wanted)

    with pytest.raises(RemoteProtocolError):
        read_frame(recv)
    assert calls == [12]


# --- URLs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "",
        "127.0.0.1:2323",
        "http://127.0.0.1:2323",
        "tcp://127.0.0.1",
        "tcp://:2323",
        "tcp://127.0.0.1:99999",
        "tcp://127.0.0.1:port",
        "tcp://127.0.0.1:2323/x",
        "tcp://127.0.0.1:2323?x=1",
        "tcp://127.0.0.1:2323#x",
        "tcp://user@127.0.0.1:2323",
        "tcp://[::1:2323",
    ],
)
def test_from_url_rejects_bad_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        EmuSocketClient.from_url(url)


# --- against a live server -------------------------------------------------------------------


class Harness:
    """An EmuSocketServer serving a DoeEndpoint in a thread."""

    def __init__(self, host: str = "127.0.0.1", handler: Callable[[bytes], bytes] | None = None):
        self.server_nodelay: list[int] = []
        self.errors: list[BaseException] = []

        def spdm(payload: bytes) -> bytes:
            conn = self.server._conn
            assert conn is not None
            self.server_nodelay.append(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            return handler(payload) if handler else VERSION[8:]

        endpoint = DoeEndpoint({(1, 1): spdm, (1, 2): lambda p: None})
        self.server = EmuSocketServer(endpoint.handle, host=host, port=0)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.server.serve_forever()
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)

    @property
    def port(self) -> int:
        return self.server.address[1]

    def client(self) -> EmuSocketClient:
        return EmuSocketClient(self.server.address[0], self.port, timeout=JOIN)

    def raw(self) -> socket.socket:
        return socket.create_connection(self.server.address[:2], timeout=JOIN)

    def join(self) -> None:
        self.thread.join(JOIN)
        assert not self.thread.is_alive()

    def finish(self) -> None:
        self.server.stop()
        self.join()
        self.server.close()


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.finish()
    assert h.errors == []


def assert_served(h: Harness) -> None:
    client = h.client()
    try:
        assert client.exchange(GET_VERSION) == VERSION
    finally:
        client.close()


def recv_frame(sock: socket.socket) -> SocketFrame | None:
    return read_frame(sock.recv)


@pytest.mark.socket
def test_exchange_and_nodelay_on_both_ends(harness: Harness) -> None:
    client = harness.client()
    assert isinstance(client, DoeTransport)
    assert client.exchange(GET_VERSION) == VERSION
    assert client._sock is not None
    assert client._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    assert harness.server_nodelay == [1]
    client.close()


@pytest.mark.socket
def test_discover_over_the_socket(harness: Harness) -> None:
    client = harness.client()
    assert discover(client.exchange) == [(1, 0), (1, 1), (1, 2)]
    client.close()


@pytest.mark.socket
def test_largest_object_round_trips() -> None:
    h = Harness(handler=lambda p: p)
    request = encode_data_object(DataObject(1, 1, bytes(range(256)) * 4095 + bytes(248)))
    client = h.client()
    assert client.exchange(request) == request
    client.close()
    h.finish()
    assert h.errors == []


@pytest.mark.socket
def test_hello(harness: Harness) -> None:
    client = harness.client()
    assert client.test() == b"Server Hello!\x00"
    assert client.test(b"other") == b"Server Hello!\x00"
    client.close()


@pytest.mark.socket
def test_hello_on_the_wire(harness: Harness) -> None:
    with harness.raw() as sock:
        sock.sendall(frame(SocketCommand.TEST, b"Client Hello!\x00"))
        assert recv_frame(sock) == SocketFrame(SocketCommand.TEST, DOE, b"Server Hello!\x00")


@pytest.mark.socket
def test_dropped_request_gets_an_empty_normal_reply(harness: Harness) -> None:
    dropped = encode_data_object(DataObject(1, 2, b"\x00" * 4))
    with harness.raw() as sock:
        sock.sendall(frame(SocketCommand.NORMAL, dropped))
        assert recv_frame(sock) == SocketFrame(SocketCommand.NORMAL, DOE, b"")
    client = harness.client()
    with pytest.raises(TransportError, match="dropped"):
        client.exchange(dropped)
    assert client.exchange(GET_VERSION) == VERSION  # same connection still works
    client.close()


@pytest.mark.socket
def test_disconnect_and_reconnect(harness: Harness) -> None:
    first = harness.client()
    assert first.exchange(GET_VERSION) == VERSION
    first.close()
    first.close()
    assert_served(harness)
    assert_served(harness)


@pytest.mark.socket
def test_client_vanishing_mid_frame_does_not_stop_the_server(harness: Harness) -> None:
    with harness.raw() as sock:
        sock.sendall(frame(SocketCommand.NORMAL, GET_VERSION)[:7])
    assert_served(harness)


@pytest.mark.socket
@pytest.mark.parametrize(
    ("sent", "reply"),
    [
        (frame(SocketCommand.CONTINUE), SocketFrame(SocketCommand.CONTINUE, DOE, b"")),
        (frame(0x8001), SocketFrame(SocketCommand.UNKNOWN, DOE, b"")),
        (frame(SocketCommand.UNKNOWN), SocketFrame(SocketCommand.UNKNOWN, DOE, b"")),
        (frame(SocketCommand.NORMAL, GET_VERSION, transport=1), None),
        (struct.pack(">III", 1, 2, MAX_PAYLOAD_SIZE + 1), None),
    ],
    ids=["continue", "oob-key-update", "unknown", "mctp", "oversized"],
)
def test_commands_that_end_the_connection(harness: Harness, sent: bytes, reply: SocketFrame | None) -> None:
    with harness.raw() as sock:
        sock.sendall(sent)
        assert recv_frame(sock) == reply
        assert sock.recv(1) == b""  # the server closed this connection
    assert_served(harness)  # and waits for the next


@pytest.mark.socket
def test_shutdown_stops_serving(harness: Harness) -> None:
    client = harness.client()
    client.shutdown()
    harness.join()  # serve_forever returned
    client.close()
    port = harness.port
    harness.server.close()
    with pytest.raises(TransportError, match="cannot connect"):
        EmuSocketClient("127.0.0.1", port, timeout=JOIN)


@pytest.mark.socket
def test_stop_with_an_idle_client(harness: Harness) -> None:
    client = harness.client()
    assert client.exchange(GET_VERSION) == VERSION
    harness.server.stop()
    harness.join()
    with pytest.raises(TransportError):
        client.exchange(GET_VERSION)
    client.close()


@pytest.mark.socket
def test_stop_with_a_client_stuck_mid_frame(harness: Harness) -> None:
    with harness.raw() as sock:
        sock.sendall(frame(SocketCommand.NORMAL, GET_VERSION)[:5])
        harness.server.stop()
        harness.join()


@pytest.mark.socket
def test_stop_before_serving() -> None:
    server = EmuSocketServer(lambda r: r, port=0)
    server.stop()
    server.serve_forever()  # returns at once
    server.close()
    server.close()
    server.stop()  # after close: a no-op


@pytest.mark.socket
def test_from_url(harness: Harness) -> None:
    client = EmuSocketClient.from_url(f"tcp://127.0.0.1:{harness.port}", timeout=JOIN)
    assert client.exchange(GET_VERSION) == VERSION
    client.close()


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.socket
@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6() -> None:
    h = Harness(host="::1")
    assert h.server.address[0] == "::1"
    client = EmuSocketClient.from_url(f"tcp://[::1]:{h.port}", timeout=JOIN)
    assert client.exchange(GET_VERSION) == VERSION
    client.close()
    h.finish()


@pytest.mark.socket
def test_handler_exceptions_escape_serve_forever() -> None:
    def broken(payload: bytes) -> bytes:
        raise RuntimeError("device model bug")

    h = Harness(handler=broken)
    client = h.client()
    with pytest.raises(TransportError, match="closed"):
        client.exchange(GET_VERSION)
    h.join()
    assert [type(e) for e in h.errors] == [RuntimeError]
    client.close()
    h.server.close()


@pytest.mark.socket
def test_closed_client_refuses_calls(harness: Harness) -> None:
    client = harness.client()
    client.close()
    with pytest.raises(LocalProtocolError, match="closed"):
        client.exchange(GET_VERSION)


# --- against misbehaving servers -------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(JOIN)
    yield sock
    sock.close()


def serve_once(listener: socket.socket, reply: bytes | None) -> threading.Thread:
    """Accept one client, read one frame, send ``reply`` raw (or nothing) and hang up."""

    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(JOIN)
            read_frame(conn.recv)
            if reply is not None:
                conn.sendall(reply)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.socket
@pytest.mark.parametrize(
    ("reply", "error", "match"),
    [
        (frame(SocketCommand.UNKNOWN), RemoteProtocolError, "0xffff"),
        (frame(SocketCommand.NORMAL, VERSION, transport=1), RemoteProtocolError, "transport 1"),
        (struct.pack(">III", 1, 2, MAX_PAYLOAD_SIZE + 1), RemoteProtocolError, "payload"),
        (None, TransportError, "closed the connection"),
        (frame(SocketCommand.NORMAL, VERSION)[:20], TransportError, "inside a frame"),
    ],
)
def test_client_rejects_bad_replies(
    listener: socket.socket, reply: bytes | None, error: type[Exception], match: str
) -> None:
    thread = serve_once(listener, reply)
    client = EmuSocketClient(*listener.getsockname(), timeout=JOIN)
    with pytest.raises(error, match=match):
        client.exchange(GET_VERSION)
    client.close()
    thread.join(JOIN)
    assert not thread.is_alive()


@pytest.mark.socket
def test_client_times_out(listener: socket.socket) -> None:
    # The kernel completes the handshake from the backlog; nobody ever answers.
    client = EmuSocketClient(*listener.getsockname(), timeout=0.2)
    with pytest.raises(TransportTimeout):
        client.exchange(GET_VERSION)
    client.close()


@pytest.mark.socket
def test_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransportError, match=f"127.0.0.1:{port}"):
        EmuSocketClient("127.0.0.1", port, timeout=JOIN)


@pytest.mark.socket
def test_server_cannot_bind_a_busy_port(listener: socket.socket) -> None:
    with pytest.raises(TransportError, match="cannot listen"):
        EmuSocketServer(lambda r: r, port=listener.getsockname()[1])


@pytest.mark.socket
def test_server_keeps_serving_after_a_client_drops_during_the_reply(harness: Harness) -> None:
    with harness.raw() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.sendall(frame(SocketCommand.NORMAL, GET_VERSION))
    assert_served(harness)


class FailingListener:
    """Stands in for the listening socket: readable, but accept() fails."""

    def __init__(self, real: socket.socket) -> None:
        self.real = real

    def fileno(self) -> int:
        return self.real.fileno()

    def getsockname(self) -> tuple[str, int]:
        host, port = self.real.getsockname()
        return str(host), int(port)

    def accept(self) -> tuple[socket.socket, object]:
        raise OSError(24, "Too many open files")


@pytest.mark.socket
def test_accept_failure_ends_serve_forever() -> None:
    server = EmuSocketServer(lambda r: r, port=0)
    real = server._listener
    with socket.create_connection(server.address, timeout=JOIN):
        server._listener = FailingListener(real)  # type: ignore[assignment]
        with pytest.raises(TransportError, match="accept failed"):
            server.serve_forever()
    server._listener = real
    server.close()


@pytest.mark.socket
@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs to a full backlog")
def test_connect_timeout() -> None:
    # Backlog 0 queues one connection; Linux drops further SYNs until accept().
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        with socket.create_connection(full.getsockname(), timeout=JOIN):
            with pytest.raises(TransportTimeout, match="timed out"):
                EmuSocketClient(*full.getsockname(), timeout=0.2)


@pytest.mark.socket
def test_client_sees_a_reset_connection(listener: socket.socket) -> None:
    def run() -> None:
        conn, _ = listener.accept()
        conn.settimeout(JOIN)
        read_frame(conn.recv)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # RST instead of FIN

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    client = EmuSocketClient(*listener.getsockname(), timeout=JOIN)
    with pytest.raises(TransportError, match="receive failed"):
        client.exchange(GET_VERSION)
    client.close()
    thread.join(JOIN)
    assert not thread.is_alive()


@pytest.mark.socket
def test_send_timeout() -> None:
    # Tiny buffers on both ends and a peer that never reads: sendall() blocks.
    with socket.socket() as silent:
        silent.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        client = EmuSocketClient(*silent.getsockname(), timeout=0.2)
        assert client._sock is not None
        client._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        with pytest.raises(TransportTimeout, match="sending"):
            client.exchange(encode_data_object(DataObject(1, 1, bytes(1 << 19))))
        client.close()


@pytest.mark.parametrize("port", [-1, 0x10000])
def test_ports_are_range_checked(port: int) -> None:
    with pytest.raises(ConfigurationError):
        EmuSocketClient("127.0.0.1", port)
    with pytest.raises(ConfigurationError):
        EmuSocketServer(lambda r: r, port=port)


@pytest.mark.parametrize("timeout", [0.0, -1.0])
def test_client_timeout_must_be_positive(timeout: float) -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        EmuSocketClient("127.0.0.1", 2323, timeout=timeout)


def test_unresolvable_server_address() -> None:
    with pytest.raises(TransportError, match="cannot create a listener"):
        EmuSocketServer(lambda r: r, host="::1%no-such-interface", port=0)
