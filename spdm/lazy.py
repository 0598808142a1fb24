"""Package exports imported on first use (PEP 562).

A package's ``__init__`` that imports every submodule makes ``import pkg``
pay for all of them: a udev hook that needs one function paid for the policy
engine, the TSM and both vendor protocols.  A package instead maps each
public name to its home module and lets :func:`lazy_exports` import that
module when the name is first looked up (``pkg.name`` or ``from pkg import
name``); type checkers see the names through an ``if TYPE_CHECKING:`` import.
A table of such names keyed by a wire code (:class:`LazyTypes`, e.g.
``spdm.messages.REQUEST_TYPES``) looks each name up the same way, so a code's
class, and its module, load when the code is first met.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar

__all__ = ["LazyTypes", "lazy_exports"]

_T = TypeVar("_T")


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


class LazyTypes(Mapping[int, _T], Generic[_T]):
    """A read-only code -> class table whose classes load on first lookup.

    Which codes it holds is known without importing anything (``code in
    table``, ``len``, iteration); a class is the package's lazily exported name,
    fetched (and its module imported) the first time its code is looked up.  An
    unknown code behaves as in a dict: ``table[code]`` raises ``KeyError`` and
    ``table.get(code)`` returns None.
    """

    __slots__ = ("_package", "_names", "_loaded")

    def __init__(self, package: str, names: Mapping[int, str]) -> None:
        """Args:
            package: the package exporting the classes (``lazy_exports``).
            names: code -> the class's exported name.
        """
        self._package = package
        self._names = dict(names)
        self._loaded: dict[int, _T] = {}

    def __getitem__(self, code: int) -> _T:
        loaded = self._loaded.get(code)
        if loaded is None:
            value: _T = getattr(importlib.import_module(self._package), self._names[code])
            loaded = self._loaded[code] = value
        return loaded

    def __contains__(self, code: object) -> bool:
        return code in self._names

    def __iter__(self) -> Iterator[int]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)
