"""More adversarial cases: a broken handshake, key update or DIGESTS, a replayed signed answer.

As in :mod:`.adversarial`, a conformant requester must exit non-zero, and a
case whose fault the requester never reached is skipped, saying so.  Faults
inside a session act on the device side, on the plaintext response before
the responder seals it (:meth:`.adversarial.Rewrite.inside`): nothing here
decrypts a record.
"""

from __future__ import annotations

from collections.abc import Callable

from spdm.crypto import hash_size
from spdm.messages.codes import BaseHashAlgo, RequestCode, ResponseCode
from spdm.state import KeyUpdateOperation

from .adversarial import Rewrite, refused_once_reached
from .context import RequesterContext
from .registry import case

__all__ = ["HandshakeSignature", "Replay", "bad_key_exchange_signature", "bad_verify_data",
           "digests_mismatch", "replayed", "wrong_key_update_tag"]
"""The case judges (registered with :func:`.registry.case`; run them through the runner)."""

_SIGNATURE_REQUESTED = 0x01
_UPDATES = frozenset({KeyUpdateOperation.UPDATE_KEY, KeyUpdateOperation.UPDATE_ALL_KEYS})
_VERIFY_DATA_BYTE = 8
"""KEY_EXCHANGE_RSP ends with ResponderVerifyData (H >= 32 bytes, when the handshake is not in the
clear, as on this device): 8 bytes from the end is inside it whatever DOE pad (at most 3) follows."""


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1:]


class HandshakeSignature:
    """Flips a byte of KEY_EXCHANGE_RSP's signature, which sits just before ResponderVerifyData (H bytes).

    H is the hash ALGORITHMS selected, read from the device's own answer.
    """

    def __init__(self) -> None:
        self.triggered = 0
        self._hash_size = 0

    def respond(self, request: bytes, ask: Callable[[bytes], bytes], *, secured: bool) -> bytes:
        """The healthy response; KEY_EXCHANGE_RSP with its signature broken."""
        response = ask(request)
        if secured or len(response) < 20:
            return response
        if response[1] == ResponseCode.ALGORITHMS:
            self._hash_size = hash_size(BaseHashAlgo(int.from_bytes(response[16:20], "little")))
        elif response[1] == ResponseCode.KEY_EXCHANGE_RSP and self._hash_size:
            self.triggered += 1
            # Signature | ResponderVerifyData(H) | pad (<= 3): 16 bytes before H from the end
            # is inside any signature (64 bytes or more).
            return _flip(response, len(response) - self._hash_size - 16)
        return response

    def inside(self, request: bytes, response: bytes) -> bytes:
        """In-session responses stay healthy."""
        return response


class Replay:
    """Records CHALLENGE_AUTH and signed MEASUREMENTS in the first run and answers the second with them.

    The replayed answer is signed over the first run's nonce, not the one the
    requester just sent: only a requester that checks the signature over its
    own fresh nonce notices.
    """

    def __init__(self) -> None:
        self.triggered = 0
        self._recorded: dict[int, list[bytes]] = {}
        self._replayed: dict[int, int] = {}
        self._replaying = False

    def next_run(self) -> None:
        """From now on replay what the first run got."""
        self._replaying, self._replayed = True, {}

    def respond(self, request: bytes, ask: Callable[[bytes], bytes], *, secured: bool) -> bytes:
        """The healthy response in the first run; the first run's signed answer in later ones."""
        response = ask(request)
        if secured or not _signed_answer(request, response):
            return response
        code = request[1]
        if not self._replaying:
            self._recorded.setdefault(code, []).append(response)
            return response
        index = self._replayed.get(code, 0)
        earlier = self._recorded.get(code, [])
        if index >= len(earlier):
            return response
        self._replayed[code] = index + 1
        self.triggered += 1
        return earlier[index]

    def inside(self, request: bytes, response: bytes) -> bytes:
        """In-session responses stay healthy."""
        return response


def _signed_answer(request: bytes, response: bytes) -> bool:
    if len(request) < 4 or len(response) < 2:
        return False
    if request[1] == RequestCode.CHALLENGE:
        return response[1] == ResponseCode.CHALLENGE_AUTH
    return (request[1] == RequestCode.GET_MEASUREMENTS and bool(request[2] & _SIGNATURE_REQUESTED)
            and response[1] == ResponseCode.MEASUREMENTS)


def _wrong_tag(request: bytes, response: bytes) -> bytes:
    return response[:3] + bytes([response[3] ^ 0xFF]) + response[4:]


def _an_update(request: bytes, response: bytes) -> bool:
    return request[2] in _UPDATES


def _flip_verify_data(request: bytes, response: bytes) -> bytes:
    return _flip(response, len(response) - _VERIFY_DATA_BYTE)


def _flip_first_digest(request: bytes, response: bytes) -> bytes:
    # DIGESTS: header(4), then the digest of each provisioned slot, the first at offset 4.
    return _flip(response, 4) if len(response) > 4 else response


@case("requester.key-exchange.bad-signature", "KEY_EXCHANGE_RSP whose signature is off by one byte "
      "ends the handshake", "DSP0274 1.3 Tables 64-66; PROTOCOLS.md §5.4", misbehaviour=HandshakeSignature)
def bad_key_exchange_signature(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "the KEY_EXCHANGE_RSP signature does not verify", "KEY_EXCHANGE")


@case("requester.key-exchange.bad-verify-data", "KEY_EXCHANGE_RSP whose ResponderVerifyData is wrong "
      "ends the handshake (FINISH_RSP carries none: this device keeps the handshake secured)",
      "DSP0274 1.3 Tables 66, 68; PROTOCOLS.md §6.4",
      misbehaviour=lambda: Rewrite(RequestCode.KEY_EXCHANGE, _flip_verify_data))
def bad_verify_data(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "the ResponderVerifyData does not match the transcript", "KEY_EXCHANGE")


@case("requester.key-update.wrong-tag", "A KEY_UPDATE_ACK echoing another Tag is refused",
      "DSP0274 1.3 Tables 75-76; PROTOCOLS.md §3.11",
      misbehaviour=lambda: Rewrite(RequestCode.KEY_UPDATE, _wrong_tag, _an_update, in_session=True))
def wrong_key_update_tag(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "KEY_UPDATE_ACK echoes another Tag", "KEY_UPDATE (it does no key update)")


@case("requester.digests.mismatch", "DIGESTS that do not match the chain served are refused",
      "DSP0274 1.3 Tables 27-31; PROTOCOLS.md §3.4-§3.5",
      misbehaviour=lambda: Rewrite(RequestCode.GET_DIGESTS, _flip_first_digest))
def digests_mismatch(ctx: RequesterContext) -> None:
    if not any(run.requests(RequestCode.GET_CERTIFICATE) for run in ctx.runs):
        ctx.skip("the requester never fetched the chain the digest is of (no GET_CERTIFICATE)")
    refused_once_reached(ctx, "slot 0's digest is not the hash of the chain served", "GET_DIGESTS")


@case("requester.nonces.replayed", "A CHALLENGE_AUTH or signed MEASUREMENTS replayed from the "
      "previous run (signed over its nonce) is refused",
      "DSP0274 1.3 Tables 32-35, 40-42; PROTOCOLS.md §5.2-§5.3",
      misbehaviour=Replay, runs=2)
def replayed(ctx: RequesterContext) -> None:
    first, second = ctx.runs
    ctx.succeeded(first)
    if not second.triggered:
        ctx.skip("the requester sent no CHALLENGE or signed GET_MEASUREMENTS in both runs")
    last = second.last_clear
    ctx.check("the requester fails when the device replays the previous run's signed answer",
              second.status not in (0, None), expected="a non-zero exit status",
              actual=f"{second.status_text}; {second.output}", exchange=last)
