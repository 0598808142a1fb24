"""The README's library example runs as written, against the in-process emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def library_example() -> str:
    """The first ``python`` code block of the README's "Library" section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Library\n", 1)[1].split("\n## ", 1)[0]
    blocks: list[str] = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "the Library section has no python example"
    return blocks[0]


def test_the_library_example_runs() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", library_example()], capture_output=True, text=True,
                          timeout=120, env=env, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "SPDM 1.3 chain of 3"
    assert re.fullmatch(r"\d+ measurement blocks in session 0x[0-9a-f]+", lines[1])
    # CHALLENGE_AUTH and MEASUREMENTS of the authentication, the session's MEASUREMENTS.
    assert lines[2] == "3 signatures to render with devsec.render(evidence, root)"
