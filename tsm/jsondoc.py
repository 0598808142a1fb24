"""Strict reading of the TSM layer's JSON documents (:mod:`.wire`): every problem named by its path.

A reader takes a value parsed from JSON and the path it was found at
(``requester.algorithms.hash_algs[0]``) and returns it typed, or raises
:class:`Malformed` naming the path; :func:`decoding` parses a whole document
and turns any problem into one :class:`~spdm.errors.DecodeError` that names
the document too.  Nothing is coerced: a number is not a string, ``true`` is
not 1, a missing or unknown key is an error.

The documents come from another process (the security-processor process,
a TSM service), so parsing trusts nothing about their shape either: a
document is at most :data:`MAX_DOCUMENT` bytes and nests at most
:data:`MAX_DEPTH` containers (checked before :mod:`json` recurses), and a
number must be finite (Python's json accepts ``NaN`` and ``Infinity``, and
``1e999`` is infinite) with at most :data:`MAX_NUMBER_DIGITS` characters.
Every violation is a :class:`~spdm.errors.DecodeError`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from enum import Enum, IntFlag
from typing import Any, Final, TypeVar

from spdm.errors import DecodeError

__all__ = [
    "MAX_DEPTH", "MAX_DOCUMENT", "MAX_NUMBER_DIGITS", "Malformed", "array", "at", "boolean", "decoding",
    "dump", "flags", "hexbytes", "member", "named", "number", "obj", "parse", "reading", "string", "uint",
]

E = TypeVar("E", bound=Enum)
F = TypeVar("F", bound=IntFlag)

MAX_DOCUMENT: Final = 16 << 20
"""Largest document read (bytes): a psp-proxy frame's body cap (:data:`.psp_wire.MAX_BODY`)."""

MAX_DEPTH: Final = 32
"""Deepest nesting of arrays and objects read; the deepest document written nests 6 levels."""

MAX_NUMBER_DIGITS: Final = 32
"""Longest number literal read (characters); every integer in a document fits in 64 bits (20 digits)."""

_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET: Final = bytes(b for b in range(256) if b not in b"[]{}")
_OPENING: Final = frozenset(b"[{")


class Malformed(Exception):
    """Where a document is wrong and how; turned into DecodeError by :func:`decoding`."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)


def at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _depth(data: bytes) -> int:
    """How deep ``data``'s arrays and objects nest, up to MAX_DEPTH + 1 (brackets in strings do not count)."""
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKET)
    if len(brackets) <= MAX_DEPTH:
        return len(brackets)
    depth = deepest = 0
    for byte in brackets:
        depth += 1 if byte in _OPENING else -1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_DEPTH:
                break  # deep enough to refuse; a 16 MiB scan takes seconds
    return deepest


def _constant(literal: str) -> float:
    raise ValueError(f"{literal} is not a JSON number")


def _number(literal: str, kind: Callable[[str], Any]) -> Any:
    if len(literal) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number of {len(literal)} characters (at most {MAX_NUMBER_DIGITS})")
    value = kind(literal)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{literal} is not finite")
    return value


def parse(data: bytes) -> object:
    """``data`` as JSON, within this module's bounds.

    Raises:
        ValueError: not JSON (UnicodeDecodeError, JSONDecodeError), a
            non-finite or over-long number, too large or too deep.
    """
    if len(data) > MAX_DOCUMENT:
        raise ValueError(f"{len(data)} bytes (at most {MAX_DOCUMENT})")
    if (depth := _depth(data)) > MAX_DEPTH:
        raise ValueError(f"nests {depth} levels (at most {MAX_DEPTH})")
    return json.loads(data, parse_constant=_constant, parse_int=lambda s: _number(s, int),
                      parse_float=lambda s: _number(s, float))


def decoding(what: str, data: bytes, read: Callable[[object], Any]) -> Any:
    """Parse ``data`` as JSON and read it with ``read``; any problem is a DecodeError naming ``what``."""
    try:
        doc = parse(data)
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
    try:
        value.encode()
    except UnicodeEncodeError as exc:  # json's \ud800: a lone surrogate no file name or log can hold
        raise Malformed(path, f"not text: {exc.reason}") from exc
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
