"""``devsec daemon --processes``: only with the kernel's TSM, whose state is the kernel's, not a process's."""

from __future__ import annotations

from pathlib import Path

import pytest

from devsec.cli import main


@pytest.mark.parametrize("acting", [["--backend", "native"], ["--tsm-service", "tsm.sock"]])
def test_devsecs_own_tsm_stays_in_one_process(acting: list[str], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["daemon", "--policy", str(tmp_path / "policy.toml"), "--sysfs", str(tmp_path / "out"),
            "--processes", "2", *acting]
    assert main(argv) == 2
    assert "--processes acts through the kernel's TSM only" in capsys.readouterr().err
