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
from functools import partial

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
    SessionEstablished,
)
from .messages import NONCE_SIZE
from .messages.codes import (
    AeadSuite,
    CapabilityFlags,
    DheGroup,
    MeasurementOperation,
    MeasurementSummaryHashType,
)
from .negotiation import MEAS_CAPS, Negotiated
from .requester import Requester
from .transport import DoeTransport


@dataclass(frozen=True)
class SessionOptions:
    """What to do with a secure session after authentication.

    Attributes:
        psk: use PSK_EXCHANGE with this key instead of KEY_EXCHANGE.
        psk_hint: the hint naming the PSK to the device.
        inside: work to run in the established session before it ends, given
            the driver, the requester and the SessionID (the TSM layer runs
            IDE_KM and TDISP this way).
    """

    psk: bytes | None = field(default=None, repr=False)
    psk_hint: bytes = b""
    inside: Callable[[RequesterDriver, Requester, int], None] | None = None


@dataclass(frozen=True)
class SessionReport:
    """What a session run showed: it opened, carried traffic, refreshed its keys and closed.

    Attributes:
        session_id: the SessionID.
        psk: established with a PSK.
        dhe_group / aead_suite: the session's algorithms (DHE 0 for PSK).
        secured_message_version: the DSP0277 version selected.
        heartbeat: HEARTBEAT was acknowledged.
        key_updates: KEY_UPDATE (UpdateKey and UpdateAllKeys) completed.
        measurements: the signed measurements read inside the session.
        ended: END_SESSION was acknowledged.
        mutual_auth: we authenticated ourselves to the device too.
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
        session: the session run, when one was asked for.
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


def authenticate(
    transport: DoeTransport,
    config: RequesterConfig,
    *,
    now: datetime,
    slot_id: int = 0,
    rng: Callable[[int], bytes] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    session: SessionOptions | None = None,
    identity: IdentityBackend | None = None,
    measurement_nonce: bytes | None = None,
) -> AuthenticationReport:
    """Authenticate the device behind ``transport`` and collect its signed measurements.

    Args:
        transport: the device's DOE mailbox (or a socket/pipe standing in for it).
        config: versions, algorithms and the trust decision: at least one anchor, or
            ``DEFER_TRUST`` (the caller then checks the chain's root itself, e.g. a policy
            trusting roots by hash).
        now: the time certificates must be valid at.
        slot_id: the certificate slot to authenticate.
        rng: nonce source (the OS by default).
        sleep: how the driver waits.
        session: also open a secure session, use it (heartbeat, both key
            updates, signed measurements inside it) and end it.
        identity: the requester's own certificates and keys, for a device that
            asks for mutual authentication.
        measurement_nonce: the 32-byte nonce the signed GET_MEASUREMENTS carries
            (a remote verifier's challenge, see ``sysfs_bridge.bundle``); random
            when None.  Only the measurements read before any session use it.

    Raises:
        ConfigurationError: no trust decision in ``config``.
        VerificationError: an untrusted chain, a bad signature, a
            digest mismatch.
        ConfigurationError: ``measurement_nonce`` is not 32 bytes.
        NegotiationError: nothing in common, the device cannot authenticate, or a
            ``measurement_nonce`` was given and the device cannot sign measurements.
        RemoteErrorResponse / RemoteProtocolError: the device misbehaved.
        TransportError: the transport failed.
    """
    if measurement_nonce is not None and len(measurement_nonce) != NONCE_SIZE:
        raise ConfigurationError(
            f"a measurement nonce is {NONCE_SIZE} bytes, not {len(measurement_nonce)}")
    requester = (Requester(config, backend=identity) if rng is None
                 else Requester(config, rng=rng, backend=identity))
    driver = RequesterDriver(transport, requester, sleep=sleep)
    return authenticate_with(driver, requester, now=now, slot_id=slot_id, session=session,
                             measurement_nonce=measurement_nonce)


def authenticate_with(
    driver: RequesterDriver,
    requester: Requester,
    *,
    now: datetime,
    slot_id: int = 0,
    session: SessionOptions | None = None,
    measurement_nonce: bytes | None = None,
) -> AuthenticationReport:
    """:func:`authenticate` on a driver and requester the caller keeps.

    The TSM layer uses this to authenticate a device and then keep the same
    connection for a long-lived session; the requester's configuration must
    hold a trust decision.

    Raises:
        The same as :func:`authenticate`.
    """
    if not requester.config.trust_anchors:
        raise ConfigurationError("no trust decision: give trust anchors (the roots device chains must "
                                 "lead to), or DEFER_TRUST and check the chain's root yourself")
    events: list[Event] = []
    protocols = driver.discover()
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms):
        events += driver.run(command)
    negotiated = next(e.negotiated for e in events if isinstance(e, AlgorithmsNegotiated))
    flags = negotiated.responder_flags
    if not flags & CapabilityFlags.CERT_CAP:
        raise NegotiationError("the device cannot send certificates (no CERT_CAP)")
    if measurement_nonce is not None and not flags & CapabilityFlags.MEAS_CAP_SIG:
        raise NegotiationError("the device cannot sign measurements over a nonce (no signing MEAS_CAP)")
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
            MeasurementOperation.ALL, signed=signed, slot_id=slot_id, nonce=measurement_nonce))
        measurements = next(e for e in events if isinstance(e, MeasurementsReceived))
    session_report = None
    if session is not None:
        session_report = _run_session(driver, requester, negotiated, session, slot_id, events)
    return AuthenticationReport(
        protocols=protocols,
        negotiated=negotiated,
        digests=dict(digests),
        slot_id=slot_id,
        chain=chain,
        challenge=challenge,
        measurements=measurements,
        session=session_report,
        events=tuple(events),
    )


def _run_session(
    driver: RequesterDriver,
    requester: Requester,
    negotiated: Negotiated,
    options: SessionOptions,
    slot_id: int,
    events: list[Event],
) -> SessionReport:
    """Open a session, exercise it and end it; every step must succeed."""
    if options.psk is not None:
        psk = options.psk
        opened = driver.run(lambda: requester.psk_exchange(psk, options.psk_hint))
    else:
        opened = driver.run(lambda: requester.key_exchange(slot_id))
    events += opened
    established = next(e for e in opened if isinstance(e, SessionEstablished))
    sid = established.session_id
    flags = negotiated.responder_flags
    heartbeat = bool(flags & CapabilityFlags.HBEAT_CAP)
    if heartbeat:
        events += driver.run(lambda: requester.heartbeat(sid))
    key_updates = 0
    if flags & CapabilityFlags.KEY_UPD_CAP:
        for all_keys in (False, True):
            events += driver.run(partial(requester.key_update, sid, all_keys=all_keys))
            key_updates += 1
    measurements = None
    if flags & MEAS_CAPS:
        signed = bool(flags & CapabilityFlags.MEAS_CAP_SIG)
        measured = driver.run(lambda: requester.get_measurements(
            MeasurementOperation.ALL, signed=signed, slot_id=slot_id, session_id=sid))
        events += measured
        measurements = next(e for e in measured if isinstance(e, MeasurementsReceived))
    if options.inside is not None:
        options.inside(driver, requester, sid)
    events += driver.run(lambda: requester.end_session(sid))
    return SessionReport(
        session_id=sid,
        psk=established.psk,
        dhe_group=DheGroup(0) if established.psk else negotiated.dhe_group,
        aead_suite=negotiated.aead_suite,
        secured_message_version=established.secured_message_version,
        heartbeat=heartbeat,
        key_updates=key_updates,
        measurements=measurements,
        ended=True,
        mutual_auth=bool(established.mutual_auth),
    )
