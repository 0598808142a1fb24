"""Generic ERROR behaviours a responder shows whatever the request: unknown codes, a wrong version.

The state cases (:mod:`.spdm_state`) judge known requests at the wrong time;
these judge requests no state makes legal (DSP0274 1.3 §10.12, PROTOCOLS.md
§2.3): a code the negotiated version does not define, and a header whose
SPDMVersion is not the negotiated one.
"""

from __future__ import annotations

from spdm.errors import SpdmErrorCode as E
from spdm.messages.codes import CapabilityFlags as F

from .case import version_text
from .context import CaseContext
from .registry import case
from .requests import vca
from .runner import SUPPORTED_VERSIONS
from .spdm_state import ask
from .spdm_state_requests import defined_at, sizes

__all__ = ["UNDEFINED_CODES", "undefined_code", "version_mismatch"]
"""The case bodies, and the codes no SPDM version defines."""

UNDEFINED_CODES = (0x80, 0x8F, 0xC0, 0xF8)
"""Request codes (b7 set) that DSP0274 1.0-1.4 leave undefined."""


@case("spdm.errors.undefined-code", "A request code the negotiated version does not define is refused "
      "UnsupportedRequest, ErrorData naming the code", "DSP0274 1.3 Table 4, §10.12; PROTOCOLS.md §2.2-§2.3",
      per_version=True)
def undefined_code(ctx: CaseContext) -> None:
    """Decision: only codes no version 1.0-1.4 defines are sent, as bare 4-byte headers.  A code
    a later version defines (KEY_EXCHANGE on a 1.0 connection) is also undefined at the
    negotiated version, but devsec's own responder answers those by its state table, so the
    suite leaves them out until that is settled."""
    for code in UNDEFINED_CODES:
        vca(ctx)
        answer = ask(ctx, bytes([ctx.version, code, 0, 0]))
        if ctx.expect_error(f"request code 0x{code:02x} is refused", answer, (E.UNSUPPORTED_REQUEST,)):
            ctx.equal(f"UnsupportedRequest for 0x{code:02x} names the code in ErrorData", code, answer[3])


@case("spdm.errors.version-mismatch", "After ALGORITHMS, a request carrying another SPDMVersion than the "
      "negotiated one is refused VersionMismatch", "DSP0274 1.3 §9.2 (version), §10.12; PROTOCOLS.md §2.1",
      per_version=True, needs_any=F.CERT_CAP | F.MEAS_CAP_NO_SIG | F.MEAS_CAP_SIG)
def version_mismatch(ctx: CaseContext) -> None:
    """Decision: the request is GET_DIGESTS (GET_MEASUREMENTS on a device without certificates),
    legal after ALGORITHMS; it is sent at every other version 1.0-1.3, listed or not."""
    name = "GET_DIGESTS" if ctx.flags & F.CERT_CAP else "GET_MEASUREMENTS"
    request = next(r for r in defined_at(0x10) if r.name == name)
    for other in (v for v in SUPPORTED_VERSIONS if v != ctx.version):
        _, _, algs = vca(ctx)
        answer = ask(ctx, request.build(other, sizes(algs)))
        ctx.expect_error(f"{name} at SPDM {version_text(other)} after negotiating "
                         f"{version_text(ctx.version)} is refused", answer, (E.VERSION_MISMATCH,))
