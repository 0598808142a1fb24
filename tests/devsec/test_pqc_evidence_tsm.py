"""``devsec tsm serve --asym ml-dsa-65 --kem ml-kem-768``: a post-quantum device through the TSM
service of either backend (native, psp-proxy), as an operator runs it against ``devsec emulate``.

Both backends report the same: SPDM 1.4, ML-DSA-65 (``pqc_asym_alg`` in the info
document), ML-KEM-768; the rendered tree's log re-verifies offline
(``devsec verify-log``) and fails on a tampered signature.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devsec.cli import main
from spdm.messages.codes import KemAlgo, PqcAsymAlgo
from tests.devsec.test_cli import emulate

PQC = ("--asym", "ml-dsa-65", "--kem", "ml-kem-768")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths are limited to ~107 bytes: pytest's tmp_path can be longer."""
    with tempfile.TemporaryDirectory(prefix="devsec-", dir="/tmp") as name:
        yield Path(name)


def _connected(backend: str, directory: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """Serve ``backend`` offering ML-DSA-65 and ML-KEM-768, connect the emulated device, verify its log."""
    directory.mkdir()
    socket_path, sysfs = str(directory / "tsm.sock"), directory / "sysfs"
    with emulate(directory, *PQC) as (url, root):
        service = subprocess.Popen(
            [sys.executable, "-m", "devsec", "tsm", "serve", "--backend", backend, "--trust-root", str(root),
             "--socket", socket_path, "--sysfs", str(sysfs), *PQC],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert service.stdout is not None
            assert "listening on" in service.stdout.readline()
            assert main(["tsm", "connect", url, "--socket", socket_path]) == 0
            assert "SPDM 1.4, sha384, ml-dsa-65, ml-kem-768" in capsys.readouterr().out
            assert main(["tsm", "info", url, "--socket", socket_path, "--json"]) == 0
            doc: dict[str, Any] = json.loads(capsys.readouterr().out)["device"]
        finally:
            service.terminate()
            assert service.wait(timeout=20) == 0
    device = sysfs / "bus/pci/devices/0000:01:00.0"
    assert (device / "spdm/asym_algorithm").read_text() == "ml-dsa-65\n"
    assert (device / "spdm/kem_algorithm").read_text() == "ml-kem-768\n"
    assert main(["verify-log", str(device)]) == 0
    assert "ml-dsa-65 signature" in capsys.readouterr().out
    signature = device / "signatures/0_signature"
    data = bytearray(signature.read_bytes())
    data[2000] ^= 1
    signature.write_bytes(bytes(data))
    assert main(["verify-log", str(device)]) == 1
    assert "FAILED" in capsys.readouterr().out
    return doc


@pytest.mark.slow
@pytest.mark.socket
def test_both_backends_connect_an_mldsa_device_alike(short_dir: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    seen = {backend: _connected(backend, short_dir / backend, capsys) for backend in ("native", "psp-proxy")}
    for doc in seen.values():
        assert (doc["version"], doc["asym_alg"], doc["pqc_asym_alg"], doc["kem_alg"], doc["dhe_group"]) == (
            0x14, 0, int(PqcAsymAlgo.ML_DSA_65), int(KemAlgo.ML_KEM_768), 0)
        assert all(s["pqc_asym_alg"] == int(PqcAsymAlgo.ML_DSA_65) for s in doc["signatures"])

    def comparable(doc: dict[str, Any]) -> dict[str, Any]:
        """What does not depend on the run's randomness or the backend's name."""
        keep = ("state", "version", "hash_alg", "asym_alg", "pqc_asym_alg", "measurement_hash_alg",
                "dhe_group", "aead_suite", "kem_alg", "capabilities", "doe_features", "measurements")
        return {k: doc[k] for k in keep} | {"signatures": [(s["context"], len(s["signature"]))
                                                           for s in doc["signatures"]]}

    assert comparable(seen["native"]) == comparable(seen["psp-proxy"])


@pytest.mark.socket
def test_an_operation_starting_the_service_passes_the_offer_on(short_dir: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """``devsec tsm connect TARGET --backend psp-proxy --trust-root R --asym ml-dsa-65 --kem ml-kem-768``
    with no service running starts one offering them."""
    socket_path = str(short_dir / "tsm.sock")
    with emulate(short_dir, *PQC) as (url, root):
        try:
            assert main(["tsm", "connect", url, "--socket", socket_path, "--backend", "psp-proxy",
                         "--trust-root", str(root), *PQC]) == 0
            assert "SPDM 1.4, sha384, ml-dsa-65, ml-kem-768" in capsys.readouterr().out
        finally:
            assert main(["tsm", "stop", "--socket", socket_path]) == 0
