"""A case's own authentication exchanges, with the transcripts a signature covers kept as it goes.

The signature cases judge CHALLENGE_AUTH and signed MEASUREMENTS themselves,
not through devsec's requester engine, so that a failure names the exact
field and exchange.  The transcripts (A, B, C, M; PROTOCOLS.md §5) are kept
by the shared :class:`spdm.transcript.Transcript`, which holds the reset
rules once for the requester and the responder: this module only feeds it
every request and response, exactly as exchanged (no DOE padding).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

from spdm.codec import CodecContext, Message
from spdm.config import DEFAULT_CERTIFICATE_PORTION
from spdm.crypto import SigningAlgo, SpdmCertChain, parse_spdm_cert_chain, verify
from spdm.errors import DevsecError, VerificationError
from spdm.messages import (
    Algorithms,
    Capabilities,
    Certificate,
    Challenge,
    ChallengeAuth,
    Digests,
    GetCapabilities,
    GetCertificate,
    GetDigests,
    GetMeasurements,
    GetVersion,
    Measurements,
)
from spdm.messages import Version as VersionResponse
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, PqcAsymAlgo, SpdmVersion
from spdm.requester import CHALLENGE_CONTEXT, MEASUREMENTS_CONTEXT
from spdm.transcript import Transcript

from .context import CaseContext
from .requests import codec_context, get_capabilities, negotiate_algorithms

__all__ = ["CONTEXTS", "AuthConnection", "PortionJudge"]

M = TypeVar("M", bound=Message)
PortionJudge = Callable[[int, int, Certificate], None]
"""Judges one CERTIFICATE portion: (the requested Offset, the requested Length, the response)."""

MAX_PORTIONS = 256
"""Portions fetched for one chain before the case gives up (a device that never finishes)."""
CERTIFICATE_CLAUSE = "DSP0274 1.3 Tables 29-31"
CONTEXTS = {"challenge": CHALLENGE_CONTEXT, "measurements": MEASUREMENTS_CONTEXT}
"""The 1.2+ signing context strings of the two signatures these cases judge (PROTOCOLS.md §4.1)."""


class AuthConnection:
    """One case's connection: VCA, then any GET_DIGESTS / GET_CERTIFICATE / CHALLENGE / GET_MEASUREMENTS.

    Attributes:
        ctx: the case run.
        transcript: A, B and M as the device must have them too.
        algorithms: the device's ALGORITHMS (after :meth:`vca`).
        codec: the sizes its responses use.
        chains: the chains fetched so far, by slot.
    """

    def __init__(self, ctx: CaseContext) -> None:
        self.ctx = ctx
        self.transcript = Transcript()
        self.algorithms: Algorithms | None = None
        self.codec = CodecContext()
        self.chains: dict[int, bytes] = {}

    @property
    def hash_alg(self) -> BaseHashAlgo:
        """The negotiated BaseHashAlgo."""
        assert self.algorithms is not None
        return BaseHashAlgo(self.algorithms.base_hash_sel)

    @property
    def asym_alg(self) -> SigningAlgo:
        """The negotiated signature algorithm: the BaseAsymAlgo, or (1.4) the PqcAsymAlgo."""
        assert self.algorithms is not None
        if self.algorithms.pqc_asym_sel:
            return PqcAsymAlgo(self.algorithms.pqc_asym_sel)
        return BaseAsymAlgo(self.algorithms.base_asym_sel)

    def exchange(self, request: Message, cls: type[M], codec: CodecContext | None = None,
                 *, reference: str | None = None) -> M:
        """Send ``request`` (the transcript's resets applied first) and decode the answer as ``cls``.

        Raises:
            CaseAborted: the answer is an ERROR, another message, or malformed.
        """
        self.transcript.begin(request.CODE)
        return self.ctx.decode(cls, self.ctx.send(request), codec or self.codec, reference=reference)

    def vca(self, capabilities: GetCapabilities | None = None) -> Algorithms:
        """GET_VERSION, GET_CAPABILITIES (devsec's, unless given), NEGOTIATE_ALGORITHMS, kept as A."""
        version = self.ctx.version
        steps: tuple[tuple[Message, type[Message], str], ...] = (
            (GetVersion(), VersionResponse, "DSP0274 1.3 §10.3"),
            (capabilities or get_capabilities(version), Capabilities, "DSP0274 1.3 §10.4"),
            (negotiate_algorithms(version), Algorithms, "DSP0274 1.3 §10.5"),
        )
        for message, cls, reference in steps:
            sent = message.encode()
            response = self.exchange(message, cls, reference=reference)
            self.transcript.add_vca(sent, response.raw)
            if isinstance(response, Algorithms):
                self.algorithms = response
        assert self.algorithms is not None
        self.codec = codec_context(self.algorithms)
        return self.algorithms

    def digests(self) -> Digests:
        """GET_DIGESTS (B starts over), kept in B."""
        request = GetDigests(spdm_version=self.ctx.version)
        response = self.exchange(request, Digests, reference="DSP0274 1.3 Tables 27-28")
        self.transcript.add_b(request.encode(), response.raw)
        return response

    def certificate(self, slot: int, offset: int, length: int, attributes: int = 0) -> Certificate:
        """One GET_CERTIFICATE / CERTIFICATE (Param2 ``attributes``, 1.3), kept in B."""
        request = GetCertificate(spdm_version=self.ctx.version, slot_id=slot, attributes=attributes,
                                 offset=offset, length=length)
        response = self.exchange(request, Certificate, reference=CERTIFICATE_CLAUSE)
        self.transcript.add_b(request.encode(), response.raw)
        return response

    def chain(self, slot: int, on_portion: PortionJudge | None = None) -> bytes:
        """A slot's whole chain, in portions, each kept in B.

        Args:
            slot: the slot.
            on_portion: called with (Offset, Length, CERTIFICATE) right after each
                portion, so its assertions carry that exchange.

        Raises:
            CaseAborted: a portion is not a CERTIFICATE, or the chain never ends.
        """
        chain = b""
        for _ in range(MAX_PORTIONS):
            portion = self.certificate(slot, len(chain), DEFAULT_CERTIFICATE_PORTION)
            if on_portion is not None:
                on_portion(len(chain), DEFAULT_CERTIFICATE_PORTION, portion)
            chain += portion.cert_chain
            if portion.remainder_length == 0:
                self.chains[slot] = chain
                return chain
            self.ctx.require("a CERTIFICATE with RemainderLength > 0 carries bytes",
                             bool(portion.cert_chain), expected="PortionLength > 0", actual=0,
                             reference=CERTIFICATE_CLAUSE)
        self.ctx.require(f"the chain ends within {MAX_PORTIONS} portions", False,
                         expected="RemainderLength 0", actual=f"{len(chain)} bytes and more",
                         reference=CERTIFICATE_CLAUSE)
        raise AssertionError("unreachable")

    def parsed_chain(self, slot: int) -> SpdmCertChain | None:
        """The slot's fetched chain parsed (header, RootHash, DER); None after a failed assertion."""
        try:
            return parse_spdm_cert_chain(self.chains[slot], self.hash_alg)
        except DevsecError as exc:
            self.ctx.check(f"slot {slot}'s chain is a well-formed SPDM certificate chain", False,
                           expected="Length = size, RootHash = hash(first certificate), DER certificates",
                           actual=str(exc), reference="DSP0274 1.3 Table 33; PROTOCOLS.md §3.5")
            return None

    def challenge(self, request: Challenge, *, summary: bool) -> tuple[ChallengeAuth, bytes]:
        """CHALLENGE; returns CHALLENGE_AUTH and M1, the transcript its signature must cover.

        Args:
            request: the CHALLENGE.
            summary: the response carries a MeasurementSummaryHash (type not none).
        """
        sent = request.encode()
        codec = dataclasses.replace(self.codec, measurement_summary=summary)
        auth = self.exchange(request, ChallengeAuth, codec, reference="DSP0274 1.3 Tables 32-35")
        m1 = self.transcript.m1(sent, auth.raw[:len(auth.raw) - len(auth.signature)])
        self.transcript.challenge_done(success=True)
        return auth, m1

    def measurements(self, request: GetMeasurements) -> tuple[Measurements, bytes]:
        """GET_MEASUREMENTS, kept in M; returns MEASUREMENTS and L1 (meaningful when signed)."""
        sent = request.encode()
        codec = dataclasses.replace(self.codec, signed=request.signature_requested)
        response = self.exchange(request, Measurements, codec, reference="DSP0274 1.3 Tables 40, 42")
        self.transcript.add_measurements(sent, response.raw[:len(response.raw) - len(response.signature)])
        l1 = self.transcript.l1(self.ctx.version)
        if request.signature_requested:
            self.transcript.measurements_done()
        return response, l1

    def judge_signature(self, what: str, slot: int, context: str, transcript: bytes, signature: bytes,
                        *, reference: str) -> bool:
        """Record whether ``signature`` verifies over ``transcript`` with the slot's leaf key.

        The version's rule applies: the bare transcript before 1.2, the
        combined prefix and the transcript's hash from 1.2 (PROTOCOLS.md §4).
        """
        parsed = self.parsed_chain(slot)
        if parsed is None:
            return False
        try:
            verify(parsed.leaf.public_key(), self.asym_alg, self.hash_alg, SpdmVersion(self.ctx.version),
                   context, transcript, signature)
        except VerificationError as exc:
            return self.ctx.check(what, False, expected=f"a signature over the {len(transcript)}-byte "
                                  "transcript with the slot's leaf key", actual=str(exc), reference=reference)
        return self.ctx.check(what, True, expected="verifies", actual="verifies", reference=reference)
