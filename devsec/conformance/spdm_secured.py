"""DSP0277 secured-message cases: a record failing authentication ends its session; a replay is refused.

Records are sealed by devsec's requester engine (its session keys and
sequence numbers), then sent by the case itself, changed or repeated, so the
suite never holds a key of its own.
"""

from __future__ import annotations

from spdm.errors import DevsecError, TransportError
from spdm.messages.codes import CapabilityFlags as F
from spdm.requester import Requester
from spdm.transport.doe import (
    PCI_SIG_VENDOR_ID,
    DataObject,
    DataObjectType,
    decode_data_object,
    encode_data_object,
)

from .context import CaseContext
from .registry import case
from .spdm_session import open_connection

__all__ = ["bad_tag", "replay", "send_record"]
"""The case bodies, and the record helper."""


def send_record(ctx: CaseContext, record: bytes) -> DataObject | None:
    """Send one secured record (DOE type 2); the device's answer, or None when it stayed silent."""
    obj = encode_data_object(DataObject(PCI_SIG_VENDOR_ID, DataObjectType.SECURED_SPDM, record))
    try:
        return decode_data_object(ctx.transport.exchange(obj))
    except TransportError:
        return None


def _describe(answer: DataObject | None) -> str:
    if answer is None:
        return "no answer"
    return f"a type-{answer.object_type} object of {len(answer.payload)} bytes"


def _heartbeat_record(ctx: CaseContext) -> tuple[Requester, bytes] | None:
    """A session opened by devsec's requester and its sealed HEARTBEAT record, not yet sent
    (None: the device opened no session, which the case has recorded)."""
    connection = open_connection(ctx, "the device opens a session")
    if connection is None:
        return None
    session = connection.open_session()
    requester = connection.driver.requester
    requester.heartbeat(session.session_id)
    return requester, requester.data_to_send()


def _no_sealed_answer(ctx: CaseContext, what: str, answer: DataObject | None) -> None:
    """Record that ``answer`` is no secured (type-2) object: the device dropped the record."""
    ctx.check(what, answer is None or answer.object_type != DataObjectType.SECURED_SPDM,
              expected="no type-2 object", actual=_describe(answer))


@case("spdm.secured.bad-tag", "A record whose MAC fails is refused and ends its session: the same "
      "request with a good MAC then gets no sealed answer", "DSP0277 1.2; PROTOCOLS.md §7", min_version=0x11,
      needs=F.KEY_EX_CAP | F.HBEAT_CAP)
def bad_tag(ctx: CaseContext) -> None:
    """Decision: after the bad record, the untouched record (same sequence number) must find no
    session; a device that kept the session would accept it."""
    opened = _heartbeat_record(ctx)
    if opened is None:
        return
    _, record = opened
    tampered = record[:-1] + bytes([record[-1] ^ 0x01])
    _no_sealed_answer(ctx, "the record with a bad MAC gets no sealed answer", send_record(ctx, tampered))
    _no_sealed_answer(ctx, "the session is gone after the bad MAC", send_record(ctx, record))


@case("spdm.secured.replay", "A replayed record (an old sequence number) gets no sealed answer",
      "DSP0277 1.2 (implicit sequence numbers); PROTOCOLS.md §7.3", min_version=0x11,
      needs=F.KEY_EX_CAP | F.HBEAT_CAP)
def replay(ctx: CaseContext) -> None:
    opened = _heartbeat_record(ctx)
    if opened is None:
        return
    requester, record = opened
    answer = send_record(ctx, record)
    if not ctx.check("the first HEARTBEAT record is answered sealed",
                     answer is not None and answer.object_type == DataObjectType.SECURED_SPDM,
                     expected="a type-2 object", actual=_describe(answer)):
        return
    assert answer is not None
    try:
        requester.receive_data(answer.payload, secured=True)
    except DevsecError as exc:
        ctx.check("HEARTBEAT_ACK opens", False, expected="a HEARTBEAT_ACK record", actual=str(exc))
        return
    _no_sealed_answer(ctx, "the replayed record gets no sealed answer", send_record(ctx, record))
