"""Frozen configurations of the SPDM requester and responder engines."""

from __future__ import annotations

from dataclasses import field
from typing import Final

from .crypto import Certificate
from .errors import ConfigurationError
from .messages.codes import CapabilityFlags, RequestCode, SpdmVersion
from .negotiation import AlgorithmPreferences
from .record import record
from .secured import DOE_RECORDS, RecordFormat

__all__ = [
    "ALL_VERSIONS",
    "DEFAULT_REQUESTER_VERSIONS",
    "DEFAULT_CERTIFICATE_PORTION",
    "DEFAULT_DATA_TRANSFER_SIZE",
    "DEFAULT_REQUESTER_CAPS",
    "DEFAULT_RESPONDER_CAPS",
    "DEFER_TRUST",
    "MAX_HEARTBEAT_PERIOD",
    "MUTUAL_AUTH_CAPS",
    "SESSION_CAPS",
    "DeferredTrust",
    "RequesterConfig",
    "ResponderConfig",
]

ALL_VERSIONS = (SpdmVersion.V10, SpdmVersion.V11, SpdmVersion.V12, SpdmVersion.V13, SpdmVersion.V14)
"""Every version devsec speaks: what the device lists by default."""

DEFAULT_REQUESTER_VERSIONS = (SpdmVersion.V10, SpdmVersion.V11, SpdmVersion.V12, SpdmVersion.V13)
"""What the requester offers unless told otherwise: 1.4 is opt-in for now.

devsec's 1.4 interoperates with the reference (spdm14-p384) and with itself,
but the TSM, sysfs evidence and policy layers (and the 1.4 post-quantum
identities) are not yet checked against 1.4 end to end; a requester asks for
1.4 by listing it (``versions=ALL_VERSIONS``, ``devsec connect --version 1.4``)."""

SESSION_CAPS = (
    CapabilityFlags.ENCRYPT_CAP
    | CapabilityFlags.MAC_CAP
    | CapabilityFlags.KEY_EX_CAP
    | CapabilityFlags.HBEAT_CAP
    | CapabilityFlags.KEY_UPD_CAP
)
"""Secure sessions with KEY_EXCHANGE, heartbeat and key update."""

MUTUAL_AUTH_CAPS = CapabilityFlags.MUT_AUTH_CAP | CapabilityFlags.ENCAP_CAP
"""Mutual authentication with encapsulated requests (added when a side has an identity)."""

DEFAULT_REQUESTER_CAPS = (
    CapabilityFlags.CERT_CAP | CapabilityFlags.CHAL_CAP | SESSION_CAPS | CapabilityFlags.PSK_CAP
    | CapabilityFlags.LARGE_RESP_CAP
)
"""Authenticate, measure, and hold KEY_EXCHANGE or PSK sessions (1.1+); large responses (1.4 only)."""

DEFAULT_RESPONDER_CAPS = (
    CapabilityFlags.CERT_CAP
    | CapabilityFlags.CHAL_CAP
    | CapabilityFlags.MEAS_CAP_SIG
    | CapabilityFlags.MEAS_FRESH_CAP
    | SESSION_CAPS
    | CapabilityFlags.LARGE_RESP_CAP
)
"""A CMA device: certificates, challenge, signed fresh measurements, KEY_EXCHANGE sessions.

PSK sessions are added (PSK_CAP_WITH_CONTEXT) when the device is given PSKs."""

MAX_HEARTBEAT_PERIOD = 0xFF
"""HeartbeatPeriod travels in one byte (Param1 of KEY_EXCHANGE_RSP / PSK_EXCHANGE_RSP)."""

DEFAULT_DATA_TRANSFER_SIZE = 0x1200
"""4608 bytes, libspdm's default: large chains come in portions of this size."""

DEFAULT_CERTIFICATE_PORTION = 0x400
"""Bytes a requester asks for per GET_CERTIFICATE: libspdm's default block (LIBSPDM_MAX_CERT_CHAIN_BLOCK_LEN).

Asking for 0xFFFF lets a device answer with a message as large as its DataTransferSize, which a DOE
bridge with a smaller buffer drops silently (QEMU's, issue 11 item 12); a 0x408-byte CERTIFICATE is
small enough for such buffers.  (The reference captures in ``vectors/`` ask 0xFFFF: their replays
configure that.)"""


@record(frozen=True)
class DeferredTrust:
    """The explicit decision to leave a chain's trust to the caller.

    A requester whose ``trust_anchors`` is :data:`DEFER_TRUST` validates every
    chain against the chain's own first certificate (every other check still
    runs) and reports it untrusted (``CertificateChainReceived.trusted`` False).
    For a caller that decides trust itself afterwards (a policy trusting roots
    by hash) and for following a capture offline.
    """


DEFER_TRUST: Final = DeferredTrust()
"""The one :class:`DeferredTrust` value."""


@record(frozen=True)
class RequesterConfig:
    """What the requester offers and trusts.

    Attributes:
        versions: SPDM versions offered; the highest common one is used (1.4 only when listed).
        capabilities: the requester's CAPABILITIES flags (1.1+).
        ct_exponent: the requester's CTExponent (Linux and TF-RMM send 20).
        algorithms: algorithms offered, most preferred first.
        data_transfer_size / max_spdm_msg_size: what the requester can receive.
        trust_anchors: root (or intermediate) certificates a chain must lead to,
            or :data:`DEFER_TRUST`.  With neither, a certificate chain is refused
            (``ConfigurationError``): trust is never implied.
        busy_retries: how often a request answered ERROR Busy is sent again.
        busy_retry_delay: seconds between those retries.
        max_not_ready_polls: RESPOND_IF_READY attempts before giving up.
        certificate_portion: bytes asked per GET_CERTIFICATE (1..0xFFFF; 0xFFFF =
            as many as the responder will send in one transfer).
        multi_key_conn: ask for a multi-key connection (1.3): OtherParamsSupport b4
            (MULTI_KEY_CONN) to a responder with MULTI_KEY_CAP, and our own
            MULTI_KEY_CAP NEG in GET_CAPABILITIES unless ``capabilities`` names one.
        mel_specification: the MEL specification offered (1.3; 1 = DMTF).
        finish_opaque_data: the OpaqueData our FINISH and PSK_FINISH carry (1.4;
            none before 1.4, where the field does not exist).
    """

    versions: tuple[SpdmVersion, ...] = DEFAULT_REQUESTER_VERSIONS
    capabilities: CapabilityFlags = DEFAULT_REQUESTER_CAPS
    ct_exponent: int = 20
    algorithms: AlgorithmPreferences = field(default_factory=AlgorithmPreferences)
    data_transfer_size: int = DEFAULT_DATA_TRANSFER_SIZE
    max_spdm_msg_size: int = DEFAULT_DATA_TRANSFER_SIZE
    trust_anchors: tuple[Certificate, ...] | DeferredTrust = ()
    busy_retries: int = 3
    busy_retry_delay: float = 0.01
    max_not_ready_polls: int = 8
    certificate_portion: int = DEFAULT_CERTIFICATE_PORTION
    multi_key_conn: bool = False
    mel_specification: int = 0
    finish_opaque_data: bytes = b""


@record(frozen=True)
class ResponderConfig:
    """What the emulated device supports.

    Attributes:
        versions: SPDM versions the device answers VERSION with.
        capabilities: the device's CAPABILITIES flags.
        ct_exponent: the device's CTExponent (CMA: at most 23).
        algorithms: algorithms supported, most preferred first; the device
            selects the first the requester offered.
        data_transfer_size / max_spdm_msg_size: largest message the device
            sends or receives in one transfer (1.2+).
        not_ready_requests: requests first answered with ERROR ResponseNotReady
            (to exercise a requester's RESPOND_IF_READY path).
        rdt_exponent: the RDTExponent sent with ResponseNotReady.
        heartbeat_period: HeartbeatPeriod offered in KEY/PSK_EXCHANGE_RSP (s, 0 = none).
        mutual_auth: ask a requester that can (MUT_AUTH_CAP, ENCAP_CAP) to
            authenticate itself in KEY_EXCHANGE, with encapsulated requests.
        requester_trust_anchors: roots a requester's chain must lead to.
        record_format: the transport binding's secured-record parameters (DOE's by default).
        finish_rsp_opaque_data: the OpaqueData FINISH_RSP and PSK_FINISH_RSP carry
            (1.4; none before 1.4, where the field does not exist).
    """

    versions: tuple[SpdmVersion, ...] = ALL_VERSIONS
    capabilities: CapabilityFlags = DEFAULT_RESPONDER_CAPS
    ct_exponent: int = 20
    algorithms: AlgorithmPreferences = field(default_factory=AlgorithmPreferences)
    data_transfer_size: int = DEFAULT_DATA_TRANSFER_SIZE
    max_spdm_msg_size: int = DEFAULT_DATA_TRANSFER_SIZE
    not_ready_requests: frozenset[RequestCode] = frozenset()
    rdt_exponent: int = 10
    heartbeat_period: int = 0
    mutual_auth: bool = False
    requester_trust_anchors: tuple[Certificate, ...] = ()
    record_format: RecordFormat = DOE_RECORDS
    finish_rsp_opaque_data: bytes = b""

    def __post_init__(self) -> None:
        """Raises ConfigurationError for a HeartbeatPeriod that does not fit its byte (Param1)."""
        if not 0 <= self.heartbeat_period <= MAX_HEARTBEAT_PERIOD:
            raise ConfigurationError(
                f"heartbeat period {self.heartbeat_period} s is not 0-{MAX_HEARTBEAT_PERIOD}")
