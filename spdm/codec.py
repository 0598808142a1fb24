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
* the exact received bytes stay on the object as ``raw`` so that transcripts
  hash what was received, never a re-encoding.

Speed (R7): a message decodes and encodes through its ``struct`` fast path when
it has one and that path is sure; everything else goes to construct, in
:mod:`spdm.schema` (parsing, compiled building, the declarations' building
blocks).  This module imports no construct, and SPDM's message modules declare
their ``STRUCT``s in one function each, run when one is first asked for
(:func:`declares_structs`): a process that only ever takes the fast paths -- a
plain ``devsec connect`` -- never loads construct.  (IDE_KM's and TDISP's
messages, which have no fast paths, declare theirs in the class bodies.)
"""

from __future__ import annotations

import dataclasses
import struct
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeAlias

from .errors import DecodeError
from .record import record

if TYPE_CHECKING:
    from construct import Construct

__all__ = [
    "CONVERSION_ERRORS",
    "DOE_PAD_LIMIT",
    "FastFields",
    "HeaderParams",
    "MAX_OPAQUE_SIZE",
    "NO_CONTEXT",
    "NO_PARAMS",
    "CodecContext",
    "Message",
    "WireMessage",
    "check_end",
    "decode_error",
    "declare_module",
    "declared_names",
    "declares_structs",
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


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    """A message class's dataclass fields but ``raw`` (looked up once per class)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.name != "raw")
    return names


CONVERSION_ERRORS = (ValueError, TypeError, OverflowError, KeyError, IndexError)
"""What a message's conversion or dataclass constructor raises for a value it cannot hold (an
IntEnum, a size check): malformed input, like construct's own errors (:mod:`spdm.schema`)."""


def decode_error(what: str, exc: Exception) -> DecodeError:
    """The one place decode failures become :class:`DecodeError` (construct's message names the path)."""
    if isinstance(exc, DecodeError):
        return exc
    return DecodeError(f"malformed {what}: {exc}")


def check_end(data: bytes, end: int, *, padded: bool, what: str) -> None:
    """Nothing may follow a message but, when ``padded``, up to three zero pad bytes."""
    rest = data[end:]
    if rest and not (padded and len(rest) < DOE_PAD_LIMIT and not any(rest)):
        raise DecodeError(f"{what}: {len(rest)} unexpected byte(s) after the message")


# --- declarations made on first use ----------------------------------------------------------

_DECLARERS: dict[str, Callable[[], None]] = {}
_DECLARING = threading.RLock()


def declares_structs(module: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register ``module``'s function that sets its messages' ``STRUCT`` (and its module-level
    construct declarations), to run the first time any of them is asked for.

    The messages of a plain connect decode and encode through ``struct`` fast
    paths; their construct declarations are needed only when a fast path
    declines (malformed or unusual input) or a test compares the two, so
    their modules declare them in one function that imports construct.
    """

    def register(declare: Callable[[], None]) -> Callable[[], None]:
        _DECLARERS[module] = declare
        return declare

    return register


def declare_module(module: str) -> None:
    """Run ``module``'s registered declarations now if they have not run (a module's lazy
    module-level construct names call this from their ``__getattr__``)."""
    with _DECLARING:
        declare = _DECLARERS.pop(module, None)
        if declare is not None:
            declare()


def declared_names(module: str, names: tuple[str, ...]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) under which ``names`` -- module-level construct objects
    its declaring function sets as globals -- are made on first use."""

    def __getattr__(name: str) -> Any:
        if name in names:
            declare_module(module)
            return vars(sys.modules[module])[name]
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


class _DeclaredStruct:
    """``STRUCT`` until the declaring function of the message's module has run (then the class
    attribute it sets hides this)."""

    def __get__(self, instance: object, owner: type) -> Construct:
        for cls in owner.__mro__:
            declare_module(cls.__module__)
        for cls in owner.__mro__:
            value = cls.__dict__.get("STRUCT")
            if value is not None and not isinstance(value, _DeclaredStruct):
                return value
        params = getattr(owner, "HEADER_ONLY", None)
        if params is None:
            raise AttributeError(f"{owner.__name__} declares no STRUCT")
        from construct import Struct

        from .schema import header

        made: Construct = Struct(*header(owner.CODE, *params))  # type: ignore[attr-defined]
        owner.STRUCT = made  # type: ignore[attr-defined]
        return made


# --- the 4-byte header fast path (R7) -----------------------------------------------------------

_SPDM_HEADER = struct.Struct("<4B")
"""SPDMVersion, RequestResponseCode, Param1, Param2 (DSP0274 Table 3), as :func:`header` declares them."""

HeaderParams: TypeAlias = "tuple[str | None, str | None]"
"""The field names of Param1 and Param2 of a message that is its header alone (None: reserved)."""

FastFields: TypeAlias = "tuple[dict[str, Any], int] | None"  # what parse_head returns, or None


def _header_only_fields(cls: type[Message], data: bytes) -> FastFields:
    """The fields of a well-formed header-only message, or None (then the interpreted parse decides).

    Only the happy path is fast: short data or a wrong code go to construct,
    whose error names the path, as for every other message.
    """
    params = cls.HEADER_ONLY
    if params is None or len(data) < _SPDM_HEADER.size or data[1] != cls.CODE:
        return None
    version, _, param1, param2 = _SPDM_HEADER.unpack_from(data)
    fields = {"spdm_version": version}
    for name, value in zip(params, (param1, param2), strict=True):
        if name is not None:
            fields[name] = value
    return fields, _SPDM_HEADER.size


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

    STRUCT: ClassVar[Construct] = _DeclaredStruct()

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
        from .schema import parse_exact

        fields, end = parse_exact(cls.STRUCT, data, params, padded=padded, what=cls.__name__)
        return cls._from_plain(fields, data[:end])

    @classmethod
    def _from_plain(cls, plain: dict[str, Any], raw: bytes) -> Self:
        try:
            fields = cls._from_fields(plain)
            return cls(**{k: fields[k] for k in _field_names(cls) if k in fields}, raw=raw)
        except CONVERSION_ERRORS as exc:
            raise decode_error(cls.__name__, exc) from exc

    def _encode(self, params: dict[str, Any]) -> bytes:
        from .schema import build

        return build(self.STRUCT, self._to_fields(), params, what=type(self).__name__)


@record(frozen=True)
class Message(WireMessage):
    """Base of every SPDM message dataclass.

    Subclasses set ``STRUCT`` (the construct definition, header included) and
    ``CODE`` (the request/response code) besides their fields; a message that
    is its header alone sets ``HEADER_ONLY`` (the field names of Param1 and
    Param2, None where reserved) instead, from which its ``STRUCT`` follows.

    Attributes:
        spdm_version: the header's SPDMVersion byte.
    """

    CODE: ClassVar[int]
    HEADER_ONLY: ClassVar[HeaderParams | None] = None

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
        plain, end = cls._fast_fields(data, ctx) or cls._parse_head(data, ctx)
        check_end(data, end, padded=padded, what=cls.__name__)  # as parse_exact
        return cls._from_plain(plain, data[:end])

    @classmethod
    def _parse_head(cls, data: bytes, ctx: CodecContext) -> tuple[dict[str, Any], int]:
        """The interpreted parse (construct), for what the fast path declines."""
        from .schema import parse_head

        return parse_head(cls.STRUCT, data, ctx.as_params(), what=cls.__name__)

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
        fields, end = cls._fast_fields(data, ctx) or cls._parse_head(data, ctx)
        return cls._from_plain(fields, data[:end])

    def encode(self, ctx: CodecContext = NO_CONTEXT) -> bytes:
        """Encode this message.

        Raises:
            LocalProtocolError: a field does not fit its wire format.
        """
        return self._fast_encode(ctx) or self._encode(ctx.as_params())

    def _fast_encode(self, ctx: CodecContext) -> bytes | None:
        """R7 ``struct`` fast path: the compiled build's bytes or None (see test_messages_fast_encode)."""
        params = self.HEADER_ONLY
        try:
            return None if params is None else _SPDM_HEADER.pack(self.spdm_version, self.CODE, *(
                0 if name is None else getattr(self, name) for name in params))
        except struct.error:
            return None
