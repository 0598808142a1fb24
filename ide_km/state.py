"""The key-set state machine of an IDE stream as data (PCIe 6.x §6.33.3; PROTOCOLS.md §8.3).

Everything that decides which key-programming request is legal for a key set,
and where it leads, lives in this file; the device model only looks it up.  The
file does not know which role it serves.

A stream has six slots (PR, NPR, CPL x Rx, Tx); in each slot each key set (K0,
K1) is in one :class:`KeySetState`:

* :data:`TRANSITIONS` maps (key set state, request ObjectID) to the state after
  the request succeeds.  A pair that is missing is refused, with the answer
  :data:`WRONG_STATE` names for that request: KEY_PROG of the key set that runs
  (program the other one to refresh) gets KP_ACK status 3; K_SET_GO of a key set
  whose key was never programmed (or was discarded) gets SPDM ERROR
  UnexpectedRequest, K_GOSTOP_ACK having no status field.
* :data:`DEMOTED`: a slot runs at most one key set, so when K_SET_GO starts one,
  the other one, if it ran, keeps its key but stops running.
* :data:`FAULTS`: where every key set goes when the stream loses its keys (the
  session that programmed them ends, an integrity check fails).

QUERY is not about a key set and is legal whatever the streams' states.
"""

from __future__ import annotations

from enum import Enum

from spdm.errors import SpdmErrorCode

from .messages.codes import KpAckStatus, ObjectId

__all__ = ["DEMOTED", "FAULTS", "TRANSITIONS", "WRONG_STATE", "KeySetState", "next_state"]


class KeySetState(Enum):
    """One key set of one slot (sub-stream and direction) of a stream."""

    EMPTY = "empty"
    """No key: never programmed, stopped, or discarded."""
    PROGRAMMED = "programmed"
    """KEY_PROG stored a key; the slot does not run with it."""
    ACTIVE = "active"
    """K_SET_GO started it: the slot encrypts or checks with this key."""


_EMPTY, _PROGRAMMED, _ACTIVE = KeySetState.EMPTY, KeySetState.PROGRAMMED, KeySetState.ACTIVE
_ANY = tuple(KeySetState)

TRANSITIONS: dict[tuple[KeySetState, ObjectId], KeySetState] = {
    # KEY_PROG stores a key (a second one replaces the first) unless the set runs.
    (_EMPTY, ObjectId.KEY_PROG): _PROGRAMMED,
    (_PROGRAMMED, ObjectId.KEY_PROG): _PROGRAMMED,
    # K_SET_GO needs this slot's key of the set; starting the running set again is harmless.
    (_PROGRAMMED, ObjectId.K_SET_GO): _ACTIVE,
    (_ACTIVE, ObjectId.K_SET_GO): _ACTIVE,
    # K_SET_STOP stops the set if it runs and discards its key, whatever its state.
    **{(s, ObjectId.K_SET_STOP): _EMPTY for s in _ANY},
}
"""(key set state, request) -> the key set's state after the request succeeds."""

WRONG_STATE: dict[ObjectId, KpAckStatus | SpdmErrorCode] = {
    ObjectId.KEY_PROG: KpAckStatus.UNSUPPORTED_VALUE,
    ObjectId.K_SET_GO: SpdmErrorCode.UNEXPECTED_REQUEST,
}
"""Request -> how it is refused when :data:`TRANSITIONS` does not list it for the key set's state:
a KP_ACK status, or the SPDM ERROR code (for an object whose answer has no status)."""

DEMOTED: dict[KeySetState, KeySetState] = {_ACTIVE: _PROGRAMMED}
"""State -> state of the slot's other key set when K_SET_GO starts one; others stay put."""

FAULTS: dict[KeySetState, KeySetState] = {_PROGRAMMED: _EMPTY, _ACTIVE: _EMPTY}
"""State -> state when the stream loses its keys (session ended, integrity failure); others stay put."""


def next_state(state: KeySetState, request: ObjectId) -> KeySetState | None:
    """The state ``request`` leads the key set to from ``state``, or None when it is illegal there."""
    return TRANSITIONS.get((state, request))
