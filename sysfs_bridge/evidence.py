"""One device's evidence as plain values, independent of how it was obtained.

The SPDM requester fills these today (:func:`evidence_from_report`); a TSM
backend will fill the same objects later.  The renderer writes them as a
sysfs-like tree and the reader parses such a tree (or a real ``/sys``) back
into them, so ``read_device(render(e)) == e``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import field
from typing import Final

from spdm.cma import AuthenticationReport
from spdm.crypto import SigningAlgo
from spdm.errors import ConfigurationError, DecodeError
from spdm.events import (
    CertificateChainReceived,
    ChallengeAuthenticated,
    DigestsReceived,
    EndpointInfoReceived,
    MeasurementExtensionLogReceived,
    MeasurementsReceived,
    SignedEvidence,
)
from spdm.messages import MeasurementBlock
from spdm.messages.codes import (
    DMTF_RAW_BIT_STREAM,
    AeadSuite,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    KemAlgo,
    MeasurementHashAlgo,
    SpdmVersion,
)
from spdm.messages.mel import Mel
from spdm.names import (
    AEADS,
    DHE_GROUPS,
    HASHES,
    KEMS,
    VERSIONS,
    capability_names,
    measurement_hash_name,
    name_of,
    parse_value_type,
    signing_name,
    value_type_name,
)
from spdm.record import record
from tdisp.messages import InterfaceReport

from .pci import PciIdentity

__all__ = [
    "DeviceEvidence",
    "MeasurementEntry",
    "SignatureEntry",
    "SLOTS",
    "SpdmFacts",
    "TSM_ATTRIBUTES",
    "TSM_WRITE_ONLY",
    "TsmState",
    "VENDOR_PROTOCOLS",
    "check_bdf",
    "check_tsm_name",
    "evidence_from_report",
    "measurement_block",
    "measurement_entry",
    "signature_entry",
    "spdm_facts",
    "supported_slots",
]

SLOTS: Final = range(8)
"""SPDM certificate slots (``certificates/slot0..7``)."""

_BDF = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]")
_TSM_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}")
_TEXT = re.compile(r"[\x20-\x7e]*")
_ALGORITHM = re.compile(r"[a-z0-9][a-z0-9.-]*")
_CAPABILITY = re.compile(r"[A-Z0-9_]+")
REPRESENTATIONS: Final = ("digest", "raw")
VENDOR_PROTOCOLS: Final = ("ide_km", "tdisp")
"""The PCI-SIG vendor-defined protocols ``spdm/vendor_protocols`` may name."""


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


@record(frozen=True, slots=True)
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


@record(frozen=True, slots=True)
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


@record(frozen=True, slots=True)
class TsmState:
    """A function's ``tsm/`` attributes (mainline 6.19 plus the TSM staging tree's lock/unlock/accept).

    Which attributes a function shows follows the kernel (``pci_tsm_attr_visible``):
    ``dsm`` and ``bound`` on every function with a ``tsm/`` directory;
    ``connect`` (read-write) with its write-only partner ``disconnect`` only on
    function 0, the DSM (None elsewhere); ``lock`` (read-write) with its
    write-only partner ``unlock``, and ``accept``, only on a function that is a
    TDI (None elsewhere).  Write-only attributes carry no readable content, so
    they hold no value here: they are rendered as empty mode-0200 files beside
    their partner, as sysfs lists them, and the reader never reads them.

    Attributes:
        dsm: the DSM's PCI name while the function has a TSM context, "" without one.
        bound: the TSM's name while the function's TDI is bound (CONFIG_LOCKED, RUN
            or ERROR: the TSM holds it until it is unbound), "" otherwise.
        connect: function 0: the TSM it is connected to, "" when none; None elsewhere.
        lock: a TDI: the TSM's name while it is locked (as ``bound``), "" otherwise;
            None for a function that is no TDI.
        accept: a TDI: ``"1"`` while accepted into its guest (RUN), ``"0"`` otherwise;
            None for a function that is no TDI.
    """

    dsm: str = ""
    bound: str = ""
    connect: str | None = None
    lock: str | None = None
    accept: str | None = None

    def __post_init__(self) -> None:
        if self.dsm:
            try:
                check_bdf(self.dsm)
            except ConfigurationError as exc:
                raise ConfigurationError(f"tsm/dsm: {exc}") from exc
        for name in ("bound", "connect", "lock"):
            value = getattr(self, name)
            if value:
                try:
                    check_tsm_name(value)
                except ConfigurationError as exc:
                    raise ConfigurationError(f"tsm/{name}: {exc}") from exc
        if self.accept not in (None, "0", "1"):
            raise ConfigurationError(f"tsm/accept must read 0 or 1, not {self.accept!r}")

    @property
    def tsm_names(self) -> frozenset[str]:
        """The TSMs these attributes name."""
        return frozenset(v for v in (self.bound, self.connect, self.lock) if v)


TSM_ATTRIBUTES: Final = ("dsm", "bound", "connect", "lock", "accept")
"""The readable ``tsm/`` attributes, one per :class:`TsmState` field."""

TSM_WRITE_ONLY: Final = {"connect": "disconnect", "lock": "unlock"}
"""Each write-only ``tsm/`` attribute, by the readable attribute it comes with."""


@record(frozen=True, slots=True)
class SpdmFacts:
    """What VCA (and a session) settled with the device: devsec's ``spdm/`` directory.

    Names are those of :mod:`spdm.names`, so the tree agrees with the CLI's
    flags and reports; an algorithm the tables do not name reads ``0x...``.

    Attributes:
        version: the negotiated SPDM version (``"1.2"``).
        hash_algorithm / asym_algorithm / measurement_hash_algorithm: ALGORITHMS'
            selections (``"sha384"``, ``"ecdsa-p384"``, ``"sha384"``; "" where none).
        dhe_group / aead_suite: the session's algorithms ("" when no session
            ran; ``dhe_group`` is "" for a PSK session and with a KEM).
        kem_algorithm: the SPDM 1.4 KEM of the device's sessions (``"ml-kem-768"``;
            "" when none was negotiated).  Its file is optional: rendered only when
            set, so classic trees are what they were and trees written before it read.
        capabilities: the responder's CAPABILITIES flags by name (``CERT_CAP``...).
        vendor_protocols: the vendor-defined protocols the device was seen to
            speak in a session (of :data:`VENDOR_PROTOCOLS`).

    Both collections are normalized (sorted, without repeats).
    """

    version: str
    hash_algorithm: str = ""
    asym_algorithm: str = ""
    measurement_hash_algorithm: str = ""
    dhe_group: str = ""
    aead_suite: str = ""
    capabilities: tuple[str, ...] = ()
    vendor_protocols: tuple[str, ...] = ()
    kem_algorithm: str = ""

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise ConfigurationError(f"spdm/version {self.version!r} is not one of {', '.join(VERSIONS)}")
        for name in ("hash_algorithm", "asym_algorithm", "measurement_hash_algorithm", "dhe_group",
                     "aead_suite", "kem_algorithm"):
            value = getattr(self, name)
            if value and _ALGORITHM.fullmatch(value) is None:
                raise ConfigurationError(f"spdm/{name} {value!r} is not an algorithm name")
        for flag in self.capabilities:
            if _CAPABILITY.fullmatch(flag) is None:
                raise ConfigurationError(f"spdm/capabilities: {flag!r} is not a capability name")
        for protocol in self.vendor_protocols:
            if protocol not in VENDOR_PROTOCOLS:
                raise ConfigurationError(f"spdm/vendor_protocols: {protocol!r} is not one of "
                                         f"{', '.join(VENDOR_PROTOCOLS)}")
        object.__setattr__(self, "capabilities", tuple(sorted(set(self.capabilities))))
        object.__setattr__(self, "vendor_protocols", tuple(sorted(set(self.vendor_protocols))))


SPDM_ATTRIBUTES: Final = ("version", "hash_algorithm", "asym_algorithm", "measurement_hash_algorithm",
                          "dhe_group", "aead_suite", "capabilities", "vendor_protocols", "kem_algorithm")
"""The files of ``spdm/``, one per :class:`SpdmFacts` field (the collections space-separated)."""

SPDM_OPTIONAL_ATTRIBUTES: Final = frozenset({"kem_algorithm"})
"""The ``spdm/`` files present only when their fact is set (absent reads as "")."""


@record(frozen=True)
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
        spdm: the negotiated SPDM facts (devsec's ``spdm/``), None when unknown
            (a kernel's ``/sys`` has no such directory).
        pci: the PCI identity (the kernel's ``vendor``, ``device``... files).
        supported_slots: the certificate slots the device supports: a
            ``certificates/slotN`` file exists for each (empty when unprovisioned)
            and for no other, as the kernel shows them (SPDM 1.3 SupportedSlotMask;
            all eight before 1.3).
        interface_report: the TDI's TDISP DEVICE_INTERFACE_REPORT (REPORT_BYTES,
            PCIe 6.x Table 11-15) while its interface is locked; empty otherwise.
            devsec's ``interface_report/`` (:mod:`.interface_report`).
        mel: the device's SPDM 1.3 Measurement Extension Log (DMTF format) as last
            read; empty when none was.  devsec's ``mel/`` (:mod:`.mel`).
    """

    bdf: str
    authenticated: bool | str
    certificates: dict[int, bytes] = field(default_factory=dict, hash=False)
    signatures: tuple[SignatureEntry, ...] = ()
    doe_features: tuple[tuple[int, int], ...] = ()
    measurements: tuple[MeasurementEntry, ...] = ()
    tsm: TsmState | None = None
    next_requester_nonce: bytes = field(default=b"", repr=False)
    spdm: SpdmFacts | None = None
    pci: PciIdentity = PciIdentity()
    supported_slots: tuple[int, ...] = tuple(SLOTS)
    interface_report: bytes = field(default=b"", repr=False)
    mel: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        check_bdf(self.bdf)
        slots = tuple(sorted(set(self.supported_slots)))
        if not set(slots) <= set(SLOTS):
            raise ConfigurationError(f"supported certificate slots {slots} are not all 0..7")
        unsupported = sorted(set(self.certificates) - set(slots))
        if unsupported:
            raise ConfigurationError(f"certificate slots {unsupported} hold certificates "
                                     f"but are not among the supported slots {slots}")
        object.__setattr__(self, "supported_slots", slots)
        if self.interface_report:
            try:
                InterfaceReport.decode(self.interface_report)
            except DecodeError as exc:
                raise ConfigurationError(f"the interface report does not parse: {exc}") from exc
        if self.mel:
            try:
                Mel.decode(self.mel)
            except DecodeError as exc:
                raise ConfigurationError(f"the MEL does not parse: {exc}") from exc
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
        names = set(self.tsm.tsm_names) if self.tsm is not None else set()
        if isinstance(self.authenticated, str) and self.authenticated:
            names.add(self.authenticated)
        return tuple(sorted(names))


def measurement_block(entry: MeasurementEntry) -> MeasurementBlock:
    """The DMTF measurement block an entry was made from (its wire form is ``.encode()``).

    Raises:
        ConfigurationError: the entry's value type names no DMTF value type.
    """
    kind = parse_value_type(entry.value_type)
    if not 0 <= kind < DMTF_RAW_BIT_STREAM:
        raise ConfigurationError(f"{entry.value_type!r} is not a DMTF measurement value type")
    raw = DMTF_RAW_BIT_STREAM if entry.representation == "raw" else 0
    return MeasurementBlock(index=entry.index, value_type=kind | raw, value=entry.value)


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
        asym_algorithm=signing_name(evidence.asym_alg),
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


def negotiated_facts(version: SpdmVersion, hash_alg: BaseHashAlgo, asym_alg: SigningAlgo,
                     measurement_hash_alg: MeasurementHashAlgo, dhe_group: DheGroup, aead_suite: AeadSuite,
                     capabilities: CapabilityFlags, kem_alg: KemAlgo,
                     vendor_protocols: Sequence[str] = ()) -> SpdmFacts:
    """The ``spdm/`` facts of negotiated values, by devsec's names ("" for an algorithm not chosen).

    Raises:
        ConfigurationError: a vendor protocol not in :data:`VENDOR_PROTOCOLS`.
    """
    return SpdmFacts(
        version=version.text,
        hash_algorithm=name_of(hash_alg, dict(HASHES)) if hash_alg else "",
        asym_algorithm=signing_name(asym_alg) if asym_alg else "",
        measurement_hash_algorithm=(measurement_hash_name(measurement_hash_alg)
                                    if measurement_hash_alg else ""),
        dhe_group=name_of(dhe_group, dict(DHE_GROUPS)) if dhe_group else "",
        aead_suite=name_of(aead_suite, dict(AEADS)) if aead_suite else "",
        capabilities=tuple(capability_names(capabilities)),
        vendor_protocols=tuple(vendor_protocols),
        kem_algorithm=name_of(kem_alg, dict(KEMS)) if kem_alg else "",
    )


def spdm_facts(report: AuthenticationReport, vendor_protocols: Sequence[str] = ()) -> SpdmFacts:
    """The negotiated facts of one authentication (and its session, if one ran).

    Raises:
        ConfigurationError: a vendor protocol not in :data:`VENDOR_PROTOCOLS`.
    """
    n, session = report.negotiated, report.session
    return negotiated_facts(
        n.version, n.hash_alg, n.signing_alg, n.measurement_hash_alg,
        session.dhe_group if session else DheGroup(0), session.aead_suite if session else AeadSuite(0),
        n.responder_flags, session.kem_alg if session else KemAlgo(0), vendor_protocols)


def evidence_from_report(report: AuthenticationReport, bdf: str, *, pci: PciIdentity | None = None,
                         vendor_protocols: Sequence[str] = ()) -> DeviceEvidence:
    """The evidence one SPDM authentication produced, for the device at ``bdf``.

    Every certificate chain retrieved goes to its slot, every signature
    received (CHALLENGE_AUTH, signed MEASUREMENTS, signed ENDPOINT_INFO, in a
    session too) becomes a
    log entry numbered from 0 in the order received, the measurement blocks
    of the authentication's MEASUREMENTS become measurement entries, the last
    MEL read becomes ``mel``, and the negotiated version, algorithms and
    capabilities become :class:`SpdmFacts`.

    Args:
        report: what :func:`spdm.cma.authenticate` returned.
        bdf: the device's PCI address.
        pci: the device's identity, when the caller has its config space
            (:func:`pci_identity`); unknown otherwise.
        vendor_protocols: the vendor-defined protocols the session ran with
            the device (``"ide_km"``, ``"tdisp"``).

    Raises:
        ConfigurationError: a malformed ``bdf`` or an unknown vendor protocol.
    """
    certificates: dict[int, bytes] = {}
    signed: list[SignedEvidence] = []
    digests: DigestsReceived | None = None
    mel = b""
    for event in report.events:
        if isinstance(event, DigestsReceived):
            digests = event
        elif isinstance(event, CertificateChainReceived):
            certificates[event.slot_id] = b"".join(c.der for c in event.chain.certificates)
        elif isinstance(event, ChallengeAuthenticated):
            signed.append(event.evidence)
        elif isinstance(event, MeasurementsReceived | EndpointInfoReceived) and event.evidence is not None:
            signed.append(event.evidence)
        elif isinstance(event, MeasurementExtensionLogReceived):
            mel = event.mel
    blocks = report.measurements.blocks if report.measurements is not None else ()
    hash_name = measurement_hash_name(report.negotiated.measurement_hash_alg)
    return DeviceEvidence(
        bdf=bdf,
        authenticated=True,
        certificates=certificates,
        signatures=tuple(signature_entry(n, e) for n, e in enumerate(signed)),
        doe_features=tuple(report.protocols),
        measurements=tuple(measurement_entry(b, hash_name, "spdm") for b in blocks),
        spdm=spdm_facts(report, vendor_protocols),
        pci=pci if pci is not None else PciIdentity(),
        supported_slots=supported_slots(report.negotiated.version, digests, certificates),
        mel=mel,
    )


def supported_slots(version: SpdmVersion, digests: DigestsReceived | None,
                    certificates: dict[int, bytes]) -> tuple[int, ...]:
    """The certificate slots a device supports, as the kernel's CMA-SPDM decides them.

    From SPDM 1.3 DIGESTS' Param1 is the SupportedSlotMask; before 1.3 (or when
    no DIGESTS was seen) the device does not say, and the kernel shows all eight
    slots (``GENMASK(7, 0)``), so devsec does the same.  A slot a chain was
    read from is always included (a DIGESTS whose masks disagree is the
    requester's to reject, not the renderer's).
    """
    if digests is None or version < SpdmVersion.V13:
        return tuple(SLOTS)
    mask = digests.supported_slot_mask
    return tuple(sorted({slot for slot in SLOTS if mask >> slot & 1} | set(certificates)))
