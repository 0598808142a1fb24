"""Benchmark: what a udev hook or a one-shot ``devsec connect`` pays as a whole process.

Run on demand (not part of the tests):
    python bench/bench_startup.py [--runs N] [--tree OTHER_CHECKOUT]
    python bench/bench_startup.py --instructions [--tree OTHER_CHECKOUT]

Every figure is a whole process, timed from spawn to exit, and the processes
are run interleaved (one of each per round; the medians are reported), since
a shared machine's speed drifts within seconds:

- ``python -c pass``: the interpreter alone;
- the cryptography floor: importing what the connect path needs from
  ``cryptography`` (x509 and ec), which no Python requester can avoid;
- ``import devsec``: what a daemon author's first line costs;
- the connect path's imports (``devsec.cli`` and its ``connect`` command);
- ``devsec --help`` (every command's parser);
- ``devsec connect`` against a forked ``devsec emulate`` (VCA, digests,
  certificate, CHALLENGE, signed measurements over loopback TCP);
- ``devsec udev-hook`` for one device (``--via`` the same emulator, a policy,
  a kernel-shaped sysfs with a TSM): authenticate, render, decide, connect.

Bytecode: the processes run with a private ``PYTHONPYCACHEPREFIX`` and bytecode
writing on, warmed once, as an installed package runs (pip compiles on install);
the source tree's own setting (``PYTHONDONTWRITEBYTECODE``) would otherwise make
every run compile every module.

``--instructions`` counts instead, under valgrind's cachegrind (``PYTHONHASHSEED=0``,
warm bytecode), the instructions of the processes that only import: deterministic
figures, unlike the times, for before/after tables on a shared machine.

Targets (issue 14): connect-path imports at most 1.5x the floor import; the whole
``devsec connect`` at most 2x the reference requester's whole process for the
same flow (measured by the team against libspdm; the floor ratios here track it).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FLOOR = "from cryptography import x509; from cryptography.hazmat.primitives.asymmetric import ec"
CONNECT_IMPORTS = "import devsec.cli, devsec.cli.connect"
IMPORTS_ONLY = {
    "python -c pass": ["-c", "pass"],
    "cryptography floor import": ["-c", FLOOR],
    "import devsec": ["-c", "import devsec"],
    "connect-path imports": ["-c", CONNECT_IMPORTS],
    "devsec connect --help": ["-m", "devsec", "connect", "--help"],
    "udev-hook path imports": ["-c", "import devsec.cli, devsec.cli.daemon"],
    "devsec --help (every command)": ["-m", "devsec", "--help"],
}
"""The processes ``--instructions`` counts: imports (and argument parsing) only, no I/O."""
BDF = "0000:01:00.0"


def environment(tree: Path, pycache: Path) -> dict[str, str]:
    """The processes' environment: ``tree`` first on the path, bytecode cached privately."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(tree)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def start_emulator(env: dict[str, str], root: Path) -> tuple[subprocess.Popen[str], str]:
    """``devsec emulate`` on an ephemeral port; returns the process and its tcp:// URL."""
    proc = subprocess.Popen([sys.executable, "-m", "devsec", "emulate", "--listen", "127.0.0.1:0",
                             "--root-out", str(root)], env=env, cwd=env["PYTHONPATH"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    match = re.search(r"on 127\.0\.0\.1:(\d+)", proc.stdout.readline())
    if match is None:
        proc.kill()
        raise SystemExit("devsec emulate did not start")
    return proc, f"tcp://127.0.0.1:{match.group(1)}"


def kernel_sysfs(root: Path) -> Path:
    """A /sys with tsm0 registered and one PCI device with the TSM attributes."""
    sysfs = root / "sys"
    (sysfs / "devices/virtual/tsm/tsm0").mkdir(parents=True)
    (sysfs / "class/tsm").mkdir(parents=True)
    (sysfs / "class/tsm/tsm0").symlink_to("../../devices/virtual/tsm/tsm0")
    (sysfs / "bus/pci/devices" / BDF / "tsm").mkdir(parents=True)
    (sysfs / "bus/pci/devices" / BDF / "tsm/disconnect").write_text("")
    return sysfs


def udev_environment(env: dict[str, str]) -> dict[str, str]:
    """What udev gives a RUN+= program for a PCI add event."""
    return {**env, "ACTION": "add", "DEVPATH": f"/devices/pci0000:00/0000:00:01.0/{BDF}",
            "SUBSYSTEM": "pci", "PCI_SLOT_NAME": BDF, "PCI_ID": "1AF4:1234", "PCI_SUBSYS_ID": "1AF4:1100",
            "PCI_CLASS": "10800", "SEQNUM": "4711"}


def timed(argv: list[str], env: dict[str, str]) -> float:
    """One whole process's wall time, run in the timed tree (``python -c`` puts the cwd first on
    the path); it must exit 0."""
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=env["PYTHONPATH"], capture_output=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.decode()[-400:]}")
    return seconds


def instructions(argv: list[str], env: dict[str, str]) -> int:
    """The instructions one process executes (cachegrind's ``I refs``), its bytecode already written."""
    subprocess.run(argv, env=env, cwd=env["PYTHONPATH"], capture_output=True, check=True)
    done = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no",
                           "--cachegrind-out-file=/dev/null", *argv],
                          env=env, cwd=env["PYTHONPATH"], capture_output=True, text=True, check=True)
    match = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if match is None:
        raise SystemExit(f"no cachegrind count for {' '.join(argv)}: {done.stderr[-400:]}")
    return int(match.group(1).replace(",", ""))


def count_instructions(tree: Path) -> None:
    """Print the instruction counts of :data:`IMPORTS_ONLY` and the connect path's ratio to the floor."""
    with tempfile.TemporaryDirectory(prefix="devsec-bench-") as tmp:
        env = {**environment(tree, Path(tmp) / "pycache"), "PYTHONHASHSEED": "0"}
        counts = {name: instructions([sys.executable, *argv], env) for name, argv in IMPORTS_ONLY.items()}
    floor = counts["cryptography floor import"]
    print(f"{tree}: instructions (millions, cachegrind, PYTHONHASHSEED=0, warm bytecode)\n")
    for name, count in counts.items():
        print(f"  {name:<30} {count / 1e6:7.0f} M   {count / floor:5.2f}x floor")
    print(f"\n  connect-path imports / floor import        {counts['connect-path imports'] / floor:5.2f}"
          "  (target <= 1.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="rounds (default 15)")
    parser.add_argument("--tree", type=Path, default=REPO,
                        help="the checkout to time (default: this one; another gives a before/after)")
    parser.add_argument("--instructions", action="store_true",
                        help="count the import-only processes' instructions with cachegrind instead")
    args = parser.parse_args()
    if args.instructions:
        count_instructions(args.tree.resolve())
        return
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="devsec-bench-") as tmp:
        work = Path(tmp)
        env = environment(args.tree.resolve(), work / "pycache")
        root = work / "root.pem"
        emulator, url = start_emulator(env, root)
        try:
            sysfs = kernel_sysfs(work)
            policy = work / "policy.toml"
            policy.write_text(f'[trust]\nroots = ["{root}"]\n')
            connect_file = sysfs / "bus/pci/devices" / BDF / "tsm/connect"
            hook_env = udev_environment(env)
            processes = {
                "python -c pass": [python, "-c", "pass"],
                "cryptography floor import": [python, "-c", FLOOR],
                "import devsec": [python, "-c", "import devsec"],
                "connect-path imports": [python, "-c", CONNECT_IMPORTS],
                "devsec --help": [python, "-m", "devsec", "--help"],
                "devsec connect (TCP)": [python, "-m", "devsec", "connect", url, "--trust-root", str(root)],
                "devsec udev-hook": [python, "-m", "devsec", "udev-hook", "--policy", str(policy),
                                     "--sysfs", str(work / "devsec"), "--kernel-sysfs", str(sysfs),
                                     "--via", url],
            }
            samples: dict[str, list[float]] = {name: [] for name in processes}
            for round_ in range(args.runs + 1):  # round 0 writes the bytecode and is discarded
                for name, argv in processes.items():
                    connect_file.write_text("\n")
                    seconds = timed(argv, hook_env if name == "devsec udev-hook" else env)
                    if round_:
                        samples[name].append(seconds)
        finally:
            emulator.kill()
            emulator.wait(timeout=10)
    med = {name: statistics.median(values) for name, values in samples.items()}
    base, floor = med["python -c pass"], med["cryptography floor import"]
    print(f"{args.tree.resolve()}: {args.runs} interleaved rounds, medians of whole processes\n")
    for name, seconds in med.items():
        print(f"  {name:<28} {seconds * 1000:7.1f} ms   {seconds / floor:5.2f}x floor")
    imports = med["connect-path imports"]
    print("\nratios")
    print(f"  connect-path imports / floor import        {imports / floor:5.2f}  (target <= 1.5)")
    print(f"  the same above the interpreter             {(imports - base) / (floor - base):5.2f}")
    print(f"  devsec connect / floor import              {med['devsec connect (TCP)'] / floor:5.2f}")
    print(f"  import devsec above the interpreter        {(med['import devsec'] - base) * 1000:5.1f} ms")


if __name__ == "__main__":
    main()
