"""The ``pci-tsm`` evidence objects: the ABI's facts, the dump's shape, the generation counter.

``vectors/pci-tsm/pci-tsm-abi.json`` holds the facts of the staging tree's
netlink spec and evidence.c, transcribed (see vectors/README.md); devsec's
view must agree with every one of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spdm.crypto import parse_spdm_cert_chain
from spdm.errors import DecodeError, TransportError
from spdm.messages import Measurements
from spdm.messages.codes import AeadSuite, CapabilityFlags, DheGroup, SpdmVersion
from sysfs_bridge.eat import claims_from_report
from sysfs_bridge.pci_tsm import (
    ALL_TYPES,
    ATTRIBUTES,
    MAX_NONCE_SIZE,
    MAX_OBJECT_SIZE,
    NO_FLAGS,
    EvidenceChanged,
    EvidenceFlag,
    EvidenceStore,
    EvidenceType,
    EvidenceUnavailable,
    assemble,
    objects_from_tsm,
    read_evidence,
)
from tdisp.messages import TdiState
from tests.devsec.test_evidence_eat import NONCE, report
from tsm import DeviceInfo, LinkState
from tsm.info import TdiInfo

ABI: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "vectors/pci-tsm/pci-tsm-abi.json").read_text())
DEV = "0000:01:00.0"
TYPE, VAL = ATTRIBUTES["type"], ATTRIBUTES["val"]


def test_the_view_is_the_abi() -> None:
    assert {t.spec_name: int(t) for t in EvidenceType} == ABI["evidence-type"]
    assert {t.spec_name: t.flag for t in EvidenceType} == ABI["evidence-type-flag"]
    assert {f.name.lower(): int(f) for f in EvidenceFlag if f.name} == ABI["evidence-flag"]
    assert {name: spec[0] for name, spec in ABI["evidence-object-attributes"].items()} == dict(ATTRIBUTES)
    assert (MAX_OBJECT_SIZE, MAX_NONCE_SIZE) == (ABI["constants"]["max-object-size"],
                                                  ABI["constants"]["max-nonce-size"])
    assert ALL_TYPES == sum(ABI["evidence-type-flag"].values())
    assert ABI["operations"]["evidence-read"]["reply"] == ["type", "val"]


def _objects() -> dict[EvidenceType, bytes]:
    return {EvidenceType.CERT0: b"c" * 10000, EvidenceType.VCA: b"v" * 30,
            EvidenceType.MEASUREMENTS: b"m" * 5}


def test_a_dump_sends_each_object_in_type_order_type_first_then_chunks() -> None:
    store = EvidenceStore(DEV, chunk=4096)
    assert store.publish(_objects()) == 1
    messages = list(store.evidence_read(DEV, ALL_TYPES))
    starts = [m[TYPE] for m in messages if TYPE in m]
    assert starts == list(range(11))  # every requested type, ascending; absent ones empty
    cert0 = messages[:3]
    assert [len(bytes(m[VAL])) for m in cert0 if isinstance(m[VAL], bytes)] == [4096, 4096, 1808]
    assert TYPE not in cert0[1]
    assert read_evidence(store, DEV) == {t: _objects().get(t, b"") for t in EvidenceType}
    mask = EvidenceType.VCA.flag | EvidenceType.REPORT.flag
    assert read_evidence(store, DEV, mask) == {EvidenceType.VCA: b"v" * 30, EvidenceType.REPORT: b""}


def test_generation_zero_means_no_evidence() -> None:
    store = EvidenceStore(DEV)
    with pytest.raises(EvidenceUnavailable, match="no evidence"):
        read_evidence(store, DEV)
    store.publish({})
    with pytest.raises(EvidenceUnavailable, match="not found"):
        read_evidence(store, "0000:02:00.0")


class _Churning(EvidenceStore):
    """A store whose evidence is replaced while the first ``churn`` dumps are read."""

    churn: int = 1

    def evidence_read(self, dev_name: str, type_mask: int, flags: EvidenceFlag = NO_FLAGS,
                      nonce: bytes | None = None) -> Any:
        dump = super().evidence_read(dev_name, type_mask, flags, nonce)
        if self.churn:
            self.churn -= 1
            first = next(dump)
            self.publish(_objects())
            return iter([first, *dump])
        return dump


def test_a_generation_change_during_a_read_is_retried_then_given_up() -> None:
    store = _Churning(DEV, chunk=64)
    store.publish(_objects())
    assert read_evidence(store, DEV)[EvidenceType.CERT0] == b"c" * 10000
    assert store.generation == 2
    store.churn = 5
    with pytest.raises(EvidenceChanged, match="updated during read"):
        read_evidence(store, DEV, attempts=3)


def test_a_nonce_asks_for_one_refresh() -> None:
    store = EvidenceStore(DEV)
    store.publish({})
    with pytest.raises(TransportError, match="EOPNOTSUPP"):
        read_evidence(store, DEV, nonce=NONCE)
    seen: list[bytes] = []

    def refresh(nonce: bytes) -> None:
        seen.append(nonce)
        store.publish({EvidenceType.MEASUREMENTS: nonce})

    store.refresh = refresh
    assert read_evidence(store, DEV, nonce=NONCE)[EvidenceType.MEASUREMENTS] == NONCE and seen == [NONCE]
    with pytest.raises(DecodeError, match="max-nonce-size"):
        read_evidence(store, DEV, nonce=bytes(257))


def test_digest_flag_answers_the_tsm_digests() -> None:
    store = EvidenceStore(DEV)
    store.publish(_objects(), digests={EvidenceType.CERT0: b"d" * 48})
    digests = read_evidence(store, DEV, EvidenceType.CERT0.flag | EvidenceType.VCA.flag,
                            flags=EvidenceFlag.DIGEST)
    assert digests == {EvidenceType.CERT0: b"d" * 48, EvidenceType.VCA: b""}


@pytest.mark.parametrize(("messages", "mask", "problem"), [
    ([{VAL: b"x"}], ALL_TYPES, "before any type"),
    ([{TYPE: 11, VAL: b""}], ALL_TYPES, "no evidence type"),
    ([{TYPE: 9, VAL: b""}, {TYPE: 8, VAL: b""}], ALL_TYPES, "after"),
    ([{TYPE: 8, VAL: b""}], EvidenceType.CERT0.flag, "not requested"),
    ([{TYPE: 8}], EvidenceType.VCA.flag, "no val"),
    ([{TYPE: 8, VAL: b""}], EvidenceType.VCA.flag | EvidenceType.REPORT.flag, "without report"),
])
def test_dumps_that_break_the_abi_are_refused(messages: list[dict[int, int | bytes]], mask: int,
                                              problem: str) -> None:
    with pytest.raises(DecodeError, match=problem):
        assemble(messages, mask)


def test_requests_outside_the_abi_are_refused() -> None:
    store = EvidenceStore(DEV)
    store.publish({})
    for mask in (0, 1 << 11):
        with pytest.raises(DecodeError, match="type-mask"):
            read_evidence(store, DEV, mask)


def test_objects_of_a_tsm_report_parse_as_their_abi_says() -> None:
    auth = report(SpdmVersion.V13)
    claims = claims_from_report(auth)
    info = DeviceInfo(bdf=DEV, tsm="native", state=LinkState.CONNECTED, version=auth.negotiated.version,
                      hash_alg=auth.negotiated.hash_alg, asym_alg=auth.negotiated.asym_alg,
                      measurement_hash_alg=auth.negotiated.measurement_hash_alg,
                      dhe_group=DheGroup(0), aead_suite=AeadSuite(0), capabilities=CapabilityFlags(0),
                      certificates=dict(claims.certificates),
                      signatures=(claims.evidence,), measurements=claims.measurements,
                      tdis=(TdiInfo(bdf="0000:01:00.1", dsm=DEV, interface_id=0x101,
                                    state=TdiState.CONFIG_LOCKED, report=b"\x00" * 16),))
    store = EvidenceStore(DEV)
    store.publish(objects_from_tsm(info, "0000:01:00.1"))
    objects = read_evidence(store, DEV)
    chain = parse_spdm_cert_chain(objects[EvidenceType.CERT0], auth.negotiated.hash_alg)
    assert chain.certificates == auth.chain.certificates
    assert objects[EvidenceType.VCA] == claims.evidence.transcript[:len(objects[EvidenceType.VCA])]
    assert objects[EvidenceType.VCA][1] == 0x84  # GET_VERSION opens the VCA
    signed = objects[EvidenceType.MEASUREMENTS]
    assert signed.endswith(claims.evidence.signature)
    assert signed[:-len(claims.evidence.signature)] in claims.evidence.transcript
    assert Measurements.CODE == signed[1]
    assert objects[EvidenceType.REPORT] == b"\x00" * 16
    assert objects[EvidenceType.CERT1] == b""
