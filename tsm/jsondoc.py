"""Strict reading of the TSM layer's JSON documents (:mod:`.wire`): every problem named by its path.

A reader takes a value parsed from JSON and the path it was found at
(``requester.algorithms.hash_algs[0]``) and returns it typed, or raises
:class:`Malformed` naming the path; :func:`decoding` parses a whole document
and turns any problem into one :class:`~spdm.errors.DecodeError` that names
the document too.  Nothing is coerced: a number is not a string, ``true`` is
not 1, a missing or unknown key is an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum, IntFlag
from typing import Any, TypeVar

from spdm.errors import DecodeError

__all__ = [
    "Malformed", "array", "at", "boolean", "decoding", "dump", "flags", "hexbytes", "member", "named",
    "number", "obj", "reading", "string", "uint",
]

E = TypeVar("E", bound=Enum)
F = TypeVar("F", bound=IntFlag)


class Malformed(Exception):
    """Where a document is wrong and how; turned into DecodeError by :func:`decoding`."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)


def at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def decoding(what: str, data: bytes, read: Callable[[object], Any]) -> Any:
    """Parse ``data`` as JSON and read it with ``read``; any problem is a DecodeError naming ``what``."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise DecodeError(f"malformed {what}: not JSON: {exc}") from exc
    return reading(what, doc, read)


def reading(what: str, doc: object, read: Callable[[object], Any]) -> Any:
    try:
        return read(doc)
    except Malformed as exc:
        raise DecodeError(f"malformed {what}: {exc}") from exc
    except DecodeError as exc:  # a value's own check (a certificate, a PCI address)
        raise DecodeError(f"malformed {what}: {exc}") from exc


def obj(value: object, path: str, required: tuple[str, ...],
            optional: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(path, f"expected an object, got {type(value).__name__}")
    missing = [k for k in required if k not in value]
    if missing:
        raise Malformed(path, f"missing {', '.join(missing)}")
    unknown = sorted(set(value) - set(required) - set(optional))
    if unknown:
        raise Malformed(path, f"unknown {', '.join(map(str, unknown))}")
    return value


def uint(value: object, path: str, *, bits: int = 32) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << bits:
        raise Malformed(path, f"expected an unsigned {bits}-bit integer, got {value!r}")
    return value


def boolean(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise Malformed(path, f"expected true or false, got {value!r}")
    return value


def number(value: object, path: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < float("inf"):
        raise Malformed(path, f"expected a non-negative number, got {value!r}")
    return float(value)


def string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise Malformed(path, f"expected a string, got {value!r}")
    return value


def hexbytes(value: object, path: str) -> bytes:
    try:
        return bytes.fromhex(string(value, path))
    except ValueError as exc:
        raise Malformed(path, f"not hex: {exc}") from exc


def array(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise Malformed(path, f"expected a list, got {type(value).__name__}")
    return value


def member(cls: type[E], value: object, path: str) -> E:
    """One defined member of ``cls`` (an IntEnum value, or a single IntFlag bit) by its value."""
    number = uint(value, path)
    if issubclass(cls, IntFlag):
        defined = number in {int(m) for m in cls}
    else:
        defined = number in cls._value2member_map_
    if not defined:
        raise Malformed(path, f"{number} is not a {cls.__name__}")
    return cls(number)


def flags(cls: type[F], value: object, path: str) -> F:
    return cls(uint(value, path))


def named(cls: type[E], value: object, path: str) -> E:
    name = string(value, path)
    if name not in cls.__members__:
        raise Malformed(path, f"{name!r} is not a {cls.__name__}")
    return cls[name]


def dump(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()
