"""Tests for :mod:`spdm.negotiation`: the selection rules both roles apply, and the requester's check."""

from __future__ import annotations

from dataclasses import replace

import pytest

from spdm.errors import NegotiationError, RemoteProtocolError
from spdm.messages import Algorithms, AlgStruct
from spdm.messages.codes import (
    AeadSuite,
    AlgType,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    KeyScheduleAlgo,
    MeasurementHashAlgo,
    SpdmVersion,
)
from spdm.negotiation import (
    EDDSA,
    AlgorithmPreferences,
    Negotiated,
    check_algorithms_response,
    highest_common_version,
    mask_of,
    negotiated_from,
    pick,
    single_bit,
)

F = CapabilityFlags
SIGNING = F.CERT_CAP | F.CHAL_CAP | F.MEAS_CAP_SIG
SESSIONS = F.KEY_EX_CAP | F.ENCRYPT_CAP | F.MAC_CAP


def _response(*, hash_sel: int = BaseHashAlgo.SHA_384, asym_sel: int = BaseAsymAlgo.ECDSA_P384,
              dhe: int = DheGroup.SECP_384_R1, aead: int = AeadSuite.AES_256_GCM,
              key_schedule: int = KeyScheduleAlgo.SPDM, req_asym: int = 0,
              meas_spec: int = 1, meas_hash: int = MeasurementHashAlgo.SHA_384,
              other: int = 0x02) -> Algorithms:
    return Algorithms(
        spdm_version=SpdmVersion.V12, measurement_specification_sel=meas_spec,
        other_params_selection=other, measurement_hash_algo=meas_hash, base_asym_sel=asym_sel,
        base_hash_sel=hash_sel,
        alg_structs=(AlgStruct(AlgType.DHE, dhe), AlgStruct(AlgType.AEAD, aead),
                     AlgStruct(AlgType.REQ_BASE_ASYM_ALG, req_asym),
                     AlgStruct(AlgType.KEY_SCHEDULE, key_schedule)),
    )


def _check(response: Algorithms, *, responder: F = SIGNING | SESSIONS,
           requester: F = F.CERT_CAP | SESSIONS, version: SpdmVersion = SpdmVersion.V12) -> None:
    check_algorithms_response(response, version=version, offered=AlgorithmPreferences(),
                              requester_flags=requester, responder_flags=responder)


def test_bit_helpers() -> None:
    assert mask_of([BaseHashAlgo.SHA_256, BaseHashAlgo.SHA_384]) == 0x03
    assert mask_of([]) == 0
    assert pick(0x06, [0x01, 0x04, 0x02]) == 0x04  # the first preferred one offered
    assert pick(0x08, [0x01, 0x02]) == 0
    assert [single_bit(v) for v in (0, 1, 2, 3, 0x80, 0x81)] == [False, True, True, False, True, False]


def test_eddsa_is_dropped_before_1_2_only() -> None:
    prefs = AlgorithmPreferences()
    assert any(a & EDDSA for a in prefs.asym_algs)
    assert not any(a & EDDSA for a in prefs.for_version(SpdmVersion.V11).asym_algs)
    assert prefs.for_version(SpdmVersion.V12) is prefs
    assert prefs.for_version(SpdmVersion.V11).hash_algs == prefs.hash_algs


@pytest.mark.parametrize(("ours", "theirs", "expected"), [
    ((0x10, 0x11, 0x12, 0x13), (0x12, 0x11), SpdmVersion.V12),
    ((0x10, 0x11), (0x10, 0x11, 0x12, 0x13), SpdmVersion.V11),
    ((0x12, 0x13), (0x13, 0x14), SpdmVersion.V13),  # 1.4 is unknown to us, whatever they claim
])
def test_highest_common_version(ours: tuple[int, ...], theirs: tuple[int, ...],
                                expected: SpdmVersion) -> None:
    assert highest_common_version(ours, theirs) is expected


def test_no_common_version_names_both_lists() -> None:
    with pytest.raises(NegotiationError, match=r"ours 1\.2, 1\.3, theirs 1\.0, 1\.1"):
        highest_common_version((0x12, 0x13), (0x10, 0x11))


def test_a_proper_selection_passes() -> None:
    _check(_response())


@pytest.mark.parametrize(("response", "message"), [
    (_response(hash_sel=BaseHashAlgo.SHA_256 | BaseHashAlgo.SHA_384), "BaseHashAlgo 0x3"),
    (_response(hash_sel=0), "BaseHashAlgo 0x0"),
    (_response(hash_sel=BaseHashAlgo.SHA3_256), "BaseHashAlgo 0x8"),
    (_response(asym_sel=BaseAsymAlgo.EDDSA_ED448), "BaseAsymAlgo"),
    (_response(asym_sel=0), "BaseAsymAlgo 0x0"),
    (_response(meas_hash=0), "MeasurementHashAlgo"),
    (_response(meas_spec=0), "measurement specification 0x0"),
    (_response(dhe=0), "DHE group 0x0"),
    (_response(aead=AeadSuite.AES_128_GCM | AeadSuite.AES_256_GCM), "AEAD suite"),
    (_response(key_schedule=0), "key schedule"),
    (replace(_response(), ext_hash_sel=(b"\x00\x00\x00\x00",)), "external algorithm"),
])
def test_a_bad_selection_is_refused(response: Algorithms, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        _check(response)


def test_what_the_capabilities_do_not_need_may_be_absent() -> None:
    # No signing, no measurements, no sessions: only the hash is required.
    bare = _response(asym_sel=0, dhe=0, aead=0, key_schedule=0, meas_hash=0, meas_spec=0)
    _check(bare, responder=F.CERT_CAP, requester=F.CERT_CAP)
    with pytest.raises(RemoteProtocolError, match="ReqBaseAsymAlg 0x0"):
        _check(_response(), requester=F.CERT_CAP | SESSIONS | F.MUT_AUTH_CAP,
               responder=SIGNING | SESSIONS | F.MUT_AUTH_CAP)
    _check(_response(req_asym=BaseAsymAlgo.ECDSA_P256),
           requester=F.CERT_CAP | SESSIONS | F.MUT_AUTH_CAP, responder=SIGNING | SESSIONS | F.MUT_AUTH_CAP)


def test_version_1_0_has_no_algorithm_structures_to_check() -> None:
    _check(_response(dhe=0, aead=0, key_schedule=0), version=SpdmVersion.V10)


def test_eddsa_selected_at_1_1_was_not_offered() -> None:
    with pytest.raises(RemoteProtocolError, match="BaseAsymAlgo 0x40"):
        _check(_response(asym_sel=BaseAsymAlgo.EDDSA_ED25519), version=SpdmVersion.V11)


def _negotiated(**flags: F) -> Negotiated:
    return negotiated_from(
        Algorithms.decode(_response(other=0x12).encode()), version=SpdmVersion.V13,
        requester_flags=flags.get("requester", F.CERT_CAP | SESSIONS),
        responder_flags=flags.get("responder", SIGNING | SESSIONS | F.HANDSHAKE_IN_THE_CLEAR_CAP),
        requester_ct_exponent=10, responder_ct_exponent=20,
        requester_sizes=(0x1000, 0x2000), responder_sizes=(0x1200, 0x2400),
    )


def test_negotiated_from_keeps_every_selection_and_both_sides_sizes() -> None:
    n = _negotiated()
    assert (n.version, n.hash_alg, n.asym_alg, n.dhe_group, n.aead_suite, n.key_schedule) == (
        SpdmVersion.V13, BaseHashAlgo.SHA_384, BaseAsymAlgo.ECDSA_P384, DheGroup.SECP_384_R1,
        AeadSuite.AES_256_GCM, KeyScheduleAlgo.SPDM)
    assert (n.requester_ct_exponent, n.responder_ct_exponent) == (10, 20)
    assert (n.requester_data_transfer_size, n.requester_max_spdm_msg_size) == (0x1000, 0x2000)
    assert (n.responder_data_transfer_size, n.responder_max_spdm_msg_size) == (0x1200, 0x2400)
    assert n.algorithms_raw == _response(other=0x12).encode()  # as received, for the transcript
    assert (n.hash_size, n.signature_size) == (48, 96)


def test_both_multi_key_and_the_codec_follow_the_selection() -> None:
    n = _negotiated()
    assert n.both(F.KEY_EX_CAP) and not n.both(F.CHAL_CAP)
    assert not n.both(F.HANDSHAKE_IN_THE_CLEAR_CAP)  # only the responder has it
    assert n.multi_key_req and not n.multi_key  # OtherParamsSelection b4 at 1.3: the requester's keys
    assert not replace(n, version=SpdmVersion.V12).multi_key_req
    rsp = replace(n, requester_other_params=0x10, responder_flags=n.responder_flags | F.MULTI_KEY_CAP_NEG)
    assert rsp.multi_key and rsp.codec().multi_key  # OtherParamsSupport b4: the responder's keys
    ctx = n.codec(measurement_summary=True, signed=True)
    assert (ctx.hash_size, ctx.signature_size, ctx.dhe_size) == (48, 96, 96)
    assert ctx.measurement_summary and ctx.signed and not ctx.multi_key
    assert not ctx.handshake_in_the_clear and ctx.req_signature_size == 0
    both = _negotiated(requester=F.CERT_CAP | SESSIONS | F.HANDSHAKE_IN_THE_CLEAR_CAP)
    assert both.codec().handshake_in_the_clear
