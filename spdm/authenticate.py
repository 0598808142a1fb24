"""The CMA authentication flow: discovery, VCA, certificates, challenge, signed measurements.

This is what ``devsec connect`` and ``devsec demo`` run, and what the TSM
layer will run before it opens a session: the sequence the Linux CMA-SPDM
requester and libspdm's sample requester follow, returning one report that
holds every piece of evidence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from .config import RequesterConfig
from .crypto import SpdmCertChain
from .driver import RequesterDriver
from .errors import NegotiationError, VerificationError
from .events import (
    AlgorithmsNegotiated,
    CertificateChainReceived,
    ChallengeAuthenticated,
    DigestsReceived,
    Event,
    MeasurementsReceived,
)
from .messages.codes import CapabilityFlags, MeasurementOperation, MeasurementSummaryHashType
from .negotiation import MEAS_CAPS, Negotiated
from .requester import Requester
from .transport import DoeTransport


@dataclass(frozen=True)
class AuthenticationReport:
    """Everything one authentication learned about a device.

    Attributes:
        protocols: DOE protocols the mailbox listed, as (vendor, type).
        negotiated: the VCA outcome.
        digests: slot -> chain digest (DIGESTS).
        slot_id: the slot that was authenticated.
        chain: that slot's certificate chain (validated against the trust anchors).
        challenge: the verified CHALLENGE_AUTH (None if the device lacks CHAL_CAP).
        measurements: the measurements (None if the device has no MEAS_CAP).
        events: every engine event, in order.
    """

    protocols: list[tuple[int, int]]
    negotiated: Negotiated
    digests: dict[int, bytes]
    slot_id: int
    chain: SpdmCertChain
    challenge: ChallengeAuthenticated | None
    measurements: MeasurementsReceived | None
    events: tuple[Event, ...] = field(repr=False)


def authenticate(
    transport: DoeTransport,
    config: RequesterConfig,
    *,
    now: datetime,
    slot_id: int = 0,
    rng: Callable[[int], bytes] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> AuthenticationReport:
    """Authenticate the device behind ``transport`` and collect its signed measurements.

    Args:
        transport: the device's DOE mailbox (or a socket/pipe standing in for it).
        config: versions, algorithms and trust anchors; at least one anchor is required.
        now: the time certificates must be valid at.
        slot_id: the certificate slot to authenticate.
        rng: nonce source (the OS by default).
        sleep: how the driver waits.

    Raises:
        VerificationError: no trust anchor, an untrusted chain, a bad signature, a
            digest mismatch.
        NegotiationError: nothing in common, or the device cannot authenticate.
        RemoteErrorResponse / RemoteProtocolError: the device misbehaved.
        TransportError: the transport failed.
    """
    if not config.trust_anchors:
        raise VerificationError("no trust anchor given: a device can only be trusted against a root")
    requester = Requester(config) if rng is None else Requester(config, rng=rng)
    driver = RequesterDriver(transport, requester, sleep=sleep)
    events: list[Event] = []
    protocols = driver.discover()
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms):
        events += driver.run(command)
    negotiated = next(e.negotiated for e in events if isinstance(e, AlgorithmsNegotiated))
    flags = negotiated.responder_flags
    if not flags & CapabilityFlags.CERT_CAP:
        raise NegotiationError("the device cannot send certificates (no CERT_CAP)")
    events += driver.run(requester.get_digests)
    digests = next(e for e in events if isinstance(e, DigestsReceived)).digests
    if slot_id not in digests:
        raise NegotiationError(f"slot {slot_id} holds no certificate chain (provisioned: {sorted(digests)})")
    events += driver.run(lambda: requester.get_certificate(slot_id, now=now))
    chain = next(e for e in events if isinstance(e, CertificateChainReceived)).chain
    challenge = None
    if flags & CapabilityFlags.CHAL_CAP:
        summary = (MeasurementSummaryHashType.ALL if flags & MEAS_CAPS
                   else MeasurementSummaryHashType.NONE)
        events += driver.run(lambda: requester.challenge(slot_id, summary))
        challenge = next(e for e in events if isinstance(e, ChallengeAuthenticated))
    measurements = None
    if flags & MEAS_CAPS:
        signed = bool(flags & CapabilityFlags.MEAS_CAP_SIG)
        events += driver.run(lambda: requester.get_measurements(
            MeasurementOperation.ALL, signed=signed, slot_id=slot_id))
        measurements = next(e for e in events if isinstance(e, MeasurementsReceived))
    return AuthenticationReport(
        protocols=protocols,
        negotiated=negotiated,
        digests=dict(digests),
        slot_id=slot_id,
        chain=chain,
        challenge=challenge,
        measurements=measurements,
        events=tuple(events),
    )
