"""sysfs_bridge.evidence: the evidence values and how an SPDM report becomes them."""

from __future__ import annotations

import pytest

from spdm.errors import ConfigurationError
from spdm.events import ChallengeAuthenticated, MeasurementsReceived
from sysfs_bridge import DeviceEvidence, MeasurementEntry, SignatureEntry, TsmState
from tests.sysfs_bridge.helpers import BDF, CASE_IDS, CASES, report
from tests.sysfs_bridge.helpers import evidence as make_evidence


@pytest.mark.parametrize(("asym", "version"), CASES, ids=CASE_IDS)
def test_evidence_from_report_holds_every_signature_and_block(asym, version) -> None:
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
        assert entry.asym_algorithm == asym.name.lower().replace("_", "-")
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


@pytest.mark.parametrize("kwargs", [
    {"authenticated": "../tsm0"},
    {"authenticated": True, "certificates": {8: b"x"}},
    {"authenticated": True, "certificates": {0: b""}},
    {"authenticated": True, "doe_features": ((0x10000, 0),)},
    {"authenticated": True, "tsm": TsmState(connect="a/b")},
])
def test_bad_device_values_are_refused(kwargs: dict) -> None:
    with pytest.raises(ConfigurationError):
        DeviceEvidence(BDF, **kwargs)


def _entry(**overrides: object) -> SignatureEntry:
    fields: dict = dict(number=0, type="responder-challenge_auth signing", transcript=b"t",
                        signature=b"s", requester_nonce=b"", responder_nonce=b"",
                        hash_algorithm="sha384", combined_spdm_prefix=b"", certificate_slot=0)
    fields.update(overrides)
    return SignatureEntry(**fields)


@pytest.mark.parametrize("overrides", [{"number": -1}, {"certificate_slot": 8},
                                       {"type": "two\nlines"}, {"hash_algorithm": "sha\x00"}])
def test_bad_signature_entries_are_refused(overrides: dict) -> None:
    with pytest.raises(ConfigurationError):
        _entry(**overrides)


def test_bad_measurements_and_duplicates_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        MeasurementEntry(1, "immutable-rom", "hashed", b"", "sha384", "spdm")
    with pytest.raises(ConfigurationError):
        MeasurementEntry(256, "immutable-rom", "raw", b"", "sha384", "spdm")
    with pytest.raises(ConfigurationError):
        DeviceEvidence(BDF, True, signatures=(_entry(), _entry()))
