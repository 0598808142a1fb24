"""STYLE R15/R16 in CI: ruff and mypy --strict must pass on the whole tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)


def test_ruff() -> None:
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


LIBRARY = ("spdm", "ide_km", "tdisp", "tsm", "sysfs_bridge", "devsec")
MAX_MODULE_LINES = 600
"""STYLE R1: past this a module holds more than one concept and is split by message group."""


def test_no_library_module_is_over_the_size_limit() -> None:
    sizes = {path.relative_to(ROOT): len(path.read_text().splitlines())
             for package in LIBRARY for path in (ROOT / package).rglob("*.py")}
    assert len(sizes) > 100
    assert {str(path): lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}
