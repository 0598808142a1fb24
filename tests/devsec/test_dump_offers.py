"""``devsec dump`` judges a capture by what its requester offered, never by devsec's own preferences.

Issue 11 item 5: ALGORITHMS was checked against devsec's default offers, so
a requester that offered ReqBaseAsymAlg ECDSA P-521 stopped the follower.
Here the offers are the capture's: a selection the captured requester did
not offer is refused even where devsec would have offered it, the version is
the one the captured GET_CAPABILITIES carries, and a new GET_VERSION forgets
the previous connection's choices and chains.
"""

from __future__ import annotations

import pytest

from devsec.dump import dump
from spdm.capture import read_capture, write_capture
from spdm.messages import AlgStruct, GetCapabilities, GetVersion, NegotiateAlgorithms, Version
from spdm.messages.codes import (
    AeadSuite,
    AlgType,
    BaseAsymAlgo,
    BaseHashAlgo,
    DheGroup,
    KeyScheduleAlgo,
    OpaqueDataFormat,
    RequestCode,
    SpdmVersion,
)
from spdm.requester.follow import offered_preferences
from spdm.transport.doe import DataObject, DataObjectType, decode_data_object, encode_data_object
from tests.devsec.recording import NOW, Case, record, recording_dhe_secrets

STOPPED = "followed the conversation up to where it stopped: "
_BASE_HASH_SEL = 4 + 2 + 1 + 1 + 4 + 4
"""Offset of BaseHashSel in ALGORITHMS (DSP0274 Table 20): header, Length, MeasSpec, Other, MeasHash, Asym."""


def _spdm(payload: bytes) -> bytes:
    return encode_data_object(DataObject(1, DataObjectType.SPDM, payload))


def _code(obj: bytes) -> int:
    return decode_data_object(obj).payload[1]


def _stop_reason(lines: list[str]) -> str:
    [reason] = [line.removeprefix(STOPPED) for line in lines if line.startswith(STOPPED)]
    return reason


def test_the_offer_is_read_from_the_captured_request() -> None:
    request = NegotiateAlgorithms(
        spdm_version=SpdmVersion.V13, measurement_specification=1, other_params_support=0x12,
        base_asym_algo=BaseAsymAlgo.ECDSA_P521 | BaseAsymAlgo.RSAPSS_4096,
        base_hash_algo=BaseHashAlgo.SHA3_512 | 0x80,
        alg_structs=(AlgStruct(AlgType.DHE, DheGroup.FFDHE_4096), AlgStruct(AlgType.AEAD, 0x6),
                     AlgStruct(AlgType.REQ_BASE_ASYM_ALG, BaseAsymAlgo.ECDSA_P521),
                     AlgStruct(AlgType.KEY_SCHEDULE, KeyScheduleAlgo.SPDM)),
    )
    offer = offered_preferences(NegotiateAlgorithms.decode(request.encode()))
    assert offer.asym_algs == (BaseAsymAlgo.RSAPSS_4096, BaseAsymAlgo.ECDSA_P521)
    assert [int(h) for h in offer.hash_algs] == [BaseHashAlgo.SHA3_512, 0x80]  # an unnamed bit stays
    assert offer.dhe_groups == (DheGroup.FFDHE_4096,)
    assert offer.aead_suites == (AeadSuite.AES_256_GCM, AeadSuite.CHACHA20_POLY1305)
    assert offer.req_asym_algs == (BaseAsymAlgo.ECDSA_P521,)
    assert offer.key_schedules == (KeyScheduleAlgo.SPDM,)
    assert offer.opaque_formats == (OpaqueDataFormat.FMT1,)  # b4 (MULTI_KEY_CONN) is no format


def test_a_requester_offering_only_p521_for_its_own_key_is_followed_to_the_end(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's capture: ReqBaseAsymAlg 0x100 offered and selected, mutual auth verified."""
    case = Case(req_asym=BaseAsymAlgo.ECDSA_P521)
    recording = record(case, recording_dhe_secrets(monkeypatch))
    lines = dump(recording.pcap, now=NOW, secrets=recording.secrets)
    assert not any(line.startswith(STOPPED) for line in lines), "\n".join(lines)
    assert any("requester authenticated (FINISH signature verified)" in line for line in lines)
    assert lines[-1] == f"signatures: {case.expected_signatures()} verified, 0 failed"


def test_a_selection_the_captured_requester_did_not_offer_is_refused() -> None:
    """SHA-384 is among devsec's own offers, but this requester offered SHA-256 only."""
    objects = [r.data for r in read_capture(record(Case(hash_alg=BaseHashAlgo.SHA_256), [],
                                                   sessions=False).pcap)]
    at = next(i for i, o in enumerate(objects) if _code(o) == RequestCode.NEGOTIATE_ALGORITHMS) + 1
    algorithms = bytearray(decode_data_object(objects[at]).payload)
    assert algorithms[_BASE_HASH_SEL] == BaseHashAlgo.SHA_256
    algorithms[_BASE_HASH_SEL] = BaseHashAlgo.SHA_384
    objects[at] = _spdm(bytes(algorithms))
    lines = dump(write_capture(objects), now=NOW)
    assert _stop_reason(lines) == "ALGORITHMS selected BaseHashAlgo 0x2, not one of the offered 0x1"


def test_a_version_the_responder_did_not_list_is_refused() -> None:
    objects = [_spdm(GetVersion().encode()),
               _spdm(Version(version_entries=(0x1200,)).encode()),
               _spdm(GetCapabilities(spdm_version=SpdmVersion.V13).encode())]
    lines = dump(write_capture(objects), now=NOW)
    assert _stop_reason(lines) == (
        "GET_CAPABILITIES at SPDM 0x13, a version the responder's VERSION did not list")


def test_a_new_get_version_forgets_the_previous_connections_chains() -> None:
    """A second connection that challenges without retrieving a chain cannot lean on the first's."""
    first = [r.data for r in read_capture(record(Case(req_asym=None), [], sessions=False).pcap)]
    second = [r.data for r in read_capture(record(Case(asym=BaseAsymAlgo.ECDSA_P256, req_asym=None), [],
                                                  sessions=False).pcap)]
    portions = {i for i, o in enumerate(second) if _code(o) == RequestCode.GET_CERTIFICATE}
    assert portions  # every GET_CERTIFICATE of the chain (one per portion) goes, with its answer
    without_chain = [o for i, o in enumerate(second) if i not in portions and i - 1 not in portions]
    lines = dump(write_capture(first + without_chain), now=NOW)
    assert _stop_reason(lines) == ("Challenge names slot 0, whose certificate chain the capture does "
                                   "not show: its signature cannot be checked")
    assert lines[-1] == "signatures: 2 verified, 0 failed"  # the first connection's
