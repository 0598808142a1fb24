"""``devsec dump`` follows a requester's retries: RESPOND_IF_READY polls and requests sent again after Busy.

The response to a retry is the outstanding request's: it decodes and
verifies against the transcript that request began.  A request that is not
the retry the responder asked for stops following, with the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime

from devsec.dump import dump
from spdm.capture import read_capture, write_capture
from spdm.errors import SpdmErrorCode
from spdm.messages import ErrorResponse, RespondIfReady
from spdm.messages.codes import RequestCode, SpdmVersion
from spdm.transport.doe import DataObject, DataObjectType, decode_data_object, encode_data_object
from tests.devsec.recording import Case, record

NOW = datetime.now(UTC)
CASE = Case(version=SpdmVersion.V12, req_asym=None)
STOPPED = "followed the conversation up to where it stopped: "


def _spdm(payload: bytes) -> bytes:
    return encode_data_object(DataObject(1, DataObjectType.SPDM, payload))


def _objects() -> list[bytes]:
    return [r.data for r in read_capture(record(CASE, [], sessions=False).pcap)]


def _at(objects: list[bytes], code: int) -> int:
    return next(i for i, o in enumerate(objects) if decode_data_object(o).payload[1] == code)


def _busy() -> bytes:
    return _spdm(ErrorResponse(spdm_version=SpdmVersion.V12, error_code=SpdmErrorCode.BUSY).encode())


def _not_ready(code: int, token: int) -> bytes:
    extended = bytes([0, code, token, 1])  # RDTExponent 0, the request, its token, RDTM 1
    return _spdm(ErrorResponse(spdm_version=SpdmVersion.V12, error_code=SpdmErrorCode.RESPONSE_NOT_READY,
                               extended_data=extended).encode())


def _poll(code: int, token: int) -> bytes:
    return _spdm(RespondIfReady(spdm_version=SpdmVersion.V12, request_code=code, token=token).encode())


def test_a_request_sent_again_after_busy_is_followed() -> None:
    objects = _objects()
    challenge = _at(objects, RequestCode.CHALLENGE)
    # CHALLENGE, ERROR Busy, CHALLENGE (the same bytes), ERROR Busy, CHALLENGE, CHALLENGE_AUTH
    retried = objects[:challenge + 1] + [_busy(), objects[challenge]] * 2 + objects[challenge + 1:]
    lines = dump(write_capture(retried), now=NOW)
    assert not any(line.startswith(STOPPED) for line in lines), "\n".join(lines)
    assert sum("SPDM_ERROR (error_code=0x3" in line for line in lines) == 2
    assert lines[-1] == "signatures: 2 verified, 0 failed"


def test_a_poll_after_response_not_ready_is_followed() -> None:
    objects = _objects()
    measurements = _at(objects, RequestCode.GET_MEASUREMENTS)
    code = RequestCode.GET_MEASUREMENTS
    polled = (objects[:measurements + 1] + [_not_ready(code, 7), _poll(code, 7)]
              + objects[measurements + 1:])
    lines = dump(write_capture(polled), now=NOW)
    assert not any(line.startswith(STOPPED) or "undecodable" in line for line in lines), "\n".join(lines)
    assert any("SPDM_RESPOND_IF_READY (request_code=0xe0, token=0x7)" in line for line in lines)
    assert lines[-1] == "signatures: 2 verified, 0 failed"  # the polled MEASUREMENTS verified


def test_a_poll_with_another_token_stops_following() -> None:
    objects = _objects()
    measurements = _at(objects, RequestCode.GET_MEASUREMENTS)
    code = RequestCode.GET_MEASUREMENTS
    polled = (objects[:measurements + 1] + [_not_ready(code, 7), _poll(code, 8)]
              + objects[measurements + 1:])
    lines = dump(write_capture(polled), now=NOW)
    [stopped] = [line for line in lines if line.startswith(STOPPED)]
    assert "is not the retry of the outstanding GetMeasurements" in stopped
    assert lines[-1] == "signatures: 1 verified, 0 failed"  # CHALLENGE_AUTH only


def test_another_request_where_the_retry_belongs_stops_following() -> None:
    objects = _objects()
    challenge = _at(objects, RequestCode.CHALLENGE)
    skipped = objects[:challenge + 1] + [_busy()] + objects[challenge + 2:]  # GET_MEASUREMENTS next
    lines = dump(write_capture(skipped), now=NOW)
    [stopped] = [line for line in lines if line.startswith(STOPPED)]
    assert "request 0xe0 is not the retry of the outstanding Challenge" in stopped
