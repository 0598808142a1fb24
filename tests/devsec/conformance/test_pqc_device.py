"""The SPDM catalogue at 1.4 against a device signing only with ML-DSA-65 and keyed by ML-KEM-768.

Before the suite offered the post-quantum sets (as libspdm's requester does), such a device
answered every NEGOTIATE_ALGORITHMS with InvalidRequest and nearly every 1.4 case failed; and the
cases that check signatures, the leaf's key or a KEY_EXCHANGE assumed a BaseAsymAlgo and a DHE group.
"""

from __future__ import annotations

from devsec.conformance import Verdict, catalogue, run_suite
from devsec.emulator import EmulatedDevice
from spdm.config import DEFAULT_RESPONDER_CAPS, ResponderConfig
from spdm.device import DeviceModel
from spdm.messages.codes import CapabilityFlags, KemAlgo, PqcAsymAlgo, SpdmVersion
from spdm.negotiation import AlgorithmPreferences


def test_an_mldsa_mlkem_device_passes_the_spdm_cases_at_1_4() -> None:
    model = DeviceModel.generate(PqcAsymAlgo.ML_DSA_65)
    prefs = AlgorithmPreferences(asym_algs=(), pqc_asym_algs=(PqcAsymAlgo.ML_DSA_65,),
                                 kem_algs=(KemAlgo.ML_KEM_768,))
    device = EmulatedDevice(ResponderConfig(
        versions=(SpdmVersion.V14,), algorithms=prefs, max_spdm_msg_size=0x20000,
        capabilities=DEFAULT_RESPONDER_CAPS | CapabilityFlags.CHUNK_CAP), model)
    cases = [c for c in catalogue() if c.id.startswith("spdm.")]
    suite = run_suite(device.pipe, cases, versions=(0x14,), trust_roots=(model.root_certificate(),))
    bad = [(r.run.id, r.verdict, r.reason, [a.what for a in r.failures]) for r in suite.results
           if r.verdict in (Verdict.FAIL, Verdict.ERROR)]
    assert bad == []
    passed = {r.run.case.id for r in suite.results if r.verdict is Verdict.PASS}
    assert {"spdm.challenge.requester-flow", "spdm.measurements.signed", "spdm.key-exchange.session-ids",
            "spdm.algorithms.selection", "spdm.certificate.leaf-rules"} <= passed
