"""``devsec dump`` on the MCTP (link type 291) and DSP0287 TCP (147) captures, against spdm_dump."""

from __future__ import annotations

import re

import pytest

from devsec.dump import dump
from spdm.capture import write_capture
from tests.vectors import NOW, TRANSPORT_SETS, binding_records, dump_lines, secrets

_NAME = re.compile(r"^(\d+) .*?(SPDM_\w+|<encrypted>)")
_HEAD = re.compile(r"^(\d+) (?:\(\d+\) )?(.*?) (REQ->RSP|RSP->REQ) (SecuredSPDM\([^)]*\) )?")


def _matches(pattern: re.Pattern[str], lines: list[str]) -> dict[int, tuple[str | None, ...]]:
    return {int(m.group(1)): m.groups()[1:] for line in lines if (m := pattern.match(line))}


def _dump(name: str, *, with_secrets: bool = True) -> list[str]:
    keys = [value for _, value in secrets(name)] if with_secrets else []
    return dump((TRANSPORT_SETS[name][0] / "capture.pcap").read_bytes(), now=NOW, secrets=keys)


@pytest.mark.parametrize("name", TRANSPORT_SETS)
def test_every_record_decrypts_to_the_reference_decoders_message(name: str) -> None:
    lines = _dump(name)
    ours, theirs = _matches(_NAME, lines), _matches(_NAME, dump_lines(name))
    assert len(ours) == len(binding_records(name)) == 50
    assert ours == theirs
    assert "secured records decrypted: 20" in lines
    assert lines[-1] == "signatures: 4 verified, 0 failed"


@pytest.mark.parametrize("name", TRANSPORT_SETS)
def test_binding_headers_directions_and_sessions_as_the_reference_shows_them(name: str) -> None:
    # MCTP(5) / MCTP(6), or TCP(Len=.., Ver=0x01, Type=..); SecuredSPDM with MCTP's Seq.
    assert _matches(_HEAD, _dump(name)) == _matches(_HEAD, dump_lines(name))


@pytest.mark.parametrize("name", TRANSPORT_SETS)
def test_without_secrets_the_records_stay_closed(name: str) -> None:
    lines = _dump(name, with_secrets=False)
    names = _matches(_NAME, lines)
    assert sum(value == ("<encrypted>",) for value in names.values()) == 20
    assert "secured records decrypted: 0" in lines


def test_an_undecodable_record_is_reported_and_dumping_goes_on() -> None:
    records = [r.data for r in binding_records("spdm12-p384-tcp")]
    link_type = TRANSPORT_SETS["spdm12-p384-tcp"][1].link_type
    lines = dump(write_capture([records[0][:3], *records[1:]], link_type=link_type), now=NOW)
    assert lines[0].startswith("1 undecodable record: DSP0287 message of 3 bytes")
