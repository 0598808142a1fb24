"""The transcripts a connection signs: A (VCA), B (digests and certificates), C, and M.

Requester and responder keep identical copies by applying the same rules to
the same bytes, which is why those rules live here and nowhere else
(PROTOCOLS.md §5, libspdm's reset-by-request-code behaviour, checked against
the shared captures):

* GET_VERSION resets everything.
* GET_DIGESTS resets B.
* Any request but GET_MEASUREMENTS resets M; so does an ERROR answer to
  GET_MEASUREMENTS, and every signed MEASUREMENTS (verified or not).
* Until a CHALLENGE succeeds, a session or measurement request resets B and C;
  a successful CHALLENGE resets B and C itself, and so does an ERROR answer to
  CHALLENGE.
* Inside a session the session keeps its own M (``Session.message_m``): any
  in-session request but GET_MEASUREMENTS resets it, and the connection's
  transcripts are left alone.

The requester (live and following a capture) and the responder call
:meth:`Transcript.begin` for every request, :meth:`Transcript.failed` for every
ERROR answer, and nothing else resets a transcript.

Messages are appended exactly as sent or received, without DOE padding;
signed responses are appended without their signature.

B and M are bounded (:data:`MAX_MESSAGE_B_SIZE`, :data:`MAX_MESSAGE_M_SIZE`):
the peer decides how often GET_CERTIFICATE and unsigned GET_MEASUREMENTS
repeat before the signature that ends them, so without a bound a requester
could grow a device's memory (and a device a requester's) at will.  An
exchange that would pass the bound is not appended and raises
:class:`~spdm.errors.RemoteProtocolError` with ERROR code Unspecified, which
is what libspdm's responder answers when its message_b or message_m buffer is
full (``libspdm_append_message_b/m`` failing in ``libspdm_rsp_certificate.c``
and ``libspdm_rsp_measurements.c``); the ERROR to GET_MEASUREMENTS then resets
M as any ERROR to it does, while B stays full until GET_DIGESTS or a CHALLENGE
starts it over, as in libspdm.
"""

from __future__ import annotations

from .errors import RemoteProtocolError, SpdmErrorCode
from .messages.codes import RequestCode, SpdmVersion
from .session import Session

__all__ = ["MAX_MESSAGE_B_SIZE", "MAX_MESSAGE_M_SIZE", "Transcript"]

MAX_MESSAGE_B_SIZE = 0x100000
"""The most bytes transcript B (and an encapsulated flow's mut_B) may hold: 1 MiB.

What a legitimate requester puts in B before a CHALLENGE resets it: one
GET_DIGESTS/DIGESTS (under 1 KiB even with 1.3's per-slot fields) and the
chains of all 8 slots at the 16-bit maximum (0xFFFF bytes each) fetched in
the smallest portions a 1.2 MinDataTransferSize (42) allows, 34 bytes each,
with 16 bytes of GET_CERTIFICATE + CERTIFICATE headers per portion:
8 x (65535 + 1928 x 16) = 770 KiB.  libspdm bounds it tighter (one chain of
LIBSPDM_MAX_CERT_CHAIN_SIZE plus DIGESTS: LIBSPDM_MAX_MESSAGE_B_BUFFER_SIZE);
we keep every slot fetchable, and round up."""

MAX_MESSAGE_M_SIZE = 0x200000
"""The most bytes a measurement transcript M (the connection's or a session's) may hold: 2 MiB.

What a legitimate requester puts in M before the signed MEASUREMENTS that
ends it: every index (1-254) fetched one by one, plus a count query, each
exchange a GET_MEASUREMENTS (at most 45 bytes) and a MEASUREMENTS as large
as libspdm's default DataTransferSize and ours (0x1200):
255 x (45 + 4608) = 1.13 MiB.  libspdm sizes its buffer for one record
(LIBSPDM_MAX_MESSAGE_L1L2_BUFFER_SIZE = VCA + one MEASUREMENTS); we keep the
one-by-one walk over every index possible, and round up."""


def _append(log: bytearray, name: str, limit: int, *parts: bytes) -> None:
    """Append ``parts`` to ``log``, all or nothing, when they keep it within ``limit`` bytes.

    Raises:
        RemoteProtocolError: Unspecified; the transcript would pass ``limit``
            (nothing is appended).
    """
    size = len(log) + sum(map(len, parts))
    if size > limit:
        raise RemoteProtocolError(
            f"transcript {name} would hold {size} bytes, more than its limit of {limit}",
            error_code=SpdmErrorCode.UNSPECIFIED,
        )
    for part in parts:
        log += part

# Compared on every request, as plain ints: on Python 3.11 an enum class attribute is a slow
# lookup (EnumType defines __getattr__), some five times a dict lookup.
_GET_VERSION = int(RequestCode.GET_VERSION)
_GET_DIGESTS = int(RequestCode.GET_DIGESTS)
_GET_MEASUREMENTS = int(RequestCode.GET_MEASUREMENTS)

_RESETS_B_C_UNTIL_AUTHENTICATED = frozenset({
    RequestCode.KEY_EXCHANGE,
    RequestCode.GET_MEASUREMENTS,
    RequestCode.FINISH,
    RequestCode.PSK_EXCHANGE,
    RequestCode.PSK_FINISH,
    RequestCode.KEY_UPDATE,
    RequestCode.HEARTBEAT,
    RequestCode.GET_ENCAPSULATED_REQUEST,
    RequestCode.DELIVER_ENCAPSULATED_RESPONSE,
    RequestCode.END_SESSION,
    RequestCode.GET_MEASUREMENT_EXTENSION_LOG,
})


class Transcript:
    """One connection's transcripts, with the reset rules applied per request.

    Attributes:
        a: VCA (GET_VERSION .. ALGORITHMS).
        b: GET_DIGESTS/DIGESTS and GET_CERTIFICATE/CERTIFICATE since the last reset.
        m: GET_MEASUREMENTS/MEASUREMENTS in the clear since the last reset (L1's M).
        authenticated: a CHALLENGE succeeded since GET_VERSION.
    """

    def __init__(self) -> None:
        self.a = bytearray()
        self.b = bytearray()
        self.m = bytearray()
        self.authenticated = False

    def reset(self) -> None:
        """Forget everything (GET_VERSION)."""
        self.a.clear()
        self.b.clear()
        self.m.clear()
        self.authenticated = False

    def begin(self, request_code: int, session: Session | None = None) -> None:
        """Apply the resets a request causes before it is processed.

        Args:
            request_code: the request's code.
            session: the session the request travels in (None: in the clear).
        """
        if session is not None:
            if request_code != _GET_MEASUREMENTS:
                session.message_m.clear()
            return
        if request_code == _GET_VERSION:
            self.reset()
            return
        if request_code != _GET_MEASUREMENTS:
            self.m.clear()
        if request_code == _GET_DIGESTS:
            self.b.clear()
        if request_code in _RESETS_B_C_UNTIL_AUTHENTICATED and not self.authenticated:
            self.b.clear()

    def failed(self, request_code: int, session: Session | None = None) -> None:
        """Apply the resets an ERROR answer to ``request_code`` causes.

        Args:
            request_code: the code of the request the ERROR answered.
            session: the session it travelled in (None: in the clear).
        """
        if request_code == RequestCode.GET_MEASUREMENTS:
            self.measurements_done(session)
        elif request_code == RequestCode.CHALLENGE:
            self.challenge_done(success=False)

    def add_vca(self, request: bytes, response: bytes) -> None:
        """Append a VCA exchange to A."""
        self.a += request
        self.a += response

    def add_b(self, request: bytes, response: bytes, session: Session | None = None) -> None:
        """Append a GET_DIGESTS/DIGESTS or GET_CERTIFICATE/CERTIFICATE exchange to B.

        Args:
            request: the request as received or sent.
            response: the response.
            session: the session the exchange travelled in (None: in the clear).
                Inside a session it is no part of B (libspdm's responder keeps
                it out too): nothing is appended.

        Raises:
            RemoteProtocolError: Unspecified; B would pass :data:`MAX_MESSAGE_B_SIZE`
                (nothing is appended).
        """
        if session is None:
            _append(self.b, "B", MAX_MESSAGE_B_SIZE, request, response)

    def m1(self, challenge: bytes, challenge_auth_unsigned: bytes) -> bytes:
        """M1 = A || B || C, C being CHALLENGE || CHALLENGE_AUTH without its signature."""
        return bytes(self.a + self.b) + challenge + challenge_auth_unsigned

    def challenge_done(self, *, success: bool) -> None:
        """After CHALLENGE_AUTH was checked: B and C start over; success authenticates."""
        self.b.clear()
        if success:
            self.authenticated = True

    def measurement_log(self, session: Session | None = None) -> bytearray:
        """The M that measurements in ``session`` (None: in the clear) go to."""
        return self.m if session is None else session.message_m

    def add_measurements(self, request: bytes, response_unsigned: bytes,
                         session: Session | None = None) -> None:
        """Append a GET_MEASUREMENTS/MEASUREMENTS exchange to M (the session's inside one).

        Raises:
            RemoteProtocolError: Unspecified; M would pass :data:`MAX_MESSAGE_M_SIZE`
                (nothing is appended).
        """
        _append(self.measurement_log(session), "M", MAX_MESSAGE_M_SIZE, request, response_unsigned)

    def l1(self, version: int, session: Session | None = None) -> bytes:
        """L1 = [A if 1.2+] || M: what a signed MEASUREMENTS signs.

        Args:
            version: the negotiated SPDM version.
            session: take the session's own M instead of the connection's.
        """
        prefix = bytes(self.a) if version >= SpdmVersion.V12 else b""
        return prefix + bytes(self.measurement_log(session))

    def measurements_done(self, session: Session | None = None) -> None:
        """After a signed MEASUREMENTS (verified or not) or an ERROR to GET_MEASUREMENTS: M starts over."""
        self.measurement_log(session).clear()
