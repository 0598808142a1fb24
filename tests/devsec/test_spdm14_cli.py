"""``devsec emulate`` / ``devsec connect`` on SPDM 1.4: the device lists 1.4, the requester opts in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devsec.cli import main
from tests.devsec.test_cli import emulate


@pytest.mark.socket
def test_connect_version_14_to_emulate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with emulate(tmp_path) as (url, root):
        assert main(["connect", url, "--trust-root", str(root), "--version", "1.4", "--session",
                     "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["verified"] is True and doc["challenge"]["verified"] is True
        assert doc["spdm_version"] == "1.4" and doc["session"] is not None
        assert "LARGE_RESP_CAP" in doc["responder_capabilities"]
        assert main(["connect", url, "--trust-root", str(root), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["spdm_version"] == "1.3"  # 1.4 is opt-in


@pytest.mark.socket
def test_emulate_version_14_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with emulate(tmp_path, "--version", "1.4") as (url, root):
        assert main(["connect", url, "--trust-root", str(root)]) != 0  # offers 1.0-1.3 only
        capsys.readouterr()
        assert main(["connect", url, "--trust-root", str(root), "--version", "1.4", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["spdm_version"] == "1.4"
