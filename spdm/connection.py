"""An authenticated SPDM connection and the secure sessions its caller opens, uses and ends.

:func:`connect` authenticates a device (:func:`spdm.cma.authenticate_with`)
and returns a :class:`Connection`: the device's evidence so far
(:attr:`Connection.report`), fresh signed measurements on demand, and
:meth:`Connection.open_session`, which returns a :class:`Session` the caller
drives: measurements inside it, HEARTBEAT, KEY_UPDATE, vendor-defined
protocols (IDE_KM and TDISP, composed by the TSM layer over
:attr:`Session.driver`) and END_SESSION when the caller says so.  Nothing happens behind the caller's
back: a session stays open until :meth:`Session.close` (or the end of its
``with`` block).

A connection owns neither the transport (the caller opened it and closes it)
nor a thread; it is not thread-safe.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self

from .backend import IdentityBackend
from .cma import AuthenticationReport, SessionReport, authenticate_with, check_measurement_nonce
from .config import RequesterConfig
from .driver import RequesterDriver
from .errors import DevsecError, LocalProtocolError, NegotiationError
from .events import Event, MeasurementsReceived
from .messages.codes import CapabilityFlags, DheGroup, KemAlgo, MeasurementOperation, RequestCode
from .negotiation import MEAS_CAPS, Negotiated
from .slot_keys import usage_allows
from .transport import DoeTransport

if TYPE_CHECKING:
    from .events import SessionEstablished
    from .transport.binding_driver import BindingChannel

__all__ = ["Connection", "Session", "connect"]


def connect(
    transport: DoeTransport | BindingChannel,
    config: RequesterConfig,
    *,
    now: datetime | None = None,
    slot_id: int = 0,
    rng: Callable[[int], bytes] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    identity: IdentityBackend | None = None,
    measurement_nonce: bytes | None = None,
) -> Connection:
    """Authenticate the device behind ``transport`` and keep the connection for more.

    Args:
        transport: the device's DOE transport (:func:`spdm.transport.targets.open_transport`),
            or its MCTP / DSP0287 channel (:func:`spdm.transport.targets.open_binding`);
            the caller closes it, after the connection is no longer used.
        config: versions, algorithms and the trust decision (anchors or ``DEFER_TRUST``).
        now: the time certificates must be valid at (the current time when None).
        slot_id: the certificate slot to authenticate; sessions and signed
            measurements use it too.
        rng: nonce source (the OS by default).
        sleep: how the driver waits (Busy, ResponseNotReady).
        identity: our own certificates and keys, for a device that asks for
            mutual authentication.
        measurement_nonce: the 32-byte nonce the authentication's signed
            GET_MEASUREMENTS carries (a remote verifier's challenge).

    Returns:
        The authenticated connection.

    Raises:
        The same as :func:`spdm.cma.authenticate`.
    """
    from .transport.binding_driver import requester_driver

    driver = requester_driver(transport, config, rng=rng, identity=identity, sleep=sleep)
    requester = driver.requester
    report = authenticate_with(driver, requester, now=now, slot_id=slot_id,
                               measurement_nonce=measurement_nonce)
    return Connection(driver, report)


class Connection:
    """An authenticated device: its evidence, fresh measurements, and sessions on request.

    Made by :func:`connect`.  Leaving a ``with`` block ends every session
    still open (see :meth:`Session.__exit__`).
    """

    def __init__(self, driver: RequesterDriver, report: AuthenticationReport) -> None:
        """Args:
            driver: the driver (and its requester) that authenticated the device.
            report: what the authentication showed.
        """
        self._driver = driver
        self._authenticated = report
        self._events: list[Event] = list(report.events)
        self._measurements = report.measurements
        self._sessions: list[Session] = []

    @property
    def report(self) -> AuthenticationReport:
        """The evidence so far: the authentication, every event since, the latest session.

        ``measurements`` are the latest read outside a session; ``session``
        describes the most recently opened session (None before the first).
        """
        latest = self._sessions[-1].report if self._sessions else None
        return replace(self._authenticated, measurements=self._measurements, session=latest,
                       events=tuple(self._events))

    @property
    def negotiated(self) -> Negotiated:
        """What VCA settled: version, algorithms, both sides' capabilities."""
        return self._authenticated.negotiated

    @property
    def driver(self) -> RequesterDriver:
        """The I/O loop and its requester engine (``driver.requester``), for lower-level use."""
        return self._driver

    def measure(self, nonce: bytes | None = None) -> MeasurementsReceived:
        """GET_MEASUREMENTS of every block, signed by the connection's slot when the device can sign.

        Args:
            nonce: a verifier's 32-byte nonce for the signed request (random when None).

        Returns:
            The measurements, their signature verified.

        Raises:
            ConfigurationError: ``nonce`` is not 32 bytes.
            NegotiationError: the device has no MEAS_CAP, or cannot sign over ``nonce``.
            VerificationError / RemoteProtocolError / TransportError: as for :func:`connect`.
        """
        received = self._measure(nonce, session_id=None)
        self._measurements = received
        return received

    def open_session(self, psk: bytes | None = None, *, psk_hint: bytes = b"") -> Session:
        """Open a secure session: KEY_EXCHANGE/FINISH, or PSK_EXCHANGE/PSK_FINISH with ``psk``.

        Args:
            psk: a pre-shared key the device holds (named by ``psk_hint``);
                KEY_EXCHANGE with the connection's slot when None -- unless a
                multi-key DIGESTS said that slot's key may not sign
                KEY_EXCHANGE_RSP: then with the lowest slot whose key may
                (its chain retrieved first).
            psk_hint: the hint naming the PSK to the device.

        Returns:
            The established session; it stays open until :meth:`Session.close`.

        Raises:
            LocalProtocolError: the device (or our configuration) cannot hold such a session.
            VerificationError / RemoteProtocolError / TransportError: the handshake failed.
        """
        from .events import SessionEstablished
        requester = self._driver.requester
        if psk is not None:
            key = psk
            opened = self._run(lambda: requester.psk_exchange(key, psk_hint))
        else:
            slot = self._key_exchange_slot()
            opened = self._run(lambda: requester.key_exchange(slot))
        established = next(e for e in opened if isinstance(e, SessionEstablished))
        session = Session(self, established)
        self._sessions.append(session)
        return session

    def _key_exchange_slot(self) -> int:
        """The slot to KEY_EXCHANGE with (see :meth:`open_session`)."""
        requester = self._driver.requester
        slot = self._authenticated.slot_id
        keys = requester.slot_keys
        if not self.negotiated.multi_key or slot not in keys or usage_allows(
                keys[slot].key_usage, RequestCode.KEY_EXCHANGE):
            return slot
        allowed = [s for s, k in sorted(keys.items()) if usage_allows(k.key_usage, RequestCode.KEY_EXCHANGE)]
        if not allowed:
            return slot  # the engine refuses it, naming why
        chosen = allowed[0]
        if chosen not in requester.chains:
            self._run(lambda: requester.get_certificate(chosen, now=datetime.now(UTC)))
        return chosen

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        """End the sessions still open (as :meth:`Session.__exit__` does)."""
        for session in self._sessions:
            session.__exit__(kind, exc, traceback)

    def _run(self, command: Callable[[], None]) -> list[Event]:
        events = self._driver.run(command)
        self._events += events
        return events

    def _measure(self, nonce: bytes | None, session_id: int | None) -> MeasurementsReceived:
        check_measurement_nonce(nonce)
        flags = self.negotiated.responder_flags
        if not flags & MEAS_CAPS:
            raise NegotiationError("the device cannot measure (no MEAS_CAP)")
        signed = bool(flags & CapabilityFlags.MEAS_CAP_SIG)
        if nonce is not None and not signed:
            raise NegotiationError("the device cannot sign measurements over a nonce (no signing MEAS_CAP)")
        requester = self._driver.requester
        events = self._run(lambda: requester.get_measurements(
            MeasurementOperation.ALL, signed=signed, slot_id=self._authenticated.slot_id,
            session_id=session_id, nonce=nonce))
        return next(e for e in events if isinstance(e, MeasurementsReceived))


class Session:
    """One secure session of a :class:`Connection`, open until :meth:`close`.

    Made by :meth:`Connection.open_session`.  Leaving a ``with`` block ends the
    session (END_SESSION) if it is still open.

    Attributes:
        session_id: the SessionID.
    """

    def __init__(self, connection: Connection, established: SessionEstablished) -> None:
        self._connection = connection
        self._established = established
        self.session_id = established.session_id
        self._heartbeat = False
        self._key_updates = 0
        self._measurements: MeasurementsReceived | None = None
        self._ended = False

    @property
    def report(self) -> SessionReport:
        """What the session showed so far."""
        negotiated = self._connection.negotiated
        psk = self._established.psk
        return SessionReport(
            session_id=self.session_id, psk=psk,
            dhe_group=DheGroup(0) if psk else negotiated.dhe_group, aead_suite=negotiated.aead_suite,
            secured_message_version=self._established.secured_message_version,
            heartbeat=self._heartbeat, key_updates=self._key_updates, measurements=self._measurements,
            ended=self._ended, mutual_auth=bool(self._established.mutual_auth),
            kem_alg=KemAlgo(0) if psk else negotiated.kem_alg)

    @property
    def closed(self) -> bool:
        """END_SESSION was acknowledged."""
        return self._ended

    @property
    def driver(self) -> RequesterDriver:
        """The connection's I/O loop, for composing vendor protocols in this session (``tsm.link``)."""
        return self._connection.driver

    def measure(self, nonce: bytes | None = None) -> MeasurementsReceived:
        """GET_MEASUREMENTS inside the session (signed when the device can sign).

        Raises:
            LocalProtocolError: the session is closed.
            The rest as :meth:`Connection.measure`.
        """
        self._check_open()
        self._measurements = self._connection._measure(nonce, session_id=self.session_id)
        return self._measurements

    def heartbeat(self) -> None:
        """HEARTBEAT; the device acknowledged it.

        Raises:
            LocalProtocolError: the session is closed, or a side lacks HBEAT_CAP.
            VerificationError / RemoteProtocolError / TransportError: the exchange failed.
        """
        self._check_open()
        requester = self._connection.driver.requester
        self._connection._run(lambda: requester.heartbeat(self.session_id))
        self._heartbeat = True

    def update_keys(self, all_keys: bool = False) -> None:
        """KEY_UPDATE (UpdateKey, or UpdateAllKeys when ``all_keys``) and its VerifyNewKey.

        Raises:
            LocalProtocolError: the session is closed, or a side lacks KEY_UPD_CAP.
            VerificationError / RemoteProtocolError / TransportError: the exchange failed.
        """
        self._check_open()
        requester = self._connection.driver.requester
        self._connection._run(lambda: requester.key_update(self.session_id, all_keys=all_keys))
        self._key_updates += 1

    def close(self) -> None:
        """END_SESSION; the session's keys are forgotten.  Closing a closed session does nothing.

        Raises:
            VerificationError / RemoteProtocolError / TransportError: the exchange failed
                (the session is then unusable).
        """
        if self._ended:
            return
        requester = self._connection.driver.requester
        self._connection._run(lambda: requester.end_session(self.session_id))
        self._ended = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        """End the session if it is open.

        When the block raised a devsec error, the link may be what failed, so
        a failure to end the session then is dropped in favour of the error
        that left the block.
        """
        if exc is None or not isinstance(exc, DevsecError):
            self.close()
            return
        with suppress(DevsecError):
            self.close()

    def _check_open(self) -> None:
        if self._ended:
            raise LocalProtocolError(f"session 0x{self.session_id:08x} has ended")
