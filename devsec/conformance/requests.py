"""The legitimate requests cases send: what a conformant requester (devsec's defaults) would.

Cases start from these and change one field to probe one rule, so a failure
points at that field alone.  Offers come from :data:`SUITE_PREFERENCES`
(everything devsec's requester supports), capabilities from
:data:`spdm.config.DEFAULT_REQUESTER_CAPS`.

Decision: from 1.4 on the suite also offers the post-quantum sets
(ML-DSA-44/65/87, ML-KEM-768/1024), as libspdm's requester does, so that a
device that signs only with ML-DSA can be tested; devsec's own requester
offers them only when asked.
"""

from __future__ import annotations

from spdm.codec import CodecContext
from spdm.config import DEFAULT_DATA_TRANSFER_SIZE, DEFAULT_REQUESTER_CAPS
from spdm.crypto import hash_size, signature_size
from spdm.messages import (
    Algorithms,
    AlgStruct,
    Capabilities,
    GetCapabilities,
    GetVersion,
    NegotiateAlgorithms,
)
from spdm.messages import Version as VersionResponse
from spdm.messages.codes import (
    AlgType,
    BaseAsymAlgo,
    BaseHashAlgo,
    KemAlgo,
    MeasurementSpecification,
    PqcAsymAlgo,
)
from spdm.negotiation import FLAGS_DEFINED, AlgorithmPreferences, mask_of

from .context import CaseContext

__all__ = ["REQUESTER_CT_EXPONENT", "SUITE_PREFERENCES", "codec_context", "get_capabilities",
           "negotiate_algorithms", "vca"]

REQUESTER_CT_EXPONENT = 20
"""The CTExponent the suite sends (Linux's and TF-RMM's value, PROTOCOLS.md §2.4)."""

SUITE_PREFERENCES = AlgorithmPreferences(
    pqc_asym_algs=(PqcAsymAlgo.ML_DSA_87, PqcAsymAlgo.ML_DSA_65, PqcAsymAlgo.ML_DSA_44),
    kem_algs=(KemAlgo.ML_KEM_1024, KemAlgo.ML_KEM_768))
"""What the suite offers: devsec's defaults, plus (1.4) the post-quantum sets devsec supports."""


def codec_context(algs: Algorithms, *, measurement_summary: bool = False) -> CodecContext:
    """The sizes the device's later responses use, from its ALGORITHMS (H, S)."""
    sig = (signature_size(BaseAsymAlgo(algs.base_asym_sel)) if algs.base_asym_sel
           else signature_size(PqcAsymAlgo(algs.pqc_asym_sel)) if algs.pqc_asym_sel else 0)
    return CodecContext(hash_size=hash_size(BaseHashAlgo(algs.base_hash_sel)), signature_size=sig,
                        measurement_summary=measurement_summary)


def get_capabilities(version: int) -> GetCapabilities:
    """GET_CAPABILITIES at ``version`` with devsec's requester capabilities."""
    if version < 0x11:
        return GetCapabilities(spdm_version=version)
    return GetCapabilities(spdm_version=version, ct_exponent=REQUESTER_CT_EXPONENT,
                           flags=int(DEFAULT_REQUESTER_CAPS) & FLAGS_DEFINED.get(version, 0xFFFF_FFFF),
                           data_transfer_size=DEFAULT_DATA_TRANSFER_SIZE,
                           max_spdm_msg_size=DEFAULT_DATA_TRANSFER_SIZE)


def negotiate_algorithms(version: int, prefs: AlgorithmPreferences | None = None) -> NegotiateAlgorithms:
    """NEGOTIATE_ALGORITHMS at ``version`` offering all of ``prefs`` (devsec's by default)."""
    p = (prefs or SUITE_PREFERENCES).for_version(version)
    structs: tuple[AlgStruct, ...] = ()
    if version >= 0x11:
        structs = (
            AlgStruct(AlgType.DHE, mask_of(p.dhe_groups)),
            AlgStruct(AlgType.AEAD, mask_of(p.aead_suites)),
            AlgStruct(AlgType.REQ_BASE_ASYM_ALG, mask_of(p.req_asym_algs)),
            AlgStruct(AlgType.KEY_SCHEDULE, mask_of(p.key_schedules)),
        )
    if version >= 0x14:
        structs += tuple(AlgStruct(alg_type, mask) for alg_type, mask in (
            (AlgType.REQ_PQC_ASYM_ALG, mask_of(p.req_pqc_asym_algs)),
            (AlgType.KEM, mask_of(p.kem_algs))) if mask)
    return NegotiateAlgorithms(
        spdm_version=version, alg_structs=structs,
        measurement_specification=int(MeasurementSpecification.DMTF),
        other_params_support=mask_of(p.opaque_formats) if version >= 0x12 else 0,
        base_asym_algo=mask_of(p.asym_algs), base_hash_algo=mask_of(p.hash_algs),
        pqc_asym_algo=mask_of(p.pqc_asym_algs),
    )


VcaResponses = tuple[VersionResponse, Capabilities, Algorithms | None]


def vca(ctx: CaseContext, *, algorithms: bool = True,
        request: NegotiateAlgorithms | None = None) -> VcaResponses:
    """Run GET_VERSION, GET_CAPABILITIES and (unless told not to) NEGOTIATE_ALGORITHMS at ``ctx.version``.

    Each response must decode as its message; a case judging a step's
    content asserts on the returned messages itself.

    Raises:
        CaseAborted: a step was not answered with its response.
    """
    version = ctx.decode(VersionResponse, ctx.send(GetVersion()), reference="DSP0274 1.3 §10.3")
    caps = ctx.decode(Capabilities, ctx.send(get_capabilities(ctx.version)), reference="DSP0274 1.3 §10.4")
    if not algorithms:
        return version, caps, None
    offer = request or negotiate_algorithms(ctx.version)
    algs = ctx.decode(Algorithms, ctx.send(offer), reference="DSP0274 1.3 §10.5")
    return version, caps, algs
