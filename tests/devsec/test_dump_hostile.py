"""``devsec dump`` on captures that were cut, reordered or forged: typed errors, never a crash.

The regression tests of fuzz findings 04, 05, 06 and 13 (../shared/findings):
each capture is a reference capture edited the way the fuzzer did.  The dump
must come back with its lines, say where following stopped and why, and
report nothing as verified that was not.
"""

from __future__ import annotations

import struct
import time
from datetime import UTC, datetime

import pytest

from devsec.dump import dump
from spdm.capture import LINKTYPE_PCI_DOE, PcapFileHeader, write_capture
from spdm.messages.codes import RequestCode
from spdm.transport.doe import DataObject, DataObjectType, decode_data_object, encode_data_object
from tests.vectors import records, secrets

NOW = datetime(2026, 11, 22, tzinfo=UTC)  # inside every captured certificate's validity
STOPPED = "followed the conversation up to where it stopped: "


def _objects(name: str) -> list[bytes]:
    return [r.data for r in records(name)]


def _secrets(name: str) -> list[bytes]:
    return [value for _, value in secrets(name)]


def _code(obj: bytes) -> int | None:
    """The SPDM code of a plain SPDM object, None for any other object."""
    decoded = decode_data_object(obj)
    return decoded.payload[1] if decoded.object_type == DataObjectType.SPDM else None


def _stop_reason(lines: list[str]) -> str:
    [reason] = [line.removeprefix(STOPPED) for line in lines if line.startswith(STOPPED)]
    return reason


def test_a_mutual_auth_finish_without_its_signature_stops_following() -> None:
    """Finding 04: FINISH with Param1 b0 clear in a session that asked for mutual auth."""
    name = "spdm13-p384-mutauth-psk"
    objects = _objects(name)
    finish = decode_data_object(objects[44])
    payload = finish.payload
    assert payload[1] == RequestCode.FINISH and payload[2] == 1  # signature included
    unsigned = payload[:2] + b"\x00" + payload[3:4] + payload[4 + 384:]  # RSA-3072 signature cut out
    objects[44] = encode_data_object(DataObject(finish.vendor_id, finish.object_type, unsigned))
    lines = dump(write_capture(objects[:46]), now=NOW, secrets=_secrets(name))
    assert "FINISH carries no signature" in _stop_reason(lines)
    assert not any("session 0x" in line and "established" in line for line in lines)
    assert lines[-1] == "signatures: 3 verified, 0 failed"  # those before the FINISH


@pytest.mark.parametrize(("code", "what"), [
    (RequestCode.CHALLENGE, "Challenge"),
    (RequestCode.GET_MEASUREMENTS, "GetMeasurements"),
    (RequestCode.KEY_EXCHANGE, "KeyExchange"),
])
def test_a_signed_exchange_naming_a_slot_whose_chain_the_capture_never_showed(code: int, what: str) -> None:
    """Finding 05: the capture cut after DIGESTS, then CHALLENGE / signed GET_MEASUREMENTS / KEY_EXCHANGE."""
    name = "spdm12-p384"
    objects = _objects(name)
    at = [_code(o) for o in objects].index(code)
    assert _code(objects[12]) == RequestCode.GET_DIGESTS
    lines = dump(write_capture(objects[:14] + objects[at:at + 2]), now=NOW, secrets=_secrets(name))
    assert _stop_reason(lines) == (
        f"{what} names slot 0, whose certificate chain the capture does not show: "
        "its signature cannot be checked")
    assert lines[-1] == "signatures: 0 verified, 0 failed"
    assert len([line for line in lines if line[:1].isdigit()]) == 16  # every record still has its line


def test_finish_without_the_key_exchange_that_opened_the_handshake() -> None:
    """Finding 13: FINISH / FINISH_RSP with the KEY_EXCHANGE exchange removed."""
    objects = _objects("spdm12-p384")
    codes = [_code(o) for o in objects]
    key_exchange, finish = codes.index(RequestCode.KEY_EXCHANGE), codes.index(RequestCode.FINISH)
    assert finish == key_exchange + 2
    lines = dump(write_capture(objects[:key_exchange] + objects[finish:finish + 2]), now=NOW)
    assert _stop_reason(lines) == "FINISH outside the handshake that expects it"
    assert "SPDM_FINISH " in lines[-5] and "SPDM_FINISH_RSP" in lines[-4]


def test_a_capture_of_many_empty_records_dumps_in_linear_time() -> None:
    """Finding 06: 2 MiB of empty records (minutes when the reader was quadratic)."""
    head = PcapFileHeader.build(dict(version_major=2, version_minor=4, thiszone=0, sigfigs=0,
                                     snaplen=65536, linktype=LINKTYPE_PCI_DOE))
    count = 131072
    started = time.monotonic()
    lines = dump(head + struct.pack("<IIII", 0, 0, 0, 0) * count, now=NOW)
    elapsed = time.monotonic() - started
    assert len(lines) == count + 2
    assert lines[0] == "1 undecodable record: DOE object of 0 bytes is shorter than its 8-byte header"
    assert elapsed < 20, f"{count} records took {elapsed:.1f} s"
