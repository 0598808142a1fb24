"""sysfs_bridge.policy: real device trees allowed or denied, each denial with its reason."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import pytest

from devsec.emulator import EmulatedDevice
from spdm.cma import authenticate
from spdm.config import RequesterConfig, ResponderConfig
from spdm.crypto import generate_device_identity
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from sysfs_bridge import (
    Decision,
    DeviceEvidence,
    LogVerdict,
    PciIdentity,
    Policy,
    decide,
    evaluate,
    evidence_from_report,
    load_policy,
    render,
    verify_log,
)
from tests.sysfs_bridge.helpers import BDF, NOW, model, teeio_evidence
from tests.sysfs_bridge.helpers import evidence as make_evidence

P384 = BaseAsymAlgo.ECDSA_P384
P256 = BaseAsymAlgo.ECDSA_P256


def _reference(ev: DeviceEvidence, *indexes: int) -> str:
    values = {m.index: m.value.hex() for m in ev.measurements}
    lines = "\n".join(f'{i} = ["{values[i]}"]' for i in indexes)
    return f"[[reference]]\nvendor = 0x1af4\ndevice = 0x1234\n[reference.measurements]\n{lines}\n"


STRICT = """
action = "bind"
[trust]
roots = ["root.pem"]
[spdm]
min_version = "1.2"
min_hash = "sha384"
asym = ["ecdsa-p384"]
measurement_hash = ["sha384"]
min_dhe = "secp384r1"
aead = ["aes-256-gcm"]
[require]
capabilities = ["measurements", "sessions", "ide", "tdisp"]
"""


class WritePolicy(Protocol):
    """The ``write_policy`` fixture: the policy text, and the algorithm of the device whose root it trusts."""

    def __call__(self, body: str, asym: BaseAsymAlgo = ...) -> Policy: ...


@pytest.fixture
def write_policy(tmp_path: Path) -> WritePolicy:
    """Write a policy next to the P-384 device's root (``root.pem``) and load it."""
    def write(body: str, asym: BaseAsymAlgo = P384) -> Policy:
        (tmp_path / "root.pem").write_bytes(model(asym).root_certificate_pem())
        path = tmp_path / "policy.toml"
        path.write_text(body)
        return load_policy(path)
    return write


@pytest.fixture
def teeio_dir(tmp_path: Path) -> Path:
    return render(teeio_evidence(), tmp_path / "sysfs")


def _denied(decision: Decision, *fragments: str) -> None:
    assert not decision.allow and decision.action == "refuse", decision
    for fragment in fragments:
        assert any(fragment in reason for reason in decision.reasons), (fragment, decision.reasons)


def test_a_matching_device_is_allowed(write_policy: WritePolicy, teeio_dir: Path) -> None:
    policy = write_policy(STRICT + _reference(teeio_evidence(), 1, 2, 4))
    decision = evaluate(policy, teeio_dir)
    assert decision.allow and decision.action == "bind" and decision.bdf == BDF, decision.reasons
    reasons = "\n".join(decision.reasons)
    for passed in ("3 signatures of the log verify", "starts at trusted root", "SPDM 1.3 meets",
                   "dhe secp384r1 is allowed", "capability tdisp present",
                   "measurement 4 matches a reference value and is signed"):
        assert passed in reasons
    assert json.loads(json.dumps(decision.to_dict())) == {
        "bdf": BDF, "allow": True, "action": "bind", "reasons": list(decision.reasons)}


def test_a_root_named_by_hash_is_trusted(write_policy: WritePolicy, teeio_dir: Path) -> None:
    root = model(P384).root_certificate()
    for alg, name in ((BaseHashAlgo.SHA_256, "sha256"), (BaseHashAlgo.SHA_384, "sha384")):
        policy = write_policy(f'[trust]\nroot_hashes = ["{name}:{root.sha(alg).hex()}"]\n')
        assert evaluate(policy, teeio_dir).allow


def test_a_root_that_signed_the_slots_first_certificate_is_trusted(write_policy: WritePolicy,
                                                                   tmp_path: Path) -> None:
    """The slot holds intermediate and leaf only: the chain is validated against the root file."""
    ev = make_evidence()
    root = model(P384).root_certificate()
    trimmed = replace(ev, certificates={0: ev.certificates[0][len(root.der):]})
    device = render(trimmed, tmp_path / "sysfs")
    assert all(v.ok for v in verify_log(device))
    decision = evaluate(write_policy("[trust]\nroots = [\"root.pem\"]\n"), device)
    assert decision.allow and any("chains to a trusted root" in r for r in decision.reasons)
    for extension in device.glob("signatures/*_asym_algorithm"):  # a kernel log: the key decides
        extension.unlink()
    assert evaluate(write_policy("[trust]\nroots = [\"root.pem\"]\n"), device).allow
    stranger = generate_device_identity(P384).root.sha(BaseHashAlgo.SHA_384).hex()
    policy = write_policy(f'[trust]\nroot_hashes = ["sha384:{stranger}"]\n')
    _denied(evaluate(policy, device), "does not lead to a trusted root")


def test_a_wrong_root_is_denied(write_policy: WritePolicy, tmp_path: Path, teeio_dir: Path) -> None:
    (tmp_path / "other.pem").write_bytes(generate_device_identity(P256).root.to_pem())
    policy = write_policy('[trust]\nroots = ["other.pem"]\nroot_hashes = ["sha256:' + "00" * 32 + '"]\n')
    _denied(evaluate(policy, teeio_dir), "certificate slot 0 (signature 0)",
            "does not lead to a trusted root")


def test_an_expired_chain_is_denied(write_policy: WritePolicy, teeio_dir: Path) -> None:
    policy = write_policy('[trust]\nroots = ["root.pem"]\n')
    later = model(P384).root_certificate().not_after + timedelta(days=1)
    _denied(evaluate(policy, teeio_dir, now=later), "is not valid at")
    assert evaluate(policy, teeio_dir, now=NOW).allow


def _device_dir(root: Path, version: SpdmVersion, hash_alg: BaseHashAlgo) -> Path:
    """A P-256 device limited to one version and hash, authenticated and rendered."""
    prefs = replace(AlgorithmPreferences(), asym_algs=(P256,), hash_algs=(hash_alg,))
    device = EmulatedDevice(ResponderConfig(versions=(version,), algorithms=prefs), model(P256))
    rep = authenticate(device.pipe(), RequesterConfig(trust_anchors=(model(P256).root_certificate(),)),
                       now=NOW)
    return render(evidence_from_report(rep, BDF), root)


def test_a_downgraded_version_is_denied(write_policy: WritePolicy, tmp_path: Path) -> None:
    device = _device_dir(tmp_path / "v11", SpdmVersion.V11, BaseHashAlgo.SHA_384)
    assert (device / "spdm/version").read_text() == "1.1\n"
    base = '[trust]\nroots = ["root.pem"]\n[spdm]\n'
    _denied(evaluate(write_policy(base + 'min_version = "1.2"\n', P256), device),
            "SPDM 1.1 is below the minimum 1.2")
    _denied(evaluate(write_policy(base + 'versions = ["1.3"]\n', P256), device),
            "SPDM 1.1 is not an allowed version (1.3)")
    assert evaluate(write_policy(base + 'min_version = "1.1"\n', P256), device).allow
    # Hiding the downgrade in the tree does not help: the log's signatures carry no 1.2+ prefix.
    (device / "spdm/version").write_text("1.2\n")
    _denied(evaluate(write_policy(base + 'min_version = "1.2"\n', P256), device),
            "signature 0 was signed under SPDM 1.0/1.1, spdm/version says 1.2")


def test_downgraded_or_disallowed_algorithms_are_denied(write_policy: WritePolicy, tmp_path: Path) -> None:
    device = _device_dir(tmp_path / "sha256", SpdmVersion.V13, BaseHashAlgo.SHA_256)
    policy = write_policy('[trust]\nroots = ["root.pem"]\n[spdm]\nmin_hash = "sha384"\n'
                          'min_asym = "ecdsa-p384"\nmeasurement_hash = ["sha512"]\n', P256)
    _denied(evaluate(policy, device), "hash: sha256 is weaker than the minimum sha384",
            "asym: ecdsa-p256 is weaker than the minimum ecdsa-p384",
            "measurement_hash: sha384 is not allowed (allowed: sha512)")
    assert len(evaluate(policy, device).reasons) == 3
    # The tree's claim must match the verified log: a rewritten spdm/hash_algorithm is caught.
    (device / "spdm/hash_algorithm").write_text("sha384\n")
    _denied(evaluate(policy, device), "signature 0 used sha256, spdm/hash_algorithm says sha384")


def test_session_algorithms_need_a_session(write_policy: WritePolicy, tmp_path: Path) -> None:
    device = render(make_evidence(), tmp_path / "sysfs")
    policy = write_policy('[trust]\nroots = ["root.pem"]\n[spdm]\ndhe = ["secp384r1"]\n'
                          'min_aead = "aes-128-gcm"\n')
    _denied(evaluate(policy, device), "no dhe algorithm was negotiated (no KEY_EXCHANGE session ran)",
            "no aead algorithm")


def test_missing_required_capabilities_are_denied(write_policy: WritePolicy, tmp_path: Path) -> None:
    ev = make_evidence()  # authenticated and measured, no session run with IDE_KM/TDISP
    device = render(ev, tmp_path / "sysfs")
    policy = write_policy('[trust]\nroots = ["root.pem"]\n[require]\n'
                          'capabilities = ["measurements", "sessions", "ide", "tdisp"]\n')
    decision = evaluate(policy, device)
    _denied(decision, "not seen to speak ide_km", "not seen to speak tdisp")
    assert len(decision.reasons) == 2
    assert ev.spdm is not None
    no_sig = replace(ev.spdm, capabilities=tuple(c for c in ev.spdm.capabilities
                                                 if c not in ("MEAS_CAP_SIG", "KEY_EX_CAP")))
    device = render(replace(ev, spdm=no_sig), tmp_path / "sysfs")
    _denied(evaluate(policy, device), "no MEAS_CAP_SIG", "cannot open sessions")
    no_mac = replace(ev.spdm, capabilities=tuple(c for c in ev.spdm.capabilities if c != "MAC_CAP"))
    device = render(replace(ev, spdm=no_mac), tmp_path / "sysfs")
    _denied(evaluate(policy, device), "the device's sessions lack MAC_CAP")


def test_a_measurement_outside_the_reference_values_is_denied(write_policy: WritePolicy,
                                                              teeio_dir: Path) -> None:
    ev = teeio_evidence()
    good = _reference(ev, 1, 2)
    bad = good.replace(f'2 = ["{ev.measurements[1].value.hex()}"]', '2 = ["' + "ab" * 48 + '", "00"]')
    policy = write_policy(STRICT + bad)
    _denied(evaluate(policy, teeio_dir), f"measurement 2 is {ev.measurements[1].value.hex()}, "
                                         "not one of the reference values")
    missing = good + '200 = ["00"]\n'
    _denied(evaluate(write_policy(STRICT + missing), teeio_dir), "measurement 200 is missing")


def test_a_device_without_a_reference_entry_is_denied(write_policy: WritePolicy, teeio_dir: Path,
                                                      tmp_path: Path) -> None:
    other = "[[reference]]\nvendor = 0x8086\ndevice = 0x0d58\n"
    _denied(evaluate(write_policy(STRICT + other), teeio_dir), "no reference values for 1af4:1234")
    model_only = "[[reference]]\nvendor = 0x1af4\ndevice = 0x1234\n"
    assert evaluate(write_policy(STRICT + model_only), teeio_dir).allow
    no_ids = render(replace(teeio_evidence("0000:04:00.0"), pci=PciIdentity()), tmp_path / "sysfs")
    _denied(evaluate(write_policy(STRICT + model_only), no_ids), "PCI vendor/device IDs are unknown")


def test_an_unsigned_measurement_value_is_denied(write_policy: WritePolicy, teeio_dir: Path) -> None:
    """A value rewritten on disk to a reference value is not covered by any verified signature."""
    forged = bytes(48)
    (teeio_dir / "measurements/1/value").write_bytes(forged)
    policy = write_policy(STRICT + _reference(teeio_evidence()).replace(
        "measurements]\n", f'measurements]\n1 = ["{forged.hex()}"]\n'))
    _denied(evaluate(policy, teeio_dir), "measurement 1 matches a reference value but no verified "
                                         "signature covers it")


def _slot_to_directory(device: Path) -> None:
    (device / "certificates/slot0").unlink()
    (device / "certificates/slot0").mkdir()


def _empty_log(device: Path) -> None:
    for entry in (device / "signatures").iterdir():
        entry.unlink()


CORRUPTIONS: list[tuple[str, Callable[[Path], object], str]] = [
    ("flipped signature byte",
     lambda d: (d / "signatures/1_signature").write_bytes(
         bytes([(d / "signatures/1_signature").read_bytes()[0] ^ 1])
         + (d / "signatures/1_signature").read_bytes()[1:]),
     "signature 1 does not verify"),
    ("deleted transcript", lambda d: (d / "signatures/0_transcript").unlink(),
     "unreadable evidence: "),
    ("deleted spdm/version", lambda d: (d / "spdm/version").unlink(), "spdm/version: missing"),
    ("garbage in spdm/version", lambda d: (d / "spdm/version").write_bytes(b"\xff\xfe\n"),
     "spdm/version: not ASCII text"),
    ("unknown spdm/version", lambda d: (d / "spdm/version").write_text("9.9\n"),
     "spdm/version '9.9' is not one of"),
    ("unknown spdm/ attribute", lambda d: (d / "spdm/extra").write_text("1\n"),
     "spdm/extra: not an spdm/ attribute"),
    ("unknown algorithm name", lambda d: (d / "spdm/asym_algorithm").write_text("ecdsa-p999\n"),
     "spdm/asym_algorithm 'ecdsa-p999' is not an algorithm devsec knows"),
    ("unknown capability flag", lambda d: (d / "spdm/capabilities").write_text("CERT_CAP BOGUS_CAP\n"),
     "spdm/capabilities names unknown flags BOGUS_CAP"),
    ("asym claim differs from the log", lambda d: (d / "spdm/asym_algorithm").write_text("ecdsa-p256\n"),
     "signature 0 used ecdsa-p384, spdm/asym_algorithm says ecdsa-p256"),
    ("unknown measurement value type", lambda d: (d / "measurements/1/value_type").write_text("bogus\n"),
     "measurement 1: 'bogus' is not a DMTF measurement value type"),
    ("garbage vendor ID", lambda d: (d / "vendor").write_text("intel\n"), "vendor: not a hexadecimal ID"),
    ("tampered certificate", lambda d: (d / "certificates/slot0").write_bytes(
        (d / "certificates/slot0").read_bytes()[:-1] + b"\0"), "signature 0 does not verify"),
    ("slot replaced by a directory", _slot_to_directory, "unreadable evidence: "),
    ("log emptied", _empty_log, "the signatures/ log is empty"),
    ("not authenticated", lambda d: (d / "authenticated").write_text("0\n"), "not authenticated"),
]


@pytest.mark.parametrize(("mutate", "reason"), [c[1:] for c in CORRUPTIONS], ids=[c[0] for c in CORRUPTIONS])
def test_a_corrupted_tree_is_denied(write_policy: WritePolicy, teeio_dir: Path,
                                    mutate: Callable[[Path], object], reason: str) -> None:
    policy = write_policy(STRICT + _reference(teeio_evidence(), 1))
    assert evaluate(policy, teeio_dir).allow
    mutate(teeio_dir.resolve())
    _denied(evaluate(policy, teeio_dir), reason)


def test_missing_or_misnamed_device_directories_are_denied(write_policy: WritePolicy, tmp_path: Path) -> None:
    policy = write_policy('[trust]\nroots = ["root.pem"]\n')
    _denied(evaluate(policy, tmp_path / "bus/pci/devices/0000:09:00.0"), "no device directory")
    dangling = tmp_path / "bus/pci/devices/0000:09:00.0"
    dangling.parent.mkdir(parents=True)
    dangling.symlink_to("../../../devices/devsec/gone")
    _denied(evaluate(policy, dangling), "led nowhere")
    (tmp_path / "not-a-device").mkdir()
    decision = evaluate(policy, tmp_path / "not-a-device")
    _denied(decision, "not a device directory")
    assert decision.bdf == "not-a-device"


def test_a_kernel_tree_without_spdm_facts(write_policy: WritePolicy, tmp_path: Path, teeio_dir: Path) -> None:
    """A kernel's /sys has no spdm/: identity rules can pass, rules on negotiated facts cannot."""
    shutil.rmtree(teeio_dir.resolve() / "spdm")
    assert evaluate(write_policy('[trust]\nroots = ["root.pem"]\n'), teeio_dir).allow
    _denied(evaluate(write_policy(STRICT), teeio_dir), "has no spdm/ facts")


def test_the_resolved_directory_and_a_re_render_evaluate_alike(write_policy: WritePolicy,
                                                               teeio_dir: Path) -> None:
    policy = write_policy(STRICT)
    assert evaluate(policy, teeio_dir.resolve()).allow
    before = teeio_dir.resolve()
    render(teeio_evidence(), teeio_dir.parents[3])  # a new directory, the same log
    assert teeio_dir.resolve() != before
    decision = evaluate(policy, teeio_dir)
    assert decision.allow and "all 3 signatures of the log verify" in decision.reasons


def test_decide_needs_verdicts_for_every_entry(write_policy: WritePolicy) -> None:
    policy = write_policy('[trust]\nroots = ["root.pem"]\n')
    ev = teeio_evidence()
    ok = [LogVerdict(e.number, True, "verified") for e in ev.signatures]
    assert decide(policy, ev, ok, now=NOW).allow
    _denied(decide(policy, ev, ok[:-1], now=NOW), "the verdicts cover log entries [0, 1]")
    _denied(decide(policy, ev, [*ok, LogVerdict(9, True, "?")], now=NOW), "[0, 1, 2, 9]")
    _denied(decide(policy, ev, [*ok[:-1], LogVerdict(2, False, "bad")], now=NOW),
            "signature 2 does not verify: bad")
