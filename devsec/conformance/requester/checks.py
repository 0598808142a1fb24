"""Checking cases: a healthy device records every request and judges the requester's conduct.

Each case also asserts that the requester succeeded: a requester that fails
against a healthy device would pass every adversarial case for nothing.
Clause numbers follow DSP0274 1.3, as on the responder side.
"""

from __future__ import annotations

from spdm.errors import DecodeError, RemoteProtocolError
from spdm.messages import NONCE_SIZE, GetCapabilities, NegotiateAlgorithms, Version
from spdm.messages.codes import CapabilityFlags, RequestCode, ResponseCode, SpdmVersion
from spdm.responder.vca import check_requester_flags
from spdm.state import ConnectionState, next_state

from .context import RequesterContext
from .registry import case

__all__ = ["algorithms", "capabilities", "challenge_nonces", "measurement_nonces", "order", "version_first"]
"""The case judges (registered with :func:`.registry.case`; run them through the runner)."""

MIN_DATA_TRANSFER_SIZE = 42
"""DSP0274 1.2+ Table 11: the smallest DataTransferSize (a whole ERROR with its largest extended data)."""

_DEFINED_FLAGS = CapabilityFlags(sum(CapabilityFlags))
_SIGNATURE_REQUESTED = 0x01
"""GET_MEASUREMENTS Param1 bit 0: a signature is requested (and a nonce follows the header)."""


@case("requester.vca.version-first", "Every connection starts with GET_VERSION, sent at SPDM 1.0",
      "DSP0274 1.3 §9.2, §10.3")
def version_first(ctx: RequesterContext) -> None:
    for run in ctx.runs:
        ctx.succeeded(run)
        if not run.exchanges:
            ctx.check("the requester sends an SPDM request", False, expected="GET_VERSION",
                      actual="no request")
            continue
        first = run.exchanges[0]
        ctx.equal("the first request is GET_VERSION", f"0x{RequestCode.GET_VERSION:02x}",
                  f"0x{first.request[1]:02x}", exchange=first)
        ctx.equal("GET_VERSION carries SPDMVersion 1.0", 0x10, first.request[0], exchange=first)


def _listed_versions(ctx: RequesterContext) -> tuple[int, ...]:
    for exchange in ctx.exchanges:
        if exchange.response[1:2] == bytes([ResponseCode.VERSION]):
            return Version.decode(exchange.response, padded=True).versions
    return ()


def _flag_problem(flags: int, version: int) -> str:
    """Why the requester's flags break a dependency rule (the emulator's check, libspdm's rules)."""
    try:
        check_requester_flags(flags, SpdmVersion(version))
    except RemoteProtocolError as exc:
        return str(exc)
    return "consistent flags"


@case("requester.vca.capabilities", "GET_CAPABILITIES is laid out for its version, at a version the "
      "device listed, with defined and consistent flags and valid transfer sizes",
      "DSP0274 1.3 §10.4 Table 11")
def capabilities(ctx: RequesterContext) -> None:
    [run] = ctx.runs
    ctx.succeeded(run)
    requests = run.requests(RequestCode.GET_CAPABILITIES)
    if not ctx.check("the requester sends GET_CAPABILITIES", bool(requests), expected="GET_CAPABILITIES",
                     actual=f"requests {[hex(c) for c in run.codes]}"):
        return
    listed = _listed_versions(ctx)
    for exchange in requests:
        version = exchange.request[0]
        ctx.check("GET_CAPABILITIES is at a version VERSION listed", version in listed,
                  expected=f"one of {[hex(v) for v in listed]}", actual=version, exchange=exchange)
        try:
            request = GetCapabilities.decode(exchange.request, padded=True)
        except DecodeError as exc:
            ctx.check("GET_CAPABILITIES is well formed", False, expected=f"the SPDM {version:#x} layout",
                      actual=str(exc), exchange=exchange)
            continue
        if version >= 0x11:
            ctx.equal("no undefined flag is set", 0, request.flags & ~_DEFINED_FLAGS, exchange=exchange)
            ctx.equal("the flags are consistent", "consistent flags", _flag_problem(request.flags, version),
                      exchange=exchange)
        if version >= 0x12:
            ctx.check("DataTransferSize is at least 42", request.data_transfer_size >= MIN_DATA_TRANSFER_SIZE,
                      expected=f">= {MIN_DATA_TRANSFER_SIZE}", actual=request.data_transfer_size,
                      exchange=exchange)
            ctx.check("MaxSPDMmsgSize is at least DataTransferSize",
                      request.max_spdm_msg_size >= request.data_transfer_size,
                      expected=f">= {request.data_transfer_size}", actual=request.max_spdm_msg_size,
                      exchange=exchange)
        ctx.equal("the healthy device accepts it", f"0x{ResponseCode.CAPABILITIES:02x}",
                  f"0x{exchange.response[1]:02x}", exchange=exchange)


@case("requester.vca.algorithms", "NEGOTIATE_ALGORITHMS matches its Length, offers a hash and a signature "
      "algorithm, and lists its AlgStructs once each in ascending order", "DSP0274 1.3 §10.5 Table 14")
def algorithms(ctx: RequesterContext) -> None:
    [run] = ctx.runs
    ctx.succeeded(run)
    requests = run.requests(RequestCode.NEGOTIATE_ALGORITHMS)
    if not ctx.check("the requester sends NEGOTIATE_ALGORITHMS", bool(requests),
                     expected="NEGOTIATE_ALGORITHMS", actual=f"requests {[hex(c) for c in run.codes]}"):
        return
    caps = run.requests(RequestCode.GET_CAPABILITIES)
    for exchange in requests:
        if caps:
            ctx.equal("it is at GET_CAPABILITIES' version", caps[-1].request[0], exchange.request[0],
                      exchange=exchange)
        try:
            request = NegotiateAlgorithms.decode(exchange.request, padded=True)
        except DecodeError as exc:
            ctx.check("NEGOTIATE_ALGORITHMS is well formed (Length matches)", False,
                      expected="the layout of its version", actual=str(exc), exchange=exchange)
            continue
        ctx.check("BaseAsymAlgo offers an algorithm", request.base_asym_algo != 0, expected="non-zero",
                  actual=request.base_asym_algo, exchange=exchange)
        ctx.check("BaseHashAlgo offers an algorithm", request.base_hash_algo != 0, expected="non-zero",
                  actual=request.base_hash_algo, exchange=exchange)
        types = [s.alg_type for s in request.alg_structs]
        ctx.equal("AlgStructs are in ascending AlgType order, each once", sorted(set(types)), types,
                  exchange=exchange)
        ctx.equal("the healthy device accepts it", f"0x{ResponseCode.ALGORITHMS:02x}",
                  f"0x{exchange.response[1]:02x}", exchange=exchange)


@case("requester.vca.order", "Requests follow the connection state machine: VERSION, CAPABILITIES, "
      "ALGORITHMS, then the rest", "DSP0274 1.3 §9.2")
def order(ctx: RequesterContext) -> None:
    [run] = ctx.runs
    ctx.succeeded(run)
    state = ConnectionState.NOT_STARTED
    for exchange in run.clear:
        code = exchange.request[1]
        if code == RequestCode.RESPOND_IF_READY:
            continue
        after = next_state(state, code)
        ctx.check(f"request 0x{code:02x} is legal {state.value}", after is not None,
                  expected="a request the state allows", actual=f"0x{code:02x} {state.value}",
                  exchange=exchange)
        if after is None:
            return
        if exchange.response[1:2] != bytes([ResponseCode.ERROR]):
            state = after


def _fresh(ctx: RequesterContext, code: RequestCode, *, signed_only: bool) -> None:
    for run in ctx.runs:
        ctx.succeeded(run)
    requests = [e for e in ctx.exchanges if e.request[1:2] == bytes([code])
                and (not signed_only or e.request[2] & _SIGNATURE_REQUESTED)]
    if not requests:
        ctx.skip(f"the requester sent no {code.name}{' with a signature requested' if signed_only else ''}")
    seen: set[bytes] = set()
    for exchange in requests:
        nonce = exchange.request[4:4 + NONCE_SIZE]
        ctx.check("the nonce is not all zeroes", any(nonce), expected="random bytes", actual=nonce,
                  exchange=exchange)
        ctx.check("the nonce was not used before (in this run or an earlier one)", nonce not in seen,
                  expected="a fresh nonce", actual=f"{nonce.hex()} again", exchange=exchange)
        seen.add(nonce)


@case("requester.nonces.challenge", "Each CHALLENGE carries a fresh 32-byte nonce, across runs",
      "DSP0274 1.3 Table 32", runs=2)
def challenge_nonces(ctx: RequesterContext) -> None:
    _fresh(ctx, RequestCode.CHALLENGE, signed_only=False)


@case("requester.nonces.measurements", "Each signed GET_MEASUREMENTS carries a fresh 32-byte nonce, "
      "across runs", "DSP0274 1.3 Table 40", runs=2)
def measurement_nonces(ctx: RequesterContext) -> None:
    _fresh(ctx, RequestCode.GET_MEASUREMENTS, signed_only=True)
