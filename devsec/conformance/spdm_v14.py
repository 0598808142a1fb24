"""SPDM 1.4 cases: the large forms of GET_CERTIFICATE and VENDOR_DEFINED, and the post-quantum fields.

DSP0274 1.4 adds LARGE_RESP_CAP with 32-bit GET_CERTIFICATE/CERTIFICATE
offsets and lengths (Param1 b7, PROTOCOLS.md §3.5), the large form of
VENDOR_DEFINED_REQUEST/RESPONSE (Param1 b7 LargeReq/LargeResp, a 32-bit
length: :mod:`spdm.messages.control`), and the PqcAsymAlgo field and the
ReqPqcAsym (AlgType 6) and KEM (AlgType 7) AlgStructs of
NEGOTIATE_ALGORITHMS/ALGORITHMS (PROTOCOLS.md §3.3).  The per-version VCA cases
(:mod:`.spdm_capabilities`, :mod:`.spdm_algorithms`) also run at 1.4.

The vendor protocol the large-form case speaks is IDE_KM (QUERY for port 0,
answered the same every time), in the session it needs (:mod:`.ide_km_channel`);
a device that does not serve IDE_KM has the case skipped.  The session's
records are sealed by hand with devsec's requester's keys, as in
:mod:`.spdm_session_end`, so the case chooses the form of each request and
sees the form of each answer (the requester engine picks the large form by
itself and reports only the payload).
"""

from __future__ import annotations

from dataclasses import replace

from ide_km.messages import Query
from spdm.errors import DevsecError, SpdmErrorCode
from spdm.messages import (
    PCI_SIG_STANDARD_ID,
    PCI_SIG_VENDOR_ID,
    Algorithms,
    AlgStruct,
    Certificate,
    GetCertificate,
    VendorDefinedRequest,
    VendorDefinedResponse,
)
from spdm.messages.codes import AlgType, KemAlgo, PqcAsymAlgo
from spdm.messages.codes import CapabilityFlags as F
from spdm.negotiation import AlgorithmPreferences, mask_of, single_bit
from spdm.secured import open_record, seal
from spdm.transport.doe import DataObjectType

from .context import CaseContext, Exchange
from .ide_km_channel import Carrier, carrier, unserved
from .registry import case
from .requests import negotiate_algorithms, vca
from .spdm_auth_connection import AuthConnection
from .spdm_secured import send_record

__all__ = ["large_certificate", "large_vendor_defined", "large_vendor_defined_unadvertised", "pqc_offer"]
"""The case bodies (registered with :func:`.registry.case`; run them through the runner)."""

CERTIFICATE_CLAUSE = "DSP0274 1.4 §10.7 (LargeCertChain)"
ALGORITHMS_CLAUSE = "DSP0274 1.4 §10.5"
VENDOR_CLAUSE = "DSP0274 1.4 VENDOR_DEFINED_REQUEST/RESPONSE (Param1 b7 LargeReq/LargeResp)"
LARGE_VENDOR_NEEDS = F.LARGE_RESP_CAP | F.KEY_EX_CAP | F.ENCRYPT_CAP
"""LARGE_RESP_CAP, and the session IDE_KM (the vendor protocol spoken) needs."""
LARGE_PORTION = 0x400
MAX_PORTIONS = 1024
EVERY_ML_DSA = PqcAsymAlgo.ML_DSA_44 | PqcAsymAlgo.ML_DSA_65 | PqcAsymAlgo.ML_DSA_87
EVERY_ML_KEM = KemAlgo.ML_KEM_512 | KemAlgo.ML_KEM_768 | KemAlgo.ML_KEM_1024
SIGNING = F.CHAL_CAP | F.MEAS_CAP_SIG | F.KEY_EX_CAP


@case("spdm.certificate.large-form", "With LARGE_RESP_CAP, a LargeCertChain GET_CERTIFICATE is answered "
      "in the large form and its portions make the chain; without, it is refused",
      CERTIFICATE_CLAUSE, per_version=True, min_version=0x14, needs=F.CERT_CAP)
def large_certificate(ctx: CaseContext) -> None:
    conn = AuthConnection(ctx)
    conn.vca()
    first = GetCertificate(spdm_version=ctx.version, slot_id=0, offset=0, length=LARGE_PORTION,
                           large_cert_chain=True)
    if not ctx.flags & F.LARGE_RESP_CAP:
        ctx.expect_error("a LargeCertChain request to a device without LARGE_RESP_CAP is refused",
                         ctx.send(first), (SpdmErrorCode.UNSUPPORTED_REQUEST, SpdmErrorCode.INVALID_REQUEST))
        return
    chain = b""
    for _ in range(MAX_PORTIONS):
        request = replace(first, offset=len(chain))
        portion = conn.exchange(request, Certificate, reference=CERTIFICATE_CLAUSE)
        if not ctx.check("CERTIFICATE answers in the LargeCertChain form (Param1 b7)",
                         portion.large_cert_chain, expected="Param1 b7 set", actual=f"0x{portion.raw[2]:02x}",
                         reference=CERTIFICATE_CLAUSE):
            return
        ctx.equal("CERTIFICATE echoes the requested SlotID", 0, portion.slot_id)
        ctx.check("LargePortionLength does not exceed the requested LargeLength",
                  len(portion.cert_chain) <= LARGE_PORTION, expected=f"<= {LARGE_PORTION}",
                  actual=len(portion.cert_chain))
        chain += portion.cert_chain
        if portion.remainder_length == 0:
            break
        ctx.require("a CERTIFICATE with LargeRemainderLength > 0 carries bytes", bool(portion.cert_chain),
                    expected="LargePortionLength > 0", actual=0, reference=CERTIFICATE_CLAUSE)
    else:
        ctx.require(f"the chain ends within {MAX_PORTIONS} portions", False, expected="remainder 0",
                    actual=f"{len(chain)} bytes and more", reference=CERTIFICATE_CLAUSE)
    ctx.equal("the chain's 1.4 Length (u32) is its size", len(chain), int.from_bytes(chain[:4], "little"))


def _vendor_in_session(c: Carrier, payload: bytes, *, large: bool) -> bytes:
    """One VENDOR_DEFINED_REQUEST (PCI-SIG) in the carrier's session, in the form asked; the plaintext answer.

    Sealed with the session's own keys (their sequence numbers advance, so
    devsec's requester ends the session in step afterwards).

    Raises:
        CaseAborted: no sealed answer, or one that does not open.
    """
    ctx, session_id = c.ctx, c.session.session_id
    request = VendorDefinedRequest(spdm_version=ctx.version, standard_id=PCI_SIG_STANDARD_ID,
                                   vendor_id=PCI_SIG_VENDOR_ID, payload=payload, large=large).encode()
    keys = c.connection.driver.requester.sessions[session_id].current_keys()
    answer = send_record(ctx, seal(keys.request, session_id, request))
    if answer is None or answer.object_type != DataObjectType.SECURED_SPDM:
        ctx.require("the VENDOR_DEFINED_REQUEST in the session is answered sealed", False,
                    expected="a type-2 object", actual="no answer" if answer is None else answer.object_type,
                    reference=VENDOR_CLAUSE)
        raise AssertionError("unreachable")
    try:
        response = open_record(keys.response, answer.payload, expected_session_id=session_id)
    except DevsecError as exc:
        ctx.require("the answer opens under the session key", False, expected="a VENDOR_DEFINED_RESPONSE",
                    actual=f"{type(exc).__name__}: {exc}", reference=VENDOR_CLAUSE)
        raise AssertionError("unreachable") from exc
    ctx.exchanges.append(Exchange(request, response, session_id))
    return response


@case("spdm.vendor-defined.large-form", "With LARGE_RESP_CAP on both sides, a VENDOR_DEFINED_REQUEST in "
      "the large form (LargeReq) is answered in the large form (LargeResp) with the small form's answer",
      VENDOR_CLAUSE, per_version=True, min_version=0x14, needs=LARGE_VENDOR_NEEDS)
def large_vendor_defined(ctx: CaseContext) -> None:
    """IDE_KM QUERY (port 0) in the small form, then in the large form, in one session.

    devsec's requester, which opens the session, advertises LARGE_RESP_CAP.
    """
    query = Query(port_index=0).encode()
    with carrier(ctx) as c:
        small = _vendor_in_session(c, query, large=False)
        if unserved(small):
            ctx.skip("the device does not serve IDE_KM: QUERY in a session gets ERROR UnsupportedRequest")
        small_answer = ctx.decode(VendorDefinedResponse, small, reference=VENDOR_CLAUSE)
        ctx.check("the small-form request is answered in the small form", not small_answer.large,
                  expected="Param1 b7 clear", actual=f"0x{small[2]:02x}", reference=VENDOR_CLAUSE)
        large = _vendor_in_session(c, query, large=True)
        large_answer = ctx.decode(VendorDefinedResponse, large, reference=VENDOR_CLAUSE)
        ctx.check("the LargeReq request is answered in the large form (LargeResp)", large_answer.large,
                  expected="Param1 b7 set", actual=f"0x{large[2]:02x}", reference=VENDOR_CLAUSE)
        ctx.equal("the large-form answer echoes the StandardID and VendorID",
                  (PCI_SIG_STANDARD_ID, PCI_SIG_VENDOR_ID.hex()),
                  (large_answer.standard_id, large_answer.vendor_id.hex()), reference=VENDOR_CLAUSE)
        ctx.equal("the large-form answer carries the small form's payload", small_answer.payload.hex(),
                  large_answer.payload.hex(), reference=VENDOR_CLAUSE)



@case("spdm.vendor-defined.large-form-unadvertised", "A VENDOR_DEFINED_REQUEST in the large form (LargeReq) "
      "from a requester without LARGE_RESP_CAP is refused", VENDOR_CLAUSE, per_version=True,
      min_version=0x14, needs=LARGE_VENDOR_NEEDS)
def large_vendor_defined_unadvertised(ctx: CaseContext) -> None:
    """IDE_KM QUERY (port 0) in the large form, in a session of a requester that did not set LARGE_RESP_CAP.

    Decided: the large form needs LARGE_RESP_CAP on both sides; the device
    refuses it otherwise.  libspdm (and devsec's device) answer InvalidRequest;
    UnsupportedRequest is taken too, as for a LargeCertChain GET_CERTIFICATE
    without the capability (``spdm.certificate.large-form``).  An answer of any
    form breaks the rule.
    """
    query = Query(port_index=0).encode()
    with carrier(ctx, without=F.LARGE_RESP_CAP) as c:
        if unserved(_vendor_in_session(c, query, large=False)):
            ctx.skip("the device does not serve IDE_KM: QUERY in a session gets ERROR UnsupportedRequest")
        ctx.expect_error("a LargeReq without the requester's LARGE_RESP_CAP is refused",
                         _vendor_in_session(c, query, large=True),
                         (SpdmErrorCode.INVALID_REQUEST, SpdmErrorCode.UNSUPPORTED_REQUEST),
                         reference=VENDOR_CLAUSE)


@case("spdm.algorithms.pqc-offer", "Offered the post-quantum sets besides the classic ones, ALGORITHMS "
      "selects at most one of BaseAsym/PqcAsym, of DHE/KEM and of ReqBaseAsym/ReqPqcAsym, each offered",
      ALGORITHMS_CLAUSE, per_version=True, min_version=0x14)
def pqc_offer(ctx: CaseContext) -> None:
    vca(ctx, algorithms=False)
    prefs = AlgorithmPreferences()
    base = negotiate_algorithms(ctx.version, prefs)
    request = replace(base, pqc_asym_algo=int(EVERY_ML_DSA), alg_structs=(
        *base.alg_structs, AlgStruct(AlgType.REQ_PQC_ASYM_ALG, int(EVERY_ML_DSA)),
        AlgStruct(AlgType.KEM, int(EVERY_ML_KEM))))
    algs = ctx.decode(Algorithms, ctx.send(request), reference=ALGORITHMS_CLAUSE)
    pairs = (
        ("BaseAsymSel", algs.base_asym_sel, mask_of(prefs.asym_algs),
         "PqcAsymSel", algs.pqc_asym_sel, int(EVERY_ML_DSA)),
        ("DHE", algs.alg_supported(AlgType.DHE), mask_of(prefs.dhe_groups),
         "KEM", algs.alg_supported(AlgType.KEM), int(EVERY_ML_KEM)),
        ("ReqBaseAsymAlg", algs.alg_supported(AlgType.REQ_BASE_ASYM_ALG), mask_of(prefs.req_asym_algs),
         "ReqPqcAsymAlg", algs.alg_supported(AlgType.REQ_PQC_ASYM_ALG), int(EVERY_ML_DSA)),
    )
    for classic, classic_sel, classic_offer, pqc, pqc_sel, pqc_offer_mask in pairs:
        for name, value, offered in ((classic, classic_sel, classic_offer), (pqc, pqc_sel, pqc_offer_mask)):
            ok = value == 0 or (single_bit(value) and bool(value & offered))
            ctx.check(f"{name} is 0 or one offered bit", ok, expected=f"0 or one bit of 0x{offered:x}",
                      actual=value)
        ctx.check(f"not both {classic} and {pqc}", not (classic_sel and pqc_sel),
                  expected="at most one non-zero", actual=f"{classic_sel:#x}, {pqc_sel:#x}")
    if ctx.flags & SIGNING:
        ctx.check("a signing device selects BaseAsymSel or PqcAsymSel",
                  bool(algs.base_asym_sel or algs.pqc_asym_sel), expected="one of them", actual=0)
