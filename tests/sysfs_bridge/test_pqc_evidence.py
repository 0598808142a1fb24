"""A post-quantum device's evidence in the sysfs tree: an ML-DSA-65 identity, an ML-KEM-768 session.

The tree names the algorithms (``spdm/asym_algorithm`` ``ml-dsa-65``,
``spdm/kem_algorithm`` ``ml-kem-768``, each log entry's ``_asym_algorithm``),
reads back as rendered, and its log re-verifies offline, with or without the
``_asym_algorithm`` extension (a kernel's log: the leaf's ML-DSA key names its
set); a tampered signature fails.  The same for the tree a TSM's info renders.
The policy engine's ``[spdm] asym`` / ``min_asym`` / ``kem`` rules decide on
the post-quantum names.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest

from devsec.emulator import EmulatedDevice, SecureDevice
from spdm.cma import AuthenticationReport
from spdm.config import (
    ALL_VERSIONS,
    DEFAULT_REQUESTER_CAPS,
    DEFAULT_RESPONDER_CAPS,
    RequesterConfig,
    ResponderConfig,
)
from spdm.connection import connect
from spdm.device import DeviceModel
from spdm.messages.codes import CapabilityFlags, KemAlgo, PqcAsymAlgo
from spdm.negotiation import AlgorithmPreferences
from sysfs_bridge import (
    Decision,
    Policy,
    evaluate,
    evidence_from_report,
    evidence_from_tsm,
    load_policy,
    read_device_dir,
    render,
    verify_log,
)
from tests.sysfs_bridge.helpers import BDF, NOW
from tests.sysfs_bridge.helpers import evidence as classic_evidence
from tsm import DeviceTarget, TsmConfig, open_backend

PREFERENCES = replace(AlgorithmPreferences(), pqc_asym_algs=(PqcAsymAlgo.ML_DSA_65,),
                      kem_algs=(KemAlgo.ML_KEM_768,))
CHUNK = CapabilityFlags.CHUNK_CAP


@cache
def pqc_model() -> DeviceModel:
    return DeviceModel.generate(PqcAsymAlgo.ML_DSA_65)


def _responder() -> ResponderConfig:
    return ResponderConfig(algorithms=PREFERENCES, capabilities=DEFAULT_RESPONDER_CAPS | CHUNK)


def _device() -> EmulatedDevice:
    return EmulatedDevice(_responder(), pqc_model())


def _requester() -> RequesterConfig:
    return RequesterConfig(versions=ALL_VERSIONS, algorithms=PREFERENCES,
                           capabilities=DEFAULT_REQUESTER_CAPS | CHUNK,
                           trust_anchors=(pqc_model().root_certificate(),))


@cache
def pqc_report() -> AuthenticationReport:
    """Authenticate, then open an ML-KEM session and measure inside it."""
    connection = connect(_device().pipe(), _requester(), now=NOW)
    with connection.open_session() as session:
        session.measure()
    return connection.report


def _rendered(root: Path) -> Path:
    return render(evidence_from_report(pqc_report(), BDF), root)


def _tamper(path: Path, at: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 1
    path.write_bytes(bytes(data))


def test_the_tree_names_mldsa_and_mlkem_and_reads_back(tmp_path: Path) -> None:
    evidence = evidence_from_report(pqc_report(), BDF)
    device = render(evidence, tmp_path)
    assert (device / "spdm/version").read_text() == "1.4\n"
    assert (device / "spdm/asym_algorithm").read_text() == "ml-dsa-65\n"
    assert (device / "spdm/kem_algorithm").read_text() == "ml-kem-768\n"
    assert (device / "spdm/dhe_group").read_text() == "\n"
    entries = sorted((device / "signatures").glob("*_asym_algorithm"))
    assert len(entries) >= 3  # CHALLENGE_AUTH, MEASUREMENTS, KEY_EXCHANGE_RSP (the session measures too)
    assert {p.read_text() for p in entries} == {"ml-dsa-65\n"}
    assert read_device_dir(device) == evidence


def test_a_classic_tree_has_no_kem_file_and_reads_back(tmp_path: Path) -> None:
    evidence = classic_evidence()
    device = render(evidence, tmp_path)
    assert not (device / "spdm/kem_algorithm").exists()
    assert (device / "spdm/asym_algorithm").read_text() == "ecdsa-p384\n"
    assert read_device_dir(device) == evidence
    assert all(v.ok for v in verify_log(device))


def test_the_log_reverifies_offline_and_a_tampered_signature_fails(tmp_path: Path) -> None:
    device = _rendered(tmp_path)
    verdicts = verify_log(device)
    assert verdicts and all(v.ok for v in verdicts), verdicts
    assert all(v.reason.startswith("ml-dsa-65 signature") for v in verdicts)
    _tamper(device / "signatures/1_signature")
    assert [v.number for v in verify_log(device) if not v.ok] == [1]


def test_a_kernel_log_without_the_algorithm_is_verified_by_the_leaf_key(tmp_path: Path) -> None:
    device = _rendered(tmp_path)
    for extension in (device / "signatures").glob("*_asym_algorithm"):
        extension.unlink()
    verdicts = verify_log(device)
    assert verdicts and all(v.ok and v.reason.startswith("ml-dsa-65") for v in verdicts), verdicts
    _tamper(device / "signatures/0_signature")
    assert [v.number for v in verify_log(device) if not v.ok] == [0]


def test_a_log_claiming_a_classic_algorithm_of_the_same_number_fails(tmp_path: Path) -> None:
    """RSAPSS-2048 is BaseAsymAlgo 2, ML-DSA-65 PqcAsymAlgo 2: the name keeps them apart."""
    device = _rendered(tmp_path)
    (device / "signatures/0_asym_algorithm").write_text("rsapss-2048\n")
    assert [v.number for v in verify_log(device) if not v.ok] == [0]


def test_a_tsm_info_renders_a_tree_that_reverifies(tmp_path: Path) -> None:
    tsm = open_backend("native", TsmConfig(_requester()))
    try:
        device = SecureDevice(_responder(), pqc_model(), functions=(0x0300,))  # BDF's function
        info = tsm.connect(DeviceTarget(BDF, device.spdm.mailbox))
    finally:
        tsm.close()
    [dsm] = evidence_from_tsm(info)
    tree = render(dsm, tmp_path)
    assert (tree / "spdm/asym_algorithm").read_text() == "ml-dsa-65\n"
    assert (tree / "spdm/kem_algorithm").read_text() == "ml-kem-768\n"
    assert all(v.ok for v in verify_log(tree))
    _tamper(tree / "signatures/0_signature")
    assert not verify_log(tree)[0].ok


# ------------------------------------------------------------------------------------ policy


def _policy(tmp_path: Path, spdm: str) -> Policy:
    (tmp_path / "root.pem").write_bytes(pqc_model().root_certificate_pem())
    path = tmp_path / "policy.toml"
    path.write_text(f'[trust]\nroots = ["root.pem"]\n[spdm]\n{spdm}')
    return load_policy(path)


def _reasons(decision: Decision) -> str:
    return "\n".join(decision.reasons)


@pytest.mark.parametrize("rule", [
    'asym = ["ml-dsa-65"]', 'asym = ["ecdsa-p384", "ml-dsa-65", "ml-dsa-87"]', 'min_asym = "ecdsa-p384"',
    'min_asym = "ml-dsa-65"', 'kem = ["ml-kem-768"]', 'min_kem = "ml-kem-768"', 'min_version = "1.4"',
])
def test_a_policy_admitting_mldsa_and_mlkem_allows(tmp_path: Path, rule: str) -> None:
    decision = evaluate(_policy(tmp_path, rule + "\n"), _rendered(tmp_path / "sysfs"), now=NOW)
    assert decision.allow, _reasons(decision)


@pytest.mark.parametrize(("rule", "reason"), [
    ('asym = ["ecdsa-p384", "rsapss-2048"]', "asym: ml-dsa-65 is not allowed"),
    ('min_asym = "ml-dsa-87"', "asym: ml-dsa-65 is weaker than the minimum ml-dsa-87"),
    ('min_asym = "ecdsa-p521"', "asym: ml-dsa-65 is weaker than the minimum ecdsa-p521"),
    ('kem = ["ml-kem-1024"]', "kem: ml-kem-768 is not allowed"),
    ('dhe = ["secp384r1"]', "no dhe algorithm was negotiated (the session exchanged keys with ml-kem-768)"),
])
def test_a_policy_refusing_them_denies_with_the_reason(tmp_path: Path, rule: str, reason: str) -> None:
    decision = evaluate(_policy(tmp_path, rule + "\n"), _rendered(tmp_path / "sysfs"), now=NOW)
    assert not decision.allow and reason in _reasons(decision), _reasons(decision)


def test_a_rewritten_asym_fact_disagrees_with_the_verified_log(tmp_path: Path) -> None:
    device = _rendered(tmp_path / "sysfs")
    (device / "spdm/asym_algorithm").write_text("rsapss-2048\n")
    decision = evaluate(_policy(tmp_path, 'asym = ["rsapss-2048"]\n'), device, now=NOW)
    assert not decision.allow
    assert "used ml-dsa-65, spdm/asym_algorithm says rsapss-2048" in _reasons(decision)


def test_a_classic_device_is_denied_by_a_kem_rule(tmp_path: Path) -> None:
    device = render(classic_evidence(), tmp_path / "sysfs")
    decision = evaluate(_policy(tmp_path, 'kem = ["ml-kem-768"]\n'), device, now=NOW)
    assert not decision.allow and "no kem algorithm was negotiated" in _reasons(decision)


def test_mldsa87_and_mlkem1024_in_larger_transfers_reverify(tmp_path: Path) -> None:
    """ML-DSA-87's and ML-KEM-1024's messages need a DataTransferSize of 0x1800 (and chunks up to
    the reference's MaxSPDMmsgSize)."""
    prefs = replace(AlgorithmPreferences(), pqc_asym_algs=(PqcAsymAlgo.ML_DSA_87,),
                    kem_algs=(KemAlgo.ML_KEM_1024,))
    identity = DeviceModel.generate(PqcAsymAlgo.ML_DSA_87)
    device = EmulatedDevice(ResponderConfig(algorithms=prefs, capabilities=DEFAULT_RESPONDER_CAPS | CHUNK,
                                            data_transfer_size=0x1800, max_spdm_msg_size=0x28000),
                            identity)
    config = RequesterConfig(versions=ALL_VERSIONS, algorithms=prefs, data_transfer_size=0x1800,
                             max_spdm_msg_size=0x28000,
                             capabilities=DEFAULT_REQUESTER_CAPS | CHUNK,
                             trust_anchors=(identity.root_certificate(),))
    connection = connect(device.pipe(), config, now=NOW)
    with connection.open_session() as session:
        session.measure()
    tree = render(evidence_from_report(connection.report, BDF), tmp_path)
    assert (tree / "spdm/asym_algorithm").read_text() == "ml-dsa-87\n"
    assert (tree / "spdm/kem_algorithm").read_text() == "ml-kem-1024\n"
    verdicts = verify_log(tree)
    assert verdicts and all(v.ok and v.reason.startswith("ml-dsa-87") for v in verdicts), verdicts
