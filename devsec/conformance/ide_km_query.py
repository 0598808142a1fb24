"""IDE_KM QUERY / QUERY_RESP cases (PCIe 6.x §6.33.3; PROTOCOLS.md §8), and the refusal in the clear.

Every case runs in a session it opens (:mod:`.ide_km_channel`); a device
that answers IDE_KM's QUERY with SPDM ERROR UnsupportedRequest does not serve
IDE_KM, and its cases are skipped saying so.
"""

from __future__ import annotations

from ide_km.messages import ObjectId, Query, QueryResp
from spdm.errors import SpdmErrorCode
from spdm.messages import PCI_SIG_STANDARD_ID, PCI_SIG_VENDOR_ID, VendorDefinedRequest
from spdm.messages.codes import CapabilityFlags as F

from .context import CaseContext
from .ide_km_channel import Carrier, carrier, decode_payload, unserved
from .registry import case

__all__ = ["outside_session", "port_beyond_max", "ports", "query_port_zero"]
"""The case bodies (registered with :func:`.registry.case`) and the QUERY every IDE_KM case starts with."""

CLAUSE = "PCIe 6.x §6.33.3"
SESSION = F.KEY_EX_CAP | F.ENCRYPT_CAP
IDE_KM_MIN_VERSION = 0x11
"""IDE_KM needs SPDM 1.1 or later (PROTOCOLS.md §8.1)."""


def query_port_zero(c: Carrier) -> QueryResp:
    """QUERY PortIndex 0 (every IDE_KM device has it); skip the case when IDE_KM is not served.

    Raises:
        CaseSkipped: the device answers ERROR UnsupportedRequest (no IDE_KM).
        CaseAborted: any other answer than QUERY_RESP.
    """
    data = c.send(Query(port_index=0))
    if unserved(data):
        c.ctx.skip("the device does not serve IDE_KM: QUERY in a session gets SPDM ERROR UnsupportedRequest")
    return decode_payload(c.ctx, QueryResp, data, ObjectId.QUERY_RESP)


@case("ide_km.query.ports", "QUERY for every PortIndex up to MaxPortIndex is answered with that port's "
      "QUERY_RESP and the same MaxPortIndex", CLAUSE, min_version=IDE_KM_MIN_VERSION, needs=SESSION)
def ports(ctx: CaseContext) -> None:
    with carrier(ctx) as c:
        first = query_port_zero(c)
        ctx.equal("QUERY_RESP for port 0 echoes PortIndex 0", 0, first.port_index)
        for port in range(1, first.max_port_index + 1):
            resp = decode_payload(ctx, QueryResp, c.send(Query(port_index=port)), ObjectId.QUERY_RESP)
            ctx.equal(f"QUERY_RESP for port {port} echoes PortIndex {port}", port, resp.port_index)
            ctx.equal(f"QUERY_RESP for port {port} keeps MaxPortIndex", first.max_port_index,
                      resp.max_port_index)


@case("ide_km.query.beyond-max-port", "QUERY for MaxPortIndex + 1 gets SPDM ERROR InvalidRequest",
      f"{CLAUSE}; PROTOCOLS.md §8 (ide_km.device)", min_version=IDE_KM_MIN_VERSION, needs=SESSION)
def port_beyond_max(ctx: CaseContext) -> None:
    """The port does not exist and QUERY_RESP has no status field: the device model's documented answer."""
    with carrier(ctx) as c:
        first = query_port_zero(c)
        if first.max_port_index == 0xFF:
            ctx.skip("MaxPortIndex is 255: no PortIndex lies beyond it")
        beyond = first.max_port_index + 1
        c.expect_error(f"QUERY for PortIndex {beyond} is refused with InvalidRequest",
                       c.send(Query(port_index=beyond)), (SpdmErrorCode.INVALID_REQUEST,))


@case("ide_km.query.outside-session", "IDE_KM QUERY outside a secured session is refused",
      "PCIe 6.x §11.2.2; PROTOCOLS.md §8.1", min_version=IDE_KM_MIN_VERSION, needs=SESSION)
def outside_session(ctx: CaseContext) -> None:
    """A QUERY in the clear must not be answered with QUERY_RESP.

    The case first shows, in the session, that the device serves IDE_KM, then
    sends the same QUERY in the clear on the same (negotiated) connection.
    devsec's model answers SPDM ERROR UnexpectedRequest; UnsupportedRequest is
    accepted too (the decision: any SPDM refusal keeps the rule, a QUERY_RESP
    breaks it).
    """
    with carrier(ctx) as c:
        query_port_zero(c)
        request = VendorDefinedRequest(spdm_version=ctx.version, standard_id=PCI_SIG_STANDARD_ID,
                                       vendor_id=PCI_SIG_VENDOR_ID, payload=Query(port_index=0).encode())
        ctx.expect_error("IDE_KM QUERY in the clear is refused", ctx.send(request),
                         (SpdmErrorCode.UNEXPECTED_REQUEST, SpdmErrorCode.UNSUPPORTED_REQUEST))
