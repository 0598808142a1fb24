"""Events of provisioning (SPDM 1.2 GET_CSR, SET_CERTIFICATE)."""

from __future__ import annotations

from dataclasses import field

from ..crypto import CertificateRequest
from ..record import record
from .connection import Event

__all__ = [
    "CertificateInstalled",
    "CsrReceived",
]


@record(frozen=True, slots=True)
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


@record(frozen=True, slots=True)
class CertificateInstalled(Event):
    """SET_CERTIFICATE_RSP arrived: the slot now holds the chain sent (or, erased, none)."""

    slot_id: int
    erased: bool = False
