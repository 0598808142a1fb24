"""Real authentication reports from the emulated device, shared by the sysfs_bridge tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import cache

from spdm.authenticate import AuthenticationReport, authenticate
from spdm.config import RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.emulator import EmulatedDevice
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from sysfs_bridge import DeviceEvidence, evidence_from_report

NOW = datetime.now(UTC)
BDF = "0000:03:00.0"

CASES = (
    (BaseAsymAlgo.ECDSA_P384, SpdmVersion.V13),
    (BaseAsymAlgo.ECDSA_P256, SpdmVersion.V11),
    (BaseAsymAlgo.RSASSA_2048, SpdmVersion.V11),
    (BaseAsymAlgo.RSAPSS_2048, SpdmVersion.V13),
)
CASE_IDS = [f"{a.name}-{v.text}" for a, v in CASES]


@cache
def model(asym: BaseAsymAlgo) -> DeviceModel:
    """One generated device per algorithm for the whole run (RSA keys are slow to make)."""
    return DeviceModel.generate(asym)


@cache
def report(asym: BaseAsymAlgo, version: SpdmVersion) -> AuthenticationReport:
    """Authenticate the emulated device with one algorithm and version."""
    device_model = model(asym)
    prefs = replace(AlgorithmPreferences(), asym_algs=(asym,), hash_algs=(BaseHashAlgo.SHA_384,))
    device = EmulatedDevice(ResponderConfig(versions=(version,), algorithms=prefs), device_model)
    config = RequesterConfig(trust_anchors=(device_model.root_certificate(),))
    return authenticate(device.pipe(), config, now=NOW)


def evidence(asym: BaseAsymAlgo = BaseAsymAlgo.ECDSA_P384, version: SpdmVersion = SpdmVersion.V13,
             bdf: str = BDF) -> DeviceEvidence:
    """The evidence of one authentication of the emulated device."""
    return evidence_from_report(report(asym, version), bdf)
