"""sysfs_bridge.evidence: the evidence values and how an SPDM report becomes them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from devsec.cli.report import report_dict
from spdm.errors import ConfigurationError
from spdm.events import ChallengeAuthenticated, MeasurementsReceived
from spdm.messages.codes import BaseAsymAlgo, SpdmVersion
from spdm.transport import ModelConfigSpace
from sysfs_bridge import (
    DeviceEvidence,
    MeasurementEntry,
    PciIdentity,
    SignatureEntry,
    SpdmFacts,
    TsmState,
    pci_identity,
)
from sysfs_bridge.evidence import measurement_block
from tests.sysfs_bridge.helpers import BDF, CASE_IDS, CASES, report, teeio_evidence
from tests.sysfs_bridge.helpers import evidence as make_evidence


@pytest.mark.parametrize(("asym", "version"), CASES, ids=CASE_IDS)
def test_evidence_from_report_holds_every_signature_and_block(asym: BaseAsymAlgo,
                                                              version: SpdmVersion) -> None:
    rep = report(asym, version)
    ev = make_evidence(asym, version)
    assert ev.bdf == BDF and ev.authenticated is True
    assert ev.certificates[0] == b"".join(c.der for c in rep.chain.certificates)
    assert ev.doe_features == tuple(sorted(rep.protocols))
    signed = [e.evidence for e in rep.events
              if isinstance(e, ChallengeAuthenticated | MeasurementsReceived) and e.evidence]
    assert [s.number for s in ev.signatures] == list(range(len(signed)))
    assert ev.signatures[0].type == "responder-challenge_auth signing"
    assert ev.signatures[1].type == "responder-measurements signing"
    for entry, source in zip(ev.signatures, signed, strict=True):
        assert entry.transcript == source.transcript and entry.signature == source.signature
        assert entry.combined_spdm_prefix == source.combined_prefix
        assert (entry.combined_spdm_prefix == b"") == (version.text == "1.1")
        assert entry.hash_algorithm == "sha384"
        assert asym.name is not None and entry.asym_algorithm == asym.name.lower().replace("_", "-")
    assert rep.measurements is not None
    assert [m.index for m in ev.measurements] == [b.index for b in rep.measurements.blocks]
    assert {m.representation for m in ev.measurements} == {"digest", "raw"}
    assert all(m.source == "spdm" for m in ev.measurements)


def test_collections_are_normalized() -> None:
    m1 = MeasurementEntry(1, "immutable-rom", "digest", b"a", "sha384", "tsm")
    m2 = MeasurementEntry(2, "0x0b", "raw", b"b", "sha384", "tsm")
    a = DeviceEvidence(BDF, "tsm0", measurements=(m2, m1), doe_features=((1, 2), (1, 0), (1, 2)))
    b = DeviceEvidence(BDF, "tsm0", measurements=(m1, m2), doe_features=((1, 0), (1, 2)))
    assert a == b
    assert a.tsm_names == ("tsm0",)
    assert DeviceEvidence(BDF, "", tsm=TsmState(connect="tsm1")).tsm_names == ("tsm1",)


@pytest.mark.parametrize("bdf", ["0000:03:00.0/..", "../03:00.0", "0000:03:00.8", "0000:03:20.0",
                                 "0000:0G:00.0", "0000:03:00.0\n", "ABCD:03:00.0", ""])
def test_bad_addresses_are_refused(bdf: str) -> None:
    with pytest.raises(ConfigurationError):
        DeviceEvidence(bdf, True)


@pytest.mark.parametrize("make", [
    lambda: DeviceEvidence(BDF, "../tsm0"),
    lambda: DeviceEvidence(BDF, True, certificates={8: b"x"}),
    lambda: DeviceEvidence(BDF, True, certificates={0: b""}),
    lambda: DeviceEvidence(BDF, True, doe_features=((0x10000, 0),)),
    lambda: DeviceEvidence(BDF, True, tsm=TsmState(connect="a/b")),
], ids=["tsm-name", "slot-8", "empty-slot", "doe-vendor", "tsm-path"])
def test_bad_device_values_are_refused(make: Callable[[], DeviceEvidence]) -> None:
    with pytest.raises(ConfigurationError):
        make()


def _entry() -> SignatureEntry:
    return SignatureEntry(number=0, type="responder-challenge_auth signing", transcript=b"t",
                          signature=b"s", requester_nonce=b"", responder_nonce=b"",
                          hash_algorithm="sha384", combined_spdm_prefix=b"", certificate_slot=0)


@pytest.mark.parametrize("make", [
    lambda: replace(_entry(), number=-1),
    lambda: replace(_entry(), certificate_slot=8),
    lambda: replace(_entry(), type="two\nlines"),
    lambda: replace(_entry(), hash_algorithm="sha\x00"),
], ids=["number", "certificate_slot", "type", "hash_algorithm"])
def test_bad_signature_entries_are_refused(make: Callable[[], SignatureEntry]) -> None:
    with pytest.raises(ConfigurationError):
        make()


def test_bad_measurements_and_duplicates_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        MeasurementEntry(1, "immutable-rom", "hashed", b"", "sha384", "spdm")
    with pytest.raises(ConfigurationError):
        MeasurementEntry(256, "immutable-rom", "raw", b"", "sha384", "spdm")
    with pytest.raises(ConfigurationError):
        DeviceEvidence(BDF, True, signatures=(_entry(), _entry()))


def test_spdm_facts_of_an_authentication_with_and_without_a_session() -> None:
    rep = report(BaseAsymAlgo.RSAPSS_2048, SpdmVersion.V13)
    facts = make_evidence(BaseAsymAlgo.RSAPSS_2048, SpdmVersion.V13).spdm
    assert facts == SpdmFacts(version="1.3", hash_algorithm="sha384", asym_algorithm="rsapss-2048",
                              measurement_hash_algorithm="sha384",
                              capabilities=tuple(report_dict(rep, "x")["responder_capabilities"]))
    teeio = teeio_evidence().spdm
    assert teeio is not None
    assert (teeio.dhe_group, teeio.aead_suite) == ("secp384r1", "aes-256-gcm")
    assert teeio.vendor_protocols == ("ide_km", "tdisp")
    assert make_evidence().pci == PciIdentity()
    assert teeio_evidence().pci == PciIdentity(0x1AF4, 0x1234, 0, 0, 0)


@pytest.mark.parametrize("make", [
    lambda: SpdmFacts("1.5"),
    lambda: SpdmFacts(""),
    lambda: SpdmFacts("1.2", hash_algorithm="SHA 384"),
    lambda: SpdmFacts("1.2", dhe_group="../x"),
    lambda: SpdmFacts("1.2", capabilities=("cert cap",)),
    lambda: SpdmFacts("1.2", vendor_protocols=("cxl",)),
], ids=["version-1.5", "no-version", "hash_algorithm", "dhe_group", "capabilities", "vendor_protocols"])
def test_bad_spdm_facts_are_refused(make: Callable[[], SpdmFacts]) -> None:
    with pytest.raises(ConfigurationError):
        make()


def test_spdm_facts_are_normalized() -> None:
    assert SpdmFacts("1.2", capabilities=("MAC_CAP", "CERT_CAP", "MAC_CAP"),
                     vendor_protocols=("tdisp", "ide_km")) == \
        SpdmFacts("1.2", capabilities=("CERT_CAP", "MAC_CAP"), vendor_protocols=("ide_km", "tdisp"))


@pytest.mark.parametrize("make", [
    lambda: PciIdentity(vendor=0x10000),
    lambda: PciIdentity(device=-1),
    lambda: PciIdentity(class_code=1 << 24),
], ids=["vendor", "device", "class_code"])
def test_bad_pci_ids_are_refused(make: Callable[[], PciIdentity]) -> None:
    with pytest.raises(ConfigurationError):
        make()


def test_pci_identity_from_config_space() -> None:
    config = ModelConfigSpace([], vendor_id=0x8086, device_id=0x0D58)
    config.write32(0x08, 0x0108_0203)  # class 01:08:02 (NVMe), revision 3
    config.write32(0x2C, 0xABCD_1AF4)
    assert pci_identity(config) == PciIdentity(0x8086, 0x0D58, 0x1AF4, 0xABCD, 0x010802)
    config.write32(0x0C, 0x0001_0000)  # a type 1 (bridge) header: no subsystem IDs at 0x2C
    assert pci_identity(config) == PciIdentity(0x8086, 0x0D58, None, None, 0x010802)


@pytest.mark.parametrize(("asym", "version"), CASES, ids=CASE_IDS)
def test_measurement_entries_give_back_their_blocks(asym: BaseAsymAlgo, version: SpdmVersion) -> None:
    rep = report(asym, version)
    assert rep.measurements is not None
    entries = make_evidence(asym, version).measurements
    assert [measurement_block(e) for e in entries] == list(rep.measurements.blocks)
    with pytest.raises(ConfigurationError):
        measurement_block(MeasurementEntry(1, "firmware", "raw", b"", "sha384", "tsm"))
    assert measurement_block(MeasurementEntry(1, "0x0b", "raw", b"x", "", "tsm")).value_type == 0x8B
