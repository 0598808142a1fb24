"""The IDE_KM device model (sans-IO): the responder side of IDE_KM for a device's ports.

:meth:`IdeKmDevice.handle` has the vendor-handler signature of
``spdm.responder.Responder.register_vendor_handler`` (it gets the request
payload and the SessionID it came in, None in the clear, and returns the
response payload or raises a :class:`~spdm.errors.ProtocolError` the responder
answers with ERROR); :meth:`IdeKmDevice.session_ended` is a session listener
(``Responder.register_session_listener``).

Each port (PortIndex 0..MaxPortIndex) has an IDE register block; its link and
selective streams, by Stream ID, are what keys can be programmed for.  Every
stream has six slots (PR/NPR/CPL x Rx/Tx), each holding up to two programmed
key sets and at most one active (``K_SET_GO``) one.  A stream is **Secure**
when all six slots have an active key set, and goes back to Insecure on
K_SET_STOP of an active set, when the session that programmed it ends, or on
an integrity-check failure (:meth:`IdeKmDevice.report_integrity_failure`);
listeners registered with :meth:`IdeKmDevice.on_stream_insecure` hear of every
Secure -> Insecure change.

Rules and the answer each refusal gets (PROTOCOLS.md §8; TIV = intel/tee-io-validator cases;
which key-programming request is legal in which key-set state is the table of :mod:`ide_km.state`):

* IDE_KM in the clear: ERROR UnexpectedRequest.  SessionRequired (0x0B) only
  exists from SPDM 1.2 while IDE runs over 1.1 too, and the handler does not
  know the version; UnexpectedRequest is what the devsec responder already
  answers in-session-only requests sent in the clear with.
* Session binding: a stream belongs to the session that programmed its first
  key until that session ends.  While any stream is bound, IDE_KM requests of
  any other session (QUERY included) get ERROR UnexpectedRequest: TIV 5.1 wants
  them dropped, which a vendor handler cannot do, and a KP_ACK status would
  tell a stranger about the stream.
* KEY_PROG (answered with KP_ACK, checked in TIV's order): length other than
  48 bytes -> status 1; PortIndex > MaxPortIndex -> 2; unknown StreamID,
  sub-stream other than PR/NPR/CPL, IFV other than 1 (TIV 2.5), or the key set
  that is active for that slot (program the other one to refresh) -> 3.  No
  condition of the model maps to status 4 (a device-internal failure).
* QUERY for a PortIndex > MaxPortIndex: ERROR InvalidRequest.  QUERY_RESP has
  no status field to say "no such port" (PCIe §6.33 gives KEY_PROG a KP_ACK
  status for it and QUERY nothing), and answering with another port's
  registers would misdescribe the device; spdm-emu's sample answers any
  PortIndex (claiming MaxPortIndex 7 even for port 200), which TIV's
  ``MaxPortIndex >= PortIndex`` check would fail.
* K_SET_GO/K_SET_STOP for a port, stream or sub-stream the device lacks:
  ERROR InvalidRequest (K_GOSTOP_ACK has no status).  K_SET_GO for a key set
  whose key for that slot was never programmed (or was discarded): ERROR
  UnexpectedRequest.  Per slot, not per set: spdm-emu's requester (and our
  captures) start each sub-stream right after programming it.
* An ObjectID that names no request (CXL's GET_KEY 0x07, response objects):
  ERROR UnsupportedRequest with ErrorData 0xFE, as libspdm answers a vendor
  request its handler does not serve.  Malformed objects: InvalidRequest.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import field
from typing import Self

from spdm.errors import ConfigurationError, LocalProtocolError, SpdmErrorCode
from spdm.record import record

from .errors import (
    InvalidFieldError,
    KeySetNotProgrammedError,
    SessionMismatchError,
    UnsecuredRequestError,
    UnsupportedObjectError,
)
from .messages import (
    INITIAL_IFV,
    REQUEST_TYPES,
    Direction,
    IdeCapability,
    IdeKmResponse,
    IdeRegisterBlock,
    KeyProg,
    KeySet,
    KeySubStream,
    KGoStopAck,
    KpAck,
    KpAckStatus,
    KSetGo,
    KSetStop,
    ObjectId,
    Query,
    QueryResp,
    SelectiveStream,
    StreamControl,
    StreamState,
    StreamStatus,
    SubStream,
    object_id_of,
    peek_stream_header,
)
from .state import DEMOTED, FAULTS, WRONG_STATE, KeySetState, next_state

__all__ = ["KEY_PROG_SIZE", "IdeKmDevice", "IdeKmDeviceConfig", "PortConfig"]

logger = logging.getLogger(__name__)

KEY_PROG_SIZE = KeyProg.STRUCT.sizeof()
"""48: a KEY_PROG of any other length gets KP_ACK status 1."""


@record(frozen=True)
class PortConfig:
    """One port of the device model.

    Attributes:
        registers: the IDE register block QUERY_RESP reports (stream states
            are filled in live).  Its link and selective streams' Stream IDs
            are the streams keys can be programmed for.
        dev_func_num / bus_num / segment: QUERY_RESP's location fields.
        stream_ids: overrides the Stream IDs taken from ``registers``.  Only
            to model a device whose registers do not describe its streams:
            spdm-emu's sample reports an all-zero placeholder block yet takes
            keys for any stream (the capture replay configures it so).
    """

    registers: IdeRegisterBlock
    dev_func_num: int = 0
    bus_num: int = 0
    segment: int = 0
    stream_ids: frozenset[int] | None = None

    @classmethod
    def selective(cls, stream_ids: Sequence[int] = (0,), *, dev_func_num: int = 0, bus_num: int = 0,
                  segment: int = 0) -> Self:
        """A port with one selective IDE stream per Stream ID (IDE_KM supported, AES-GCM-256).

        Raises:
            ConfigurationError: no stream, or more than 256.
        """
        if not 1 <= len(stream_ids) <= 256:
            raise ConfigurationError(f"a port has 1 to 256 selective streams, not {len(stream_ids)}")
        registers = IdeRegisterBlock(
            capability=IdeCapability(selective_ide=True, ide_km=True,
                                     selective_stream_count=len(stream_ids)),
            selective_streams=tuple(SelectiveStream(control=StreamControl(stream_id=s)) for s in stream_ids),
        )
        return cls(registers, dev_func_num, bus_num, segment)

    def declared_stream_ids(self) -> list[int]:
        """The Stream IDs of the link and selective streams ``registers`` declares, in order."""
        links = [s.control.stream_id for s in self.registers.link_streams]
        return links + [s.control.stream_id for s in self.registers.selective_streams]


@record(frozen=True)
class IdeKmDeviceConfig:
    """The device model's ports, PortIndex 0 first (MaxPortIndex = len(ports) - 1)."""

    ports: tuple[PortConfig, ...]


@record
class _Key:
    key: bytes = field(repr=False)
    ifv: int


def _all_empty() -> dict[KeySet, KeySetState]:
    return dict.fromkeys(KeySet, KeySetState.EMPTY)


@record
class _Slot:
    """One sub-stream and direction of a stream: each key set's state (:mod:`ide_km.state`) and key."""

    states: dict[KeySet, KeySetState] = field(default_factory=_all_empty)
    keys: dict[KeySet, _Key] = field(default_factory=dict)

    @property
    def active(self) -> KeySet | None:
        """The key set the slot runs with, if any."""
        return next((k for k, state in self.states.items() if state is KeySetState.ACTIVE), None)

    def enter(self, key_set: KeySet, state: KeySetState) -> None:
        """Move ``key_set`` to ``state``; starting it demotes the other set, emptying it drops its key."""
        if state is KeySetState.ACTIVE:
            other = self.states[key_set.other]
            self.states[key_set.other] = DEMOTED.get(other, other)
        self.states[key_set] = state
        self._drop_empty()

    def fault(self) -> None:
        """The stream lost its keys."""
        for key_set, state in self.states.items():
            self.states[key_set] = FAULTS.get(state, state)
        self._drop_empty()

    def _drop_empty(self) -> None:
        for key_set, state in self.states.items():
            if state is KeySetState.EMPTY:
                self.keys.pop(key_set, None)


class _Stream:
    def __init__(self) -> None:
        self.slots = {(d, s): _Slot() for d in Direction for s in SubStream}
        self.session: int | None = None

    @property
    def secure(self) -> bool:
        return all(slot.active is not None for slot in self.slots.values())

    def discard_keys(self) -> None:
        for slot in self.slots.values():
            slot.fault()


class IdeKmDevice:
    """The device (DSM) side of IDE_KM: answers requests, tracks every stream's keys and state."""

    def __init__(self, config: IdeKmDeviceConfig) -> None:
        """Create the model with every stream Insecure and no keys.

        Raises:
            ConfigurationError: no port or more than 256, a Stream ID out of
                0..255, or two streams of a port with one Stream ID.
        """
        if not 1 <= len(config.ports) <= 256:
            raise ConfigurationError(f"a device has 1 to 256 ports, not {len(config.ports)}")
        self.config = config
        self._streams: list[dict[int, _Stream]] = []
        for index, port in enumerate(config.ports):
            ids = sorted(port.stream_ids) if port.stream_ids is not None else port.declared_stream_ids()
            if len(set(ids)) != len(ids) or not all(0 <= i <= 0xFF for i in ids):
                raise ConfigurationError(f"port {index}: Stream IDs {ids} are not distinct bytes")
            self._streams.append({i: _Stream() for i in ids})
        self._insecure_listeners: list[Callable[[int, int], None]] = []

    @property
    def max_port_index(self) -> int:
        """The highest PortIndex (QUERY_RESP's MaxPortIndex)."""
        return len(self.config.ports) - 1

    # ------------------------------------------------------------------ SPDM responder hooks

    def handle(self, payload: bytes, session_id: int | None) -> bytes:
        """Answer one IDE_KM request (the vendor handler for PCI-SIG Protocol ID 0x00).

        Args:
            payload: the VENDOR_DEFINED_REQUEST payload, Protocol ID first.
            session_id: the secured session it came in, None in the clear.

        Returns:
            The response payload (QUERY_RESP, KP_ACK or K_GOSTOP_ACK).

        Raises:
            RemoteProtocolError: a refusal, with the SPDM ``error_code`` to
                answer (see the module docstring); DecodeError (InvalidRequest)
                for malformed bytes.  Any other exception is a bug.
        """
        payload = bytes(payload)
        if session_id is None:
            raise UnsecuredRequestError("IDE_KM is only honoured inside a secured SPDM session")
        object_id = object_id_of(payload)
        cls = REQUEST_TYPES.get(object_id)
        if cls is None:
            raise UnsupportedObjectError(f"IDE_KM ObjectID 0x{object_id:02x} is not a request we serve")
        owner = self._owner()
        if owner is not None and owner != session_id:
            raise SessionMismatchError(
                f"IDE_KM belongs to session 0x{owner:08x} until it ends; refused for 0x{session_id:08x}")
        logger.debug("IDE_KM %s in session 0x%08x", ObjectId(object_id).name, session_id)
        response: IdeKmResponse
        if cls is KeyProg:
            response = self._key_prog(payload, session_id)
        else:
            request = cls.decode(payload)
            if isinstance(request, Query):
                response = self._query(request)
            else:
                assert isinstance(request, KSetGo | KSetStop)
                response = self._go_stop(request)
        return response.encode()

    def session_ended(self, session_id: int) -> None:
        """A session ended: the streams it programmed lose their keys and go Insecure."""
        for port_index, streams in enumerate(self._streams):
            for stream_id, stream in streams.items():
                if stream.session == session_id:
                    was_secure = stream.secure
                    stream.discard_keys()
                    stream.session = None
                    logger.info("port %d stream %d released: session 0x%08x ended",
                                port_index, stream_id, session_id)
                    self._changed(port_index, stream_id, was_secure, stream)

    # ------------------------------------------------------------------ what TDISP and tests ask

    def ports_with_stream(self, stream_id: int) -> tuple[int, ...]:
        """The PortIndex of every port that has a stream with this Stream ID, ascending."""
        return tuple(index for index, streams in enumerate(self._streams) if stream_id in streams)

    def stream_state(self, port_index: int, stream_id: int) -> StreamState:
        """Secure when all six keys of the stream run, else Insecure.

        Raises:
            LocalProtocolError: no such port or stream.
        """
        return StreamState.SECURE if self._lookup(port_index, stream_id).secure else StreamState.INSECURE

    def stream_session(self, port_index: int, stream_id: int) -> int | None:
        """The session that programmed the stream's keys (None: no key is bound to a session).

        Raises:
            LocalProtocolError: no such port or stream.
        """
        return self._lookup(port_index, stream_id).session

    def active_key_set(self, port_index: int, stream_id: int) -> KeySet | None:
        """The key set active in all six slots of the stream, or None (stopped, or mid-switch).

        Raises:
            LocalProtocolError: no such port or stream.
        """
        actives = {slot.active for slot in self._lookup(port_index, stream_id).slots.values()}
        return actives.pop() if len(actives) == 1 else None

    def on_stream_insecure(self, callback: Callable[[int, int], None]) -> None:
        """Call ``callback(port_index, stream_id)`` whenever a stream leaves the Secure state."""
        self._insecure_listeners.append(callback)

    def report_integrity_failure(self, port_index: int, stream_id: int) -> None:
        """The link reported an IDE integrity-check failure on a stream: it drops to Insecure and
        its keys are discarded (the stream stays bound to its session, which may program it anew).

        Raises:
            LocalProtocolError: no such port or stream.
        """
        stream = self._lookup(port_index, stream_id)
        was_secure = stream.secure
        stream.discard_keys()
        logger.info("port %d stream %d: integrity check failure", port_index, stream_id)
        self._changed(port_index, stream_id, was_secure, stream)

    # ------------------------------------------------------------------ request handlers

    def _query(self, request: Query) -> QueryResp:
        if request.port_index > self.max_port_index:
            raise InvalidFieldError(
                f"QUERY for port {request.port_index}; MaxPortIndex is {self.max_port_index}")
        port = self.config.ports[request.port_index]
        return QueryResp(request.port_index, port.dev_func_num, port.bus_num, port.segment,
                         self.max_port_index, self._live_registers(request.port_index))

    def _key_prog(self, payload: bytes, session_id: int) -> KpAck:
        stream_id, key_sub_stream, port_index = peek_stream_header(payload)

        def ack(status: KpAckStatus) -> KpAck:
            if status != KpAckStatus.SUCCESS:
                logger.debug("KEY_PROG refused: %s", status.name)
            return KpAck(stream_id, status, key_sub_stream, port_index)

        if len(payload) != KEY_PROG_SIZE:
            return ack(KpAckStatus.INCORRECT_LENGTH)
        if port_index > self.max_port_index:
            return ack(KpAckStatus.UNSUPPORTED_PORT_INDEX)
        request = KeyProg.decode(payload)
        stream = self._streams[port_index].get(stream_id)
        if stream is None or not key_sub_stream.valid or request.ifv != INITIAL_IFV:
            return ack(KpAckStatus.UNSUPPORTED_VALUE)
        slot = stream.slots[key_sub_stream.direction, SubStream(key_sub_stream.sub_stream)]
        after = next_state(slot.states[key_sub_stream.key_set], ObjectId.KEY_PROG)
        if after is None:
            refusal = WRONG_STATE[ObjectId.KEY_PROG]
            assert isinstance(refusal, KpAckStatus)
            return ack(refusal)
        slot.keys[key_sub_stream.key_set] = _Key(request.key, request.ifv)
        slot.enter(key_sub_stream.key_set, after)
        if stream.session is None:
            stream.session = session_id
            logger.info("port %d stream %d bound to session 0x%08x", port_index, stream_id, session_id)
        return ack(KpAckStatus.SUCCESS)

    def _go_stop(self, request: KSetGo | KSetStop) -> KGoStopAck:
        stream, slot = self._slot(request.port_index, request.stream_id, request.key_sub_stream)
        key_set = request.key_sub_stream.key_set
        was_secure = stream.secure
        after = next_state(slot.states[key_set], request.OBJECT_ID)
        if after is None:
            refusal = WRONG_STATE[request.OBJECT_ID]
            assert isinstance(refusal, SpdmErrorCode)
            raise KeySetNotProgrammedError(
                f"{request.OBJECT_ID.name}: no {key_set.name} key programmed for stream {request.stream_id} "
                f"{_slot_name(request.key_sub_stream)}", error_code=refusal)
        slot.enter(key_set, after)
        self._changed(request.port_index, request.stream_id, was_secure, stream)
        return KGoStopAck(request.stream_id, request.key_sub_stream, request.port_index)

    # ------------------------------------------------------------------ internals

    def _owner(self) -> int | None:
        for streams in self._streams:
            for stream in streams.values():
                if stream.session is not None:
                    return stream.session
        return None

    def _lookup(self, port_index: int, stream_id: int) -> _Stream:
        if not 0 <= port_index <= self.max_port_index:
            raise LocalProtocolError(f"no port {port_index}")
        stream = self._streams[port_index].get(stream_id)
        if stream is None:
            raise LocalProtocolError(f"port {port_index} has no stream {stream_id}")
        return stream

    def _slot(self, port_index: int, stream_id: int, key_sub_stream: KeySubStream) -> tuple[_Stream, _Slot]:
        if port_index > self.max_port_index:
            raise InvalidFieldError(f"PortIndex {port_index} > MaxPortIndex {self.max_port_index}")
        stream = self._streams[port_index].get(stream_id)
        if stream is None:
            raise InvalidFieldError(f"port {port_index} has no stream {stream_id}")
        if not key_sub_stream.valid:
            raise InvalidFieldError(f"sub-stream {key_sub_stream.sub_stream} is not PR, NPR or CPL")
        return stream, stream.slots[key_sub_stream.direction, SubStream(key_sub_stream.sub_stream)]

    def _changed(self, port_index: int, stream_id: int, was_secure: bool, stream: _Stream) -> None:
        if stream.secure and not was_secure:
            logger.info("port %d stream %d is Secure", port_index, stream_id)
        elif was_secure and not stream.secure:
            logger.info("port %d stream %d is Insecure", port_index, stream_id)
            for listener in list(self._insecure_listeners):
                listener(port_index, stream_id)

    def _live_registers(self, port_index: int) -> IdeRegisterBlock:
        """The configured register block with each stream's Status state as it is now."""
        registers = self.config.ports[port_index].registers
        streams = self._streams[port_index]

        def status(control: StreamControl, current: StreamStatus) -> StreamStatus:
            stream = streams.get(control.stream_id)
            state = StreamState.SECURE if stream is not None and stream.secure else StreamState.INSECURE
            return dataclasses.replace(current, state=state)

        return dataclasses.replace(
            registers,
            link_streams=tuple(dataclasses.replace(s, status=status(s.control, s.status))
                               for s in registers.link_streams),
            selective_streams=tuple(dataclasses.replace(s, status=status(s.control, s.status))
                                    for s in registers.selective_streams),
        )


def _slot_name(key_sub_stream: KeySubStream) -> str:
    return f"{Direction(key_sub_stream.direction).name} {SubStream(key_sub_stream.sub_stream).name}"
