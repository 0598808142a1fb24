"""devsec's one wire codec base: what every SPDM, IDE_KM and TDISP message class shares.

Each message is a frozen dataclass whose field names match the fields of its
construct ``Struct``; :class:`WireMessage` turns one into the other, and every
protocol's message base subclasses it (:class:`Message` for SPDM,
``ide_km.messages.IdeKmMessage``, ``tdisp.messages.TdispMessage``), so
decoding behaves the same everywhere.  The rules of R6/R7 live here, once:

* construct errors, and the errors a message's own conversion or dataclass
  constructor raises on a value it cannot hold (``ValueError``, ``TypeError``,
  ``OverflowError``, ``KeyError``, ``IndexError``), become :class:`DecodeError`
  with construct's path, in one helper;
* trailing bytes are refused (except the up-to-3 zero bytes a DOE object pads
  with, and only when the caller says the bytes came padded);
* construct ``Container`` objects never leave this module: :func:`parse_exact` and
  :func:`parse_head` hand out plain dicts and tuples;
* the exact received bytes stay on the object as ``raw`` so that transcripts
  hash what was received, never a re-encoding.

Speed (R7): parsing peer bytes stays interpreted (construct's compiled parsers
skip short-read checks), but building -- our own values into bytes -- goes
through a compiled copy of each ``Struct`` (:func:`compiled_builder`) whose
``Bytes``, ``Array`` and ``Prefixed`` keep the checks the interpreted build
makes, so an encode refuses exactly what it refused before.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import struct
from typing import Any, ClassVar, Self, TypeAlias

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
    Padded,
    Padding,
    Prefixed,
    Rebuild,
    Renamed,
    len_,
    obj_,
    this,
)

from .errors import DecodeError, LocalProtocolError
from .record import record

__all__ = [
    "DOE_PAD_LIMIT", "FastFields", "MAX_OPAQUE_SIZE", "NO_CONTEXT", "NO_PARAMS", "CodecContext", "Message",
    "ParamSpec", "WireMessage", "bit_count", "build", "build_with", "compiled_builder", "header",
    "low_nibble", "opaque_data", "parse_exact", "parse_head",
]

DOE_PAD_LIMIT = 4
"""A DOE object pads its payload to a dword: at most 3 zero bytes follow a message."""


@record(frozen=True, slots=True)
class CodecContext:
    """What a decoder must know that the message bytes do not say.

    SPDM messages are not self-describing: the size of a digest, a signature
    or a DHE public value, and whether optional fields are present, follow from
    what was negotiated and what the request asked for.

    Attributes:
        hash_size: H, the negotiated BaseHashAlgo digest size.
        signature_size: S, the responder's signature size (BaseAsymAlgo).
        measurement_summary: the response carries a MeasurementSummaryHash
            (the request asked for one and the responder has MEAS_CAP).
        signed: a MEASUREMENTS response carries a signature (of ``signature_size``).
        dhe_size: D, the DHE exchange-data size (KEY_EXCHANGE's; with a 1.4 KEM the
            encapsulation key's).
        dhe_rsp_size: KEY_EXCHANGE_RSP's exchange-data size when it differs from
            ``dhe_size`` (a 1.4 KEM's ciphertext); None: the same as ``dhe_size``, as
            with every DHE group.
        req_signature_size: the requester's signature size (ReqBaseAsymAlg).
        handshake_in_the_clear: both sides set HANDSHAKE_IN_THE_CLEAR_CAP, which
            moves the responder's verify data from KEY_EXCHANGE_RSP to FINISH_RSP.
        multi_key: MULTI_KEY_CONN was negotiated (1.3), which extends DIGESTS.
    """

    hash_size: int = 0
    signature_size: int = 0
    measurement_summary: bool = False
    signed: bool = False
    dhe_size: int = 0
    dhe_rsp_size: int | None = None
    req_signature_size: int = 0
    handshake_in_the_clear: bool = False
    multi_key: bool = False

    def as_params(self) -> dict[str, Any]:
        """The construct keyword context (``this._params.H`` etc.)."""
        return {
            "H": self.hash_size,
            "S": self.signature_size,
            "MSH": self.hash_size if self.measurement_summary else 0,
            "MEAS_S": self.signature_size if self.signed else 0,
            "D": self.dhe_size,
            "D_RSP": self.dhe_size if self.dhe_rsp_size is None else self.dhe_rsp_size,
            "SREQ": self.req_signature_size,
            "KE_VD": 0 if self.handshake_in_the_clear else self.hash_size,
            "FIN_VD": self.hash_size if self.handshake_in_the_clear else 0,
            "MULTI_KEY": self.multi_key,
        }


NO_CONTEXT = CodecContext()

NO_PARAMS: dict[str, Any] = {}
"""The construct keyword context of a message whose layout depends on nothing negotiated."""


MAX_OPAQUE_SIZE = 1024
"""DSP0274: OpaqueDataLength shall not exceed 1024."""

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


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """A message class's dataclass fields but ``raw`` (looked up once per class)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.name != "raw")
    return names


_MALFORMED = (ConstructError, ValueError, TypeError, OverflowError, KeyError, IndexError)
"""What decoding peer bytes may raise on malformed input: construct's own errors, the ones
construct lets through unwrapped (an expression over a missing field), and what a message's
conversion or constructor raises for a value it cannot hold (an IntEnum, a size check)."""


def _malformed(what: str, exc: Exception) -> DecodeError:
    """The one place decode failures become :class:`DecodeError` (construct's message names the path)."""
    if isinstance(exc, DecodeError):
        return exc
    return DecodeError(f"malformed {what}: {exc}")


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
    _check_end(data, end, padded=padded, what=what)
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
        raise _malformed(what, exc) from exc
    return _to_plain(container), stream.tell()


def _check_end(data: bytes, end: int, *, padded: bool, what: str) -> None:
    """Nothing may follow a message but, when ``padded``, up to three zero pad bytes."""
    rest = data[end:]
    if rest and not (padded and len(rest) < DOE_PAD_LIMIT and not any(rest)):
        raise DecodeError(f"{what}: {len(rest)} unexpected byte(s) after the message")


# --- the 4-byte header fast path (R7) -----------------------------------------------------------

_SPDM_HEADER = struct.Struct("<4B")
"""SPDMVersion, RequestResponseCode, Param1, Param2 (DSP0274 Table 3), as :func:`header` declares them."""

_HeaderParams: TypeAlias = "tuple[str | None, str | None]"

FastFields: TypeAlias = "tuple[dict[str, Any], int] | None"  # what parse_head returns, or None
_HEADER_ONLY: dict[type, _HeaderParams | None] = {}


def _param_name(subcon: Construct) -> str | None:
    """A header param's field name as :func:`header` builds it (None when reserved).

    Raises:
        ValueError: not a plain byte field nor a reserved byte.
    """
    if isinstance(subcon, Renamed) and subcon.subcon is Int8ul:
        return str(subcon.name)
    if isinstance(subcon, Padded) and subcon.length == 1:
        return None
    raise ValueError("not a plain header param")


def _header_only(cls: type[Message]) -> _HeaderParams | None:
    """(Param1, Param2) field names when ``cls.STRUCT`` is exactly ``header(cls.CODE, p1, p2)``
    with plain byte (or reserved) params; None for every other layout."""
    if cls in _HEADER_ONLY:
        return _HEADER_ONLY[cls]
    subcons = list(getattr(cls.STRUCT, "subcons", ()))
    layout: _HeaderParams | None = None
    if len(subcons) == 4:
        version, code, param1, param2 = subcons
        try:
            names = _param_name(param1), _param_name(param2)
        except ValueError:
            names = None
        if (names is not None
                and isinstance(version, Renamed) and version.name == "spdm_version"
                and version.subcon is Int8ul
                and isinstance(code, Renamed) and code.name == "_code" and isinstance(code.subcon, Const)
                and code.subcon.subcon is Int8ul and code.subcon.value == cls.CODE):
            layout = names
    _HEADER_ONLY[cls] = layout
    return layout


def _header_only_fields(cls: type[Message], data: bytes) -> FastFields:
    """The fields of a well-formed header-only message, or None (then the interpreted parse decides).

    Only the happy path is fast: short data or a wrong code go to construct,
    whose error names the path, as for every other message.
    """
    params = _header_only(cls)
    if params is None or len(data) < _SPDM_HEADER.size or data[1] != cls.CODE:
        return None
    version, _, param1, param2 = _SPDM_HEADER.unpack_from(data)
    fields = {"spdm_version": version}
    for name, value in zip(params, (param1, param2), strict=True):
        if name is not None:
            fields[name] = value
    return fields, _SPDM_HEADER.size


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


@record(frozen=True)
class WireMessage:
    """Base of every message dataclass of every protocol (SPDM, IDE_KM, TDISP) and of records
    decoded on their own (a TDI report).

    Subclasses set ``STRUCT`` (the construct definition of the whole message)
    and declare their fields with the Struct's field names; values that are not
    plain ints and bytes (enums, nested records) are converted by overriding
    :meth:`_from_fields` / :meth:`_to_fields`.  A protocol's base adds its
    header fields and, where its layout depends on negotiated sizes, a
    ``decode``/``encode`` taking them.

    Attributes:
        raw: the exact bytes this message was decoded from (empty when built
            locally); excluded from equality so a decoded message equals the
            one that was encoded.
    """

    STRUCT: ClassVar[Construct]

    raw: bytes = dataclasses.field(default=b"", compare=False, repr=False, kw_only=True)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Self:
        """Decode one message; nothing may follow it.

        Raises:
            DecodeError: malformed, truncated or trailing bytes, a constant
                (protocol ID, message code) that is not this message's, or a
                value the message cannot hold.
        """
        return cls._decode(bytes(data), NO_PARAMS, padded=False)

    def encode(self) -> bytes:
        """Encode this message.

        Raises:
            LocalProtocolError: a field does not fit its wire format.
        """
        return self._encode(NO_PARAMS)

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        """The constructor arguments from the parsed plain fields (override to convert)."""
        return fields

    def _to_fields(self) -> dict[str, Any]:
        """The build values of ``STRUCT`` (override to convert)."""
        return {name: getattr(self, name) for name in _field_names(type(self))}

    def with_raw(self, raw: bytes) -> Self:
        """``dataclasses.replace(self, raw=raw)`` without a second ``__init__`` (~1k instructions a
        field): a copy of the fields, which messages (frozen, no slots) keep in ``__dict__``."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__, raw=raw)  # raw is in no check, equality or hash
        return clone

    @classmethod
    def _decode(cls, data: bytes, params: dict[str, Any], *, padded: bool) -> Self:
        fields, end = parse_exact(cls.STRUCT, data, params, padded=padded, what=cls.__name__)
        return cls._from_plain(fields, data[:end])

    @classmethod
    def _from_plain(cls, plain: dict[str, Any], raw: bytes) -> Self:
        try:
            fields = cls._from_fields(plain)
            return cls(**{k: fields[k] for k in _field_names(cls) if k in fields}, raw=raw)
        except _MALFORMED as exc:
            raise _malformed(cls.__name__, exc) from exc

    def _encode(self, params: dict[str, Any]) -> bytes:
        return build(self.STRUCT, self._to_fields(), params, what=type(self).__name__)


@record(frozen=True)
class Message(WireMessage):
    """Base of every SPDM message dataclass.

    Subclasses set ``STRUCT`` (the construct definition, header included) and
    ``CODE`` (the request/response code) besides their fields.

    Attributes:
        spdm_version: the header's SPDMVersion byte.
    """

    CODE: ClassVar[int]

    spdm_version: int

    @classmethod
    def decode(
        cls, data: bytes | bytearray | memoryview, ctx: CodecContext = NO_CONTEXT, *, padded: bool = False
    ) -> Self:
        """Decode one message.

        Args:
            data: the message bytes (a whole DOE payload when ``padded``).
            ctx: negotiated sizes the layout depends on.
            padded: ``data`` may end in up to 3 zero bytes of DOE padding.

        Raises:
            DecodeError: malformed, truncated or trailing bytes, or the wrong code.
        """
        data = bytes(data)
        plain, end = cls._fast_fields(data, ctx) or parse_head(  # then _check_end: as parse_exact
            cls.STRUCT, data, ctx.as_params(), what=cls.__name__)
        _check_end(data, end, padded=padded, what=cls.__name__)
        return cls._from_plain(plain, data[:end])

    @classmethod
    def _fast_fields(cls, data: bytes, ctx: CodecContext) -> FastFields:
        """R7 ``struct`` fast path: :func:`parse_head`'s answer or None (see test_messages_fast_decode)."""
        return _header_only_fields(cls, data)

    @classmethod
    def decode_head(cls, data: bytes | bytearray | memoryview, ctx: CodecContext = NO_CONTEXT) -> Self:
        """Decode the message at the start of ``data``, which may go on with other messages.

        A transcript (M1, L1...) holds messages back to back with nothing
        between them; the message's ``raw`` is exactly its own bytes, so the
        next one starts at ``len(message.raw)``.

        Args:
            data: the bytes, this message first.
            ctx: negotiated sizes the layout depends on.

        Raises:
            DecodeError: malformed or truncated bytes, or the wrong code.
        """
        data = bytes(data)
        fields, end = cls._fast_fields(data, ctx) or parse_head(
            cls.STRUCT, data, ctx.as_params(), what=cls.__name__)
        return cls._from_plain(fields, data[:end])

    def encode(self, ctx: CodecContext = NO_CONTEXT) -> bytes:
        """Encode this message.

        Raises:
            LocalProtocolError: a field does not fit its wire format.
        """
        return self._fast_encode(ctx) or self._encode(ctx.as_params())

    def _fast_encode(self, ctx: CodecContext) -> bytes | None:
        """R7 ``struct`` fast path: the compiled build's bytes or None (see test_messages_fast_encode)."""
        params = _header_only(type(self))
        try:
            return None if params is None else _SPDM_HEADER.pack(self.spdm_version, self.CODE, *(
                0 if name is None else getattr(self, name) for name in params))
        except struct.error:
            return None
