"""The CMA authentication flow: discovery, VCA, certificates, challenge, signed measurements.

What the Linux CMA-SPDM requester and libspdm's sample requester run, and
what every devsec host flow starts with (``devsec connect``, the TSM's
``connect``, the policy daemon): one report that holds every piece of
evidence.  Authentication opens no session; :mod:`spdm.connection` keeps the
authenticated connection for sessions the caller opens, uses and ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .backend import IdentityBackend
from .config import RequesterConfig
from .crypto import SpdmCertChain
from .driver import RequesterDriver
from .errors import ConfigurationError, NegotiationError
from .events import (
    AlgorithmsNegotiated,
    CertificateChainReceived,
    ChallengeAuthenticated,
    DigestsReceived,
    Event,
    MeasurementsReceived,
)
from .messages import NONCE_SIZE
from .messages.codes import (
    AeadSuite,
    CapabilityFlags,
    DheGroup,
    KemAlgo,
    MeasurementOperation,
    MeasurementSummaryHashType,
)
from .negotiation import MEAS_CAPS, Negotiated
from .record import record
from .requester import Requester
from .transport import DoeTransport

if TYPE_CHECKING:
    from .transport.binding_driver import BindingChannel

__all__ = [
    "AuthenticationReport",
    "SessionReport",
    "authenticate",
    "authenticate_with",
    "check_measurement_nonce",
]

# The responder's flags are tested as plain ints: a Flag ``&`` builds a new member each time.
_CERT_CAP = int(CapabilityFlags.CERT_CAP)
_CHAL_CAP = int(CapabilityFlags.CHAL_CAP)
_MEAS_CAP_SIG = int(CapabilityFlags.MEAS_CAP_SIG)
_MEAS_CAPS = int(MEAS_CAPS)

@record(frozen=True)
class SessionReport:
    """What a secure session showed so far: how it opened, what it carried, whether it ended.

    Attributes:
        session_id: the SessionID.
        psk: established with a PSK.
        dhe_group / aead_suite: the session's algorithms (DHE 0 for PSK and with a KEM).
        secured_message_version: the DSP0277 version selected.
        heartbeat: a HEARTBEAT was acknowledged.
        key_updates: KEY_UPDATEs (UpdateKey or UpdateAllKeys) completed.
        measurements: the last measurements read inside the session.
        ended: END_SESSION was acknowledged.
        mutual_auth: we authenticated ourselves to the device too.
        kem_alg: the SPDM 1.4 KEM the session's key exchange used instead of DHE (0 otherwise).
    """

    session_id: int
    psk: bool
    dhe_group: DheGroup
    aead_suite: AeadSuite
    secured_message_version: int
    heartbeat: bool
    key_updates: int
    measurements: MeasurementsReceived | None
    ended: bool
    mutual_auth: bool = False
    kem_alg: KemAlgo = KemAlgo(0)


@record(frozen=True)
class AuthenticationReport:
    """Everything one authentication (and the connection's use since) learned about a device.

    Attributes:
        protocols: DOE protocols the mailbox listed, as (vendor, type).
        negotiated: the VCA outcome.
        digests: slot -> chain digest (DIGESTS).
        slot_id: the slot that was authenticated.
        chain: that slot's certificate chain (validated against the trust anchors).
        challenge: the verified CHALLENGE_AUTH (None if the device lacks CHAL_CAP).
        measurements: the latest measurements read outside a session (None if
            the device has no MEAS_CAP).
        session: the connection's latest session (:mod:`spdm.connection`), None
            when none was opened.
        events: every engine event, in order.
    """

    protocols: list[tuple[int, int]]
    negotiated: Negotiated
    digests: dict[int, bytes]
    slot_id: int
    chain: SpdmCertChain
    challenge: ChallengeAuthenticated | None
    measurements: MeasurementsReceived | None
    session: SessionReport | None
    events: tuple[Event, ...] = field(repr=False)


def check_measurement_nonce(nonce: bytes | None) -> None:
    """A verifier's measurement nonce must be 32 bytes.

    Raises:
        ConfigurationError: it is not.
    """
    if nonce is not None and len(nonce) != NONCE_SIZE:
        raise ConfigurationError(f"a measurement nonce is {NONCE_SIZE} bytes, not {len(nonce)}")


def authenticate(
    transport: DoeTransport | BindingChannel,
    config: RequesterConfig,
    *,
    now: datetime | None = None,
    slot_id: int = 0,
    rng: Callable[[int], bytes] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    identity: IdentityBackend | None = None,
    measurement_nonce: bytes | None = None,
) -> AuthenticationReport:
    """Authenticate the device behind ``transport`` and collect its signed measurements (CMA; no session).

    Args:
        transport: the device's DOE mailbox (or a socket/pipe standing in for it), or
            a binding's channel (MCTP, DSP0287: :func:`spdm.transport.targets.open_binding`);
            the caller keeps it and closes it.
        config: versions, algorithms and the trust decision: at least one anchor, or
            ``DEFER_TRUST`` (the caller then checks the chain's root itself, e.g. a policy
            trusting roots by hash).
        now: the time certificates must be valid at (the current time when None).
        slot_id: the certificate slot to authenticate.
        rng: nonce source (the OS by default).
        sleep: how the driver waits.
        identity: the requester's own certificates and keys, for a device that
            asks for mutual authentication.
        measurement_nonce: the 32-byte nonce the signed GET_MEASUREMENTS carries
            (a remote verifier's challenge, see ``sysfs_bridge.bundle``); random
            when None.

    Raises:
        ConfigurationError: no trust decision in ``config``, or
            ``measurement_nonce`` is not 32 bytes.
        VerificationError: an untrusted chain, a bad signature, a
            digest mismatch.
        NegotiationError: nothing in common, the device cannot authenticate, or a
            ``measurement_nonce`` was given and the device cannot sign measurements.
        RemoteErrorResponse / RemoteProtocolError: the device misbehaved.
        TransportError: the transport failed.
    """
    check_measurement_nonce(measurement_nonce)
    from .transport.binding_driver import requester_driver

    driver = requester_driver(transport, config, rng=rng, identity=identity, sleep=sleep)
    requester = driver.requester
    return authenticate_with(driver, requester, now=now, slot_id=slot_id,
                             measurement_nonce=measurement_nonce)


def authenticate_with(
    driver: RequesterDriver,
    requester: Requester,
    *,
    now: datetime | None = None,
    slot_id: int = 0,
    measurement_nonce: bytes | None = None,
) -> AuthenticationReport:
    """:func:`authenticate` on a driver and requester the caller keeps.

    The TSM layer and :func:`spdm.connection.connect` use this to authenticate
    a device and then keep the same connection for sessions; the requester's
    configuration must hold a trust decision.

    Raises:
        The same as :func:`authenticate`.
    """
    check_measurement_nonce(measurement_nonce)
    when = datetime.now(UTC) if now is None else now
    if not requester.config.trust_anchors:
        raise ConfigurationError("no trust decision: give trust anchors (the roots device chains must "
                                 "lead to), or DEFER_TRUST and check the chain's root yourself")
    events: list[Event] = []
    protocols = driver.discover()
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms):
        events += driver.run(command)
    negotiated = next(e.negotiated for e in events if isinstance(e, AlgorithmsNegotiated))
    flags = int(negotiated.responder_flags)
    if not flags & _CERT_CAP:
        raise NegotiationError("the device cannot send certificates (no CERT_CAP)")
    if measurement_nonce is not None and not flags & _MEAS_CAP_SIG:
        raise NegotiationError("the device cannot sign measurements over a nonce (no signing MEAS_CAP)")
    events += driver.run(requester.get_digests)
    digests = next(e for e in events if isinstance(e, DigestsReceived)).digests
    if slot_id not in digests:
        raise NegotiationError(f"slot {slot_id} holds no certificate chain (provisioned: {sorted(digests)})")
    events += driver.run(lambda: requester.get_certificate(slot_id, now=when))
    chain = next(e for e in events if isinstance(e, CertificateChainReceived)).chain
    challenge = None
    if flags & _CHAL_CAP:
        summary = (MeasurementSummaryHashType.ALL if flags & _MEAS_CAPS
                   else MeasurementSummaryHashType.NONE)
        events += driver.run(lambda: requester.challenge(slot_id, summary))
        challenge = next(e for e in events if isinstance(e, ChallengeAuthenticated))
    measurements = None
    if flags & _MEAS_CAPS:
        signed = bool(flags & _MEAS_CAP_SIG)
        events += driver.run(lambda: requester.get_measurements(
            MeasurementOperation.ALL, signed=signed, slot_id=slot_id, nonce=measurement_nonce))
        measurements = next(e for e in events if isinstance(e, MeasurementsReceived))
    return AuthenticationReport(
        protocols=protocols,
        negotiated=negotiated,
        digests=dict(digests),
        slot_id=slot_id,
        chain=chain,
        challenge=challenge,
        measurements=measurements,
        session=None,
        events=tuple(events),
    )

