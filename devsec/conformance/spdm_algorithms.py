"""SPDM NEGOTIATE_ALGORITHMS / ALGORITHMS cases (DSP0274 1.3 §10.5; PROTOCOLS.md §3.3)."""

from __future__ import annotations

from dataclasses import replace

from spdm.errors import SpdmErrorCode
from spdm.messages import Algorithms, GetVersion, Version
from spdm.messages.codes import AlgType, BaseHashAlgo, MeasurementSpecification
from spdm.messages.codes import CapabilityFlags as F
from spdm.negotiation import AlgorithmPreferences, mask_of, single_bit

from .context import CaseContext
from .registry import case
from .requests import SUITE_PREFERENCES, get_capabilities, negotiate_algorithms, vca

__all__ = ["before_capabilities", "invalid_length", "layout", "narrow_offer", "repeat", "selection"]
"""The case bodies (registered with :func:`.registry.case`; run them through the runner)."""

CLAUSE = "DSP0274 1.3 §10.5"
SIGNING = F.CHAL_CAP | F.MEAS_CAP_SIG | F.KEY_EX_CAP
MEASURING = F.MEAS_CAP_NO_SIG | F.MEAS_CAP_SIG


def _algorithms(ctx: CaseContext, prefs: AlgorithmPreferences | None = None) -> tuple[bytes, Algorithms]:
    vca(ctx, algorithms=False)
    data = ctx.send(negotiate_algorithms(ctx.version, prefs))
    return data, ctx.decode(Algorithms, data)


def _selection(ctx: CaseContext, name: str, value: int, offered: int, *, required: bool) -> None:
    """A selection field holds exactly one offered bit (or none, when the field is optional)."""
    ok = (value == 0 and not required) or (single_bit(value) and bool(value & offered))
    ctx.check(f"{name} selects {'exactly' if required else 'at most'} one of the offered bits", ok,
              expected=f"one bit of 0x{offered:x}" + ("" if required else " or 0"), actual=value)


@case("spdm.algorithms.layout", "ALGORITHMS echoes the version and its Length counts its bytes",
      CLAUSE, per_version=True)
def layout(ctx: CaseContext) -> None:
    data, algs = _algorithms(ctx)
    ctx.equal("ALGORITHMS carries the request's SPDMVersion", ctx.version, data[0])
    ctx.equal("Length equals the message's size", len(algs.raw), int.from_bytes(data[4:6], "little"))
    if ctx.version >= 0x11:
        ctx.equal("Param1 counts the AlgStructs", len(algs.alg_structs), data[2])
        types = [a.alg_type for a in algs.alg_structs]
        ctx.equal("AlgStructs come in ascending AlgType order, each at most once", sorted(set(types)), types)
        carried = sorted(a.alg_type for a in negotiate_algorithms(ctx.version).alg_structs)
        ctx.check("every AlgStruct answers one the request carried", set(types) <= set(carried),
                  expected=f"AlgTypes among {carried}", actual=types)


@case("spdm.algorithms.selection", "Every ALGORITHMS selection is exactly one bit of the offer",
      CLAUSE, per_version=True)
def selection(ctx: CaseContext) -> None:
    _, algs = _algorithms(ctx)
    prefs = SUITE_PREFERENCES.for_version(ctx.version)
    flags = ctx.flags
    _selection(ctx, "BaseHashSel", algs.base_hash_sel, mask_of(prefs.hash_algs), required=True)
    _selection(ctx, "BaseAsymSel", algs.base_asym_sel, mask_of(prefs.asym_algs),
               required=bool(flags & SIGNING) and not algs.pqc_asym_sel)  # 1.4: or an ML-DSA one
    if flags & MEASURING:
        _selection(ctx, "MeasurementHashAlgo", algs.measurement_hash_algo, 0xFF, required=True)
        ctx.equal("MeasurementSpecificationSel is DMTF", int(MeasurementSpecification.DMTF),
                  algs.measurement_specification_sel)
    else:
        ctx.equal("MeasurementHashAlgo is 0 without MEAS_CAP", 0, algs.measurement_hash_algo)
    ctx.check("no external algorithm is selected (none was offered)",
              not algs.ext_asym_sel and not algs.ext_hash_sel,
              expected="ExtAsymSelCount = ExtHashSelCount = 0",
              actual=f"{len(algs.ext_asym_sel)}, {len(algs.ext_hash_sel)}")
    if ctx.version >= 0x11:
        offered = {AlgType.DHE: mask_of(prefs.dhe_groups), AlgType.AEAD: mask_of(prefs.aead_suites),
                   AlgType.REQ_BASE_ASYM_ALG: mask_of(prefs.req_asym_algs),
                   AlgType.KEY_SCHEDULE: mask_of(prefs.key_schedules), AlgType.KEM: mask_of(prefs.kem_algs)}
        for alg_type, mask in offered.items():
            _selection(ctx, f"AlgStruct {alg_type.name}", algs.alg_supported(alg_type), mask, required=False)
        if flags & F.KEY_EX_CAP and not algs.alg_supported(AlgType.KEM):  # 1.4: a KEM instead
            _selection(ctx, "AlgStruct DHE (KEY_EX_CAP)", algs.alg_supported(AlgType.DHE),
                       offered[AlgType.DHE], required=True)
    if ctx.version >= 0x12:
        _selection(ctx, "OtherParamsSelection opaque data format", algs.other_params_selection & 0x0F,
                   mask_of(prefs.opaque_formats), required=False)
    if ctx.version >= 0x14:
        _selection(ctx, "PqcAsymSel", algs.pqc_asym_sel, mask_of(prefs.pqc_asym_algs), required=False)
        both = bool(algs.base_asym_sel and algs.pqc_asym_sel)
        ctx.check("BaseAsymSel and PqcAsymSel are not both set", not both,
                  expected="at most one", actual=f"0x{algs.base_asym_sel:x}, 0x{algs.pqc_asym_sel:x}",
                  reference="DSP0274 1.4 §10.5")


@case("spdm.algorithms.narrow-offer", "With the first choice withdrawn from the offer, the device "
      "selects another offered hash or refuses", CLAUSE, per_version=True)
def narrow_offer(ctx: CaseContext) -> None:
    _, first = _algorithms(ctx)
    prefs = SUITE_PREFERENCES
    narrowed = replace(prefs, hash_algs=tuple(h for h in prefs.hash_algs if h != first.base_hash_sel))
    offered = mask_of(narrowed.hash_algs)
    data = ctx.send(GetVersion())
    ctx.decode(Version, data, reference="DSP0274 1.3 §10.3")
    ctx.send(get_capabilities(ctx.version))
    data = ctx.send(negotiate_algorithms(ctx.version, narrowed))
    if data[1:2] == b"\x7f":
        ctx.expect_error("a device supporting none of the narrowed offer refuses it", data,
                         (SpdmErrorCode.INVALID_REQUEST, SpdmErrorCode.UNSPECIFIED))
        return
    algs = ctx.decode(Algorithms, data)
    _selection(ctx, "BaseHashSel", algs.base_hash_sel, offered, required=True)
    ctx.check("the withdrawn hash is not selected", algs.base_hash_sel != first.base_hash_sel,
              expected=f"not {BaseHashAlgo(first.base_hash_sel).name}", actual=algs.base_hash_sel)


@case("spdm.algorithms.invalid-length", "NEGOTIATE_ALGORITHMS whose Length disagrees with its size "
      "gets ERROR InvalidRequest", CLAUSE, per_version=True)
def invalid_length(ctx: CaseContext) -> None:
    vca(ctx, algorithms=False)
    request = bytearray(negotiate_algorithms(ctx.version).encode())
    request[4:6] = (len(request) + 4).to_bytes(2, "little")
    ctx.expect_error("Length = size + 4 is refused with InvalidRequest", ctx.send(bytes(request)),
                     (SpdmErrorCode.INVALID_REQUEST,))


@case("spdm.algorithms.before-capabilities", "NEGOTIATE_ALGORITHMS before GET_CAPABILITIES gets "
      "ERROR UnexpectedRequest", "DSP0274 1.3 §9.2, §10.5", per_version=True)
def before_capabilities(ctx: CaseContext) -> None:
    ctx.decode(Version, ctx.send(GetVersion()), reference="DSP0274 1.3 §10.3")
    ctx.expect_error("NEGOTIATE_ALGORITHMS straight after VERSION is refused",
                     ctx.send(negotiate_algorithms(ctx.version)), (SpdmErrorCode.UNEXPECTED_REQUEST,))


@case("spdm.algorithms.repeat", "A second NEGOTIATE_ALGORITHMS is refused with ERROR UnexpectedRequest",
      "DSP0274 1.3 §9.2, §10.5", per_version=True)
def repeat(ctx: CaseContext) -> None:
    vca(ctx)
    prefs = replace(SUITE_PREFERENCES, hash_algs=(BaseHashAlgo.SHA_256, BaseHashAlgo.SHA_384))
    data = ctx.send(negotiate_algorithms(ctx.version, prefs))
    ctx.expect_error("a repeated NEGOTIATE_ALGORITHMS is refused", data, (SpdmErrorCode.UNEXPECTED_REQUEST,))
