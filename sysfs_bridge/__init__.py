"""Device evidence in the Linux sysfs layout: render it, read it back, re-verify its signature log.

What devsec learned from a device (certificates, every signature with what it
signed, DOE features, measurements, TSM state) is written under a root the
caller chooses as ``ROOT/bus/pci/devices/DDDD:BB:DD.F/`` with the kernel's
names, contents and modes (CMA-SPDM's ``authenticated``, ``certificates/``
(the supported slots only), ``signatures/``; mainline's ``doe_features/``
(``doe_discovery`` for the discovery protocol), ``tsm/`` (per function, as
Linux 6.19 shows it), ``class/tsm/`` and the PCI identity files ``vendor``,
``device``, ``subsystem_vendor``, ``subsystem_device``, ``class``; devsec's
``measurements/``, ``spdm/`` and ``interface_report/``), so policy tools read
devsec's tree and a real ``/sys`` with the same code.  Files are 0444,
directories 0755, write-only attributes empty 0200 files; every file is read
back bounded and only if it is a regular file (:mod:`.attribute`).

- :class:`DeviceEvidence` (+ :class:`SignatureEntry`, :class:`MeasurementEntry`,
  :class:`TsmState`, :class:`SpdmFacts`, :class:`PciIdentity`) and
  :func:`evidence_from_report`: the evidence as values.
- :func:`render`: write a device's tree atomically (pure rendering, I/O only under the root);
  :func:`remove_device` takes it away again.
- :func:`read_device`, :func:`read_device_dir`, :func:`list_devices`: parse a tree back
  into the same values.
- :func:`verify_log` -> :class:`LogVerdict`: re-verify every log entry offline.
- :func:`load_policy` -> :class:`Policy`, :func:`evaluate` / :func:`decide` ->
  :class:`Decision`: the policy engine (allow with ``connect``/``bind``, or refuse, and why).
- :func:`export_bundle`, :func:`verify_bundle` -> :class:`BundleVerdict`: evidence
  for a remote verifier, one ``devsec-evidence/1`` file signed over its nonce;
  :func:`export_eat`, :func:`verify_eat` -> :class:`EatVerdict`: the same evidence as an
  EAT-DA token (RATS verifiers); :func:`reference_corim`, :func:`read_corim`: reference
  values as CoRIM.
- submodules for acting on decisions (imported on their own): :mod:`.uevent` (kernel
  uevents and their sources), :mod:`.admission` (one device: authenticate, render, decide,
  act), :mod:`.actor` (the kernel's TSM ABI), :mod:`.tsm_actor` (devsec's own TSM),
  :mod:`.daemon` (the policy daemon).

devsec extensions:

- each log entry may carry ``<N>_asym_algorithm`` (the signature algorithm by
  name, e.g. ``ecdsa-p384``, ``ml-dsa-65`` for an SPDM 1.4 ML-DSA signature: a
  name, because the BaseAsymAlgo and PqcAsymAlgo numbers overlap); a kernel log
  without it is verified by deriving the algorithm from the leaf key.
- ``spdm/``: what VCA and the session settled, one attribute per file
  (``value\n``, names as :mod:`spdm.names` and the CLI spell them):
  ``version`` (``1.2``), ``hash_algorithm``, ``asym_algorithm``,
  ``measurement_hash_algorithm``, ``dhe_group`` and ``aead_suite`` (empty when
  no session ran), ``capabilities`` (the responder's flags, space-separated:
  ``CERT_CAP CHAL_CAP ...``) and ``vendor_protocols`` (the PCI-SIG
  vendor-defined protocols the device answered in a session: ``ide_km``,
  ``tdisp``; space-separated, possibly empty), and ``kem_algorithm``
  (``ml-kem-768``; only when the session's key exchange used an SPDM 1.4 KEM:
  ``dhe_group`` is then empty).  A kernel's ``/sys`` has no
  ``spdm/``: the facts are then unknown.
- ``interface_report/``: on a TDI's tree while its interface is locked, the
  TDISP interface report it was locked with, raw and parsed
  (:mod:`.interface_report`); a policy's ``[tdisp]`` table checks it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spdm.lazy import lazy_exports

if TYPE_CHECKING:
    from .bundle import BundleVerdict, export_bundle, verify_bundle
    from .corim import read_corim, reference_corim
    from .eat import EatVerdict, export_eat, verify_eat
    from .evidence import (
        DeviceEvidence,
        MeasurementEntry,
        SignatureEntry,
        SpdmFacts,
        TsmState,
        evidence_from_report,
        measurement_entry,
        signature_entry,
    )
    from .log_verdict import LogVerdict, verify_log
    from .pci import PciIdentity, pci_identity
    from .policy import Decision, decide, evaluate
    from .policy_file import Policy, PolicyError, load_policy
    from .read import list_devices, read_device, read_device_dir
    from .rendering import DEFAULT_MAX_SIGNATURES, remove_device, render
    from .tsm_evidence import evidence_from_tsm

__all__ = [
    "DEFAULT_MAX_SIGNATURES",
    "Decision",
    "BundleVerdict",
    "DeviceEvidence",
    "EatVerdict",
    "LogVerdict",
    "MeasurementEntry",
    "PciIdentity",
    "Policy",
    "PolicyError",
    "SignatureEntry",
    "SpdmFacts",
    "TsmState",
    "decide",
    "evaluate",
    "evidence_from_report",
    "evidence_from_tsm",
    "export_bundle",
    "export_eat",
    "list_devices",
    "load_policy",
    "measurement_entry",
    "pci_identity",
    "read_device",
    "read_corim",
    "read_device_dir",
    "reference_corim",
    "remove_device",
    "render",
    "signature_entry",
    "verify_bundle",
    "verify_eat",
    "verify_log",
]

__getattr__, __dir__ = lazy_exports(__name__, {
    "BundleVerdict": ".bundle",
    "export_bundle": ".bundle",
    "verify_bundle": ".bundle",
    "DeviceEvidence": ".evidence",
    "MeasurementEntry": ".evidence",
    "SignatureEntry": ".evidence",
    "SpdmFacts": ".evidence",
    "TsmState": ".evidence",
    "evidence_from_report": ".evidence",
    "measurement_entry": ".evidence",
    "signature_entry": ".evidence",
    "PciIdentity": ".pci",
    "pci_identity": ".pci",
    "Decision": ".policy",
    "decide": ".policy",
    "evaluate": ".policy",
    "Policy": ".policy_file",
    "PolicyError": ".policy_file",
    "load_policy": ".policy_file",
    "list_devices": ".read",
    "read_device": ".read",
    "read_device_dir": ".read",
    "DEFAULT_MAX_SIGNATURES": ".rendering",
    "remove_device": ".rendering",
    "render": ".rendering",
    "evidence_from_tsm": ".tsm_evidence",
    "LogVerdict": ".log_verdict",
    "verify_log": ".log_verdict",
    "EatVerdict": ".eat",
    "export_eat": ".eat",
    "verify_eat": ".eat",
    "read_corim": ".corim",
    "reference_corim": ".corim",
})
"""Public name -> its home module, imported on first use (``import sysfs_bridge`` stays cheap)."""
