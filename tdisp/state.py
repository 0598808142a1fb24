"""The TDI state machine as data (PCIe 6.x §11.2 Figure 11-5, Table 11-3; PROTOCOLS.md §9.5).

Everything that decides which TDISP request is legal in which TDI state, and
where it leads, lives in this file; the device model and the requester only
look it up.  The file does not know which role it serves.

* :data:`TRANSITIONS` maps (state, request) to the next state.  A pair that
  is missing is refused with :data:`WRONG_STATE` (INVALID_INTERFACE_STATE),
  the error every request's table in §11.3 names for "TDI not in <state>".
* :data:`DURING_REPORT_READ` are the requests a TDI takes while a report is
  being read in portions (Table 11-27: INVALID_INTERFACE_STATE for "any
  command between multiple GET_DEVICE_INTERFACE_REPORT").
* :data:`FAULTS` is where a TDI goes when its locked configuration changes,
  the session that locked it ends, a bound IDE stream turns Insecure, or the
  function is reset (§11.2, §11.4.3, §11.4.5, §11.4.9).
* :data:`LOCKING_SESSION_ONLY` are the requests only the SPDM session that
  locked a TDI may make, and :data:`OTHER_SESSION` the error anyone else gets.
"""

from __future__ import annotations

from .errors import TdispErrorCode
from .messages.codes import TdispRequestCode, TdiState

__all__ = [
    "DURING_REPORT_READ",
    "FAULTS",
    "LOCKED",
    "LOCKING_SESSION_ONLY",
    "OTHER_SESSION",
    "TRANSITIONS",
    "WRONG_STATE",
    "next_state",
    "target_state",
]

_U = TdiState.CONFIG_UNLOCKED
_L = TdiState.CONFIG_LOCKED
_R = TdiState.RUN
_E = TdiState.ERROR
_ANY = (_U, _L, _R, _E)
_C = TdispRequestCode

TRANSITIONS: dict[tuple[TdiState, TdispRequestCode], TdiState] = {
    # Table 11-3 "N/A": version, capabilities and vendor requests do not depend on the TDI state.
    **{(s, _C.GET_TDISP_VERSION): s for s in _ANY},
    **{(s, _C.GET_TDISP_CAPABILITIES): s for s in _ANY},
    **{(s, _C.VDM_REQUEST): s for s in _ANY},
    **{(s, _C.GET_DEVICE_INTERFACE_STATE): s for s in _ANY},
    (_U, _C.LOCK_INTERFACE_REQUEST): _L,
    (_L, _C.GET_DEVICE_INTERFACE_REPORT): _L,
    (_R, _C.GET_DEVICE_INTERFACE_REPORT): _R,
    (_L, _C.START_INTERFACE_REQUEST): _R,
    # §11.2: CONFIG_UNLOCKED "must be entered from any other state in response to
    # STOP_INTERFACE_REQUEST", and Table 11-3 lists CONFIG_UNLOCKED among STOP's legal
    # states (the spdm-emu sample refuses it there; PROTOCOLS.md §11 #4).
    **{(s, _C.STOP_INTERFACE_REQUEST): _U for s in _ANY},
    (_R, _C.BIND_P2P_STREAM_REQUEST): _R,
    (_R, _C.UNBIND_P2P_STREAM_REQUEST): _R,
    (_R, _C.SET_MMIO_ATTRIBUTE_REQUEST): _R,
}
"""(TDI state, request) -> the TDI state after the request succeeds."""

WRONG_STATE = TdispErrorCode.INVALID_INTERFACE_STATE
"""The TDISP error for a request that :data:`TRANSITIONS` does not list."""

DURING_REPORT_READ = frozenset({
    _C.GET_DEVICE_INTERFACE_REPORT,
    # Always legal: the state query (Table 11-3 "all states") and STOP, which
    # §11.2 makes unconditional and which abandons the read.
    _C.GET_DEVICE_INTERFACE_STATE,
    _C.STOP_INTERFACE_REQUEST,
})
"""Requests a TDI accepts while a report read in portions is unfinished."""

LOCKED = frozenset({_L, _R})
"""The "locked" states (§11.2): the configuration is tracked and faults lead to ERROR."""

FAULTS: dict[TdiState, TdiState] = {_L: _E, _R: _E}
"""State -> state after a fault (config change, session end, stream Insecure, FLR); others stay put."""

LOCKING_SESSION_ONLY = frozenset({
    _C.GET_DEVICE_INTERFACE_REPORT,
    _C.STOP_INTERFACE_REQUEST,
    _C.BIND_P2P_STREAM_REQUEST,
    _C.UNBIND_P2P_STREAM_REQUEST,
    _C.SET_MMIO_ATTRIBUTE_REQUEST,
})
"""Requests about a locked TDI that only the session that locked it may make (§11.6.3: every
move of a TDI through its states comes from one session, and its report is that session's).

While the locking session lives, the TDI (and its report, which names the TVM's MMIO) belongs
to it: another session, even one of the same requester, neither reads the report nor stops,
binds or reconfigures the TDI.  START_INTERFACE_REQUEST is bound too, through its nonce (which
only the locking session learnt: INVALID_NONCE elsewhere).  The version, capability and
state queries stay open to every session: they describe the device, not the TVM's TDI.  Once
the locking session ends the TDI is in ERROR and unbound, so any session may STOP it."""

OTHER_SESSION = TdispErrorCode.INVALID_REQUEST
"""The TDISP error for a :data:`LOCKING_SESSION_ONLY` request from another session.

PCIe 6.x answers a request the DSM refuses for a reason other than the TDI's state, the
interface ID or the nonce with INVALID_REQUEST, as for a LOCK whose default stream was keyed
on another session (§11.3.8, TIV case 3.2).  INVALID_INTERFACE_STATE would be wrong: the TDI
is in a state where the request is legal, only not from this session."""


def next_state(state: TdiState, request: TdispRequestCode) -> TdiState | None:
    """The state ``request`` leads to from ``state``, or None when it is illegal there."""
    return TRANSITIONS.get((state, request))


def target_state(request: TdispRequestCode) -> TdiState | None:
    """The one state a successful ``request`` always ends in, or None when it does not move the TDI.

    A requester uses it to follow the TDI without asking: LOCK -> CONFIG_LOCKED,
    START -> RUN, STOP -> CONFIG_UNLOCKED.
    """
    targets = {after for (before, code), after in TRANSITIONS.items() if code == request and after != before}
    sources = {before for (before, code) in TRANSITIONS if code == request}
    if len(targets) == 1 and all(TRANSITIONS[(s, request)] in targets for s in sources):
        return next(iter(targets))
    return None
