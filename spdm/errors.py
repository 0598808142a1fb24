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
    VERSION_MISMATCH = 0x41
    RESPONSE_NOT_READY = 0x42
    REQUEST_RESYNCH = 0x43
    OPERATION_FAILED = 0x44
    NO_PENDING_REQUESTS = 0x45
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


_BY_NAME: dict[str, type[DevsecError]] = {
    cls.__name__: cls for cls in (
        LocalProtocolError, RemoteProtocolError, DecodeError, VerificationError, NegotiationError,
        TransportError, TransportTimeout, ConfigurationError)
}


def error_named(name: str, message: str) -> DevsecError:
    """Rebuild an error another process reported by class name (the TSM process, the TSM service).

    Kinds not known here (or needing more than a message) arrive as
    :class:`RemoteProtocolError` naming the original kind.
    """
    cls = _BY_NAME.get(name)
    return cls(message) if cls is not None else RemoteProtocolError(f"{name}: {message}")
