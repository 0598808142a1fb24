"""SPDM GET_VERSION / VERSION cases (DSP0274 1.3 §10.3; PROTOCOLS.md §3.1)."""

from __future__ import annotations

from spdm.errors import SpdmErrorCode
from spdm.messages import GetVersion, NegotiateAlgorithms, Version

from .case import version_text
from .context import CaseContext
from .registry import case
from .requests import get_capabilities, negotiate_algorithms

__all__ = ["entries", "framing", "request_version", "reserved_fields", "resets"]
"""The case bodies (registered with :func:`.registry.case`; run them through the runner)."""

CLAUSE = "DSP0274 1.3 §10.3"
KNOWN_MAJOR = 1
RESERVED_PROBE = 0x5A
"""A reserved-field value with both bit patterns in it (Param2 gets its complement)."""


@case("spdm.version.framing", "VERSION answers GET_VERSION in SPDM 1.0 framing", CLAUSE, standalone=True)
def framing(ctx: CaseContext) -> None:
    data = ctx.send(GetVersion())
    ctx.require("GET_VERSION is answered with VERSION (0x04)", data[1:2] == b"\x04",
                expected="VERSION (0x04)", actual=ctx._describe(data))
    ctx.equal("VERSION carries SPDMVersion 0x10", 0x10, data[0])
    ctx.equal("VERSION Param1 and Param2 are zero (reserved)", b"\x00\x00", data[2:4])


@case("spdm.version.entries", "VERSION lists well-formed version entries", CLAUSE, standalone=True)
def entries(ctx: CaseContext) -> None:
    data = ctx.send(GetVersion())
    version = ctx.decode(Version, data)
    count = data[5]
    ctx.require("VersionNumberEntryCount is at least 1", count >= 1, expected=">= 1", actual=count)
    extra = data[6 + 2 * count:]
    ctx.check("nothing but DOE padding follows the entries", len(extra) < 4 and not any(extra),
              expected=f"{6 + 2 * count} bytes then at most 3 zero bytes", actual=f"{len(data)} bytes")
    majors = {e >> 12 for e in version.version_entries}
    ctx.equal("every entry's MajorVersion is 1", {KNOWN_MAJOR}, majors)
    ctx.equal("no entry is listed twice", len(version.version_entries), len(set(version.version_entries)))
    listed = ", ".join(version_text(v) for v in version.versions)
    ctx.check("at least one entry is a version 1.0-1.4", any(0x10 <= v <= 0x14 for v in version.versions),
              expected="one of 1.0, 1.1, 1.2, 1.3, 1.4", actual=listed)


@case("spdm.version.request-version", "GET_VERSION not in SPDM 1.0 framing gets ERROR VersionMismatch",
      "DSP0274 1.3 §10.3, §10.12", standalone=True)
def request_version(ctx: CaseContext) -> None:
    data = ctx.send(GetVersion(spdm_version=0x11))
    ctx.expect_error("GET_VERSION with SPDMVersion 0x11 is refused with VersionMismatch", data,
                     (SpdmErrorCode.VERSION_MISMATCH,))
    ctx.equal("the ERROR is in SPDM 1.0 framing", 0x10, data[0])


@case("spdm.version.reserved-fields", "GET_VERSION with non-zero reserved Param1/Param2 is still answered "
      "with VERSION", CLAUSE, standalone=True)
def reserved_fields(ctx: CaseContext) -> None:
    """A receiver ignores reserved fields (DSP0274's field conventions), so they change nothing."""
    data = ctx.send(bytes([0x10, 0x84, RESERVED_PROBE, RESERVED_PROBE ^ 0xFF]))
    version = ctx.decode(Version, data)
    ctx.check("VERSION lists at least one entry", bool(version.version_entries), expected=">= 1 entry",
              actual=len(version.version_entries))


@case("spdm.version.resets-connection", "GET_VERSION resets the connection: NEGOTIATE_ALGORITHMS "
      "straight after it is refused", CLAUSE)
def resets(ctx: CaseContext) -> None:
    ctx.decode(Version, ctx.send(GetVersion()))
    ctx.send(get_capabilities(ctx.version))
    ctx.send(negotiate_algorithms(ctx.version))
    ctx.decode(Version, ctx.send(GetVersion()))
    request: NegotiateAlgorithms = negotiate_algorithms(ctx.version)
    data = ctx.send(request)
    ctx.expect_error("NEGOTIATE_ALGORITHMS right after GET_VERSION is refused with UnexpectedRequest",
                     data, (SpdmErrorCode.UNEXPECTED_REQUEST,), reference="DSP0274 1.3 §9.2, §10.3")
