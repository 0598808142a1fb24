"""IDE_KM KEY_PROG / KP_ACK and K_SET_GO / K_SET_STOP cases (PCIe 6.x §6.33.3; PROTOCOLS.md §8).

Keys are fresh random bytes (a case never reuses one) for Stream ID 0 of
PortIndex 0: the stream every IDE_KM device that TDISP binds must have.
"""

from __future__ import annotations

import os

from ide_km.messages import (
    KEY_SIZE,
    Direction,
    KeyProg,
    KeySet,
    KeySubStream,
    KGoStopAck,
    KpAck,
    KpAckStatus,
    KSetGo,
    KSetStop,
    ObjectId,
    SubStream,
)
from spdm.errors import SpdmErrorCode

from .context import CaseContext
from .ide_km_channel import Carrier, carrier, decode_payload
from .ide_km_query import IDE_KM_MIN_VERSION, SESSION, query_port_zero
from .registry import case

__all__ = ["bad_port", "combinations", "go_before_prog", "go_stop", "program", "wrong_lengths"]
"""The case bodies (registered with :func:`.registry.case`) and :func:`program`, which TDISP cases reuse."""

CLAUSE = "PCIe 6.x §6.33.3"
STREAM_ID = 0


def _key_prog(sub: KeySubStream, port: int = 0) -> KeyProg:
    return KeyProg(stream_id=STREAM_ID, key_sub_stream=sub, port_index=port, key=os.urandom(KEY_SIZE))


def _slots(key_set: KeySet) -> list[KeySubStream]:
    return [KeySubStream(key_set, d, s) for d in Direction for s in SubStream]


def program(c: Carrier, key_set: KeySet = KeySet.K0, *, go: bool = True) -> None:
    """KEY_PROG all six keys of ``key_set`` on Stream 0 of port 0, then (when ``go``) K_SET_GO each.

    Raises:
        CaseAborted: a key was not acknowledged with status 0, or a GO not with K_GOSTOP_ACK.
    """
    for sub in _slots(key_set):
        ack = decode_payload(c.ctx, KpAck, c.send(_key_prog(sub)), ObjectId.KP_ACK)
        c.ctx.require(f"KEY_PROG {_name(sub)} is acknowledged with status 0",
                      ack.status == KpAckStatus.SUCCESS,
                      expected="Success (0)", actual=f"{ack.status.name} ({ack.status:d})", reference=CLAUSE)
    if go:
        for sub in _slots(key_set):
            decode_payload(c.ctx, KGoStopAck, c.send(KSetGo(STREAM_ID, sub, 0)), ObjectId.K_GOSTOP_ACK)


def _name(sub: KeySubStream) -> str:
    sub_name = SubStream(sub.sub_stream).name if sub.sub_stream in set(SubStream) else hex(sub.sub_stream)
    return f"{sub.key_set.name}/{sub.direction.name}/{sub_name}"


@case("ide_km.key-prog.combinations", "KEY_PROG for both key sets, both directions and all three "
      "sub-streams is acknowledged with status 0, echoing the stream, sub-stream byte and port", CLAUSE,
      min_version=IDE_KM_MIN_VERSION, needs=SESSION)
def combinations(ctx: CaseContext) -> None:
    with carrier(ctx) as c:
        query_port_zero(c)
        for key_set in KeySet:
            for sub in _slots(key_set):
                ack = decode_payload(ctx, KpAck, c.send(_key_prog(sub)), ObjectId.KP_ACK)
                ctx.equal(f"KP_ACK {_name(sub)} status is Success", KpAckStatus.SUCCESS, ack.status)
                ctx.equal(f"KP_ACK {_name(sub)} echoes the sub-stream byte", sub, ack.key_sub_stream)
                ctx.equal(f"KP_ACK {_name(sub)} echoes StreamID and PortIndex", (STREAM_ID, 0),
                          (ack.stream_id, ack.port_index))


@case("ide_km.key-prog.bad-port", "KEY_PROG for PortIndex beyond MaxPortIndex gets KP_ACK status 2 "
      "(unsupported PortIndex)", CLAUSE, min_version=IDE_KM_MIN_VERSION, needs=SESSION)
def bad_port(ctx: CaseContext) -> None:
    with carrier(ctx) as c:
        first = query_port_zero(c)
        if first.max_port_index == 0xFF:
            ctx.skip("MaxPortIndex is 255: no PortIndex lies beyond it")
        beyond = first.max_port_index + 1
        sub = KeySubStream(KeySet.K0, Direction.RX, SubStream.PR)
        ack = decode_payload(ctx, KpAck, c.send(_key_prog(sub, beyond)), ObjectId.KP_ACK)
        ctx.equal(f"KP_ACK for PortIndex {beyond} has status UNSUPPORTED_PORT_INDEX",
                  KpAckStatus.UNSUPPORTED_PORT_INDEX, ack.status)
        ctx.equal("KP_ACK echoes the PortIndex", beyond, ack.port_index)


@case("ide_km.key-prog.wrong-length", "KEY_PROG one DWORD short or long gets KP_ACK status 1 "
      "(incorrect length)", CLAUSE, min_version=IDE_KM_MIN_VERSION, needs=SESSION)
def wrong_lengths(ctx: CaseContext) -> None:
    with carrier(ctx) as c:
        query_port_zero(c)
        good = _key_prog(KeySubStream(KeySet.K0, Direction.TX, SubStream.NPR)).encode()
        for label, payload in (("short", good[:-4]), ("long", good + bytes(4))):
            ack = decode_payload(ctx, KpAck, c.send(payload), ObjectId.KP_ACK)
            ctx.equal(f"KP_ACK for a {len(payload)}-byte ({label}) KEY_PROG has status INCORRECT_LENGTH",
                      KpAckStatus.INCORRECT_LENGTH, ack.status)


@case("ide_km.k-set.go-before-prog", "K_SET_GO for a key set never programmed is refused",
      f"{CLAUSE}; PROTOCOLS.md §8 (ide_km.state)", min_version=IDE_KM_MIN_VERSION, needs=SESSION)
def go_before_prog(ctx: CaseContext) -> None:
    """K_GOSTOP_ACK has no status field: the refusal is an SPDM ERROR (devsec's model: UnexpectedRequest)."""
    with carrier(ctx) as c:
        query_port_zero(c)
        sub = KeySubStream(KeySet.K1, Direction.RX, SubStream.PR)
        c.expect_error("K_SET_GO before KEY_PROG is refused", c.send(KSetGo(STREAM_ID, sub, 0)),
                       (SpdmErrorCode.UNEXPECTED_REQUEST, SpdmErrorCode.INVALID_REQUEST))


@case("ide_km.k-set.go-stop", "After KEY_PROG, K_SET_GO and then K_SET_STOP are each acknowledged "
      "with K_GOSTOP_ACK echoing the request", CLAUSE, min_version=IDE_KM_MIN_VERSION, needs=SESSION)
def go_stop(ctx: CaseContext) -> None:
    with carrier(ctx) as c:
        query_port_zero(c)
        program(c, KeySet.K0, go=False)
        for request_type in (KSetGo, KSetStop):
            for sub in _slots(KeySet.K0):
                ack = decode_payload(ctx, KGoStopAck, c.send(request_type(STREAM_ID, sub, 0)),
                                     ObjectId.K_GOSTOP_ACK)
                ctx.equal(f"K_GOSTOP_ACK for {request_type.__name__} {_name(sub)} echoes the request",
                          (STREAM_ID, sub, 0), (ack.stream_id, ack.key_sub_stream, ack.port_index))
