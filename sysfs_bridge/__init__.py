"""Device evidence in the Linux sysfs layout: render it, read it back, re-verify its signature log.

What devsec learned from a device (certificates, every signature with what it
signed, DOE features, measurements, TSM state) is written under a root the
caller chooses as ``ROOT/bus/pci/devices/DDDD:BB:DD.F/`` with the kernel's
names (CMA-SPDM's ``authenticated``, ``certificates/``, ``signatures/``;
mainline's ``doe_features/``, ``tsm/``, ``class/tsm/``; devsec's
``measurements/``), so policy tools read devsec's tree and a real ``/sys``
with the same code.

- :class:`DeviceEvidence` (+ :class:`SignatureEntry`, :class:`MeasurementEntry`,
  :class:`TsmState`) and :func:`evidence_from_report`: the evidence as values.
- :func:`render`: write a device's tree atomically (pure rendering, I/O only under the root).
- :func:`read_device`, :func:`list_devices`: parse a tree back into the same values.
- :func:`verify_log` -> :class:`LogVerdict`: re-verify every log entry offline.
- :func:`export_bundle`, :func:`verify_bundle` -> :class:`BundleVerdict`: evidence
  for a remote verifier, one ``devsec-evidence/1`` file signed over its nonce.

devsec extension: each log entry may carry ``<N>_asym_algorithm`` (the
signature algorithm by name, e.g. ``ecdsa-p384``); a kernel log without it is
verified by deriving the algorithm from the leaf key.
"""

from __future__ import annotations

from .bundle import BundleVerdict, export_bundle, verify_bundle
from .evidence import (
    DeviceEvidence,
    MeasurementEntry,
    SignatureEntry,
    TsmState,
    evidence_from_report,
    measurement_entry,
    signature_entry,
)
from .read import list_devices, read_device
from .render import DEFAULT_MAX_SIGNATURES, render
from .verify_log import LogVerdict, verify_log

__all__ = [
    "DEFAULT_MAX_SIGNATURES",
    "BundleVerdict",
    "DeviceEvidence",
    "LogVerdict",
    "MeasurementEntry",
    "SignatureEntry",
    "TsmState",
    "evidence_from_report",
    "export_bundle",
    "list_devices",
    "measurement_entry",
    "read_device",
    "render",
    "signature_entry",
    "verify_bundle",
    "verify_log",
]
