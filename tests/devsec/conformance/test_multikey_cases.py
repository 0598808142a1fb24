"""The multi-key cases (``spdm.multikey.*``): healthy multi-key devices pass, each broken one is caught.

The healthy device restricts slot 0's key to KEY_EXCHANGE and slot 1's to
CHALLENGE and MEASUREMENTS (MULTI_KEY_CAP NEG, or ONLY); a device without
MULTI_KEY_CAP has the cases skipped.  Each mutant rewrites one response of the
healthy NEG device and must fail the case named for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import pytest

from devsec.conformance import Verdict, run_suite, select
from devsec.emulator import EmulatedDevice
from spdm.config import DEFAULT_RESPONDER_CAPS, ResponderConfig
from spdm.device import DeviceModel
from spdm.device_endpoint import EndpointData, KeyPair
from spdm.messages.codes import BaseAsymAlgo
from spdm.messages.codes import CapabilityFlags as F
from spdm.transport import DataObject, DoeTransport, decode_data_object, encode_data_object

from .devices import healthy_device

CASES = ("spdm.multikey",)
H = 48
DIGESTS, CAPABILITIES = 0x01, 0x61


@cache
def _model() -> DeviceModel:
    model = DeviceModel.generate(BaseAsymAlgo.ECDSA_P384, slots=(0, 1))
    pairs = [KeyPair(1, 0x4, 0x1, 0x1, 0x80, 0x80, 0x1), KeyPair(2, 0x4, 0x6, 0x6, 0x80, 0x80, 0x2)]
    return model.with_endpoint(EndpointData(key_pairs=pairs, supported_slot_mask=0x0F))


def multi_key_device(cap: F = F.MULTI_KEY_CAP_NEG) -> EmulatedDevice:
    return EmulatedDevice(ResponderConfig(capabilities=DEFAULT_RESPONDER_CAPS | cap), _model())


def _verdicts(open_transport: Callable[[], DoeTransport]) -> dict[str, Verdict]:
    suite = run_suite(open_transport, select(include=CASES))
    return {r.run.case.id: r.verdict for r in suite.results}


@pytest.mark.parametrize("cap", [F.MULTI_KEY_CAP_NEG, F.MULTI_KEY_CAP_ONLY], ids=["neg", "only"])
def test_healthy_multi_key_devices_pass(cap: F) -> None:
    verdicts = _verdicts(multi_key_device(cap).pipe)
    assert verdicts == {"spdm.multikey.digests": Verdict.PASS, "spdm.multikey.key-usage": Verdict.PASS,
                        "spdm.multikey.selection": Verdict.PASS}


def test_a_device_without_multi_key_has_the_cases_skipped() -> None:
    assert set(_verdicts(healthy_device().pipe).values()) <= {Verdict.SKIP}


@dataclass(frozen=True)
class _Mutating:
    """The NEG device behind a transport that rewrites one kind of response."""

    inner: DoeTransport
    corrupt: Callable[[bytes, bytes], bytes]

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        response = decode_data_object(self.inner.exchange(request, timeout=timeout))
        payload = self.corrupt(decode_data_object(request).payload, response.payload)
        return encode_data_object(DataObject(response.vendor_id, response.object_type, payload))

    def close(self) -> None:
        self.inner.close()


def _digests_byte(offset: int, value: int) -> Callable[[bytes, bytes], bytes]:
    """DIGESTS of the two slots (multi-key: 2 digests, then 2 KeyPairIDs, 2 CertificateInfos, 2 usages)."""
    def corrupt(request: bytes, response: bytes) -> bytes:
        if response[1] != DIGESTS or len(response) != 4 + 2 * H + 8:
            return response
        at = 4 + 2 * H + offset
        return response[:at] + bytes([value]) + response[at + 1:]
    return corrupt


def _claims_only(request: bytes, response: bytes) -> bytes:
    if response[1] != CAPABILITIES:
        return response
    flags = int.from_bytes(response[8:12], "little") & ~F.MULTI_KEY_CAP_NEG | F.MULTI_KEY_CAP_ONLY
    return response[:8] + int(flags).to_bytes(4, "little") + response[12:]


MUTANTS = (
    ("a CertModel of none in DIGESTS", "spdm.multikey.digests", _digests_byte(2, 0)),
    ("slot 1's key said not to sign CHALLENGE_AUTH, which it still signs", "spdm.multikey.key-usage",
     _digests_byte(6, 0x04)),
    ("MULTI_KEY_CAP ONLY claimed, a connection without it accepted", "spdm.multikey.selection", _claims_only),
)


@pytest.mark.parametrize(("name", "catches", "corrupt"), MUTANTS, ids=[m[0] for m in MUTANTS])
def test_each_mutant_fails_its_case(name: str, catches: str,
                                    corrupt: Callable[[bytes, bytes], bytes]) -> None:
    device = multi_key_device()
    verdicts = _verdicts(lambda: _Mutating(device.pipe(), corrupt))
    assert verdicts[catches] is Verdict.FAIL, (name, verdicts)
