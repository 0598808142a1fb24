"""The SPDM key schedule (DSP0274 1.1-1.3 "Key schedule"; PROTOCOLS.md §6).

Single responsibility: turn a session's root secret (DHE shared secret or PSK)
and its transcript hashes into the handshake, data, finished and traffic
secrets, and derive key-update secrets.  It holds no per-session state; the
record layer (:mod:`spdm.secured`) owns keys in use, sequence numbers and the
key-update backup.  All hashing goes through :mod:`spdm.crypto` (R9).

Every value here was checked byte for byte against libspdm's logged
intermediates for SPDM 1.1/SHA-256, 1.2/SHA-384 and 1.3/SHA-384, for DHE and
PSK sessions and key updates (``tests/spdm/test_session_vectors.py``).
"""

from __future__ import annotations

from dataclasses import field

from spdm.crypto import (
    aead_iv_size,
    aead_key_size,
    hash_size,
    hkdf_expand,
    hkdf_extract,
    hmac_digest,
    hmac_verify,
)
from spdm.errors import LocalProtocolError
from spdm.messages.codes import AeadSuite, BaseHashAlgo, SpdmVersion

from .record import record

__all__ = ["DataSecrets", "HandshakeSecrets", "KeySchedule", "bin_concat"]

_MAX_LENGTH = 0xFFFF


def bin_concat(version: SpdmVersion, length: int, label: bytes, context: bytes = b"") -> bytes:
    """The HKDF-Expand ``info`` of every SPDM derivation (PROTOCOLS.md §6.1).

    ``u16le(length) || "spdm<major>.<minor> " || label || context``.  The version
    is the negotiated SPDM version, not the secured-message (DSP0277) version.

    Args:
        version: the negotiated SPDM version.
        length: the output length the expansion asks for.
        label: the ASCII label (``b"key"``, ``b"req hs data"``...).
        context: empty, or a transcript hash.

    Returns:
        The BinConcat bytes.

    Raises:
        LocalProtocolError: ``length`` does not fit the u16 field (a caller bug).
    """
    if not 0 <= length <= _MAX_LENGTH:
        raise LocalProtocolError(f"BinConcat length {length} does not fit 16 bits")
    prefix = f"spdm{SpdmVersion(version).text} ".encode("ascii")
    return length.to_bytes(2, "little") + prefix + label + context


@record(frozen=True)
class HandshakeSecrets:
    """The handshake-phase secrets of one session (derived after KEY_EXCHANGE_RSP/PSK_EXCHANGE_RSP).

    Every field is secret and stays out of ``repr`` (R13).

    Attributes:
        handshake_secret: HandshakeSecret, the root of the data-phase derivation.
        request_secret: request-direction handshake secret (``req hs data``).
        response_secret: response-direction handshake secret (``rsp hs data``).
        request_finished_key: keys RequesterVerifyData (FINISH, PSK_FINISH).
        response_finished_key: keys ResponderVerifyData (KEY_EXCHANGE_RSP, PSK_EXCHANGE_RSP,
            FINISH_RSP in the clear).
    """

    handshake_secret: bytes = field(repr=False)
    request_secret: bytes = field(repr=False)
    response_secret: bytes = field(repr=False)
    request_finished_key: bytes = field(repr=False)
    response_finished_key: bytes = field(repr=False)


@record(frozen=True)
class DataSecrets:
    """The data-phase (application) secrets of one session (derived after FINISH_RSP/PSK_FINISH_RSP).

    Every field is secret and stays out of ``repr`` (R13).

    Attributes:
        master_secret: MasterSecret.
        request_secret: request-direction data secret (``req app data``); the key-update root.
        response_secret: response-direction data secret (``rsp app data``).
        export_master_secret: the exporter root (``exp master``, with Hash(TH2) as context).
    """

    master_secret: bytes = field(repr=False)
    request_secret: bytes = field(repr=False)
    response_secret: bytes = field(repr=False)
    export_master_secret: bytes = field(repr=False)


class KeySchedule:
    """Derivations for one negotiated hash and SPDM version (PROTOCOLS.md §6.2-§6.5).

    Stateless apart from the two parameters, so one instance serves every
    session of a connection.

    Attributes:
        hash_alg: the negotiated BaseHashAlgo.
        version: the negotiated SPDM version (1.1 or later: 1.0 has no sessions).
        hash_size: H, the digest size in bytes.
    """

    __slots__ = ("hash_alg", "hash_size", "version")

    def __init__(self, hash_alg: BaseHashAlgo, version: SpdmVersion) -> None:
        """Fix the hash and the BinConcat version label.

        Args:
            hash_alg: exactly one supported BaseHashAlgo bit.
            version: the negotiated SPDM version.

        Raises:
            LocalProtocolError: SPDM 1.0 (sessions start at 1.1).
            ConfigurationError: unsupported hash algorithm.
        """
        self.version = SpdmVersion(version)
        if self.version < SpdmVersion.V11:
            raise LocalProtocolError("SPDM 1.0 has no secure sessions, hence no key schedule")
        self.hash_alg = BaseHashAlgo(hash_alg)
        self.hash_size = hash_size(self.hash_alg)

    def __repr__(self) -> str:
        return f"KeySchedule({self.hash_alg.name}, {self.version.text})"

    def _expand(self, secret: bytes, label: bytes, context: bytes = b"", length: int = 0) -> bytes:
        size = length or self.hash_size
        return hkdf_expand(self.hash_alg, secret, bin_concat(self.version, size, label, context), size)

    def _check_hash(self, value: bytes, what: str) -> None:
        if len(value) != self.hash_size:
            raise LocalProtocolError(f"{what} is {len(value)} bytes, expected {self.hash_size}")

    def handshake(self, secret: bytes, th1_hash: bytes, *, psk: bool = False) -> HandshakeSecrets:
        """Derive the handshake secrets and finished keys.

        ``Salt_0`` is ``0x00 * H`` for DHE sessions.  For PSK sessions DSP0274
        leaves HandshakeSecret to the PSK holder; libspdm's sample holder (what
        spdm-emu and most libspdm-based devices run) extracts with ``0xFF * H``
        from SPDM 1.3 on and with zeros before.  The reference vectors decide it:
        the 1.1 and 1.2 PSK sessions reproduce only with zeros, both 1.3 PSK
        sessions only with 0xFF.

        Args:
            secret: the DHE shared secret (§3.8.3 form) or the PSK.
            th1_hash: Hash(TH1) (§5.4/§5.5).
            psk: the session was set up with PSK_EXCHANGE.

        Returns:
            The handshake secrets.

        Raises:
            LocalProtocolError: empty secret or a TH1 hash of the wrong size.
        """
        if not secret:
            raise LocalProtocolError("empty session secret")
        self._check_hash(th1_hash, "Hash(TH1)")
        psk_1_3 = psk and self.version >= SpdmVersion.V13
        salt_0 = b"\xff" * self.hash_size if psk_1_3 else bytes(self.hash_size)
        handshake_secret = hkdf_extract(self.hash_alg, salt_0, secret)
        request_secret = self._expand(handshake_secret, b"req hs data", th1_hash)
        response_secret = self._expand(handshake_secret, b"rsp hs data", th1_hash)
        return HandshakeSecrets(
            handshake_secret=handshake_secret,
            request_secret=request_secret,
            response_secret=response_secret,
            request_finished_key=self._expand(request_secret, b"finished"),
            response_finished_key=self._expand(response_secret, b"finished"),
        )

    def data(self, handshake: HandshakeSecrets, th2_hash: bytes) -> DataSecrets:
        """Derive the data-phase secrets.

        ``exp master`` takes Hash(TH2) as context, as libspdm does (spdm-rs uses
        none; PROTOCOLS.md §6.2 [!]); the reference vectors confirm libspdm.

        Args:
            handshake: this session's handshake secrets.
            th2_hash: Hash(TH2) (§5.4/§5.5).

        Returns:
            The data secrets.

        Raises:
            LocalProtocolError: a TH2 hash of the wrong size.
        """
        self._check_hash(th2_hash, "Hash(TH2)")
        salt_1 = self._expand(handshake.handshake_secret, b"derived")
        master_secret = hkdf_extract(self.hash_alg, salt_1, bytes(self.hash_size))
        return DataSecrets(
            master_secret=master_secret,
            request_secret=self._expand(master_secret, b"req app data", th2_hash),
            response_secret=self._expand(master_secret, b"rsp app data", th2_hash),
            export_master_secret=self._expand(master_secret, b"exp master", th2_hash),
        )

    def traffic_keys(self, secret: bytes, aead: AeadSuite) -> tuple[bytes, bytes]:
        """Derive one direction's AEAD key and IV from its handshake or data secret.

        Args:
            secret: a direction secret (handshake, data, or key-updated data).
            aead: the negotiated AEAD suite (sets K and N, §6.3).

        Returns:
            ``(key, iv)``.

        Raises:
            ConfigurationError: unsupported AEAD suite.
        """
        key = self._expand(secret, b"key", length=aead_key_size(aead))
        iv = self._expand(secret, b"iv", length=aead_iv_size(aead))
        return key, iv

    def update(self, secret: bytes) -> bytes:
        """The next-generation data secret of one direction (KEY_UPDATE, §6.5).

        Args:
            secret: the direction's current data secret.

        Returns:
            The updated secret (``traffic upd``, no context).
        """
        return self._expand(secret, b"traffic upd")

    def verify_data(self, finished_key: bytes, transcript_hash: bytes) -> bytes:
        """RequesterVerifyData / ResponderVerifyData (§6.4).

        Compare a peer's value with :func:`spdm.crypto.hmac_verify` or
        :func:`spdm.crypto.constant_time_equal`, never with ``==``.

        Args:
            finished_key: the sender's finished key.
            transcript_hash: Hash of the transcript the verify data covers.

        Returns:
            ``HMAC(finished_key, transcript_hash)``.

        Raises:
            LocalProtocolError: a transcript hash of the wrong size.
        """
        self._check_hash(transcript_hash, "transcript hash")
        return hmac_digest(self.hash_alg, finished_key, transcript_hash)

    def check_verify_data(self, finished_key: bytes, transcript_hash: bytes, received: bytes) -> None:
        """Check a peer's RequesterVerifyData / ResponderVerifyData in constant time (§6.4).

        Args:
            finished_key: the sender's finished key.
            transcript_hash: Hash of the transcript the verify data covers.
            received: the verify data the peer sent.

        Raises:
            VerificationError: ``received`` is not ``HMAC(finished_key, transcript_hash)``.
            LocalProtocolError: a transcript hash of the wrong size.
        """
        self._check_hash(transcript_hash, "transcript hash")
        hmac_verify(self.hash_alg, finished_key, transcript_hash, received)
