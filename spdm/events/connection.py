"""Events of a connection's own messages: VCA, certificates, CHALLENGE, measurements, vendor-defined, ERROR.

What a CMA authentication emits, with the :class:`Event` base and the
:class:`SignedEvidence` record every signed exchange carries (the sysfs
``signatures/`` log is rendered from it).  Frozen, slotted, past-tense (STYLE R5).
"""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING

from ..errors import SpdmErrorCode
from ..record import record

if TYPE_CHECKING:
    from ..crypto import SigningAlgo, SpdmCertChain
    from ..messages import MeasurementBlock
    from ..messages.codes import BaseHashAlgo, CapabilityFlags, SpdmVersion
    from ..negotiation import Negotiated
    from ..slot_keys import SlotKey

__all__ = [
    "AlgorithmsNegotiated",
    "CapabilitiesReceived",
    "CertificateChainReceived",
    "CertificateSizeReceived",
    "ChallengeAuthenticated",
    "DigestsReceived",
    "ErrorResponseReceived",
    "Event",
    "MeasurementsReceived",
    "RequestAnswered",
    "SignedEvidence",
    "VendorResponseReceived",
    "VersionNegotiated",
]


@record(frozen=True, slots=True)
class Event:
    """Base of every SPDM engine event."""


@record(frozen=True, slots=True)
class SignedEvidence:
    """One signature and everything needed to check it again later.

    Attributes:
        context: the signing context, e.g. ``"responder-challenge_auth signing"``.
        version: SPDM version (decides whether ``combined_prefix`` applies).
        hash_alg / asym_alg: the algorithms of the signature; ``asym_alg`` is a
            PqcAsymAlgo for an SPDM 1.4 ML-DSA signature (told apart by type).
        slot_id: the certificate slot whose leaf key signed.
        transcript: every signed byte, signature excluded (M1, L1, ...).
        signature: the signature as received.
        requester_nonce / responder_nonce: the two nonces inside the transcript.
        combined_prefix: the 100-byte 1.2+ prefix, empty before 1.2.
    """

    context: str
    version: SpdmVersion
    hash_alg: BaseHashAlgo
    asym_alg: SigningAlgo
    slot_id: int
    transcript: bytes = field(repr=False)
    signature: bytes = field(repr=False)
    requester_nonce: bytes = field(repr=False)
    responder_nonce: bytes = field(repr=False)
    combined_prefix: bytes = field(repr=False)


@record(frozen=True, slots=True)
class VersionNegotiated(Event):
    """VERSION arrived and a common version was chosen."""

    version: SpdmVersion
    responder_versions: tuple[int, ...]


@record(frozen=True, slots=True)
class CapabilitiesReceived(Event):
    """CAPABILITIES arrived."""

    flags: CapabilityFlags
    ct_exponent: int
    data_transfer_size: int
    max_spdm_msg_size: int


@record(frozen=True, slots=True)
class AlgorithmsNegotiated(Event):
    """ALGORITHMS was accepted: the connection is negotiated."""

    negotiated: Negotiated


@record(frozen=True, slots=True)
class DigestsReceived(Event):
    """DIGESTS arrived: slot -> digest of that slot's certificate chain.

    ``slot_keys`` (1.3 multi-key connections): slot -> its key pair, certificate
    model and KeyUsageMask; empty otherwise.
    """

    digests: dict[int, bytes] = field(hash=False)
    supported_slot_mask: int
    provisioned_slot_mask: int
    slot_keys: dict[int, SlotKey] = field(default_factory=dict, hash=False)


@record(frozen=True, slots=True)
class CertificateChainReceived(Event):
    """A slot's whole certificate chain was retrieved and validated.

    Attributes:
        slot_id: the slot.
        chain: the parsed SPDM chain (``chain.raw`` is what DIGESTS hashes).
        trusted: the chain leads to one of the configured trust anchors.
    """

    slot_id: int
    chain: SpdmCertChain
    trusted: bool


@record(frozen=True, slots=True)
class CertificateSizeReceived(Event):
    """A slot's chain size, asked with GET_CERTIFICATE SlotSizeRequested (1.3) instead of its bytes.

    Attributes:
        slot_id: the slot.
        size: its SPDM certificate chain's length in bytes.
    """

    slot_id: int
    size: int


@record(frozen=True, slots=True)
class ChallengeAuthenticated(Event):
    """CHALLENGE_AUTH verified: the device holds the slot's private key."""

    slot_id: int
    measurement_summary_hash: bytes
    basic_mut_auth_requested: bool
    evidence: SignedEvidence


@record(frozen=True, slots=True)
class MeasurementsReceived(Event):
    """MEASUREMENTS arrived (and, when signed, verified).

    Attributes:
        operation: the request's Param2 (0 count, 0xFF all, else one index).
        total_indices: the count, when ``operation`` was 0.
        blocks: the decoded measurement blocks.
        content_changed: Param2 b[5:4] (1.2+).
        evidence: the signature record when a signature was requested.
    """

    operation: int
    total_indices: int
    blocks: tuple[MeasurementBlock, ...]
    content_changed: int
    evidence: SignedEvidence | None


@record(frozen=True, slots=True)
class VendorResponseReceived(Event):
    """VENDOR_DEFINED_RESPONSE arrived (IDE_KM, TDISP and other vendor protocols)."""

    standard_id: int
    vendor_id: bytes
    payload: bytes


@record(frozen=True, slots=True)
class ErrorResponseReceived(Event):
    """The responder answered a request with an ERROR devsec does not retry.

    The request is over; the connection is not poisoned (an absent
    measurement index, for example, is answered this way).
    """

    request_code: int
    error_code: int
    error_data: int
    extended_data: bytes

    @property
    def name(self) -> str:
        """The error code's name (or hex)."""
        try:
            return SpdmErrorCode(self.error_code).name
        except ValueError:
            return f"0x{self.error_code:02x}"


@record(frozen=True, slots=True)
class RequestAnswered(Event):
    """The responder answered one request (for logs and conformance reports).

    Attributes:
        request_code: the request's code (0 when it was too short to have one).
        response_code: the response's code (0x7F for ERROR).
        error_code: the ERROR code sent, or None.
        reason: why an ERROR was sent (empty otherwise).
    """

    request_code: int
    response_code: int
    error_code: int | None = None
    reason: str = ""
