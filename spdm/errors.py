"""The one error hierarchy of devsec.

Every exception devsec raises on purpose derives from :class:`DevsecError`; any
other exception escaping a devsec call is a bug.  ``ide_km`` and ``tdisp``
subclass these rather than inventing their own roots, so a caller can catch
one base and still tell a broken peer from a bad argument from a forged
signature.

The split follows h11: *Local* errors mean our caller asked for something the
protocol does not allow; *Remote* errors mean the peer sent something the
protocol does not allow.  Protocol errors carry ``error_code``: the SPDM ERROR
code a responder sends back when it refuses a request for this reason.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from .record import record

__all__ = [
    "ConfigurationError",
    "DecodeError",
    "DevsecError",
    "ErrorReport",
    "FieldValue",
    "LocalProtocolError",
    "NegotiationError",
    "ProtocolError",
    "RemoteErrorResponse",
    "RemoteProtocolError",
    "SpdmErrorCode",
    "TransportError",
    "TransportTimeout",
    "VerificationError",
    "error_from_report",
    "report_error",
]


class SpdmErrorCode(IntEnum):
    """SPDM ERROR response codes (DSP0274 Table "ErrorCode field")."""

    INVALID_REQUEST = 0x01
    INVALID_SESSION = 0x02
    BUSY = 0x03
    UNEXPECTED_REQUEST = 0x04
    UNSPECIFIED = 0x05
    DECRYPT_ERROR = 0x06
    UNSUPPORTED_REQUEST = 0x07
    REQUEST_IN_FLIGHT = 0x08
    INVALID_RESPONSE_CODE = 0x09
    SESSION_LIMIT_EXCEEDED = 0x0A
    SESSION_REQUIRED = 0x0B
    RESET_REQUIRED = 0x0C
    RESPONSE_TOO_LARGE = 0x0D
    REQUEST_TOO_LARGE = 0x0E
    LARGE_RESPONSE = 0x0F
    MESSAGE_LOST = 0x10
    INVALID_POLICY = 0x11
    DATA_TOO_LARGE = 0x12
    VERSION_MISMATCH = 0x41
    RESPONSE_NOT_READY = 0x42
    REQUEST_RESYNCH = 0x43
    OPERATION_FAILED = 0x44
    NO_PENDING_REQUESTS = 0x45
    REQUEST_SESSION_TERMINATED = 0x46
    INVALID_STATE = 0x47
    VENDOR_DEFINED = 0xFF


class DevsecError(Exception):
    """Base of every error devsec raises deliberately."""


class ProtocolError(DevsecError):
    """A protocol rule was broken.  Abstract: raise a Local or Remote subclass.

    Attributes:
        error_code: the SPDM ERROR code a responder answers with for this error.
        error_data: the ERROR response's Param2 (e.g. the request code for
            UnsupportedRequest).
        extended_data: the ERROR response's ExtendedErrorData (e.g. the
            response size for ResponseTooLarge).
    """

    error_code: SpdmErrorCode = SpdmErrorCode.UNSPECIFIED

    def __init__(
        self,
        message: str,
        *,
        error_code: SpdmErrorCode | None = None,
        error_data: int = 0,
        extended_data: bytes = b"",
    ) -> None:
        if type(self) is ProtocolError:
            raise TypeError("ProtocolError is abstract; raise Local/RemoteProtocolError")
        super().__init__(message)
        if error_code is not None:
            self.error_code = error_code
        self.error_data = error_data
        self.extended_data = extended_data


class LocalProtocolError(ProtocolError):
    """Our caller asked for something illegal in the current state."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow."""

    error_code = SpdmErrorCode.INVALID_REQUEST


class DecodeError(RemoteProtocolError, ValueError):
    """Bytes that do not decode as the message they claim to be."""


class RemoteErrorResponse(RemoteProtocolError):
    """The peer answered a request with an SPDM ERROR the requester cannot recover from.

    Attributes:
        code: the peer's ERROR code.
        data: the peer's ERROR data byte.
    """

    def __init__(self, message: str, *, code: int, data: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class VerificationError(DevsecError):
    """A signature, HMAC, AEAD tag, digest or certificate chain did not verify."""


class NegotiationError(DevsecError):
    """The two sides share no version, capability or algorithm the user allows."""


class TransportError(DevsecError):
    """An I/O driver failed (mailbox, socket, config space).  Never raised by engines."""


class TransportTimeout(TransportError):
    """A transport or mailbox did not answer in time."""


class ConfigurationError(DevsecError):
    """The user's configuration cannot work (unknown algorithm, unreadable key file...)."""


FieldValue = bool | int | bytes | str
"""What an error's field may hold to cross a process boundary."""


@record(frozen=True)
class ErrorReport:
    """An error reduced to what crosses a process boundary: its class, its message, every code field.

    The TSM process and the TSM service report failures this way, and the
    other side rebuilds the very exception with :func:`error_from_report`, so
    a caller cannot tell a remote failure from a local one.

    Attributes:
        kind: the error's class as ``module.QualName``.
        message: ``str(error)``.
        fields: the error's public attributes of plain types, sorted by name:
            its codes (``error_code``, ``error_data``, ``extended_data``;
            ``code``, ``data``; ``tdisp_code``, ``tdisp_data``,
            ``tdisp_extended``...).  Attributes of other types do not cross.
    """

    kind: str
    message: str
    fields: tuple[tuple[str, FieldValue], ...] = ()


def _kind(cls: type[BaseException]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def report_error(error: BaseException) -> ErrorReport:
    """The :class:`ErrorReport` of ``error``: any exception may be reported; only devsec's carry fields."""
    if not isinstance(error, DevsecError):
        return ErrorReport(_kind(type(error)), str(error))
    found: dict[str, FieldValue] = {}
    if isinstance(error, ProtocolError):
        found["error_code"] = int(error.error_code)
    for name, value in vars(error).items():
        if name.startswith("_"):
            continue
        if isinstance(value, bool):
            found[name] = value
        elif isinstance(value, int):
            found[name] = int(value)
        elif isinstance(value, bytes | str):
            found[name] = value
    return ErrorReport(_kind(type(error)), str(error), tuple(sorted(found.items())))


def _known(kind: str) -> type[DevsecError] | None:
    """The loaded :class:`DevsecError` subclass named ``kind`` (never imports anything)."""
    pending: list[type[DevsecError]] = [DevsecError]
    while pending:
        cls = pending.pop()
        if _kind(cls) == kind:
            return cls
        pending.extend(cls.__subclasses__())
    return None


_RESERVED: Final = frozenset(dir(BaseException()))
"""Names an error field may not take: they would shadow what every exception has."""


def error_from_report(report: ErrorReport) -> DevsecError:
    """Rebuild the error another process reported: the same class, message and fields.

    The class is looked up among the :class:`DevsecError` subclasses loaded
    here (nothing is imported by name).  Kinds not known here (another
    exception, a class this process does not have) arrive as
    :class:`RemoteProtocolError` whose message names the original kind, still
    carrying the fields.  The class's constructor is not called: the message
    and fields are restored as they were reported.

    Raises:
        DecodeError: a field name is private or shadows an exception attribute.
    """
    for name, _value in report.fields:
        if not name.isidentifier() or name.startswith("_") or name in _RESERVED:
            raise DecodeError(f"the reported {report.kind} carries a field named {name!r}")
    cls = _known(report.kind)
    if cls is None or cls is ProtocolError:
        error: DevsecError = RemoteProtocolError(f"{report.kind}: {report.message}")
    else:
        error = cls.__new__(cls, report.message)
        error.args = (report.message,)
    for name, value in report.fields:
        if name == "error_code" and isinstance(value, int) and value in SpdmErrorCode._value2member_map_:
            value = SpdmErrorCode(value)
        setattr(error, name, value)
    return error
