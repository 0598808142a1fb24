"""Benchmark: the policy daemon's burst of device events, and whether it uses both cores.

Run on demand (not part of the tests):
    python bench/bench_daemon.py [--devices 120] [--workers 1 2 4] [--emulators 4] [--runs 3]

Issue 14 (scale).  The devices are ``devsec emulate`` processes on loopback
TCP (``--emulators`` of them; device ``n`` is served by emulator ``n mod E``),
so the daemon process does only what a host does: the requester's protocol
work and crypto, rendering, the decision.  A burst of ``--devices`` PCI add
events is handed to one :class:`~sysfs_bridge.daemon.PolicyDaemon` and timed
until every device is decided, once per worker count, and once more with the
daemon's ``processes=2`` (two worker threads handing the admissions to two
forked processes: the alternative to threads when the GIL is the limit).  Printed per configuration: the wall
time of the burst, the time per device, the daemon process's CPU time per
device (the host's own cost, which should not grow with the burst), and the
speed-up over one worker.

The machine's two cores also run the emulators, so the speed-up a host with
hardware devices sees is bounded above by these figures' CPU share: read the
ratio between configurations, not the absolute time.
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spdm.transport import DoeTransport  # noqa: E402
from spdm.transport.targets import open_target  # noqa: E402
from sysfs_bridge import DeviceEvidence, PciIdentity, load_policy  # noqa: E402
from sysfs_bridge.admission import Admission  # noqa: E402
from sysfs_bridge.daemon import DaemonStats, PolicyDaemon  # noqa: E402
from sysfs_bridge.uevent import QueueUeventSource, Uevent  # noqa: E402


class NullActor:
    """Acts on nothing: the bench times the decision, not a kernel's TSM."""

    def held_evidence(self, bdf: str, pci: PciIdentity) -> DeviceEvidence | None:
        return None

    def connect(self, bdf: str) -> None:
        pass

    def bind(self, bdf: str) -> None:
        pass

    def refuse(self, bdf: str, reasons: tuple[str, ...]) -> None:
        raise SystemExit(f"{bdf} was refused: {reasons}")

    def forget(self, bdf: str) -> None:
        pass


def bdfs(count: int) -> list[str]:
    """``count`` distinct PCI addresses."""
    return [f"0000:{1 + n // 256:02x}:{n // 8 % 32:02x}.{n % 8}" for n in range(count)]


def add_event(bdf: str) -> Uevent:
    """The kernel's PCI add event for ``bdf``."""
    path = f"/devices/pci0000:00/0000:00:01.0/{bdf}"
    return Uevent("add", path, "pci", {"ACTION": "add", "DEVPATH": path, "SUBSYSTEM": "pci",
                                       "PCI_SLOT_NAME": bdf})


def start_emulators(count: int, work: Path) -> tuple[list[subprocess.Popen[str]], list[str], list[Path]]:
    """``count`` emulators on ephemeral ports: the processes, their URLs and root certificates."""
    procs, urls, roots = [], [], []
    for n in range(count):
        root = work / f"root{n}.pem"
        proc = subprocess.Popen([sys.executable, "-m", "devsec", "emulate", "--listen", "127.0.0.1:0",
                                 "--slots", "0", "--root-out", str(root)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        match = re.search(r"on 127\.0\.0\.1:(\d+)", proc.stdout.readline())
        if match is None:
            raise SystemExit("devsec emulate did not start")
        procs.append(proc)
        urls.append(f"tcp://127.0.0.1:{match.group(1)}")
        roots.append(root)
    return procs, urls, roots


def burst(devices: list[str], index: dict[str, int], urls: list[str], policy_path: Path, root: Path,
          workers: int, processes: int = 0) -> tuple[DaemonStats, float]:
    """One daemon handling one add event per device; its stats and CPU seconds (its processes' included)."""

    def opener(bdf: str) -> DoeTransport:
        return open_target(urls[index[bdf] % len(urls)])

    admission = Admission(load_policy(policy_path), root, opener=opener, actor=NullActor())
    source = QueueUeventSource(add_event(bdf) for bdf in devices)
    source.close()
    before = _cpu()
    stats = PolicyDaemon(source, admission, devices=lambda: devices, workers=workers,
                         poll_interval=0.05, processes=processes).run()
    return stats, _cpu() - before


def _cpu() -> float:
    """CPU seconds of this process and of its children that ended (the daemon's processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=120, help="devices in the burst (default 120)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4], help="worker threads to time")
    parser.add_argument("--emulators", type=int, default=4, help="emulator processes (default 4)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each configuration (median; default 3)")
    args = parser.parse_args()
    devices = bdfs(args.devices)
    index = {bdf: n for n, bdf in enumerate(devices)}
    with tempfile.TemporaryDirectory(prefix="devsec-bench-") as tmp:
        work = Path(tmp)
        procs, urls, roots = start_emulators(args.emulators, work)
        try:
            policy = work / "policy.toml"
            policy.write_text("[trust]\nroots = [" + ", ".join(f'"{r}"' for r in roots) + "]\n")
            results: dict[str, list[tuple[float, float]]] = {}
            for run in range(args.runs):
                for workers in args.workers:
                    start = time.perf_counter()
                    stats, cpu = burst(devices, index, urls, policy, work / f"sys-{run}-{workers}", workers)
                    wall = time.perf_counter() - start
                    if stats != DaemonStats(allowed=len(devices)):
                        raise SystemExit(f"{workers} workers: {stats}")
                    results.setdefault(f"{workers} worker thread(s)", []).append((wall, cpu))
                start = time.perf_counter()
                stats, cpu = burst(devices, index, urls, policy, work / f"processes-{run}", 2, processes=2)
                wall = time.perf_counter() - start
                if stats != DaemonStats(allowed=len(devices)):
                    raise SystemExit(f"processes=2: {stats}")
                results.setdefault("2 threads, processes=2", []).append((wall, cpu))
        finally:
            for proc in procs:
                proc.kill()
                proc.wait(timeout=10)
    print(f"burst of {len(devices)} devices, {args.emulators} emulators, median of {args.runs} runs\n")
    print(f"{'configuration':<26} {'wall s':>8} {'ms/device':>10} {'host CPU ms/device':>19} {'speed-up':>9}")
    base = statistics.median(w for w, _ in results[f"{args.workers[0]} worker thread(s)"])
    for name, samples in results.items():
        wall = statistics.median(w for w, _ in samples)
        cpu = statistics.median(c for _, c in samples)
        print(f"{name:<26} {wall:8.2f} {1000 * wall / len(devices):10.2f} "
              f"{1000 * cpu / len(devices):19.2f} {base / wall:8.2f}x")


if __name__ == "__main__":
    main()
