"""Package exports imported on first use (PEP 562).

A package's ``__init__`` that imports every submodule makes ``import pkg``
pay for all of them: a udev hook that needs one function paid for the policy
engine, the TSM and both vendor protocols.  A package instead maps each
public name to its home module and lets :func:`lazy_exports` import that
module when the name is first looked up (``pkg.name`` or ``from pkg import
name``); type checkers see the names through an ``if TYPE_CHECKING:`` import.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> tuple[Callable[[str], object],
                                                                    Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose names load on first use.

    Args:
        package: the package's ``__name__``.
        homes: public name -> the module defining it (``.bundle`` relative to
            the package, or an absolute module name).

    Returns:
        ``(__getattr__, __dir__)``, to bind at the package's top level.
    """

    def getattr_(name: str) -> object:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def dir_() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(homes))

    return getattr_, dir_
