"""Benchmark: connect + bind + start of N TDIs on one emulated SR-IOV device, through the TSM interface.

Run on demand (not part of the tests):
    python bench/bench_tsm.py [--sizes 1 16 256 1024] [--backend native|psp-proxy] [--runs 3]

Issue 6.  For each N, a fresh process (so peak memory is N's own; after one untimed
warm-up round, so N = 1 is not charged for imports) builds one
emulated TEE-IO device with a PF and N-1 VFs (N TDIs) behind an in-process
DOE mailbox, connects it through the chosen TSM backend (SPDM authentication,
session, IDE keys), then binds and starts every TDI.  It prints the total
time, the connect time, the time per TDI (bind + start), and the peak
resident memory of the process.  The scaling target: N = 1024 within 1.2x of
1024 x the single-TDI time, i.e. the per-TDI time must not grow with N (the
ratio printed is per-TDI(N) / per-TDI(1)); peak memory under 200 MB.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devsec.emulator import SecureDevice  # noqa: E402
from spdm.config import RequesterConfig, ResponderConfig  # noqa: E402
from spdm.device import DeviceModel  # noqa: E402
from spdm.messages.codes import BaseAsymAlgo  # noqa: E402
from tsm import DeviceTarget, TdiTarget, TsmConfig, open_backend  # noqa: E402
from tsm.info import function_id  # noqa: E402

DSM = "0000:01:00.0"


def _bdf(rid: int) -> str:
    return f"0000:{rid >> 8:02x}:{(rid >> 3) & 0x1F:02x}.{rid & 7}"


def one(size: int, backend: str) -> dict[str, float]:
    """Connect one device with ``size`` TDIs and bind + start them all; the figures."""
    model = DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)
    first = function_id(DSM)
    functions = tuple(range(first, first + size))
    device = SecureDevice(ResponderConfig(), model, functions=functions)
    tsm = open_backend(backend, TsmConfig(RequesterConfig(trust_anchors=(model.root_certificate(),))))
    try:
        start = time.perf_counter()
        tsm.connect(DeviceTarget(DSM, device.spdm.mailbox))
        connected = time.perf_counter()
        for rid in functions:
            tdi = TdiTarget(DSM, _bdf(rid))
            tsm.bind(tdi)
            tsm.accept(tdi)
        done = time.perf_counter()
        tsm.disconnect(DSM)
    finally:
        tsm.close()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"connect": connected - start, "tdis": done - connected, "total": done - start,
            "per_tdi": (done - connected) / size, "peak_mb": peak_kib / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 16, 256, 1024])
    parser.add_argument("--backend", default="native")
    parser.add_argument("--runs", type=int, default=3, help="runs per size; the median is printed")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        one(1, args.backend)  # warm up (imports, compiled codecs) so N=1 is not charged for them
        print(json.dumps(one(args.child, args.backend)))
        return
    print(f"backend {args.backend}; median of {args.runs} runs per size, each in a fresh process")
    print(f"{'N':>5} {'total':>9} {'connect':>9} {'per TDI':>9} {'x per-TDI(1)':>13} {'peak MB':>8}")
    base: float | None = None
    for size in args.sizes:
        runs = []
        for _ in range(args.runs):
            out = subprocess.run([sys.executable, __file__, "--child", str(size), "--backend", args.backend],
                                 check=True, capture_output=True, text=True).stdout
            runs.append(json.loads(out))
        figures = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        base = figures["per_tdi"] if base is None else base
        print(f"{size:>5} {figures['total'] * 1e3:>7.1f}ms {figures['connect'] * 1e3:>7.1f}ms "
              f"{figures['per_tdi'] * 1e3:>7.2f}ms {figures['per_tdi'] / base:>13.2f} "
              f"{figures['peak_mb']:>8.1f}")
    print("targets: per-TDI ratio at N=1024 <= 1.2; peak memory < 200 MB")


if __name__ == "__main__":
    main()
