"""The carrier of the IDE_KM and TDISP cases: a secured SPDM session the case opens, and its exchanges.

devsec's requester authenticates the device and opens the session (a
legitimate prefix, like :mod:`.spdm_challenge`); the case then sends its own
payloads, built with :mod:`ide_km.messages` / :mod:`tdisp.messages`, through
:class:`tsm.link.VendorChannel`.  The session's records are encrypted, so the
carrier records each vendor exchange in the clear (the payloads, or the SPDM
ERROR the device answered instead): that is what a failing assertion shows.

Which TDI: a device's TDIs cannot be discovered over the wire, so the TDISP
cases use the one the run was given (:attr:`Carrier.tdi`: ``--tdi``, by
default FUNCTION_ID 0x0100, ``devsec emulate``'s PF).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TypeVar

from spdm.codec import WireMessage
from spdm.config import DEFER_TRUST, RequesterConfig
from spdm.connection import Connection, Session, connect
from spdm.errors import DecodeError, DevsecError, RemoteErrorResponse, SpdmErrorCode
from spdm.messages import ErrorResponse
from spdm.messages.codes import CapabilityFlags, SpdmVersion
from spdm.record import record
from tsm.link import VendorChannel

from .context import CaseContext, Exchange
from .registry import NO_FLAGS
from .requests import SUITE_PREFERENCES

__all__ = ["Carrier", "carrier", "decode_payload", "describe", "is_spdm_error", "unserved"]

W = TypeVar("W", bound=WireMessage)


def is_spdm_error(data: bytes) -> bool:
    """Whether an answer is an SPDM ERROR (a vendor payload starts with its Protocol ID, 0x00 or 0x01)."""
    return len(data) >= 2 and data[0] >= 0x10 and data[1] == ErrorResponse.CODE


@record
class Carrier:
    """One open session and the vendor channel through it.

    Attributes:
        ctx: the case's context (exchanges and assertions go there).
        connection: the authenticated connection.
        session: the secured session.
        channel: VENDOR_DEFINED (PCI-SIG) through the session.
    """

    ctx: CaseContext
    connection: Connection
    session: Session
    channel: VendorChannel

    @property
    def tdi(self) -> int:
        """The FUNCTION_ID of the TDI the TDISP cases lock (the run's ``--tdi``)."""
        return self.ctx.options.tdi

    def send(self, request: WireMessage | bytes) -> bytes:
        """One vendor payload in the session; the response payload, or the SPDM ERROR's bytes.

        Raises:
            TransportError / VerificationError: the session itself failed (an error verdict).
        """
        payload = request if isinstance(request, bytes) else request.encode()
        try:
            response = self.channel.exchange(payload)
        except RemoteErrorResponse as exc:
            response = ErrorResponse(spdm_version=self.ctx.version, error_code=exc.code,
                                     error_data=exc.data).encode()
        self.ctx.exchanges.append(Exchange(payload, response))
        return response

    def expect_error(self, what: str, data: bytes, codes: tuple[SpdmErrorCode, ...]) -> bool:
        """Record that the answer to a vendor request is an SPDM ERROR with one of ``codes``."""
        expected = " or ".join(f"SPDM ERROR {code.name}" for code in codes)
        passed = False
        if is_spdm_error(data):
            try:
                passed = ErrorResponse.decode(data).error_code in codes
            except DecodeError:
                passed = False
        return self.ctx.check(what, passed, expected=expected, actual=describe(data))

    def reopen(self) -> None:
        """End the session (END_SESSION) and open a new one on the same connection."""
        self.session.close()
        self.session = self.connection.open_session()
        self.channel = VendorChannel.through(self.session)


@contextmanager
def carrier(ctx: CaseContext, *, without: CapabilityFlags = NO_FLAGS) -> Iterator[Carrier]:
    """Authenticate, open a session, yield its carrier; END_SESSION on the way out.

    Args:
        ctx: the case's context.
        without: capabilities devsec's requester does not advertise this time
            (LARGE_RESP_CAP, to see a large-form request refused).

    Raises:
        CaseAborted: the device could not be authenticated or refused the session.
    """
    config = RequesterConfig(versions=(SpdmVersion(ctx.version),), algorithms=SUITE_PREFERENCES,
                             capabilities=RequesterConfig().capabilities & ~without,
                             trust_anchors=ctx.trust_roots or DEFER_TRUST)
    try:
        connection = connect(ctx.transport, config)
        session = connection.open_session()
    except DevsecError as exc:
        ctx.require("devsec's requester opens a secured session", False,
                    expected="an established session", actual=f"{type(exc).__name__}: {exc}",
                    reference="DSP0274 1.3 §10.15, §10.16; DSP0277")
        raise AssertionError("unreachable") from exc
    found = Carrier(ctx, connection, session, VendorChannel.through(session))
    try:
        yield found
    finally:
        with suppress(DevsecError):  # a mutant may have broken the session; the verdict is already made
            found.session.close()


def unserved(data: bytes) -> bool:
    """The device has no handler for the protocol: SPDM ERROR UnsupportedRequest."""
    return is_spdm_error(data) and data[2] == SpdmErrorCode.UNSUPPORTED_REQUEST


def describe(data: bytes) -> str:
    """What an answer is, for an assertion's actual value."""
    if is_spdm_error(data):
        try:
            return f"SPDM ERROR {ErrorResponse.decode(data).name}"
        except DecodeError:
            return "a malformed SPDM ERROR"
    if len(data) >= 2 and data[0] == 0x00:
        return f"IDE_KM ObjectID 0x{data[1]:02x}"
    if len(data) >= 3 and data[0] == 0x01:
        return f"TDISP message 0x{data[2]:02x}"
    return f"{len(data)} byte(s) of no known protocol"


def decode_payload(ctx: CaseContext, cls: type[W], data: bytes, code: int, *,
                   reference: str | None = None) -> W:
    """The answer decoded as ``cls``, whose code is ``code`` (IDE_KM: byte 1; TDISP: byte 2).

    Raises:
        CaseAborted: another answer, or malformed bytes.
    """
    at = 1 if data[:1] == b"\x00" else 2
    if is_spdm_error(data) or data[at:at + 1] != bytes([code]):
        ctx.require(f"the device answers with {cls.__name__}", False,
                    expected=f"{cls.__name__} (0x{code:02x})", actual=describe(data), reference=reference)
    try:
        return cls.decode(data)
    except DecodeError as exc:
        ctx.require(f"the {cls.__name__} answer is well formed", False, expected=f"a {cls.__name__}",
                    actual=str(exc), reference=reference)
        raise AssertionError("unreachable") from exc
