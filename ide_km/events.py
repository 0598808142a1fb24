"""Events the IDE_KM requester emits (R5): frozen, slotted, past tense, keys never in ``repr``."""

from __future__ import annotations

from dataclasses import field

from spdm.events import Event
from spdm.record import record

from .messages import Direction, IdeRegisterBlock, KeySet, KeySubStream, KpAckStatus, SubStream

__all__ = [
    "KeyProgrammingFailed",
    "KeySetActivated",
    "KeySetProgrammed",
    "KeySetStopped",
    "KeysRefreshed",
    "PortQueried",
    "ProgrammedKey",
    "RequestRefused",
]


@record(frozen=True, slots=True)
class PortQueried(Event):
    """QUERY_RESP arrived.

    Attributes:
        port_index: the port it describes.
        dev_func_num / bus_num / segment: where the port sits.
        max_port_index: the highest PortIndex the device has.
        registers: the port's IDE register block.
        raw: the QUERY_RESP payload as received.
    """

    port_index: int
    dev_func_num: int
    bus_num: int
    segment: int
    max_port_index: int
    registers: IdeRegisterBlock
    raw: bytes = field(repr=False)


@record(frozen=True, slots=True)
class ProgrammedKey:
    """One key the device accepted: the host programs the same key into its own port.

    The device's Rx key is the key the host's root port transmits with, and the
    reverse: ``direction`` is the device port's point of view.

    Attributes:
        direction / sub_stream: which of the six keys of the set.
        key: AES-256-GCM key, FIPS byte order.  Secret: never log it.
        ifv: the initial invocation field value.
    """

    direction: Direction
    sub_stream: SubStream
    key: bytes = field(repr=False)
    ifv: int


@record(frozen=True, slots=True)
class KeySetProgrammed(Event):
    """All six keys (PR/NPR/CPL x Rx/Tx) of a key set were accepted (KP_ACK Success)."""

    port_index: int
    stream_id: int
    key_set: KeySet
    keys: tuple[ProgrammedKey, ...] = field(repr=False)


@record(frozen=True, slots=True)
class KeyProgrammingFailed(Event):
    """A KP_ACK refused a key (status != Success); the rest of the command was dropped."""

    port_index: int
    stream_id: int
    key_sub_stream: KeySubStream
    status: KpAckStatus


@record(frozen=True, slots=True)
class KeySetActivated(Event):
    """K_SET_GO was acknowledged for the three sub-streams of one direction."""

    port_index: int
    stream_id: int
    key_set: KeySet
    direction: Direction


@record(frozen=True, slots=True)
class KeySetStopped(Event):
    """K_SET_STOP was acknowledged for the three sub-streams of one direction."""

    port_index: int
    stream_id: int
    key_set: KeySet
    direction: Direction


@record(frozen=True, slots=True)
class KeysRefreshed(Event):
    """A key refresh finished: ``key_set`` runs both directions and the old set is stopped."""

    port_index: int
    stream_id: int
    key_set: KeySet


@record(frozen=True, slots=True)
class RequestRefused(Event):
    """The device answered an IDE_KM request with an SPDM ERROR; the rest of the command was dropped.

    Attributes:
        request: the refused object's name (``"KEY_PROG"``...).
        error_code / error_data: the ERROR response's Param1 and Param2.
    """

    request: str
    error_code: int
    error_data: int
