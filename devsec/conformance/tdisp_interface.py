"""TDISP cases: version, capabilities, the TDI state machine, LOCK / START / STOP, session end (PCIe 6.x §11).

Every case opens its own session (:mod:`.ide_km_channel`), talks to the TDI
:attr:`~.ide_km_channel.Carrier.tdi`, and starts from CONFIG_UNLOCKED (a TDI a
previous case left in ERROR is STOPped first).  LOCK_INTERFACE needs the
default stream's IDE keys programmed on the locking session (PROTOCOLS.md
§9.5), so a case that locks first programs and starts Stream 0 over IDE_KM.
A device answering TDISP with SPDM ERROR UnsupportedRequest does not serve
it, and its cases are skipped saying so.  TDISP needs SPDM 1.2 (§11.2.2).
"""

from __future__ import annotations

from collections.abc import Callable

from ide_km.messages import Direction, KeySet, KeySubStream, KGoStopAck, KSetStop, ObjectId, SubStream
from tdisp.errors import TdispErrorCode, error_name
from tdisp.messages import (
    MANDATORY_REQUESTS,
    NONCE_SIZE,
    TDISP_VERSION_1_0,
    BindP2pStreamRequest,
    DeviceInterfaceState,
    GetDeviceInterfaceReport,
    GetDeviceInterfaceState,
    GetTdispCapabilities,
    GetTdispVersion,
    LockInterfaceFlags,
    LockInterfaceRequest,
    LockInterfaceResponse,
    SetMmioAttributeRequest,
    StartInterfaceRequest,
    StartInterfaceResponse,
    StopInterfaceRequest,
    StopInterfaceResponse,
    TdispCapabilities,
    TdispErrorMessage,
    TdispRequestCode,
    TdispResponseCode,
    TdispVersion,
    TdiState,
)

from .context import CaseContext
from .ide_km_channel import Carrier, carrier, decode_payload, describe, is_spdm_error, unserved
from .ide_km_keys import program
from .ide_km_query import SESSION, query_port_zero
from .registry import case

__all__ = [
    "capabilities", "expect_state", "expect_tdisp_error", "lock", "lock_flags", "locked", "optional_requests",
    "session_end", "start_nonce", "state", "stop", "stream_insecure", "tdisp_ready", "unlocked_refusals",
    "version", "version_mismatch",
]
"""The case bodies (registered with :func:`.registry.case`) and the helpers :mod:`.tdisp_report` shares."""

TDISP_MIN_VERSION = 0x12
STATE_TABLE = "PCIe 6.x §11.2 Table 11-3"
ERRORS = "PCIe 6.x §11.3.24 Table 11-27"
_R = TdispResponseCode
Body = Callable[[CaseContext], None]


def tdisp_ready(c: Carrier) -> TdispVersion:
    """GET_TDISP_VERSION for the TDI (skip when TDISP is not served), then STOP it if it is not unlocked.

    Raises:
        CaseSkipped: the device answers SPDM ERROR UnsupportedRequest.
        CaseAborted: no TDISP_VERSION, or the TDI does not return to CONFIG_UNLOCKED.
    """
    data = c.send(GetTdispVersion(c.tdi))
    if unserved(data):
        c.ctx.skip("the device does not serve TDISP: GET_TDISP_VERSION in a session gets SPDM ERROR "
                   "UnsupportedRequest")
    answer = decode_payload(c.ctx, TdispVersion, data, _R.TDISP_VERSION, reference="PCIe 6.x §11.3.5")
    if state(c) != TdiState.CONFIG_UNLOCKED:
        decode_payload(c.ctx, StopInterfaceResponse, c.send(StopInterfaceRequest(c.tdi)),
                       _R.STOP_INTERFACE_RESPONSE, reference="PCIe 6.x §11.3.16")
        c.ctx.require("the TDI is CONFIG_UNLOCKED after STOP", state(c) == TdiState.CONFIG_UNLOCKED,
                      expected="CONFIG_UNLOCKED", actual="another state", reference=STATE_TABLE)
    return answer


def state(c: Carrier) -> TdiState:
    """GET_DEVICE_INTERFACE_STATE's TDI_STATE.

    Raises:
        CaseAborted: no DEVICE_INTERFACE_STATE.
    """
    answer = decode_payload(c.ctx, DeviceInterfaceState, c.send(GetDeviceInterfaceState(c.tdi)),
                            _R.DEVICE_INTERFACE_STATE, reference="PCIe 6.x §11.3.13")
    return answer.tdi_state


def expect_tdisp_error(c: Carrier, what: str, data: bytes, codes: tuple[TdispErrorCode, ...],
                       reference: str = ERRORS) -> bool:
    """Record that ``data`` is a TDISP_ERROR with one of ``codes``."""
    expected = " or ".join(f"TDISP_ERROR {code.name}" for code in codes)
    actual = describe(data)
    passed = False
    if not is_spdm_error(data) and data[2:3] == bytes([_R.TDISP_ERROR]):
        try:
            error = TdispErrorMessage.decode(data)
        except Exception as exc:  # noqa: BLE001 - DecodeError; a malformed error is this rule's failure
            actual = f"a malformed TDISP_ERROR: {exc}"
        else:
            actual = f"TDISP_ERROR {error_name(error.error_code)}"
            passed = error.error_code in codes
    return c.ctx.check(what, passed, expected=expected, actual=actual, reference=reference)


def expect_state(c: Carrier, what: str, expected: TdiState) -> None:
    """Record that the TDI is in ``expected``."""
    actual = state(c)
    c.ctx.check(what, actual == expected, expected=expected.name, actual=actual.name, reference=STATE_TABLE)


def locked(c: Carrier) -> LockInterfaceResponse:
    """Key Stream 0 over IDE_KM, then LOCK_INTERFACE the TDI; its LOCK_INTERFACE_RESPONSE.

    Raises:
        CaseSkipped: the device serves no IDE_KM.
        CaseAborted: a step was refused.
    """
    query_port_zero(c)
    program(c)
    request = LockInterfaceRequest(c.tdi, default_stream_id=0)
    return decode_payload(c.ctx, LockInterfaceResponse, c.send(request), _R.LOCK_INTERFACE_RESPONSE,
                          reference="PCIe 6.x §11.3.8, §11.3.9")


def _tdisp_case(id: str, title: str, reference: str) -> Callable[[Body], Body]:
    return case(id, title, reference, min_version=TDISP_MIN_VERSION, needs=SESSION)


@_tdisp_case("tdisp.version.entries", "TDISP_VERSION is TDISPVersion 1.0, lists 1.0 and echoes the "
             "INTERFACE_ID", "PCIe 6.x §11.3.4, §11.3.5 Table 11-7")
def version(ctx: CaseContext) -> None:
    with carrier(ctx) as c:
        answer = tdisp_ready(c)
        ctx.equal("TDISP_VERSION carries TDISPVersion 0x10", TDISP_VERSION_1_0, answer.version)
        ctx.check("VERSION_NUM_ENTRY lists 1.0", TDISP_VERSION_1_0 in answer.version_num_entries,
                  expected="0x10 among the entries", actual=[hex(v) for v in answer.version_num_entries])
        ctx.equal("TDISP_VERSION echoes the INTERFACE_ID", c.tdi, answer.interface_id)


@_tdisp_case("tdisp.version.mismatch", "A TDISP request with TDISPVersion 2.0 gets TDISP_ERROR "
             "VERSION_MISMATCH", f"PCIe 6.x §11.3.1; {ERRORS}")
def version_mismatch(ctx: CaseContext) -> None:
    with carrier(ctx) as c:
        tdisp_ready(c)
        expect_tdisp_error(c, "GET_TDISP_CAPABILITIES at TDISPVersion 0x20 is refused",
                           c.send(GetTdispCapabilities(c.tdi, version=0x20)),
                           (TdispErrorCode.VERSION_MISMATCH,))


@_tdisp_case("tdisp.capabilities.mandatory", "TDISP_CAPABILITIES lists every mandatory request in "
             "REQ_MSGS_SUPPORTED", "PCIe 6.x §11.3.6, §11.3.7 Table 11-9")
def capabilities(ctx: CaseContext) -> None:
    with carrier(ctx) as c:
        tdisp_ready(c)
        caps = decode_payload(ctx, TdispCapabilities, c.send(GetTdispCapabilities(c.tdi)),
                              _R.TDISP_CAPABILITIES)
        missing = sorted(code.name for code in MANDATORY_REQUESTS - caps.req_msgs_supported)
        ctx.equal("every mandatory request is supported", [], missing)
        ctx.equal("TDISP_CAPABILITIES carries TDISPVersion 0x10", TDISP_VERSION_1_0, caps.version)


@_tdisp_case("tdisp.state.unlocked-refusals", "In CONFIG_UNLOCKED, GET_DEVICE_INTERFACE_REPORT and "
             "START_INTERFACE get INVALID_INTERFACE_STATE and the TDI stays unlocked", STATE_TABLE)
def unlocked_refusals(ctx: CaseContext) -> None:
    with carrier(ctx) as c:
        tdisp_ready(c)
        expect_tdisp_error(c, "GET_DEVICE_INTERFACE_REPORT in CONFIG_UNLOCKED is refused",
                           c.send(GetDeviceInterfaceReport(c.tdi, offset=0, length=0x100)),
                           (TdispErrorCode.INVALID_INTERFACE_STATE,))
        expect_tdisp_error(c, "START_INTERFACE in CONFIG_UNLOCKED is refused",
                           c.send(StartInterfaceRequest(c.tdi,
                                                        start_interface_nonce=bytes(NONCE_SIZE))),
                           (TdispErrorCode.INVALID_INTERFACE_STATE,))
        expect_state(c, "the TDI stays CONFIG_UNLOCKED", TdiState.CONFIG_UNLOCKED)


@_tdisp_case("tdisp.state.lock", "LOCK_INTERFACE moves CONFIG_UNLOCKED to CONFIG_LOCKED; a second LOCK "
             "gets INVALID_INTERFACE_STATE and the TDI stays locked", f"PCIe 6.x §11.3.8; {STATE_TABLE}")
def lock(ctx: CaseContext) -> None:
    with carrier(ctx) as c:
        tdisp_ready(c)
        locked(c)
        expect_state(c, "LOCK_INTERFACE leaves the TDI CONFIG_LOCKED", TdiState.CONFIG_LOCKED)
        expect_tdisp_error(c, "LOCK_INTERFACE in CONFIG_LOCKED is refused",
                           c.send(LockInterfaceRequest(c.tdi)),
                           (TdispErrorCode.INVALID_INTERFACE_STATE,))
        expect_state(c, "the refused LOCK leaves the TDI CONFIG_LOCKED", TdiState.CONFIG_LOCKED)


@_tdisp_case("tdisp.lock.flags", "LOCK_INTERFACE with a flag the device does not support gets "
             "INVALID_REQUEST and the TDI stays unlocked; each LOCK draws a new nonce",
             "PCIe 6.x §11.3.8, §11.3.9 Table 11-11")
def lock_flags(ctx: CaseContext) -> None:
    with carrier(ctx) as c:
        tdisp_ready(c)
        caps = decode_payload(ctx, TdispCapabilities, c.send(GetTdispCapabilities(c.tdi)),
                              _R.TDISP_CAPABILITIES)
        first = locked(c)
        decode_payload(ctx, StopInterfaceResponse, c.send(StopInterfaceRequest(c.tdi)),
                       _R.STOP_INTERFACE_RESPONSE)
        second = decode_payload(ctx, LockInterfaceResponse, c.send(LockInterfaceRequest(c.tdi)),
                                _R.LOCK_INTERFACE_RESPONSE)
        ctx.check("a new LOCK draws a new START_INTERFACE_NONCE",
                  second.start_interface_nonce != first.start_interface_nonce,
                  expected=f"not {first.start_interface_nonce.hex()}", actual=second.start_interface_nonce)
        decode_payload(ctx, StopInterfaceResponse, c.send(StopInterfaceRequest(c.tdi)),
                       _R.STOP_INTERFACE_RESPONSE)
        unsupported = [f for f in LockInterfaceFlags if not f & caps.lock_interface_flags_supported]
        if not unsupported:
            return  # the device honours every flag: nothing to refuse
        flag = unsupported[0]
        expect_tdisp_error(c, f"LOCK_INTERFACE with unsupported flag {flag.name} is refused",
                           c.send(LockInterfaceRequest(c.tdi, flags=flag)),
                           (TdispErrorCode.INVALID_REQUEST,), reference="PCIe 6.x §11.3.8")
        expect_state(c, "the refused LOCK leaves the TDI CONFIG_UNLOCKED", TdiState.CONFIG_UNLOCKED)


@_tdisp_case("tdisp.start.nonce", "START_INTERFACE with a wrong nonce gets INVALID_NONCE and leaves the "
             "TDI locked; with LOCK's nonce it moves to RUN, where LOCK and START are refused",
             f"PCIe 6.x §11.3.14; {STATE_TABLE}")
def start_nonce(ctx: CaseContext) -> None:
    with carrier(ctx) as c:
        tdisp_ready(c)
        nonce = locked(c).start_interface_nonce
        wrong = bytes([nonce[0] ^ 0x01]) + nonce[1:]
        expect_tdisp_error(c, "START_INTERFACE with a wrong nonce is refused",
                           c.send(StartInterfaceRequest(c.tdi, start_interface_nonce=wrong)),
                           (TdispErrorCode.INVALID_NONCE,))
        expect_state(c, "the refused START leaves the TDI CONFIG_LOCKED", TdiState.CONFIG_LOCKED)
        decode_payload(ctx, StartInterfaceResponse,
                       c.send(StartInterfaceRequest(c.tdi, start_interface_nonce=nonce)),
                       _R.START_INTERFACE_RESPONSE, reference="PCIe 6.x §11.3.15")
        expect_state(c, "START_INTERFACE moves the TDI to RUN", TdiState.RUN)
        expect_tdisp_error(c, "LOCK_INTERFACE in RUN is refused", c.send(LockInterfaceRequest(c.tdi)),
                           (TdispErrorCode.INVALID_INTERFACE_STATE,))
        expect_tdisp_error(c, "START_INTERFACE in RUN is refused (its nonce is spent)",
                           c.send(StartInterfaceRequest(c.tdi, start_interface_nonce=nonce)),
                           (TdispErrorCode.INVALID_INTERFACE_STATE, TdispErrorCode.INVALID_NONCE))
        expect_state(c, "the refusals leave the TDI in RUN", TdiState.RUN)


@_tdisp_case("tdisp.stop.locked-and-run", "STOP_INTERFACE returns a CONFIG_LOCKED and a RUN TDI to "
             "CONFIG_UNLOCKED with STOP_INTERFACE_RESPONSE", f"PCIe 6.x §11.3.16, §11.3.17; {STATE_TABLE}")
def stop(ctx: CaseContext) -> None:
    with carrier(ctx) as c:
        tdisp_ready(c)
        locked(c)  # keys Stream 0 for both LOCKs
        for goal in (TdiState.CONFIG_LOCKED, TdiState.RUN):
            if goal == TdiState.RUN:
                nonce = decode_payload(ctx, LockInterfaceResponse, c.send(LockInterfaceRequest(c.tdi)),
                                       _R.LOCK_INTERFACE_RESPONSE).start_interface_nonce
                decode_payload(ctx, StartInterfaceResponse,
                               c.send(StartInterfaceRequest(c.tdi, start_interface_nonce=nonce)),
                               _R.START_INTERFACE_RESPONSE)
            decode_payload(ctx, StopInterfaceResponse, c.send(StopInterfaceRequest(c.tdi)),
                           _R.STOP_INTERFACE_RESPONSE)
            expect_state(c, f"STOP_INTERFACE moves a {goal.name} TDI to CONFIG_UNLOCKED",
                         TdiState.CONFIG_UNLOCKED)


@_tdisp_case("tdisp.state.session-end", "When the session that locked a TDI ends, the TDI is in ERROR; "
             "STOP_INTERFACE brings it back to CONFIG_UNLOCKED", f"PCIe 6.x §11.4.5; {STATE_TABLE}")
def session_end(ctx: CaseContext) -> None:
    with carrier(ctx) as c:
        tdisp_ready(c)
        locked(c)
        c.reopen()
        expect_state(c, "the TDI locked by the ended session is in ERROR", TdiState.ERROR)
        decode_payload(ctx, StopInterfaceResponse, c.send(StopInterfaceRequest(c.tdi)),
                       _R.STOP_INTERFACE_RESPONSE)
        expect_state(c, "STOP_INTERFACE moves the ERROR TDI to CONFIG_UNLOCKED", TdiState.CONFIG_UNLOCKED)


@_tdisp_case("tdisp.state.stream-insecure", "When the default IDE stream of a locked TDI goes Insecure "
             "(K_SET_STOP of its running keys), the TDI is in ERROR", f"PCIe 6.x §11.2; {STATE_TABLE}")
def stream_insecure(ctx: CaseContext) -> None:
    with carrier(ctx) as c:
        tdisp_ready(c)
        locked(c)
        sub = KeySubStream(KeySet.K0, Direction.RX, SubStream.PR)
        decode_payload(ctx, KGoStopAck, c.send(KSetStop(0, sub, 0)), ObjectId.K_GOSTOP_ACK,
                       reference="PCIe 6.x §6.33.3")
        expect_state(c, "the TDI whose default stream went Insecure is in ERROR", TdiState.ERROR)


@_tdisp_case("tdisp.state.optional-requests", "BIND_P2P_STREAM and SET_MMIO_ATTRIBUTE, where "
             "advertised, get INVALID_INTERFACE_STATE in CONFIG_UNLOCKED", f"PCIe 6.x §11.3.18, §11.3.22; "
             f"{STATE_TABLE}")
def optional_requests(ctx: CaseContext) -> None:
    with carrier(ctx) as c:
        tdisp_ready(c)
        caps = decode_payload(ctx, TdispCapabilities, c.send(GetTdispCapabilities(c.tdi)),
                              _R.TDISP_CAPABILITIES)
        requests = {
            TdispRequestCode.BIND_P2P_STREAM_REQUEST: BindP2pStreamRequest(c.tdi, p2p_stream_id=1),
            TdispRequestCode.SET_MMIO_ATTRIBUTE_REQUEST: SetMmioAttributeRequest(c.tdi),
        }
        advertised = [code for code in requests if code in caps.req_msgs_supported]
        if not advertised:
            ctx.skip("TDISP_CAPABILITIES advertises neither BIND_P2P_STREAM_REQUEST nor "
                     "SET_MMIO_ATTRIBUTE_REQUEST")
        for code in advertised:
            expect_tdisp_error(c, f"{code.name} in CONFIG_UNLOCKED is refused", c.send(requests[code]),
                               (TdispErrorCode.INVALID_INTERFACE_STATE,))
        expect_state(c, "the refusals leave the TDI CONFIG_UNLOCKED", TdiState.CONFIG_UNLOCKED)
