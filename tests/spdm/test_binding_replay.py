"""Replay of libspdm's DSP0287 TCP (``spdm12-p384-tcp``) and MCTP (``spdm12-p384-mctp``) captures.

* Our requester follows the reference responder: the passive
  :class:`~spdm.requester.follow.Follower` (the engine ``devsec dump`` runs),
  with each binding's record format (TCP: no wire sequence number, no padding,
  an inner binding header; MCTP: a 2-byte wire sequence number and random
  padding), takes the whole capture -- VCA, certificates of slots 0 and 1,
  CHALLENGE, signed MEASUREMENTS, and two KEY_EXCHANGE sessions with HEARTBEAT,
  KEY_UPDATE, in-session MEASUREMENTS and END_SESSION -- with every signature
  verified and all 20 secured records opened.
* Our responder answers the reference requester's out-of-session requests
  with the captured responses' codes, and its signatures verify over the
  transcripts of those captured requests.  The sessions are not replayed to
  our responder (the captured FINISH is bound to the reference's keys;
  tests/spdm/transport/test_binding_sessions.py runs our own sessions with
  these record formats).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spdm.config import DEFAULT_RESPONDER_CAPS, ResponderConfig
from spdm.device import DeviceModel
from spdm.errors import DecodeError, VerificationError
from spdm.events import (
    ChallengeAuthenticated,
    HeartbeatAcknowledged,
    KeyUpdated,
    MeasurementsReceived,
    SessionEnded,
    SessionEstablished,
)
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, MeasurementHashAlgo
from spdm.negotiation import AlgorithmPreferences
from spdm.responder import Responder
from spdm.secured import DOE_RECORDS, RecordFormat
from spdm.transport.mctp import MCTP_RECORDS
from spdm.transport.tcp_binding import TCP_RECORDS
from tests.vectors import follow_binding, replay_to_responder

SETS = {"spdm12-p384-tcp": TCP_RECORDS, "spdm12-p384-mctp": MCTP_RECORDS}
EACH_SET = pytest.mark.parametrize("name", SETS, ids=["tcp", "mctp"])


@EACH_SET
def test_our_requester_follows_the_whole_capture(name: str) -> None:
    followed = follow_binding(name)
    events = followed.events
    signed = [e for e in events if isinstance(e, ChallengeAuthenticated | MeasurementsReceived)]
    assert [type(e).__name__ for e in signed] == ["ChallengeAuthenticated"] + ["MeasurementsReceived"] * 3
    assert all(e.evidence is not None for e in signed)
    assert [e.session_id for e in events if isinstance(e, SessionEstablished)] == [0xFFFFFFFF] * 2
    assert sum(isinstance(e, HeartbeatAcknowledged) for e in events) == 2
    assert sum(isinstance(e, KeyUpdated) for e in events) == 2
    assert sum(isinstance(e, SessionEnded) for e in events) == 2
    assert len(followed.opened) == 20
    assert all(o.state.record_format is SETS[name] for o in followed.opened)


@EACH_SET
@pytest.mark.parametrize("record", [13, 21, 27])  # CHALLENGE_AUTH, MEASUREMENTS, a secured HEARTBEAT_ACK
def test_a_flipped_byte_is_refused(name: str, record: int) -> None:
    with pytest.raises(VerificationError):
        follow_binding(name, tamper=record)


def test_doe_record_parameters_cannot_open_the_mctp_records() -> None:
    # Read without its wire sequence number, the record's sequence number 0 passes for Length 0.
    with pytest.raises(DecodeError):
        follow_binding("spdm12-p384-mctp", record_format=DOE_RECORDS)


@EACH_SET
def test_our_responder_answers_the_reference_requests(name: str) -> None:
    model = DeviceModel.generate(BaseAsymAlgo.ECDSA_P384, slots=(0, 1))
    records: RecordFormat = SETS[name]
    config = ResponderConfig(capabilities=DEFAULT_RESPONDER_CAPS, record_format=records,
                             algorithms=AlgorithmPreferences(hash_algs=(BaseHashAlgo.SHA_384,),
                                                             asym_algs=(BaseAsymAlgo.ECDSA_P384,),
                                                             measurement_hash_algs=(MeasurementHashAlgo.SHA_384,)))
    events = replay_to_responder(name, Responder(config, model), now=datetime.now(UTC))
    signed = [e for e in events if isinstance(e, ChallengeAuthenticated | MeasurementsReceived)]
    assert [type(e).__name__ for e in signed] == ["ChallengeAuthenticated", "MeasurementsReceived"]
    assert all(e.evidence is not None for e in signed)
