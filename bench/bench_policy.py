"""Benchmark: evidence-tree render time and policy decision time per device.

Run on demand (not part of the tests):  python bench/bench_policy.py [--runs N] [--dir PATH]

Issue 5's targets: a policy decision under 1 ms and a render under 5 ms per
device.  Two real devices are authenticated once, untimed, against the
emulator in process: a TEE-IO device (ECDSA P-384, SPDM 1.3, a session with
IDE_KM and TDISP: 3 signatures in its log) and a plain CMA device (ECDSA
P-256, SPDM 1.3: 2 signatures).  For each it times, as medians:

1. ``render`` of a new device (a fresh address each time) and a re-render of
   the same device (the old log carried over, the old directory deleted), into
   a directory on tmpfs (``/dev/shm``, like ``/run``) and one on disk, with the
   file system's floor: creating as many files (write to a temporary name,
   rename) in a new directory and removing the old one, nothing else;
2. ``decide`` alone (the pure decision on evidence and verdicts already read);
3. what ``evaluate`` does before it: ``read_device_dir`` and ``verify_log``
   (the offline re-verification of every signature and its chain);
4. ``evaluate`` whole (read + verify + decide);
5. the floor under ``verify_log``: its public-key operations alone (one chain
   validation per slot, one signature verification per entry) on parsed values.

The policy is a strict one (root file, version and algorithm rules, all four
capabilities for the TEE-IO device, reference values for three measurements).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from timing import median_seconds  # noqa: E402  (bench/timing.py)

from devsec.emulator import SecureDevice  # noqa: E402
from spdm.config import RequesterConfig, ResponderConfig  # noqa: E402
from spdm.connection import connect  # noqa: E402
from spdm.crypto import (  # noqa: E402
    build_spdm_cert_chain,
    parse_der_certificates,
    parse_spdm_cert_chain,
    validate_cert_chain,
    verify,
)
from spdm.device import DeviceModel  # noqa: E402
from spdm.messages.codes import BaseAsymAlgo  # noqa: E402
from spdm.names import parse_asym, parse_hash, parse_version  # noqa: E402
from spdm.negotiation import AlgorithmPreferences  # noqa: E402
from sysfs_bridge import (  # noqa: E402
    DeviceEvidence,
    Policy,
    decide,
    evaluate,
    evidence_from_report,
    load_policy,
    pci_identity,
    read_device_dir,
    render,
    verify_log,
)
from tsm.teeio import TeeIoSteps  # noqa: E402

DECISION_TARGET = 1e-3
RENDER_TARGET = 5e-3
NOW = datetime.now(UTC)


def device(asym: BaseAsymAlgo, *, teeio: bool) -> tuple[DeviceEvidence, DeviceModel]:
    """Authenticate an emulated device through its DOE mailbox and return its evidence."""
    model = DeviceModel.generate(asym)
    prefs = replace(AlgorithmPreferences(), asym_algs=(asym,))
    emulated = SecureDevice(ResponderConfig(algorithms=prefs), model)
    steps = TeeIoSteps(ide=True, tdis=(0x0101,))
    connection = connect(emulated.spdm.mailbox(), RequesterConfig(trust_anchors=(model.root_certificate(),)),
                         now=NOW)
    if teeio:
        with connection.open_session() as session:
            session.measure()
            steps.run(session)
    report = connection.report
    evidence = evidence_from_report(report, "0000:03:00.0", pci=pci_identity(emulated.spdm.config_space),
                                    vendor_protocols=steps.vendor_protocols)
    return evidence, model


def policy_for(evidence: DeviceEvidence, model: DeviceModel, directory: Path, *, teeio: bool) -> Policy:
    (directory / "root.pem").write_bytes(model.root_certificate_pem())
    capabilities = '"measurements", "sessions", "ide", "tdisp"' if teeio else '"measurements"'
    references = "\n".join(f'{m.index} = ["{m.value.hex()}"]' for m in evidence.measurements[:3])
    path = directory / "policy.toml"
    path.write_text(f"""action = "connect"
[trust]
roots = ["root.pem"]
[spdm]
min_version = "1.2"
min_hash = "sha384"
min_asym = "ecdsa-p256"
measurement_hash = ["sha384", "sha512"]
[require]
capabilities = [{capabilities}]
[[reference]]
vendor = 0x1af4
device = 0x1234
[reference.measurements]
{references}
""")
    return load_policy(path)


def crypto_floor(evidence: DeviceEvidence) -> Callable[[], None]:
    """verify_log's public-key work on parsed values: the slot's chain once, every signature."""
    assert evidence.spdm is not None
    certificates = parse_der_certificates(evidence.certificates[0])
    asym, hash_alg = parse_asym(evidence.spdm.asym_algorithm), parse_hash(evidence.spdm.hash_algorithm)
    version = parse_version(evidence.spdm.version)
    chain = parse_spdm_cert_chain(build_spdm_cert_chain([certificates[0], *certificates], hash_alg), hash_alg)
    when = max(c.not_before for c in certificates)
    key = certificates[-1].public_key()

    def floor() -> None:
        validate_cert_chain(chain, (certificates[0],), asym, now=when)
        for entry in evidence.signatures:
            verify(key, asym, hash_alg, version, entry.type, entry.transcript, entry.signature)
    return floor


def file_system_floor(base: Path, files: int) -> Callable[[], None]:
    """Create ``files`` small files (temporary name, rename) in a new directory, delete the last one."""
    previous: list[str] = []

    def floor() -> None:
        directory = tempfile.mkdtemp(dir=base)
        for n in range(files):
            fd = os.open(f"{directory}/.{n}.tmp", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, b"sha384\n")
            os.close(fd)
            os.replace(f"{directory}/.{n}.tmp", f"{directory}/{n}")
        if previous:
            shutil.rmtree(previous.pop())
        previous.append(directory)
    return floor


def render_times(evidence: DeviceEvidence, base: Path, runs: int) -> tuple[float, float, float]:
    """Median render of a new device (a fresh address each time), of the same device again, and
    the file system's floor for as many files."""
    root = Path(tempfile.mkdtemp(dir=base, prefix="devsec-bench-"))
    addresses = (f"0000:{n // 32 % 256:02x}:{n % 32:02x}.0" for n in count(1))
    try:
        fresh = median_seconds(lambda: render(replace(evidence, bdf=next(addresses)), root), runs)
        again = median_seconds(lambda: render(evidence, root), runs)
        files = sum(len(names) for _, _, names in os.walk(render(evidence, root).resolve()))
        return fresh, again, median_seconds(file_system_floor(root, files), runs)
    finally:
        shutil.rmtree(root)


def bench(name: str, evidence: DeviceEvidence, policy: Policy, places: dict[str, Path], runs: int) -> None:
    print(f"\n{name}: {len(evidence.signatures)} signatures, {len(evidence.measurements)} measurements")
    for place, base in places.items():
        fresh, again, floor = render_times(evidence, base, runs)
        for what, seconds in ((f"render, new device ({place})", fresh),
                              (f"render, same device again ({place})", again),
                              ("  floor: as many files, nothing else", floor)):
            print(f"  {what:<38} {seconds * 1e3:8.3f} ms   {seconds / RENDER_TARGET:6.2f} x target (< 5 ms)")
    root = Path(tempfile.mkdtemp(prefix="devsec-bench-"))
    try:
        directory = render(evidence, root)
        verdicts = verify_log(directory)
        assert all(v.ok for v in verdicts), verdicts
        read = read_device_dir(directory)
        assert decide(policy, read, verdicts, now=NOW).allow, decide(policy, read, verdicts, now=NOW)
        assert evaluate(policy, directory, now=NOW).allow
        figures = {
            "decide (pure)": median_seconds(lambda: decide(policy, read, verdicts, now=NOW), runs * 10),
            "read_device_dir": median_seconds(lambda: read_device_dir(directory), runs),
            "verify_log": median_seconds(lambda: verify_log(directory), runs),
            "evaluate (read + verify + decide)": median_seconds(lambda: evaluate(policy, directory, now=NOW),
                                                                runs),
            "  floor: verify_log's crypto alone": median_seconds(crypto_floor(evidence), runs),
        }
    finally:
        shutil.rmtree(root)
    for what, seconds in figures.items():
        print(f"  {what:<38} {seconds * 1e3:8.3f} ms   {seconds / DECISION_TARGET:6.2f} x target (< 1 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--dir", type=Path, default=None,
                        help="render on disk here (default: the system's temporary directory)")
    args = parser.parse_args()
    places = {"disk": args.dir or Path(tempfile.gettempdir())}
    if Path("/dev/shm").is_dir():
        places = {"tmpfs": Path("/dev/shm"), **places}
    work = Path(tempfile.mkdtemp(prefix="devsec-bench-policy-"))
    try:
        for name, asym, teeio in (("TEE-IO device, ECDSA P-384", BaseAsymAlgo.ECDSA_P384, True),
                                  ("CMA device, ECDSA P-256", BaseAsymAlgo.ECDSA_P256, False)):
            evidence, model = device(asym, teeio=teeio)
            bench(name, evidence, policy_for(evidence, model, work, teeio=teeio), places, args.runs)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
