"""Real authentication reports from the emulated device, shared by the sysfs_bridge tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import cache

from devsec.emulator import EmulatedDevice, SecureDevice
from spdm.cma import AuthenticationReport, authenticate
from spdm.config import RequesterConfig, ResponderConfig
from spdm.connection import connect
from spdm.device import DeviceModel
from spdm.messages.codes import (
    AeadSuite,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    MeasurementHashAlgo,
    SpdmVersion,
)
from spdm.negotiation import AlgorithmPreferences
from sysfs_bridge import DeviceEvidence, evidence_from_report, pci_identity
from tdisp.messages import InterfaceInfo, InterfaceReport, MmioRange, TdiState
from tsm import DeviceInfo, LinkState, TdiInfo
from tsm.teeio import TeeIoSteps

NOW = datetime.now(UTC)
BDF = "0000:03:00.0"

CASES = (
    (BaseAsymAlgo.ECDSA_P384, SpdmVersion.V13),
    (BaseAsymAlgo.ECDSA_P256, SpdmVersion.V11),
    (BaseAsymAlgo.RSASSA_2048, SpdmVersion.V11),
    (BaseAsymAlgo.RSAPSS_2048, SpdmVersion.V13),
)
CASE_IDS = [f"{a.name}-{v.text}" for a, v in CASES]
VF = "0000:03:00.1"
REPORT = InterfaceReport(interface_info=InterfaceInfo.NO_FW_UPDATE | InterfaceInfo.DMA_WITHOUT_PASID,
                         mmio_ranges=(MmioRange(0xD0000, 16),), device_specific_info=b"dsi").encode()


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


@cache
def teeio_evidence(bdf: str = BDF) -> DeviceEvidence:
    """A TEE-IO device's evidence: authenticated, a session with IDE_KM and TDISP, its PCI IDs.

    The emulated device (ECDSA P-384, SPDM 1.3) is reached through its DOE
    mailbox registers; its identity comes from its modelled config space.
    """
    device_model = model(BaseAsymAlgo.ECDSA_P384)
    device = SecureDevice(ResponderConfig(), device_model)
    steps = TeeIoSteps(ide=True, tdis=(0x0101,))
    config = RequesterConfig(trust_anchors=(device_model.root_certificate(),))
    connection = connect(device.spdm.mailbox(), config, now=NOW)
    with connection.open_session() as session:
        session.measure()
        steps.run(session)
    rep = connection.report
    return evidence_from_report(rep, bdf, pci=pci_identity(device.spdm.config_space),
                                vendor_protocols=steps.vendor_protocols)


def tsm_info(link: LinkState, *tdis: tuple[str, TdiState], report: bytes = REPORT) -> DeviceInfo:
    """What a TSM reports for the device at :data:`BDF` (its certificates) with these TDIs.

    Every TDI but an unlocked one carries ``report`` as the report it was locked with.
    """
    ev = evidence()
    return DeviceInfo(
        bdf=BDF, tsm="tsm0", state=link, version=SpdmVersion.V13, hash_alg=BaseHashAlgo.SHA_384,
        asym_alg=BaseAsymAlgo.ECDSA_P384, measurement_hash_alg=MeasurementHashAlgo.SHA_384,
        dhe_group=DheGroup.SECP_384_R1, aead_suite=AeadSuite.AES_256_GCM,
        capabilities=CapabilityFlags.CERT_CAP, doe_features=((1, 0), (1, 1)),
        certificates=dict(ev.certificates), streams=(0,),
        tdis=tuple(TdiInfo(bdf=bdf, dsm=BDF, interface_id=0, state=state,
                           report=report if state != TdiState.CONFIG_UNLOCKED else b"", mmio_ranges=1)
                   for bdf, state in tdis))
