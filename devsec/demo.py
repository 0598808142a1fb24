"""``devsec demo``: the whole TEE-IO story on the embedded emulator, one timed step at a time.

An emulated device (a PF and four VFs, each a TDI) sits behind a DOE
mailbox register model; a TSM backend (``psp-proxy`` by default: a separate
process that owns the session and IDE keys, the host only relaying DOE
objects) connects it — SPDM authentication, a session, IDE keys programmed
and started — binds and starts two TDIs, the host renders the evidence into
a sysfs-like tree and asks the policy engine whether the device may be
bound, then everything is torn down.  Each step records its result and how
long it took.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any

from devsec.emulator import SecureDevice
from spdm.config import RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.messages.codes import BaseAsymAlgo
from spdm.record import record
from sysfs_bridge import evaluate, evidence_from_tsm, load_policy, pci_identity, render
from tsm import DeviceInfo, DeviceTarget, TdiInfo, TdiTarget, TsmConfig, open_backend

__all__ = ["DemoRun", "run_demo"]

DSM = "0000:01:00.0"
VFS = ("0000:01:00.1", "0000:01:00.2", "0000:01:00.3", "0000:01:00.4")
BOUND = VFS[:2]


@record
class DemoRun:
    """The steps of one demo run: name, result line, milliseconds, details."""

    steps: list[dict[str, Any]] = field(default_factory=list)
    allowed: bool = False

    def timed(self, name: str, action: Callable[[], str], **details: Any) -> None:
        """Run one step and record its result line and duration."""
        start = time.perf_counter()
        result = action()
        self.steps.append({"step": name, "result": result,
                           "ms": round((time.perf_counter() - start) * 1e3, 1), **details})

    def lines(self) -> list[str]:
        """The run for a terminal."""
        out = []
        for step in self.steps:
            out.append(f"{step['ms']:>8.1f} ms  {step['step']}: {step['result']}")
            out += [f"{'':>13}{line}" for line in step.get("detail_lines", ())]
        return out

    def document(self) -> dict[str, Any]:
        """The run as JSON."""
        return {"allowed": self.allowed,
                "steps": [{k: v for k, v in s.items() if k != "detail_lines"} for s in self.steps]}


def _policy_text(root_file: str, vendor: int, device: int, measurements: dict[int, bytes]) -> str:
    references = "\n".join(f'{index} = ["{value.hex()}"]' for index, value in sorted(measurements.items()))
    return f"""\
action = "bind"

[trust]
roots = ["{root_file}"]

[spdm]
min_version = "1.2"
min_hash = "sha384"

[require]
capabilities = ["measurements", "sessions", "ide", "tdisp"]

[[reference]]
vendor = 0x{vendor:04x}
device = 0x{device:04x}
[reference.measurements]
{references}
"""


def run_demo(sysfs: Path, backend: str = "psp-proxy") -> DemoRun:
    """Run the demo, rendering the evidence under ``sysfs``.

    Raises:
        DevsecError: a step failed (the run's steps so far are lost with it).
    """
    run = DemoRun()
    model = DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)
    device = SecureDevice(ResponderConfig(), model, functions=(0x0100, 0x0101, 0x0102, 0x0103, 0x0104))
    run.timed("emulated device", lambda: f"PF {DSM} + {len(VFS)} VFs behind a DOE mailbox, "
              f"ECDSA P-384 identity", dsm=DSM, vfs=list(VFS))
    identity = pci_identity(device.spdm.config_space)
    config = TsmConfig(RequesterConfig(trust_anchors=(model.root_certificate(),)))
    holder: dict[str, Any] = {}

    def start_tsm() -> str:
        holder["tsm"] = open_backend(backend, config)
        process = getattr(holder["tsm"], "process", None)
        return f"{backend} TSM started" + (f" (process {process.pid})" if process is not None else "")

    run.timed("TSM", start_tsm, backend=backend)
    tsm = holder["tsm"]
    try:
        progress: list[str] = []

        def connect() -> str:
            info: DeviceInfo = tsm.connect(DeviceTarget(DSM, device.spdm.mailbox), progress.append)
            holder["info"] = info
            return (f"{info.state.value}: SPDM {info.version.text}, {len(info.signatures)} signatures "
                    f"verified, {len(info.measurements)} measurements, IDE stream(s) {list(info.streams)} "
                    f"keys programmed and running")

        run.timed("connect", connect)
        run.steps[-1]["detail_lines"] = progress[:]
        run.steps[-1]["progress"] = progress[:]
        for vf in BOUND:
            tdi = TdiTarget(DSM, vf)

            def bind(tdi: TdiTarget = tdi) -> str:
                info: TdiInfo = tsm.bind(tdi)
                return f"{info.state.name}, interface report {len(info.report)} bytes"

            def accept(tdi: TdiTarget = tdi) -> str:
                return str(tsm.accept(tdi).state.name)

            run.timed(f"bind {vf}", bind, tdi=vf)
            run.timed(f"accept {vf}", accept, tdi=vf)

        def render_all() -> str:
            info = tsm.info(DSM)
            trees = evidence_from_tsm(info, identity)
            for evidence in trees:
                render(evidence, sysfs)
            return f"{len(trees)} device trees under {sysfs / 'bus/pci/devices'}"

        run.timed("evidence rendered", render_all, sysfs=str(sysfs))

        def decide() -> str:
            with tempfile.TemporaryDirectory() as scratch:
                Path(scratch, "root.pem").write_bytes(model.root_certificate_pem())
                reference = {m.index: m.value for m in holder["info"].measurements}
                policy_file = Path(scratch, "policy.toml")
                policy_file.write_text(_policy_text("root.pem", identity.vendor or 0, identity.device or 0,
                                                    reference))
                decision = evaluate(load_policy(policy_file), sysfs / "bus/pci/devices" / DSM)
            run.allowed = decision.allow
            holder["reasons"] = list(decision.reasons)
            return f"{'ALLOW' if decision.allow else 'DENY'} -> {decision.action}"

        run.timed("policy decision", decide)
        run.steps[-1]["reasons"] = holder["reasons"]
        run.steps[-1]["detail_lines"] = holder["reasons"]

        for vf in BOUND:
            def unbind(vf: str = vf) -> str:
                return str(tsm.unbind(TdiTarget(DSM, vf)).state.name)

            run.timed(f"unbind {vf}", unbind, tdi=vf)
        run.timed("disconnect", lambda: str(tsm.disconnect(DSM).state.value))
    finally:
        tsm.close()
    return run
