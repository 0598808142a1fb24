"""SPDM GET_CAPABILITIES / CAPABILITIES cases (DSP0274 1.3 §10.4; PROTOCOLS.md §3.2, §10.2)."""

from __future__ import annotations

from dataclasses import replace

from spdm.errors import SpdmErrorCode
from spdm.messages import Capabilities, GetVersion, Version
from spdm.messages.codes import CapabilityFlags as F

from .case import version_text
from .context import CaseContext
from .registry import case
from .requests import get_capabilities

__all__ = [
    "ct_exponent", "flags", "invalid_sizes_order", "invalid_transfer_size", "layout", "repeat",
    "transfer_sizes", "version_mismatch",
]
"""The case bodies (registered with :func:`.registry.case`; run them through the runner)."""

CLAUSE = "DSP0274 1.3 §10.4"

DEFINED_FLAGS = {0x10: (1 << 6) - 1, 0x11: (1 << 17) - 1, 0x12: (1 << 22) - 1, 0x13: (1 << 30) - 1,
                 0x14: (1 << 32) - 1}
"""The responder flag bits each version defines (PROTOCOLS.md §3.2); the rest are reserved, sent as 0."""

CMA_MAX_CT_EXPONENT = 23
MIN_DATA_TRANSFER_SIZE = 42


def _capabilities(ctx: CaseContext) -> tuple[bytes, Capabilities]:
    ctx.decode(Version, ctx.send(GetVersion()), reference="DSP0274 1.3 §10.3")
    data = ctx.send(get_capabilities(ctx.version))
    return data, ctx.decode(Capabilities, data)


@case("spdm.capabilities.layout", "CAPABILITIES echoes the version and has that version's size",
      CLAUSE, per_version=True)
def layout(ctx: CaseContext) -> None:
    data, _ = _capabilities(ctx)
    ctx.equal("CAPABILITIES carries the request's SPDMVersion", ctx.version, data[0])
    size = 20 if ctx.version >= 0x12 else 12
    ctx.check(f"CAPABILITIES is {size} bytes at SPDM {version_text(ctx.version)} (DOE pad aside)",
              size <= len(data) < size + 4 and not any(data[size:]), expected=f"{size} bytes",
              actual=f"{len(data)} bytes")
    if ctx.version >= 0x14:  # offset 6-7 is ExtFlags from 1.4 on
        ctx.equal("Reserved byte (offset 4) is zero", b"\x00", data[4:5])
    else:
        ctx.equal("Reserved bytes (offset 4, 6-7) are zero", b"\x00\x00\x00", data[4:5] + data[6:8])


@case("spdm.capabilities.flags", "CAPABILITIES flags are consistent and use only defined bits",
      CLAUSE, per_version=True)
def flags(ctx: CaseContext) -> None:
    _, caps = _capabilities(ctx)
    f = caps.flags
    reserved = f & ~DEFINED_FLAGS[ctx.version]
    ctx.equal(f"no flag bit undefined in SPDM {version_text(ctx.version)} is set", 0, reserved)
    ctx.check("MEAS_CAP is not the reserved value 11b", (f >> 3) & 3 != 3,
              expected="00b, 01b or 10b", actual=f"{(f >> 3) & 3:02b}b")
    ctx.check("MEAS_FRESH_CAP only with MEAS_CAP", not f & F.MEAS_FRESH_CAP or bool((f >> 3) & 3),
              expected="MEAS_CAP set", actual=f"flags 0x{f:x}")
    if ctx.version >= 0x11:
        ctx.check("PSK_CAP is not the reserved value 11b", (f >> 10) & 3 != 3,
                  expected="00b, 01b or 10b", actual=f"{(f >> 10) & 3:02b}b")
        sessions = bool(f & (F.KEY_EX_CAP | F.PSK_CAP | F.PSK_CAP_WITH_CONTEXT))
        ctx.equal("ENCRYPT_CAP or MAC_CAP exactly when KEY_EX_CAP or PSK_CAP", sessions,
                  bool(f & (F.ENCRYPT_CAP | F.MAC_CAP)))
        ctx.check("HBEAT_CAP / KEY_UPD_CAP / HANDSHAKE_IN_THE_CLEAR_CAP only with sessions",
                  sessions or not f & (F.HBEAT_CAP | F.KEY_UPD_CAP | F.HANDSHAKE_IN_THE_CLEAR_CAP),
                  expected="KEY_EX_CAP or PSK_CAP set", actual=f"flags 0x{f:x}")
        ctx.check("CERT_CAP and PUB_KEY_ID_CAP are not both set",
                  not (f & F.CERT_CAP and f & F.PUB_KEY_ID_CAP), expected="at most one",
                  actual=f"flags 0x{f:x}")
    if ctx.version >= 0x14:
        # Decided here (DSP0274 1.4 leaves it implicit): a reset for SET_KEY_PAIR_INFO needs that message.
        ctx.check("SET_KEY_PAIR_RESET_CAP only with SET_KEY_PAIR_INFO_CAP",
                  not f & F.SET_KEY_PAIR_RESET_CAP or bool(f & F.SET_KEY_PAIR_INFO_CAP),
                  expected="SET_KEY_PAIR_INFO_CAP set", actual=f"flags 0x{f:x}")


@case("spdm.capabilities.ct-exponent", "CTExponent is within the CMA limit", "PCIe 6.x §6.31",
      per_version=True)
def ct_exponent(ctx: CaseContext) -> None:
    _, caps = _capabilities(ctx)
    ctx.check(f"CTExponent <= {CMA_MAX_CT_EXPONENT}", caps.ct_exponent <= CMA_MAX_CT_EXPONENT,
              expected=f"<= {CMA_MAX_CT_EXPONENT}", actual=caps.ct_exponent)


@case("spdm.capabilities.transfer-sizes", "DataTransferSize and MaxSPDMmsgSize are valid",
      CLAUSE, per_version=True, min_version=0x12)
def transfer_sizes(ctx: CaseContext) -> None:
    _, caps = _capabilities(ctx)
    ctx.check(f"DataTransferSize >= {MIN_DATA_TRANSFER_SIZE}",
              caps.data_transfer_size >= MIN_DATA_TRANSFER_SIZE,
              expected=f">= {MIN_DATA_TRANSFER_SIZE}", actual=caps.data_transfer_size)
    ctx.check("MaxSPDMmsgSize >= DataTransferSize", caps.max_spdm_msg_size >= caps.data_transfer_size,
              expected=f">= {caps.data_transfer_size}", actual=caps.max_spdm_msg_size)


@case("spdm.capabilities.version-mismatch", "GET_CAPABILITIES in a version the device did not list "
      "gets ERROR VersionMismatch", CLAUSE)
def version_mismatch(ctx: CaseContext) -> None:
    listed = ctx.decode(Version, ctx.send(GetVersion()), reference="DSP0274 1.3 §10.3").versions
    unlisted = next(v for v in (0x1F, 0x1E, 0x1D) if v not in listed)
    request = replace(get_capabilities(0x12), spdm_version=unlisted)
    data = ctx.send(request)
    ctx.expect_error(f"GET_CAPABILITIES with SPDMVersion 0x{unlisted:02x} is refused with VersionMismatch",
                     data, (SpdmErrorCode.VERSION_MISMATCH,), reference="DSP0274 1.3 §10.4, §10.12")


@case("spdm.capabilities.invalid-transfer-size", "GET_CAPABILITIES with DataTransferSize below 42 "
      "gets ERROR InvalidRequest", CLAUSE, per_version=True, min_version=0x12)
def invalid_transfer_size(ctx: CaseContext) -> None:
    ctx.decode(Version, ctx.send(GetVersion()), reference="DSP0274 1.3 §10.3")
    request = replace(get_capabilities(ctx.version), data_transfer_size=MIN_DATA_TRANSFER_SIZE - 1)
    ctx.expect_error("DataTransferSize 41 is refused with InvalidRequest", ctx.send(request),
                     (SpdmErrorCode.INVALID_REQUEST,))


@case("spdm.capabilities.invalid-sizes-order", "GET_CAPABILITIES with MaxSPDMmsgSize below "
      "DataTransferSize gets ERROR InvalidRequest", CLAUSE, per_version=True, min_version=0x12)
def invalid_sizes_order(ctx: CaseContext) -> None:
    ctx.decode(Version, ctx.send(GetVersion()), reference="DSP0274 1.3 §10.3")
    base = get_capabilities(ctx.version)
    request = replace(base, max_spdm_msg_size=base.data_transfer_size - 1)
    ctx.expect_error("MaxSPDMmsgSize < DataTransferSize is refused with InvalidRequest", ctx.send(request),
                     (SpdmErrorCode.INVALID_REQUEST,))


@case("spdm.capabilities.repeat", "A second, different GET_CAPABILITIES is refused with "
      "ERROR UnexpectedRequest", "DSP0274 1.3 §9.2, §10.4", per_version=True, min_version=0x11)
def repeat(ctx: CaseContext) -> None:
    _capabilities(ctx)
    again = replace(get_capabilities(ctx.version), ct_exponent=get_capabilities(ctx.version).ct_exponent + 1)
    ctx.expect_error("a non-identical repeated GET_CAPABILITIES is refused", ctx.send(again),
                     (SpdmErrorCode.UNEXPECTED_REQUEST,))
