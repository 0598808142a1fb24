"""psp-proxy specifics: the host never sees a key, and a dying TSM or device fails cleanly.

The key-leak test records every byte that crosses the host — each frame to
and from the security-processor process, and each DOE object the host
exchanges with the device — through a whole connect / bind / accept /
refresh / unbind / disconnect, then collects, on the device (which shares
them), every secret of the link: the session's handshake and data secrets,
finished keys, exporter secret, record keys and IVs of both phases, the DHE
shared secret and the device's DHE private key, the IDE keys it was
programmed with (as given and as carried on the wire) and the TDISP start
nonces.  None may appear in the recording, raw or hex.  The same detector
is then shown to catch a security processor that leaks one key.

Then failures: the TSM process killed mid-connect, a device pulled
mid-connect, and the process's own handling of bad configuration and
commands (:func:`tsm.psp.serve` in-process).
"""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import fields
from typing import IO, Any, TypeVar

import pytest

import spdm.responder.session as responder_session
from devsec.emulator import SecureDevice
from ide_km.messages import KeyProg
from spdm.crypto import DheKeyPair, generate_dhe_key
from spdm.errors import DecodeError, LocalProtocolError, TransportError
from spdm.messages.codes import DheGroup, ResponseCode
from spdm.session import Session
from spdm.transport import DoeTransport
from spdm.transport.doe import decode_data_object
from tdisp.messages import TdiState
from tsm import LinkState, PspProxyTsm
from tsm.psp import serve
from tsm.psp_wire import Frame, FrameKind, encode_frame, read_frame, write_frame
from tsm.wire import Failed, decode_answer, encode_config

from .helpers import Board, leaks, leaky_command, model, new_board, tsm_config

T = TypeVar("T")

NONCE = bytes(range(0xA0, 0xC0))
SECURED_DOE_HEADER = bytes.fromhex("0100 02 00")
"""A DOE object of vendor PCI-SIG, type 2 (secured SPDM): how encrypted records cross the host."""


def within(seconds: float, call: Callable[[], T]) -> T:
    """Run ``call`` on a daemon thread; its result or exception, or fail the test if it hangs."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(("ok", call()))
        except BaseException as exc:  # handed back to the test thread
            outcome.append(("raised", exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        pytest.fail(f"still running after {seconds} s")
    kind, value = outcome[0]
    if kind == "raised":
        raise value
    result: T = value
    return result


@pytest.fixture(scope="module")
def shared() -> Iterator[PspProxyTsm]:
    """One security processor for the tests that do not kill it."""
    tsm = PspProxyTsm(tsm_config())
    yield tsm
    tsm.close()


# ------------------------------------------------------------------------------------ the key-leak test


class _RecordingDhe:
    """The device's DHE key, recording the shared secret it computes (and its own private value)."""

    def __init__(self, inner: DheKeyPair, secrets: DeviceSecrets) -> None:
        self._inner = inner
        self._secrets = secrets
        self.group: DheGroup = inner.group

    def public_bytes(self) -> bytes:
        return self._inner.public_bytes()

    def shared_secret(self, peer_public: bytes) -> bytes:
        secret = self._inner.shared_secret(peer_public)
        private = self._inner._key.private_numbers()
        value = private.private_value if hasattr(private, "private_value") else private.x
        self._secrets.add("DHE shared secret", secret)
        self._secrets.add("DHE private value", value.to_bytes((value.bit_length() + 7) // 8, "big"))
        return secret


class DeviceSecrets:
    """Every secret the device side of a link derives or is handed, recorded as it happens.

    Installed with ``monkeypatch``: wraps the session key schedule steps
    (every :class:`Session` in this process is the device's — with
    psp-proxy the requester's live in the other process), the responder's
    DHE key generation, and the device's IDE_KM KEY_PROG handler, each
    calling through to the real one.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, device: SecureDevice) -> None:
        self.values: dict[str, bytes] = {}
        start_handshake, establish = Session.start_handshake, Session.establish
        generate = generate_dhe_key  # the function the responder calls, until patched below
        key_prog = device.ide._key_prog

        def recording_start(session: Session, secret: bytes) -> Any:
            handshake = start_handshake(session, secret)
            self._phase(session, "handshake", handshake)
            return handshake

        def recording_establish(session: Session) -> None:
            establish(session)
            self._phase(session, "data", session._data)

        def recording_key_prog(payload: bytes, session_id: int) -> Any:
            request = KeyProg.decode(payload)
            name = f"IDE key stream {request.stream_id} {request.key_sub_stream!r}"
            self.add(name, request.key)
            self.add(name + " (wire order)", payload[8:40])
            return key_prog(payload, session_id)

        monkeypatch.setattr(Session, "start_handshake", recording_start)
        monkeypatch.setattr(Session, "establish", recording_establish)
        monkeypatch.setattr(responder_session, "generate_dhe_key",
                            lambda group: _RecordingDhe(generate(group), self))
        monkeypatch.setattr(device.ide, "_key_prog", recording_key_prog)

    def add(self, name: str, value: bytes) -> None:
        assert name not in self.values or self.values[name] == value, name
        self.values[name] = bytes(value)

    def _phase(self, session: Session, phase: str, secrets: Any) -> None:
        prefix = f"session {session.session_id:08x} {phase}"
        for f in fields(secrets):
            self.add(f"{prefix} {f.name}", getattr(secrets, f.name))
        keys = session.current_keys()
        for direction in ("request", "response"):
            state = getattr(keys, direction)
            self.add(f"{prefix} {direction} key", state.key)
            self.add(f"{prefix} {direction} iv", state.iv)


class Recording:
    """Every byte crossing the host: frames to/from the TSM process, DOE objects to/from the device."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.from_device: list[bytes] = []
        self.lock = threading.Lock()

    def tap(self, _direction: str, data: bytes) -> None:
        with self.lock:
            self.chunks.append(data)

    def relay(self, opener: Callable[[], DoeTransport]) -> Callable[[], DoeTransport]:
        recording = self

        class Relayed:
            def __init__(self) -> None:
                self.inner = opener()

            def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
                response = self.inner.exchange(request, timeout=timeout)
                recording.tap("to-device", request)
                recording.tap("from-device", response)
                recording.from_device.append(response)
                return response

            def close(self) -> None:
                self.inner.close()

        return Relayed

    @property
    def data(self) -> bytes:
        with self.lock:
            return b"".join(self.chunks)

    @property
    def certificate_portions(self) -> bytes:
        """The device's CERTIFICATE portions (SPDM in the clear, DOE type 1) joined in order."""
        portions = []
        for response in self.from_device:
            obj = decode_data_object(response)
            message = obj.payload
            if obj.object_type == 1 and message[1] == ResponseCode.CERTIFICATE:
                portions.append(message[8:8 + int.from_bytes(message[4:6], "little")])
        return b"".join(portions)


def run_the_whole_flow(tsm: PspProxyTsm, board: Board, secrets: DeviceSecrets) -> list[str]:
    """connect, bind two TDIs, accept one, refresh evidence, unbind, disconnect; the progress lines."""
    steps: list[str] = []
    info = tsm.connect(board.target, steps.append)
    assert info.state == LinkState.CONNECTED
    # The device's live session and stream hold exactly what the recorder saw.
    [session] = board.device.spdm.responder._conn.sessions.values()
    live = {session.current_keys().request.key, session.current_keys().response.key,
            session.export_master_secret}
    stream = board.device.ide._streams[0][0]
    live |= {key.key for slot in stream.slots.values() for key in slot.keys.values()}
    assert len(live) == 9 and live <= set(secrets.values.values())

    for tdi in board.tdis[1:]:
        tsm.bind(tdi, steps.append)
        secrets.add(f"TDISP start nonce {tdi.bdf}", board.device.tdisp._tdi(tdi.interface_id).nonce or b"")
    assert tsm.accept(board.tdis[1], steps.append).state == TdiState.RUN
    refreshed = tsm.refresh_evidence(board.dsm, NONCE, steps.append)
    assert refreshed.signatures[-1].requester_nonce == NONCE
    tsm.unbind(board.tdis[1], steps.append)
    assert tsm.disconnect(board.dsm, steps.append).state == LinkState.DISCONNECTED
    return steps


def test_no_key_ever_crosses_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    recording = Recording()
    board = new_board(3)
    board.opener = recording.relay(board.opener)
    secrets = DeviceSecrets(monkeypatch, board.device)
    tsm = PspProxyTsm(tsm_config(), tap=recording.tap)
    try:
        run_the_whole_flow(tsm, board, secrets)
    finally:
        tsm.close()

    names = set(secrets.values)
    # Everything a link has: one DHE session's two phases, six IDE keys, the start nonces.
    assert {"DHE shared secret", "DHE private value"} <= names
    for phase, kinds in (("handshake", ("handshake_secret", "request_secret", "response_secret",
                                        "request_finished_key", "response_finished_key")),
                         ("data", ("master_secret", "request_secret", "response_secret",
                                   "export_master_secret"))):
        for kind in (*kinds, "request key", "request iv", "response key", "response iv"):
            assert sum(n.endswith(f"{phase} {kind}") for n in names) == 1, (phase, kind)
    assert sum(n.startswith("IDE key") and not n.endswith("(wire order)") for n in names) == 6
    assert sum(n.startswith("TDISP start nonce") for n in names) == 2
    assert len(set(secrets.values.values())) == len(secrets.values)  # all distinct: nothing got lost

    data = recording.data
    # The recording is the real thing: the device's certificates in the clear, encrypted records,
    # the signed measurements over our nonce, the interface reports...
    assert all(c.der in recording.certificate_portions for c in model().slots[0].certificates)
    assert data.count(SECURED_DOE_HEADER) > 50
    assert NONCE.hex().encode() in data  # in the command to the TSM and the transcript it reported
    assert len(data) > 20_000
    assert leaks(data, secrets.values) == []


@pytest.mark.parametrize("how", ["raw", "hex"])
def test_the_detector_catches_a_leaking_security_processor(monkeypatch: pytest.MonkeyPatch,
                                                           how: str) -> None:
    recording = Recording()
    board = new_board(2)
    board.opener = recording.relay(board.opener)
    secrets = DeviceSecrets(monkeypatch, board.device)
    tsm = PspProxyTsm(tsm_config(), command=leaky_command(how), tap=recording.tap)
    try:
        steps: list[str] = []
        assert tsm.connect(board.target, steps.append).state == LinkState.CONNECTED
        assert any(step.startswith("debug:") for step in steps) == (how == "hex")
    finally:
        tsm.close()

    [leaked] = leaks(recording.data, secrets.values)
    assert leaked.endswith("data response key")


# ------------------------------------------------------------------------------------ the TSM process dies


@pytest.mark.parametrize("step", ["KEY_EXCHANGE", "IDE_KM"])
def test_killing_the_tsm_mid_connect_fails_cleanly(step: str) -> None:
    tsm = PspProxyTsm(tsm_config())
    board, later = new_board(), new_board()

    def progress(line: str) -> None:
        if step in line:
            tsm.process.kill()

    try:
        with pytest.raises(TransportError, match="TSM process exited during connect"):
            within(10, lambda: tsm.connect(board.target, progress))
        assert tsm.process.wait(5) is not None
        assert board.transports[0].closed  # the host let go of the device's mailbox
        # No half-written evidence, and every later call fails at once.
        with pytest.raises(LocalProtocolError):
            tsm.info(board.dsm)
        with pytest.raises(TransportError, match="TSM process has exited"):
            within(10, lambda: tsm.connect(later.target))
        assert later.transports[0].exchanges == 0
    finally:
        within(10, tsm.close)


def test_killing_the_tsm_fails_every_device_in_flight_and_close_does_not_hang() -> None:
    tsm = PspProxyTsm(tsm_config())
    connected, busy = new_board(), new_board()
    try:
        tsm.connect(connected.target)

        def progress(line: str) -> None:
            if "certificates" in line:
                tsm.process.kill()

        with pytest.raises(TransportError, match="exited"):
            within(10, lambda: tsm.connect(busy.target, progress))
        with pytest.raises(TransportError, match="exited"):
            within(10, lambda: tsm.bind(connected.tdis[0]))
        with pytest.raises(TransportError, match="exited"):
            within(10, lambda: tsm.info(connected.dsm))
    finally:
        within(10, tsm.close)
    assert connected.transports[0].closed


# ------------------------------------------------------------------------------------ a device dies


def exchanges_of_a_connect(shared: PspProxyTsm) -> int:
    board = new_board()
    shared.connect(board.target)
    return board.transports[0].exchanges


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.6, 0.95])
def test_a_device_pulled_mid_connect_fails_alone(shared: PspProxyTsm, fraction: float) -> None:
    total = exchanges_of_a_connect(shared)
    pulled, other = new_board(die_after=int(total * fraction)), new_board()

    with pytest.raises(TransportError, match="device is gone"):
        within(10, lambda: shared.connect(pulled.target))

    assert pulled.transports[0].closed
    with pytest.raises(LocalProtocolError):
        shared.info(pulled.dsm)
    # The security processor lives on and serves other devices...
    assert shared.process.poll() is None
    assert shared.connect(other.target).state == LinkState.CONNECTED
    assert shared.bind(other.tdis[1]).state == TdiState.CONFIG_LOCKED
    # ...and the pulled device itself once it is back.
    pulled.die_after = None
    assert shared.connect(pulled.target).state == LinkState.CONNECTED


# ------------------------------------------------------------------------------ the process's own checks


def frames(*items: Frame) -> io.BytesIO:
    return io.BytesIO(b"".join(encode_frame(f) for f in items))


def configure(**changes: object) -> Frame:
    doc = json.loads(encode_config(tsm_config()))
    doc["requester"].update({k: v for k, v in changes.items() if k in doc["requester"]})
    doc.update({k: v for k, v in changes.items() if k not in doc["requester"]})
    return Frame(FrameKind.CONFIGURE, 0, json.dumps(doc).encode())


def test_serve_answers_configure_with_ready_and_ends_with_the_host() -> None:
    out = io.BytesIO()
    serve(frames(configure()), out)
    assert out.getvalue() == encode_frame(Frame(FrameKind.READY, 0))
    empty = io.BytesIO()
    serve(io.BytesIO(b""), empty)
    assert empty.getvalue() == b""


@pytest.mark.parametrize(("first", "kind"), [
    (Frame(FrameKind.COMMAND, 1, b'{"op":"info","bdf":"0000:01:00.0"}'), None),
    (Frame(FrameKind.CONFIGURE, 0, b"{"), "DecodeError"),
    (Frame(FrameKind.CONFIGURE, 0, b"[]"), "DecodeError"),
    (configure(slot_id=None), "DecodeError"),
    (configure(versions=[0x99]), "DecodeError"),
    (configure(trust_anchors=["zz"]), "DecodeError"),
    (configure(trust_anchors=["3000"]), "DecodeError"),
    (configure(trust_anchors=[]), "ConfigurationError"),
], ids=["command first", "not json", "a list", "no slot", "unknown version", "anchor not hex",
        "anchor not a certificate", "no anchor"])
def test_serve_refuses_a_bad_start(first: Frame, kind: str | None) -> None:
    out = io.BytesIO()
    with pytest.raises(Exception) as raised:
        serve(frames(first), out)
    assert type(raised.value).__name__ == (kind or "DecodeError")
    answers = read_all(io.BytesIO(out.getvalue()))
    if kind is None:
        assert answers == []  # not even READY
    else:
        [failed] = answers
        assert (failed.kind, failed.tag, failure(failed).kind.rsplit(".")[-1]) == (FrameKind.FAILED, 0, kind)


def failure(frame: Frame) -> Any:
    """The error report a FAILED frame carries."""
    answer = decode_answer(frame.body)
    assert isinstance(answer, Failed)
    return answer.error


def read_all(stream: IO[bytes]) -> list[Frame]:
    found = []
    while (frame := read_frame(stream)) is not None:
        found.append(frame)
    return found


class Process:
    """:func:`serve` on a thread, spoken to through pipes as the host would."""

    def __init__(self) -> None:
        to_read, self._to = os.pipe()
        self._from, from_write = os.pipe()
        self.to = open(self._to, "wb")
        self.fro = open(self._from, "rb")
        self.error: BaseException | None = None
        inp, out = open(to_read, "rb"), open(from_write, "wb")

        def run() -> None:
            try:
                serve(inp, out)
            except BaseException as exc:
                self.error = exc
            finally:
                out.close()
                inp.close()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        self.send(configure())
        assert self.read().kind == FrameKind.READY

    def send(self, frame: Frame) -> None:
        write_frame(self.to, frame)

    def read(self) -> Frame:
        frame = within(10, lambda: read_frame(self.fro))
        assert frame is not None
        return frame

    def close(self) -> None:
        self.to.close()
        self.thread.join(10)
        self.fro.close()


@pytest.fixture
def process() -> Iterator[Process]:
    served = Process()
    yield served
    served.close()


@pytest.mark.parametrize(("body", "message"), [
    (b"{", "malformed TSM command"),
    (b'{"op": "reboot", "bdf": "0000:01:00.0"}', "unknown TSM command"),
    (b'{"op": "bind", "bdf": "0000:01:00.0"}', "unknown TSM command"),  # a TDI operation without its TDI
])
def test_a_bad_command_fails_alone(process: Process, body: bytes, message: str) -> None:
    process.send(Frame(FrameKind.COMMAND, 7, body))
    failed = process.read()
    assert (failed.kind, failed.tag) == (FrameKind.FAILED, 7)
    assert failure(failed).kind == "spdm.errors.DecodeError" and message in failure(failed).message
    # The process serves on.
    process.send(Frame(FrameKind.COMMAND, 8, b'{"op": "info", "bdf": "0000:01:00.0"}'))
    answer = process.read()
    assert (answer.kind, answer.tag, failure(answer).kind) == (FrameKind.FAILED, 8,
                                                               "spdm.errors.LocalProtocolError")


def test_a_doe_answer_nobody_waits_for_is_dropped(process: Process) -> None:
    process.send(Frame(FrameKind.DOE_RESPONSE, 99, b"\x01\x00\x01\x00"))
    process.send(Frame(FrameKind.COMMAND, 3, b'{"op": "info", "bdf": "0000:01:00.0"}'))
    assert process.read().tag == 3


def test_a_frame_only_the_tsm_sends_ends_the_process(process: Process) -> None:
    process.send(Frame(FrameKind.RESULT, 1, b"{}"))
    process.thread.join(10)
    assert isinstance(process.error, DecodeError) and "RESULT" in str(process.error)
