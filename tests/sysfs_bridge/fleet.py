"""Many emulated devices behind PCI addresses, a policy trusting them, and an actor that records.

Shared by the admission and daemon tests.  All devices share one generated
DeviceModel (one key pair and chain: generating keys is the slow part), each
address gets its own EmulatedDevice (its own responder state), reached
through the DOE mailbox registers of its modelled config space.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TypedDict

import pytest

from devsec.emulator import EmulatedDevice
from spdm.config import ResponderConfig
from spdm.device import DeviceModel
from spdm.messages.codes import BaseAsymAlgo
from spdm.transport import DoeTransport
from sysfs_bridge import DeviceEvidence, PciIdentity, Policy, load_policy, pci_identity
from sysfs_bridge.admission import Admission


@cache
def model() -> DeviceModel:
    """The one device model of the whole run (ECDSA P-256: the fastest to sign and verify)."""
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P256)


def bdfs(count: int) -> list[str]:
    """``count`` distinct PCI addresses: functions 0-7 of devices 0-31 on buses 1, 2, ..."""
    return [f"0000:{1 + n // 256:02x}:{n // 8 % 32:02x}.{n % 8}" for n in range(count)]


def write_policy(directory: Path, body: str = "", *, root_pem: bytes | None = None) -> Policy:
    """A policy file trusting the fleet's root (``roots = ["root.pem"]``) plus ``body``."""
    (directory / "root.pem").write_bytes(root_pem if root_pem is not None else model().root_certificate_pem())
    path = directory / "policy.toml"
    trust = "" if "[trust]" in body else '[trust]\nroots = ["root.pem"]\n'
    path.write_text(body + trust)
    return load_policy(path)


class Fleet:
    """Emulated devices created on first use, one per address; thread-safe."""

    def __init__(self) -> None:
        self._devices: dict[str, EmulatedDevice] = {}
        self._lock = threading.Lock()

    def device(self, bdf: str) -> EmulatedDevice:
        with self._lock:
            if bdf not in self._devices:
                self._devices[bdf] = EmulatedDevice(ResponderConfig(), model())
            return self._devices[bdf]

    def open(self, bdf: str) -> DoeTransport:
        return self.device(bdf).mailbox()

    def identify(self, bdf: str) -> PciIdentity:
        return pci_identity(self.device(bdf).config_space)


@dataclass
class RecordingActor:
    """Records every call; ``fail`` makes connect/bind raise what it returns for an address."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    fail: Callable[[str], Exception | None] = lambda _bdf: None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _record(self, what: str, bdf: str) -> None:
        with self.lock:
            self.calls.append((what, bdf))
        error = self.fail(bdf) if what != "refuse" else None
        if error is not None:
            raise error

    def connect(self, bdf: str) -> None:
        self._record("connect", bdf)

    def bind(self, bdf: str) -> None:
        self._record("bind", bdf)

    def refuse(self, bdf: str, reasons: tuple[str, ...]) -> None:
        assert reasons
        self._record("refuse", bdf)

    def held_evidence(self, bdf: str, pci: PciIdentity) -> DeviceEvidence | None:
        return None  # no TSM here: every admission authenticates

    def forget(self, bdf: str) -> None:
        self._record("forget", bdf)


def admission(policy: Policy, root: Path, fleet: Fleet, actor: RecordingActor, *,
              opener: Callable[[str], DoeTransport] | None = None,
              identify: Callable[[str], PciIdentity] | None = None) -> Admission:
    """An Admission over the fleet (its mailboxes and config-space identities, unless replaced)."""
    return Admission(policy, root, actor=actor, opener=opener or fleet.open,
                     identify=identify or fleet.identify)


class DecisionLine(TypedDict):
    """One JSON decision line of ``sysfs_bridge.admission`` (its module docstring lists the keys)."""

    bdf: str
    action: str
    allow: bool
    reasons: list[str]
    duration_ms: float


def decision_lines(caplog: pytest.LogCaptureFixture) -> list[DecisionLine]:
    """The JSON decision lines the admission logged."""
    return [json.loads(r.getMessage()) for r in caplog.records
            if r.name == "sysfs_bridge.admission" and r.getMessage().startswith("{")
            and "allow" in json.loads(r.getMessage())]
