"""Benchmark: one full CMA ``connect`` flow, and how far above its crypto floor it runs.

Run on demand (not part of the tests):  python bench/bench_connect.py [--runs N]

It times the whole authentication flow (DOE discovery, VCA, digests,
certificates, CHALLENGE, signed GET_MEASUREMENTS) against the emulated device
in process (through the DOE mailbox register model) and over loopback TCP
(spdm-emu socket protocol), then times the same flow's cryptography alone:
the device's two signatures, the host's two verifications, the chain
validation and the hashes.  The ratio flow / floor is the protocol's overhead;
the target is at most 1.25.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spdm.authenticate import AuthenticationReport, authenticate  # noqa: E402
from spdm.config import RequesterConfig, ResponderConfig  # noqa: E402
from spdm.crypto import digest, validate_cert_chain, verify  # noqa: E402
from spdm.device import DeviceModel  # noqa: E402
from spdm.emulator import EmulatedDevice  # noqa: E402
from spdm.messages.codes import BaseAsymAlgo, SpdmVersion  # noqa: E402
from spdm.negotiation import AlgorithmPreferences  # noqa: E402
from spdm.transport import EmuSocketClient  # noqa: E402

NOW = datetime.now(UTC)


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def crypto_floor(model: DeviceModel, report: AuthenticationReport) -> Callable[[], None]:
    """The flow's cryptography alone, on the flow's own transcripts."""
    n = report.negotiated
    challenge = report.challenge
    measurements = report.measurements
    assert challenge is not None and measurements is not None and measurements.evidence is not None
    evidences = (challenge.evidence, measurements.evidence)
    chain = report.chain
    config_anchor = (model.root_certificate(),)

    def floor() -> None:
        digest(n.hash_alg, chain.raw)            # DIGESTS on the device
        digest(n.hash_alg, chain.raw)            # digest check on the host
        digest(n.hash_alg, chain.raw)            # CertChainHash on the device
        digest(n.hash_alg, chain.raw)            # CertChainHash check on the host
        validate_cert_chain(chain, config_anchor, n.asym_alg, now=NOW)
        for ev in evidences:
            model.sign(ev.slot_id, n.hash_alg, n.version, ev.context, ev.transcript)
            verify(chain.leaf.public_key(), n.asym_alg, n.hash_alg, n.version,
                   ev.context, ev.transcript, ev.signature)
        for block in measurements.blocks:
            digest(n.hash_alg, block.value)      # the device digests what it measures

    return floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--asym", default="ECDSA_P384", choices=[a.name for a in BaseAsymAlgo])
    args = parser.parse_args()
    asym = BaseAsymAlgo[args.asym]
    model = DeviceModel.generate(asym)
    prefs = replace(AlgorithmPreferences(), asym_algs=(asym,))
    rconfig = ResponderConfig(algorithms=prefs, versions=(SpdmVersion.V13,))
    qconfig = RequesterConfig(trust_anchors=(model.root_certificate(),))

    def in_process() -> AuthenticationReport:
        return authenticate(EmulatedDevice(rconfig, model).mailbox(), qconfig, now=NOW)

    device = EmulatedDevice(rconfig, model)
    server = device.server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def over_tcp() -> AuthenticationReport:
        client = EmuSocketClient("127.0.0.1", server.address[1])
        try:
            return authenticate(client, qconfig, now=NOW)
        finally:
            client.close()

    report = in_process()
    t_proc = median_seconds(in_process, args.runs)
    t_tcp = median_seconds(over_tcp, args.runs)
    t_floor = median_seconds(crypto_floor(model, report), args.runs)
    server.stop()
    thread.join(5)
    server.close()
    print(f"connect flow, SPDM 1.3, {asym.name}, {args.runs} runs (median)")
    print(f"  in process (DOE mailbox model): {t_proc * 1e3:8.2f} ms")
    print(f"  loopback TCP (spdm-emu socket): {t_tcp * 1e3:8.2f} ms")
    print(f"  crypto floor:                   {t_floor * 1e3:8.2f} ms")
    print(f"  ratio in-process / floor:       {t_proc / t_floor:8.2f}   (target <= 1.25)")
    print(f"  ratio TCP / floor:              {t_tcp / t_floor:8.2f}   (target <= 1.25)")


if __name__ == "__main__":
    main()
