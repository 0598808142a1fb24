"""Micro-benchmark: µs per SPDM message to encode and to decode, for the messages of one connect flow.

Run on demand (not part of the tests):  python bench/bench_codec.py [--loops N]

It records every request and response of one CMA authentication (SPDM 1.3,
ECDSA P-384, SHA-384) against the emulated device, then times, per message
type, ``decode`` of the received bytes (what the peer's engine does at its
boundary: the message's ``struct`` fast path where it has one, else
interpreted construct; strict either way) and ``encode`` of the decoded
message (the sender's build path: the ``struct`` fast path, else the compiled
build), in the codec context the flow used.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devsec.emulator import EmulatedDevice  # noqa: E402
from spdm.cma import authenticate  # noqa: E402
from spdm.config import RequesterConfig, ResponderConfig  # noqa: E402
from spdm.device import DeviceModel  # noqa: E402
from spdm.messages import (  # noqa: E402
    NO_CONTEXT,
    REQUEST_TYPES,
    RESPONSE_TYPES,
    ChallengeAuth,
    CodecContext,
    Measurements,
    Message,
)
from spdm.messages.codes import BaseAsymAlgo, SpdmVersion  # noqa: E402
from spdm.negotiation import AlgorithmPreferences  # noqa: E402
from spdm.transport import PipeTransport  # noqa: E402
from spdm.transport.doe import DataObjectType, decode_data_object  # noqa: E402

NOW = datetime.now(UTC)


def record_flow() -> tuple[list[bytes], list[bytes], CodecContext]:
    """(requests, responses, the flow's base codec context) of one authentication."""
    model = DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)
    prefs = replace(AlgorithmPreferences(), asym_algs=(BaseAsymAlgo.ECDSA_P384,))
    device = EmulatedDevice(ResponderConfig(algorithms=prefs, versions=(SpdmVersion.V13,)), model)
    requests: list[bytes] = []
    responses: list[bytes] = []

    def endpoint(obj: bytes) -> bytes | None:
        answer = device.endpoint.handle(obj)
        request = decode_data_object(obj)
        if request.object_type == DataObjectType.SPDM and answer is not None:
            requests.append(request.payload)
            responses.append(decode_data_object(answer).payload)
        return answer

    report = authenticate(PipeTransport(endpoint),
                          RequesterConfig(trust_anchors=(model.root_certificate(),)), now=NOW)
    return requests, responses, report.negotiated.codec()


def response_context(message_type: type[Message], base: CodecContext) -> CodecContext:
    """The context the requester decodes a response of this type with, in this flow."""
    if message_type is ChallengeAuth:
        return replace(base, measurement_summary=True)
    if message_type is Measurements:
        return replace(base, signed=True)
    return base


def per_call_us(fn: Callable[[], object], loops: int) -> float:
    """Best of 5 repetitions of ``loops`` calls, in CPU µs per call.

    CPU time of this process, not wall time: on a shared machine the process
    is descheduled now and then, which wall time would count.
    """
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for _ in range(loops):
            fn()
        best = min(best, (time.process_time() - start) / loops)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=300)
    args = parser.parse_args()
    requests, responses, base = record_flow()
    rows: dict[str, tuple[int, float, float]] = {}
    samples = [(REQUEST_TYPES, data, NO_CONTEXT, base) for data in requests]
    samples += [(RESPONSE_TYPES, data, None, base) for data in responses]
    for table, data, ctx, flow_ctx in samples:
        message_type = table[data[1]]
        if ctx is None:
            ctx = response_context(message_type, flow_ctx)
        # Requests are built with the flow's context too (harmless: they use none of it).
        build_ctx = ctx if ctx is not NO_CONTEXT else flow_ctx
        data = message_type.decode(data, ctx, padded=True).raw  # without DOE padding
        message = message_type.decode(data, ctx)
        assert message.encode(build_ctx) == data, message_type.__name__
        decode_us = per_call_us(lambda t=message_type, d=data, c=ctx: t.decode(d, c), args.loops)
        encode_us = per_call_us(lambda m=message, c=build_ctx: m.encode(c), args.loops)
        name = message_type.__name__
        if name not in rows:  # the first of several (GET_CERTIFICATE portions)
            rows[name] = (len(data), decode_us, encode_us)
    print(f"SPDM codec, one connect flow's messages (SPDM 1.3, ECDSA_P384), CPU µs, best of 5 x {args.loops}")
    print(f"  {'message':<22}{'bytes':>7}{'decode µs':>12}{'encode µs':>12}")
    for name, (size, decode_us, encode_us) in rows.items():
        print(f"  {name:<22}{size:>7}{decode_us:>12.1f}{encode_us:>12.1f}")
    total_decode = sum(r[1] for r in rows.values())
    total_encode = sum(r[2] for r in rows.values())
    print(f"  {'sum':<22}{'':>7}{total_decode:>12.1f}{total_encode:>12.1f}")


if __name__ == "__main__":
    main()
