"""One SPDM secure session as both roles see it: IDs, transcript, secrets, record keys.

The requester and the responder each hold a :class:`Session` per session ID
and apply the same rules to it, which is why those rules (the TH transcript
of PROTOCOLS.md §5.4/5.5, the handshake-to-data key switch, key update
bookkeeping) live here and not in either engine.  Records are sealed and
opened with :mod:`spdm.secured`; keys come from :mod:`spdm.keyschedule`.
"""

from __future__ import annotations

from dataclasses import field
from enum import Enum

from .crypto import digest
from .errors import LocalProtocolError, VerificationError
from .keyschedule import DataSecrets, HandshakeSecrets, KeySchedule
from .messages.codes import AeadSuite, BaseHashAlgo, SpdmVersion
from .record import record
from .secured import DOE_RECORDS, RecordFormat, SessionKeys

__all__ = [
    "FINISH_CONTEXT",
    "KEY_EXCHANGE_RSP_CONTEXT",
    "MAX_SESSIONS",
    "Session",
    "SessionPhase",
    "session_id_of",
]

KEY_EXCHANGE_RSP_CONTEXT = "responder-key_exchange_rsp signing"
FINISH_CONTEXT = "requester-finish signing"

MAX_SESSIONS = 4
"""Sessions one connection may hold at once (libspdm's default is 4)."""


class SessionPhase(Enum):
    """Where a session stands."""

    HANDSHAKE = "handshake"
    ESTABLISHED = "established"
    ENDED = "ended"


def session_id_of(req_session_id: int, rsp_session_id: int) -> int:
    """The u32 SessionID of DSP0277: ReqSessionID in the low half, RspSessionID high."""
    return (rsp_session_id << 16) | req_session_id


@record(eq=False)
class Session:
    """One secure session's state.

    Attributes:
        session_id: the 32-bit SessionID records carry.
        version: the connection's SPDM version (BinConcat labels, signing prefixes).
        hash_alg / aead: negotiated algorithms.
        psk: established with PSK_EXCHANGE rather than KEY_EXCHANGE.
        handshake_in_the_clear: FINISH/FINISH_RSP travel unencrypted.
        mut_auth: KEY_EXCHANGE_RSP MutAuthRequested.
        heartbeat_period: seconds, 0 = none.
        secured_version: the DSP0277 version both sides selected.
        record_format: the transport binding's secured-record parameters.
        th: the session transcript so far (A, [D], Hash(Ct), K, F...).
        phase: handshake, established or ended.
        keys: the record keys of the current phase.
        message_m: in-session GET_MEASUREMENTS transcript (L1 within the session).
    """

    session_id: int
    version: SpdmVersion
    hash_alg: BaseHashAlgo
    aead: AeadSuite
    psk: bool = False
    handshake_in_the_clear: bool = False
    mut_auth: int = 0
    heartbeat_period: int = 0
    secured_version: int = 0
    mac_only: bool = False
    record_format: RecordFormat = DOE_RECORDS
    th: bytearray = field(default_factory=bytearray, repr=False)
    phase: SessionPhase = SessionPhase.HANDSHAKE
    keys: SessionKeys | None = field(default=None, repr=False)
    message_m: bytearray = field(default_factory=bytearray, repr=False)
    _handshake: HandshakeSecrets | None = field(default=None, repr=False)
    _data: DataSecrets | None = field(default=None, repr=False)

    @property
    def schedule(self) -> KeySchedule:
        """The key schedule for this session's hash and version."""
        return KeySchedule(self.hash_alg, self.version)

    def th_hash(self) -> bytes:
        """Hash of the session transcript so far."""
        return digest(self.hash_alg, bytes(self.th))

    def begin_th(self, vca: bytes, exchange: bytes, exchange_rsp: bytes, *, digests: bytes = b"",
                 cert_chain: bytes | None = None) -> bytes:
        """Start TH with the session's exchange (PROTOCOLS.md §5.4, §5.5).

        TH = A || [D] || [Hash(Ct)] || KEY_EXCHANGE or PSK_EXCHANGE || its
        response up to the signature (KEY_EXCHANGE_RSP) or the verify data
        (PSK_EXCHANGE_RSP).

        Args:
            vca: transcript A.
            exchange: the exchange request as sent.
            exchange_rsp: the response without its signature and verify data.
            digests: DIGESTS as received ([D]: with MULTI_KEY_CONN only).
            cert_chain: the responder's SPDM certificate chain (KEY_EXCHANGE; None with a PSK).

        Returns:
            TH so far: what KEY_EXCHANGE_RSP's signature covers.

        Raises:
            LocalProtocolError: TH was already started.
        """
        if self.th:
            raise LocalProtocolError(f"session 0x{self.session_id:08x}: TH was already started")
        self.th += vca
        self.th += digests
        if cert_chain is not None:
            self.th += digest(self.hash_alg, cert_chain)
        self.th += exchange
        self.th += exchange_rsp
        return bytes(self.th)

    def add_requester_identity(self, digests: bytes, cert_chain: bytes, finish_header: bytes) -> bytes:
        """Mutual authentication: TH gains [D_encap] || Hash(CM) || the FINISH header (PROTOCOLS.md §5.4).

        Args:
            digests: the requester's DIGESTS ([D_encap]: with MULTI_KEY_CONN only).
            cert_chain: the requester's SPDM certificate chain (CM).
            finish_header: FINISH up to its signature.

        Returns:
            TH so far: what the requester signs in FINISH.
        """
        self.th += digests
        self.th += digest(self.hash_alg, cert_chain)
        return self.add_th(finish_header)

    def add_th(self, data: bytes) -> bytes:
        """Append one message part (a signature, a header, a whole response) to TH; TH so far."""
        self.th += data
        return bytes(self.th)

    def start_handshake(self, secret: bytes) -> HandshakeSecrets:
        """Derive the handshake secrets from TH1 (= ``th`` now) and switch to handshake keys.

        Args:
            secret: the DHE shared secret, or the PSK.
        """
        schedule = self.schedule
        handshake = schedule.handshake(secret, self.th_hash(), psk=self.psk)
        self._handshake = handshake
        self.keys = SessionKeys.from_secrets(
            schedule, handshake.request_secret, handshake.response_secret, self.aead,
            mac_only=self.mac_only, record_format=self.record_format)
        return handshake

    @property
    def handshake(self) -> HandshakeSecrets:
        """The handshake secrets (finished keys for verify data)."""
        if self._handshake is None:
            raise LocalProtocolError(f"session 0x{self.session_id:08x} has no handshake secrets yet")
        return self._handshake

    def establish(self) -> None:
        """Derive the data secrets from TH2 (= ``th`` now) and switch to data keys."""
        schedule = self.schedule
        data = schedule.data(self.handshake, self.th_hash())
        self._data = data
        self.keys = SessionKeys.from_secrets(
            schedule, data.request_secret, data.response_secret, self.aead, mac_only=self.mac_only,
            record_format=self.record_format)
        self.phase = SessionPhase.ESTABLISHED
        self.th.clear()  # TH is not needed past TH2; do not keep transcripts around

    def request_verify_data(self) -> bytes:
        """HMAC(request finished key, Hash(th)): the RequesterVerifyData to send now."""
        return self.schedule.verify_data(self.handshake.request_finished_key, self.th_hash())

    def response_verify_data(self) -> bytes:
        """HMAC(response finished key, Hash(th)): the ResponderVerifyData to send now."""
        return self.schedule.verify_data(self.handshake.response_finished_key, self.th_hash())

    def add_request_verify_data(self) -> bytes:
        """The RequesterVerifyData to send now, added to TH as it goes out."""
        verify_data = self.request_verify_data()
        self.th += verify_data
        return verify_data

    def add_response_verify_data(self) -> bytes:
        """The ResponderVerifyData to send now, added to TH as it goes out."""
        verify_data = self.response_verify_data()
        self.th += verify_data
        return verify_data

    def check_request_verify_data(self, received: bytes, *, what: str = "FINISH") -> None:
        """Check the requester's verify data against TH so far (constant time), then add it to TH.

        Args:
            received: the RequesterVerifyData that came.
            what: the message it came in, for the error.

        Raises:
            VerificationError: it is not HMAC(request finished key, Hash(th)); TH is unchanged.
        """
        self._check_verify_data(self.handshake.request_finished_key, received,
                                f"{what} RequesterVerifyData")

    def check_response_verify_data(self, received: bytes, *, what: str = "FINISH_RSP") -> None:
        """Check the responder's verify data against TH so far (constant time), then add it to TH.

        Args:
            received: the ResponderVerifyData that came.
            what: the message it came in, for the error.

        Raises:
            VerificationError: it is not HMAC(response finished key, Hash(th)); TH is unchanged.
        """
        self._check_verify_data(self.handshake.response_finished_key, received,
                                f"{what} ResponderVerifyData")

    def _check_verify_data(self, finished_key: bytes, received: bytes, what: str) -> None:
        try:
            self.schedule.check_verify_data(finished_key, self.th_hash(), received)
        except VerificationError as exc:
            raise VerificationError(f"session 0x{self.session_id:08x}: {what} does not verify") from exc
        self.th += received

    @property
    def export_master_secret(self) -> bytes:
        """The exporter secret (for protocols keyed off the session)."""
        if self._data is None:
            raise LocalProtocolError(f"session 0x{self.session_id:08x} is not established")
        return self._data.export_master_secret

    def end(self) -> None:
        """Forget every key; the session ID may be reused."""
        self.phase = SessionPhase.ENDED
        self.keys = None
        self._handshake = None
        self._data = None
        self.th.clear()
        self.message_m.clear()

    def current_keys(self) -> SessionKeys:
        """The record keys of the current phase.

        Raises:
            LocalProtocolError: the session has ended.
        """
        if self.keys is None:
            raise LocalProtocolError(f"session 0x{self.session_id:08x} has ended")
        return self.keys
