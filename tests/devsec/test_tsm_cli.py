"""``devsec demo`` and ``devsec tsm`` as an operator runs them, against ``devsec emulate`` over TCP."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devsec.cli import main
from sysfs_bridge import read_device
from tests.devsec.test_cli import emulate
from tsm.service import alive


@pytest.mark.parametrize("backend", ["native", "psp-proxy"])
def test_demo_runs_every_step(backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sysfs = tmp_path / "devsec-sysfs"
    assert main(["demo", "--backend", backend, "--sysfs", str(sysfs)]) == 0
    out = capsys.readouterr().out
    for step in ("connect: connected: SPDM 1.3", "keys programmed and running",
                 "bind 0000:01:00.1: CONFIG_LOCKED", "accept 0000:01:00.2: RUN",
                 "policy decision: ALLOW -> bind", "unbind 0000:01:00.2: CONFIG_UNLOCKED",
                 "disconnect: disconnected"):
        assert step in out, out
    dsm = read_device(sysfs, "0000:01:00.0")
    assert dsm.authenticated == backend and dsm.signatures and dsm.measurements
    assert read_device(sysfs, "0000:01:00.1").tsm is not None


def test_the_demo_run_twice_in_one_directory_allows_twice(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Each run emulates a new device (new keys) at the same address: the second tree must not
    carry the first device's signatures over, which its chain never signed (the policy denied)."""
    sysfs = tmp_path / "devsec-sysfs"
    for _ in range(2):
        assert main(["demo", "--backend", "native", "--sysfs", str(sysfs)]) == 0
        out = capsys.readouterr().out
        assert "policy decision: ALLOW -> bind" in out and "all 2 signatures of the log verify" in out, out
    assert len(read_device(sysfs, "0000:01:00.0").signatures) == 2


def test_demo_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json", "--backend", "native", "--sysfs", str(tmp_path / "s")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["allowed"] is True
    names = [s["step"] for s in doc["steps"]]
    assert names[:3] == ["emulated device", "TSM", "connect"] and names[-1] == "disconnect"
    assert all(isinstance(s["ms"], float) for s in doc["steps"])
    decision = next(s for s in doc["steps"] if s["step"] == "policy decision")
    assert "capability ide present" in decision["reasons"]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths are limited to ~107 bytes: pytest's tmp_path can be longer."""
    with tempfile.TemporaryDirectory(prefix="devsec-", dir="/tmp") as name:
        yield Path(name)


@pytest.mark.socket
@pytest.mark.parametrize("backend", ["native", "psp-proxy"])
def test_tsm_commands_drive_an_emulated_device_over_tcp(
        backend: str, short_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    socket_path, sysfs = str(short_dir / "tsm.sock"), short_dir / "sysfs"
    with emulate(short_dir) as (url, root):
        service = subprocess.Popen(
            [sys.executable, "-m", "devsec", "tsm", "serve", "--backend", backend, "--trust-root", str(root),
             "--socket", socket_path, "--sysfs", str(sysfs)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert service.stdout is not None
            assert "listening on" in service.stdout.readline()

            def tsm(*args: str) -> int:
                return main(["tsm", *args, "--socket", socket_path])

            # not connected yet: LocalProtocolError, a ProtocolError (exit 3)
            assert tsm("bind", url, "--tdi", "0000:01:00.1") == 3
            assert "never been connected" in capsys.readouterr().err
            assert tsm("connect", url) == 0
            captured = capsys.readouterr()
            assert f"device 0000:01:00.0: connected (TSM {backend})" in captured.out
            assert "KEY_EXCHANGE" in captured.err and " ms  " in captured.err  # progress with timing
            assert read_device(sysfs, "0000:01:00.0").authenticated == backend
            assert tsm("refresh", url, "--nonce", "5a" * 32, "--json") == 0
            signed = json.loads(capsys.readouterr().out)["device"]["signatures"][-1]
            assert signed["requester_nonce"] == "5a" * 32
            assert tsm("bind", url, "--tdi", "0000:01:00.1") == 0
            assert "CONFIG_LOCKED" in capsys.readouterr().out
            # A TDI the device lacks: its TDISP_ERROR crosses every process boundary as it was raised.
            assert tsm("bind", url, "--tdi", "0000:01:00.7") == 3
            assert "TdispErrorResponse: INVALID_INTERFACE: GET_TDISP_VERSION" in capsys.readouterr().err
            assert tsm("accept", url, "--tdi", "0000:01:00.1") == 0
            assert ": RUN" in capsys.readouterr().out
            tdi = read_device(sysfs, "0000:01:00.1").tsm
            assert tdi is not None and tdi.bound == backend and tdi.accept == "1"
            assert tsm("info", url, "--json") == 0
            doc = json.loads(capsys.readouterr().out)["device"]
            assert doc["state"] == "connected" and doc["tdis"][0]["state"] == "RUN"
            assert tsm("info", url, "--tdi", "0000:01:00.1") == 0
            one = capsys.readouterr().out
            assert one.startswith("tdi 0000:01:00.1 (FUNCTION_ID 0x0101) of 0000:01:00.0: RUN"), one
            assert tsm("unbind", url, "--tdi", "0000:01:00.1") == 0
            assert "CONFIG_UNLOCKED" in capsys.readouterr().out
            assert tsm("disconnect", url) == 0
            assert "disconnected" in capsys.readouterr().out
            assert read_device(sysfs, "0000:01:00.0").authenticated == ""
        finally:
            service.terminate()
            assert service.wait(timeout=20) == 0
    assert not Path(socket_path).exists()


def test_tsm_command_without_a_service_is_a_usage_error(short_dir: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tsm", "info", "0000:01:00.0", "--socket", str(short_dir / "none.sock")]) == 2
    assert "devsec tsm serve" in capsys.readouterr().err


@pytest.mark.socket
def test_an_operation_with_a_backend_starts_the_service_and_stop_ends_it(
        short_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``devsec tsm connect TARGET --backend B`` works with no service running, as an operator types it."""
    socket_path, sysfs = short_dir / "tsm.sock", short_dir / "sysfs"

    def tsm(*args: str) -> int:
        return main(["tsm", *args, "--socket", str(socket_path)])

    with emulate(short_dir) as (url, root):
        assert tsm("connect", url, "--backend", "psp-proxy") == 2  # a service needs a trust root
        assert "needs --trust-root" in capsys.readouterr().err
        absent = str(short_dir / "absent.pem")
        assert tsm("connect", url, "--backend", "psp-proxy", "--trust-root", absent) == 4
        err = capsys.readouterr().err
        assert "exited with status 2 at start" in err and "absent.pem" in err and not alive(socket_path)

        pid = 0
        try:
            assert tsm("connect", url, "--backend", "psp-proxy", "--trust-root", str(root),
                       "--sysfs", str(sysfs)) == 0
            captured = capsys.readouterr()
            started = re.search(r"started a TSM service \(psp-proxy, pid (\d+)\)", captured.err)
            assert started, captured.err
            pid = int(started.group(1))
            assert "device 0000:01:00.0: connected (TSM psp-proxy)" in captured.out
            assert read_device(sysfs, "0000:01:00.0").authenticated == "psp-proxy"
            assert tsm("bind", url, "--tdi", "0000:01:00.1") == 0  # the same service, no --backend needed
            assert "CONFIG_LOCKED" in capsys.readouterr().out
            assert tsm("info", url, "--backend", "native") == 2  # another backend is refused, nothing done
            assert "runs the psp-proxy backend, not native" in capsys.readouterr().err
            assert tsm("info", url, "--backend", "psp-proxy", "--json") == 0
            captured = capsys.readouterr()
            assert "started" not in captured.err
            assert json.loads(captured.out)["device"]["tdis"][0]["state"] == "CONFIG_LOCKED"
            # a second service on a live socket is refused; the first keeps running
            assert main(["tsm", "serve", "--trust-root", str(root), "--socket", str(socket_path)]) == 4
            assert "already listens" in capsys.readouterr().err and alive(socket_path)
            assert tsm("stop") == 0
            assert "(psp-proxy)" in capsys.readouterr().out
            assert not alive(socket_path) and not socket_path.exists()
            assert os.waitpid(pid, 0)[1] == 0
            pid = 0
        finally:
            if pid:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
    assert tsm("info", url) == 2 and "no TSM service" in capsys.readouterr().err
    assert tsm("stop") == 2
