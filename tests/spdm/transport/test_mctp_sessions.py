"""Sessions between our requester and our responder with MCTP's secured-record parameters.

Both engines take the binding's :class:`~spdm.secured.RecordFormat`
(``Requester(record_format=...)``, ``ResponderConfig.record_format``): every
record then carries the low two bytes of its sequence number after the
SessionID and the message-type byte inside, across handshake, data phase and
key updates; an engine left on DOE's parameters cannot talk to it.
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
from spdm.transport.mctp import MCTP_CAPTURE, MCTP_RECORDS
from tests.spdm.transport.binding_pair import connect


def test_a_whole_session_with_mctp_records() -> None:
    requester, pair = connect(MCTP_CAPTURE)
    [established] = [e for e in pair.run(requester.key_exchange) if isinstance(e, SessionEstablished)]
    sid = established.session_id
    assert isinstance(pair.run(lambda: requester.heartbeat(sid))[0], HeartbeatAcknowledged)
    assert pair.run(lambda: requester.key_update(sid, all_keys=True)) == [KeyUpdated(sid, True)]
    [meas] = pair.run(lambda: requester.get_measurements(session_id=sid))
    assert isinstance(meas, MeasurementsReceived) and meas.evidence is not None
    assert pair.run(lambda: requester.end_session(sid)) == [SessionEnded(sid)]
    wire = [int.from_bytes(r[4:6], "little") for r in pair.records]
    # FINISH/FINISH_RSP (handshake keys), then as in the reference's capture:
    # HEARTBEAT, KEY_UPDATE (its ACK under the new key), VerifyNewKey, GET_MEASUREMENTS, END_SESSION.
    assert wire == [0, 0] + [0, 0, 1, 0, 0, 1, 1, 2, 2, 3]
    assert all(int.from_bytes(r[6:8], "little") == len(r) - 8 for r in pair.records)


@pytest.mark.parametrize(("requester_format", "responder_format"),
                         [(DOE_RECORDS, MCTP_RECORDS), (MCTP_RECORDS, DOE_RECORDS)])
def test_mismatched_record_parameters_establish_no_session(requester_format: RecordFormat,
                                                           responder_format: RecordFormat) -> None:
    requester, pair = connect(MCTP_CAPTURE, requester_format, responder_format)
    with pytest.raises(DevsecError):
        pair.run(requester.key_exchange)
    assert not [s for s in requester.sessions.values() if s.phase is SessionPhase.ESTABLISHED]
