"""Events of the SPDM 1.3 endpoint messages: endpoint info, the MEL, key pair info."""

from __future__ import annotations

from dataclasses import field

from ..record import record
from .connection import Event, SignedEvidence

__all__ = [
    "EndpointInfoReceived",
    "KeyPairInfoReceived",
    "KeyPairInfoSet",
    "MeasurementExtensionLogReceived",
]


@record(frozen=True, slots=True)
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


@record(frozen=True, slots=True)
class MeasurementExtensionLogReceived(Event):
    """The whole MEL arrived, portion by portion (``mel`` is the raw DMTF-format log).

    Attributes:
        mel: the log's bytes as the portions added up (decode with
            :class:`spdm.messages.mel.Mel`; the requester already checked it decodes).
        entries: how many entries it holds.
    """

    mel: bytes = field(repr=False)
    entries: int


@record(frozen=True, slots=True)
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


@record(frozen=True, slots=True)
class KeyPairInfoSet(Event):
    """SET_KEY_PAIR_INFO was acknowledged."""

    operation: int
    key_pair_id: int
