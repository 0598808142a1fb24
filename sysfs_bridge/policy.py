"""The policy engine: decide from a device's evidence tree whether it may connect or be bound.

:func:`evaluate` reads a device directory (:func:`~sysfs_bridge.read.read_device_dir`),
re-verifies its ``signatures/`` log (:func:`~sysfs_bridge.log_verdict.verify_log`)
and hands both to :func:`decide`, the pure part.  It fails closed and never
raises for the device's sake: unreadable or corrupted evidence, a failed
entry, a chain that does not lead to a trusted root, or a fact the policy needs
and the tree lacks each deny, and every reason is reported, not just the first.

What the checks mean:

- **identity**: ``authenticated`` is ``1`` (or names a TSM), the log holds at
  least one entry and every entry verifies; each certificate slot an entry
  links must hold a chain whose first certificate is a trusted root (its DER
  is one of ``trust.roots`` or its hash one of ``trust.root_hashes``) or is
  signed by one of ``trust.roots`` (then the whole chain is validated again
  with :func:`spdm.crypto.validate_cert_chain`), and every certificate must be
  valid now.  The chain's inner links, CA rules and leaf key were checked by
  the log's verification, whose verdicts :func:`decide` relies on.
- **version and algorithms** come from devsec's ``spdm/`` facts, which must
  agree with what the verified log shows (each entry's hash and signature
  algorithm, and the SPDM version its signing prefix states); a name devsec
  does not know denies.  A rule on ``dhe``/``aead`` needs a session to have run
  (``dhe`` a KEY_EXCHANGE one).
- **capabilities** (``[require] capabilities``):

  ==============  ================================================================
  measurements    ``MEAS_CAP_SIG`` and a verified ``responder-measurements signing``
                  entry in the log
  sessions        ``KEY_EX_CAP`` or ``PSK_CAP``/``PSK_CAP_WITH_CONTEXT``, with
                  ``ENCRYPT_CAP`` and ``MAC_CAP``
  ide             ``ide_km`` in ``spdm/vendor_protocols`` (the device answered IDE_KM
                  in a session)
  tdisp           ``tdisp`` in ``spdm/vendor_protocols``
  ==============  ================================================================

- **reference values**: when the policy has any ``[[reference]]``, the device's
  PCI vendor/device IDs must have an entry (unknown IDs, or IDs with no entry,
  deny: otherwise an unlisted device would skip the comparison); each index
  the entry lists must be present, hold one of the listed values, and be
  covered by a verified signature (its DMTF block occurs in a verified
  ``responder-measurements signing`` transcript).  Indexes the entry does not
  list are not compared; an entry with no indexes accepts the model as is.
  A policy without ``[[reference]]`` compares no measurements.
- **interface report** (``[tdisp]``): the device directory must hold the
  interface report its TDI was locked with (devsec's ``interface_report/``,
  rendered while the interface is CONFIG_LOCKED or RUN), the report must set
  every listed INTERFACE_INFO flag, list at most ``max_mmio_ranges`` MMIO
  ranges and carry one of the listed DEVICE_SPECIFIC_INFO values.  The report
  came through the SPDM session (or the TSM holding it) and is not signed, so
  these checks add to the identity checks, never replace them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from spdm.crypto import (
    Certificate,
    SigningAlgo,
    build_spdm_cert_chain,
    parse_der_certificates,
    parse_spdm_cert_chain,
    validate_cert_chain,
)
from spdm.crypto.certs import Role
from spdm.errors import ConfigurationError, DevsecError, VerificationError
from spdm.messages.codes import BaseHashAlgo, CapabilityFlags
from spdm.names import (
    AEADS,
    DHE_GROUPS,
    HASHES,
    KEMS,
    MEASUREMENT_HASHES,
    SIGNING_ALGORITHMS,
    VERSIONS,
    parse_signing,
)
from spdm.record import record
from tdisp.messages import InterfaceInfo

from .evidence import DeviceEvidence, SignatureEntry, SpdmFacts, measurement_block
from .interface_report import parse_report
from .log_verdict import LogVerdict, verify_log
from .policy_file import Policy
from .read import device_bdf, read_device_dir, resolve_device_dir

__all__ = ["DENY_ACTION", "Decision", "decide", "evaluate"]

DENY_ACTION: Final = "refuse"
"""The action of every denial."""

MEASUREMENTS_SIGNING: Final = "responder-measurements signing"
_ATTEMPTS: Final = 8
_PREFIX_VERSION = re.compile(rb"dmtf-spdm-v(\d)\.(\d)\.\*")
_FACT_NAMES: Final = {
    "hash_algorithm": frozenset(HASHES),
    "asym_algorithm": frozenset(SIGNING_ALGORITHMS),
    "measurement_hash_algorithm": frozenset(MEASUREMENT_HASHES),
    "dhe_group": frozenset(DHE_GROUPS),
    "aead_suite": frozenset(AEADS),
    "kem_algorithm": frozenset(KEMS),
}
_RULE_FACT: Final = {"hash": "hash_algorithm", "asym": "asym_algorithm",
                     "measurement_hash": "measurement_hash_algorithm", "dhe": "dhe_group",
                     "aead": "aead_suite", "kem": "kem_algorithm"}
_CAPABILITY_NAMES: Final = frozenset(f.name for f in CapabilityFlags if f.name)


@record(frozen=True)
class Decision:
    """What the policy decided for one device.

    Attributes:
        bdf: the device's PCI address (the directory's name when it has none).
        allow: whether the device passed every check.
        action: the policy's ``action`` (``"connect"`` or ``"bind"``) when
            allowed, ``"refuse"`` when denied.
        reasons: on deny, every check that failed; on allow, every check that passed.
    """

    bdf: str
    allow: bool
    action: str
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """The decision as a JSON-ready dictionary."""
        return {"bdf": self.bdf, "allow": self.allow, "action": self.action,
                "reasons": list(self.reasons)}


@record
class _Outcome:
    """Collects the checks' results."""

    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def check(self, failure: str | None, success: str) -> None:
        if failure is None:
            self.passed.append(success)
        else:
            self.failed.append(failure)


def _deny(bdf: str, reasons: Iterable[str]) -> Decision:
    return Decision(bdf, False, DENY_ACTION, tuple(reasons))


def _verified_entries(evidence: DeviceEvidence, verdicts: Sequence[LogVerdict],
                      out: _Outcome) -> list[SignatureEntry]:
    """The log entries whose signature verified; failures for everything else."""
    if not evidence.signatures:
        out.failed.append("the signatures/ log is empty: nothing proves the device's identity")
        return []
    entries = {entry.number: entry for entry in evidence.signatures}
    judged = {verdict.number: verdict for verdict in verdicts}
    if set(judged) != set(entries):
        out.failed.append(f"the verdicts cover log entries {sorted(judged)}, the evidence holds "
                          f"{sorted(entries)}")
    for number in sorted(set(judged) - set(entries)):
        del judged[number]
    verified = []
    for number, entry in entries.items():
        verdict = judged.get(number)
        if verdict is not None and verdict.ok:
            verified.append(entry)
        elif verdict is not None:
            out.failed.append(f"signature {number} does not verify: {verdict.reason}")
    if len(verified) == len(entries):
        out.passed.append(f"all {len(entries)} signatures of the log verify")
    return verified


def _trusted_in_slot(policy: Policy, first: Certificate) -> bool:
    """Whether the chain's first certificate is itself a trusted root."""
    if any(root.der == first.der for root in policy.roots):
        return True
    return any(first.sha(alg) == value for alg, value in policy.root_hashes)


def _leaf_asym(entry: SignatureEntry, leaf: Certificate) -> SigningAlgo:
    """The algorithm the entry was verified with: its ``_asym_algorithm``, else the first the
    leaf key fits (as :func:`~sysfs_bridge.log_verdict.verify_log` derives it for a kernel log)."""
    if entry.asym_algorithm:
        return parse_signing(entry.asym_algorithm)
    key = leaf.public_key()
    asym = next((asym for asym in SIGNING_ALGORITHMS.values() if key.matches(asym)), None)
    if asym is None:
        raise VerificationError("the leaf key fits no SPDM signature algorithm")
    return asym


def _check_chain(policy: Policy, evidence: DeviceEvidence, entry: SignatureEntry,
                 now: datetime) -> str:
    """Check the chain an entry links; returns what passed, raises DevsecError why not."""
    slot = entry.certificate_slot
    der = evidence.certificates.get(slot)
    if der is None:
        raise VerificationError("holds no certificate")
    certificates = parse_der_certificates(der)
    if _trusted_in_slot(policy, certificates[0]):
        for index, certificate in enumerate(certificates):
            if not certificate.not_before <= now <= certificate.not_after:
                raise VerificationError(
                    f"certificate {index} ({certificate.subject!r}) is not valid at {now:%Y-%m-%d %H:%M} "
                    f"({certificate.not_before:%Y-%m-%d} .. {certificate.not_after:%Y-%m-%d})")
        return f"certificate slot {slot} starts at trusted root {certificates[0].subject!r}"
    asym = _leaf_asym(entry, certificates[-1])
    chain = parse_spdm_cert_chain(build_spdm_cert_chain(certificates, BaseHashAlgo.SHA_384),
                                  BaseHashAlgo.SHA_384)
    role: Role = "requester" if entry.type.startswith("requester-") else "responder"
    validate_cert_chain(chain, policy.roots, asym, now=now, role=role)
    return f"certificate slot {slot} chains to a trusted root (issuer {certificates[0].issuer!r})"


def _check_chains(policy: Policy, evidence: DeviceEvidence, entries: Sequence[SignatureEntry],
                  now: datetime, out: _Outcome) -> None:
    checked: set[tuple[int, bool]] = set()
    for entry in entries:
        key = (entry.certificate_slot, entry.type.startswith("requester-"))
        if key in checked:
            continue
        checked.add(key)
        try:
            out.passed.append(_check_chain(policy, evidence, entry, now))
        except DevsecError as exc:
            out.failed.append(f"certificate slot {entry.certificate_slot} (signature {entry.number}): "
                              f"{exc}")


def _entry_version(entry: SignatureEntry) -> frozenset[str]:
    """The SPDM versions an entry's signing prefix allows (none before 1.2)."""
    match = _PREFIX_VERSION.match(entry.combined_spdm_prefix)
    if match is None:
        return frozenset({"1.0", "1.1"}) if not entry.combined_spdm_prefix else frozenset()
    return frozenset({f"{match.group(1).decode()}.{match.group(2).decode()}"})


def _check_consistency(facts: SpdmFacts, entries: Sequence[SignatureEntry], out: _Outcome) -> None:
    """The spdm/ facts against what the verified log shows, and against the names devsec knows."""
    for name, known in _FACT_NAMES.items():
        value = getattr(facts, name)
        if value and value not in known:
            out.failed.append(f"spdm/{name} {value!r} is not an algorithm devsec knows")
    unknown = [flag for flag in facts.capabilities if flag not in _CAPABILITY_NAMES]
    if unknown:
        out.failed.append(f"spdm/capabilities names unknown flags {' '.join(unknown)}")
    disagreements = []
    for entry in entries:
        if entry.hash_algorithm != facts.hash_algorithm:
            disagreements.append(f"signature {entry.number} used {entry.hash_algorithm}, "
                                 f"spdm/hash_algorithm says {facts.hash_algorithm or 'nothing'}")
        if entry.asym_algorithm and entry.asym_algorithm != facts.asym_algorithm:
            disagreements.append(f"signature {entry.number} used {entry.asym_algorithm}, "
                                 f"spdm/asym_algorithm says {facts.asym_algorithm or 'nothing'}")
        if facts.version not in _entry_version(entry):
            disagreements.append(f"signature {entry.number} was signed under SPDM "
                                 f"{'/'.join(sorted(_entry_version(entry))) or '?'}, "
                                 f"spdm/version says {facts.version}")
    out.failed += disagreements
    if entries and not disagreements:
        out.passed.append("the spdm/ facts agree with the verified log")


def _why_none(kind: str, facts: SpdmFacts) -> str:
    """Why a device has no algorithm of ``kind``, for the denial's reason."""
    if kind == "dhe" and facts.kem_algorithm:
        return f"the session exchanged keys with {facts.kem_algorithm}"
    if kind == "kem" and facts.dhe_group:
        return f"the session exchanged keys with {facts.dhe_group}"
    return "no KEY_EXCHANGE session ran" if kind in ("dhe", "aead", "kem") else "none"


def _check_negotiated(policy: Policy, facts: SpdmFacts, out: _Outcome) -> None:
    version = VERSIONS[facts.version]
    if policy.min_version is not None:
        out.check(f"SPDM {facts.version} is below the minimum {policy.min_version.text}"
                  if version < policy.min_version else None,
                  f"SPDM {facts.version} meets the minimum {policy.min_version.text}")
    if policy.versions is not None:
        out.check(None if version in policy.versions else
                  f"SPDM {facts.version} is not an allowed version "
                  f"({', '.join(sorted(v.text for v in policy.versions))})",
                  f"SPDM {facts.version} is allowed")
    for rule in policy.algorithms:
        name = getattr(facts, _RULE_FACT[rule.kind])
        if not name:
            out.failed.append(f"no {rule.kind} algorithm was negotiated ({_why_none(rule.kind, facts)})"
                              f", which the policy constrains")
            continue
        violation = rule.violation(name)
        out.check(None if violation is None else f"{rule.kind}: {violation}",
                  f"{rule.kind} {name} is allowed")


def _capability(name: str, facts: SpdmFacts, entries: Sequence[SignatureEntry]) -> str | None:
    """Why the device lacks capability ``name`` (None when it has it)."""
    caps = set(facts.capabilities)
    if name == "measurements":
        if "MEAS_CAP_SIG" not in caps:
            return "the device does not sign measurements (no MEAS_CAP_SIG)"
        if not any(entry.type == MEASUREMENTS_SIGNING for entry in entries):
            return "the log holds no verified signed MEASUREMENTS"
        return None
    if name == "sessions":
        if not caps & {"KEY_EX_CAP", "PSK_CAP", "PSK_CAP_WITH_CONTEXT"}:
            return "the device cannot open sessions (no KEY_EX_CAP or PSK_CAP)"
        missing = {"ENCRYPT_CAP", "MAC_CAP"} - caps
        return f"the device's sessions lack {' and '.join(sorted(missing))}" if missing else None
    protocol = "ide_km" if name == "ide" else name
    if protocol not in facts.vendor_protocols:
        return f"the device was not seen to speak {protocol} (spdm/vendor_protocols)"
    return None


def _check_measurements(policy: Policy, evidence: DeviceEvidence, entries: Sequence[SignatureEntry],
                        out: _Outcome) -> None:
    if not policy.references:
        return
    vendor, device = evidence.pci.vendor, evidence.pci.device
    if vendor is None or device is None:
        out.failed.append("the device's PCI vendor/device IDs are unknown, so no reference values apply")
        return
    reference = policy.references.get((vendor, device))
    if reference is None:
        out.failed.append(f"the policy has no reference values for {vendor:04x}:{device:04x}")
        return
    if not reference.measurements:
        out.passed.append(f"{vendor:04x}:{device:04x} has no reference measurements to compare")
    signed = [entry.transcript for entry in entries if entry.type == MEASUREMENTS_SIGNING]
    blocks = {m.index: m for m in evidence.measurements}
    for index, allowed in sorted(reference.measurements.items()):
        measurement = blocks.get(index)
        if measurement is None:
            out.failed.append(f"measurement {index} is missing (the reference lists it)")
            continue
        if measurement.value not in allowed:
            out.failed.append(f"measurement {index} is {measurement.value.hex()}, "
                              f"not one of the reference values")
            continue
        try:
            block = measurement_block(measurement).encode()
        except DevsecError as exc:
            out.failed.append(f"measurement {index}: {exc}")
            continue
        out.check(None if any(block in transcript for transcript in signed) else
                  f"measurement {index} matches a reference value but no verified signature covers it",
                  f"measurement {index} matches a reference value and is signed")


def _check_interface_report(policy: Policy, evidence: DeviceEvidence, out: _Outcome) -> None:
    rule = policy.tdisp
    if rule is None:
        return
    if not evidence.interface_report:
        out.failed.append("the device directory holds no interface report (no locked TDI), "
                          "which the policy's [tdisp] rules need")
        return
    report = parse_report(evidence.interface_report)  # DeviceEvidence parsed it once already
    if rule.interface_info:
        missing = rule.interface_info & ~report.interface_info
        out.check(f"the interface report lacks INTERFACE_INFO {_flag_names(missing)}" if missing else None,
                  f"the interface report sets {_flag_names(rule.interface_info)}")
    count = len(report.mmio_ranges)
    if rule.max_mmio_ranges is not None:
        out.check(f"the interface report lists {count} MMIO ranges, more than {rule.max_mmio_ranges}"
                  if count > rule.max_mmio_ranges else None,
                  f"the interface report lists {count} MMIO ranges (at most {rule.max_mmio_ranges})")
    if rule.device_specific_info is not None:
        info = report.device_specific_info
        out.check(None if info in rule.device_specific_info else
                  f"the interface report's DEVICE_SPECIFIC_INFO {info.hex() or '(empty)'} "
                  f"is not an allowed value", "the interface report's DEVICE_SPECIFIC_INFO is allowed")


def _flag_names(flags: InterfaceInfo) -> str:
    return " ".join(flag.name for flag in InterfaceInfo if flag.name and flag in flags)


def decide(policy: Policy, evidence: DeviceEvidence, verdicts: Sequence[LogVerdict], *,
           now: datetime | None = None) -> Decision:
    """Check a device's evidence and its log's verdicts against a policy (no I/O).

    Args:
        policy: the loaded policy.
        evidence: the device's evidence (as :func:`~sysfs_bridge.read.read_device_dir` read it).
        verdicts: :func:`~sysfs_bridge.log_verdict.verify_log`'s verdicts for the
            same tree; every signature, including the chain's inner links, is
            taken from them and not re-verified (see the module docstring).
        now: the time certificates must be valid at (default: the current time).

    Returns:
        The decision with every reason; never raises for the device's evidence.
    """
    when = now if now is not None else datetime.now(UTC)
    out = _Outcome()
    auth = evidence.authenticated
    out.check(None if auth else "the device is not authenticated",
              "authenticated (CMA-SPDM)" if auth is True else f"connected through TSM {auth}")
    entries = _verified_entries(evidence, verdicts, out)
    _check_chains(policy, evidence, entries, when, out)
    facts = evidence.spdm
    needs_facts = (policy.min_version is not None or policy.versions is not None or policy.algorithms
                   or policy.required)
    if facts is None:
        if needs_facts:
            out.failed.append("the device directory has no spdm/ facts (version, algorithms, "
                              "capabilities), which the policy's rules need")
    else:
        _check_consistency(facts, entries, out)
        _check_negotiated(policy, facts, out)
        for name in sorted(policy.required):
            out.check(_capability(name, facts, entries), f"capability {name} present")
    _check_measurements(policy, evidence, entries, out)
    _check_interface_report(policy, evidence, out)
    if out.failed:
        return _deny(evidence.bdf, out.failed)
    return Decision(evidence.bdf, True, policy.action, tuple(out.passed))


def evaluate(policy: Policy, device_dir: Path, *, now: datetime | None = None) -> Decision:
    """Read a device directory, re-verify its log, and decide.

    The tree is read and its log verified from one resolved directory; when a
    re-render swaps the directory meanwhile, the whole evaluation is repeated.

    Args:
        policy: the loaded policy.
        device_dir: ``ROOT/bus/pci/devices/<bdf>`` (or a kernel's device directory).
        now: the time certificates must be valid at (default: the current time).

    Returns:
        The decision; a missing, unreadable or corrupted tree is a denial with
        the reason, never an exception.
    """
    device_dir = Path(device_dir)
    try:
        bdf = device_bdf(device_dir)
    except ConfigurationError as exc:
        return _deny(device_dir.name, [f"not a device directory: {exc}"])
    for _ in range(_ATTEMPTS):
        try:
            directory = resolve_device_dir(device_dir)
        except ConfigurationError as exc:
            return _deny(bdf, [str(exc)])
        if directory is None:
            continue
        try:
            evidence = read_device_dir(directory)
            verdicts = verify_log(directory)
        except (DevsecError, OSError) as exc:
            if device_dir.resolve() != directory:
                continue
            return _deny(bdf, [f"unreadable evidence: {exc}"])
        if device_dir.resolve() == directory:
            return decide(policy, evidence, verdicts, now=now)
    return _deny(bdf, [f"{device_dir} was re-rendered (or led nowhere) during every evaluation attempt"])
