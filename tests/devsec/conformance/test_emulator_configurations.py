"""The whole catalogue against the emulator in every configuration a vendor can give it (issue 12 §6a).

Each configuration is one a ``devsec emulate`` flag (or the library's
:class:`spdm.config.ResponderConfig`) selects: algorithms, sessions with MAC
only, the handshake in the clear, measurement capabilities, PSK with and
without a context (the run then given the PSK), and single versions.  In
each, no case fails or errs, and every skip says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from devsec.conformance import RunOptions, Verdict, catalogue, run_suite
from devsec.emulator import SecureDevice
from spdm.config import DEFAULT_RESPONDER_CAPS, ResponderConfig
from spdm.device import DeviceModel
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, MeasurementHashAlgo, SpdmVersion
from spdm.messages.codes import CapabilityFlags as F
from spdm.negotiation import AlgorithmPreferences

from .devices import device_model
from .mutants_psk import PSK, PSK_HINT

pytestmark = pytest.mark.slow  # about 40 s in all: a whole catalogue per configuration

CAPS = DEFAULT_RESPONDER_CAPS
MEASUREMENTS = F.MEAS_CAP_SIG | F.MEAS_CAP_NO_SIG | F.MEAS_FRESH_CAP
WITH_PSK = RunOptions(psk=PSK, psk_hint=PSK_HINT)


@dataclass(frozen=True)
class Configuration:
    """One way to start the emulator, and the options the run is given for it.

    Attributes:
        name: the test id.
        config: the responder's configuration.
        model: its identity (generated on demand: RSA keys are slow to make).
        options: what the run is told (the PSK, for the PSK devices).
        versions: the SPDM versions the device must list.
    """

    name: str
    config: ResponderConfig
    model: Callable[[], DeviceModel] = device_model
    options: RunOptions = RunOptions()
    versions: tuple[int, ...] = (0x10, 0x11, 0x12, 0x13)


def _only(asym: BaseAsymAlgo, hash_alg: BaseHashAlgo,
          measurement: MeasurementHashAlgo) -> AlgorithmPreferences:
    return replace(AlgorithmPreferences(), asym_algs=(asym,), hash_algs=(hash_alg,),
                   measurement_hash_algs=(measurement,))


def _psk_model() -> DeviceModel:
    return device_model().with_psks({PSK_HINT: PSK})


CONFIGURATIONS = (
    Configuration("defaults", ResponderConfig()),
    Configuration("p256-sha256", ResponderConfig(
        algorithms=_only(BaseAsymAlgo.ECDSA_P256, BaseHashAlgo.SHA_256, MeasurementHashAlgo.SHA_256)),
        lambda: DeviceModel.generate(BaseAsymAlgo.ECDSA_P256)),
    Configuration("rsassa-3072", ResponderConfig(
        algorithms=_only(BaseAsymAlgo.RSASSA_3072, BaseHashAlgo.SHA_384, MeasurementHashAlgo.SHA_384)),
        lambda: DeviceModel.generate(BaseAsymAlgo.RSASSA_3072)),
    Configuration("ed25519", ResponderConfig(
        versions=(SpdmVersion.V12, SpdmVersion.V13),
        algorithms=_only(BaseAsymAlgo.EDDSA_ED25519, BaseHashAlgo.SHA_512, MeasurementHashAlgo.SHA_512)),
        lambda: DeviceModel.generate(BaseAsymAlgo.EDDSA_ED25519), versions=(0x12, 0x13)),
    Configuration("mac-only", ResponderConfig(capabilities=CAPS & ~F.ENCRYPT_CAP)),
    Configuration("handshake-in-the-clear",
                  ResponderConfig(capabilities=CAPS | F.HANDSHAKE_IN_THE_CLEAR_CAP)),
    Configuration("no-handshake-in-the-clear",
                  ResponderConfig(capabilities=CAPS & ~F.HANDSHAKE_IN_THE_CLEAR_CAP)),
    Configuration("unsigned-measurements",
                  ResponderConfig(capabilities=CAPS & ~MEASUREMENTS | F.MEAS_CAP_NO_SIG | F.MEAS_FRESH_CAP)),
    Configuration("no-measurements", ResponderConfig(capabilities=CAPS & ~MEASUREMENTS)),
    Configuration("psk-with-context", ResponderConfig(capabilities=CAPS | F.PSK_CAP_WITH_CONTEXT),
                  _psk_model, WITH_PSK),
    Configuration("psk-without-context", ResponderConfig(capabilities=CAPS | F.PSK_CAP),
                  _psk_model, WITH_PSK),
    Configuration("spdm-1.0-only", ResponderConfig(versions=(SpdmVersion.V10,)), versions=(0x10,)),
    Configuration("spdm-1.1-only", ResponderConfig(versions=(SpdmVersion.V11,)), versions=(0x11,)),
    Configuration("spdm-1.2-only", ResponderConfig(versions=(SpdmVersion.V12,)), versions=(0x12,)),
)


@pytest.mark.parametrize("configuration", CONFIGURATIONS, ids=lambda c: c.name)
def test_no_case_fails_or_errs_and_every_skip_says_why(configuration: Configuration) -> None:
    device = SecureDevice(configuration.config, configuration.model())
    suite = run_suite(device.spdm.pipe, catalogue(), options=configuration.options)
    assert suite.profile.versions == configuration.versions
    bad = [(r.run.id, r.verdict, r.reason, [f"{a.what}: {a.actual}" for a in r.failures])
           for r in suite.results if r.verdict in (Verdict.FAIL, Verdict.ERROR)]
    assert bad == []
    assert all(r.reason for r in suite.results if r.verdict is Verdict.SKIP)
    assert suite.counts[Verdict.PASS]


def test_the_psk_configurations_run_the_psk_session_cases() -> None:
    """Given the PSK, the PSK devices run (not skip) the PSK session cases at 1.1-1.3."""
    for configuration in (c for c in CONFIGURATIONS if c.options.psk is not None):
        device = SecureDevice(configuration.config, configuration.model())
        suite = run_suite(device.spdm.pipe, [c for c in catalogue() if c.id == "spdm.psk.in-session"],
                          options=configuration.options)
        assert [r.verdict for r in suite.results] == [Verdict.SKIP, Verdict.PASS, Verdict.PASS, Verdict.PASS]
