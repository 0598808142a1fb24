"""Device provisioning judged on the responder: GET_CSR / CSR and SET_CERTIFICATE / SET_CERTIFICATE_RSP.

DSP0274 1.3 §10.23-10.24 (Tables 73-80) and PROTOCOLS.md §10.  The cases
never install anything: the CSR is asked for (a device may keep it pending,
which changes nothing it authenticates with) and every SET_CERTIFICATE sent
must be refused, so a device under test is left as it was.

Decisions where DSP0274 leaves room:

* The CSR is asked for key pair 0 with no RequesterInfo, no opaque data and
  (1.3) no CSRTrackingTag or certificate model: legal on any connection
  without MULTI_KEY_CONN, which the suite does not negotiate.
* A chain whose certificates are not DER, and SlotID 9, must be refused
  InvalidRequest (a device that checks the chain later, on use, is not
  conformant: SET_CERTIFICATE_RSP says the slot is provisioned).
"""

from __future__ import annotations

import struct

from spdm.crypto import hash_size, load_csr
from spdm.errors import DecodeError, SpdmErrorCode, VerificationError
from spdm.messages import Csr, GetCsr, SetCertificate
from spdm.messages.codes import BaseHashAlgo
from spdm.messages.codes import CapabilityFlags as F

from .context import CaseContext
from .registry import case
from .requests import vca

__all__ = ["csr", "set_certificate_bad_slot", "set_certificate_malformed_chain"]

CSR_CLAUSE = "DSP0274 1.3 §10.23, Tables 73-75; PROTOCOLS.md §10"
SET_CLAUSE = "DSP0274 1.3 §10.24, Tables 76-80"
V12 = 0x12
JUNK_CERTIFICATES = bytes.fromhex("3082") + bytes(64)
"""A DER SEQUENCE header whose body is too short: no certificate."""
UNSUPPORTED_SLOT = 9


def _chain(hash_alg: BaseHashAlgo) -> bytes:
    """An SPDM certificate chain (Length, reserved, root hash) around bytes that are no certificates."""
    body = bytes(hash_size(hash_alg)) + JUNK_CERTIFICATES
    return struct.pack("<HH", 4 + len(body), 0) + body


@case("spdm.provision.csr", "GET_CSR is answered with a CSR carrying a well-formed PKCS#10 request "
      "signed by its own key", CSR_CLAUSE, per_version=True, min_version=V12, needs=F.CSR_CAP)
def csr(ctx: CaseContext) -> None:
    vca(ctx)
    response = ctx.decode(Csr, ctx.send(GetCsr(spdm_version=ctx.version)), reference=CSR_CLAUSE)
    try:
        load_csr(response.csr).verify()
        verdict = "a PKCS#10 request whose signature verifies"
    except (DecodeError, VerificationError) as exc:
        verdict = str(exc)
    ctx.equal("the CSR is a PKCS#10 request signed by its own key",
              "a PKCS#10 request whose signature verifies", verdict, reference=CSR_CLAUSE)


@case("spdm.provision.set-certificate-malformed-chain", "SET_CERTIFICATE with a chain that holds no "
      "certificate is refused InvalidRequest", SET_CLAUSE, per_version=True, min_version=V12,
      needs=F.SET_CERT_CAP)
def set_certificate_malformed_chain(ctx: CaseContext) -> None:
    _, _, algs = vca(ctx)
    assert algs is not None
    request = SetCertificate(spdm_version=ctx.version, attributes=1,
                             cert_chain=_chain(BaseHashAlgo(algs.base_hash_sel)))
    ctx.expect_error("a chain of no certificates is refused", ctx.send(request),
                     (SpdmErrorCode.INVALID_REQUEST,))


@case("spdm.provision.set-certificate-bad-slot", f"SET_CERTIFICATE for SlotID {UNSUPPORTED_SLOT} (slots are "
      "0-7) is refused InvalidRequest", SET_CLAUSE, per_version=True, min_version=V12, needs=F.SET_CERT_CAP)
def set_certificate_bad_slot(ctx: CaseContext) -> None:
    _, _, algs = vca(ctx)
    assert algs is not None
    request = SetCertificate(spdm_version=ctx.version, attributes=UNSUPPORTED_SLOT,
                             cert_chain=_chain(BaseHashAlgo(algs.base_hash_sel)))
    ctx.expect_error(f"SlotID {UNSUPPORTED_SLOT} is refused", ctx.send(request),
                     (SpdmErrorCode.INVALID_REQUEST,))
