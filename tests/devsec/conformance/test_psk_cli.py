"""End to end: ``devsec emulate --psk`` in one process, ``devsec conformance run --psk`` in another."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from spdm.transport import EmuSocketClient

PSK_HEX = "5465737450736b4461746100"
"""libspdm's sample PSK as the reference tools send it ('TestPskData', NUL-terminated)."""
HINT = "devsec-psk"


def _devsec(*args: str) -> list[str]:
    return [sys.executable, "-m", "devsec", *args]


@pytest.mark.socket
def test_conformance_run_with_the_psk_passes_the_psk_cases_of_devsec_emulate(tmp_path: Path) -> None:
    emulator = subprocess.Popen(_devsec("emulate", "--listen", "127.0.0.1:0", "--psk", PSK_HEX,
                                        "--psk-hint", HINT),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert emulator.stdout is not None
        banner = emulator.stdout.readline()
        match = re.search(r"on 127\.0\.0\.1:(\d+)", banner)
        assert match, banner
        port = int(match.group(1))
        report = tmp_path / "report.json"
        run = subprocess.run(_devsec("conformance", "run", f"tcp://127.0.0.1:{port}", "--psk", PSK_HEX,
                                     "--psk-hint", HINT, "--case", "spdm.psk", "--json", str(report)),
                             capture_output=True, text=True, timeout=120)
        client = EmuSocketClient("127.0.0.1", port, timeout=10)
        client.shutdown()
        client.close()
        assert emulator.wait(timeout=10) == 0
    finally:
        if emulator.poll() is None:
            emulator.kill()
            emulator.wait(timeout=10)
    assert run.returncode == 0, run.stdout + run.stderr
    document = json.loads(report.read_text())
    assert PSK_HEX not in report.read_text() and PSK_HEX not in run.stdout
    assert document["options"] == {"psk": True, "psk_hint": HINT.encode().hex(), "tdi": "0x0100"}
    verdicts = {c["id"]: c["verdict"] for c in document["cases"]}
    for case in ("session", "in-session", "summary-hash", "bad-verify-data", "finish-without-exchange"):
        assert [verdicts[f"spdm.psk.{case}@1.{m}"] for m in (1, 2, 3)] == ["pass"] * 3, verdicts
    assert "PASS  spdm.psk.session@1.3" in run.stdout
