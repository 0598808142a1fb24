"""sysfs_bridge.log_verdict: offline re-verification of the signatures/ log from its files alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spdm.crypto import parse_der_certificates
from spdm.events import CertificateChainReceived, ChallengeAuthenticated, MeasurementsReceived
from spdm.messages.codes import BaseAsymAlgo, SpdmVersion
from sysfs_bridge import DeviceEvidence, render, signature_entry, verify_log
from tests.spdm.test_requester_interop import _replay
from tests.sysfs_bridge.helpers import BDF, CASE_IDS, CASES
from tests.sysfs_bridge.helpers import evidence as make_evidence
from tests.vectors import SETS

ENTRY_FILES = ("signature", "transcript", "requester_nonce", "responder_nonce", "hash_algorithm",
               "combined_spdm_prefix", "type", "asym_algorithm")
TAMPER_CASES = ((BaseAsymAlgo.ECDSA_P384, SpdmVersion.V13), (BaseAsymAlgo.RSASSA_2048, SpdmVersion.V11))


def _flip(path: Path) -> None:
    """Flip one bit of the file's middle byte (append a byte to an empty file)."""
    data = bytearray(path.read_bytes())
    if data:
        data[len(data) // 2] ^= 0x01
    else:
        data.append(0)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("asym", "version"), CASES, ids=CASE_IDS)
def test_fresh_log_verifies(tmp_path: Path, asym: BaseAsymAlgo, version: SpdmVersion) -> None:
    device = render(make_evidence(asym, version), tmp_path)
    verdicts = verify_log(device)
    assert [(v.number, v.ok) for v in verdicts] == [(0, True), (1, True)], verdicts
    assert f"SPDM {version.text}" in verdicts[0].reason


@pytest.mark.parametrize("suffix", ENTRY_FILES)
@pytest.mark.parametrize(("asym", "version"), TAMPER_CASES, ids=lambda c: getattr(c, "name", str(c)))
@pytest.mark.parametrize("number", [0, 1])
def test_one_tampered_byte_fails_exactly_that_entry(tmp_path: Path, asym: BaseAsymAlgo,
                                                     version: SpdmVersion, suffix: str,
                                                     number: int) -> None:
    device = render(make_evidence(asym, version), tmp_path)
    _flip(device / "signatures" / f"{number}_{suffix}")
    verdicts = {v.number: v for v in verify_log(device)}
    assert not verdicts[number].ok and verdicts[number].reason
    assert verdicts[1 - number].ok, verdicts[1 - number]


def test_relinked_chain_fails_that_entry(tmp_path: Path) -> None:
    ev = make_evidence()
    other = make_evidence(*CASES[1])
    device = render(DeviceEvidence(BDF, True, certificates={0: ev.certificates[0], 1: other.certificates[0]},
                                   signatures=ev.signatures), tmp_path)
    link = device / "signatures/1_certificate_chain"
    link.unlink()
    link.symlink_to("../certificates/slot1")  # another device's key
    assert [v.ok for v in verify_log(device)] == [True, False]
    link.unlink()
    link.symlink_to("../certificates/slot5")  # an unprovisioned slot
    verdict = verify_log(device)[1]
    assert not verdict.ok and "no certificate" in verdict.reason


@pytest.mark.parametrize("which", [0, 1, 2], ids=["root", "intermediate", "leaf"])
def test_tampered_certificate_fails_its_entries(tmp_path: Path, which: int) -> None:
    """A byte of any certificate's signature: the chain's inner links are checked too."""
    device = render(make_evidence(), tmp_path)
    slot = device / "certificates/slot0"
    data = bytearray(slot.read_bytes())
    ders = [c.der for c in parse_der_certificates(bytes(data))]
    data[sum(len(d) for d in ders[:which + 1]) - 10] ^= 0x01
    slot.write_bytes(bytes(data))
    verdicts = verify_log(device)
    assert [v.ok for v in verdicts] == [False, False], verdicts


def test_missing_file_fails_that_entry_and_no_log_is_empty(tmp_path: Path) -> None:
    device = render(make_evidence(), tmp_path)
    os.unlink(device / "signatures/0_transcript")
    verdicts = verify_log(device)
    assert [v.ok for v in verdicts] == [False, True] and "0_transcript" in verdicts[0].reason
    assert verify_log(tmp_path / "nowhere") == []


@pytest.mark.parametrize("name", SETS)
def test_reference_capture_signatures_verify_from_files(tmp_path: Path, name: str) -> None:
    """libspdm's own signatures, taken by the passive requester, verify from the rendered files."""
    events = _replay(name)
    certificates = {e.slot_id: b"".join(c.der for c in e.chain.certificates)
                    for e in events if isinstance(e, CertificateChainReceived)}
    signed = [e.evidence for e in events
              if isinstance(e, ChallengeAuthenticated | MeasurementsReceived) and e.evidence]
    assert signed
    entries = tuple(signature_entry(n, s) for n, s in enumerate(signed))
    device = render(DeviceEvidence(BDF, True, certificates=certificates, signatures=entries), tmp_path)
    verdicts = verify_log(device)
    assert len(verdicts) == len(entries) and all(v.ok for v in verdicts), verdicts
    # A kernel's log has no _asym_algorithm: the algorithm comes from the leaf key.
    for n in range(len(entries)):
        os.unlink(device / "signatures" / f"{n}_asym_algorithm")
    assert all(v.ok for v in verify_log(device))
    _flip(device / "signatures/0_signature")
    assert [v.ok for v in verify_log(device)] == [False] + [True] * (len(entries) - 1)
