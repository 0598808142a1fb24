"""Key schedule and record layer against the independent implementation (R11).

Two checks per vector set (``vectors/libspdm-doe``):

* Every key-schedule value libspdm logged (both the requester's and the
  responder's log, every session, DHE and PSK, key updates) is re-derived from
  the session secret in ``secrets.txt`` and the logged TH1/TH2 hashes, byte for
  byte.  This also settles the PSK ``Salt_0`` question: zeros at SPDM 1.1/1.2,
  ``0xFF * H`` at 1.3 (libspdm's sample PSK holder); the other choice is shown
  not to reproduce.
* Every secured (DOE type 2) record of every capture is opened in capture order
  with keys derived from those secrets, following the sessions through the
  handshake phase, the data phase, KEY_UPDATE and END_SESSION; each plaintext
  must be the message spdm_dump names for that record and must decode, and
  re-sealing it with the same sequence number must give the captured bytes.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

import pytest

from spdm.crypto import hkdf_expand, hkdf_extract
from spdm.errors import VerificationError
from spdm.keyschedule import HandshakeSecrets, KeySchedule, bin_concat
from spdm.messages import REQUEST_TYPES, RESPONSE_TYPES, CodecContext, PskExchangeRsp
from spdm.messages.codes import AeadSuite, BaseHashAlgo, RequestCode, ResponseCode, SpdmVersion
from spdm.secured import SessionKeys, open_record, record_session_id, seal
from tests.vectors import DOE_HEADER, ROOT, SETS, TYPE_SECURED, TYPE_SPDM, dump_lines, records, secrets


@dataclass(frozen=True)
class SetParams:
    """What each set negotiated (vectors/README.md), needed before any log is read."""

    version: SpdmVersion
    hash_alg: BaseHashAlgo
    aead: AeadSuite
    signature_size: int


PARAMS = {
    "spdm11-p256": SetParams(SpdmVersion.V11, BaseHashAlgo.SHA_256, AeadSuite.AES_128_GCM, 64),
    "spdm12-p384": SetParams(SpdmVersion.V12, BaseHashAlgo.SHA_384, AeadSuite.AES_256_GCM, 96),
    "spdm13-p384-mutauth-psk": SetParams(SpdmVersion.V13, BaseHashAlgo.SHA_384, AeadSuite.AES_256_GCM, 96),
}
LOGS = ("requester.log", "responder.log")


def schedule(name: str) -> KeySchedule:
    return KeySchedule(PARAMS[name].hash_alg, PARAMS[name].version)


# --- the log parser -----------------------------------------------------------------------------

_MARKER = re.compile(
    r"^libspdm_(generate_session_handshake_key|generate_session_data_key|create_update_session_data_key)"
    r"\[([0-9a-f]{8})\](?: (Requester|Responder))?$")
_VALUE = re.compile(
    r"^(th1 hash|th2 hash|handshake_secret|request_handshake_secret|response_handshake_secret|finished_key"
    r"|key|iv|master_secret|request_data_secret|response_data_secret|export_master_secret"
    r"|RequestDataSecretUpdate|ResponseDataSecretUpdate)(?: \(0x([0-9a-f]+)\))? - ((?:[0-9a-f]{2} ?)+)$")
_SECRET = re.compile(r"^\[(DHE Secret|PSK)\]: ([0-9a-f]+)$")
# Lines that may sit inside a key-schedule block without ending it.
_INSIDE = re.compile(r"^(Calc th[12] hash \.\.\.|bin_str\d+ \(0x[0-9a-f]+\):|[0-9a-f]{4}:( [0-9a-f]{2})+)$")

_SECTION_KINDS = {
    "generate_session_handshake_key": "handshake",
    "generate_session_data_key": "data",
    "create_update_session_data_key": "update",
}


@dataclass
class Section:
    """One key-schedule block of a log: the marker line and the values logged under it."""

    kind: str  # handshake | data | update
    session_id: int
    direction: str | None  # Requester | Responder (updates only)
    values: list[tuple[str, bytes]] = field(default_factory=list)

    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.values)

    def value(self, name: str) -> bytes:
        return next(v for n, v in self.values if n == name)


@dataclass
class LoggedSession:
    """One session's blocks: handshake, data (absent if the session never got there), updates."""

    session_id: int
    handshake: Section
    data: Section | None = None
    updates: list[Section] = field(default_factory=list)

    @property
    def psk(self) -> bool:
        return "PSK" in self.handshake.names()


def parse_sections(text: str) -> list[Section]:
    """Split a libspdm debug log into its key-schedule blocks.

    A block starts at a ``libspdm_*_key[session]`` line and ends at the first
    line that is neither a watched value nor one of the block's helper lines.
    """
    sections: list[Section] = []
    current: Section | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if marker := _MARKER.match(line):
            current = Section(_SECTION_KINDS[marker[1]], int(marker[2], 16), marker[3])
            sections.append(current)
        elif current is None:
            continue
        elif value := _VALUE.match(line):
            data = bytes.fromhex(value[3])
            if value[2] is not None:
                assert len(data) == int(value[2], 16), line
            current.values.append((value[1], data))
        elif secret := _SECRET.match(line):
            current.values.append((secret[1], bytes.fromhex(secret[2])))
        elif not _INSIDE.match(line):
            current = None
    return sections


@cache
def logged_sessions(name: str, log: str) -> tuple[LoggedSession, ...]:
    """The sessions of one log in creation order (a session ID is reused after END_SESSION)."""
    sessions: list[LoggedSession] = []
    latest: dict[int, LoggedSession] = {}
    for section in parse_sections((ROOT / name / log).read_text()):
        if section.kind == "handshake":
            latest[section.session_id] = LoggedSession(section.session_id, section)
            sessions.append(latest[section.session_id])
        elif section.kind == "data":
            assert latest[section.session_id].data is None
            latest[section.session_id].data = section
        else:
            latest[section.session_id].updates.append(section)
    return tuple(sessions)


# --- expected values ------------------------------------------------------------------------------


def expected_values(name: str, session: LoggedSession, secret: bytes) -> dict[str, list[tuple[str, bytes]]]:
    """Everything the log should show for one session, derived from the secret and the TH hashes only.

    Returns:
        Per block ("handshake", "data", "update <i>"): (name, value) in libspdm's logging order.
    """
    ks, aead = schedule(name), PARAMS[name].aead
    hs = ks.handshake(secret, session.handshake.value("th1 hash"), psk=session.psk)
    out: dict[str, list[tuple[str, bytes]]] = {}
    block = [("th1 hash", session.handshake.value("th1 hash"))]
    if session.psk:
        block += [("PSK", secret), ("PSK", secret)]
    else:
        block += [("DHE Secret", secret), ("handshake_secret", hs.handshake_secret),
                  ("request_handshake_secret", hs.request_secret),
                  ("response_handshake_secret", hs.response_secret)]
    block += [("finished_key", hs.request_finished_key), ("finished_key", hs.response_finished_key)]
    block += _key_iv(ks, hs.request_secret, aead) + _key_iv(ks, hs.response_secret, aead)
    out["handshake"] = block
    if session.data is None:
        return out
    th2 = session.data.value("th2 hash")
    ds = ks.data(hs, th2)
    block = [("th2 hash", th2)]
    if not session.psk:  # the PSK holder computes these and libspdm does not log them
        block += [("master_secret", ds.master_secret), ("request_data_secret", ds.request_secret),
                  ("response_data_secret", ds.response_secret),
                  ("export_master_secret", ds.export_master_secret)]
    out["data"] = block + _key_iv(ks, ds.request_secret, aead) + _key_iv(ks, ds.response_secret, aead)
    current = {"Requester": ds.request_secret, "Responder": ds.response_secret}
    for i, update in enumerate(session.updates):
        assert update.direction is not None
        current[update.direction] = ks.update(current[update.direction])
        label = "RequestDataSecretUpdate" if update.direction == "Requester" else "ResponseDataSecretUpdate"
        out[f"update {i}"] = [(label, current[update.direction]),
                              *_key_iv(ks, current[update.direction], aead)]
    return out


def _key_iv(ks: KeySchedule, secret: bytes, aead: AeadSuite) -> list[tuple[str, bytes]]:
    key, iv = ks.traffic_keys(secret, aead)
    return [("key", key), ("iv", iv)]


_INPUTS = frozenset({"th1 hash", "th2 hash", "DHE Secret", "PSK"})


def check_log(name: str, log: str) -> int:
    """Compare every logged value of one log with our derivation.

    Returns:
        How many derived values (secrets, finished keys, keys, IVs) were compared;
        the inputs (TH hashes, the DHE secret or PSK) are compared too but not counted.
    """
    sessions = logged_sessions(name, log)
    session_secrets = secrets(name)
    assert len(sessions) == len(session_secrets)
    compared = 0
    for session, (kind, secret) in zip(sessions, session_secrets, strict=True):
        assert kind == ("psk" if session.psk else "dhe_secret")
        expected = expected_values(name, session, secret)
        logged = {"handshake": session.handshake.values}
        if session.data is not None:
            logged["data"] = session.data.values
        logged.update({f"update {i}": u.values for i, u in enumerate(session.updates)})
        assert logged == expected, f"{name} {log} session {session.session_id:#x}"
        compared += sum(1 for block in expected.values() for n, _ in block if n not in _INPUTS)
    return compared


# Derived values per log: a DHE session logs 23 (handshake secret, 2 hs secrets, 2 finished
# keys, 2 key/IV pairs, master, 2 data secrets, exporter, 2 key/IV pairs, and 3 per updated
# direction), a PSK session 10 (finished keys and 4 key/IV pairs), plus 3 per updated direction.
# Pinned, so a parser that silently skips a block fails.
EXPECTED_COUNTS = {
    "spdm11-p256": 23 + 10 + 23,  # DHE, PSK, DHE; UpdateAllKeys once per DHE session
    "spdm12-p384": 23 + 10 + 23,
    "spdm13-p384-mutauth-psk": 23 + 10 + (10 + 6) + 23,  # DHE, PSK, PSK with a key update, DHE
}


@pytest.mark.parametrize("log", LOGS)
@pytest.mark.parametrize("name", SETS)
def test_every_logged_key_schedule_value_reproduces(name: str, log: str) -> None:
    assert check_log(name, log) == EXPECTED_COUNTS[name]


def test_requester_and_responder_logged_the_same_sessions() -> None:
    for name in SETS:
        requester, responder = (logged_sessions(name, log) for log in LOGS)
        assert [(s.session_id, s.psk, s.handshake.value("th1 hash")) for s in requester] == [
            (s.session_id, s.psk, s.handshake.value("th1 hash")) for s in responder]


def _psk_finished_key_with_salt(name: str, psk: bytes, th1_hash: bytes, salt_byte: int) -> bytes:
    """The request finished key of a PSK session for an explicit Salt_0 (the road not taken)."""
    params = PARAMS[name]
    h = len(th1_hash)
    handshake_secret = hkdf_extract(params.hash_alg, bytes([salt_byte]) * h, psk)
    req_hs = hkdf_expand(params.hash_alg, handshake_secret,
                         bin_concat(params.version, h, b"req hs data", th1_hash), h)
    return hkdf_expand(params.hash_alg, req_hs, bin_concat(params.version, h, b"finished"), h)


@pytest.mark.parametrize("name", SETS)
def test_psk_salt_0_is_decided_by_the_version(name: str) -> None:
    # libspdm's sample PSK holder: Salt_0 = 0x00 * H before SPDM 1.3, 0xFF * H from 1.3.
    expected_salt = 0xFF if PARAMS[name].version >= SpdmVersion.V13 else 0x00
    psk_sessions = [(s, secret) for s, (_, secret) in zip(logged_sessions(name, "requester.log"),
                                                           secrets(name), strict=True) if s.psk]
    assert psk_sessions
    for session, psk in psk_sessions:
        th1 = session.handshake.value("th1 hash")
        logged = session.handshake.values[3][1]  # the first finished_key: the requester's
        assert _psk_finished_key_with_salt(name, psk, th1, expected_salt) == logged
        assert _psk_finished_key_with_salt(name, psk, th1, 0xFF ^ expected_salt) != logged
        assert schedule(name).handshake(psk, th1, psk=True).request_finished_key == logged


# --- the captures: open every secured record ------------------------------------------------------

_DUMP = re.compile(r"^(\d+) \(\d+\) PCI_DOE\(1, (\d)\) (REQ->RSP|RSP->REQ) "
                   r"(?:SecuredSPDM\(0x([0-9a-f]{8})\) )?SPDM\((\d\d), 0x([0-9a-f]{2})\)")


@dataclass(frozen=True)
class Opened:
    """One secured record as our record layer opened it."""

    record: int  # spdm_dump's record number (1-based)
    session_id: int
    session_index: int  # the session's place in creation order (IDs are reused)
    is_request: bool
    phase: str  # handshake | data
    seq: int
    generation: int  # key updates applied to this direction so far
    message: bytes


@dataclass
class _Live:
    index: int
    logged: LoggedSession
    handshake: HandshakeSecrets
    keys: SessionKeys
    phase: str = "handshake"
    generations: list[int] = field(default_factory=lambda: [0, 0])


def _to_data_phase(name: str, live: _Live) -> None:
    assert live.phase == "handshake" and live.logged.data is not None
    ks = schedule(name)
    data = ks.data(live.handshake, live.logged.data.value("th2 hash"))
    live.keys = SessionKeys.from_secrets(ks, data.request_secret, data.response_secret, PARAMS[name].aead)
    live.phase = "data"


def _start_session(name: str, live: dict[int, _Live], logged: Iterator[LoggedSession],
                   session_secrets: Iterator[tuple[int, tuple[str, bytes]]], session_id: int,
                   psk: bool) -> _Live:
    session, (session_index, (kind, secret)) = next(logged), next(session_secrets)
    assert (session.session_id, session.psk, kind) == (session_id, psk, "psk" if psk else "dhe_secret")
    ks = schedule(name)
    handshake = ks.handshake(secret, session.handshake.value("th1 hash"), psk=psk)
    keys = SessionKeys.from_secrets(ks, handshake.request_secret, handshake.response_secret,
                                    PARAMS[name].aead)
    live[session_id] = _Live(session_index, session, handshake, keys)
    return live[session_id]


def _check_psk_exchange_rsp(name: str, state: _Live, request: bytes, response: bytes) -> None:
    """PSK_EXCHANGE_RSP carries ResponderVerifyData = HMAC(rsp finished key, Hash(TH1)) (§3.10)."""
    ks = schedule(name)
    ctx = CodecContext(hash_size=ks.hash_size, measurement_summary=request[2] != 0)
    message = PskExchangeRsp.decode(response, ctx, padded=True)
    th1 = state.logged.handshake.value("th1 hash")
    assert message.responder_verify_data == ks.verify_data(state.handshake.response_finished_key, th1)


def _open(live: _Live, record: int, payload: bytes, is_request: bool) -> Opened:
    """Open one record; re-sealing the plaintext with the same sequence number must give it back."""
    session_id = record_session_id(payload)
    state = live.keys.request if is_request else live.keys.response
    seq = state.seq
    message = open_record(state, payload, expected_session_id=session_id)
    assert state.seq == seq + 1
    length = int.from_bytes(payload[4:6], "little")
    assert seal(dataclasses.replace(state, seq=seq), session_id, message) == payload[:6 + length]
    assert not any(payload[6 + length:]) and len(payload) - 6 - length < 4
    generation = live.generations[0 if is_request else 1]
    return Opened(record, session_id, live.index, is_request, live.phase, seq, generation, message)


def _after_secured(name: str, live: dict[int, _Live], opened: Opened) -> None:
    """Session transitions a follower of the capture must make after a secured message."""
    session = live[opened.session_id]
    code, param1 = opened.message[1], opened.message[2]
    if code in (ResponseCode.PSK_FINISH_RSP, ResponseCode.FINISH_RSP):
        _to_data_phase(name, session)
    elif code == RequestCode.KEY_UPDATE and param1 in (1, 2):  # UpdateKey / UpdateAllKeys
        session.keys.update(both=param1 == 2)
        session.generations[0] += 1
        session.generations[1] += param1 == 2
    elif code == ResponseCode.KEY_UPDATE_ACK and param1 == 3:  # VerifyNewKey acknowledged
        session.keys.commit_update()
    elif code == ResponseCode.END_SESSION_ACK:
        del live[opened.session_id]


@cache
def follow_capture(name: str) -> tuple[Opened, ...]:
    """Open every secured record of a capture in order, as a passive observer holding the secrets."""
    logged = iter(logged_sessions(name, "requester.log"))
    session_secrets = iter(enumerate(secrets(name)))
    live: dict[int, _Live] = {}
    opened: list[Opened] = []
    handshaking: _Live | None = None
    request = b""
    for rec in records(name):
        payload, is_request = rec.data[DOE_HEADER:], rec.index % 2 == 0
        if rec.data[2] == TYPE_SECURED:
            opened.append(_open(live[record_session_id(payload)], rec.index + 1, payload, is_request))
            _after_secured(name, live, opened[-1])
        elif rec.data[2] == TYPE_SPDM and is_request:
            request = payload
        elif rec.data[2] == TYPE_SPDM and payload[1] in (ResponseCode.KEY_EXCHANGE_RSP,
                                                         ResponseCode.PSK_EXCHANGE_RSP):
            session_id = int.from_bytes(request[4:6], "little") | int.from_bytes(payload[4:6], "little") << 16
            psk = payload[1] == ResponseCode.PSK_EXCHANGE_RSP
            handshaking = _start_session(name, live, logged, session_secrets, session_id, psk)
            if psk:
                _check_psk_exchange_rsp(name, handshaking, request, payload)
        elif rec.data[2] == TYPE_SPDM and payload[1] == ResponseCode.FINISH_RSP:
            assert handshaking is not None  # HANDSHAKE_IN_THE_CLEAR: FINISH/FINISH_RSP went unprotected
            _to_data_phase(name, handshaking)
    assert next(logged, None) is None and not live
    return tuple(opened)


@cache
def dumped_secured(name: str) -> dict[int, tuple[int, int, int]]:
    """spdm_dump's (session ID, SPDMVersion, code) per secured record number."""
    out = {}
    for line in dump_lines(name):
        if (m := _DUMP.match(line)) and m[2] == "2":
            out[int(m[1])] = (int(m[4], 16), int(m[5], 16), int(m[6], 16))
    return out


@pytest.mark.parametrize("name", SETS)
def test_every_secured_record_opens_as_the_dumped_message(name: str) -> None:
    opened = follow_capture(name)
    secured_records = [r.index + 1 for r in records(name) if r.data[2] == TYPE_SECURED]
    assert [o.record for o in opened] == secured_records
    dumped = dumped_secured(name)
    assert len(dumped) == len(opened) > 200
    version = PARAMS[name].version
    for item in opened:
        assert (item.session_id, item.message[0], item.message[1]) == dumped[item.record]
        assert item.message[0] == version


@pytest.mark.parametrize("name", SETS)
def test_every_secured_plaintext_decodes(name: str) -> None:
    params = PARAMS[name]
    h = schedule(name).hash_size
    last_request = b""
    for item in follow_capture(name):
        types = REQUEST_TYPES if item.is_request else RESPONSE_TYPES
        signed = last_request[1:2] == bytes([RequestCode.GET_MEASUREMENTS]) and bool(last_request[2] & 1)
        ctx = CodecContext(hash_size=h, signature_size=params.signature_size, signed=signed)
        message = types[item.message[1]].decode(item.message, ctx)
        assert message.raw == item.message
        assert message.encode(ctx) == item.message
        if item.is_request:
            last_request = item.message


@pytest.mark.parametrize("name", SETS)
def test_sequence_numbers_count_per_direction_phase_and_key_generation(name: str) -> None:
    counters: dict[tuple[int, bool, str, int], int] = {}
    for item in follow_capture(name):
        key = (item.session_index, item.is_request, item.phase, item.generation)
        assert item.seq == counters.get(key, 0)
        counters[key] = item.seq + 1
    assert {k[0] for k in counters} == set(range(len(secrets(name))))  # every session carried records
    phases = {(k[2], k[1]) for k in counters}
    assert phases == {("handshake", True), ("handshake", False), ("data", True), ("data", False)}
    assert any(k[3] > 0 for k in counters)  # key updates happened and restarted the count


def test_known_answer_first_ide_km_query_at_1_2() -> None:
    # PROTOCOLS.md §7.1 TRACE 1.2: the first app request is IDE_KM QUERY for port 1.
    first_data = next(o for o in follow_capture("spdm12-p384") if o.phase == "data")
    assert (first_data.session_id, first_data.seq, first_data.is_request) == (0xFFFFFFFF, 0, True)
    assert first_data.message == bytes.fromhex("12 fe 00 00 03 00 02 01 00 04 00 00 00 00 01")
    raw = records("spdm12-p384")[first_data.record - 1].data
    assert raw[:14] == bytes.fromhex("010002000c000000ffffffff2100")


def test_captured_record_fails_with_the_wrong_direction_or_sequence_number() -> None:
    name = "spdm11-p256"
    first = follow_capture(name)[0]
    payload = records(name)[first.record - 1].data[DOE_HEADER:]
    session = logged_sessions(name, "requester.log")[0]
    ks = schedule(name)
    hs = ks.handshake(secrets(name)[0][1], session.handshake.value("th1 hash"))
    assert session.data is not None
    data = ks.data(hs, session.data.value("th2 hash"))
    keys = SessionKeys.from_secrets(ks, data.request_secret, data.response_secret, PARAMS[name].aead)
    with pytest.raises(VerificationError):
        open_record(keys.response, payload)
    keys.request.seq = 1
    with pytest.raises(VerificationError):
        open_record(keys.request, payload)
    assert keys.request.seq == 1
    keys.request.seq = 0
    assert open_record(keys.request, payload) == first.message
    with pytest.raises(VerificationError):  # replayed
        open_record(keys.request, payload)
