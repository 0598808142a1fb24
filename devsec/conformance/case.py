"""A conformance case as data: what it checks, where the rule is written, what it needs, how it runs.

A case never quotes the specification: it names the document and clause
(``DSP0274 1.3 §10.3``), so a vendor reads the rule where it is written.
Clause numbers follow DSP0274 1.3 (the codec's docstrings use the same ones).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from spdm.messages.codes import CapabilityFlags
from spdm.record import record

if TYPE_CHECKING:
    from .context import CaseContext

__all__ = ["Case", "CaseRun", "DeviceProfile", "needs_text", "version_text"]


def version_text(version: int) -> str:
    """``0x12`` -> ``"1.2"``."""
    return f"{version >> 4}.{version & 0x0F}"


@record(frozen=True, slots=True)
class DeviceProfile:
    """What the device said about itself before any case ran (the probe).

    Attributes:
        versions: the SPDM versions both the device lists and the suite can speak, ascending.
        flags: the device's CAPABILITIES flags at each of those versions.
    """

    versions: tuple[int, ...]
    flags: dict[int, int]


@record(frozen=True, slots=True)
class Case:
    """One conformance case.

    Attributes:
        id: the stable identifier (``spdm.version.entries``); ``--case`` and
            ``--skip`` patterns and report rows use it.
        group: the report group (``spdm.version``), the id's first two parts.
        title: one line saying what a passing device does.
        reference: the rule's document and clause, e.g. ``DSP0274 1.3 §10.3``.
        body: runs the case's exchanges and assertions on a fresh connection.
        per_version: run once per SPDM version the device supports (the run id
            gains ``@1.2``); otherwise once, at the highest common version.
        min_version: the lowest SPDM version the rule exists in.
        needs: capability flags the device must advertise (all of them) at the
            run's version, else the case is skipped saying which are missing.
        needs_any: capability flags of which the device must advertise at least
            one (MEAS_CAP's two encodings).
        standalone: the case needs no version from the device (the GET_VERSION
            cases): it runs, at SPDM 1.0 framing, even when the device lists no
            usable version, which is exactly what such a case must catch.
    """

    id: str
    title: str
    reference: str
    body: Callable[[CaseContext], None]
    per_version: bool = False
    min_version: int = 0x10
    needs: CapabilityFlags = CapabilityFlags(0)
    needs_any: CapabilityFlags = CapabilityFlags(0)
    standalone: bool = False

    @property
    def group(self) -> str:
        """The report group: the id's first two dotted parts."""
        return ".".join(self.id.split(".")[:2])

    def runs(self, profile: DeviceProfile) -> list[CaseRun]:
        """The runs of this case against a device (one per version when per-version)."""
        if not profile.versions:
            return [CaseRun(self, 0x10 if self.standalone else None)]
        versions = profile.versions if self.per_version else profile.versions[-1:]
        return [CaseRun(self, v) for v in versions]


@record(frozen=True, slots=True)
class CaseRun:
    """A case bound to the SPDM version it runs at (None: the device shares no version)."""

    case: Case
    version: int | None

    @property
    def id(self) -> str:
        """The run's id: the case id, plus ``@1.2`` for per-version cases."""
        if self.case.per_version and self.version is not None:
            return f"{self.case.id}@{version_text(self.version)}"
        return self.case.id

    def skip_reason(self, profile: DeviceProfile) -> str | None:
        """Why this run cannot apply to the device, or None when it runs."""
        if self.version is None:
            return "the device lists no SPDM version the suite speaks (1.0-1.3)"
        if self.version < self.case.min_version:
            return (f"the rule exists from SPDM {version_text(self.case.min_version)}; "
                    f"this run is at SPDM {version_text(self.version)}")
        flags = CapabilityFlags(profile.flags.get(self.version, 0))
        missing = self.case.needs & ~flags
        if missing:
            names = "|".join(f.name or hex(f) for f in CapabilityFlags if f & missing)
            return f"the device does not advertise {names} at SPDM {version_text(self.version)}"
        if self.case.needs_any and not self.case.needs_any & flags:
            names = " or ".join(f.name or hex(f) for f in CapabilityFlags if f & self.case.needs_any)
            return f"the device advertises none of {names} at SPDM {version_text(self.version)}"
        return None


def needs_text(case: Case) -> str:
    """What a case needs of the device, in words ("" when nothing): for the catalogue and its document."""
    needs = []
    if case.per_version:
        needs.append(f"each version from {version_text(case.min_version)}")
    elif case.min_version > 0x10:
        needs.append(f"from {version_text(case.min_version)}")
    if case.needs:
        needs.append("needs " + "|".join(f.name or hex(f) for f in type(case.needs) if f & case.needs))
    if case.needs_any:
        needs.append("needs " + " or ".join(f.name or hex(f) for f in type(case.needs_any)
                                             if f & case.needs_any))
    return "; ".join(needs)
