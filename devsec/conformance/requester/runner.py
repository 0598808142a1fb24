"""Runs the requester under test against the device each case plays, and collects verdicts.

For every run of a case a fresh device serves the spdm-emu socket protocol
on ``host:port`` (port 0: a free one), the requester command runs once with
``{host}``, ``{port}``, ``{root}`` (the trust root's PEM file) and ``{chain}``
(slot 0's chain, root first, as a PEM bundle: what ``devsec provision
install`` writes into a slot of a device whose key pair is slot 0's) substituted,
and is killed if it has not exited within the run's time limit.  The case then
judges the exit status together with the exchange the device recorded.
"""

from __future__ import annotations

import shlex
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from spdm.device import DeviceModel
from spdm.record import record
from spdm.transport import EmuSocketServer

from ..runner import Verdict
from .case import RequesterCase
from .context import CaseSkipped, RequesterContext, RequesterRun
from .device import CaseDevice, Misbehaviour, Recurring
from .report import RequesterResult, RequesterSuiteResult

__all__ = ["RUN_TIMEOUT", "Requester", "run_case", "run_requester_suite"]

RUN_TIMEOUT = 5.0
"""Seconds one requester run may take before it is killed (devsec's takes about half a second)."""

_OUTPUT_TAIL = 300


@record(frozen=True, slots=True)
class Requester:
    """The requester under test and what it is given.

    Attributes:
        command: the command line, with ``{port}`` (and optionally ``{host}``,
            ``{root}``) to substitute; split like a POSIX shell would.
        model: the healthy device's identity; its slot 0 root is the trust root.
        root: the file holding that root as PEM (``{root}``).
        impostor: another identity, for the case whose chain must not be trusted.
        host: the address to listen on.
        port: the TCP port (0: a free one per run).
        timeout: seconds per run.
    """

    command: str
    model: DeviceModel
    root: Path
    impostor: DeviceModel
    host: str = "127.0.0.1"
    port: int = 0
    timeout: float = RUN_TIMEOUT

    def argv(self, host: str, port: int, chain: Path | None = None) -> list[str]:
        """The command's arguments for a device listening on ``host:port`` (``chain``: the {chain} file)."""
        text = (self.command.replace("{port}", str(port)).replace("{host}", host)
                .replace("{root}", str(self.root)))
        if chain is not None:
            text = text.replace("{chain}", str(chain))
        return shlex.split(text)

    def chain_pem(self) -> bytes:
        """Slot 0's certificates, root first, as one PEM bundle (the {chain} file's content)."""
        slots = self.model.slots
        return b"".join(c.to_pem() for c in slots[min(slots)].certificates)


def _tail(data: bytes) -> str:
    text = " ".join(data.decode(errors="replace").split())
    return text[-_OUTPUT_TAIL:] if text else "no output"


def run_once(requester: Requester, case: RequesterCase, misbehaviour: Misbehaviour | None) -> RequesterRun:
    """Serve a fresh device for ``case`` and run the requester once against it.

    Raises:
        TransportError: the address cannot be bound.
        OSError: the requester command cannot be started.
    """
    triggered = misbehaviour.triggered if misbehaviour is not None else 0
    device = CaseDevice(requester.impostor if case.impostor else requester.model, misbehaviour, case.without,
                        case.device)
    server = EmuSocketServer(device.handle, requester.host, requester.port)
    worker = threading.Thread(target=server.serve_forever, daemon=True)
    worker.start()
    try:
        with tempfile.TemporaryDirectory(prefix="devsec-serve-run-") as scratch:
            host, port = server.address
            chain = None
            if "{chain}" in requester.command:
                chain = Path(scratch) / "chain.pem"
                chain.write_bytes(requester.chain_pem())
            try:
                done = subprocess.run(requester.argv(host, port, chain), capture_output=True,
                                      timeout=requester.timeout, check=False)
                status: int | None = done.returncode
                output = _tail(done.stdout + b" " + done.stderr)
            except subprocess.TimeoutExpired as exc:
                status, output = None, _tail((exc.stdout or b"") + b" " + (exc.stderr or b""))
    finally:
        server.stop()
        worker.join()
        server.close()
    return RequesterRun(status, tuple(device.exchanges), output,
                        misbehaviour.triggered - triggered if misbehaviour is not None else 0,
                        tuple(device.dropped))


def run_case(requester: Requester, case: RequesterCase) -> RequesterResult:
    """Run one case (each of its runs) and judge it."""
    started = time.perf_counter()
    ctx = RequesterContext([], case.reference)
    misbehaviour = case.misbehaviour() if case.misbehaviour is not None else None
    try:
        for index in range(case.runs):
            if index and isinstance(misbehaviour, Recurring):
                misbehaviour.next_run()
            ctx.runs.append(run_once(requester, case, misbehaviour))
        case.judge(ctx)
    except CaseSkipped as skipped:
        return RequesterResult(case, Verdict.SKIP, tuple(ctx.assertions), time.perf_counter() - started,
                               str(skipped))
    except Exception as exc:  # noqa: BLE001 - any failure to judge is an error verdict, never a crash
        return RequesterResult(case, Verdict.ERROR, tuple(ctx.assertions), time.perf_counter() - started,
                               f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - started
    assertions = tuple(ctx.assertions)
    if not assertions:
        return RequesterResult(case, Verdict.ERROR, assertions, seconds, "the case judged nothing")
    verdict = Verdict.FAIL if any(not a.passed for a in assertions) else Verdict.PASS
    return RequesterResult(case, verdict, assertions, seconds)


def run_requester_suite(requester: Requester, cases: Iterable[RequesterCase], *,
                        on_result: Callable[[RequesterResult], None] | None = None) -> RequesterSuiteResult:
    """Run every case against the requester.

    Args:
        requester: the requester under test.
        cases: the cases, in order.
        on_result: called with each result as it comes (the progress line).
    """
    started = time.perf_counter()
    results = []
    for case in cases:
        result = run_case(requester, case)
        if on_result is not None:
            on_result(result)
        results.append(result)
    return RequesterSuiteResult(tuple(results), time.perf_counter() - started)
