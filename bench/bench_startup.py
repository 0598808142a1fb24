"""Benchmark: what a udev hook or a one-shot ``devsec connect`` pays as a whole process.

Run on demand (not part of the tests):
    python bench/bench_startup.py [--runs N] [--against BEFORE_CHECKOUT]
    python bench/bench_startup.py --instructions [--against BEFORE_CHECKOUT]

Every figure is a whole process, timed from spawn to exit, and the processes
are run interleaved (one of each per round, and with ``--against`` one per
checkout; the medians are reported), since a shared machine's speed drifts
within seconds:

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
warm bytecode), the instructions of the processes that only import (deterministic)
and of a whole ``devsec connect`` (within a few hundred thousand): figures, unlike the
times, for before/after tables on a shared machine.

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


def count_instructions(trees: list[Path]) -> None:
    """Print the instruction counts of :data:`IMPORTS_ONLY` in each tree, and of a whole ``devsec
    connect`` against that tree's forked emulator (only the connecting process is counted; its
    count varies by a few hundred thousand with the socket's timing), and the connect path's ratio."""
    counts: dict[Path, dict[str, int]] = {}
    with tempfile.TemporaryDirectory(prefix="devsec-bench-") as tmp:
        for number, tree in enumerate(trees):
            env = {**environment(tree, Path(tmp) / f"pycache{number}"), "PYTHONHASHSEED": "0"}
            counts[tree] = {name: instructions([sys.executable, *argv], env)
                            for name, argv in IMPORTS_ONLY.items()}
            root = Path(tmp) / f"root{number}.pem"
            emulator, url = start_emulator(env, root)
            try:
                counts[tree]["devsec connect (TCP), whole"] = instructions(
                    [sys.executable, "-m", "devsec", "connect", url, "--trust-root", str(root)], env)
            finally:
                emulator.kill()
                emulator.wait(timeout=10)
    print("instructions (millions, cachegrind, PYTHONHASHSEED=0, warm bytecode)")
    _table(trees, {tree: {name: count / 1e6 for name, count in per.items()} for tree, per in counts.items()},
           "M")


def _table(trees: list[Path], figures: dict[Path, dict[str, float]], unit: str) -> None:
    """One row per process, one column per tree (with its ratio to that tree's floor)."""
    for number, tree in enumerate(trees):
        print(f"  [{number}] {tree}")
    print(f"\n  {'':<30}" + "".join(f"  {f'[{number}]':>18}" for number in range(len(trees))))
    for name in figures[trees[0]]:
        cells = ""
        for tree in trees:
            value, floor = figures[tree][name], figures[tree]["cryptography floor import"]
            cells += f"  {value:8.1f} {unit} ({value / floor:4.2f}x)"
        print(f"  {name:<30}{cells}")
    print()
    for tree in trees:
        ratio = figures[tree]["connect-path imports"] / figures[tree]["cryptography floor import"]
        print(f"  connect-path imports / floor import, {tree.name}: {ratio:5.2f}  (target <= 1.5)")


def time_processes(trees: list[Path], runs: int) -> None:
    """Time every process of every tree, interleaved round by round, and print the medians."""
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="devsec-bench-") as tmp:
        work = Path(tmp)
        envs = [environment(tree, work / f"pycache{number}") for number, tree in enumerate(trees)]
        root = work / "root.pem"
        emulator, url = start_emulator(envs[0], root)
        try:
            sysfs = kernel_sysfs(work)
            policy = work / "policy.toml"
            policy.write_text(f'[trust]\nroots = ["{root}"]\n')
            connect_file = sysfs / "bus/pci/devices" / BDF / "tsm/connect"
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
            samples: dict[Path, dict[str, list[float]]] = {tree: {name: [] for name in processes}
                                                           for tree in trees}
            for round_ in range(runs + 1):  # round 0 writes the bytecode and is discarded
                for name, argv in processes.items():
                    # the interpreter and the floor import are the same process in every tree:
                    # timed once a round, they are one reference for all
                    shared = name in ("python -c pass", "cryptography floor import")
                    for tree, env in zip(trees[:1] if shared else trees, envs, strict=False):
                        connect_file.write_text("\n")
                        seconds = timed(argv, udev_environment(env) if name == "devsec udev-hook" else env)
                        if round_:
                            for timed_tree in trees if shared else (tree,):
                                samples[timed_tree][name].append(seconds)
        finally:
            emulator.kill()
            emulator.wait(timeout=10)
    med = {tree: {name: statistics.median(values) * 1000 for name, values in per.items()}
           for tree, per in samples.items()}
    print(f"{runs} interleaved rounds, medians of whole processes")
    _table(trees, med, "ms")
    for tree in trees:
        base, floor = med[tree]["python -c pass"], med[tree]["cryptography floor import"]
        imports = med[tree]["connect-path imports"]
        print(f"  {tree.name}: connect-path imports above the interpreter "
              f"{(imports - base) / (floor - base):5.2f}x the floor's; devsec connect "
              f"{med[tree]['devsec connect (TCP)'] / floor:5.2f}x the floor import; import devsec "
              f"{med[tree]['import devsec'] - base:5.1f} ms above the interpreter")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="rounds (default 15)")
    parser.add_argument("--tree", type=Path, default=REPO,
                        help="the checkout to time (default: this one)")
    parser.add_argument("--against", type=Path,
                        help="another checkout, measured in the same run (interleaved): a before/after")
    parser.add_argument("--instructions", action="store_true",
                        help="count the import-only processes' instructions with cachegrind instead")
    args = parser.parse_args()
    trees = [tree.resolve() for tree in (args.against, args.tree) if tree is not None]
    if args.instructions:
        count_instructions(trees)
    else:
        time_processes(trees, args.runs)


if __name__ == "__main__":
    main()
