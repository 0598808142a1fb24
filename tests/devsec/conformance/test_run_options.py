"""Run options: the PSK and the TDI a user gives ``devsec conformance run``, carried to every case."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from devsec.cli import main
from devsec.conformance import RunOptions, Verdict, run_suite, select
from devsec.emulator import serving
from spdm.errors import ConfigurationError

from .devices import psk_device, secure_device

PSK = bytes(32)
"""The key :func:`.devices.psk_device` holds under the hint ``devsec``."""


@pytest.fixture
def psk_target() -> Iterator[str]:
    with serving(psk_device()) as url:
        yield url


def test_options_refuse_a_hint_without_a_psk_and_an_empty_psk() -> None:
    with pytest.raises(ConfigurationError, match="give the PSK too"):
        RunOptions(psk_hint=b"devsec")
    with pytest.raises(ConfigurationError, match="empty PSK"):
        RunOptions(psk=b"")
    with pytest.raises(ConfigurationError, match="FUNCTION_ID"):
        RunOptions(tdi=1 << 25)


def test_the_psk_stays_out_of_the_options_repr_and_report() -> None:
    options = RunOptions(psk=b"\x5a" * 32, psk_hint=b"devsec")
    assert "5a5a" not in repr(options) and "ZZZZ" not in repr(options)
    assert options.report() == {"psk": True, "psk_hint": b"devsec".hex(), "tdi": "0x0100"}
    assert RunOptions().report() == {"psk": False, "psk_hint": None, "tdi": "0x0100"}


@pytest.mark.parametrize(("flags", "message"), [
    (["--psk-hint", "devsec"], "give --psk too"),
    (["--psk", "00" * 32, "--psk-hint", "a", "--psk-hint-hex", "61"], "give one"),
    (["--psk", "xyz"], "--psk wants hex digits"),
    (["--psk", "00", "--psk-hint-hex", "6"], "--psk-hint-hex wants hex digits"),
    (["--tdi", "pf0"], "--tdi wants a FUNCTION_ID"),
    (["--tdi", "0x4000000"], "FUNCTION_ID 0x4000000"),
])
def test_bad_option_flags_exit_2_saying_why(flags: list[str], message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", "run", "tcp://127.0.0.1:1", *flags]) == 2
    assert message in capsys.readouterr().err


def test_the_json_report_records_the_options_but_never_the_psk(psk_target: str, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    key = "5a" * 32
    assert main(["conformance", "run", psk_target, "--psk", key, "--psk-hint", "devsec",
                 "--tdi", "0x0101", "--case", "spdm.version.entries", "--json", str(report)]) == 0
    text = report.read_text()
    assert key not in text
    assert json.loads(text)["options"] == {"psk": True, "psk_hint": b"devsec".hex(), "tdi": "0x0101"}


def test_the_tdisp_cases_lock_the_tdi_given() -> None:
    """The emulator serves TDIs 0x0100-0x0102: another one of them passes, one it lacks fails."""
    cases = select(include=("tdisp.lock",))
    served = run_suite(secure_device().spdm.pipe, cases, options=RunOptions(tdi=0x0102))
    assert [r.verdict for r in served.results] == [Verdict.PASS]
    absent = run_suite(secure_device().spdm.pipe, cases, options=RunOptions(tdi=0x0999))
    assert [r.verdict for r in absent.results] != [Verdict.PASS]


def test_cases_see_the_options_of_their_run() -> None:
    options = RunOptions(psk=PSK, psk_hint=b"devsec", tdi=0x0101)
    suite = run_suite(psk_device().pipe, select(include=("spdm.version.entries",)), options=options)
    assert suite.options is options
