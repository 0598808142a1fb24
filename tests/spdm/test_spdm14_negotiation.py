"""SPDM 1.4 rules of both roles on hand-made messages: the responder's refusals and the requester's checks.

The responder: AlgTypes 6/7 only from 1.4, LargeCertChain only with its
LARGE_RESP_CAP, a chain over 64 KiB never in the 16-bit form.  The
requester: a classic signature or a PQC one, a DHE group or a KEM, never both;
the CERTIFICATE form must match the request's.  The selection helpers pick a
post-quantum algorithm when both sides have one, else the classic preference.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from spdm.config import DEFAULT_RESPONDER_CAPS, ResponderConfig
from spdm.device import DeviceModel
from spdm.errors import RemoteProtocolError, SpdmErrorCode
from spdm.messages import (
    Algorithms,
    AlgStruct,
    ErrorResponse,
    GetCapabilities,
    GetCertificate,
    GetVersion,
    NegotiateAlgorithms,
)
from spdm.messages.codes import (
    AlgType,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    KemAlgo,
    PqcAsymAlgo,
    SpdmVersion,
)
from spdm.negotiation import (
    AlgorithmPreferences,
    KeyExchangeSelection,
    SigningSelection,
    check_algorithms_response,
    select_key_exchange,
    select_signing,
)
from spdm.responder import Responder

F = CapabilityFlags
P384 = BaseAsymAlgo.ECDSA_P384
REQ_FLAGS = int(F.CERT_CAP | F.CHAL_CAP | F.ENCRYPT_CAP | F.MAC_CAP | F.KEY_EX_CAP | F.LARGE_RESP_CAP)


@pytest.fixture(scope="module")
def model() -> DeviceModel:
    return DeviceModel.generate(P384)


def _vca(model: DeviceModel, version: int, *, caps: F = DEFAULT_RESPONDER_CAPS,
         structs: tuple[AlgStruct, ...] = ()) -> tuple[Responder, bytes]:
    responder = Responder(ResponderConfig(capabilities=caps,
                                          algorithms=AlgorithmPreferences(asym_algs=(P384,))), model)
    responder.handle(GetVersion().encode())
    responder.handle(GetCapabilities(spdm_version=version, flags=REQ_FLAGS, data_transfer_size=0x1200,
                                     max_spdm_msg_size=0x1200).encode())
    request = NegotiateAlgorithms(
        spdm_version=version, measurement_specification=1, other_params_support=2,
        base_asym_algo=int(P384), base_hash_algo=int(BaseHashAlgo.SHA_384),
        alg_structs=(AlgStruct(AlgType.DHE, int(DheGroup.SECP_384_R1)), AlgStruct(AlgType.AEAD, 2),
                     AlgStruct(AlgType.KEY_SCHEDULE, 1), *structs))
    return responder, responder.handle(request.encode())


def _error(response: bytes) -> int:
    assert response[1] == 0x7F, response.hex()
    return ErrorResponse.decode(response).error_code


def test_the_pqc_alg_types_are_unknown_before_14(model: DeviceModel) -> None:
    pqc = (AlgStruct(AlgType.REQ_PQC_ASYM_ALG, 2), AlgStruct(AlgType.KEM, 2))
    _, answer = _vca(model, 0x13, structs=pqc)
    assert _error(answer) == SpdmErrorCode.INVALID_REQUEST
    _, answer = _vca(model, 0x14, structs=pqc)
    algorithms = Algorithms.decode(answer)
    assert [(s.alg_type, s.alg_supported) for s in algorithms.alg_structs][-2:] == [(6, 0), (7, 0)]
    assert algorithms.alg_supported(AlgType.DHE) == DheGroup.SECP_384_R1 and algorithms.pqc_asym_sel == 0


def test_large_cert_chain_needs_our_large_resp_cap(model: DeviceModel) -> None:
    responder, _ = _vca(model, 0x14, caps=DEFAULT_RESPONDER_CAPS & ~F.LARGE_RESP_CAP)
    large = GetCertificate(spdm_version=0x14, offset=0, length=0x400, large_cert_chain=True)
    assert _error(responder.handle(large.encode())) == SpdmErrorCode.UNSUPPORTED_REQUEST
    small = responder.handle(replace(large, large_cert_chain=False).encode())
    assert small[1] == 0x02 and not small[2] & 0x80


def test_the_responder_answers_in_the_form_asked(model: DeviceModel) -> None:
    responder, _ = _vca(model, 0x14)
    for large in (True, False):
        answer = responder.handle(GetCertificate(spdm_version=0x14, offset=0, length=0x100,
                                                 large_cert_chain=large).encode())
        assert bool(answer[2] & 0x80) == large
        assert len(answer) == (16 if large else 8) + 0x100


def test_selection_prefers_post_quantum_when_both_sides_have_it() -> None:
    classic = (P384,)
    chosen = select_signing(int(P384), int(PqcAsymAlgo.ML_DSA_65), classic, ())
    assert chosen == SigningSelection(asym=int(P384))
    assert select_signing(int(P384), int(PqcAsymAlgo.ML_DSA_65), classic,
                          (PqcAsymAlgo.ML_DSA_87, PqcAsymAlgo.ML_DSA_65)) == SigningSelection(pqc=2)
    assert select_key_exchange(0x10, int(KemAlgo.ML_KEM_768), (DheGroup.SECP_384_R1,),
                               (KemAlgo.ML_KEM_768,)) == KeyExchangeSelection(kem=2)
    assert select_key_exchange(0x10, 0, (DheGroup.SECP_384_R1,),
                               (KemAlgo.ML_KEM_768,)) == KeyExchangeSelection(dhe=0x10)


def _response(**changes: object) -> Algorithms:
    base = Algorithms(spdm_version=0x14, measurement_specification_sel=1, measurement_hash_algo=4,
                      base_asym_sel=int(P384), base_hash_sel=int(BaseHashAlgo.SHA_384),
                      alg_structs=(AlgStruct(AlgType.DHE, 0x10), AlgStruct(AlgType.AEAD, 2),
                                   AlgStruct(AlgType.KEY_SCHEDULE, 1)))
    return replace(base, **changes)  # type: ignore[arg-type]


PQC_PREFS = AlgorithmPreferences(pqc_asym_algs=(PqcAsymAlgo.ML_DSA_65,), kem_algs=(KemAlgo.ML_KEM_768,))


@pytest.mark.parametrize("response, message", [
    (_response(pqc_asym_sel=2), "both a BaseAsymAlgo and a PqcAsymAlgo"),
    (_response(alg_structs=(AlgStruct(AlgType.DHE, 0x10), AlgStruct(AlgType.AEAD, 2),
                            AlgStruct(AlgType.KEY_SCHEDULE, 1), AlgStruct(AlgType.KEM, 2))),
     "both a DHE group and a KEM"),
    (_response(pqc_asym_sel=4, base_asym_sel=0), "PqcAsymAlgo 0x4, not one of the offered"),
], ids=["asym-and-pqc", "dhe-and-kem", "pqc-not-offered"])
def test_the_requester_refuses_a_double_or_unoffered_selection(response: Algorithms, message: str) -> None:
    with pytest.raises(RemoteProtocolError, match=message):
        check_algorithms_response(response, version=SpdmVersion.V14, offered=PQC_PREFS,
                                  requester_flags=F(REQ_FLAGS), responder_flags=DEFAULT_RESPONDER_CAPS)


def test_the_requester_accepts_a_pqc_only_selection() -> None:
    response = _response(pqc_asym_sel=2, base_asym_sel=0,
                         alg_structs=(AlgStruct(AlgType.AEAD, 2), AlgStruct(AlgType.KEY_SCHEDULE, 1),
                                      AlgStruct(AlgType.KEM, 2)))
    check_algorithms_response(response, version=SpdmVersion.V14, offered=PQC_PREFS,
                              requester_flags=F(REQ_FLAGS), responder_flags=DEFAULT_RESPONDER_CAPS)
    with pytest.raises(RemoteProtocolError, match="post-quantum AlgStruct in SPDM 1.3"):
        older = replace(response, spdm_version=0x13, pqc_asym_sel=0, base_asym_sel=int(P384))
        check_algorithms_response(older, version=SpdmVersion.V13, offered=PQC_PREFS,
                                  requester_flags=F(REQ_FLAGS), responder_flags=DEFAULT_RESPONDER_CAPS)


def test_pqc_preferences_vanish_below_14() -> None:
    assert PQC_PREFS.for_version(SpdmVersion.V13).pqc_asym_algs == ()
    assert PQC_PREFS.for_version(SpdmVersion.V13).kem_algs == ()
    assert PQC_PREFS.for_version(SpdmVersion.V14) == PQC_PREFS
