"""Tests for :class:`spdm.session.Session`: its verify-data checks and TH bookkeeping."""

from __future__ import annotations

import pytest

from spdm.crypto import digest, hmac_digest
from spdm.errors import LocalProtocolError, VerificationError
from spdm.messages.codes import AeadSuite, BaseHashAlgo, SpdmVersion
from spdm.session import Session, SessionPhase, session_id_of

SECRET = bytes(range(48))


def _handshaking() -> Session:
    session = Session(session_id=session_id_of(0xFFFF, 0xFFFE), version=SpdmVersion.V12,
                      hash_alg=BaseHashAlgo.SHA_384, aead=AeadSuite.AES_256_GCM)
    session.th += b"TH1 bytes"
    session.start_handshake(SECRET)
    return session


def _expected(session: Session, *, request: bool) -> bytes:
    secrets = session.handshake
    key = secrets.request_finished_key if request else secrets.response_finished_key
    return hmac_digest(BaseHashAlgo.SHA_384, key, digest(BaseHashAlgo.SHA_384, bytes(session.th)))


def test_session_id_puts_the_requester_half_low() -> None:
    assert session_id_of(0xFFFF, 0xFFFE) == 0xFFFEFFFF


@pytest.mark.parametrize("request_side", [True, False])
def test_a_right_verify_data_is_accepted_and_added_to_th(request_side: bool) -> None:
    session = _handshaking()
    before = bytes(session.th)
    good = _expected(session, request=request_side)
    check = session.check_request_verify_data if request_side else session.check_response_verify_data
    check(good)
    assert bytes(session.th) == before + good


@pytest.mark.parametrize("request_side", [True, False])
def test_a_wrong_verify_data_raises_and_leaves_th_alone(request_side: bool) -> None:
    session = _handshaking()
    before = bytes(session.th)
    bad = bytearray(_expected(session, request=request_side))
    bad[-1] ^= 1
    check = session.check_request_verify_data if request_side else session.check_response_verify_data
    name = "RequesterVerifyData" if request_side else "ResponderVerifyData"
    with pytest.raises(VerificationError, match=f"PSK_X {name} does not verify"):
        check(bytes(bad), what="PSK_X")
    assert bytes(session.th) == before


def test_the_other_sides_verify_data_is_refused() -> None:
    session = _handshaking()
    with pytest.raises(VerificationError):
        session.check_response_verify_data(_expected(session, request=True))


def test_a_truncated_verify_data_is_refused() -> None:
    session = _handshaking()
    with pytest.raises(VerificationError):
        session.check_request_verify_data(_expected(session, request=True)[:-1])


def test_add_verify_data_returns_what_the_peer_checks() -> None:
    sender, receiver = _handshaking(), _handshaking()
    receiver.check_request_verify_data(sender.add_request_verify_data())
    receiver.th += b"FINISH_RSP"
    sender.th += b"FINISH_RSP"
    sender.check_response_verify_data(receiver.add_response_verify_data())
    assert bytes(sender.th) == bytes(receiver.th)


def test_no_verify_data_before_the_handshake() -> None:
    session = Session(session_id=1, version=SpdmVersion.V12, hash_alg=BaseHashAlgo.SHA_384,
                      aead=AeadSuite.AES_256_GCM)
    with pytest.raises(LocalProtocolError):
        session.check_request_verify_data(bytes(48))


def test_establish_then_end_forgets_every_secret() -> None:
    session = _handshaking()
    session.establish()
    assert session.phase is SessionPhase.ESTABLISHED and bytes(session.th) == b""
    assert len(session.export_master_secret) == 48
    session.end()
    assert session.keys is None and bytes(session.message_m) == b""
    with pytest.raises(LocalProtocolError):
        session.current_keys()
    with pytest.raises(LocalProtocolError):
        session.export_master_secret  # noqa: B018 - the property raises


def _fresh() -> Session:
    return Session(session_id=1, version=SpdmVersion.V13, hash_alg=BaseHashAlgo.SHA_384,
                   aead=AeadSuite.AES_256_GCM)


def test_th_starts_with_a_digests_the_chain_hash_and_the_exchange() -> None:
    session = _fresh()
    signed = session.begin_th(b"A", b"KEY_EXCHANGE", b"RSP", digests=b"D", cert_chain=b"chain")
    assert signed == b"A" + b"D" + digest(BaseHashAlgo.SHA_384, b"chain") + b"KEY_EXCHANGE" + b"RSP"
    assert bytes(session.th) == signed
    with pytest.raises(LocalProtocolError, match="already started"):
        session.begin_th(b"A", b"again", b"")


def test_a_psk_th_has_no_chain_hash() -> None:
    session = _fresh()
    assert session.begin_th(b"A", b"PSK_EXCHANGE", b"RSP") == b"APSK_EXCHANGERSP"


def test_mutual_authentication_adds_the_requester_identity_before_the_finish_header() -> None:
    session = _fresh()
    session.begin_th(b"A", b"K", b"R")
    session.add_th(b"SIG")
    signed = session.add_requester_identity(b"Dreq", b"requester chain", b"\x13\xe5\x01\x00")
    assert signed == (b"AKRSIG" + b"Dreq" + digest(BaseHashAlgo.SHA_384, b"requester chain")
                      + b"\x13\xe5\x01\x00")
