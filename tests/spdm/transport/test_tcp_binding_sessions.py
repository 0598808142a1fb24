"""Sessions between our requester and our responder with DSP0287 TCP's secured-record parameters.

Both engines take the binding's :class:`~spdm.secured.RecordFormat`
(``Requester(record_format=...)``, ``ResponderConfig.record_format``): every
record then has no wire sequence number and no padding, and its application
data starts with a type-0x05 binding header, across handshake, data phase
and key updates; an engine left on DOE's parameters cannot talk to it.
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
from spdm.transport.tcp_binding import TCP_CAPTURE, TCP_RECORDS
from tests.spdm.transport.binding_pair import connect


def test_a_whole_session_with_tcp_records() -> None:
    requester, pair = connect(TCP_CAPTURE)
    [established] = [e for e in pair.run(requester.key_exchange) if isinstance(e, SessionEstablished)]
    sid = established.session_id
    assert isinstance(pair.run(lambda: requester.heartbeat(sid))[0], HeartbeatAcknowledged)
    assert pair.run(lambda: requester.key_update(sid, all_keys=True)) == [KeyUpdated(sid, True)]
    [meas] = pair.run(lambda: requester.get_measurements(session_id=sid))
    assert isinstance(meas, MeasurementsReceived) and meas.evidence is not None
    assert pair.run(lambda: requester.end_session(sid)) == [SessionEnded(sid)]
    # SessionID | Length | AEAD(AppDataLength | 06 00 01 05 | message) | MAC: Length follows the SessionID.
    assert len(pair.records) == 12
    assert all(int.from_bytes(r[4:6], "little") == len(r) - 6 for r in pair.records)


@pytest.mark.parametrize(("requester_format", "responder_format"),
                         [(DOE_RECORDS, TCP_RECORDS), (TCP_RECORDS, DOE_RECORDS)])
def test_mismatched_record_parameters_establish_no_session(requester_format: RecordFormat,
                                                           responder_format: RecordFormat) -> None:
    requester, pair = connect(TCP_CAPTURE, requester_format, responder_format)
    with pytest.raises(DevsecError):
        pair.run(requester.key_exchange)
    assert not [s for s in requester.sessions.values() if s.phase is SessionPhase.ESTABLISHED]
