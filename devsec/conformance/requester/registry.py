"""The requester case catalogue: every case, registered by group, in the order they run.

Shaped like the responder side's :mod:`devsec.conformance.registry`: group
modules register their cases at import, :func:`catalogue` imports them all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from spdm.messages.codes import CapabilityFlags

from ..registry import matching
from .case import NO_CAPS, DeviceSetup, RequesterCase
from .context import RequesterContext
from .device import Misbehaviour

__all__ = ["case", "catalogue", "select"]

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


def catalogue() -> tuple[RequesterCase, ...]:
    """Every registered requester case, in registration (run) order."""
    from . import checks  # noqa: F401, I001
    from . import adversarial  # noqa: F401
    from . import sessions  # noqa: F401
    from . import faults  # noqa: F401
    from . import events  # noqa: F401
    from . import multikey  # noqa: F401
    from . import endpoint  # noqa: F401
    from . import chunking  # noqa: F401
    from . import provision  # noqa: F401
    return tuple(_CASES.values())


def select(include: Sequence[str] = (), exclude: Sequence[str] = ()) -> tuple[RequesterCase, ...]:
    """The cases whose id matches an ``include`` pattern (all if none) and no ``exclude``.

    Patterns are shell globs; a pattern with no glob character also matches
    every id it is a dotted prefix of.

    Raises:
        ConfigurationError: an include pattern matches no case.
    """
    return matching(catalogue(), include, exclude, "requester conformance case")
