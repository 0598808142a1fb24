"""Benchmark: secure-session establishment, the secured-message record layer, and in-session round trips.

Run on demand (not part of the tests):  python bench/bench_session.py [--runs N] [--messages N]

Issue 3.  Against the emulated device in process (``EmulatedDevice.pipe``,
VCA + GET_DIGESTS + GET_CERTIFICATE done once, untimed) it times:

1. session establishment: KEY_EXCHANGE+FINISH for secp256r1 and secp384r1,
   and PSK_EXCHANGE+PSK_FINISH (AES-256-GCM, SPDM 1.3); each session is then
   ended, untimed, so session IDs do not run out;
2. the DSP0277 record layer alone (``spdm.secured.seal``/``open_record``) on
   4 KiB SPDM messages under a real session's keys, as a ratio to raw
   AES-256-GCM on the same bytes; the target is at least 0.8;
3. in-session round trips through both engines, the driver and DOE framing
   (HEARTBEAT, and a 4 KiB VENDOR_DEFINED echoed by a registered handler),
   with the echo's time as a multiple of the record layer's own cost for its
   two 4 KiB records (each sealed once and opened once).

The host here is shared: absolute times swing by 2x between runs, so the
record-layer ratios are computed per run (both halves in the same iteration)
and their median is printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

# Only the raw AES-GCM baseline imports ``cryptography`` directly: the R9 "one
# door" rule (spdm/crypto is the sole importer) is for devsec's library code.
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import median_seconds  # noqa: E402  (bench/timing.py)

from devsec.emulator import EmulatedDevice  # noqa: E402
from spdm.config import (  # noqa: E402
    DEFAULT_RESPONDER_CAPS,
    RequesterConfig,
    ResponderConfig,
)
from spdm.device import DeviceModel  # noqa: E402
from spdm.driver import RequesterDriver  # noqa: E402
from spdm.events import SessionEnded, SessionEstablished  # noqa: E402
from spdm.messages.codes import AeadSuite, BaseAsymAlgo, CapabilityFlags, DheGroup, SpdmVersion  # noqa: E402
from spdm.messages.control import VendorDefinedRequest  # noqa: E402
from spdm.negotiation import AlgorithmPreferences  # noqa: E402
from spdm.requester import Requester  # noqa: E402
from spdm.secured import DirectionState, open_record, seal  # noqa: E402

NOW = datetime.now(UTC)
PSK = bytes(range(32))
HINT = b"devsec-bench"
MESSAGE_SIZE = 4096
PCI_SIG = 3
PCI_SIG_VENDOR_ID = b"\x01\x00"
VERSION = SpdmVersion.V13
AEAD = AeadSuite.AES_256_GCM


def connect(model: DeviceModel, dhe: DheGroup) -> tuple[Requester, RequesterDriver, EmulatedDevice]:
    """A requester through VCA, digests and slot 0's chain, against a fresh emulated device."""
    prefs = replace(AlgorithmPreferences(), asym_algs=(BaseAsymAlgo.ECDSA_P384,),
                    dhe_groups=(dhe,), aead_suites=(AEAD,))
    device = EmulatedDevice(ResponderConfig(
        versions=(VERSION,), capabilities=DEFAULT_RESPONDER_CAPS | CapabilityFlags.PSK_CAP_WITH_CONTEXT,
        algorithms=prefs), model)
    requester = Requester(RequesterConfig(trust_anchors=(model.root_certificate(),), algorithms=prefs))
    driver = RequesterDriver(device.pipe(), requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests, lambda: requester.get_certificate(0, now=NOW)):
        driver.run(command)
    return requester, driver, device


def open_session(requester: Requester, driver: RequesterDriver, *, psk: bool) -> int:
    command = (lambda: requester.psk_exchange(PSK, HINT)) if psk else requester.key_exchange
    [event] = [e for e in driver.run(command) if isinstance(e, SessionEstablished)]
    return event.session_id


def end_session(requester: Requester, driver: RequesterDriver, session_id: int) -> None:
    assert driver.run(lambda: requester.end_session(session_id)) == [SessionEnded(session_id)]


def median_establishment(requester: Requester, driver: RequesterDriver, *, psk: bool, runs: int) -> float:
    """Median time of KEY_EXCHANGE+FINISH (or PSK_EXCHANGE+PSK_FINISH); END_SESSION untimed."""
    samples = []
    for _ in range(runs + 1):  # the first is a warm-up
        start = time.perf_counter()
        session_id = open_session(requester, driver, psk=psk)
        samples.append(time.perf_counter() - start)
        end_session(requester, driver, session_id)
    return statistics.median(samples[1:])


def vendor_payload(size: int) -> bytes:
    """The payload that makes a PCI-SIG VENDOR_DEFINED_REQUEST exactly ``size`` bytes long."""
    overhead = len(VendorDefinedRequest(spdm_version=VERSION, standard_id=PCI_SIG,
                                        vendor_id=PCI_SIG_VENDOR_ID).encode())
    return bytes(size - overhead)


def vendor_message(payload: bytes) -> bytes:
    """The VENDOR_DEFINED_REQUEST carrying ``payload`` (the record layer does not look inside)."""
    return VendorDefinedRequest(spdm_version=VERSION, standard_id=PCI_SIG, vendor_id=PCI_SIG_VENDOR_ID,
                                payload=payload).encode()


class RecordLayerTimes(NamedTuple):
    """Median seconds per batch of ``count`` messages, and the median of each run's ratios."""

    seal: float
    open: float
    encrypt: float
    decrypt: float
    seal_ratio: float  # raw encrypt / seal
    open_ratio: float  # raw decrypt / open


def record_layer_vs_raw(template: DirectionState, session_id: int, message: bytes, count: int, runs: int
                        ) -> RecordLayerTimes:
    """Seal ``count`` messages and open them in order, then encrypt and decrypt them raw, ``runs`` times.

    Record layer: fresh sending and receiving copies of ``template`` each run.
    Raw AES-256-GCM: one AESGCM object, the record's AAD, a distinct 12-byte
    nonce per message (``iv XOR seq``, as the record layer uses) computed
    outside the timed loop.  Both halves run in the same iteration, so a noisy
    neighbour slows both and each run's ratio stays fair.
    """
    cipher = AESGCM(template.key)
    aad = seal(replace(template), session_id, message)[:6]  # SessionID | Length
    iv_int = int.from_bytes(template.iv, "little")
    nonces = [(iv_int ^ seq).to_bytes(12, "little") for seq in range(count)]
    samples: list[tuple[float, float, float, float]] = []
    for _ in range(runs + 1):  # the first is a warm-up
        sender = DirectionState.from_secret(template.schedule, template.secret, template.aead)
        receiver = DirectionState.from_secret(template.schedule, template.secret, template.aead)
        t0 = time.perf_counter()
        records = [seal(sender, session_id, message) for _ in range(count)]
        t1 = time.perf_counter()
        opened = [open_record(receiver, record, expected_session_id=session_id) for record in records]
        t2 = time.perf_counter()
        assert opened[-1] == message and receiver.seq == count
        del records, opened  # both halves start from the same heap
        t3 = time.perf_counter()
        sealed = [cipher.encrypt(nonce, message, aad) for nonce in nonces]
        t4 = time.perf_counter()
        plain = [cipher.decrypt(nonce, ct, aad) for nonce, ct in zip(nonces, sealed, strict=True)]
        t5 = time.perf_counter()
        assert plain[-1] == message
        del sealed, plain
        samples.append((t1 - t0, t2 - t1, t4 - t3, t5 - t4))
    samples = samples[1:]
    t_seal, t_open, t_enc, t_dec = (statistics.median(column) for column in zip(*samples, strict=True))
    return RecordLayerTimes(
        t_seal, t_open, t_enc, t_dec,
        statistics.median(enc / sl for sl, _, enc, _ in samples),
        statistics.median(dec / op for _, op, _, dec in samples),
    )


def round_trips(driver: RequesterDriver, command: Callable[[], None], count: int, runs: int) -> float:
    """Median seconds for ``count`` round trips of ``command`` through the driver."""
    def batch() -> None:
        for _ in range(count):
            driver.run(command)
    return median_seconds(batch, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    runs, count = args.runs, args.messages
    model = DeviceModel.generate(BaseAsymAlgo.ECDSA_P384).with_psks({HINT: PSK})

    # 1. Establishment.
    establishment = {}
    for dhe in (DheGroup.SECP_256_R1, DheGroup.SECP_384_R1):
        requester, driver, device = connect(model, dhe)
        establishment[f"KEY_EXCHANGE+FINISH {dhe.name}"] = median_establishment(
            requester, driver, psk=False, runs=runs)
    establishment["PSK_EXCHANGE+PSK_FINISH"] = median_establishment(requester, driver, psk=True, runs=runs)

    # 2. Record layer vs raw AES-256-GCM, under a real (secp384r1) session's request-direction keys.
    session_id = open_session(requester, driver, psk=False)
    template = requester.sessions[session_id].current_keys().request
    payload = vendor_payload(MESSAGE_SIZE)
    message = vendor_message(payload)
    assert len(message) == MESSAGE_SIZE
    rl = record_layer_vs_raw(template, session_id, message, count, runs)

    # 3. In-session round trips through the engines (the device echoes the vendor payload).
    device.responder.register_vendor_handler(PCI_SIG, PCI_SIG_VENDOR_ID, lambda request, _session: request)
    t_hb = round_trips(driver, lambda: requester.heartbeat(session_id), count, runs)
    t_vd = round_trips(
        driver, lambda: requester.vendor_defined(PCI_SIG, PCI_SIG_VENDOR_ID, payload, session_id=session_id),
        count, runs)
    end_session(requester, driver, session_id)

    def mbps(seconds: float) -> float:
        return count * MESSAGE_SIZE / seconds / 1e6

    print(f"secure sessions, SPDM {VERSION.text}, ECDSA_P384 device, {AEAD.name}, {runs} runs (median)")
    print("session establishment (in process, emulated device):")
    for name, seconds in establishment.items():
        print(f"  {name:36s} {seconds * 1e3:8.2f} ms")
    print(f"record layer, {count} x {MESSAGE_SIZE}-byte SPDM messages:")
    for name, seconds in (("seal (spdm.secured.seal)", rl.seal), ("open (spdm.secured.open_record)", rl.open),
                          ("raw AESGCM.encrypt", rl.encrypt), ("raw AESGCM.decrypt", rl.decrypt)):
        print(f"  {name + ':':36s} {mbps(seconds):8.1f} MB/s  {seconds / count * 1e6:7.2f} us/msg")
    print(f"  ratio seal / raw encrypt:            {rl.seal_ratio:8.2f}   (target >= 0.8; median of runs)")
    print(f"  ratio open / raw decrypt:            {rl.open_ratio:8.2f}   (target >= 0.8; median of runs)")
    per_record = (rl.seal + rl.open) / count  # one seal on one side, one open on the other
    print(f"in-session round trips through requester, driver, DOE framing and responder ({count} per run):")
    print(f"  HEARTBEAT:                           {count / t_hb:8.0f} /s   {t_hb / count * 1e6:7.1f} us")
    print(f"  VENDOR_DEFINED {MESSAGE_SIZE}-byte echo:        {count / t_vd:8.0f} /s   "
          f"{t_vd / count * 1e6:7.1f} us   {count * MESSAGE_SIZE * 2 / t_vd / 1e6:6.1f} MB/s both ways")
    print(f"  VENDOR_DEFINED / record layer alone: {t_vd / count / (2 * per_record):8.2f} x   "
          "(two 4 KiB records sealed and opened)")


if __name__ == "__main__":
    main()
