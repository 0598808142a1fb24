"""The construct side of devsec's wire codec: the declarations' building blocks, parsing and building.

Every message's layout is declared as a construct ``Struct`` (the one
authoritative wire format) from the pieces here: the SPDM header, opaque data,
nibbles and counts.  Parsing and building with a declaration also lives here,
under the rules of :mod:`spdm.codec` (R6/R7):

* construct errors, and the errors a message's own conversion or dataclass
  constructor raises on a value it cannot hold, become :class:`DecodeError`
  with construct's path, in one helper;
* construct ``Container`` objects never leave this module: :func:`parse_exact`
  and :func:`parse_head` hand out plain dicts and tuples;
* parsing peer bytes stays interpreted (construct's compiled parsers skip
  short-read checks), but building -- our own values into bytes -- goes
  through a compiled copy of each ``Struct`` (:func:`compiled_builder`) whose
  ``Bytes``, ``Array`` and ``Prefixed`` keep the checks the interpreted build
  makes, so an encode refuses exactly what it refused before.

It is a module of its own so that importing a message does not import
construct: the messages a plain connect exchanges decode and encode through
``struct`` fast paths, and their declarations are made on first use
(:func:`spdm.codec.declares_structs`), which keeps construct (about a fifth of a
one-shot ``devsec connect``'s imports) out of a process that never needs it.
"""

from __future__ import annotations

import copy
import io
import struct
from typing import Any, TypeAlias

from construct import (
    Array,
    Bytes,
    Check,
    Const,
    Construct,
    ConstructError,
    Container,
    ExprAdapter,
    ExprValidator,
    Int8ul,
    Int16ul,
    ListContainer,
    Padding,
    Prefixed,
    Rebuild,
    len_,
    obj_,
    this,
)

from .codec import CONVERSION_ERRORS, MAX_OPAQUE_SIZE, check_end, decode_error
from .errors import LocalProtocolError

__all__ = [
    "ParamSpec",
    "bit_count",
    "build",
    "build_with",
    "compiled_builder",
    "header",
    "low_nibble",
    "opaque_data",
    "parse_exact",
    "parse_head",
]

low_nibble = ExprValidator(ExprAdapter(Int8ul, obj_ & 0x0F, obj_), obj_ <= 0x0F)
"""A byte whose b[7:4] are reserved (or 1.4-only): only b[3:0] is read, and only 0-15 is built."""

ParamSpec: TypeAlias = "str | Construct | None"


def _param(spec: ParamSpec) -> Construct:
    if spec is None:
        return Padding(1)
    if isinstance(spec, str):
        return spec / Int8ul
    return spec


def header(code: int, param1: ParamSpec = None, param2: ParamSpec = None) -> list[Construct]:
    """The 4-byte SPDM header (DSP0274 Table 3) as fields to splice into a message Struct.

    Args:
        code: the RequestResponseCode this message must carry.
        param1: field name (or named construct) for Param1; None when reserved.
        param2: the same for Param2.
    """
    return [
        "spdm_version" / Int8ul,
        "_code" / Const(int(code), Int8ul),
        _param(param1),
        _param(param2),
    ]


def opaque_data() -> list[Construct]:
    """OpaqueDataLength (u16, at most 1024) followed by OpaqueData."""
    return [
        "_opaque_length" / Rebuild(Int16ul, len_(this.opaque_data)),
        Check(this._opaque_length <= MAX_OPAQUE_SIZE),
        "opaque_data" / Bytes(this._opaque_length),
    ]


def bit_count(mask: Any) -> Any:
    """A construct expression counting the set bits of an 8-bit field (for Array counts)."""
    total = (mask >> 0) & 1
    for bit in range(1, 8):
        total = total + ((mask >> bit) & 1)
    return total


_NESTED = (Container, ListContainer)


def _to_plain(value: Any) -> Any:
    """Construct containers as plain Python values: dicts (``_`` fields dropped) and tuples."""
    if isinstance(value, ListContainer):
        return tuple(_to_plain(v) if isinstance(v, _NESTED) else v for v in value)
    if isinstance(value, Container):
        return {k: _to_plain(v) if isinstance(v, _NESTED) else v
                for k, v in value.items() if not k.startswith("_")}
    return value


_MALFORMED = (ConstructError, *CONVERSION_ERRORS)
"""What parsing peer bytes may raise on malformed input: construct's own errors and the ones
construct lets through unwrapped (an expression over a missing field)."""


def parse_exact(
    struct: Construct, data: bytes, params: dict[str, Any], *, padded: bool, what: str
) -> tuple[dict[str, Any], int]:
    """Parse ``data`` with ``struct`` and enforce the end-of-message rule.

    Returns:
        The parsed fields as plain values (``_`` fields dropped) and the number
        of bytes the message really has.

    Raises:
        DecodeError: the bytes are malformed, short, or followed by anything
            but (when ``padded``) up to three zero pad bytes.
    """
    fields, end = parse_head(struct, data, params, what=what)
    check_end(data, end, padded=padded, what=what)
    return fields, end


def parse_head(
    struct: Construct, data: bytes, params: dict[str, Any], *, what: str
) -> tuple[dict[str, Any], int]:
    """Parse the message at the start of ``data``, whatever follows it.

    Returns:
        The parsed fields as plain values and the number of bytes the message has.

    Raises:
        DecodeError: the bytes are malformed or short.
    """
    # Parse from a stream and ask it where the message ended: no per-call wrapper
    # Struct (R7), and the same checks as ``struct.parse(data)``.
    stream = io.BytesIO(data)
    try:
        container = struct.parse_stream(stream, **params)
    except _MALFORMED as exc:
        raise decode_error(what, exc) from exc
    return _to_plain(container), stream.tell()


# --- compiled build paths (R7) -----------------------------------------------------------------
#
# construct's compiler drops three build-time checks the interpreted classes make: compiled Bytes
# writes a value of any length, compiled Array builds the first `count` items of a longer list, and
# Prefixed has no compiled build at all (it falls back to the interpreted one).  The subclasses below
# only change what the compiler emits for building; parsing is untouched, and the compiled copies
# are only ever used to build.

_BUILD_HELPERS = """
def build_sized_bytes(obj, length):
    data = integer2bytes(obj, length) if isinstance(obj, int) else obj
    data = bytes(data) if type(data) is bytearray else data
    if len(data) != length:
        raise StreamError(f"bytes object of {len(data)} bytes, expected {length}")
    return data
def build_counted(obj, count):
    if not 0 <= count:
        raise RangeError(f"invalid count {count}")
    if not len(obj) == count:
        raise RangeError(f"expected {count} elements, found {len(obj)}")
    return obj
"""


class _SizedBytes(Bytes):  # type: ignore[misc]
    """``Bytes`` whose compiled build checks the length, as the interpreted one does."""

    def _emitbuild(self, code: Any) -> str:
        code.append(_BUILD_HELPERS)
        return f"(io.write(build_sized_bytes(obj, {self.length!r})), obj)[1]"


class _CountedArray(Array):  # type: ignore[misc]
    """``Array`` whose compiled build checks the element count, as the interpreted one does."""

    def _emitbuild(self, code: Any) -> str:
        code.append(_BUILD_HELPERS)
        item = self.subcon._compilebuild(code)
        return (f"reuse(build_counted(obj, {self.count!r}), lambda obj: ListContainer("
                f"reuse(obj[i], lambda obj: ({item})) for i in range(len(obj))))")


class _PrefixedBuild(Prefixed):  # type: ignore[misc]
    """``Prefixed`` with a compiled build: the body into a side stream, then its length and it."""

    def _emitbuild(self, code: Any) -> str:
        body = self.subcon._compilebuild(code)
        length = self.lengthfield._compilebuild(code)
        extra = f" + {self.lengthfield.sizeof()}" if self.includelength else ""
        return (f"reuse((lambda io: (({body}), io.getvalue()))(BytesIO()), "
                f"lambda built: (reuse(len(built[1]){extra}, lambda obj: ({length})), "
                f"io.write(built[1]), built[0])[2])")


_CHECKED_BUILD: dict[type, type] = {Bytes: _SizedBytes, Array: _CountedArray, Prefixed: _PrefixedBuild}


def _checked_copy(value: Any, memo: dict[int, Any]) -> Any:
    """A copy of a construct tree with the classes of ``_CHECKED_BUILD`` swapped in."""
    if isinstance(value, Construct):
        done = memo.get(id(value))
        if done is not None:
            return done
        clone = copy.copy(value)
        memo[id(value)] = clone
        clone.__class__ = _CHECKED_BUILD.get(type(value), type(value))
        for name, attribute in vars(value).items():
            setattr(clone, name, _checked_copy(attribute, memo))
        return clone
    if isinstance(value, list | tuple):
        return type(value)(_checked_copy(item, memo) for item in value)
    if isinstance(value, dict):
        return type(value)((key, _checked_copy(item, memo)) for key, item in value.items())
    return value


_COMPILED: dict[int, tuple[Construct, Construct]] = {}


def compiled_builder(schema: Construct) -> Construct:
    """The compiled build path of a module-level ``Struct``, compiled on first use, then kept.

    Build only: never parse with it (R7).  Compiling every message at import
    would add ~0.1 s to every ``import spdm``; the session messages, say, are
    often never built.

    Args:
        schema: a Struct defined once at module level (the cache holds it).
    """
    entry = _COMPILED.get(id(schema))
    if entry is None or entry[0] is not schema:
        entry = (schema, _checked_copy(schema, {}).compile())
        _COMPILED[id(schema)] = entry
    return entry[1]


def build(schema: Construct, values: dict[str, Any], params: dict[str, Any], *, what: str) -> bytes:
    """Build ``values`` with the compiled form of ``schema``; a value that does not fit is the caller's error.

    Raises:
        LocalProtocolError: a field is out of range, of the wrong type, or
            missing although this version's layout needs it.
    """
    return build_with(compiled_builder(schema), values, params, what=what)


def build_with(builder: Construct, values: dict[str, Any], params: dict[str, Any], *, what: str) -> bytes:
    """:func:`build` with a given (compiled or interpreted) construct; the tests compare the two."""
    try:
        return bytes(builder.build(values, **params))
    except ConstructError as exc:
        raise LocalProtocolError(f"cannot encode {what}: {exc}") from exc
    except (ValueError, KeyError, TypeError, IndexError, struct.error) as exc:
        # e.g. None where this version's layout needs a value, compared in an expression;
        # a compiled integer field reports an out-of-range value as struct.error
        raise LocalProtocolError(f"cannot encode {what}: {exc}") from exc
