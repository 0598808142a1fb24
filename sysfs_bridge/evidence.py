"""One device's evidence as plain values, independent of how it was obtained.

The SPDM requester fills these today (:func:`evidence_from_report`); a TSM
backend will fill the same objects later.  The renderer writes them as a
sysfs-like tree and the reader parses such a tree (or a real ``/sys``) back
into them, so ``read_device(render(e)) == e``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from devsec.names import ASYMS, HASHES, measurement_hash_name, name_of
from spdm.authenticate import AuthenticationReport
from spdm.errors import ConfigurationError
from spdm.events import (
    CertificateChainReceived,
    ChallengeAuthenticated,
    MeasurementsReceived,
    SignedEvidence,
)
from spdm.messages import MeasurementBlock
from spdm.messages.codes import DmtfValueType

__all__ = [
    "DeviceEvidence",
    "MeasurementEntry",
    "SignatureEntry",
    "TsmState",
    "check_bdf",
    "check_tsm_name",
    "evidence_from_report",
    "measurement_entry",
    "signature_entry",
    "value_type_name",
]

SLOTS: Final = range(8)
"""SPDM certificate slots (``certificates/slot0..7``)."""

_BDF = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]")
_TSM_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}")
_TEXT = re.compile(r"[\x20-\x7e]*")
REPRESENTATIONS: Final = ("digest", "raw")


def check_bdf(bdf: str) -> str:
    """Validate a PCI address in the kernel's form ``DDDD:BB:DD.F`` (lower-case hex).

    Args:
        bdf: the address, e.g. ``"0000:03:00.0"``.

    Returns:
        ``bdf`` unchanged.

    Raises:
        ConfigurationError: anything else (upper case, path separators, ``..``).
    """
    if not isinstance(bdf, str) or _BDF.fullmatch(bdf) is None:
        raise ConfigurationError(f"not a PCI address of the form DDDD:BB:DD.F: {bdf!r}")
    return bdf


def check_tsm_name(name: str) -> str:
    """Validate a TSM class device name (``tsm0``...): one path component, printable.

    Raises:
        ConfigurationError: empty, a path separator, a leading dot, or too long.
    """
    if _TSM_NAME.fullmatch(name) is None:
        raise ConfigurationError(f"not a TSM device name: {name!r}")
    return name


def _check_text(what: str, value: str) -> None:
    """Text attributes are one printable ASCII line (they are rendered as ``value\\n``)."""
    if _TEXT.fullmatch(value) is None:
        raise ConfigurationError(f"{what} must be one line of printable ASCII: {value!r}")


@dataclass(frozen=True, slots=True)
class SignatureEntry:
    """One entry of the ``signatures/`` log: a signature and what it signed.

    Attributes:
        number: the entry's log number ``N`` (monotonic across renders).
        type: the signing context, e.g. ``"responder-challenge_auth signing"``.
        transcript: every signed byte, signature excluded.
        signature: the signature as received.
        requester_nonce / responder_nonce: the nonces inside the transcript.
        hash_algorithm: the signature's hash by name (``"sha384"``).
        combined_spdm_prefix: the 100-byte SPDM 1.2+ prefix, empty before 1.2.
        certificate_slot: the slot whose leaf key signed (``_certificate_chain`` links it).
        asym_algorithm: the signature algorithm by name (``"ecdsa-p384"``); devsec's
            ``_asym_algorithm`` extension, empty when unknown (a kernel log).
    """

    number: int
    type: str
    transcript: bytes = field(repr=False)
    signature: bytes = field(repr=False)
    requester_nonce: bytes = field(repr=False)
    responder_nonce: bytes = field(repr=False)
    hash_algorithm: str
    combined_spdm_prefix: bytes = field(repr=False)
    certificate_slot: int
    asym_algorithm: str = ""

    def __post_init__(self) -> None:
        if self.number < 0:
            raise ConfigurationError(f"signature number {self.number} is negative")
        if self.certificate_slot not in SLOTS:
            raise ConfigurationError(f"certificate slot {self.certificate_slot} is not 0..7")
        for what, value in (("type", self.type), ("hash_algorithm", self.hash_algorithm),
                            ("asym_algorithm", self.asym_algorithm)):
            _check_text(f"signature {self.number} {what}", value)


@dataclass(frozen=True, slots=True)
class MeasurementEntry:
    """One measurement block, whoever reported it.

    Attributes:
        index: the measurement index (1..0xFE).
        value_type: the DMTF value type by name (``"mutable-firmware"``, or ``"0x0b"``).
        representation: ``"digest"`` or ``"raw"`` (raw bit stream).
        value: the digest or the raw value.
        hash_algorithm: the device's measurement hash by name (``"sha384"``).
        source: where the block came from: ``"spdm"`` (our requester) or ``"tsm"``.
    """

    index: int
    value_type: str
    representation: str
    value: bytes = field(repr=False)
    hash_algorithm: str
    source: str

    def __post_init__(self) -> None:
        if not 0 <= self.index <= 0xFF:
            raise ConfigurationError(f"measurement index {self.index} is not a byte")
        if self.representation not in REPRESENTATIONS:
            raise ConfigurationError(f"measurement representation {self.representation!r} "
                                     f"is not one of {REPRESENTATIONS}")
        for what, value in (("value_type", self.value_type), ("hash_algorithm", self.hash_algorithm),
                            ("source", self.source)):
            _check_text(f"measurement {self.index} {what}", value)


@dataclass(frozen=True, slots=True)
class TsmState:
    """The ``tsm/`` attributes of a device (mainline 6.19 plus the proposed lock/unlock/accept).

    Each is the attribute's text ("" when empty): ``connect``/``bound`` name the
    TSM, ``dsm`` names the device security manager function.
    """

    connect: str = ""
    disconnect: str = ""
    dsm: str = ""
    bound: str = ""
    lock: str = ""
    unlock: str = ""
    accept: str = ""

    def __post_init__(self) -> None:
        for name in TSM_ATTRIBUTES:
            _check_text(f"tsm/{name}", getattr(self, name))


TSM_ATTRIBUTES: Final = ("connect", "disconnect", "dsm", "bound", "lock", "unlock", "accept")


@dataclass(frozen=True)
class DeviceEvidence:
    """Everything known about one device, in the shape of its sysfs directory.

    Collections are normalized on construction (features sorted, measurements by
    index, signatures by number) so equal evidence compares equal however it was
    assembled.

    Attributes:
        bdf: the PCI address ``DDDD:BB:DD.F``.
        authenticated: CMA mode: whether SPDM authentication succeeded; TSM
            mode: the connected TSM's name ("" when none).
        certificates: slot -> the slot's DER certificates concatenated (SPDM
            header stripped); unprovisioned slots are absent.
        signatures: the signature log entries.
        doe_features: DOE protocols as (vendor, type).
        measurements: one entry per measurement block.
        tsm: the TSM attributes, None outside TSM mode.
        next_requester_nonce: the ``signatures/next_requester_nonce`` contents.
    """

    bdf: str
    authenticated: bool | str
    certificates: dict[int, bytes] = field(default_factory=dict, hash=False)
    signatures: tuple[SignatureEntry, ...] = ()
    doe_features: tuple[tuple[int, int], ...] = ()
    measurements: tuple[MeasurementEntry, ...] = ()
    tsm: TsmState | None = None
    next_requester_nonce: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        check_bdf(self.bdf)
        if isinstance(self.authenticated, str) and self.authenticated:
            check_tsm_name(self.authenticated)
        for slot, der in self.certificates.items():
            if slot not in SLOTS:
                raise ConfigurationError(f"certificate slot {slot} is not 0..7")
            if not der:
                raise ConfigurationError(f"certificate slot {slot} is empty: leave it out instead")
        for vendor, kind in self.doe_features:
            if not (0 <= vendor <= 0xFFFF and 0 <= kind <= 0xFF):
                raise ConfigurationError(f"DOE feature ({vendor}, {kind}) out of range")
        if self.tsm is not None and self.tsm.connect:
            check_tsm_name(self.tsm.connect)
        signatures = tuple(sorted(self.signatures, key=lambda s: s.number))
        measurements = tuple(sorted(self.measurements, key=lambda m: m.index))
        for what, keys in (("signature number", [s.number for s in signatures]),
                           ("measurement index", [m.index for m in measurements])):
            if len(set(keys)) != len(keys):
                raise ConfigurationError(f"duplicate {what} in {keys}")
        object.__setattr__(self, "certificates", dict(sorted(self.certificates.items())))
        object.__setattr__(self, "signatures", signatures)
        object.__setattr__(self, "measurements", measurements)
        object.__setattr__(self, "doe_features", tuple(sorted(set(self.doe_features))))

    @property
    def tsm_names(self) -> tuple[str, ...]:
        """The TSM class devices this evidence names (``class/tsm/<name>`` entries)."""
        names = set()
        if isinstance(self.authenticated, str) and self.authenticated:
            names.add(self.authenticated)
        if self.tsm is not None and self.tsm.connect:
            names.add(self.tsm.connect)
        return tuple(sorted(names))


def value_type_name(kind: DmtfValueType | int) -> str:
    """``DmtfValueType.MUTABLE_FIRMWARE`` -> ``"mutable-firmware"``; unknown -> ``"0x0b"``."""
    if isinstance(kind, DmtfValueType):
        return kind.name.lower().replace("_", "-")
    return f"0x{kind:02x}"


def signature_entry(number: int, evidence: SignedEvidence) -> SignatureEntry:
    """A log entry for one verified signature.

    Args:
        number: the entry number.
        evidence: the engine's record of the signature.

    Raises:
        ConfigurationError: a number or slot out of range.
    """
    return SignatureEntry(
        number=number,
        type=evidence.context,
        transcript=evidence.transcript,
        signature=evidence.signature,
        requester_nonce=evidence.requester_nonce,
        responder_nonce=evidence.responder_nonce,
        hash_algorithm=name_of(evidence.hash_alg, dict(HASHES)),
        combined_spdm_prefix=evidence.combined_prefix,
        certificate_slot=evidence.slot_id,
        asym_algorithm=name_of(evidence.asym_alg, dict(ASYMS)),
    )


def measurement_entry(block: MeasurementBlock, hash_algorithm: str, source: str) -> MeasurementEntry:
    """A measurement entry for one DMTF measurement block.

    Args:
        block: the decoded block.
        hash_algorithm: the measurement hash by name.
        source: ``"spdm"`` or ``"tsm"``.
    """
    return MeasurementEntry(
        index=block.index,
        value_type=value_type_name(block.kind),
        representation="raw" if block.raw_bit_stream else "digest",
        value=block.value,
        hash_algorithm=hash_algorithm,
        source=source,
    )


def evidence_from_report(report: AuthenticationReport, bdf: str) -> DeviceEvidence:
    """The evidence one SPDM authentication produced, for the device at ``bdf``.

    Every certificate chain retrieved goes to its slot, every signature
    received (CHALLENGE_AUTH, signed MEASUREMENTS, in a session too) becomes a
    log entry numbered from 0 in the order received, and the measurement blocks
    of the authentication's MEASUREMENTS become measurement entries.

    Args:
        report: what :func:`spdm.authenticate.authenticate` returned.
        bdf: the device's PCI address.

    Raises:
        ConfigurationError: a malformed ``bdf``.
    """
    certificates: dict[int, bytes] = {}
    signed: list[SignedEvidence] = []
    for event in report.events:
        if isinstance(event, CertificateChainReceived):
            certificates[event.slot_id] = b"".join(c.der for c in event.chain.certificates)
        elif isinstance(event, ChallengeAuthenticated):
            signed.append(event.evidence)
        elif isinstance(event, MeasurementsReceived) and event.evidence is not None:
            signed.append(event.evidence)
    blocks = report.measurements.blocks if report.measurements is not None else ()
    hash_name = measurement_hash_name(report.negotiated.measurement_hash_alg)
    return DeviceEvidence(
        bdf=bdf,
        authenticated=True,
        certificates=certificates,
        signatures=tuple(signature_entry(n, e) for n, e in enumerate(signed)),
        doe_features=tuple(report.protocols),
        measurements=tuple(measurement_entry(b, hash_name, "spdm") for b in blocks),
    )
