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
  a successful CHALLENGE resets B and C itself.

Messages are appended exactly as sent or received, without DOE padding;
signed responses are appended without their signature.
"""

from __future__ import annotations

from .messages.codes import RequestCode, SpdmVersion

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
    """One connection's transcripts, with the reset rules applied per request."""

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

    def begin(self, request_code: int) -> None:
        """Apply the resets a request causes before it is processed."""
        if request_code == RequestCode.GET_VERSION:
            self.reset()
            return
        if request_code != RequestCode.GET_MEASUREMENTS:
            self.m.clear()
        if request_code == RequestCode.GET_DIGESTS:
            self.b.clear()
        if request_code in _RESETS_B_C_UNTIL_AUTHENTICATED and not self.authenticated:
            self.b.clear()

    def add_vca(self, request: bytes, response: bytes) -> None:
        """Append a VCA exchange to A."""
        self.a += request
        self.a += response

    def add_b(self, request: bytes, response: bytes) -> None:
        """Append a GET_DIGESTS/DIGESTS or GET_CERTIFICATE/CERTIFICATE exchange to B."""
        self.b += request
        self.b += response

    def m1(self, challenge: bytes, challenge_auth_unsigned: bytes) -> bytes:
        """M1 = A || B || C, C being CHALLENGE || CHALLENGE_AUTH without its signature."""
        return bytes(self.a + self.b) + challenge + challenge_auth_unsigned

    def challenge_done(self, *, success: bool) -> None:
        """After CHALLENGE_AUTH was checked: B and C start over; success authenticates."""
        self.b.clear()
        if success:
            self.authenticated = True

    def add_measurements(self, request: bytes, response_unsigned: bytes) -> None:
        """Append a GET_MEASUREMENTS/MEASUREMENTS exchange to M."""
        self.m += request
        self.m += response_unsigned

    def l1(self, version: int, m: bytes | bytearray | None = None) -> bytes:
        """L1 = [A if 1.2+] || M: what a signed MEASUREMENTS signs.

        Args:
            version: the negotiated SPDM version.
            m: a session's own message_m instead of the connection's.
        """
        prefix = bytes(self.a) if version >= SpdmVersion.V12 else b""
        return prefix + bytes(self.m if m is None else m)

    def measurements_done(self) -> None:
        """After a signed MEASUREMENTS or an ERROR to GET_MEASUREMENTS: M starts over."""
        self.m.clear()
