"""Shared pieces of the TSM tests: emulated devices on buses of their own, dying transports, leak detector.

Every :class:`Board` is one :class:`~devsec.emulator.SecureDevice` (a PF and
its VFs) on a fresh PCI bus, so tests can share one TSM (one psp-proxy
process per module) without their devices' addresses colliding.
:class:`DyingTransport` stands in for a device that goes away: after a given
number of exchanges, or when told, every exchange raises TransportError.
:func:`leaks` is the key-leak detector of ``test_tsm_psp``; :func:`leaky_main`
runs a deliberately leaking security processor to prove the detector works.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache

from devsec.emulator import SecureDevice
from spdm.config import RequesterConfig, ResponderConfig
from spdm.crypto import Certificate, verify
from spdm.device import DeviceModel
from spdm.errors import TransportError
from spdm.events import SignedEvidence
from spdm.messages.codes import BaseAsymAlgo
from spdm.transport import DoeTransport
from tsm import DeviceInfo, DeviceTarget, NativeTsm, Progress, TdiTarget, TsmConfig, psp
from tsm.interface import no_progress
from tsm.psp_wire import Frame, FrameKind


@cache
def model() -> DeviceModel:
    """The device identity every board shares (the TSM trusts its root)."""
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)


@cache
def stranger() -> DeviceModel:
    """A device whose chain leads to a root no TSM here trusts."""
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)


def tsm_config() -> TsmConfig:
    """A TSM trusting :func:`model`'s root, with the defaults otherwise."""
    return TsmConfig(RequesterConfig(trust_anchors=(model().root_certificate(),)))


def bdf(requester_id: int) -> str:
    """The ``DDDD:BB:DD.F`` address of a Requester ID (segment 0)."""
    return f"0000:{requester_id >> 8:02x}:{requester_id >> 3 & 0x1F:02x}.{requester_id & 7}"


_buses = itertools.count(1)


class DyingTransport:
    """A device's DOE transport that fails from some exchange on, as a device that was pulled would.

    Attributes:
        exchanges: exchanges that reached the device so far.
        dead: every further exchange raises TransportError.
        closed: the host closed it.
    """

    def __init__(self, inner: DoeTransport, *, die_after: int | None = None) -> None:
        self._inner = inner
        self._die_after = die_after
        self.exchanges = 0
        self.dead = False
        self.closed = False

    def kill(self) -> None:
        """The device goes away now."""
        self.dead = True

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        if self._die_after is not None and self.exchanges >= self._die_after:
            self.dead = True
        if self.dead:
            raise TransportError("the device is gone (link down)")
        self.exchanges += 1
        return self._inner.exchange(request, timeout=timeout)

    def close(self) -> None:
        self.closed = True
        self._inner.close()


@dataclass
class Board:
    """One emulated device on its own bus: the PF at function 0, then its VFs.

    Attributes:
        device: the emulator (SPDM responder, IDE_KM and TDISP models).
        dsm: the PF's (DSM's) address.
        tdis: every function as a TDI, the PF first.
        transports: what ``target.open`` handed out, newest last.
    """

    device: SecureDevice
    dsm: str
    tdis: tuple[TdiTarget, ...]
    opener: Callable[[], DoeTransport] = field(repr=False)
    die_after: int | None = None
    transports: list[DyingTransport] = field(default_factory=list)

    @property
    def target(self) -> DeviceTarget:
        """The device as a TSM is told of it."""
        return DeviceTarget(self.dsm, self._open)

    def _open(self) -> DoeTransport:
        transport = DyingTransport(self.opener(), die_after=self.die_after)
        self.transports.append(transport)
        return transport

    def kill(self) -> None:
        """Pull the device: its current transport fails from now on."""
        self.transports[-1].kill()

    def requester_ids(self) -> tuple[int, ...]:
        """The FUNCTION_IDs of its TDIs."""
        return tuple(t.interface_id for t in self.tdis)


def new_board(functions: int = 3, *, transport: str = "mailbox", device_model: DeviceModel | None = None,
              die_after: int | None = None) -> Board:
    """A device with ``functions`` functions (PF + VFs) on a new bus.

    Args:
        functions: how many TDIs (at most 256: the bus's functions).
        transport: ``mailbox`` (the DOE registers of its config space) or ``pipe`` (direct calls).
        device_model: its identity (default :func:`model`).
        die_after: its transports fail after this many exchanges.
    """
    bus = next(_buses)
    ids = tuple(bus << 8 | n for n in range(functions))
    device = SecureDevice(ResponderConfig(), device_model or model(), functions=ids)
    opener: Callable[[], DoeTransport] = device.spdm.mailbox if transport == "mailbox" else device.spdm.pipe
    return Board(device, bdf(ids[0]), tuple(TdiTarget(bdf(ids[0]), bdf(i)) for i in ids), opener,
                 die_after)


def chain_der(device_model: DeviceModel) -> bytes:
    """The slot-0 chain's certificates, DER, concatenated (what DeviceInfo.certificates holds)."""
    return b"".join(c.der for c in device_model.slots[0].certificates)


def check_signature(evidence: SignedEvidence, leaf: Certificate) -> None:
    """Verify one signature the TSM reports against the device's leaf key (raises VerificationError)."""
    verify(leaf.public_key(), evidence.asym_alg, evidence.hash_alg, evidence.version, evidence.context,
           evidence.transcript, evidence.signature)


MIN_SECRET = 12
"""Shortest value the detector looks for: a 96-bit AEAD IV (a chance match of 12 random bytes is ~2^-96)."""


def forms(secret: bytes) -> tuple[bytes, ...]:
    """How a secret could travel: raw, or hex in either case (every byte field of the TSM's JSON is hex)."""
    return (secret, secret.hex().encode(), secret.hex().upper().encode())


def leaks(recording: bytes, secrets: Mapping[str, bytes]) -> list[str]:
    """The names of the secrets found in ``recording`` in any of their :func:`forms`.

    Raises:
        ValueError: a secret is too short to look for reliably.
    """
    found = []
    for name, secret in secrets.items():
        if len(secret) < MIN_SECRET:
            raise ValueError(f"secret {name} is {len(secret)} bytes, too short to look for")
        if any(form in recording for form in forms(secret)):
            found.append(name)
    return found


def leaky_main(how: str) -> None:
    """Run a security processor that leaks the session's response data key to the host after connect.

    ``how`` is ``raw`` (the key's bytes in a PROGRESS frame of their own, for
    no command) or ``hex`` (a progress line naming it in hex).  Started by the key-leak test
    as the psp-proxy process (``python -c``); reads and writes the mailbox on
    stdin/stdout like :mod:`tsm.psp_main`.
    """
    class LeakyTsm(NativeTsm):
        def connect(self, device: DeviceTarget, progress: Progress = no_progress) -> DeviceInfo:
            info = super().connect(device, progress)
            link = self._links[device.bdf]
            session, connection = link._session, link._connection
            assert session is not None and connection is not None
            key = connection.driver.requester.sessions[session.session_id].current_keys().response.key
            if how == "hex":
                progress(f"debug: response key {key.hex()}")
            else:
                # Raw bytes are no progress document: sent on a tag no command has, the
                # host drops the frame unread, after its tap saw it.
                relay = device.open()
                mailbox = relay._mailbox  # type: ignore[attr-defined]
                mailbox.send(Frame(FrameKind.PROGRESS, 0xFFFF_FFFF, b"debug: " + key))
            return info

    psp.NativeTsm = LeakyTsm  # type: ignore[attr-defined]
    psp.serve(sys.stdin.buffer, sys.stdout.buffer)


def leaky_command(how: str) -> list[str]:
    """The command line starting :func:`leaky_main`."""
    return [sys.executable, "-c", f"from tests.tsm.helpers import leaky_main; leaky_main({how!r})"]

