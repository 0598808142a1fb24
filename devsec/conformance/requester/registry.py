"""The requester case catalogue: every case, registered by group, in the order they run.

Shaped like the responder side's :mod:`devsec.conformance.registry`: group
modules register their cases at import, :func:`catalogue` imports them all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import import_module

from spdm.messages.codes import CapabilityFlags

from ..registry import matching
from .case import NO_CAPS, DeviceSetup, RequesterCase
from .context import RequesterContext
from .device import Misbehaviour

__all__ = ["GROUP_MODULES", "case", "catalogue", "select"]

_CASES: dict[str, RequesterCase] = {}

Judge = Callable[[RequesterContext], None]


def case(id: str, title: str, reference: str, *, misbehaviour: Callable[[], Misbehaviour] | None = None,
         impostor: bool = False, runs: int = 1,
         without: CapabilityFlags = NO_CAPS, device: DeviceSetup | None = None) -> Callable[[Judge], Judge]:
    """Register the decorated function as the judge of a requester case (ids must be unique)."""

    def register(judge: Judge) -> Judge:
        if id in _CASES:
            raise ValueError(f"requester conformance case {id} registered twice")
        _CASES[id] = RequesterCase(id, title, reference, judge, misbehaviour, impostor, runs, without,
                                   device)
        return judge

    return register


GROUP_MODULES = ("checks", "adversarial", "sessions", "faults", "events", "multikey", "endpoint", "chunking",
                 "provision")
"""The modules that register cases, in run order."""


def catalogue() -> tuple[RequesterCase, ...]:
    """Every registered requester case: by module in :data:`GROUP_MODULES` order, then in registration order.

    The order does not depend on which case module something imported first
    (one module's cases may build on another's: ``provision`` imports ``chunking``).
    """
    for name in GROUP_MODULES:
        import_module(f"{__package__}.{name}")
    order = {f"{__package__}.{name}": index for index, name in enumerate(GROUP_MODULES)}
    return tuple(sorted(_CASES.values(), key=lambda c: order[c.judge.__module__]))


def select(include: Sequence[str] = (), exclude: Sequence[str] = ()) -> tuple[RequesterCase, ...]:
    """The cases whose id matches an ``include`` pattern (all if none) and no ``exclude``.

    Patterns are shell globs; a pattern with no glob character also matches
    every id it is a dotted prefix of.

    Raises:
        ConfigurationError: an include pattern matches no case.
    """
    return matching(catalogue(), include, exclude, "requester conformance case")
