"""The backend contract: every registered backend, and the TSM service's client, behave the same.

Each test runs once per backend — every name :func:`tsm.backend_names`
lists (``native``, ``psp-proxy``: the requesters in a separate process, the
host relaying DOE objects) plus :class:`~tsm.service.ServiceTsm` talking to
an in-test :class:`~tsm.service.TsmService` over its Unix socket — with the
same emulated device and the same :class:`TsmConfig`, and compares what it
sees with what a :class:`NativeTsm` in this process sees: negotiated
algorithms, evidence (signatures verified against the device's key),
errors (class, message and every code field) and the response timeout each
DOE exchange was given.  A configuration field the psp-proxy process did not
receive, a timeout its relay dropped, a code lost at a boundary: each shows
up here as a difference.

The slow device is simulated, not slept: its transport answers CHALLENGE and
KEY_EXCHANGE after a given number of seconds, which is a timeout when that
is more than the exchange's timeout (at least the DOE mailbox's 1 s).  A
pulled device's transport fails after a given number of exchanges.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from devsec.emulator import SecureDevice
from spdm.config import ResponderConfig
from spdm.device import DeviceModel
from spdm.errors import (
    LocalProtocolError,
    NegotiationError,
    RemoteErrorResponse,
    SpdmErrorCode,
    TransportError,
    TransportTimeout,
    VerificationError,
    report_error,
)
from spdm.messages.codes import (
    BaseAsymAlgo,
    BaseHashAlgo,
    RequestCode,
)
from spdm.negotiation import AlgorithmPreferences
from spdm.transport import DoeTransport
from spdm.transport.doe import DOE_HEADER_SIZE
from tdisp.errors import TdispErrorCode, TdispErrorResponse
from tdisp.messages import TdiState
from tsm import DeviceInfo, DeviceTarget, NativeTsm, TdiTarget, Tsm, TsmConfig, backend_names, open_backend
from tsm.service import ServiceTsm, TsmService

from .helpers import bdf, check_signature, model, stranger, tsm_config

SERVICE = "tsm-service"
BACKENDS = (*backend_names(), SERVICE)
NONCE = bytes(range(0x40, 0x60))
DOE_FLOOR = 1.0
"""A DOE mailbox waits at least this long for any answer (PCIe's DOE timeout)."""

_buses = iter(range(0x40, 0x100))


# ------------------------------------------------------------------------------------ devices


class SlowTransport:
    """A device's DOE transport that records each exchange's timeout, may answer some requests late, may die.

    Attributes:
        timeouts: the ``timeout`` of every exchange, in order.
    """

    def __init__(self, inner: DoeTransport, delays: Mapping[int, float], die_after: int | None) -> None:
        self._inner = inner
        self._delays = delays
        self._die_after = die_after
        self.timeouts: list[float | None] = []

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        if self._die_after is not None and len(self.timeouts) >= self._die_after:
            raise TransportError("the device is gone (link down)")
        self.timeouts.append(timeout)
        response = self._inner.exchange(request, timeout=timeout)
        code = request[DOE_HEADER_SIZE + 1] if len(request) > DOE_HEADER_SIZE + 1 else 0
        delay = self._delays.get(code, 0.0) if request[2] == 1 else 0.0  # in-the-clear SPDM only
        allowed = DOE_FLOOR if timeout is None else max(DOE_FLOOR, timeout)
        if delay > allowed:
            raise TransportTimeout(f"DOE mailbox: no response within {allowed} s")
        return response

    def close(self) -> None:
        self._inner.close()


@dataclass
class Device:
    """One emulated device on ``bus``, reachable through :class:`SlowTransport` s.

    Each backend meets a fresh device, on the same bus as the native TSM's it
    is compared with (the addresses are part of the evidence).
    """

    bus: int
    responder: ResponderConfig = field(default_factory=ResponderConfig)
    identity: DeviceModel = field(default_factory=model)
    delays: Mapping[int, float] = field(default_factory=dict)
    die_after: int | None = None
    transports: list[SlowTransport] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ids = (self.bus << 8, self.bus << 8 | 1, self.bus << 8 | 2)
        self.emulated = SecureDevice(self.responder, self.identity, functions=self.ids)
        self.dsm = bdf(self.ids[0])
        self.tdis = tuple(TdiTarget(self.dsm, bdf(i)) for i in self.ids)

    def open(self) -> DoeTransport:
        transport = SlowTransport(self.emulated.spdm.mailbox(), self.delays, self.die_after)
        self.transports.append(transport)
        return transport

    @property
    def target(self) -> DeviceTarget:
        return DeviceTarget(self.dsm, self.open)

    @property
    def timeouts(self) -> list[float | None]:
        return [t for transport in self.transports for t in transport.timeouts]


_devices: dict[str, Device] = {}
"""Every device by its DSM's address: how the in-test TSM service opens a target."""


def device(bus: int, **kw: Any) -> Device:
    made = Device(bus, **kw)
    _devices[made.dsm] = made
    return made


# ------------------------------------------------------------------------------------ backends


@contextmanager
def served(config: TsmConfig) -> Iterator[Tsm]:
    """A TSM service (native) on a Unix socket in this process, and its client."""
    tsm = NativeTsm(config)
    service = TsmService(tsm, lambda target: _devices[target].open())
    stop, ready = threading.Event(), threading.Event()
    with tempfile.TemporaryDirectory(prefix="tsmc", dir="/tmp") as directory:
        path = Path(directory) / "tsm.sock"
        thread = threading.Thread(target=service.serve, args=(path, ready.set, stop), daemon=True)
        thread.start()
        assert ready.wait(10)
        try:
            yield ServiceTsm(path)
        finally:
            stop.set()
            thread.join(10)
            tsm.close()


@contextmanager
def opened(backend: str, config: TsmConfig) -> Iterator[Tsm]:
    """The backend named ``backend`` with ``config``, closed at the end."""
    if backend == SERVICE:
        with served(config) as client:
            yield client
        return
    tsm = open_backend(backend, config)
    try:
        yield tsm
    finally:
        tsm.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def test_every_registered_backend_is_under_contract() -> None:
    assert {"native", "psp-proxy"} <= set(backend_names())
    assert set(BACKENDS) == {*backend_names(), SERVICE}


# ------------------------------------------------------------------------------------ what is compared


def evidence(info: DeviceInfo) -> dict[str, Any]:
    """Everything a device's info holds that does not depend on the run's randomness or the backend's name."""
    return {
        "state": info.state, "version": info.version, "hash_alg": info.hash_alg, "asym_alg": info.asym_alg,
        "measurement_hash_alg": info.measurement_hash_alg, "dhe_group": info.dhe_group,
        "aead_suite": info.aead_suite, "capabilities": info.capabilities, "doe_features": info.doe_features,
        "certificates": info.certificates, "measurements": info.measurements, "streams": info.streams,
        "signatures": [(s.context, s.version, s.hash_alg, s.asym_alg, s.slot_id, len(s.signature),
                        len(s.transcript)) for s in info.signatures],
        "tdis": info.tdis,
    }


def verified(info: DeviceInfo, identity: DeviceModel) -> DeviceInfo:
    """``info`` after checking each signature it reports against the device's leaf key."""
    leaf = identity.slots[0].certificates[-1]
    for signature in info.signatures:
        check_signature(signature, leaf)
    return info


def outcome(call: Callable[[], object]) -> tuple[str, Any]:
    """What ``call`` did: ("ok", its evidence) or ("raised", the error's class, message and codes)."""
    try:
        result = call()
    except Exception as exc:
        return "raised", report_error(exc)
    return "ok", evidence(result) if isinstance(result, DeviceInfo) else result


def flow(tsm: Tsm, dev: Device) -> dict[str, Any]:
    """Connect, bind and accept a TDI, refresh the evidence, unbind, disconnect: what each step reported."""
    seen: dict[str, Any] = {"connect": outcome(lambda: verified(tsm.connect(dev.target), dev.identity))}
    if seen["connect"][0] == "ok":
        seen["bind"] = outcome(lambda: tsm.bind(dev.tdis[1]))
        seen["accept"] = outcome(lambda: tsm.accept(dev.tdis[1]))
        seen["refresh"] = outcome(lambda: verified(tsm.refresh_evidence(dev.dsm, NONCE), dev.identity))
        seen["info"] = outcome(lambda: tsm.info(dev.dsm))
        seen["unbind"] = outcome(lambda: tsm.unbind(dev.tdis[1]))
        seen["disconnect"] = outcome(lambda: tsm.disconnect(dev.dsm))
    else:
        seen["info"] = outcome(lambda: tsm.info(dev.dsm))
    return seen


def same_as_native(backend: str, config: TsmConfig, make: Callable[[int], Device]) -> dict[str, Any]:
    """Run :func:`flow` on ``backend`` and on a native TSM, each with a fresh device; assert they agree.

    Returns:
        What the backend saw, plus the timeouts its device's exchanges were given.
    """
    seen: dict[str, dict[str, Any]] = {}
    bus = next(_buses)
    for name in dict.fromkeys((backend, "native")):
        dev = make(bus)
        with opened(name, config) as tsm:
            seen[name] = {**flow(tsm, dev), "timeouts": dev.timeouts}
    assert seen[backend] == seen["native"]
    return seen[backend]


# ------------------------------------------------------------------------------------ the contract


def test_default_config_same_algorithms_evidence_and_timeouts(backend: str) -> None:
    seen = same_as_native(backend, tsm_config(), device)
    status, connected = seen["connect"]
    assert status == "ok"
    assert (connected["hash_alg"], connected["asym_alg"]) == (BaseHashAlgo.SHA_384, BaseAsymAlgo.ECDSA_P384)
    assert seen["accept"][0] == "ok" and seen["accept"][1].state == TdiState.RUN
    assert any(t is not None and t > DOE_FLOOR for t in seen["timeouts"])


def test_a_sha256_only_config_negotiates_sha256(backend: str) -> None:
    """The responder picks the measurement hash (the requester offers none), so only the base hash is ours."""
    only = AlgorithmPreferences(hash_algs=(BaseHashAlgo.SHA_256,))
    config = TsmConfig(replace(tsm_config().requester, algorithms=only))
    seen = same_as_native(backend, config, device)
    status, connected = seen["connect"]
    assert status == "ok"
    assert connected["hash_alg"] == BaseHashAlgo.SHA_256
    assert {s[2] for s in connected["signatures"]} == {BaseHashAlgo.SHA_256}


def test_a_slow_device_within_its_crypto_timeout_works(backend: str) -> None:
    """CTExponent 22 (4.2 s): CHALLENGE and KEY_EXCHANGE answered after 3 s, beyond the mailbox's own 1 s."""
    slow = {RequestCode.CHALLENGE: 3.0, RequestCode.KEY_EXCHANGE: 3.0}
    seen = same_as_native(backend, tsm_config(),
                          lambda bus: device(bus, responder=ResponderConfig(ct_exponent=22), delays=slow))
    assert seen["connect"][0] == "ok"
    assert 0.1 + 2 ** 22 / 1e6 in seen["timeouts"]


def test_a_device_slower_than_its_crypto_timeout_times_out(backend: str) -> None:
    slow = {RequestCode.CHALLENGE: 5.0}
    seen = same_as_native(backend, tsm_config(),
                          lambda bus: device(bus, responder=ResponderConfig(ct_exponent=22), delays=slow))
    status, error = seen["connect"]
    assert status == "raised" and error.kind == "spdm.errors.TransportTimeout"
    assert issubclass(TransportTimeout, TransportError)


@pytest.mark.parametrize("exchanges", [0, 3, 12, 24])  # a connect takes 25
def test_a_device_pulled_mid_connect_fails_alike(backend: str, exchanges: int) -> None:
    seen = same_as_native(backend, tsm_config(), lambda bus: device(bus, die_after=exchanges))
    status, error = seen["connect"]
    assert status == "raised" and (error.kind, error.message) == ("spdm.errors.TransportError",
                                                                  "the device is gone (link down)")
    assert seen["info"][1].kind == "spdm.errors.LocalProtocolError"  # nothing half-connected stays


def test_an_untrusted_device_fails_authentication(backend: str) -> None:
    seen = same_as_native(backend, tsm_config(), lambda bus: device(bus, identity=stranger()))
    status, error = seen["connect"]
    assert status == "raised" and error.kind == f"spdm.errors.{VerificationError.__name__}"


def test_an_algorithm_the_device_lacks_is_refused_with_its_spdm_error_code(backend: str) -> None:
    config = TsmConfig(replace(tsm_config().requester,
                               algorithms=AlgorithmPreferences(hash_algs=(BaseHashAlgo.SHA3_256,))))
    seen = same_as_native(backend, config, device)
    status, error = seen["connect"]
    assert status == "raised" and error.kind == f"spdm.errors.{RemoteErrorResponse.__name__}"
    assert dict(error.fields)["code"] == SpdmErrorCode.INVALID_REQUEST


def test_a_slot_without_a_chain_is_refused(backend: str) -> None:
    seen = same_as_native(backend, TsmConfig(tsm_config().requester, slot_id=3), device)
    status, error = seen["connect"]
    assert status == "raised" and error.kind == f"spdm.errors.{NegotiationError.__name__}"


def test_a_tdi_the_device_does_not_have_is_refused_with_its_tdisp_code(backend: str) -> None:
    outcomes: dict[str, Any] = {}
    bus = next(_buses)
    for name in dict.fromkeys((backend, "native")):
        dev = device(bus)
        with opened(name, tsm_config()) as tsm:
            tsm.connect(dev.target)
            stray = TdiTarget(dev.dsm, bdf(dev.ids[0] | 7))
            outcomes[name] = outcome(lambda: tsm.bind(stray))  # noqa: B023 - called at once
    assert outcomes[backend] == outcomes["native"]
    status, error = outcomes[backend]
    assert status == "raised" and error.kind == f"tdisp.errors.{TdispErrorResponse.__name__}"
    assert dict(error.fields)["tdisp_code"] == TdispErrorCode.INVALID_INTERFACE


def test_local_errors_are_the_same(backend: str) -> None:
    outcomes: dict[str, Any] = {}
    buses = next(_buses), next(_buses)
    for name in dict.fromkeys((backend, "native")):
        dev, never = device(buses[0]), device(buses[1])
        with opened(name, tsm_config()) as tsm:
            tsm.connect(dev.target)
            outcomes[name] = [
                outcome(lambda: tsm.info(never.dsm)),  # noqa: B023 - called at once
                outcome(lambda: tsm.bind(never.tdis[1])),  # noqa: B023
                outcome(lambda: tsm.refresh_evidence(dev.dsm, NONCE[:31])),  # noqa: B023
                outcome(lambda: tsm.accept(dev.tdis[2])),  # noqa: B023 - never bound
                outcome(lambda: tsm.tdi_info(dev.tdis[2])),  # noqa: B023
            ]
    assert outcomes[backend] == outcomes["native"]
    kinds = {error.kind for _status, error in outcomes[backend]}
    assert kinds == {f"spdm.errors.{LocalProtocolError.__name__}"}
