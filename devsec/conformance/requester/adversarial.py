"""Adversarial cases: the device breaks one rule and a conformant requester must exit non-zero.

The requester may fail however it likes (an error message, any non-zero
status) but never report success, and never hang: a run that does not exit
in time fails the case too.  A case whose fault the requester never reached
(it never sent the request the device misbehaves on) is skipped, saying so.
"""

from __future__ import annotations

from collections.abc import Callable

from spdm.errors import SpdmErrorCode
from spdm.messages import ErrorResponse
from spdm.messages.codes import RequestCode, ResponseCode

from .context import RequesterContext
from .registry import case

__all__ = [
    "BadTag", "Refuse", "Rewrite", "bad_signature", "bad_tag", "busy_forever", "changed_measurement",
    "not_ready_forever", "oversized", "refused_once_reached", "truncated", "unsupported_version",
    "untrusted_root", "version_mismatch",
]
"""The case judges (registered with :func:`.registry.case`; run them through the runner)."""

RDT_EXPONENT = 10
"""ResponseNotReady's RDTExponent: 2**10 us, so a polling requester gives up within its run's time."""

UNSUPPORTED_VERSION = 0x19
"""The one version VERSION lists in ``requester.version.unsupported``: 1.9, which no DSP0274 defines."""

_SIGNATURE_REQUESTED = 0x01
_AUTH_REQUESTS = frozenset({RequestCode.GET_DIGESTS, RequestCode.GET_CERTIFICATE, RequestCode.CHALLENGE,
                            RequestCode.GET_MEASUREMENTS})

Change = Callable[[bytes, bytes], bytes]


class Rewrite:
    """Changes the healthy response to requests of one code (when ``applies``).

    ``in_session``: the request is one inside a session, whose plaintext
    response is changed before it is sealed (else one in the clear).
    """

    def __init__(self, request_code: int, change: Change,
                 applies: Callable[[bytes, bytes], bool] = lambda q, r: True, *,
                 in_session: bool = False) -> None:
        self.triggered = 0
        self._code, self._change, self._applies, self._in_session = request_code, change, applies, in_session

    def respond(self, request: bytes, ask: Callable[[bytes], bytes], *, secured: bool) -> bytes:
        """The healthy response, changed when the request is the one misbehaved on."""
        response = ask(request)
        return response if secured or self._in_session else self._rewrite(request, response)

    def inside(self, request: bytes, response: bytes) -> bytes:
        """The plaintext in-session response, changed when the request is the one misbehaved on."""
        return self._rewrite(request, response) if self._in_session else response

    def _rewrite(self, request: bytes, response: bytes) -> bytes:
        if len(request) < 2 or request[1] != self._code or len(response) < 2 \
                or response[1] == ResponseCode.ERROR or not self._applies(request, response):
            return response
        self.triggered += 1
        return self._change(request, response)


class Refuse:
    """Answers every request of ``codes`` (and every RESPOND_IF_READY) with an ERROR, for ever."""

    def __init__(self, codes: frozenset[int], error: SpdmErrorCode) -> None:
        self.triggered = 0
        self._codes, self._error, self._token = codes, error, 0

    def respond(self, request: bytes, ask: Callable[[bytes], bytes], *, secured: bool) -> bytes:
        """ERROR Busy / ResponseNotReady, or the healthy response to other requests."""
        refused = len(request) >= 4 and request[1] in self._codes | {RequestCode.RESPOND_IF_READY}
        if secured or not refused:
            return ask(request)
        self.triggered += 1
        extended = b""
        if self._error == SpdmErrorCode.RESPONSE_NOT_READY:
            named = request[2] if request[1] == RequestCode.RESPOND_IF_READY else request[1]
            self._token = (self._token + 1) & 0xFF
            extended = bytes([RDT_EXPONENT, named, self._token, 1])
        return ErrorResponse(spdm_version=request[0], error_code=self._error,
                             extended_data=extended).encode()

    def inside(self, request: bytes, response: bytes) -> bytes:
        """In-session responses stay healthy."""
        return response


class BadTag:
    """Flips a bit of the MAC of the first secured response: the session must die (DSP0277)."""

    def __init__(self) -> None:
        self.triggered = 0

    def respond(self, request: bytes, ask: Callable[[bytes], bytes], *, secured: bool) -> bytes:
        """The healthy response; the first secured one with its last tag byte changed."""
        response = ask(request)
        if not secured or self.triggered or not response:
            return response
        self.triggered += 1
        # SessionID(4) | Length(2) | ... | MAC: the record ends Length bytes after the Length
        # field, with the tag last; DOE padding may follow it.
        length = int.from_bytes(response[4:6], "little")
        return _flip(response, min(6 + length, len(response)) - 1)

    def inside(self, request: bytes, response: bytes) -> bytes:
        """The plaintext stays healthy: the record's tag is what breaks."""
        return response


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1:]


def _flip_signature(request: bytes, response: bytes) -> bytes:
    # The signature ends the message; 20 bytes from the end is inside it whatever the DOE pad.
    return _flip(response, len(response) - 20)


def _signed(request: bytes, response: bytes) -> bool:
    return len(request) > 2 and bool(request[2] & _SIGNATURE_REQUESTED)


def _flip_last_record_byte(request: bytes, response: bytes) -> bytes:
    # MEASUREMENTS: header, NumberOfBlocks, MeasurementRecordLength (3 bytes) at 5, the record at 8.
    record_length = int.from_bytes(response[5:8], "little")
    return _flip(response, 8 + record_length - 1) if record_length else response


def _unsupported_version(request: bytes, response: bytes) -> bytes:
    return bytes([0x10, ResponseCode.VERSION, 0, 0, 0, 1]) + (UNSUPPORTED_VERSION << 8).to_bytes(2, "little")


def _other_version(request: bytes, response: bytes) -> bytes:
    return bytes([0x11 if response[0] != 0x11 else 0x12]) + response[1:]


def _drop_last_alg_struct(request: bytes, response: bytes) -> bytes:
    length = int.from_bytes(response[4:6], "little")
    return response[:length - 4]


def _beyond_transfer_size(request: bytes, response: bytes) -> bytes:
    return response + bytes([0xA5]) * 0x1400


@case("requester.challenge.bad-signature", "CHALLENGE_AUTH whose signature is off by one byte is refused",
      "DSP0274 1.3 Tables 32-35", misbehaviour=lambda: Rewrite(RequestCode.CHALLENGE, _flip_signature))
def bad_signature(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "the CHALLENGE_AUTH signature does not verify", "CHALLENGE")


@case("requester.certificate.untrusted-root", "A certificate chain that does not lead to the given root "
      "is refused", "DSP0274 1.3 §10.7; PROTOCOLS.md §10", impostor=True)
def untrusted_root(ctx: RequesterContext) -> None:
    [run] = ctx.runs
    if not run.requests(RequestCode.GET_CERTIFICATE):
        ctx.skip("the requester never sent GET_CERTIFICATE")
    ctx.refused("the chain leads to another root")


@case("requester.measurements.changed-after-signing", "Signed MEASUREMENTS whose record changed after "
      "signing are refused", "DSP0274 1.3 Tables 40, 42",
      misbehaviour=lambda: Rewrite(RequestCode.GET_MEASUREMENTS, _flip_last_record_byte, _signed))
def changed_measurement(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "a measurement changed after signing",
                         "GET_MEASUREMENTS with a signature requested")


@case("requester.version.unsupported", "A VERSION listing only a version the requester does not "
      "support (1.9) ends the connection", "DSP0274 1.3 §10.3",
      misbehaviour=lambda: Rewrite(RequestCode.GET_VERSION, _unsupported_version))
def unsupported_version(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "VERSION lists only SPDM 1.9", "GET_VERSION")


@case("requester.version.response-mismatch", "CAPABILITIES at another version than GET_CAPABILITIES' "
      "is refused", "DSP0274 1.3 §10.4, §9.2",
      misbehaviour=lambda: Rewrite(RequestCode.GET_CAPABILITIES, _other_version))
def version_mismatch(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "CAPABILITIES answers at another SPDM version", "GET_CAPABILITIES")


@case("requester.timing.not-ready-forever", "A device answering ResponseNotReady for ever is given up "
      "on in bounded time", "DSP0274 1.3 §10.12, §10.13",
      misbehaviour=lambda: Refuse(_AUTH_REQUESTS, SpdmErrorCode.RESPONSE_NOT_READY))
def not_ready_forever(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "every request after VCA is ResponseNotReady for ever", "a request after VCA")


@case("requester.timing.busy-forever", "A device answering Busy for ever is given up on in bounded time",
      "DSP0274 1.3 §10.12",
      misbehaviour=lambda: Refuse(_AUTH_REQUESTS, SpdmErrorCode.BUSY))
def busy_forever(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "every request after VCA is Busy for ever", "a request after VCA")


@case("requester.framing.truncated", "An ALGORITHMS response shorter than its Length is refused",
      "DSP0274 1.3 §10.5 Table 15",
      misbehaviour=lambda: Rewrite(RequestCode.NEGOTIATE_ALGORITHMS, _drop_last_alg_struct))
def truncated(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "ALGORITHMS is truncated", "NEGOTIATE_ALGORITHMS")


@case("requester.framing.oversized", "An ALGORITHMS response running on 5 KiB past its end "
      "(past devsec's DataTransferSize too) is refused", "DSP0274 1.3 §10.4 Table 11, §10.5 Table 15",
      misbehaviour=lambda: Rewrite(RequestCode.NEGOTIATE_ALGORITHMS, _beyond_transfer_size))
def oversized(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "ALGORITHMS runs on past its end and the DataTransferSize",
                         "NEGOTIATE_ALGORITHMS")


@case("requester.session.bad-tag", "A secured response whose MAC does not verify ends the session and "
      "the run fails", "DSP0277 1.2 §6.2; DSP0274 1.3 §10.15", misbehaviour=BadTag)
def bad_tag(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "a secured response fails authentication",
                         "a secured message (no session was opened)")


def refused_once_reached(ctx: RequesterContext, what: str, trigger: str) -> None:
    """Skip when the device never misbehaved (the requester never sent ``trigger``), else judge refusal."""
    if not any(run.triggered for run in ctx.runs):
        ctx.skip(f"the requester never sent {trigger}, where the device misbehaves")
    ctx.refused(what)
