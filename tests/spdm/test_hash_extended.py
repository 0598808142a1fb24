"""The MEL and the hash-extended measurement it extends (spdm.hash_extended), on libspdm's own bytes.

libspdm's sample device keeps one MEL (three entries, all extended into
measurement 0x11) and reports that measurement as a hash-extended digest.  Its
MEL is in the endpoint capture and its signed measurements in the chunking
capture (the same sample device, SHA-384): the extension of the one must be
the value of the other.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from spdm.config import DEFER_TRUST, RequesterConfig
from spdm.errors import VerificationError
from spdm.events import MeasurementsReceived
from spdm.hash_extended import check_mel, extended_value, hash_extended_indices
from spdm.messages import MeasurementBlock
from spdm.messages.codes import DMTF_RAW_BIT_STREAM, DmtfValueType, MeasurementHashAlgo, RequestCode
from spdm.messages.mel import MeasurementExtensionLog, Mel, MelEntry
from spdm.requester.follow import Follower
from tests.vectors import spdm_exchanges

NOW = datetime(2026, 11, 22, tzinfo=UTC)
SHA384 = MeasurementHashAlgo.SHA_384


def reference_mel() -> Mel:
    for exchange in spdm_exchanges("spdm13-p384-endpoint-mel-keypair"):
        if exchange.request_payload[1] == RequestCode.GET_MEASUREMENT_EXTENSION_LOG:
            return Mel.decode(MeasurementExtensionLog.decode(exchange.response_payload, padded=True).portion)
    raise AssertionError("no MEL in the capture")


def reference_measurements() -> tuple[MeasurementBlock, ...]:
    follower = Follower(RequesterConfig(trust_anchors=DEFER_TRUST))
    for exchange in spdm_exchanges("spdm13-p384-chunking"):
        if exchange.request_payload[1] == RequestCode.KEY_EXCHANGE:
            break
        follower.adopt(exchange.request_payload, now=NOW)
        follower.receive_data(exchange.response_payload)
        while (event := follower.next_event()) is not None:
            if isinstance(event, MeasurementsReceived):
                return event.blocks
    raise AssertionError("no MEASUREMENTS in the capture")


def test_the_reference_measurement_is_the_extension_of_the_reference_mel() -> None:
    mel, blocks = reference_mel(), reference_measurements()
    assert hash_extended_indices(mel) == (0x11,)
    (hem,) = [b for b in blocks if b.index == 0x11]
    assert hem.value_type == DmtfValueType.HASH_EXTENDED
    assert extended_value(mel, 0x11, SHA384) == hem.value
    check_mel(mel, blocks, SHA384)


def test_a_changed_entry_breaks_the_relation() -> None:
    mel, blocks = reference_mel(), reference_measurements()
    first = mel.entries[0]
    forged = Mel(entries=(replace(first, value=first.value + b"!"), *mel.entries[1:]))
    with pytest.raises(VerificationError, match="not the extension"):
        check_mel(forged, blocks, SHA384)


def test_an_index_the_device_did_not_report_or_a_raw_one_is_refused() -> None:
    version = DMTF_RAW_BIT_STREAM | DmtfValueType.MUTABLE_FIRMWARE_VERSION
    mel = Mel(entries=(MelEntry(1, 0x20, version, b"\x01"),))
    with pytest.raises(VerificationError, match="did not report"):
        check_mel(mel, (), SHA384)
    raw = MeasurementBlock(0x20, DMTF_RAW_BIT_STREAM | DmtfValueType.HASH_EXTENDED, bytes(48))
    with pytest.raises(VerificationError, match="not a hash-extended digest"):
        check_mel(mel, (raw,), SHA384)


def test_an_empty_mel_asks_nothing_of_the_measurements() -> None:
    assert hash_extended_indices(Mel()) == ()
    check_mel(Mel(), (), SHA384)
