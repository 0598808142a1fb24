"""Events the SPDM engines emit: what happened, with the exact bytes evidence needs.

Frozen, slotted, past-tense (STYLE R5).  Signed exchanges carry a
:class:`SignedEvidence` record holding everything a third party needs to
re-verify the signature offline (the sysfs ``signatures/`` log is rendered
from it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .crypto import CertificateRequest, SigningAlgo, SpdmCertChain
from .device_endpoint import SlotKey
from .errors import SpdmErrorCode
from .messages import MeasurementBlock
from .messages.codes import BaseHashAlgo, CapabilityFlags, SpdmVersion
from .messages.event import DmtfEventType, EventGroup, mask_indices
from .negotiation import Negotiated

__all__ = [
    "AlgorithmsNegotiated",
    "CapabilitiesReceived",
    "CertificateChainReceived",
    "CertificateInstalled",
    "CertificateSizeReceived",
    "ChallengeAuthenticated",
    "CsrReceived",
    "DeviceEventReceived",
    "DigestsReceived",
    "EndpointInfoReceived",
    "ErrorResponseReceived",
    "Event",
    "EventTypesSubscribed",
    "HeartbeatAcknowledged",
    "KeyPairInfoReceived",
    "KeyPairInfoSet",
    "KeyUpdated",
    "MeasurementExtensionLogReceived",
    "MeasurementsReceived",
    "MutualAuthCompleted",
    "RequestAnswered",
    "SessionEnded",
    "SessionEstablished",
    "SignedEvidence",
    "SupportedEventTypesReceived",
    "VendorResponseReceived",
    "VersionNegotiated",
]


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every SPDM engine event."""


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class VersionNegotiated(Event):
    """VERSION arrived and a common version was chosen."""

    version: SpdmVersion
    responder_versions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class CapabilitiesReceived(Event):
    """CAPABILITIES arrived."""

    flags: CapabilityFlags
    ct_exponent: int
    data_transfer_size: int
    max_spdm_msg_size: int


@dataclass(frozen=True, slots=True)
class AlgorithmsNegotiated(Event):
    """ALGORITHMS was accepted: the connection is negotiated."""

    negotiated: Negotiated


@dataclass(frozen=True, slots=True)
class DigestsReceived(Event):
    """DIGESTS arrived: slot -> digest of that slot's certificate chain.

    ``slot_keys`` (1.3 multi-key connections): slot -> its key pair, certificate
    model and KeyUsageMask; empty otherwise.
    """

    digests: dict[int, bytes] = field(hash=False)
    supported_slot_mask: int
    provisioned_slot_mask: int
    slot_keys: dict[int, SlotKey] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class CertificateSizeReceived(Event):
    """A slot's chain size, asked with GET_CERTIFICATE SlotSizeRequested (1.3) instead of its bytes.

    Attributes:
        slot_id: the slot.
        size: its SPDM certificate chain's length in bytes.
    """

    slot_id: int
    size: int


@dataclass(frozen=True, slots=True)
class ChallengeAuthenticated(Event):
    """CHALLENGE_AUTH verified: the device holds the slot's private key."""

    slot_id: int
    measurement_summary_hash: bytes
    basic_mut_auth_requested: bool
    evidence: SignedEvidence


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class VendorResponseReceived(Event):
    """VENDOR_DEFINED_RESPONSE arrived (IDE_KM, TDISP and other vendor protocols)."""

    standard_id: int
    vendor_id: bytes
    payload: bytes


@dataclass(frozen=True, slots=True)
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


# --- sessions ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionEstablished(Event):
    """A secure session finished its handshake; application data may flow.

    Attributes:
        session_id: the 32-bit SessionID.
        psk: established with PSK_EXCHANGE.
        heartbeat_period: seconds (0 = none).
        secured_message_version: the DSP0277 version selected (u16, 0x1100 = 1.1).
        measurement_summary_hash: from KEY_EXCHANGE_RSP/PSK_EXCHANGE_RSP (empty if not asked).
        mutual_auth: the requester authenticated itself (MutAuthRequested it met; 0 = no).
    """

    session_id: int
    psk: bool
    heartbeat_period: int
    secured_message_version: int
    measurement_summary_hash: bytes
    mutual_auth: int = 0


@dataclass(frozen=True, slots=True)
class MutualAuthCompleted(Event):
    """The requester authenticated itself through encapsulated requests.

    ``session_id`` is None for basic mutual authentication (after CHALLENGE),
    where no session is involved; in a session, FINISH completes it instead
    (see :class:`SessionEstablished`).
    """

    session_id: int | None


@dataclass(frozen=True, slots=True)
class HeartbeatAcknowledged(Event):
    """HEARTBEAT_ACK arrived."""

    session_id: int


@dataclass(frozen=True, slots=True)
class KeyUpdated(Event):
    """A key update completed and VerifyNewKey succeeded.

    ``responder_initiated``: the responder updated its own direction through an
    encapsulated KEY_UPDATE (answering :meth:`Requester.poll_encapsulated`).
    """

    session_id: int
    all_keys: bool
    responder_initiated: bool = False


@dataclass(frozen=True, slots=True)
class SessionEnded(Event):
    """END_SESSION was acknowledged (or the session was torn down); its keys are gone."""

    session_id: int


@dataclass(frozen=True, slots=True)
class CsrReceived(Event):
    """CSR arrived: the device's PKCS#10 request for one of its key pairs.

    Attributes:
        key_pair_id: the KeyPairID asked for (0: the device's default, before 1.3
            or without MULTI_KEY_CONN).
        der: the CSR exactly as received.
        csr: it parsed (its signature not yet checked: ``csr.verify()``).
    """

    key_pair_id: int
    der: bytes = field(repr=False)
    csr: CertificateRequest = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class CertificateInstalled(Event):
    """SET_CERTIFICATE_RSP arrived: the slot now holds the chain sent (or, erased, none)."""

    slot_id: int
    erased: bool = False


# --- responder side -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
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


# --- SPDM 1.3 endpoint messages (issue 13) --------------------------------------------------


@dataclass(frozen=True, slots=True)
class EndpointInfoReceived(Event):
    """ENDPOINT_INFO arrived (and, when signed, verified over IL1).

    Attributes:
        subcode: what was asked (1 = device class identifier).
        slot_id: the slot whose key signed (0 when unsigned).
        ep_info: the EPInfo bytes.
        evidence: the signature record when a signature was requested.
    """

    subcode: int
    slot_id: int
    ep_info: bytes
    evidence: SignedEvidence | None


@dataclass(frozen=True, slots=True)
class MeasurementExtensionLogReceived(Event):
    """The whole MEL arrived, portion by portion (``mel`` is the raw DMTF-format log).

    Attributes:
        mel: the log's bytes as the portions added up (decode with
            :class:`spdm.messages.mel.Mel`; the requester already checked it decodes).
        entries: how many entries it holds.
    """

    mel: bytes = field(repr=False)
    entries: int


@dataclass(frozen=True, slots=True)
class KeyPairInfoReceived(Event):
    """KEY_PAIR_INFO arrived: one key pair of ``total_key_pairs``.

    Attributes:
        total_key_pairs: TotalKeyPairs.
        key_pair_id: the key pair described.
        capabilities / key_usage_capabilities / current_key_usage /
        asym_algo_capabilities / current_asym_algo / assoc_cert_slot_mask /
        public_key_info: its fields as sent.
        pqc_asym_algo_capabilities / current_pqc_asym_algo: the 1.4 PqcAsymAlgo
            fields (0 before 1.4).
    """

    total_key_pairs: int
    key_pair_id: int
    capabilities: int
    key_usage_capabilities: int
    current_key_usage: int
    asym_algo_capabilities: int
    current_asym_algo: int
    assoc_cert_slot_mask: int
    public_key_info: bytes
    pqc_asym_algo_capabilities: int = 0
    current_pqc_asym_algo: int = 0


@dataclass(frozen=True, slots=True)
class KeyPairInfoSet(Event):
    """SET_KEY_PAIR_INFO was acknowledged."""

    operation: int
    key_pair_id: int


@dataclass(frozen=True, slots=True)
class SupportedEventTypesReceived(Event):
    """SUPPORTED_EVENT_TYPES arrived: the event groups the responder can send in this session."""

    session_id: int
    groups: tuple[EventGroup, ...]


@dataclass(frozen=True, slots=True)
class EventTypesSubscribed(Event):
    """SUBSCRIBE_EVENT_TYPES was acknowledged; ``groups`` is what was asked (empty: unsubscribed)."""

    session_id: int
    groups: tuple[EventGroup, ...]


@dataclass(frozen=True, slots=True)
class DeviceEventReceived(Event):
    """The responder sent an event (SEND_EVENT, acknowledged with EVENT_ACK).

    Attributes:
        session_id: the session it came in.
        event_instance_id: the responder's EventInstanceID.
        event_type_id: the type within its group (:class:`DmtfEventType` for DMTF).
        event_detail: the type's details as sent.
        registry_id / vendor_id: the event group (0 and empty: DMTF).
    """

    session_id: int
    event_instance_id: int
    event_type_id: int
    event_detail: bytes
    registry_id: int = 0
    vendor_id: bytes = b""

    @property
    def changed_measurements(self) -> frozenset[int]:
        """The measurement indices a DMTF MeasurementChanged (or MeasurementPreUpdate) names."""
        measurement_types = (DmtfEventType.MEASUREMENT_CHANGED, DmtfEventType.MEASUREMENT_PRE_UPDATE)
        if self.registry_id or self.vendor_id or self.event_type_id not in measurement_types:
            return frozenset()
        return mask_indices(self.event_detail)

    @property
    def changed_slots(self) -> frozenset[int]:
        """The certificate slots a DMTF CertificateChanged names (its detail byte is a slot mask)."""
        if self.registry_id or self.vendor_id or self.event_type_id != DmtfEventType.CERTIFICATE_CHANGED:
            return frozenset()
        return mask_indices(self.event_detail)
