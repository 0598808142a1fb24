"""``devsec dump`` against the reference decoder's own reading of the same captures."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from devsec.dump import dump
from spdm.capture import write_capture
from spdm.errors import DecodeError
from tests.vectors import ROOT, SETS, dump_lines, records, secrets

NOW = datetime(2026, 11, 22, tzinfo=UTC)
_NAME = re.compile(r"^(\d+) .*?(SPDM_\w+|DOE_DISCOVERY|<encrypted>)")

# Signatures (CHALLENGE_AUTH + MEASUREMENTS) verified without and with the session secrets:
# with them the in-session signed MEASUREMENTS count too.  In spdm13 the follower also checks
# the requester's RSASSA-PSS signatures: its encapsulated CHALLENGE_AUTH (basic mutual auth,
# over M2) and the two mutually authenticated FINISHes.
EXPECTED_SIGNATURES = {"spdm11-p256": 10, "spdm12-p384": 2, "spdm13-p384-mutauth-psk": 3}
EXPECTED_WITH_SECRETS = {"spdm11-p256": 10, "spdm12-p384": 4, "spdm13-p384-mutauth-psk": 8}


def _names(lines: list[str]) -> dict[int, str]:
    out = {}
    for line in lines:
        match = _NAME.match(line)
        if match:
            out[int(match.group(1))] = match.group(2)
    return out


def _secrets(name: str) -> list[bytes]:
    return [value for _, value in secrets(name)]


@pytest.mark.parametrize("name", SETS)
def test_every_record_has_the_reference_decoders_message_name(name: str) -> None:
    ours = _names(dump((ROOT / name / "capture.pcap").read_bytes(), now=NOW))
    theirs = _names(dump_lines(name))
    assert len(ours) == len(records(name))
    for number, our_name in ours.items():
        if our_name != "<encrypted>":  # without secrets the records stay closed
            assert our_name == theirs[number], f"record {number}"


@pytest.mark.parametrize("name", SETS)
def test_with_secrets_every_secured_record_decrypts_to_the_reference_message(name: str) -> None:
    lines = dump((ROOT / name / "capture.pcap").read_bytes(), now=NOW, secrets=_secrets(name))
    ours = _names(lines)
    theirs = _names(dump_lines(name))
    assert "<encrypted>" not in ours.values()
    assert ours == theirs
    secured = sum(1 for r in records(name) if r.data[2] == 2)
    assert f"secured records decrypted: {secured}" in lines
    assert lines[-1] == f"signatures: {EXPECTED_WITH_SECRETS[name]} verified, 0 failed"


def test_wrong_secret_fails_visibly() -> None:
    wrong = [bytes(48)] + _secrets("spdm12-p384")[1:]
    lines = dump((ROOT / "spdm12-p384" / "capture.pcap").read_bytes(), now=NOW, secrets=wrong)
    assert any("verification FAILED" in line for line in lines)
    assert "<encrypted>" in _names(lines).values()


@pytest.mark.parametrize("name", SETS)
def test_every_signature_in_the_capture_verifies(name: str) -> None:
    lines = dump((ROOT / name / "capture.pcap").read_bytes(), now=NOW)
    assert lines[-1] == f"signatures: {EXPECTED_SIGNATURES[name]} verified, 0 failed"
    assert not any("FAILED" in line for line in lines)


def test_a_forged_signature_is_reported() -> None:
    objects = [r.data for r in records("spdm12-p384")]
    challenge_auth = next(i for i, o in enumerate(objects) if o[2] == 1 and o[9] == 0x03)
    forged = bytearray(objects[challenge_auth])
    forged[-10] ^= 1
    objects[challenge_auth] = bytes(forged)
    lines = dump(write_capture(objects), now=NOW)
    assert any("verification FAILED" in line and "signature" in line for line in lines)
    assert lines[-1].endswith("1 failed")


def test_not_a_capture_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        dump(b"not a pcap file at all", now=NOW)


def test_following_a_capture_logs_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    """R13: a vector run at DEBUG leaves none of the session secrets in the logs."""
    caplog.set_level(logging.DEBUG)
    name = "spdm13-p384-mutauth-psk"
    lines = dump((ROOT / name / "capture.pcap").read_bytes(), now=NOW, secrets=_secrets(name))
    assert "secured records decrypted: 304" in lines
    assert caplog.records, "DEBUG logging ran"
    for secret in _secrets(name):
        assert secret.hex() not in caplog.text and secret.hex().upper() not in caplog.text


def test_a_reader_that_stops_early_ends_the_dump_quietly() -> None:
    """``devsec dump capture | head -1``: no traceback, the status a SIGPIPE death gives."""
    # ~90 KB of output: more than a pipe holds (64 KiB), so the writer must meet the closed end
    capture, keys = ROOT / SETS[0] / "capture.pcap", ROOT / SETS[0] / "secrets.txt"
    with subprocess.Popen([sys.executable, "-m", "devsec", "dump", str(capture), "--secrets", str(keys)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert b"DOE_DISCOVERY" in proc.stdout.readline()
        proc.stdout.close()
        errors = proc.stderr.read()
        assert proc.wait(timeout=60) == 141
    assert errors == b""
