"""Events reach the CLI: ``devsec emulate --events`` updates its firmware on SIGUSR1, and
``devsec connect --events SECONDS`` prints the MeasurementChanged the device then sends.

The emulator runs as its own process (a signal is what the operator sends it);
connect runs in process, subscribed and polling, while the test signals the
emulator until connect has finished watching.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devsec.cli import EXIT_STATUS, build_parser, main
from devsec.cli.emulate import device_from_args, model_from_args
from devsec.cli.event_watch import event_line, watch_events
from devsec.cli.firmware_update import FIRMWARE_INDEX, FirmwareUpdates
from devsec.emulator import serving
from spdm.config import DEFAULT_REQUESTER_CAPS, RequesterConfig
from spdm.connection import connect
from spdm.errors import NegotiationError
from spdm.messages.codes import CapabilityFlags
from spdm.transport.targets import open_binding

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def emulator(tmp_path: Path, *argv: str) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    """``devsec emulate ARGV`` as a process; yields it, its tcp:// URL and its root certificate."""
    root = tmp_path / "root.pem"
    command = [sys.executable, "-m", "devsec", "emulate", "--listen", "127.0.0.1:0", "--root-out", str(root)]
    proc = subprocess.Popen(
        [*command, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        match = re.search(r"on 127\.0\.0\.1:(\d+) ", banner)
        assert match and "SIGUSR1 updates its firmware" in banner, banner + (
            proc.stderr.read() if proc.stderr else "")
        yield proc, f"tcp://127.0.0.1:{match.group(1)}", root
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.socket
@pytest.mark.parametrize("binding", ["doe", "mctp"])
def test_connect_prints_the_measurement_change_the_signal_caused(
        binding: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with emulator(tmp_path, "--events", "--binding", binding) as (proc, url, root):
        status: list[int] = []
        argv = ["connect", url, "--binding", binding, "--trust-root", str(root), "--events", "2", "--json"]
        watcher = threading.Thread(target=lambda: status.append(main(argv)))
        watcher.start()
        while watcher.is_alive():
            proc.send_signal(signal.SIGUSR1)
            watcher.join(0.2)
        assert proc.poll() is None  # the device keeps serving
    assert status == [0]
    events = json.loads(capsys.readouterr().out)["device_events"]
    assert events and {e["type"] for e in events} == {"MEASUREMENT_CHANGED"}
    assert all(e["changed_measurements"] == [FIRMWARE_INDEX] for e in events)
    ids = [e["instance_id"] for e in events]
    assert ids == list(range(ids[0], ids[0] + len(ids)))


@pytest.mark.socket
def test_updates_asked_between_polls_arrive_as_events_in_order() -> None:
    args = build_parser().parse_args(["emulate", "--events", "--binding", "mctp"])
    model = model_from_args(args)
    device = device_from_args(args, model)
    updates = FirmwareUpdates(device.spdm.responder, model)
    config = RequesterConfig(trust_anchors=(model.root_certificate(),),
                             capabilities=DEFAULT_REQUESTER_CAPS | CapabilityFlags.ENCAP_CAP)
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        # Between two polls the device's firmware is updated twice (the server is idle: the
        # requester waits here, so this thread may touch the responder).
        polls.append(seconds)
        updates.ask()
        updates.ask()
        updates.apply()

    now = iter(range(100))
    with serving(device.spdm, binding="mctp") as url, open_binding(url, "mctp") as channel:
        connection = connect(channel, config)
        with connection.open_session() as session:
            before = session.measure().blocks
            received = watch_events(connection, session, 3, sleep=sleep, clock=lambda: float(next(now)))
            after = session.measure().blocks
    assert polls == [0.25, 0.25]
    assert [(e.event_instance_id, sorted(e.changed_measurements)) for e in received] == [
        (1, [FIRMWARE_INDEX]), (2, [FIRMWARE_INDEX]), (3, [FIRMWARE_INDEX]), (4, [FIRMWARE_INDEX])]
    assert event_line(received[0]) == "  #1 MEASUREMENT_CHANGED: measurements 0x02"
    changed = {b.index for b, a in zip(before, after, strict=True) if b != a}
    assert changed == {FIRMWARE_INDEX}


@pytest.mark.socket
def test_events_of_a_device_without_events_is_refused(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["emulate"])
    model = model_from_args(args)
    root = tmp_path / "root.pem"
    root.write_bytes(model.root_certificate_pem())
    with serving(device_from_args(args, model).spdm) as url:
        status = main(["connect", url, "--trust-root", str(root), "--events", "0"])
    assert status == next(code for cls, code in EXIT_STATUS if issubclass(NegotiationError, cls))
    assert "sends no events" in capsys.readouterr().err
