"""The kernel's ``pci-tsm`` evidence objects (generic netlink), as a view devsec reads and serves.

The Linux TSM staging tree exposes a device's evidence over the generic-netlink
family ``pci-tsm`` (``Documentation/netlink/specs/pci-tsm.yaml``,
``drivers/pci/tsm/evidence.c``): one dump operation, ``evidence-read``, asks for
a device (``dev-name``) and a mask of object types and answers each object in
ascending type order, its first message carrying ``type`` and every message a
``val`` chunk.  The objects: ``cert0``..``cert7`` (the slots' SPDM certificate
chains), ``vca`` (the VCA messages), ``measurements`` (the MEASUREMENTS
response, signature included) and ``report`` (the TDISP interface report).

The evidence has a generation counter: 0 means none is available (the dump
fails, ENXIO); every new set of objects gets a new non-zero generation, and a
dump during which the generation changes fails (EAGAIN) so the reader starts
over and never mixes two sets.  A nonce asks for one refresh before the read.

This module is both sides of that ABI without a socket, so the same reader
serves devsec's TSM today and a kernel later:

- :class:`EvidenceSource`: anything that runs one dump (a kernel through
  pyroute2's generic netlink, or devsec's own :class:`EvidenceStore`);
- :func:`read_evidence`: the reader — assembles the objects, checks the dump's
  shape and limits, retries a dump the generation changed under;
- :class:`EvidenceStore`: the kernel side modelled, generation semantics included;
- :func:`objects_from_tsm`: the objects of what a devsec TSM reported.

devsec's decisions where the ABI is silent: ``certN`` is the SPDM certificate
chain as DSP0274 §3.5 lays it out (header and RootHash included) — devsec's TSM
reports DER certificates, so the chain is rebuilt with the negotiated hash;
``report`` is the reassembled REPORT_BYTES (the TDI report), not the
DEVICE_INTERFACE_REPORT messages that carried it; ``vca`` is empty before SPDM 1.2
(L1 holds no VCA there and the TSM reports none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import field
from enum import IntEnum, IntFlag
from typing import Final, Protocol

from spdm.crypto import build_spdm_cert_chain, parse_der_certificates
from spdm.errors import DecodeError, TransportError
from spdm.record import record
from tsm import DeviceInfo

from .bundle import MEASUREMENTS_CONTEXT, _read_l1

__all__ = [
    "ALL_TYPES",
    "ATTRIBUTES",
    "MAX_NONCE_SIZE",
    "MAX_OBJECT_SIZE",
    "NO_FLAGS",
    "EvidenceChanged",
    "EvidenceFlag",
    "EvidenceSource",
    "EvidenceStore",
    "EvidenceType",
    "EvidenceUnavailable",
    "assemble",
    "objects_from_tsm",
    "read_evidence",
]

MAX_OBJECT_SIZE: Final = 0x01000000
"""The largest object (``max-object-size``): a ``val`` may carry at most this much."""

MAX_NONCE_SIZE: Final = 256
"""The longest nonce a request may carry (``max-nonce-size``)."""


class EvidenceType(IntEnum):
    """``evidence-type``: the objects, in the order a dump sends them."""

    CERT0 = 0
    CERT1 = 1
    CERT2 = 2
    CERT3 = 3
    CERT4 = 4
    CERT5 = 5
    CERT6 = 6
    CERT7 = 7
    VCA = 8
    MEASUREMENTS = 9
    REPORT = 10

    @property
    def flag(self) -> int:
        """Its bit in a ``type-mask`` (``evidence-type-flag``)."""
        return 1 << self.value

    @property
    def spec_name(self) -> str:
        """Its name in the ABI (``cert0``, ``vca``, ``measurements``, ``report``)."""
        return self.name.lower()


ALL_TYPES: Final = sum(t.flag for t in EvidenceType)
"""A type-mask asking for every object."""


class EvidenceFlag(IntFlag):
    """``evidence-flag``: request modifiers."""

    DIGEST = 1 << 0
    """Answer the TSM's digest of each object instead of the object."""


NO_FLAGS: Final = EvidenceFlag(0)
"""A request without modifiers."""

ATTRIBUTES: Final[Mapping[str, int]] = {
    "type": 1, "type-mask": 2, "flags": 3, "dev-name": 4, "nonce": 5, "val": 6,
}
"""The ``evidence-object`` attribute set: name -> attribute id."""

_TYPE, _VAL = ATTRIBUTES["type"], ATTRIBUTES["val"]

Message = Mapping[int, int | bytes]
"""One reply message of a dump: attribute id -> value."""


class EvidenceUnavailable(TransportError):
    """The device has no evidence (generation 0) or no TSM context (the kernel's ENXIO)."""


class EvidenceChanged(TransportError):
    """The evidence was replaced while it was being read (the kernel's EAGAIN); read again."""


class EvidenceSource(Protocol):
    """One side that answers ``evidence-read``: a kernel, or devsec's :class:`EvidenceStore`."""

    def evidence_read(self, dev_name: str, type_mask: int, flags: EvidenceFlag = NO_FLAGS,
                      nonce: bytes | None = None) -> Iterator[Message]:
        """Run one dump and yield its reply messages.

        Raises:
            EvidenceUnavailable: no evidence for the device.
            EvidenceChanged: the generation changed during the dump.
        """
        ...


def _check_request(type_mask: int, nonce: bytes | None) -> None:
    if not type_mask or type_mask & ~ALL_TYPES:
        raise DecodeError(f"type-mask 0x{type_mask:x}: a non-empty mask of evidence types 0x{ALL_TYPES:x} "
                          f"is expected")
    if nonce is not None and len(nonce) > MAX_NONCE_SIZE:
        raise DecodeError(f"a nonce of {len(nonce)} bytes exceeds max-nonce-size {MAX_NONCE_SIZE}")


def assemble(messages: Iterable[Message], type_mask: int) -> dict[EvidenceType, bytes]:
    """The objects of one dump's reply messages, checked against the ABI.

    Raises:
        DecodeError: a ``val`` before any ``type``, an unknown or unrequested
            type, types out of ascending order or repeated, an object over
            ``max-object-size``, a requested object missing, or a message
            without ``val``.
    """
    objects: dict[EvidenceType, bytearray] = {}
    current: EvidenceType | None = None
    for number, message in enumerate(messages):
        if _TYPE in message:
            value = message[_TYPE]
            if type(value) is not int or value not in EvidenceType._value2member_map_:
                raise DecodeError(f"message {number}: type {value!r} is no evidence type")
            kind = EvidenceType(value)
            if not type_mask & kind.flag:
                raise DecodeError(f"message {number}: {kind.spec_name} was not requested")
            if current is not None and kind <= current:
                raise DecodeError(f"message {number}: {kind.spec_name} after {current.spec_name}")
            current = kind
            objects[kind] = bytearray()
        val = message.get(_VAL)
        if current is None:
            raise DecodeError(f"message {number}: a value before any type")
        if not isinstance(val, bytes):
            raise DecodeError(f"message {number}: no val")
        if len(objects[current]) + len(val) > MAX_OBJECT_SIZE:
            raise DecodeError(f"{current.spec_name}: larger than max-object-size {MAX_OBJECT_SIZE}")
        objects[current] += val
    missing = [t.spec_name for t in EvidenceType if type_mask & t.flag and t not in objects]
    if missing:
        raise DecodeError(f"the dump ended without {', '.join(missing)}")
    return {kind: bytes(value) for kind, value in objects.items()}


def read_evidence(source: EvidenceSource, dev_name: str, type_mask: int = ALL_TYPES, *,
                  flags: EvidenceFlag = NO_FLAGS, nonce: bytes | None = None,
                  attempts: int = 3) -> dict[EvidenceType, bytes]:
    """Read a device's objects: one consistent generation, retried while it changes under the dump.

    Args:
        source: the side that answers (a kernel, an :class:`EvidenceStore`).
        dev_name: the PCI device name.
        type_mask: the objects wanted (:attr:`EvidenceType.flag` bits).
        flags: :attr:`EvidenceFlag.DIGEST` for the TSM's digests instead.
        nonce: asks the TSM to refresh the evidence once first (only on the first attempt).
        attempts: how many dumps to try before giving up on a changing generation.

    Raises:
        EvidenceUnavailable: the device has no evidence.
        EvidenceChanged: the evidence kept changing through every attempt.
        DecodeError: a request outside the ABI, or a dump that breaks it.
    """
    _check_request(type_mask, nonce)
    for attempt in range(attempts):
        try:
            return assemble(source.evidence_read(dev_name, type_mask, flags, nonce if attempt == 0 else None),
                            type_mask)
        except EvidenceChanged:
            if attempt == attempts - 1:
                raise
    raise EvidenceChanged("no attempt was made")  # attempts < 1


@record
class EvidenceStore:
    """The kernel's side of ``evidence-read`` for one device, generation semantics included.

    Attributes:
        dev_name: the device's PCI name.
        chunk: the most bytes one reply message carries (the kernel fills each
            netlink buffer; a small chunk exercises multi-message objects).
        refresh: called with the nonce of a request that carries one, before
            the read (it may publish a new generation); None refuses nonces
            (the staging tree's EOPNOTSUPP).
    """

    dev_name: str
    chunk: int = 4096
    refresh: Callable[[bytes], None] | None = None
    generation: int = 0
    _objects: dict[EvidenceType, bytes] = field(default_factory=dict, repr=False)
    _digests: dict[EvidenceType, bytes] = field(default_factory=dict, repr=False)

    def publish(self, objects: Mapping[EvidenceType, bytes],
                digests: Mapping[EvidenceType, bytes] | None = None) -> int:
        """Replace the evidence with a new set; returns its generation (never 0).

        Raises:
            DecodeError: an object over ``max-object-size``.
        """
        for kind, value in objects.items():
            if len(value) > MAX_OBJECT_SIZE:
                raise DecodeError(f"{kind.spec_name}: larger than max-object-size {MAX_OBJECT_SIZE}")
        self._objects = {kind: objects.get(kind, b"") for kind in EvidenceType}
        self._digests = dict(digests or {})
        self.generation = self.generation % 0xFFFFFFFF + 1
        return self.generation

    def evidence_read(self, dev_name: str, type_mask: int, flags: EvidenceFlag = NO_FLAGS,
                      nonce: bytes | None = None) -> Iterator[Message]:
        """One dump, as ``pci_tsm_nl_evidence_read_dumpit`` answers it.

        Raises:
            EvidenceUnavailable: another device, or no evidence published yet.
            EvidenceChanged: :meth:`publish` ran while the dump was being consumed.
            TransportError: a nonce without a refresh hook (EOPNOTSUPP).
            DecodeError: a request outside the ABI.
        """
        _check_request(type_mask, nonce)
        if dev_name != self.dev_name:
            raise EvidenceUnavailable(f"device {dev_name!r} not found")
        if nonce is not None:
            if self.refresh is None:
                raise TransportError("evidence refresh failed: the TSM cannot refresh (EOPNOTSUPP)")
            self.refresh(nonce)
        return self._dump(type_mask, flags)

    def _dump(self, type_mask: int, flags: EvidenceFlag) -> Iterator[Message]:
        if not self.generation:
            raise EvidenceUnavailable("no evidence available")
        generation = self.generation
        source = self._digests if flags & EvidenceFlag.DIGEST else self._objects
        for kind in EvidenceType:
            if not type_mask & kind.flag:
                continue
            value = source.get(kind, b"")
            offset, first = 0, True
            while first or offset < len(value):
                if self.generation != generation:
                    raise EvidenceChanged("evidence updated during read")
                part = value[offset:offset + self.chunk]
                yield {_TYPE: int(kind), _VAL: part} if first else {_VAL: part}
                offset, first = offset + len(part), False


def objects_from_tsm(info: DeviceInfo, tdi: str | None = None) -> dict[EvidenceType, bytes]:
    """The ``pci-tsm`` objects of what a devsec TSM reported for a device.

    Args:
        info: the TSM's device info (after connect or refresh_evidence).
        tdi: a TDI whose interface report becomes ``report`` (None: empty).

    Raises:
        DecodeError: a certificate or L1 the TSM reported does not parse.
    """
    objects = {EvidenceType(slot): build_spdm_cert_chain(parse_der_certificates(ders), info.hash_alg)
               for slot, ders in info.certificates.items() if ders}
    signed = [s for s in info.signatures if s.context == MEASUREMENTS_CONTEXT]
    if signed:
        evidence = signed[-1]
        _, exchanges = _read_l1(evidence.transcript, evidence.version)
        measured = sum(len(request.raw) + len(response.raw) for request, response in exchanges)
        objects[EvidenceType.VCA] = evidence.transcript[:len(evidence.transcript) - measured]
        objects[EvidenceType.MEASUREMENTS] = exchanges[-1][1].raw + evidence.signature
    if tdi is not None:
        objects[EvidenceType.REPORT] = next((t.report for t in info.tdis if t.bdf == tdi.lower()), b"")
    return objects
