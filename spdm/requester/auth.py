"""Requester commands and checks for authentication: digests, certificates, challenge, measurements.

Also VENDOR_DEFINED_REQUEST, the carrier the vendor protocols ride in.
"""

from __future__ import annotations

from datetime import datetime

from ..config import DeferredTrust
from ..crypto import (
    SpdmCertChain,
    constant_time_equal,
    digest,
    measurement_hash_size,
    parse_spdm_cert_chain,
    signing_context_prefix,
    validate_cert_chain,
    verify,
)
from ..errors import ConfigurationError, LocalProtocolError, RemoteProtocolError, VerificationError
from ..events import (
    CertificateChainReceived,
    CertificateSizeReceived,
    ChallengeAuthenticated,
    DigestsReceived,
    MeasurementsReceived,
    SignedEvidence,
    VendorResponseReceived,
)
from ..messages import (
    NONCE_SIZE,
    SLOT_SIZE_REQUESTED,
    Certificate,
    Challenge,
    ChallengeAuth,
    Digests,
    GetCertificate,
    GetDigests,
    GetMeasurements,
    Measurements,
    VendorDefinedRequest,
    VendorDefinedResponse,
)
from ..messages.codes import (
    CapabilityFlags,
    MeasurementAttributes,
    MeasurementOperation,
    MeasurementSummaryHashType,
    RequestCode,
    SpdmVersion,
)
from ..messages.control import MAX_SMALL_VENDOR_PAYLOAD
from ..negotiation import MEAS_CAPS, Negotiated
from ..slot_keys import CERT_MODEL_MASK, SlotKey, check_digests, check_key_usage, usage_allows
from .encap import EncapCommands

__all__ = [
    "CHALLENGE_CONTEXT",
    "MAX_CERT_CHAIN_SIZE",
    "MAX_LARGE_CERT_CHAIN_SIZE",
    "MEASUREMENTS_CONTEXT",
    "AuthCommands",
    "uses_large_cert_chain",
    "uses_large_vendor_defined",
]


def uses_large_vendor_defined(negotiated: Negotiated) -> bool:
    """VENDOR_DEFINED_REQUEST goes in the 1.4 large form: 1.4 and both sides have LARGE_RESP_CAP.

    As the reference requester (spdm-emu's PCI DOE vendor library) decides:
    whenever the form is allowed, not only for a payload over 64 KiB, since
    the answer takes the request's form and its size is not known in advance.
    """
    return negotiated.version >= SpdmVersion.V14 and negotiated.both(CapabilityFlags.LARGE_RESP_CAP)


def uses_large_cert_chain(negotiated: Negotiated) -> bool:
    """GET_CERTIFICATE goes in the 1.4 LargeCertChain form: 1.4 and the responder has LARGE_RESP_CAP.

    As libspdm's requester decides (only the responder's flag counts; the
    reference requester sets its own too, as devsec's default does).
    """
    return negotiated.version >= SpdmVersion.V14 and bool(
        negotiated.responder_flags & CapabilityFlags.LARGE_RESP_CAP)

# Flags and attributes as plain ints: a Flag's & and | build a new member per operation.
_MEAS_CAPS = int(MEAS_CAPS)
_MEAS_CAP_SIG = int(CapabilityFlags.MEAS_CAP_SIG)
_SIGNATURE_REQUESTED = int(MeasurementAttributes.SIGNATURE_REQUESTED)
_RAW_BIT_STREAM_REQUESTED = int(MeasurementAttributes.RAW_BIT_STREAM_REQUESTED)
_NEW_MEASUREMENT_REQUESTED = int(MeasurementAttributes.NEW_MEASUREMENT_REQUESTED)

CHALLENGE_CONTEXT = "responder-challenge_auth signing"
MEASUREMENTS_CONTEXT = "responder-measurements signing"
MAX_CERT_CHAIN_SIZE = 0xFFFF
MAX_LARGE_CERT_CHAIN_SIZE = 0x40000
"""The largest chain accepted in the 1.4 LargeCertChain form: 256 KiB.

The reference asks for up to 0x27FF0 bytes (spdm14-p384); a chain of three
ML-DSA-87 certificates is ~25 KiB.  The bound keeps a hostile responder from
growing the reassembly (and transcript B, capped at 1 MiB) without end."""


class AuthCommands(EncapCommands):
    """Certificates, challenge, measurements and vendor-defined requests."""

    # ------------------------------------------------------------------ commands: authentication

    def get_digests(self) -> None:
        """Queue GET_DIGESTS."""
        negotiated = self._need_negotiated(RequestCode.GET_DIGESTS)
        self._need_caps(negotiated, CapabilityFlags.CERT_CAP, "GET_DIGESTS")
        self._send(GetDigests(spdm_version=negotiated.version))

    def get_certificate(self, slot_id: int, *, now: datetime) -> None:
        """Retrieve slot ``slot_id``'s whole chain (as many GET_CERTIFICATEs as it takes).

        Args:
            slot_id: 0-7.
            now: the time certificate validity is checked against.
        """
        negotiated = self._need_negotiated(RequestCode.GET_CERTIFICATE)
        self._need_caps(negotiated, CapabilityFlags.CERT_CAP, "GET_CERTIFICATE")
        if not 0 <= slot_id <= 7:
            raise LocalProtocolError(f"certificate slot {slot_id} is not 0-7")
        self._cert.start(slot_id, now)
        self._request_portion(negotiated)

    def get_certificate_size(self, slot_id: int) -> None:
        """Ask only how large slot ``slot_id``'s chain is (1.3 SlotSizeRequested).

        Ends in :class:`~spdm.events.CertificateSizeReceived`; nothing is
        validated (no chain comes), and the exchange enters transcript B like any
        GET_CERTIFICATE.

        Raises:
            LocalProtocolError: not allowed now, no CERT_CAP, before 1.3, or a
                slot outside 0-7.
        """
        negotiated = self._need_negotiated(RequestCode.GET_CERTIFICATE)
        self._need_caps(negotiated, CapabilityFlags.CERT_CAP, "GET_CERTIFICATE")
        if negotiated.version < SpdmVersion.V13:
            raise LocalProtocolError("SlotSizeRequested exists from SPDM 1.3")
        if not 0 <= slot_id <= 7:
            raise LocalProtocolError(f"certificate slot {slot_id} is not 0-7")
        flow = self._cert
        flow.end()
        flow.slot_id = slot_id
        flow.machine.advance(RequestCode.GET_CERTIFICATE)
        self._send(GetCertificate(spdm_version=negotiated.version, slot_id=slot_id,
                                  attributes=SLOT_SIZE_REQUESTED, offset=0, length=0))

    def challenge(
        self,
        slot_id: int = 0,
        summary: MeasurementSummaryHashType = MeasurementSummaryHashType.NONE,
    ) -> None:
        """Queue CHALLENGE for a slot whose chain was retrieved.

        Args:
            slot_id: the slot whose key must sign.
            summary: which measurement summary hash to ask for.
        """
        negotiated = self._need_negotiated(RequestCode.CHALLENGE)
        self._need_caps(negotiated, CapabilityFlags.CHAL_CAP, "CHALLENGE")
        if slot_id not in self.chains:
            raise LocalProtocolError(f"CHALLENGE slot {slot_id}: retrieve its certificate chain first")
        check_key_usage(negotiated, self.slot_keys, slot_id, RequestCode.CHALLENGE)
        summary = MeasurementSummaryHashType(summary)
        if summary and not int(negotiated.responder_flags) & _MEAS_CAPS:
            raise LocalProtocolError("a measurement summary hash needs a responder with MEAS_CAP")
        request = Challenge(
            spdm_version=negotiated.version,
            slot_id=slot_id,
            measurement_summary_hash_type=summary,
            nonce=self._random(NONCE_SIZE),
            requester_context=self._context(negotiated),
        )
        self._send(request)

    def get_measurements(
        self,
        operation: int = MeasurementOperation.ALL,
        *,
        signed: bool = True,
        raw_bit_stream: bool = False,
        new_measurement: bool = False,
        slot_id: int = 0,
        session_id: int | None = None,
        nonce: bytes | None = None,
    ) -> None:
        """Queue GET_MEASUREMENTS.

        Args:
            operation: 0 = number of indices, 0xFF = all blocks, else one index.
            signed: ask for a signature (needs the slot's chain).
            raw_bit_stream: ask for raw values instead of digests (1.2+).
            new_measurement: ask for fresh measurements (1.3+).
            slot_id: the slot whose key signs.
            session_id: send inside this established session (its own L1 transcript).
            nonce: the 32-byte nonce to send instead of a random one, so that a
                remote verifier's challenge ends up in the signed transcript
                (signed requests only).

        Raises:
            LocalProtocolError: not allowed now, a capability or chain is missing,
                or ``nonce`` is not 32 bytes or comes with an unsigned request.
        """
        negotiated = self._need_negotiated(RequestCode.GET_MEASUREMENTS)
        if nonce is not None:
            if not signed:
                raise LocalProtocolError("a measurement nonce needs a signed request")
            if len(nonce) != NONCE_SIZE:
                raise LocalProtocolError(f"a measurement nonce is {NONCE_SIZE} bytes, not {len(nonce)}")
        flags = int(negotiated.responder_flags)
        if not flags & _MEAS_CAPS:
            raise LocalProtocolError("the responder does not support measurements (no MEAS_CAP)")
        if signed and not flags & _MEAS_CAP_SIG:
            raise LocalProtocolError("the responder cannot sign measurements (MEAS_CAP without signature)")
        if signed and slot_id not in self.chains:
            raise LocalProtocolError(f"signed measurements from slot {slot_id}: retrieve its chain first")
        if signed:
            check_key_usage(negotiated, self.slot_keys, slot_id, RequestCode.GET_MEASUREMENTS)
        if not 0 <= operation <= 0xFF:
            raise LocalProtocolError(f"measurement operation {operation} is not a byte")
        attributes = _SIGNATURE_REQUESTED if signed else 0
        if raw_bit_stream:
            if negotiated.version < SpdmVersion.V12:
                raise LocalProtocolError("raw bit stream measurements need SPDM 1.2")
            attributes |= _RAW_BIT_STREAM_REQUESTED
        if new_measurement:
            if negotiated.version < SpdmVersion.V13:
                raise LocalProtocolError("new-measurement requests need SPDM 1.3")
            attributes |= _NEW_MEASUREMENT_REQUESTED
        request = GetMeasurements(
            spdm_version=negotiated.version,
            attributes=attributes,
            operation=operation,
            nonce=(self._random(NONCE_SIZE) if nonce is None else bytes(nonce)) if signed else None,
            slot_id=slot_id if signed and negotiated.version >= SpdmVersion.V11 else None,
            requester_context=self._context(negotiated),
        )
        self._send(request, session=self._established_session(session_id))

    def vendor_defined(
        self, standard_id: int, vendor_id: bytes, payload: bytes, *, session_id: int | None = None
    ) -> None:
        """Queue VENDOR_DEFINED_REQUEST (the carrier of IDE_KM and TDISP).

        At 1.4 with LARGE_RESP_CAP on both sides the request goes in the large
        form (LargeReq, 32-bit length: :func:`uses_large_vendor_defined`), so
        the request and the answer may exceed 64 KiB; otherwise in the small
        form, byte for byte as before 1.4.

        Args:
            standard_id: the registry ID (3 = PCI-SIG).
            vendor_id: the VendorID bytes.
            payload: the vendor protocol's message.
            session_id: send inside this established session (IDE_KM and TDISP must).

        Raises:
            LocalProtocolError: a payload over 64 KiB when the large form is not
                available (before 1.4, or a side without LARGE_RESP_CAP).
        """
        negotiated = self._need_negotiated(RequestCode.VENDOR_DEFINED_REQUEST)
        large = uses_large_vendor_defined(negotiated)
        if not large and len(payload) > MAX_SMALL_VENDOR_PAYLOAD:
            raise LocalProtocolError(
                f"a {len(payload)}-byte vendor payload needs SPDM 1.4 and LARGE_RESP_CAP on both sides")
        request = VendorDefinedRequest(
            spdm_version=negotiated.version,
            standard_id=standard_id,
            vendor_id=vendor_id,
            payload=payload,
            large=large,
        )
        self._send(request, session=self._established_session(session_id))

    def usable_slots(self, request_code: int) -> list[int]:
        """The slots whose chain we hold and whose key may sign the answer to ``request_code``
        (every such slot unless a multi-key DIGESTS restricted its key), ascending."""
        negotiated = self.negotiated
        multi_key = negotiated is not None and negotiated.multi_key
        return [slot for slot in sorted(self.chains)
                if not multi_key or slot not in self.slot_keys
                or usage_allows(self.slot_keys[slot].key_usage, request_code)]

    def _request_portion(self, negotiated: Negotiated) -> None:
        flow = self._cert
        request = GetCertificate(
            spdm_version=negotiated.version,
            slot_id=flow.slot_id,
            offset=len(flow.chain),
            length=self.config.certificate_portion,
            large_cert_chain=uses_large_cert_chain(negotiated),
        )
        flow.machine.advance(RequestCode.GET_CERTIFICATE)
        self._send(request)

    # authentication -------------------------------------------------------------------

    def _on_digests(self, request: GetDigests, response: Digests) -> None:
        negotiated = self.negotiated
        assert negotiated is not None
        check_digests(response, multi_key=negotiated.multi_key)
        self.transcript.add_b(request.raw, response.raw)
        self._digests_raw = response.raw  # [D] of the session transcript with MULTI_KEY_CONN
        self.digests = response.by_slot()
        self.slot_keys = {
            slot: SlotKey(kp, info & CERT_MODEL_MASK, usage)
            for slot, kp, info, usage in zip(self.digests, response.key_pair_ids,
                                             response.certificate_infos, response.key_usage_masks,
                                             strict=True)
        } if response.key_pair_ids else {}
        self._events.append(DigestsReceived(
            dict(self.digests), response.supported_slot_mask, response.provisioned_slot_mask,
            dict(self.slot_keys),
        ))

    def _on_certificate(self, request: GetCertificate, response: Certificate) -> None:
        if request.attributes & SLOT_SIZE_REQUESTED:
            self._on_certificate_size(request, response)
            return
        negotiated = self.negotiated
        flow = self._cert
        assert negotiated is not None and flow.now is not None
        slot_id, chain, now = flow.slot_id, flow.chain, flow.now
        if response.slot_id != slot_id:
            raise RemoteProtocolError(
                f"CERTIFICATE for slot {response.slot_id}, but slot {slot_id} was asked for"
            )
        if response.large_cert_chain != request.large_cert_chain:
            raise RemoteProtocolError("CERTIFICATE LargeCertChain differs from the request's")
        self.transcript.add_b(request.raw, response.raw)
        portion = response.cert_chain
        asked = request.length  # what this request asked (a followed capture may ask more than we would)
        if len(portion) > asked:
            raise RemoteProtocolError(f"CERTIFICATE portion of {len(portion)} bytes, asked for {asked}")
        chain += portion
        total = len(chain) + response.remainder_length
        limit = MAX_LARGE_CERT_CHAIN_SIZE if request.large_cert_chain else MAX_CERT_CHAIN_SIZE
        if total > limit:
            raise RemoteProtocolError(f"certificate chain of {total} bytes exceeds {limit}")
        # the chain's Length: u16 (then Reserved) before 1.4, u32 from 1.4 on
        width = 4 if negotiated.version >= SpdmVersion.V14 else 2
        if len(chain) >= width and int.from_bytes(chain[:width], "little") != total:
            raise RemoteProtocolError(
                f"slot {slot_id}: chain header says {int.from_bytes(chain[:width], 'little')} bytes, "
                f"portions add up to {total}"
            )
        if response.remainder_length:
            if not portion:
                raise RemoteProtocolError("CERTIFICATE returned an empty portion with data remaining")
            self._request_portion(negotiated)
            return
        flow.end()
        self._finish_chain(negotiated, slot_id, bytes(chain), now)

    def _on_certificate_size(self, request: GetCertificate, response: Certificate) -> None:
        self._cert.end()
        if response.slot_id != request.slot_id:
            raise RemoteProtocolError(
                f"CERTIFICATE for slot {response.slot_id}, but slot {request.slot_id}'s size was asked for")
        if response.cert_chain:
            raise RemoteProtocolError("CERTIFICATE carries a portion in answer to SlotSizeRequested")
        if response.remainder_length > MAX_CERT_CHAIN_SIZE:
            raise RemoteProtocolError(f"certificate chain of {response.remainder_length} bytes exceeds 65535")
        self.transcript.add_b(request.raw, response.raw)
        self._events.append(CertificateSizeReceived(request.slot_id, response.remainder_length))

    def _finish_chain(self, negotiated: Negotiated, slot_id: int, raw: bytes, now: datetime) -> None:
        chain = parse_spdm_cert_chain(raw, negotiated.hash_alg)
        expected = self.digests.get(slot_id)
        if expected is not None and not constant_time_equal(digest(negotiated.hash_alg, raw), expected):
            raise VerificationError(f"slot {slot_id}: the chain does not match its DIGESTS entry")
        anchors = self.config.trust_anchors
        deferred = isinstance(anchors, DeferredTrust)
        if not deferred and not anchors:
            raise ConfigurationError(
                "no trust decision: give trust_anchors (the roots device chains must lead to), "
                "or DEFER_TRUST to check trust yourself")
        validate_cert_chain(
            chain, chain.certificates[:1] if isinstance(anchors, DeferredTrust) else anchors,
            negotiated.signing_alg, now=now, role="responder",
        )
        self.chains[slot_id] = chain
        self._events.append(CertificateChainReceived(slot_id, chain, trusted=not deferred))

    def _on_challenge_auth(self, request: Challenge, response: ChallengeAuth) -> None:
        negotiated = self.negotiated
        assert negotiated is not None
        chain = self.chains[request.slot_id]
        if response.slot_id != request.slot_id:
            raise RemoteProtocolError(
                f"CHALLENGE_AUTH for slot {response.slot_id}, slot {request.slot_id} was challenged"
            )
        if response.requester_context != request.requester_context:
            raise RemoteProtocolError("CHALLENGE_AUTH does not echo the RequesterContext")
        if not constant_time_equal(response.cert_chain_hash, digest(negotiated.hash_alg, chain.raw)):
            raise VerificationError(
                f"CHALLENGE_AUTH CertChainHash is not the hash of slot {request.slot_id}'s chain"
            )
        unsigned = response.raw[: len(response.raw) - len(response.signature)]
        transcript = self.transcript.m1(request.raw, unsigned)
        evidence = self._evidence(
            negotiated, CHALLENGE_CONTEXT, request.slot_id, transcript, response.signature,
            request.nonce, response.nonce,
        )
        try:
            self._verify(negotiated, chain, evidence)
        except VerificationError:
            self.transcript.challenge_done(success=False)
            raise
        self.transcript.challenge_done(success=True)
        self._events.append(ChallengeAuthenticated(
            request.slot_id, response.measurement_summary_hash, response.basic_mut_auth_req,
            evidence,
        ))
        if response.basic_mut_auth_req:
            self._start_basic_mutual_auth(negotiated)

    def _on_measurements(self, request: GetMeasurements, response: Measurements) -> None:
        negotiated = self.negotiated
        assert negotiated is not None
        self._check_blocks(negotiated, request, response)
        if response.requester_context != request.requester_context:
            raise RemoteProtocolError("MEASUREMENTS does not echo the RequesterContext")
        unsigned = response.raw[: len(response.raw) - len(response.signature)]
        session = self._answered_session
        # Inside a session the session keeps its own message_m (PROTOCOLS.md §5.3).
        self.transcript.add_measurements(request.raw, unsigned, session)
        evidence = None
        if request.signature_requested:
            assert request.nonce is not None
            # SPDM 1.0 has no SlotIDParam: the signer is slot 0 and Param2 is reserved.
            slot_id = request.slot_id if request.slot_id is not None else 0
            try:
                if negotiated.version >= SpdmVersion.V11 and response.slot_id != slot_id:
                    raise RemoteProtocolError(
                        f"MEASUREMENTS signed with slot {response.slot_id}, "
                        f"slot {slot_id} was asked for"
                    )
                evidence = self._evidence(
                    negotiated, MEASUREMENTS_CONTEXT, slot_id,
                    self.transcript.l1(negotiated.version, session), response.signature,
                    request.nonce, response.nonce,
                )
                self._verify(negotiated, self.chains[slot_id], evidence)
            finally:
                self.transcript.measurements_done(session)
        self._events.append(MeasurementsReceived(
            request.operation, response.total_indices, response.blocks,
            response.content_changed, evidence,
        ))

    @staticmethod
    def _check_blocks(negotiated: Negotiated, request: GetMeasurements, response: Measurements) -> None:
        op = request.operation
        blocks = response.blocks
        if op == MeasurementOperation.QUERY_COUNT and blocks:
            raise RemoteProtocolError("MEASUREMENTS carries blocks in answer to a count query")
        if op not in (MeasurementOperation.QUERY_COUNT, MeasurementOperation.ALL) and (
            len(blocks) != 1 or blocks[0].index != op
        ):
            raise RemoteProtocolError(
                f"MEASUREMENTS for index {op} carries indices {[b.index for b in blocks]}"
            )
        indices = [b.index for b in blocks]
        if len(set(indices)) != len(indices):
            raise RemoteProtocolError(f"MEASUREMENTS repeats an index: {indices}")
        size = measurement_hash_size(negotiated.measurement_hash_alg)
        for block in blocks:
            if not block.raw_bit_stream and len(block.value) != size:
                raise RemoteProtocolError(
                    f"measurement {block.index}: a {len(block.value)}-byte digest, "
                    f"the measurement hash makes {size}"
                )

    def _on_vendor_defined(self, request: VendorDefinedRequest, response: VendorDefinedResponse) -> None:
        if response.large and not request.large:
            raise RemoteProtocolError("a LargeResp VENDOR_DEFINED_RESPONSE answers a small-form request")
        self._events.append(
            VendorResponseReceived(response.standard_id, response.vendor_id, response.payload)
        )

    # signatures ----------------------------------------------------------------------

    @staticmethod
    def _evidence(
        negotiated: Negotiated, context: str, slot_id: int, transcript: bytes,
        signature: bytes, requester_nonce: bytes, responder_nonce: bytes,
    ) -> SignedEvidence:
        prefix = (
            signing_context_prefix(negotiated.version, context)
            if negotiated.version >= SpdmVersion.V12 else b""
        )
        return SignedEvidence(
            context=context, version=negotiated.version, hash_alg=negotiated.hash_alg,
            asym_alg=negotiated.signing_alg, slot_id=slot_id, transcript=transcript,
            signature=signature, requester_nonce=requester_nonce,
            responder_nonce=responder_nonce, combined_prefix=prefix,
        )

    @staticmethod
    def _verify(negotiated: Negotiated, chain: SpdmCertChain, evidence: SignedEvidence) -> None:
        verify(
            chain.leaf.public_key(), negotiated.signing_alg, negotiated.hash_alg, negotiated.version,
            evidence.context, evidence.transcript, evidence.signature,
        )

