"""Benchmark: one full CMA ``connect`` flow, and how far above its crypto floor it runs.

Run on demand (not part of the tests):
    python bench/bench_connect.py [--runs N] [--pin CPU] [--breakdown]

It times the whole authentication flow (DOE discovery, VCA, digests,
certificates, CHALLENGE, signed GET_MEASUREMENTS) against the emulated device:
in process straight to the device's DOE endpoint (pipe), in process through the
DOE mailbox register model and the host mailbox driver, and over loopback TCP
(spdm-emu socket protocol) with the server as a thread of this process (as the
CLI's demo runs it) and as a separate, forked process (as spdm-emu runs).  Then
it times the same flow's cryptography alone (the crypto floor): the device's
two signatures, the host's two verifications, the chain validation and the
hashes.  The ratio flow / floor is the protocol's overhead; the target is at
most 1.25.

The five are timed interleaved, one of each per round, and each ratio is the
median of the per-round ratios: on a shared machine the speed drifts by 2x
within seconds, which separate runs would turn into noise in the ratio.
``--pin`` keeps everything on one CPU.

``--breakdown`` adds where the pipe flow spends its time, per SPDM request:
inside the device (decode the request, build and sign the response) and on
the host (decode and check the response, build the next request), and the
floor's parts.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devsec.emulator import EmulatedDevice  # noqa: E402
from spdm.cma import AuthenticationReport, authenticate  # noqa: E402
from spdm.config import RequesterConfig, ResponderConfig  # noqa: E402
from spdm.crypto import digest, validate_cert_chain, verify  # noqa: E402
from spdm.device import DeviceModel  # noqa: E402
from spdm.events import SignedEvidence  # noqa: E402
from spdm.messages.codes import BaseAsymAlgo, RequestCode, SpdmVersion  # noqa: E402
from spdm.negotiation import AlgorithmPreferences  # noqa: E402
from spdm.transport import EmuSocketClient, PipeTransport  # noqa: E402
from spdm.transport.doe import DOE_HEADER_SIZE, DataObjectType  # noqa: E402

NOW = datetime.now(UTC)


def crypto_parts(model: DeviceModel, report: AuthenticationReport) -> dict[str, Callable[[], None]]:
    """The flow's cryptography, piece by piece, on the flow's own transcripts."""
    n = report.negotiated
    challenge = report.challenge
    measurements = report.measurements
    assert challenge is not None and measurements is not None and measurements.evidence is not None
    chain = report.chain
    config_anchor = (model.root_certificate(),)

    def hashes() -> None:
        # DIGESTS and CertChainHash on the device, and both checks on the host;
        # the device digests what it measures.
        for _ in range(4):
            digest(n.hash_alg, chain.raw)
        for block in measurements.blocks:
            digest(n.hash_alg, block.value)

    def validation() -> None:
        validate_cert_chain(chain, config_anchor, n.signing_alg, now=NOW)

    def signing(evidence: SignedEvidence) -> Callable[[], None]:
        def sign() -> None:
            model.sign(evidence.slot_id, n.hash_alg, n.version, evidence.context, evidence.transcript)
        return sign

    def verifying(evidence: SignedEvidence) -> Callable[[], None]:
        def check() -> None:
            verify(chain.leaf.public_key(), n.signing_alg, n.hash_alg, n.version,
                   evidence.context, evidence.transcript, evidence.signature)
        return check

    return {
        "hashes (4 x chain, 7 x block)": hashes,
        "chain validation (host)": validation,
        "CHALLENGE_AUTH signature (device)": signing(challenge.evidence),
        "CHALLENGE_AUTH verification (host)": verifying(challenge.evidence),
        "MEASUREMENTS signature (device)": signing(measurements.evidence),
        "MEASUREMENTS verification (host)": verifying(measurements.evidence),
    }


def crypto_floor(model: DeviceModel, report: AuthenticationReport) -> Callable[[], None]:
    """The flow's cryptography alone, on the flow's own transcripts."""
    parts = tuple(crypto_parts(model, report).values())

    def floor() -> None:
        for part in parts:
            part()

    return floor


def serve_in_child(rconfig: ResponderConfig, model: DeviceModel) -> tuple[int, Callable[[], None]]:
    """An spdm-emu server for the device in a forked child process: (port, stop)."""
    context = multiprocessing.get_context("fork")
    ports: multiprocessing.queues.SimpleQueue[int] = context.SimpleQueue()

    def serve() -> None:
        server = EmulatedDevice(rconfig, model).server("127.0.0.1", 0)
        ports.put(server.address[1])
        server.serve_forever()  # until a client sends SHUTDOWN
        server.close()

    child = context.Process(target=serve, daemon=True)
    child.start()
    port = ports.get()

    def stop() -> None:
        client = EmuSocketClient("127.0.0.1", port)
        client.shutdown()
        client.close()
        child.join(5)

    return port, stop


def interleaved(cases: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    """Seconds per call of each case, one call of each per round (after one warm-up round)."""
    for fn in cases.values():
        fn()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return samples


def breakdown(device: EmulatedDevice, run: Callable[[PipeTransport], object], runs: int) -> None:
    """Median µs per SPDM request: inside the device, and on the host until the next request."""
    device_us: dict[str, list[float]] = defaultdict(list)
    host_us: dict[str, list[float]] = defaultdict(list)
    marks: list[tuple[str, float, float]] = []

    def endpoint(obj: bytes) -> bytes | None:
        start = time.perf_counter()
        answer = device.endpoint.handle(obj)
        end = time.perf_counter()
        if obj[2] == DataObjectType.SPDM:
            name = RequestCode(obj[DOE_HEADER_SIZE + 1]).name
        else:
            name = "DOE_DISCOVERY"
        marks.append((name, start, end))
        return answer

    for _ in range(runs + 1):
        marks.clear()
        start = time.perf_counter()
        run(PipeTransport(endpoint))
        finish = time.perf_counter()
        if not device_us:  # the first flow warms up
            device_us["-"] = []
            continue
        per_flow: dict[str, tuple[float, float]] = defaultdict(lambda: (0.0, 0.0))
        previous_end = start
        for i, (name, begin, end) in enumerate(marks):
            next_begin = marks[i + 1][1] if i + 1 < len(marks) else finish
            dev, host = per_flow[name]
            # The host's share before the first request (building it) goes to that request.
            lead = begin - previous_end if i == 0 else 0.0
            per_flow[name] = (dev + end - begin, host + next_begin - end + lead)
            previous_end = end
        for name, (dev, host) in per_flow.items():
            device_us[name].append(dev * 1e6)
            host_us[name].append(host * 1e6)
    device_us.pop("-")
    print("  where the pipe flow's time goes (median µs; device = decode request, build and sign")
    print("  the response; host = check the response, build the next request; crypto included):")
    print(f"    {'request':<24}{'device':>9}{'host':>9}")
    total_dev = total_host = 0.0
    for name in device_us:
        dev, host = statistics.median(device_us[name]), statistics.median(host_us[name])
        total_dev += dev
        total_host += host
        print(f"    {name:<24}{dev:>9.0f}{host:>9.0f}")
    print(f"    {'sum':<24}{total_dev:>9.0f}{total_host:>9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--asym", default="ECDSA_P384", choices=[a.name for a in BaseAsymAlgo])
    parser.add_argument("--breakdown", action="store_true", help="per-request device/host split")
    parser.add_argument("--only", choices=("floor", "pipe", "mailbox"),
                        help="run just this, --flows times after one warm-up, untimed: for instruction "
                             "counts under valgrind (subtract a --flows 0 run)")
    parser.add_argument("--flows", type=int, default=5, help="with --only: how many (default 5)")
    parser.add_argument("--pin", type=int, metavar="CPU",
                        help="run on this CPU only (server thread and process included): steadier on a "
                             "shared VM, where waking a thread on another vCPU can take ~0.5 ms")
    args = parser.parse_args()
    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})
    asym = BaseAsymAlgo[args.asym]
    model = DeviceModel.generate(asym)
    prefs = replace(AlgorithmPreferences(), asym_algs=(asym,))
    rconfig = ResponderConfig(algorithms=prefs, versions=(SpdmVersion.V13,))
    qconfig = RequesterConfig(trust_anchors=(model.root_certificate(),))

    def over_pipe() -> AuthenticationReport:
        return authenticate(EmulatedDevice(rconfig, model).pipe(), qconfig, now=NOW)

    def over_mailbox() -> AuthenticationReport:
        return authenticate(EmulatedDevice(rconfig, model).mailbox(), qconfig, now=NOW)

    if args.only:
        counted: Callable[[], object] = {"pipe": over_pipe, "mailbox": over_mailbox}.get(args.only) \
            or crypto_floor(model, over_pipe())
        counted()  # warm-up: first-use work (compiled builders, caches) is not the steady state
        for _ in range(args.flows):
            counted()
        return

    device = EmulatedDevice(rconfig, model)
    server = device.server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    child_port, stop_child = serve_in_child(rconfig, model)

    def over_tcp(port: int) -> Callable[[], AuthenticationReport]:
        def flow() -> AuthenticationReport:
            client = EmuSocketClient("127.0.0.1", port)
            try:
                return authenticate(client, qconfig, now=NOW)
            finally:
                client.close()
        return flow

    cases: dict[str, Callable[[], object]] = {
        "floor": crypto_floor(model, over_pipe()),
        "pipe": over_pipe,
        "mailbox": over_mailbox,
        "tcp": over_tcp(server.address[1]),
        "tcp-child": over_tcp(child_port),
    }
    samples = interleaved(cases, args.runs)
    server.stop()
    thread.join(5)
    server.close()
    stop_child()
    labels = {
        "floor": "crypto floor",
        "pipe": "in process, pipe to the endpoint",
        "mailbox": "in process, DOE mailbox model",
        "tcp": "loopback TCP, server thread",
        "tcp-child": "loopback TCP, server process",
    }
    pinned = "" if args.pin is None else f", pinned to CPU {args.pin}"
    print(f"connect flow, SPDM 1.3, {asym.name}, {args.runs} interleaved rounds{pinned}")
    print(f"  {'':<36}{'median ms':>10}{'min ms':>9}{'ratio':>8}")
    floor = samples["floor"]
    for name, times in samples.items():
        ratio = statistics.median(t / f for t, f in zip(times, floor, strict=True))
        shown = "" if name == "floor" else f"{ratio:8.2f}"
        print(f"  {labels[name]:<36}{statistics.median(times) * 1e3:>10.2f}{min(times) * 1e3:>9.2f}{shown}")
    print("  (ratio: median of the per-round flow / floor; target <= 1.25)")
    if args.breakdown:
        bench_device = EmulatedDevice(rconfig, model)
        breakdown(bench_device, lambda transport: authenticate(transport, qconfig, now=NOW), args.runs)
        parts = interleaved(dict(crypto_parts(model, over_pipe())), args.runs)
        print("  the crypto floor's parts (median µs):")
        for name, times in parts.items():
            print(f"    {name:<40}{statistics.median(times) * 1e6:>9.0f}")


if __name__ == "__main__":
    main()
