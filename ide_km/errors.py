"""IDE_KM errors: subclasses of the one devsec hierarchy (``spdm.errors``, R3).

Device side, each refusal the device model cannot express in a KP_ACK status
is a :class:`~spdm.errors.RemoteProtocolError` whose ``error_code`` is the SPDM
ERROR the responder sends back (``Responder.register_vendor_handler`` turns it
into ERROR).  Requester side, a response that breaks the protocol raises
:class:`ResponseMismatchError` or :class:`~spdm.errors.DecodeError`; a caller
asking for something illegal gets :class:`~spdm.errors.LocalProtocolError`.

Error codes chosen (DSP0274 names; :mod:`ide_km.device` says why):

=============================  ==========================  =========================
Error                          SPDM ERROR                  When
=============================  ==========================  =========================
UnsecuredRequestError          UnexpectedRequest (0x04)    IDE_KM outside a session
SessionMismatchError           UnexpectedRequest (0x04)    another session owns IDE_KM
UnsupportedObjectError         UnsupportedRequest (0x07)   an ObjectID that is no request
InvalidFieldError              InvalidRequest (0x01)       bad port/stream/sub-stream
                                                           where no status field exists
KeySetNotProgrammedError       UnexpectedRequest (0x04)    K_SET_GO before its KEY_PROG
DecodeError (spdm)             InvalidRequest (0x01)       malformed object
=============================  ==========================  =========================
"""

from __future__ import annotations

from spdm.errors import RemoteProtocolError, SpdmErrorCode

__all__ = [
    "VENDOR_DEFINED_REQUEST_CODE",
    "InvalidFieldError",
    "KeySetNotProgrammedError",
    "ResponseMismatchError",
    "SessionMismatchError",
    "UnsecuredRequestError",
    "UnsupportedObjectError",
]

VENDOR_DEFINED_REQUEST_CODE = 0xFE
"""ErrorData of UnsupportedRequest: the SPDM request code that carried the object."""


class UnsecuredRequestError(RemoteProtocolError):
    """An IDE_KM request arrived in the clear: IDE_KM is honoured only inside a secured session."""

    error_code = SpdmErrorCode.UNEXPECTED_REQUEST


class SessionMismatchError(RemoteProtocolError):
    """An IDE_KM request came from a session other than the one whose keys the device holds."""

    error_code = SpdmErrorCode.UNEXPECTED_REQUEST


class UnsupportedObjectError(RemoteProtocolError):
    """The ObjectID names no IDE_KM request (a response object, CXL's GET_KEY 0x07, ...)."""

    error_code = SpdmErrorCode.UNSUPPORTED_REQUEST

    def __init__(self, message: str) -> None:
        super().__init__(message, error_data=VENDOR_DEFINED_REQUEST_CODE)


class InvalidFieldError(RemoteProtocolError):
    """A PortIndex, StreamID or sub-stream the device does not have, in an object without a status."""

    error_code = SpdmErrorCode.INVALID_REQUEST


class KeySetNotProgrammedError(RemoteProtocolError):
    """K_SET_GO for a key set whose key for that sub-stream and direction was never programmed."""

    error_code = SpdmErrorCode.UNEXPECTED_REQUEST


class ResponseMismatchError(RemoteProtocolError):
    """Requester side: the device answered with the wrong object or did not echo the request's
    StreamID, KeySet/RxTx/SubStream byte or PortIndex."""
