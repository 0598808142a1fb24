"""Sessions between our requester and our responder with the MCTP and DSP0287 TCP secured-record parameters.

Both engines take the binding's :class:`~spdm.secured.RecordFormat`
(``Requester(record_format=...)``, ``ResponderConfig.record_format``), across
handshake, data phase and key updates:

* MCTP: every record carries the low two bytes of its sequence number after
  the SessionID, and the message-type byte inside;
* TCP: no wire sequence number and no padding, and the application data starts
  with a type-0x05 binding header.

An engine left on DOE's parameters cannot talk to either.
"""

from __future__ import annotations

import pytest

from spdm.errors import DevsecError
from spdm.events import (
    HeartbeatAcknowledged,
    KeyUpdated,
    MeasurementsReceived,
    SessionEnded,
    SessionEstablished,
)
from spdm.secured import DOE_RECORDS, RecordFormat
from spdm.session import SessionPhase
from spdm.transport.binding import BindingCodec
from spdm.transport.mctp import MCTP_CAPTURE, MCTP_RECORDS
from spdm.transport.tcp_binding import TCP_CAPTURE, TCP_RECORDS
from tests.spdm.transport.binding_pair import connect


def whole_session(capture: BindingCodec) -> list[bytes]:
    """KEY_EXCHANGE, HEARTBEAT, KEY_UPDATE, GET_MEASUREMENTS and END_SESSION; the secured records sent."""
    requester, pair = connect(capture)
    [established] = [e for e in pair.run(requester.key_exchange) if isinstance(e, SessionEstablished)]
    sid = established.session_id
    assert isinstance(pair.run(lambda: requester.heartbeat(sid))[0], HeartbeatAcknowledged)
    assert pair.run(lambda: requester.key_update(sid, all_keys=True)) == [KeyUpdated(sid, True)]
    [meas] = pair.run(lambda: requester.get_measurements(session_id=sid))
    assert isinstance(meas, MeasurementsReceived) and meas.evidence is not None
    assert pair.run(lambda: requester.end_session(sid)) == [SessionEnded(sid)]
    return pair.records


def test_a_whole_session_with_mctp_records() -> None:
    records = whole_session(MCTP_CAPTURE)
    wire = [int.from_bytes(r[4:6], "little") for r in records]
    # FINISH/FINISH_RSP (handshake keys), then as in the reference's capture:
    # HEARTBEAT, KEY_UPDATE (its ACK under the new key), VerifyNewKey, GET_MEASUREMENTS, END_SESSION.
    assert wire == [0, 0] + [0, 0, 1, 0, 0, 1, 1, 2, 2, 3]
    assert all(int.from_bytes(r[6:8], "little") == len(r) - 8 for r in records)


def test_a_whole_session_with_tcp_records() -> None:
    records = whole_session(TCP_CAPTURE)
    # SessionID | Length | AEAD(AppDataLength | 06 00 01 05 | message) | MAC: Length follows the SessionID.
    assert len(records) == 12
    assert all(int.from_bytes(r[4:6], "little") == len(r) - 6 for r in records)


@pytest.mark.parametrize(("capture", "requester_format", "responder_format"), [
    (MCTP_CAPTURE, DOE_RECORDS, MCTP_RECORDS), (MCTP_CAPTURE, MCTP_RECORDS, DOE_RECORDS),
    (TCP_CAPTURE, DOE_RECORDS, TCP_RECORDS), (TCP_CAPTURE, TCP_RECORDS, DOE_RECORDS),
], ids=["mctp-requester-doe", "mctp-responder-doe", "tcp-requester-doe", "tcp-responder-doe"])
def test_mismatched_record_parameters_establish_no_session(
        capture: BindingCodec, requester_format: RecordFormat, responder_format: RecordFormat) -> None:
    requester, pair = connect(capture, requester_format, responder_format)
    with pytest.raises(DevsecError):
        pair.run(requester.key_exchange)
    assert not [s for s in requester.sessions.values() if s.phase is SessionPhase.ESTABLISHED]
