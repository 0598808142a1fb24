"""What a case body works with: one fresh connection, its exchanges, and its assertions.

A case sends hand-built SPDM messages (the shared codec, :mod:`spdm.messages`)
framed as DOE data objects, and asserts on the bytes that come back.  Every
assertion is recorded, passed or not; a failing one carries the expected and
actual values, the clause, and the request/response bytes of the exchange it
judged, so a vendor sees exactly what was sent and what the device answered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, TypeVar

from spdm.codec import NO_CONTEXT, CodecContext, Message
from spdm.crypto import Certificate
from spdm.errors import DecodeError, SpdmErrorCode
from spdm.messages import RESPONSE_TYPES, ErrorResponse, peek_code
from spdm.record import record
from spdm.transport import DoeTransport
from spdm.transport.doe import (
    PCI_SIG_VENDOR_ID,
    DataObject,
    DataObjectType,
    decode_data_object,
    encode_data_object,
)

from .case import DeviceProfile
from .options import NO_OPTIONS, RunOptions

__all__ = [
    "Assertion",
    "CaseAborted",
    "CaseContext",
    "CaseSkipped",
    "Exchange",
    "RecordingTransport",
    "value_text",
]

M = TypeVar("M", bound=Message)


@record(frozen=True, slots=True)
class Exchange:
    """One request and the device's response: SPDM message bytes (DOE payloads, pad included).

    ``session_id`` is the SessionID of the secured record both travelled in
    (their plaintext; None: in the clear).
    """

    request: bytes
    response: bytes
    session_id: int | None = None


@record(frozen=True, slots=True)
class Assertion:
    """One judged rule.

    Attributes:
        what: the rule, in a line (``VERSION lists at least one entry``).
        passed: whether the device kept it.
        expected: what the rule wants, as text.
        actual: what the device did, as text.
        reference: the clause (``DSP0274 1.3 §10.3``).
        exchange: the exchange judged (None when the rule is about no single one).
    """

    what: str
    passed: bool
    expected: str
    actual: str
    reference: str
    exchange: Exchange | None


class RecordingTransport:
    """A DoeTransport that records every exchange through it, the suite's own and the engine's.

    Cases that let devsec's requester engine run a legitimate prefix of a flow
    (authentication, a session) still get the bytes of the exchange that
    failed: every DOE object pair is kept, as SPDM payloads.
    """

    def __init__(self, inner: DoeTransport, record: list[Exchange]) -> None:
        self._inner, self._record = inner, record

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        """Exchange one DOE object with the device and record the pair."""
        response = self._inner.exchange(request, timeout=timeout)
        self._record.append(Exchange(_payload(request), _payload(response)))
        return response

    def close(self) -> None:
        """Close the device's transport."""
        self._inner.close()


def _payload(obj: bytes) -> bytes:
    try:
        return decode_data_object(obj).payload
    except DecodeError:
        return obj


class CaseAborted(Exception):
    """A required assertion failed: the rest of the case has nothing to stand on."""


class CaseSkipped(Exception):
    """The device showed, inside the case, that it does not claim what the case needs.

    For what the probe cannot see: the vendor protocols (IDE_KM, TDISP) and
    their capabilities are only learned inside a session the case opens.
    """


def value_text(value: object) -> str:
    """How an assertion spells an expected or actual value (ints in hex, bytes as hex)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"0x{value:x}"
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


class CaseContext:
    """One case run's connection, version and assertion record."""

    def __init__(self, transport: DoeTransport, profile: DeviceProfile, version: int, reference: str,
                 trust_roots: tuple[Certificate, ...] = (), *,
                 open_fresh: Callable[[], DoeTransport] | None = None,
                 options: RunOptions = NO_OPTIONS) -> None:
        """Args:
            transport: a fresh transport to the device, closed by the runner.
            profile: what the probe learned about the device.
            version: the SPDM version this run speaks.
            reference: the case's clause, the default for its assertions.
            trust_roots: the roots the device's chains must lead to (``--trust-root``;
                empty: cases check chain structure but not the root).
            open_fresh: opens a transport to a device just out of reset (see
                :func:`.runner.run_suite`), or None.
            options: what the user told the run about the device (its PSK, the TDI to lock).
        """
        self.exchanges: list[Exchange] = []
        self.transport = RecordingTransport(transport, self.exchanges)
        self.device_transport = transport
        """The transport itself, unrecorded: the DOE mailbox cases drive its registers."""
        self.open_fresh = open_fresh
        self.trust_roots = trust_roots
        self.options = options
        self.profile = profile
        self.version = version
        self.reference = reference
        self.assertions: list[Assertion] = []

    @property
    def flags(self) -> int:
        """The device's CAPABILITIES flags at this run's version (from the probe)."""
        return self.profile.flags.get(self.version, 0)

    @property
    def last(self) -> Exchange | None:
        """The most recent exchange."""
        return self.exchanges[-1] if self.exchanges else None

    def send(self, request: Message | bytes) -> bytes:
        """Send one SPDM message in a DOE object and return the response's payload (pad included).

        Raises:
            TransportError: the device did not answer (an error verdict, not a failure).
            CaseAborted: the response is not a well-formed SPDM data object.
        """
        payload = request if isinstance(request, bytes) else request.encode()
        obj = encode_data_object(DataObject(PCI_SIG_VENDOR_ID, DataObjectType.SPDM, payload))
        raw = self.transport.exchange(obj)
        try:
            response = decode_data_object(raw)
        except DecodeError as exc:
            self.require("the response is a well-formed DOE data object", False,
                         expected="a header whose Length counts the object's dwords", actual=str(exc),
                         reference="PCIe 6.x §6.30.1")
            raise AssertionError("unreachable") from exc
        self.require("the response is an SPDM data object",
                     (response.vendor_id, response.object_type) == (PCI_SIG_VENDOR_ID, DataObjectType.SPDM),
                     expected=f"vendor 0x{PCI_SIG_VENDOR_ID:04x} type {DataObjectType.SPDM:d}",
                     actual=f"vendor 0x{response.vendor_id:04x} type {response.object_type}",
                     reference="PCIe 6.x §6.31")
        return response.payload

    def check(self, what: str, passed: bool, *, expected: object, actual: object,
              reference: str | None = None) -> bool:
        """Record an assertion about the last exchange; returns whether it passed."""
        self.assertions.append(Assertion(what, bool(passed), value_text(expected), value_text(actual),
                                         reference or self.reference, self.last))
        return bool(passed)

    def require(self, what: str, passed: bool, *, expected: object, actual: object,
                reference: str | None = None) -> None:
        """:meth:`check`, stopping the case when it fails.

        Raises:
            CaseAborted: the assertion failed.
        """
        if not self.check(what, passed, expected=expected, actual=actual, reference=reference):
            raise CaseAborted(what)

    def skip(self, reason: str) -> NoReturn:
        """Stop the case as not applicable to this device, saying why.

        Raises:
            CaseSkipped: always.
        """
        raise CaseSkipped(reason)

    def equal(self, what: str, expected: object, actual: object, *, reference: str | None = None) -> bool:
        """Record that ``actual == expected``."""
        return self.check(what, expected == actual, expected=expected, actual=actual, reference=reference)

    def decode(self, cls: type[M], data: bytes, ctx: CodecContext = NO_CONTEXT,
               *, reference: str | None = None) -> M:
        """The response decoded as ``cls``; a different code or malformed bytes fail the case.

        Raises:
            CaseAborted: the response is an ERROR, another message, or malformed.
        """
        code = data[1] if len(data) >= 2 else None
        expected_name = cls.__name__
        if code != cls.CODE:
            actual = "no header" if code is None else self._describe(data)
            self.require(f"the device answers with {expected_name}", False,
                         expected=f"{expected_name} (0x{cls.CODE:02x})", actual=actual, reference=reference)
        try:
            return cls.decode(data, ctx, padded=True)
        except DecodeError as exc:
            self.require(f"the {expected_name} response is well formed", False,
                         expected=f"a {expected_name} laid out for SPDM {data[0] >> 4}.{data[0] & 15}",
                         actual=str(exc), reference=reference)
            raise AssertionError("unreachable") from exc

    def expect_error(self, what: str, data: bytes, codes: tuple[SpdmErrorCode, ...],
                     *, reference: str | None = None) -> bool:
        """Record that the response is an ERROR with one of ``codes``."""
        expected = " or ".join(f"ERROR {c.name}" for c in codes)
        try:
            error = ErrorResponse.decode(data, padded=True) if data[1:2] == b"\x7f" else None
        except DecodeError as exc:
            return self.check(what, False, expected=expected, actual=f"malformed ERROR: {exc}",
                              reference=reference)
        actual = self._describe(data) if error is None else f"ERROR {error.name}"
        return self.check(what, error is not None and error.error_code in codes,
                          expected=expected, actual=actual, reference=reference)

    @staticmethod
    def _describe(data: bytes) -> str:
        try:
            _, code = peek_code(data)
        except DecodeError:
            return f"{len(data)} byte(s), no SPDM header"
        if code == ErrorResponse.CODE:
            try:
                return f"ERROR {ErrorResponse.decode(data, padded=True).name}"
            except DecodeError:
                return "a malformed ERROR"
        cls = RESPONSE_TYPES.get(code)
        return f"{cls.__name__ if cls else 'unknown code'} (0x{code:02x})"
