"""Tests for :mod:`spdm.transcript`: the reset rules both roles (and the capture follower) apply."""

from __future__ import annotations

import pytest

from spdm.messages.codes import AeadSuite, BaseHashAlgo, RequestCode, SpdmVersion
from spdm.session import Session
from spdm.transcript import Transcript

A, B, M = b"\x10\x84\x00\x00" + b"\x10\x04\x00\x00", b"\x12\x81\x00\x00digests", b"\x12\xe0meas"


def _filled(*, authenticated: bool = False) -> Transcript:
    t = Transcript()
    t.add_vca(A[:4], A[4:])
    t.add_b(B[:4], B[4:])
    t.add_measurements(M[:2], M[2:])
    t.authenticated = authenticated
    return t


def _session() -> Session:
    return Session(session_id=0xFFFEFFFF, version=SpdmVersion.V12, hash_alg=BaseHashAlgo.SHA_384,
                   aead=AeadSuite.AES_256_GCM)


# (request, authenticated before) -> (A kept, B kept, M kept)
RESETS = [
    (RequestCode.GET_VERSION, False, (False, False, False)),
    (RequestCode.GET_VERSION, True, (False, False, False)),
    (RequestCode.GET_CAPABILITIES, False, (True, True, False)),
    (RequestCode.GET_DIGESTS, True, (True, False, False)),
    (RequestCode.GET_CERTIFICATE, False, (True, True, False)),
    (RequestCode.CHALLENGE, False, (True, True, False)),
    (RequestCode.GET_MEASUREMENTS, False, (True, False, True)),
    (RequestCode.GET_MEASUREMENTS, True, (True, True, True)),
    (RequestCode.KEY_EXCHANGE, False, (True, False, False)),
    (RequestCode.KEY_EXCHANGE, True, (True, True, False)),
    (RequestCode.PSK_EXCHANGE, False, (True, False, False)),
    (RequestCode.VENDOR_DEFINED_REQUEST, False, (True, True, False)),
    (RequestCode.GET_ENCAPSULATED_REQUEST, False, (True, False, False)),
    (RequestCode.END_SESSION, True, (True, True, False)),
]


@pytest.mark.parametrize(("code", "authenticated", "kept"), RESETS)
def test_begin_applies_the_reset_table(code: RequestCode, authenticated: bool,
                                       kept: tuple[bool, bool, bool]) -> None:
    t = _filled(authenticated=authenticated)
    t.begin(code)
    assert (bytes(t.a) == A, bytes(t.b) == B, bytes(t.m) == M) == kept
    assert t.authenticated == (authenticated and code != RequestCode.GET_VERSION)


@pytest.mark.parametrize("code", [RequestCode.GET_MEASUREMENTS, RequestCode.VENDOR_DEFINED_REQUEST,
                                  RequestCode.HEARTBEAT, RequestCode.KEY_UPDATE])
def test_a_request_in_a_session_touches_only_the_sessions_m(code: RequestCode) -> None:
    t = _filled()
    session = _session()
    t.add_measurements(b"req", b"rsp", session)
    t.begin(code, session)
    assert (bytes(t.a), bytes(t.b), bytes(t.m)) == (A, B, M)
    assert bytes(session.message_m) == (b"reqrsp" if code == RequestCode.GET_MEASUREMENTS else b"")


def test_an_error_to_get_measurements_resets_the_m_it_travelled_with() -> None:
    t = _filled()
    session = _session()
    t.add_measurements(b"req", b"rsp", session)
    t.failed(RequestCode.GET_MEASUREMENTS, session)
    assert bytes(session.message_m) == b"" and bytes(t.m) == M
    t.failed(RequestCode.GET_MEASUREMENTS)
    assert bytes(t.m) == b"" and bytes(t.b) == B


def test_an_error_to_challenge_resets_b_without_authenticating() -> None:
    t = _filled()
    t.failed(RequestCode.CHALLENGE)
    assert bytes(t.b) == b"" and not t.authenticated and bytes(t.a) == A


@pytest.mark.parametrize("code", [RequestCode.GET_DIGESTS, RequestCode.KEY_EXCHANGE, RequestCode.HEARTBEAT])
def test_an_error_to_other_requests_resets_nothing(code: RequestCode) -> None:
    t = _filled()
    t.failed(code)
    assert (bytes(t.a), bytes(t.b), bytes(t.m)) == (A, B, M)


def test_challenge_done_resets_b_and_authenticates_only_on_success() -> None:
    t = _filled()
    t.challenge_done(success=True)
    assert bytes(t.b) == b"" and t.authenticated
    t.add_b(b"x", b"y")
    t.begin(RequestCode.KEY_EXCHANGE)  # authenticated: B survives a session request
    assert bytes(t.b) == b"xy"


def test_m1_is_a_b_then_the_challenge_exchange() -> None:
    t = _filled()
    assert t.m1(b"C", b"AUTH") == A + B + b"CAUTH"


@pytest.mark.parametrize(("version", "prefix"), [(SpdmVersion.V11, b""), (SpdmVersion.V12, A),
                                                  (SpdmVersion.V13, A)])
def test_l1_carries_a_from_1_2_on(version: SpdmVersion, prefix: bytes) -> None:
    t = _filled()
    session = _session()
    t.add_measurements(b"in", b"session", session)
    assert t.l1(version) == prefix + M
    assert t.l1(version, session) == prefix + b"insession"


def test_measurements_done_clears_only_the_named_log() -> None:
    t = _filled()
    session = _session()
    t.add_measurements(b"in", b"session", session)
    t.measurements_done(session)
    assert bytes(session.message_m) == b"" and bytes(t.m) == M
    t.measurements_done()
    assert bytes(t.m) == b""


def test_reset_forgets_everything() -> None:
    t = _filled(authenticated=True)
    t.reset()
    assert (bytes(t.a), bytes(t.b), bytes(t.m), t.authenticated) == (b"", b"", b"", False)
