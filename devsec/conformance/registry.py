"""The case catalogue: every case, registered by group, in the order they run.

Group modules (:mod:`.spdm_version` ...) register their cases at import;
:func:`catalogue` imports them all, so asking for the catalogue is enough.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from spdm.errors import ConfigurationError
from spdm.messages.codes import CapabilityFlags

from .case import Case
from .context import CaseContext

__all__ = ["SUITES", "case", "catalogue", "matching", "select"]

SUITES = ("spdm", "ide_km", "tdisp")
"""The suites the catalogue holds (the first part of every case id)."""

NO_FLAGS = CapabilityFlags(0)

_CASES: dict[str, Case] = {}


def case(
    id: str, title: str, reference: str, *, per_version: bool = False,
    min_version: int = 0x10, needs: CapabilityFlags = NO_FLAGS,
    needs_any: CapabilityFlags = NO_FLAGS, standalone: bool = False,
) -> Callable[[Callable[[CaseContext], None]], Callable[[CaseContext], None]]:
    """Register the decorated function as the body of a case (ids must be unique)."""

    def register(body: Callable[[CaseContext], None]) -> Callable[[CaseContext], None]:
        if id in _CASES:
            raise ValueError(f"conformance case {id} registered twice")
        _CASES[id] = Case(id, title, reference, body, per_version=per_version,
                          min_version=min_version, needs=needs, needs_any=needs_any, standalone=standalone)
        return body

    return register


def catalogue() -> tuple[Case, ...]:
    """Every registered case, in registration (run) order."""
    # Import order is run order: VCA in protocol order, then the authentication groups.
    from . import spdm_version  # noqa: F401, I001
    from . import spdm_capabilities, spdm_algorithms, spdm_certificates, spdm_challenge  # noqa: F401
    from . import spdm_measurements  # noqa: F401
    from . import spdm_v14  # noqa: F401
    from . import spdm_certificate_rules  # noqa: F401
    from . import spdm_challenge_auth  # noqa: F401
    from . import spdm_measurement_rules  # noqa: F401
    from . import spdm_session, spdm_session_handshake, spdm_session_update  # noqa: F401
    from . import spdm_session_psk, spdm_session_end, spdm_secured, spdm_state  # noqa: F401
    from . import spdm_state_session  # noqa: F401
    from . import spdm_errors  # noqa: F401
    from . import spdm_not_ready  # noqa: F401
    from . import spdm_doe  # noqa: F401
    from . import spdm_events  # noqa: F401
    from . import spdm_multikey  # noqa: F401
    from . import spdm_endpoint  # noqa: F401
    from . import spdm_chunk  # noqa: F401
    from . import spdm_chunk_errors  # noqa: F401
    from . import spdm_provision  # noqa: F401
    from . import ide_km_query, ide_km_keys  # noqa: F401
    from . import tdisp_interface, tdisp_report  # noqa: F401
    return tuple(_CASES.values())


def select(suites: Sequence[str] = SUITES, include: Sequence[str] = (),
           exclude: Sequence[str] = ()) -> tuple[Case, ...]:
    """The cases of ``suites`` whose id matches an ``include`` pattern (all if none) and no ``exclude``.

    Patterns are shell globs (``spdm.version.*``); a pattern with no glob
    character also matches every id it is a dotted prefix of.

    Raises:
        ConfigurationError: an unknown suite, or an include pattern matching no case.
    """
    unknown = set(suites) - set(SUITES)
    if unknown:
        raise ConfigurationError(f"unknown conformance suite(s): {', '.join(sorted(unknown))}; "
                                 f"known: {', '.join(SUITES)}")
    return matching([c for c in catalogue() if c.id.split(".")[0] in suites], include, exclude,
                    "conformance case")


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


C = TypeVar("C", bound=_HasId)


def matching(cases: Sequence[C], include: Sequence[str], exclude: Sequence[str], what: str) -> tuple[C, ...]:
    """The ``cases`` whose id matches an ``include`` pattern (all if none) and no ``exclude``,
    for both suites' ``--case`` and ``--skip``.

    Patterns are shell globs (``spdm.version.*``); a pattern with no glob
    character also matches every id it is a dotted prefix of.

    Raises:
        ConfigurationError: an include pattern matching none of ``cases`` (named as ``what``).
    """
    for pattern in include:
        if not any(_matches(c.id, pattern) for c in cases):
            raise ConfigurationError(f"--case {pattern} matches no {what}")
    return tuple(
        c for c in cases
        if (not include or any(_matches(c.id, p) for p in include))
        and not any(_matches(c.id, p) for p in exclude)
    )


def _matches(case_id: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(case_id, pattern) or case_id.startswith(pattern + ".") or case_id == pattern
