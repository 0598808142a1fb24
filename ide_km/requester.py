"""The IDE_KM requester engine (sans-IO): query ports, program, start, stop and refresh key sets.

Drive it like the SPDM engines: a command queues one or more IDE_KM requests;
:meth:`IdeKmRequester.data_to_send` hands out the next request payload (carry
it in VENDOR_DEFINED_REQUEST inside the secured session, e.g.
``Requester.vendor_defined(3, b"\\x01\\x00", payload, session_id=...)``);
:meth:`IdeKmRequester.receive_data` takes the VENDOR_DEFINED_RESPONSE payload;
:meth:`IdeKmRequester.next_event` says what happened.  One request is
outstanding at a time; a multi-request command (six KEY_PROGs, three K_SET_GOs
per direction) queues its next request when the previous answer arrives, so
the caller can act on each event (program the host's root port with
:class:`~ide_km.events.KeySetProgrammed`'s keys) before sending on.

The sequence follows PROTOCOLS.md §8.3: KEY_PROG for PR, NPR, CPL x Rx then
Tx; K_SET_GO for the three Rx sub-streams before the three Tx ones (the host
side switches in between); K_SET_STOP in the same order.  Keys are fresh
256-bit values from ``rng`` and never logged; the IFV is always 1, the only
initial invocation field a device takes (TIV case 2.5).

Failures: a command that is illegal now raises
:class:`~spdm.errors.LocalProtocolError` and changes nothing.  A response that
does not decode, is the wrong object or does not echo the request's StreamID,
KeySet/RxTx/SubStream byte and PortIndex raises
:class:`~spdm.errors.DecodeError` or :class:`~ide_km.errors.ResponseMismatchError`
and poisons the engine.  A KP_ACK with a failure status is an event
(:class:`~ide_km.events.KeyProgrammingFailed`), as is an SPDM ERROR the
carrier reports through :meth:`IdeKmRequester.receive_error`; both drop the
rest of the command.

The engine satisfies :class:`spdm.engine.RequesterEngine`; it runs no timer
(:meth:`IdeKmRequester.get_timer` is always None).
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable

from spdm.errors import DevsecError, LocalProtocolError, RemoteProtocolError
from spdm.events import Event
from spdm.record import record

from .errors import ResponseMismatchError
from .events import (
    KeyProgrammingFailed,
    KeySetActivated,
    KeySetProgrammed,
    KeySetStopped,
    KeysRefreshed,
    PortQueried,
    ProgrammedKey,
    RequestRefused,
)
from .messages import (
    INITIAL_IFV,
    KEY_SIZE,
    Direction,
    IdeKmRequest,
    IdeKmResponse,
    KeyProg,
    KeySet,
    KeySubStream,
    KGoStopAck,
    KpAck,
    KpAckStatus,
    KSetGo,
    KSetStop,
    Query,
    QueryResp,
    SubStream,
    decode_response,
)

__all__ = ["BOTH_DIRECTIONS", "SUB_STREAMS", "IdeKmRequester"]

logger = logging.getLogger(__name__)

SUB_STREAMS = (SubStream.PR, SubStream.NPR, SubStream.CPL)
"""The order the sub-streams of one direction are programmed, started and stopped in."""

BOTH_DIRECTIONS = (Direction.RX, Direction.TX)
"""Rx first: the device must receive with a key set before the host transmits with it (§8.3)."""

_ANSWERS: dict[type[IdeKmRequest], type[IdeKmResponse]] = {
    Query: QueryResp, KeyProg: KpAck, KSetGo: KGoStopAck, KSetStop: KGoStopAck,
}


@record
class _Step:
    """One request of a command and what to do with its (checked) answer."""

    request: IdeKmRequest
    payload: bytes
    done: Callable[[IdeKmResponse], None]


class IdeKmRequester:
    """The host (TSM) side of IDE_KM for one device."""

    def __init__(self, *, rng: Callable[[int], bytes] = os.urandom) -> None:
        """Create an idle engine.

        Args:
            rng: source of key bytes (inject a deterministic one in tests only).
        """
        self._rng = rng
        self._steps: deque[_Step] = deque()
        self._outstanding: _Step | None = None
        self._events: deque[Event] = deque()
        self._poisoned: DevsecError | None = None
        self._active: dict[tuple[int, int], dict[Direction, KeySet]] = {}

    # ------------------------------------------------------------------ I/O surface

    def data_to_send(self) -> bytes:
        """The next IDE_KM request payload (b"" while a response is awaited or nothing is queued)."""
        if self._outstanding is not None or not self._steps:
            return b""
        step = self._steps.popleft()
        self._outstanding = step
        logger.debug("IDE_KM -> %s (%d bytes)", type(step.request).__name__, len(step.payload))
        return step.payload

    def receive_data(self, payload: bytes) -> None:
        """Process the VENDOR_DEFINED_RESPONSE payload answering the outstanding request.

        Raises:
            LocalProtocolError: nothing is outstanding, or the engine failed earlier.
            DecodeError: the payload is no IDE_KM response (engine poisoned).
            ResponseMismatchError: the wrong object, or fields not echoed (engine poisoned).
        """
        self._check_usable()
        step = self._outstanding
        if step is None:
            raise LocalProtocolError("an IDE_KM response arrived but no request is outstanding")
        try:
            response = decode_response(bytes(payload))
            _check_answer(step.request, response)
        except RemoteProtocolError as exc:
            self._poisoned = exc
            self._outstanding = None
            self._steps.clear()
            raise
        logger.debug("IDE_KM <- %s", type(response).__name__)
        self._outstanding = None
        step.done(response)

    def receive_error(self, error_code: int, error_data: int = 0) -> None:
        """The device answered the outstanding request with an SPDM ERROR (reported by the carrier).

        Emits :class:`~ide_km.events.RequestRefused` and drops the rest of the command.

        Raises:
            LocalProtocolError: nothing is outstanding, or the engine failed earlier.
        """
        self._check_usable()
        step = self._outstanding
        if step is None:
            raise LocalProtocolError("an ERROR arrived but no IDE_KM request is outstanding")
        name = step.request.OBJECT_ID.name
        logger.debug("IDE_KM %s refused with ERROR 0x%02x", name, error_code)
        self._outstanding = None
        self._steps.clear()
        self._events.append(RequestRefused(name, error_code, error_data))

    def get_timer(self) -> float | None:
        """Always None: IDE_KM waits for nothing on its own (the SPDM carrier times its exchanges)."""
        return None

    def handle_timer(self) -> None:
        """No timer runs, so none can expire.

        Raises:
            LocalProtocolError: always.
        """
        raise LocalProtocolError("the IDE_KM requester runs no timer")

    def next_event(self) -> Event | None:
        """The next event, or None when nothing more happened."""
        return self._events.popleft() if self._events else None

    @property
    def busy(self) -> bool:
        """A command is in progress (a request is outstanding or queued)."""
        return self._outstanding is not None or bool(self._steps)

    def active_key_set(self, stream_id: int, port_index: int = 0) -> KeySet | None:
        """The key set this engine last started in both directions of a stream (None: none runs)."""
        active = self._active.get((port_index, stream_id), {})
        rx, tx = active.get(Direction.RX), active.get(Direction.TX)
        return rx if rx is not None and rx == tx else None

    # ------------------------------------------------------------------ commands

    def query(self, port_index: int = 0) -> None:
        """Queue QUERY for a port; emits :class:`~ide_km.events.PortQueried`.

        Raises:
            LocalProtocolError: busy, failed earlier, or ``port_index`` out of range.
        """
        self._ready()
        self._steps.append(self._step(Query(port_index), self._queried))

    def program_key_set(self, stream_id: int, key_set: KeySet, port_index: int = 0) -> None:
        """Queue six KEY_PROGs with fresh keys for one key set of a stream.

        Emits :class:`~ide_km.events.KeySetProgrammed` (with the keys, for the
        host's own port) after the sixth KP_ACK, or
        :class:`~ide_km.events.KeyProgrammingFailed` at the first refusal.

        Raises:
            LocalProtocolError: busy, failed earlier, or an argument out of range.
        """
        self._ready()
        self._steps.extend(self._program_steps(stream_id, _key_set(key_set), port_index))

    def set_go(self, stream_id: int, key_set: KeySet, port_index: int = 0, *,
               direction: Direction | None = None) -> None:
        """Queue K_SET_GO for the three sub-streams of one direction, or of Rx then Tx.

        Emits :class:`~ide_km.events.KeySetActivated` once per direction.

        Raises:
            LocalProtocolError: busy, failed earlier, or an argument out of range.
        """
        self._ready()
        key_set = _key_set(key_set)
        steps: list[_Step] = []
        for d in _directions(direction):
            steps += self._go_steps(stream_id, key_set, port_index, d)
        self._steps.extend(steps)

    def set_stop(self, stream_id: int, key_set: KeySet, port_index: int = 0, *,
                 direction: Direction | None = None) -> None:
        """Queue K_SET_STOP for the three sub-streams of one direction, or of Rx then Tx.

        Emits :class:`~ide_km.events.KeySetStopped` once per direction.

        Raises:
            LocalProtocolError: busy, failed earlier, or an argument out of range.
        """
        self._ready()
        key_set = _key_set(key_set)
        steps: list[_Step] = []
        for d in _directions(direction):
            steps += self._stop_steps(stream_id, key_set, port_index, d)
        self._steps.extend(steps)

    def refresh(self, stream_id: int, port_index: int = 0) -> None:
        """Queue a key refresh: program the other key set while the current one runs, start it
        (Rx then Tx), stop the old one (Rx then Tx).

        Emits the events of those steps, then :class:`~ide_km.events.KeysRefreshed`.

        Raises:
            LocalProtocolError: busy, failed earlier, or no key set of this
                engine runs in both directions of the stream.
        """
        self._ready()
        current = self.active_key_set(stream_id, port_index)
        if current is None:
            raise LocalProtocolError(
                f"stream {stream_id} on port {port_index}: no key set runs in both directions to refresh")
        new = current.other
        steps = self._program_steps(stream_id, new, port_index)
        for d in BOTH_DIRECTIONS:
            steps += self._go_steps(stream_id, new, port_index, d)
        for d in BOTH_DIRECTIONS:
            steps += self._stop_steps(stream_id, current, port_index, d)
        last = steps[-1]
        stopped = last.done

        def finished(response: IdeKmResponse) -> None:
            stopped(response)
            self._events.append(KeysRefreshed(port_index, stream_id, new))

        last.done = finished
        self._steps.extend(steps)

    # ------------------------------------------------------------------ internals

    def _check_usable(self) -> None:
        if self._poisoned is not None:
            raise LocalProtocolError(
                f"this IDE_KM engine failed earlier and cannot be used: {self._poisoned}"
            ) from self._poisoned

    def _ready(self) -> None:
        """A new command may start: the engine is usable and idle."""
        self._check_usable()
        if self.busy:
            raise LocalProtocolError("an IDE_KM command is still in progress")

    @staticmethod
    def _step(request: IdeKmRequest, done: Callable[[IdeKmResponse], None]) -> _Step:
        return _Step(request, request.encode(), done)

    def _program_steps(self, stream_id: int, key_set: KeySet, port_index: int) -> list[_Step]:
        keys: list[ProgrammedKey] = []
        steps = []
        for direction in BOTH_DIRECTIONS:
            for sub_stream in SUB_STREAMS:
                key = self._rng(KEY_SIZE)
                keys.append(ProgrammedKey(direction, sub_stream, key, INITIAL_IFV))
                request = KeyProg(stream_id, KeySubStream(key_set, direction, sub_stream), port_index,
                                  key, INITIAL_IFV)
                steps.append(self._step(request, self._key_acked))
        last = steps[-1]

        def all_acked(response: IdeKmResponse) -> None:
            self._key_acked(response)
            if isinstance(response, KpAck) and response.status == KpAckStatus.SUCCESS:
                self._events.append(KeySetProgrammed(port_index, stream_id, key_set, tuple(keys)))

        last.done = all_acked
        return steps

    def _key_acked(self, response: IdeKmResponse) -> None:
        assert isinstance(response, KpAck)  # _check_answer made sure
        if response.status != KpAckStatus.SUCCESS:
            logger.debug("KEY_PROG refused: %s", response.status.name)
            self._steps.clear()
            self._events.append(KeyProgrammingFailed(
                response.port_index, response.stream_id, response.key_sub_stream, response.status))

    def _go_steps(self, stream_id: int, key_set: KeySet, port_index: int,
                  direction: Direction) -> list[_Step]:
        def activated(_: IdeKmResponse) -> None:
            self._active.setdefault((port_index, stream_id), {})[direction] = key_set
            self._events.append(KeySetActivated(port_index, stream_id, key_set, direction))

        return self._direction_steps(KSetGo, stream_id, key_set, port_index, direction, activated)

    def _stop_steps(self, stream_id: int, key_set: KeySet, port_index: int,
                    direction: Direction) -> list[_Step]:
        def stopped(_: IdeKmResponse) -> None:
            active = self._active.get((port_index, stream_id), {})
            if active.get(direction) == key_set:
                del active[direction]
            self._events.append(KeySetStopped(port_index, stream_id, key_set, direction))

        return self._direction_steps(KSetStop, stream_id, key_set, port_index, direction, stopped)

    def _direction_steps(self, kind: type[KSetGo] | type[KSetStop], stream_id: int, key_set: KeySet,
                         port_index: int, direction: Direction,
                         done: Callable[[IdeKmResponse], None]) -> list[_Step]:
        steps = [self._step(kind(stream_id, KeySubStream(key_set, direction, sub_stream), port_index),
                            _ignore)
                 for sub_stream in SUB_STREAMS]
        steps[-1].done = done
        return steps

    def _queried(self, response: IdeKmResponse) -> None:
        assert isinstance(response, QueryResp)  # _check_answer made sure
        self._events.append(PortQueried(
            response.port_index, response.dev_func_num, response.bus_num, response.segment,
            response.max_port_index, response.registers, response.raw))


def _ignore(_: IdeKmResponse) -> None:
    """The answer of a step in the middle of a direction needs nothing beyond its checks."""


def _key_set(value: int) -> KeySet:
    try:
        return KeySet(value)
    except ValueError as exc:
        raise LocalProtocolError(f"key set {value!r} is neither K0 nor K1") from exc


def _directions(direction: Direction | None) -> tuple[Direction, ...]:
    if direction is None:
        return BOTH_DIRECTIONS
    try:
        return (Direction(direction),)
    except ValueError as exc:
        raise LocalProtocolError(f"direction {direction!r} is neither Rx nor Tx") from exc


def _check_answer(request: IdeKmRequest, response: IdeKmResponse) -> None:
    """The response must be the request's answer and echo its addressing fields (§8.2).

    Raises:
        ResponseMismatchError: it is not, or does not.
    """
    expected = _ANSWERS[type(request)]
    if not isinstance(response, expected):
        raise ResponseMismatchError(
            f"{type(request).__name__} was answered by {type(response).__name__}")
    if isinstance(request, Query):
        assert isinstance(response, QueryResp)
        if response.port_index != request.port_index:
            raise ResponseMismatchError(
                f"QUERY for port {request.port_index} answered for port {response.port_index}")
        if response.max_port_index < response.port_index:
            raise ResponseMismatchError(
                f"QUERY_RESP for port {response.port_index} says MaxPortIndex is {response.max_port_index}")
        return
    for name in ("stream_id", "key_sub_stream", "port_index"):
        sent, echoed = getattr(request, name), getattr(response, name)
        if sent != echoed:
            raise ResponseMismatchError(
                f"{type(response).__name__} echoes {name} {echoed!r}, the request had {sent!r}")
