"""devsec's requester against devsec's device on SPDM 1.4: pipe, DOE mailbox model and loopback TCP.

The device lists 1.0-1.4 by default; the requester offers 1.4 when told to
(``versions=ALL_VERSIONS``; its default stops at 1.3).  The device holds a certificate chain
larger than 64 KiB, which only the 1.4 LargeCertChain form (32-bit offsets and
lengths, LARGE_RESP_CAP) can carry: the chain arrives whole, validates, and
the CHALLENGE_AUTH and MEASUREMENTS signatures over it verify with the
"dmtf-spdm-v1.4.*" prefix; a KEY_EXCHANGE session (1.4 opaque data in FINISH
and FINISH_RSP) comes up.  Below 1.4 the same device refuses the chain.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from devsec.emulator import EmulatedDevice
from spdm.cma import AuthenticationReport, authenticate
from spdm.config import ALL_VERSIONS, DEFAULT_REQUESTER_CAPS, RequesterConfig, ResponderConfig
from spdm.connection import connect
from spdm.device import DeviceModel
from spdm.errors import RemoteErrorResponse, SpdmErrorCode
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, RequestCode, SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from spdm.transport import EmuSocketClient
from tests.spdm.flow_matrix_support import large_model as matrix_large_model

NOW = datetime.now(UTC)
P384 = BaseAsymAlgo.ECDSA_P384
LARGE = CapabilityFlags.LARGE_RESP_CAP


@pytest.fixture(scope="module")
def large_model() -> DeviceModel:
    """A root CA certificate carrying 70 000 bytes of padding over the usual P-384 SPDM leaf."""
    return matrix_large_model(P384)


def _device(model: DeviceModel, *versions: SpdmVersion) -> EmulatedDevice:
    prefs = replace(AlgorithmPreferences(), asym_algs=(P384,))
    config = ResponderConfig(algorithms=prefs) if not versions else ResponderConfig(versions=versions,
                                                                                   algorithms=prefs)
    return EmulatedDevice(config, model)


class CountingPipe:
    """A DOE transport that records the SPDM requests it carries (out of session)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.requests: list[bytes] = []

    def exchange(self, obj: bytes, *, timeout: float | None = None) -> bytes:
        if obj[2] == 1:
            self.requests.append(obj[8:])
        return self.inner.exchange(obj, timeout=timeout)  # type: ignore[attr-defined, no-any-return]

    def close(self) -> None:
        self.inner.close()  # type: ignore[attr-defined]


def _check(report: AuthenticationReport, model: DeviceModel) -> None:
    assert report.negotiated.version == SpdmVersion.V14
    assert report.negotiated.both(LARGE)
    assert not report.negotiated.pqc_asym_alg and not report.negotiated.kem_alg
    assert report.challenge is not None
    assert report.challenge.evidence.combined_prefix.startswith(b"dmtf-spdm-v1.4.*" * 4)
    assert report.measurements is not None and report.measurements.evidence is not None
    assert report.chain.root == model.root_certificate()


@pytest.mark.parametrize("transport", ["pipe", "mailbox"])
def test_a_chain_over_64_kib_comes_in_the_large_form(large_model: DeviceModel, transport: str) -> None:
    device = _device(large_model)
    pipe = CountingPipe(device.pipe() if transport == "pipe" else device.mailbox())
    config = RequesterConfig(versions=ALL_VERSIONS, trust_anchors=(large_model.root_certificate(),))
    report = authenticate(pipe, config, now=NOW)
    _check(report, large_model)
    assert len(report.chain.raw) > 0x10000
    assert int.from_bytes(report.chain.raw[:4], "little") == len(report.chain.raw)
    gets = [r for r in pipe.requests if r[1] == RequestCode.GET_CERTIFICATE]
    assert gets and all(r[0] == SpdmVersion.V14 and r[2] & 0x80 and len(r) >= 16 for r in gets)


def test_a_session_comes_up_on_14(large_model: DeviceModel) -> None:
    device = _device(large_model)
    config = RequesterConfig(versions=ALL_VERSIONS, trust_anchors=(large_model.root_certificate(),))
    with connect(device.pipe(), config, now=NOW) as connection:
        assert connection.negotiated.version == SpdmVersion.V14
        session = connection.open_session()
        measured = session.measure()
        assert measured.evidence is not None
        report = session.report
        # DSP0277 1.2, as the reference selects on 1.4 (spdm14-p384's KEY_EXCHANGE opaque data)
        assert report.secured_message_version == 0x1200


def test_over_loopback_tcp(large_model: DeviceModel) -> None:
    device = _device(large_model)
    server = device.server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = EmuSocketClient("127.0.0.1", server.address[1], timeout=10)
        try:
            config = RequesterConfig(versions=ALL_VERSIONS, trust_anchors=(large_model.root_certificate(),))
            report = authenticate(client, config, now=NOW)
        finally:
            client.close()
        _check(report, large_model)
    finally:
        server.stop()
        thread.join(5)
        server.close()
    assert not thread.is_alive()


def test_below_14_the_large_chain_is_refused(large_model: DeviceModel) -> None:
    device = _device(large_model, SpdmVersion.V13)
    config = RequesterConfig(versions=ALL_VERSIONS, trust_anchors=(large_model.root_certificate(),))
    with pytest.raises(RemoteErrorResponse) as raised:
        authenticate(device.pipe(), config, now=NOW)
    assert raised.value.code == SpdmErrorCode.INVALID_REQUEST


def test_without_large_resp_the_14_requester_uses_the_small_form() -> None:
    model = DeviceModel.generate(P384)
    config = RequesterConfig(versions=ALL_VERSIONS, trust_anchors=(model.root_certificate(),),
                             capabilities=DEFAULT_REQUESTER_CAPS & ~LARGE)
    device_without = EmulatedDevice(ResponderConfig(
        algorithms=replace(AlgorithmPreferences(), asym_algs=(P384,)),
        capabilities=ResponderConfig().capabilities & ~LARGE), model)
    pipe = CountingPipe(device_without.pipe())
    report = authenticate(pipe, config, now=NOW)
    assert report.negotiated.version == SpdmVersion.V14 and not report.negotiated.both(LARGE)
    gets = [r for r in pipe.requests if r[1] == RequestCode.GET_CERTIFICATE]
    assert gets and all(not r[2] & 0x80 and len(r) == 8 for r in gets)



def test_at_14_without_large_resp_the_large_chain_is_data_too_large(large_model: DeviceModel) -> None:
    device = EmulatedDevice(ResponderConfig(
        algorithms=replace(AlgorithmPreferences(), asym_algs=(P384,)),
        capabilities=ResponderConfig().capabilities & ~LARGE), large_model)
    config = RequesterConfig(versions=ALL_VERSIONS, trust_anchors=(large_model.root_certificate(),))
    with pytest.raises(RemoteErrorResponse) as raised:
        authenticate(device.pipe(), config, now=NOW)
    assert raised.value.code == SpdmErrorCode.DATA_TOO_LARGE
