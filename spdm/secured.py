"""DSP0277 secured-message records (PROTOCOLS.md §7): seal, open, sequence numbers, key update.

Single responsibility: the record layer of an SPDM session.  One
:class:`DirectionState` per direction and phase holds the traffic key, IV and
implicit sequence number; :func:`seal` and :func:`open_record` are pure
functions over it that advance the counter only when they succeed.
:class:`SessionKeys` pairs the two directions and runs KEY_UPDATE's
derive/commit/rollback.  Secrets come from :mod:`spdm.keyschedule`; the AEAD
from :mod:`spdm.crypto` (R9).  Nothing here does I/O or knows session states.

Record layout on PCI DOE (the payload after the 8-byte DOE header)::

    SessionID(4) | Length(2) | AEAD( AppDataLength(2) | AppData ) | MAC(16) | DOE pad (0-3 zero bytes)

AAD = SessionID || Length; Length counts everything after itself up to and
including the MAC; no sequence number on the wire and no random padding (DOE).
MAC-only sessions send ``SessionID | Length | AppData | MAC`` with AAD =
SessionID || Length || AppData.  The fixed header is read with a precompiled
``struct.Struct`` after an explicit length check (R7): it is parsed for every
secured message.

DSP0277 leaves part of the record to the transport binding: whether the
sequence number also travels on the wire (and in how many bytes), whether
random padding follows the application data, and what wraps the SPDM message
inside the application data.  :class:`RecordFormat` holds those parameters;
:data:`DOE_RECORDS` is PCI DOE's, the other bindings define theirs next to
their codecs (``spdm.transport.mctp``, ``spdm.transport.tcp_binding``).  With
a wire sequence number the record reads::

    SessionID(4) | SequenceNumber(n) | Length(2) | AEAD( AppDataLength(2) | AppData | RandomPad ) | MAC(16)

and the AAD is SessionID || SequenceNumber || Length.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from dataclasses import field
from typing import Final

from spdm.crypto import AeadCipher
from spdm.errors import DecodeError, LocalProtocolError, RemoteProtocolError, SpdmErrorCode, VerificationError
from spdm.keyschedule import KeySchedule
from spdm.messages.codes import AeadSuite

from .record import record

__all__ = [
    "DOE_RECORDS",
    "SEQUENCE_LIMIT",
    "RecordFormat",
    "DirectionState",
    "SequenceExhausted",
    "SessionKeys",
    "open_record",
    "record_session_id",
    "seal",
]

_log = logging.getLogger(__name__)

SEQUENCE_LIMIT: Final = 2**64 - 1
"""The first sequence number that may not be used: libspdm refuses 2^64-1, so the counter never wraps."""

_HEADER: Final = struct.Struct("<IH")  # SessionID (ReqSessionID | RspSessionID << 16), Length
_APP_LENGTH: Final = struct.Struct("<H")
_TAG_SIZE: Final = 16  # spdm.crypto.aead_tag_size: 16 for every suite AeadCipher accepts
_NONCE_SIZE: Final = 12


def _unchanged(data: bytes) -> bytes:
    return data


@record(frozen=True)
class RecordFormat:
    """What a transport binding decides about DSP0277 records (the parameters DSP0277 leaves open).

    Attributes:
        sequence_size: bytes of the sequence number carried on the wire after the
            SessionID (little-endian, its low bytes; 0: implicit only, as on DOE and TCP).
            The nonce always uses the full 64-bit implicit number; a received wire
            number must equal its low bytes.
        max_padding: the most random padding a sender may append after the
            application data (0: none).  A receiver ignores whatever padding
            comes (it is authenticated); devsec sends none, which DSP0277 allows.
        trailing_zeros: zero bytes that may follow a record inside its transport
            unit (DOE pads its object to a dword: 3).
        frame: wraps an SPDM message as the record's application data (the
            binding's own message header, if it repeats it inside the record).
        unframe: the inverse of ``frame``; raises DecodeError on a wrong header.
    """

    sequence_size: int = 0
    max_padding: int = 0
    trailing_zeros: int = 0
    frame: Callable[[bytes], bytes] = _unchanged
    unframe: Callable[[bytes], bytes] = _unchanged


DOE_RECORDS: Final = RecordFormat(trailing_zeros=3)
"""PCI DOE: no sequence number on the wire, no random padding, the SPDM message as application data."""


class SequenceExhausted(LocalProtocolError):
    """This direction used its last sequence number: the session must key-update or end."""


@record
class DirectionState:
    """One direction of one session phase: traffic key, IV and implicit sequence number.

    Key, IV and secret never appear in ``repr`` (R13).

    Attributes:
        schedule: the session's key schedule (needed again for key updates).
        aead: the negotiated AEAD suite.
        secret: the direction secret the key and IV came from (the key-update root).
        key: the AEAD key.
        iv: the AEAD IV (the per-record nonce is ``iv XOR LE64(seq)``).
        seq: the sequence number the next record in this direction uses.
        mac_only: the session authenticates but does not encrypt (MAC_CAP without ENCRYPT_CAP).
        record_format: the transport binding's record parameters.
    """

    schedule: KeySchedule
    aead: AeadSuite
    secret: bytes = field(repr=False)
    key: bytes = field(repr=False)
    iv: bytes = field(repr=False)
    seq: int = 0
    mac_only: bool = False
    record_format: RecordFormat = DOE_RECORDS
    _cipher: AeadCipher = field(init=False, repr=False, compare=False)
    _iv_int: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Per-record work is on the hot path (bench/bench_session.py): expand the key and
        # convert the IV once per direction, not once per record.
        self._cipher = AeadCipher(self.aead, self.key)
        self._iv_int = int.from_bytes(self.iv, "little")

    @classmethod
    def from_secret(
        cls, schedule: KeySchedule, secret: bytes, aead: AeadSuite, *, mac_only: bool = False,
        record_format: RecordFormat = DOE_RECORDS,
    ) -> DirectionState:
        """Derive key and IV from a handshake or data secret; the sequence number starts at 0.

        Args:
            schedule: the session's key schedule.
            secret: the direction secret.
            aead: the negotiated AEAD suite.
            mac_only: a MAC-only session.
            record_format: the transport binding's record parameters.

        Returns:
            A state at sequence number 0.

        Raises:
            ConfigurationError: unsupported AEAD suite.
        """
        key, iv = schedule.traffic_keys(secret, aead)
        return cls(schedule=schedule, aead=AeadSuite(aead), secret=secret, key=key, iv=iv,
                   mac_only=mac_only, record_format=record_format)

    def _updated(self) -> DirectionState:
        # The next key generation of this direction ("traffic upd"; sequence number 0).
        return DirectionState.from_secret(
            self.schedule, self.schedule.update(self.secret), self.aead, mac_only=self.mac_only,
            record_format=self.record_format)

    def _nonce(self) -> bytes:
        # The sequence number, little-endian, XORed into nonce bytes 0..7: mandated by DSP0277
        # 1.2+, integrator-defined before and libspdm's default there too (PROTOCOLS.md §7.3).
        return (self._iv_int ^ self.seq).to_bytes(_NONCE_SIZE, "little")

    def _check_sequence(self) -> None:
        if self.seq >= SEQUENCE_LIMIT:
            raise SequenceExhausted("sequence numbers exhausted: update the keys or end the session")


def seal(state: DirectionState, session_id: int, message: bytes, *, padding: bytes = b"") -> bytes:
    """Protect one SPDM message as a secured-message record and advance the sequence number.

    Args:
        state: the sending direction (its ``seq`` goes up by one).
        session_id: the 32-bit SessionID (``ReqSessionID | RspSessionID << 16``).
        message: the SPDM message (framed as application data by ``state.record_format``).
        padding: random padding after the application data (at most the format's
            ``max_padding``; devsec's engines send none).

    Returns:
        The record without the transport's header or trailing padding.

    Raises:
        SequenceExhausted: the direction's counter reached :data:`SEQUENCE_LIMIT`.
        LocalProtocolError: the session ID is not 32 bits, the message does not
            fit Length, or the padding is longer than the format allows.
    """
    seq = state.seq
    if seq >= SEQUENCE_LIMIT:
        state._check_sequence()
    if not 0 <= session_id <= 0xFFFFFFFF:
        raise LocalProtocolError(f"session ID {session_id:#x} is not 32 bits")
    fmt = state.record_format
    if len(padding) > fmt.max_padding or (padding and state.mac_only):
        raise LocalProtocolError(f"{len(padding)} byte(s) of random padding: the binding allows "
                                 f"{0 if state.mac_only else fmt.max_padding}")
    app_data = fmt.frame(message)
    size = len(app_data)
    length = size + _TAG_SIZE if state.mac_only else _APP_LENGTH.size + size + len(padding) + _TAG_SIZE
    if length > 0xFFFF:
        raise LocalProtocolError(f"SPDM message of {len(message)} bytes does not fit one secured record")
    if fmt.sequence_size:
        header = (session_id.to_bytes(4, "little")
                  + (seq & ((1 << 8 * fmt.sequence_size) - 1)).to_bytes(fmt.sequence_size, "little")
                  + _APP_LENGTH.pack(length))
    else:
        header = _HEADER.pack(session_id, length)
    nonce = state._nonce()
    if state.mac_only:
        record = header + app_data + state._cipher.seal(nonce, b"", header + app_data)
    else:
        record = header + state._cipher.seal(nonce, _APP_LENGTH.pack(size) + app_data + padding, header)
    state.seq = seq + 1
    return record


def record_session_id(record: bytes) -> int:
    """The SessionID of a received record, to find its session before opening it.

    Raises:
        DecodeError: shorter than the SessionID and Length fields.
    """
    if len(record) < _HEADER.size:
        raise DecodeError(f"secured message of {len(record)} byte(s) is shorter than its header")
    session_id: int = _HEADER.unpack_from(record)[0]
    return session_id


def open_record(state: DirectionState, record: bytes, *, expected_session_id: int | None = None) -> bytes:
    """Authenticate and decrypt one record; advance the sequence number only on success.

    On any error ``state`` is unchanged and the caller must tear the session
    down: DSP0277 has no resynchronisation, and a failed record means a forgery,
    a lost record or a peer on other keys.

    Args:
        state: the receiving direction.
        record: the record as received, optionally followed by the transport's
            zero padding (``record_format.trailing_zeros``: DOE's, at most 3 bytes).
        expected_session_id: the session this record must belong to, if known.

    Returns:
        The inner SPDM message (unframed by ``state.record_format``).

    Raises:
        RemoteProtocolError: the SessionID is not ``expected_session_id``
            (``error_code`` INVALID_SESSION: libspdm's internal code for an
            unknown session, removed from DSP0274; a responder drops such a
            record without answering, since it cannot know which session to answer in).
        DecodeError: the record is truncated, Length runs past the data or is
            too short for a tag, non-zero or over-long bytes follow the record,
            AppDataLength runs past the plaintext, or the binding's inner header is wrong.
        VerificationError: the MAC does not verify, or the wire sequence number
            is not the expected one (a replayed or lost record).
        SequenceExhausted: the direction's counter reached :data:`SEQUENCE_LIMIT`.
    """
    fmt = state.record_format
    header_size = _HEADER.size + fmt.sequence_size
    if len(record) < header_size:
        raise DecodeError(f"secured message of {len(record)} byte(s) is shorter than its header")
    session_id: int = _HEADER.unpack_from(record)[0]
    if expected_session_id is not None and session_id != expected_session_id:
        raise RemoteProtocolError(
            f"secured message for session {session_id:#010x}, expected {expected_session_id:#010x}",
            error_code=SpdmErrorCode.INVALID_SESSION)
    length: int = _APP_LENGTH.unpack_from(record, header_size - _APP_LENGTH.size)[0]
    seq = state.seq
    if seq >= SEQUENCE_LIMIT:
        state._check_sequence()
    if fmt.sequence_size:
        wire_seq = int.from_bytes(record[4:4 + fmt.sequence_size], "little")
        if wire_seq != seq & ((1 << 8 * fmt.sequence_size) - 1):
            raise VerificationError(f"secured message with sequence number {wire_seq:#x}, expected the "
                                    f"low bytes of {seq:#x}")
    nonce = state._nonce()
    end = header_size + length
    if len(record) < end:
        raise DecodeError(f"secured message Length {length} runs past its {len(record) - header_size} bytes")
    if len(record) > end and (len(record) - end > fmt.trailing_zeros or any(record[end:])):
        raise DecodeError(f"{len(record) - end} byte(s) after the secured message are not transport padding")
    # Plain slices, not memoryviews: cryptography takes bytes faster than other buffers.
    if state.mac_only:
        if length < _TAG_SIZE:
            raise DecodeError(f"secured message Length {length} is shorter than the {_TAG_SIZE}-byte MAC")
        app_data = record[header_size:end - _TAG_SIZE]
        state._cipher.open(nonce, record[end - _TAG_SIZE:end], record[:end - _TAG_SIZE])
    else:
        if length < _APP_LENGTH.size + _TAG_SIZE:
            raise DecodeError(f"secured message Length {length} cannot hold AppDataLength and the MAC")
        plaintext = state._cipher.open(nonce, record[header_size:end], record[:header_size])
        app_length: int = _APP_LENGTH.unpack_from(plaintext)[0]
        if app_length > len(plaintext) - _APP_LENGTH.size:
            raise DecodeError(
                f"AppDataLength {app_length} exceeds the {len(plaintext) - _APP_LENGTH.size} decrypted bytes")
        # Bytes after the application data are DSP0277 random padding: authenticated, ignored.
        app_data = plaintext[_APP_LENGTH.size:_APP_LENGTH.size + app_length]
    message = fmt.unframe(app_data)
    state.seq = seq + 1
    return message


@record
class SessionKeys:
    """Both directions of one session phase, plus the KEY_UPDATE backup.

    Key update (DSP0274 KEY_UPDATE, PROTOCOLS.md §3.11/§6.5) with these calls:

    * requester: seal KEY_UPDATE with the current keys, then ``update(both=...)``;
      open the ACK; on success send VerifyNewKey and ``commit_update()``, on
      failure ``rollback_update()``.
    * responder: open KEY_UPDATE, ``update(both=...)``, seal the ACK (already
      under the new response key for UpdateAllKeys, as libspdm does); open
      VerifyNewKey under the new request key and ``commit_update()``.

    Attributes:
        request: requester-to-responder direction.
        response: responder-to-requester direction.
    """

    request: DirectionState
    response: DirectionState
    _backup: tuple[DirectionState, DirectionState] | None = field(
        default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_secrets(
        cls,
        schedule: KeySchedule,
        request_secret: bytes,
        response_secret: bytes,
        aead: AeadSuite,
        *,
        mac_only: bool = False,
        record_format: RecordFormat = DOE_RECORDS,
    ) -> SessionKeys:
        """Both directions from a phase's two secrets (handshake or data).

        Args:
            schedule: the session's key schedule.
            request_secret: the request-direction secret of the phase.
            response_secret: the response-direction secret of the phase.
            aead: the negotiated AEAD suite.
            mac_only: a MAC-only session.
            record_format: the transport binding's record parameters.

        Raises:
            ConfigurationError: unsupported AEAD suite.
        """
        return cls(
            DirectionState.from_secret(schedule, request_secret, aead, mac_only=mac_only,
                                       record_format=record_format),
            DirectionState.from_secret(schedule, response_secret, aead, mac_only=mac_only,
                                       record_format=record_format),
        )

    @property
    def update_pending(self) -> bool:
        """A key update was derived and is neither committed nor rolled back."""
        return self._backup is not None

    def update(self, *, both: bool) -> None:
        """Switch to the next key generation, keeping the current one as backup.

        Args:
            both: UpdateAllKeys (both directions); otherwise UpdateKey (request only).

        Raises:
            LocalProtocolError: an update is already pending.
        """
        if self._backup is not None:
            raise LocalProtocolError("a key update is already pending")
        self._backup = (self.request, self.response)
        self.request = self.request._updated()
        if both:
            self.response = self.response._updated()
        _log.debug("key update derived (%s)", "both directions" if both else "request direction")

    def update_response(self) -> None:
        """Responder-initiated UpdateKey (an encapsulated KEY_UPDATE): only the
        responder-to-requester direction moves to its next key, at once.

        Both sides switch when the requester's KEY_UPDATE_ACK is delivered; the
        VerifyNewKey that follows already travels under the new key.

        Raises:
            LocalProtocolError: a requester-initiated update is pending.
        """
        if self._backup is not None:
            raise LocalProtocolError("a key update is already pending")
        self.response = self.response._updated()
        _log.debug("responder-initiated key update (response direction)")

    def commit_update(self) -> None:
        """Drop the backup: the new keys proved to work (VerifyNewKey).

        Raises:
            LocalProtocolError: no update is pending.
        """
        if self._backup is None:
            raise LocalProtocolError("no key update to commit")
        self._backup = None
        _log.debug("key update committed")

    def rollback_update(self) -> None:
        """Return to the keys and sequence numbers from before :meth:`update`.

        Raises:
            LocalProtocolError: no update is pending.
        """
        if self._backup is None:
            raise LocalProtocolError("no key update to roll back")
        self.request, self.response = self._backup
        self._backup = None
        _log.debug("key update rolled back")
