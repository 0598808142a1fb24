"""Our requester against our responder, in memory: every version and algorithm, and the refusals.

The same flow (`spdm.cma`, `spdm.connection`) that ``devsec connect`` runs, over the
in-process pipe, the DOE mailbox model and loopback TCP.  Interop with the
independent implementation is in test_requester_interop.py; this file checks
the two roles of ours agree and that the requester refuses what it must.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest

from devsec.emulator import EmulatedDevice
from spdm.cma import AuthenticationReport, authenticate
from spdm.config import DEFAULT_RESPONDER_CAPS, DEFER_TRUST, RequesterConfig, ResponderConfig
from spdm.connection import connect
from spdm.crypto import Certificate, generate_device_identity
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.errors import ConfigurationError, NegotiationError, VerificationError
from spdm.events import CertificateChainReceived
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, CapabilityFlags, DmtfValueType, SpdmVersion
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import Requester
from spdm.transport import DoeTransport, EmuSocketClient

NOW = datetime.now(UTC)

ASYMS = (
    BaseAsymAlgo.ECDSA_P256, BaseAsymAlgo.ECDSA_P384, BaseAsymAlgo.ECDSA_P521,
    BaseAsymAlgo.RSASSA_2048, BaseAsymAlgo.RSAPSS_2048, BaseAsymAlgo.RSASSA_3072,
    BaseAsymAlgo.RSAPSS_3072, BaseAsymAlgo.RSASSA_4096, BaseAsymAlgo.RSAPSS_4096,
    BaseAsymAlgo.EDDSA_ED25519,
)
# Ed448 is left out on purpose: SPDM 1.2+ needs Ed448ctx, which cryptography cannot compute
# (spdm.crypto.sign refuses it with ConfigurationError; see test_signatures.py).
VERSIONS = (SpdmVersion.V10, SpdmVersion.V11, SpdmVersion.V12, SpdmVersion.V13)


@cache
def model(asym: BaseAsymAlgo) -> DeviceModel:
    """One generated device per algorithm for the whole run (RSA keys are slow to make)."""
    return DeviceModel.generate(asym)


def run(
    device_model: DeviceModel,
    *,
    version: SpdmVersion,
    hash_alg: BaseHashAlgo = BaseHashAlgo.SHA_384,
    anchors: tuple[Certificate, ...] | None = None,
    transport: str = "pipe",
) -> AuthenticationReport:
    prefs = replace(AlgorithmPreferences(), asym_algs=(device_model.asym_alg,), hash_algs=(hash_alg,))
    device = EmulatedDevice(ResponderConfig(versions=(version,), algorithms=prefs), device_model)
    config = RequesterConfig(
        trust_anchors=anchors if anchors is not None else (device_model.root_certificate(),),
    )
    if transport == "mailbox":
        return authenticate(device.mailbox(), config, now=NOW)
    return authenticate(device.pipe(), config, now=NOW)


@pytest.mark.parametrize("version", VERSIONS, ids=lambda v: v.text)
def test_every_version_authenticates(version: SpdmVersion) -> None:
    report = run(model(BaseAsymAlgo.ECDSA_P384), version=version)
    assert report.negotiated.version == version
    assert report.challenge is not None
    assert report.measurements is not None and report.measurements.evidence is not None
    kinds = {b.kind for b in report.measurements.blocks}
    assert DmtfValueType.MUTABLE_FIRMWARE in kinds
    assert (report.challenge.evidence.combined_prefix != b"") == (version >= SpdmVersion.V12)


@pytest.mark.parametrize("asym", ASYMS, ids=lambda a: a.name)
@pytest.mark.parametrize("version", (SpdmVersion.V11, SpdmVersion.V12, SpdmVersion.V13),
                         ids=lambda v: v.text)
def test_every_algorithm_authenticates(asym: BaseAsymAlgo, version: SpdmVersion) -> None:
    if asym == BaseAsymAlgo.EDDSA_ED25519 and version < SpdmVersion.V12:
        pytest.skip("EdDSA exists in SPDM only from 1.2")
    report = run(model(asym), version=version)
    assert report.negotiated.asym_alg == asym
    assert report.measurements is not None and report.measurements.evidence is not None


@pytest.mark.parametrize("hash_alg", (BaseHashAlgo.SHA_256, BaseHashAlgo.SHA_384, BaseHashAlgo.SHA_512),
                         ids=lambda h: h.name)
def test_every_hash_authenticates(hash_alg: BaseHashAlgo) -> None:
    report = run(model(BaseAsymAlgo.ECDSA_P256), version=SpdmVersion.V12, hash_alg=hash_alg)
    assert report.negotiated.hash_alg == hash_alg
    assert len(report.digests[0]) == {32: 32, 48: 48, 64: 64}[len(report.digests[0])]


def test_through_the_doe_mailbox_registers() -> None:
    report = run(model(BaseAsymAlgo.ECDSA_P384), version=SpdmVersion.V13, transport="mailbox")
    assert report.protocols[:2] == [(1, 0), (1, 1)]


@pytest.mark.socket
def test_over_loopback_tcp() -> None:
    device_model = model(BaseAsymAlgo.ECDSA_P256)
    device = EmulatedDevice(ResponderConfig(
        algorithms=replace(AlgorithmPreferences(), asym_algs=(device_model.asym_alg,))), device_model)
    server = device.server("127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = EmuSocketClient("127.0.0.1", server.address[1], timeout=10)
        try:
            report = authenticate(
                client, RequesterConfig(trust_anchors=(device_model.root_certificate(),)), now=NOW)
        finally:
            client.close()
        assert report.negotiated.version == SpdmVersion.V13
    finally:
        server.stop()
        thread.join(5)
        server.close()
    assert not thread.is_alive()


def test_signed_measurements_carry_the_callers_nonce() -> None:
    device_model = model(BaseAsymAlgo.ECDSA_P256)
    prefs = replace(AlgorithmPreferences(), asym_algs=(device_model.asym_alg,))
    device = EmulatedDevice(ResponderConfig(algorithms=prefs), device_model)
    nonce = bytes(range(32))
    connection = connect(device.pipe(), RequesterConfig(trust_anchors=(device_model.root_certificate(),)),
                         now=NOW, measurement_nonce=nonce)
    report = connection.report
    assert report.measurements is not None and report.measurements.evidence is not None
    evidence = report.measurements.evidence
    assert evidence.requester_nonce == nonce and nonce in evidence.transcript
    # A session's own measurements keep a fresh random nonce.
    with connection.open_session() as session:
        inside = session.measure().evidence
    assert inside is not None and inside.requester_nonce != nonce


def test_measurement_nonce_of_the_wrong_size_or_for_an_unsigning_device_is_refused() -> None:
    device_model = model(BaseAsymAlgo.ECDSA_P256)
    prefs = replace(AlgorithmPreferences(), asym_algs=(device_model.asym_alg,))
    config = RequesterConfig(trust_anchors=(device_model.root_certificate(),))
    device = EmulatedDevice(ResponderConfig(algorithms=prefs), device_model)
    with pytest.raises(ConfigurationError, match="32 bytes, not 16"):
        authenticate(device.pipe(), config, now=NOW, measurement_nonce=bytes(16))
    caps = (DEFAULT_RESPONDER_CAPS & ~CapabilityFlags.MEAS_CAP_SIG) | CapabilityFlags.MEAS_CAP_NO_SIG
    unsigned = EmulatedDevice(ResponderConfig(capabilities=caps, algorithms=prefs), device_model)
    with pytest.raises(NegotiationError, match="cannot sign measurements"):
        authenticate(unsigned.pipe(), config, now=NOW, measurement_nonce=bytes(32))


def test_chain_not_leading_to_the_trust_root_is_refused() -> None:
    stranger = generate_device_identity(BaseAsymAlgo.ECDSA_P384).root
    with pytest.raises(VerificationError, match="trusted root"):
        run(model(BaseAsymAlgo.ECDSA_P384), version=SpdmVersion.V12, anchors=(stranger,))


def test_trust_is_required_unless_deferred() -> None:
    device_model = model(BaseAsymAlgo.ECDSA_P384)
    device = EmulatedDevice(ResponderConfig(), device_model)
    with pytest.raises(ConfigurationError, match="no trust decision"):
        authenticate(device.pipe(), RequesterConfig(), now=NOW)
    report = authenticate(device.pipe(), RequesterConfig(trust_anchors=DEFER_TRUST), now=NOW)
    (chain_event,) = [e for e in report.events if isinstance(e, CertificateChainReceived)]
    assert chain_event.trusted is False  # anchored at its own root: the caller decides
    assert report.chain.certificates[0].der == device_model.root_certificate().der
    # Deferring trust keeps every other check: a wrong signing key still fails.
    impostor = device_model.with_signing_key(DeviceModel.generate(BaseAsymAlgo.ECDSA_P384))
    with pytest.raises(VerificationError, match="signature"):
        authenticate(EmulatedDevice(ResponderConfig(), impostor).pipe(),
                     RequesterConfig(trust_anchors=DEFER_TRUST), now=NOW)


def test_the_engine_refuses_a_chain_without_a_trust_decision() -> None:
    """A library user driving the engine without anchors gets no trusted chain, nor any challenge."""
    device = EmulatedDevice(ResponderConfig(), model(BaseAsymAlgo.ECDSA_P384))
    requester = Requester(RequesterConfig())
    driver = RequesterDriver(device.pipe(), requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests):
        driver.run(command)
    with pytest.raises(ConfigurationError, match="no trust decision"):
        driver.run(lambda: requester.get_certificate(0, now=NOW))
    assert requester.chains == {}


def test_wrong_signing_key_is_refused() -> None:
    honest = model(BaseAsymAlgo.ECDSA_P384)
    impostor = DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)
    forged = honest.with_signing_key(impostor)  # presents honest's chain, signs with another key
    with pytest.raises(VerificationError, match="signature"):
        run(forged, version=SpdmVersion.V12, anchors=(honest.root_certificate(),))


class TamperingTransport:
    """A man in the middle that flips one bit of the first response with a given SPDM code."""

    def __init__(self, inner: DoeTransport, code: int, offset: int) -> None:
        self.inner, self.code, self.offset, self.done = inner, code, offset, False

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        response = bytearray(self.inner.exchange(request, timeout=timeout))
        if not self.done and response[2] == 1 and response[9] == self.code:
            response[8 + self.offset] ^= 0x01
            self.done = True
        return bytes(response)

    def close(self) -> None:
        self.inner.close()


def test_measurements_altered_in_transit_are_refused() -> None:
    device_model = model(BaseAsymAlgo.ECDSA_P384)
    prefs = replace(AlgorithmPreferences(), asym_algs=(device_model.asym_alg,))
    device = EmulatedDevice(ResponderConfig(algorithms=prefs), device_model)
    # Offset 16 of MEASUREMENTS is inside the first block's value.
    transport = TamperingTransport(device.pipe(), code=0x60, offset=16)
    with pytest.raises(VerificationError, match="signature"):
        authenticate(transport, RequesterConfig(trust_anchors=(device_model.root_certificate(),)),
                     now=NOW)
    assert transport.done


def test_changed_firmware_shows_in_the_signed_measurements() -> None:
    base = run(model(BaseAsymAlgo.ECDSA_P384), version=SpdmVersion.V12).measurements
    altered_model = model(BaseAsymAlgo.ECDSA_P384).with_measurement(2, b"evil firmware")
    altered = run(altered_model, version=SpdmVersion.V12).measurements
    assert base is not None and altered is not None
    before = {b.index: b.value for b in base.blocks}
    after = {b.index: b.value for b in altered.blocks}
    assert before[2] != after[2] and {i for i in before if before[i] != after[i]} == {2}


def test_expired_chain_is_refused() -> None:
    with pytest.raises(VerificationError, match="not valid at"):
        device_model = model(BaseAsymAlgo.ECDSA_P256)
        prefs = replace(AlgorithmPreferences(), asym_algs=(device_model.asym_alg,))
        device = EmulatedDevice(ResponderConfig(algorithms=prefs), device_model)
        authenticate(device.pipe(), RequesterConfig(trust_anchors=(device_model.root_certificate(),)),
                     now=NOW + timedelta(days=365 * 30))


class RecordingTransport:
    """Notes the timeout the driver asks for with each SPDM request code."""

    def __init__(self, inner: DoeTransport) -> None:
        self.inner = inner
        self.timeouts: dict[int, float | None] = {}

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        if request[2] == 1:
            self.timeouts[request[9]] = timeout
        return self.inner.exchange(request, timeout=timeout)

    def close(self) -> None:
        self.inner.close()


def test_timeouts_follow_the_responders_ct_exponent() -> None:
    device_model = model(BaseAsymAlgo.ECDSA_P384)
    prefs = replace(AlgorithmPreferences(), asym_algs=(device_model.asym_alg,))
    device = EmulatedDevice(ResponderConfig(algorithms=prefs, ct_exponent=22), device_model)
    transport = RecordingTransport(device.pipe())
    authenticate(transport, RequesterConfig(trust_anchors=(device_model.root_certificate(),)), now=NOW)
    st1, ct = 0.1, (1 << 22) / 1e6
    assert transport.timeouts[0x81] == pytest.approx(st1)            # GET_DIGESTS: no crypto
    assert transport.timeouts[0x83] == pytest.approx(st1 + ct)       # CHALLENGE
    assert transport.timeouts[0xE0] == pytest.approx(st1 + ct)       # signed GET_MEASUREMENTS
