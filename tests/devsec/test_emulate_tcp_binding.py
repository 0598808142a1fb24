"""``devsec emulate --binding tcp``: the emulated device speaks DSP0287 in spdm-emu's frames."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from spdm.config import RequesterConfig
from spdm.crypto import load_certificates
from spdm.events import HeartbeatAcknowledged, SessionEnded, SessionEstablished
from spdm.requester import Requester
from spdm.transport import EmuSocketClient, SocketTransportType
from spdm.transport.binding_driver import BindingDriver
from spdm.transport.tcp_binding import TCP_CAPTURE, TCP_RECORDS


def test_our_requester_reaches_the_emulator_over_the_tcp_binding(tmp_path: Path) -> None:
    root = tmp_path / "root.pem"
    proc = subprocess.Popen(
        [sys.executable, "-m", "devsec", "emulate", "--listen", "127.0.0.1:0", "--binding", "tcp",
         "--root-out", str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        match = re.search(r"on 127\.0\.0\.1:(\d+) \(TCP\)", banner)
        assert match, banner + (proc.stderr.read() if proc.stderr else "")
        client = EmuSocketClient("127.0.0.1", int(match.group(1)), transport_type=SocketTransportType.TCP)
        requester = Requester(RequesterConfig(trust_anchors=tuple(load_certificates(root.read_bytes()))),
                              record_format=TCP_RECORDS)
        driver = BindingDriver(client, TCP_CAPTURE, requester)
        for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                        requester.get_digests, lambda: requester.get_certificate(0, now=datetime.now(UTC))):
            driver.run(command)
        events = driver.run(requester.key_exchange)
        [sid] = [e.session_id for e in events if isinstance(e, SessionEstablished)]
        assert isinstance(driver.run(lambda: requester.heartbeat(sid))[0], HeartbeatAcknowledged)
        assert driver.run(lambda: requester.end_session(sid)) == [SessionEnded(sid)]
        client.shutdown()
        client.close()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
