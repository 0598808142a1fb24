"""spdm.secured: record layout, nonce, tamper/replay/reorder rejection, sequence limits, key update.

Real records from libspdm are opened and re-sealed in test_session_vectors.py;
this module covers the behaviour around them with synthetic keys.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spdm.crypto import aead_open, aead_seal
from spdm.errors import DecodeError, LocalProtocolError, RemoteProtocolError, SpdmErrorCode, VerificationError
from spdm.keyschedule import KeySchedule
from spdm.messages.codes import AeadSuite, BaseHashAlgo, SpdmVersion
from spdm.secured import (
    SEQUENCE_LIMIT,
    DirectionState,
    SequenceExhausted,
    SessionKeys,
    open_record,
    record_session_id,
    seal,
)

SCHEDULE = KeySchedule(BaseHashAlgo.SHA_384, SpdmVersion.V12)
REQUEST_SECRET = bytes(range(48))
RESPONSE_SECRET = bytes(range(100, 148))
SESSION_ID = 0xFFFEFFFF  # ReqSessionID 0xFFFF, RspSessionID 0xFFFE
MESSAGE = bytes.fromhex("12 fe 00 00 03 00 02 01 00 04 00 00 00 00 01")  # IDE_KM QUERY
AEADS = [AeadSuite.AES_128_GCM, AeadSuite.AES_256_GCM, AeadSuite.CHACHA20_POLY1305]
MODES = [pytest.param(aead, mac_only, id=f"{aead.name}{'-mac-only' if mac_only else ''}")
         for aead in AEADS for mac_only in (False, True)]
OPEN_ERRORS = (DecodeError, VerificationError, RemoteProtocolError)


def pair(aead: AeadSuite = AeadSuite.AES_256_GCM, mac_only: bool = False) -> tuple[SessionKeys, SessionKeys]:
    """The requester's and the responder's view of the same session phase."""
    return tuple(  # type: ignore[return-value]
        SessionKeys.from_secrets(SCHEDULE, REQUEST_SECRET, RESPONSE_SECRET, aead, mac_only=mac_only)
        for _ in range(2))


def state(aead: AeadSuite = AeadSuite.AES_256_GCM, mac_only: bool = False) -> DirectionState:
    return DirectionState.from_secret(SCHEDULE, REQUEST_SECRET, aead, mac_only=mac_only)


# --- round trips and layout -------------------------------------------------------------------------


@pytest.mark.parametrize(("aead", "mac_only"), MODES)
def test_round_trip_in_both_directions(aead: AeadSuite, mac_only: bool) -> None:
    requester, responder = pair(aead, mac_only)
    for i in range(3):
        request = MESSAGE + bytes([i])
        assert open_record(responder.request, seal(requester.request, SESSION_ID, request),
                           expected_session_id=SESSION_ID) == request
        response = MESSAGE[:4] + bytes(i * 7)
        assert open_record(requester.response, seal(responder.response, SESSION_ID, response)) == response
    seqs = [requester.request.seq, responder.request.seq, requester.response.seq, responder.response.seq]
    assert seqs == [3] * 4


@pytest.mark.parametrize("aead", AEADS)
def test_encrypted_record_layout(aead: AeadSuite) -> None:
    record = seal(state(aead), SESSION_ID, MESSAGE)
    assert record[:4] == bytes.fromhex("fffffeff")  # ReqSessionID(LE16) || RspSessionID(LE16)
    assert int.from_bytes(record[4:6], "little") == len(record) - 6 == 2 + len(MESSAGE) + 16
    assert MESSAGE not in record


@pytest.mark.parametrize("aead", AEADS)
def test_mac_only_record_layout(aead: AeadSuite) -> None:
    record = seal(state(aead, mac_only=True), SESSION_ID, MESSAGE)
    assert int.from_bytes(record[4:6], "little") == len(MESSAGE) + 16 == len(record) - 6
    assert record[6:6 + len(MESSAGE)] == MESSAGE  # authenticated, not encrypted


def test_nonce_is_iv_xor_little_endian_sequence_number() -> None:
    sender = state()
    sender.seq = 0x0102030405060708
    record = seal(sender, SESSION_ID, MESSAGE)
    seq_bytes = bytes([8, 7, 6, 5, 4, 3, 2, 1, 0, 0, 0, 0])
    nonce = bytes(a ^ b for a, b in zip(sender.iv, seq_bytes, strict=True))
    plaintext = aead_open(AeadSuite.AES_256_GCM, sender.key, nonce, record[6:], record[:6])
    assert plaintext == len(MESSAGE).to_bytes(2, "little") + MESSAGE


def test_record_session_id() -> None:
    assert record_session_id(seal(state(), SESSION_ID, MESSAGE)) == SESSION_ID
    assert record_session_id(bytes(6)) == 0
    with pytest.raises(DecodeError):
        record_session_id(bytes(5))


@pytest.mark.parametrize("pad", [b"", b"\x00", b"\x00" * 3])
def test_doe_padding_is_ignored(pad: bytes) -> None:
    requester, responder = pair()
    assert open_record(responder.request, seal(requester.request, SESSION_ID, MESSAGE) + pad) == MESSAGE


@pytest.mark.parametrize("pad", [b"\x01", b"\x00" * 4, b"\x00\x00\x80"])
def test_anything_else_after_the_record_is_refused(pad: bytes) -> None:
    requester, responder = pair()
    with pytest.raises(DecodeError):
        open_record(responder.request, seal(requester.request, SESSION_ID, MESSAGE) + pad)
    assert responder.request.seq == 0


def _forge(receiver: DirectionState, plaintext: bytes) -> bytes:
    """A correctly authenticated record around an arbitrary plaintext (peer bugs, not forgeries)."""
    header = SESSION_ID.to_bytes(4, "little") + (len(plaintext) + 16).to_bytes(2, "little")
    return header + aead_seal(receiver.aead, receiver.key, receiver.iv, plaintext, header)


def test_random_padding_after_app_data_is_authenticated_and_dropped() -> None:
    receiver = state()
    record = _forge(receiver, len(MESSAGE).to_bytes(2, "little") + MESSAGE + b"\x5a" * 5)
    assert open_record(receiver, record) == MESSAGE


def test_app_data_length_past_the_plaintext_is_a_decode_error() -> None:
    receiver = state()
    record = _forge(receiver, (len(MESSAGE) + 1).to_bytes(2, "little") + MESSAGE)
    with pytest.raises(DecodeError):
        open_record(receiver, record)
    assert receiver.seq == 0


# --- rejection -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("aead", "mac_only"), MODES)
@pytest.mark.parametrize("where", ["session_id", "tag", "body"])
def test_tampering_fails_verification_and_keeps_the_sequence_number(
        aead: AeadSuite, mac_only: bool, where: str) -> None:
    requester, responder = pair(aead, mac_only)
    record = bytearray(seal(requester.request, SESSION_ID, MESSAGE))
    index = {"session_id": 1, "tag": len(record) - 1, "body": 9}[where]
    record[index] ^= 0x40
    with pytest.raises(VerificationError):
        open_record(responder.request, bytes(record))
    assert responder.request.seq == 0


@pytest.mark.parametrize(("aead", "mac_only"), MODES)
def test_tampered_length_fails(aead: AeadSuite, mac_only: bool) -> None:
    requester, responder = pair(aead, mac_only)
    record = bytearray(seal(requester.request, SESSION_ID, MESSAGE) + b"\x00\x00")
    record[4] += 1  # Length covers one pad byte too: the AAD no longer matches
    with pytest.raises(VerificationError):
        open_record(responder.request, bytes(record))
    record[4] += 2  # Length past the end
    with pytest.raises(DecodeError):
        open_record(responder.request, bytes(record))
    assert responder.request.seq == 0


def test_replayed_record_fails() -> None:
    requester, responder = pair()
    record = seal(requester.request, SESSION_ID, MESSAGE)
    open_record(responder.request, record)
    with pytest.raises(VerificationError):
        open_record(responder.request, record)
    assert responder.request.seq == 1


def test_reordered_records_fail_and_order_recovers_nothing_lost() -> None:
    requester, responder = pair()
    first = seal(requester.request, SESSION_ID, b"first")
    second = seal(requester.request, SESSION_ID, b"second")
    with pytest.raises(VerificationError):
        open_record(responder.request, second)
    assert open_record(responder.request, first) == b"first"
    assert open_record(responder.request, second) == b"second"


def test_record_from_the_other_direction_fails() -> None:
    requester, responder = pair()
    with pytest.raises(VerificationError):
        open_record(requester.response, seal(requester.request, SESSION_ID, MESSAGE))


def test_wrong_session_id_is_an_invalid_session() -> None:
    requester, responder = pair()
    record = seal(requester.request, SESSION_ID, MESSAGE)
    with pytest.raises(RemoteProtocolError) as info:
        open_record(responder.request, record, expected_session_id=0xFFFFFFFF)
    assert type(info.value) is RemoteProtocolError
    assert info.value.error_code == SpdmErrorCode.INVALID_SESSION
    assert responder.request.seq == 0
    assert open_record(responder.request, record, expected_session_id=SESSION_ID) == MESSAGE


@pytest.mark.parametrize(("mac_only", "length"), [(False, 17), (False, 0), (True, 15)])
def test_length_too_short_for_the_tag(mac_only: bool, length: int) -> None:
    record = SESSION_ID.to_bytes(4, "little") + length.to_bytes(2, "little") + bytes(length)
    with pytest.raises(DecodeError):
        open_record(state(mac_only=mac_only), record)


@pytest.mark.parametrize("cut", [1, 6, 17])
def test_truncated_record(cut: int) -> None:
    record = seal(state(), SESSION_ID, MESSAGE)
    with pytest.raises(DecodeError):
        open_record(state(), record[:-cut])


def test_seal_refuses_what_does_not_fit() -> None:
    sender = state()
    with pytest.raises(LocalProtocolError):
        seal(sender, SESSION_ID, bytes(0xFFFF - 17))
    with pytest.raises(LocalProtocolError):
        seal(sender, 1 << 32, MESSAGE)
    assert sender.seq == 0
    assert len(seal(sender, SESSION_ID, bytes(0xFFFF - 18))) == 6 + 0xFFFF


# --- sequence numbers -------------------------------------------------------------------------------


def test_sequence_exhaustion() -> None:
    requester, responder = pair()
    requester.request.seq = responder.request.seq = SEQUENCE_LIMIT - 1
    last = seal(requester.request, SESSION_ID, MESSAGE)  # 2^64 - 2 is the last usable number
    assert requester.request.seq == SEQUENCE_LIMIT
    with pytest.raises(SequenceExhausted):
        seal(requester.request, SESSION_ID, MESSAGE)
    assert open_record(responder.request, last) == MESSAGE
    with pytest.raises(SequenceExhausted):
        open_record(responder.request, last)
    assert issubclass(SequenceExhausted, LocalProtocolError)
    requester.update(both=False)  # a key update is the way out
    responder.update(both=False)
    assert open_record(responder.request, seal(requester.request, SESSION_ID, MESSAGE)) == MESSAGE


# --- key update ----------------------------------------------------------------------------------


@pytest.mark.parametrize("both", [True, False], ids=["UpdateAllKeys", "UpdateKey"])
def test_key_update_exchange(both: bool) -> None:
    requester, responder = pair()
    for _ in range(2):  # some traffic first, so the reset to 0 is visible
        open_record(responder.request, seal(requester.request, SESSION_ID, MESSAGE))
        open_record(requester.response, seal(responder.response, SESSION_ID, MESSAGE))
    old_response_key = requester.response.key
    key_update = seal(requester.request, SESSION_ID, b"KEY_UPDATE")  # under the old request key
    requester.update(both=both)
    assert open_record(responder.request, key_update) == b"KEY_UPDATE"
    responder.update(both=both)
    assert (requester.request.seq, responder.request.seq) == (0, 0)
    assert requester.response.seq == responder.response.seq == (0 if both else 2)
    assert (requester.response.key != old_response_key) is both
    ack = seal(responder.response, SESSION_ID, b"KEY_UPDATE_ACK")  # new response key if both
    assert open_record(requester.response, ack) == b"KEY_UPDATE_ACK"
    verify = seal(requester.request, SESSION_ID, b"VerifyNewKey")  # the new request key
    assert open_record(responder.request, verify) == b"VerifyNewKey"
    requester.commit_update()
    responder.commit_update()
    assert not requester.update_pending and not responder.update_pending
    expected = DirectionState.from_secret(
        SCHEDULE, SCHEDULE.update(REQUEST_SECRET), AeadSuite.AES_256_GCM)
    assert (requester.request.secret, requester.request.key, requester.request.iv) == (
        expected.secret, expected.key, expected.iv)


def _snapshot(direction: DirectionState) -> tuple[bytes, bytes, bytes, int]:
    return direction.secret, direction.key, direction.iv, direction.seq


def test_rollback_restores_keys_and_sequence_numbers() -> None:
    requester, responder = pair()
    open_record(responder.request, seal(requester.request, SESSION_ID, MESSAGE))
    before = (_snapshot(requester.request), _snapshot(requester.response))
    requester.update(both=True)
    assert requester.update_pending
    assert requester.request.key != before[0][1] and requester.response.key != before[1][1]
    requester.rollback_update()
    assert (_snapshot(requester.request), _snapshot(requester.response)) == before
    assert before[0][3] == 1
    # The peer never updated: traffic continues on the old keys.
    assert open_record(responder.request, seal(requester.request, SESSION_ID, MESSAGE)) == MESSAGE


def test_update_bookkeeping_errors() -> None:
    keys, _ = pair()
    with pytest.raises(LocalProtocolError):
        keys.commit_update()
    with pytest.raises(LocalProtocolError):
        keys.rollback_update()
    keys.update(both=True)
    with pytest.raises(LocalProtocolError):
        keys.update(both=False)
    keys.commit_update()
    keys.update(both=False)  # a second update chains from the committed keys
    assert keys.request.secret == SCHEDULE.update(SCHEDULE.update(REQUEST_SECRET))
    assert keys.response.secret == SCHEDULE.update(RESPONSE_SECRET)


# --- secrets stay out of reprs and logs (R13) -----------------------------------------------------


def _secret_hexes(keys: SessionKeys) -> list[str]:
    states = [keys.request, keys.response, *(keys._backup or ())]
    return [value.hex() for s in states for value in (s.secret, s.key, s.iv)]


def test_no_secret_in_repr() -> None:
    keys, _ = pair()
    keys.update(both=True)  # a backup is held too
    hexes = _secret_hexes(keys)
    for obj in (keys, keys.request, keys.response):
        for text in (repr(obj), str(obj)):
            assert not any(h in text or h[:12] in text for h in hexes)
            assert "\\x" not in text


def test_no_secret_or_plaintext_in_debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    requester, responder = pair()
    record = seal(requester.request, SESSION_ID, MESSAGE)
    open_record(responder.request, record)
    requester.update(both=True)
    hexes = _secret_hexes(requester)
    requester.rollback_update()
    with pytest.raises(VerificationError) as info:
        open_record(responder.request, record)
    text = caplog.text + str(info.value)
    assert caplog.records  # the key update was logged
    assert not any(h in text for h in [*hexes, MESSAGE.hex(), record[6:].hex()])


# --- fuzzing ---------------------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None)


@FUZZ
@given(st.binary(max_size=80), st.booleans())
def test_random_bytes_raise_only_decode_verification_or_session_errors(data: bytes, mac_only: bool) -> None:
    receiver = state(mac_only=mac_only)
    with pytest.raises(OPEN_ERRORS):
        open_record(receiver, data, expected_session_id=SESSION_ID if data[:1] == b"\x01" else None)
    assert receiver.seq == 0


@FUZZ
@given(st.integers(0, 0xFFFF), st.binary(max_size=80), st.booleans())
def test_random_bodies_behind_a_valid_header(length: int, body: bytes, mac_only: bool) -> None:
    receiver = state(mac_only=mac_only)
    record = SESSION_ID.to_bytes(4, "little") + length.to_bytes(2, "little") + body
    with pytest.raises(OPEN_ERRORS):
        open_record(receiver, record, expected_session_id=SESSION_ID)
    assert receiver.seq == 0


@FUZZ
@given(st.binary(max_size=200), st.integers(0, 2**64 - 2), st.sampled_from(AEADS), st.booleans())
def test_seal_open_round_trip_property(message: bytes, seq: int, aead: AeadSuite, mac_only: bool) -> None:
    sender, receiver = state(aead, mac_only), state(aead, mac_only)
    sender.seq = receiver.seq = seq
    assert open_record(receiver, seal(sender, SESSION_ID, message)) == message
    assert sender.seq == receiver.seq == seq + 1
