"""Re-verify a ``signatures/`` log offline, every entry from its own files alone.

For each entry ``N``: the linked ``certificates/slotX`` must hold DER
certificates (root first, leaf last: the leaf's key signed), each signed by
the one before it and valid together at some moment (the latest notBefore);
then the entry's signature is checked like every recorded signature
(:func:`~sysfs_bridge.signature.verify_recorded_signature`): ``_type`` is a
DSP0274 signing context, ``_combined_spdm_prefix`` is exactly the prefix its
version and ``_type`` imply (the version is read from the prefix text; an
empty prefix means SPDM 1.0/1.1), both nonces occur in the transcript, and
the signature verifies over the transcript with ``_hash_algorithm``.  The
signature algorithm comes from devsec's ``_asym_algorithm`` extension when
present (a name: ``ml-dsa-65`` for an SPDM 1.4 ML-DSA signature), else from the leaf
key (an RSA key is tried with RSASSA and RSAPSS; an ML-DSA key names its own set).
The chain's trust is the policy engine's business, not this module's, and so
is a first certificate that is not self-issued (the key that signed it is not
in the slot).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from spdm.crypto import (
    build_spdm_cert_chain,
    parse_der_certificates,
    parse_spdm_cert_chain,
    validate_cert_chain,
)
from spdm.crypto.certs import Role
from spdm.errors import DecodeError, DevsecError
from spdm.events import SignedEvidence
from spdm.messages.codes import SpdmVersion
from spdm.names import SIGNING_ALGORITHMS, parse_hash, parse_signing, signing_name
from spdm.record import record

from .read import read_entry
from .signature import verify_recorded_signature

__all__ = ["LogVerdict", "verify_log"]

_ENTRY = re.compile(r"(\d+)_[a-z_]+")
_LOG_DIR = "signatures"
_PREFIX_VERSION = re.compile(rb"dmtf-spdm-v(\d)\.(\d)\.\*")


@record(frozen=True, slots=True)
class LogVerdict:
    """The outcome for one log entry.

    Attributes:
        number: the entry number ``N``.
        ok: the signature verified from the entry's files.
        reason: what was verified, or why the entry failed.
    """

    number: int
    ok: bool
    reason: str


def _version(prefix: bytes) -> SpdmVersion:
    """The SPDM version a combined_spdm_prefix states (none: 1.0/1.1, which sign the same way)."""
    if not prefix:
        return SpdmVersion.V11
    match = _PREFIX_VERSION.match(prefix)
    if match is None:
        raise DecodeError("_combined_spdm_prefix does not start with dmtf-spdm-vM.m.*")
    try:
        return SpdmVersion((int(match.group(1)) << 4) | int(match.group(2)))
    except ValueError as exc:
        raise DecodeError(f"_combined_spdm_prefix names an unknown version: {exc}") from exc


def _verify_entry(signatures: Path, number: int, validated: set[tuple[bytes, str, Role]]) -> str:
    """Verify one entry; returns what was verified, raises DevsecError why not.

    ``validated`` holds the (slot contents, algorithm name, role) whose chain already
    passed in this run: entries linking the same slot share one chain check.  The
    algorithm goes by name: BaseAsymAlgo and PqcAsymAlgo members of one value are
    equal (and hash alike) as numbers.
    """
    entry = read_entry(signatures, number)
    version = _version(entry.combined_spdm_prefix)
    hash_alg = parse_hash(entry.hash_algorithm)
    slot = signatures.parent / "certificates" / f"slot{entry.certificate_slot}"
    try:
        chain = slot.read_bytes()
    except FileNotFoundError as exc:
        raise DecodeError(f"{slot}: missing") from exc
    if not chain:
        raise DecodeError(f"{slot}: slot {entry.certificate_slot} holds no certificate")
    certificates = parse_der_certificates(chain)
    # Rebuild the SPDM chain so spdm.crypto checks its inner links (each certificate
    # signed by the one before it, CA rules, the leaf's key and usage) with the first
    # certificate as its own anchor: whether that root is trusted is policy, not this log.
    # A self-issued first certificate is listed twice so its own signature is checked too.
    links = [certificates[0], *certificates] if certificates[0].subject == certificates[0].issuer \
        else certificates
    spdm_chain = parse_spdm_cert_chain(build_spdm_cert_chain(links, hash_alg), hash_alg)
    when = max(c.not_before for c in certificates)
    role: Role = "requester" if entry.type.startswith("requester-") else "responder"
    key = certificates[-1].public_key()
    if entry.asym_algorithm:
        candidates = [parse_signing(entry.asym_algorithm)]
    else:
        candidates = [asym for asym in SIGNING_ALGORITHMS.values() if key.matches(asym)]
        if not candidates:
            raise DecodeError("the leaf key fits no SPDM signature algorithm")
    failure: DevsecError | None = None
    for asym in candidates:
        evidence = SignedEvidence(
            context=entry.type, version=version, hash_alg=hash_alg, asym_alg=asym,
            slot_id=entry.certificate_slot, transcript=entry.transcript, signature=entry.signature,
            requester_nonce=entry.requester_nonce, responder_nonce=entry.responder_nonce,
            combined_prefix=entry.combined_spdm_prefix,
        )
        name = signing_name(asym)
        try:
            if (chain, name, role) not in validated:
                validate_cert_chain(spdm_chain, (certificates[0],), asym, now=when, role=role)
                validated.add((chain, name, role))
            verify_recorded_signature(evidence, key)
        except DevsecError as exc:
            failure = exc
            continue
        return (f"{name} signature over {len(entry.transcript)} transcript bytes "
                f"({entry.hash_algorithm}, SPDM {version.text}, slot {entry.certificate_slot}) verified")
    assert failure is not None
    raise failure


def _log_directory(path: Path) -> Path | None:
    """The ``signatures/`` log a path names: a device directory's, or the log directory itself.

    Users point at either (the log is what they want verified), so both are
    accepted: a directory named ``signatures``, or one holding log entries
    (``N_signature`` ...), is the log itself; its certificates are its
    parent's ``certificates/``, as the entries' ``_certificate_chain`` links say.

    Args:
        path: a device directory (``ROOT/bus/pci/devices/<bdf>``) or its ``signatures/``.

    Returns:
        The log directory, or None when ``path`` holds no log (or is no directory).
    """
    path = Path(os.path.abspath(path))  # "." inside the log has a name; symlinks stay as given
    if (path / _LOG_DIR).is_dir():
        return path / _LOG_DIR
    if not path.is_dir():
        return None
    if path.name == _LOG_DIR or any(_ENTRY.fullmatch(name) for name in os.listdir(path)):
        return path
    return None


def verify_log(path: Path) -> list[LogVerdict]:
    """Re-verify every entry of a device's ``signatures/`` log from its files alone.

    Args:
        path: a device directory (``ROOT/bus/pci/devices/<bdf>``), or its
            ``signatures/`` directory itself (where users naturally point).

    Returns:
        One verdict per entry, by number; an entry fails with the reason when
        any of its files is missing, malformed or tampered with.  Empty when the
        device has no log (or ``path`` is no directory).
    """
    signatures = _log_directory(path)
    if signatures is None:
        return []
    numbers = sorted({int(m.group(1)) for name in os.listdir(signatures)
                      if (m := _ENTRY.fullmatch(name))})
    verdicts = []
    validated: set[tuple[bytes, str, Role]] = set()
    for number in numbers:
        try:
            verdicts.append(LogVerdict(number, True, _verify_entry(signatures, number, validated)))
        except DevsecError as exc:
            verdicts.append(LogVerdict(number, False, str(exc)))
    return verdicts
