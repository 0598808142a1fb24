"""Our requester against our device with post-quantum algorithms (SPDM 1.4): ML-DSA identities
and ML-KEM sessions, over the in-process pipe and the DOE mailbox model (TCP: tests/devsec/test_pqc_cli.py).

Negotiation picks ML-DSA and ML-KEM when both sides offer them; then CHALLENGE_AUTH,
MEASUREMENTS, KEY_EXCHANGE_RSP (ML-DSA signatures, chunked: they exceed the
DataTransferSize) and an ML-KEM session.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import cache

import pytest

from devsec.emulator import EmulatedDevice
from spdm.config import (
    DEFAULT_REQUESTER_CAPS,
    DEFAULT_RESPONDER_CAPS,
    MUTUAL_AUTH_CAPS,
    RequesterConfig,
    ResponderConfig,
)
from spdm.connection import connect
from spdm.device import DeviceModel
from spdm.errors import RemoteErrorResponse
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, DheGroup, KemAlgo, PqcAsymAlgo, SpdmVersion
from spdm.negotiation import AlgorithmPreferences

NOW = datetime.now(UTC)
V14 = SpdmVersion.V14
MAX_MESSAGE = 0x28000


@cache
def model(alg: PqcAsymAlgo) -> DeviceModel:
    return DeviceModel.generate(alg)


def _prefs(alg: PqcAsymAlgo, kem: KemAlgo) -> AlgorithmPreferences:
    return replace(AlgorithmPreferences(), pqc_asym_algs=(alg,), kem_algs=(kem,))


def _session_pair(alg: PqcAsymAlgo, kem: KemAlgo, transfer: int = 0x1200, *, mailbox: bool = False) -> None:
    """Both sides offer only ``alg`` and ``kem``, and receive at most ``transfer`` bytes at once
    (larger messages go in chunks, up to the reference's MaxSPDMmsgSize 0x28000: an ML-DSA-87
    CHALLENGE_AUTH does not fit devsec's default 0x1200)."""
    device_model = model(alg)
    chunk = CapabilityFlags.CHUNK_CAP
    device = EmulatedDevice(ResponderConfig(versions=(V14,), algorithms=_prefs(alg, kem),
                                            capabilities=DEFAULT_RESPONDER_CAPS | chunk,
                                            data_transfer_size=transfer, max_spdm_msg_size=MAX_MESSAGE),
                            device_model)
    config = RequesterConfig(versions=(V14,), algorithms=_prefs(alg, kem),
                             capabilities=DEFAULT_REQUESTER_CAPS | chunk, data_transfer_size=transfer,
                             max_spdm_msg_size=MAX_MESSAGE,
                             trust_anchors=(device_model.root_certificate(),))
    connection = connect(device.mailbox() if mailbox else device.pipe(), config, now=NOW)
    report = connection.report
    negotiated = report.negotiated
    assert (negotiated.version, negotiated.pqc_asym_alg, negotiated.kem_alg) == (V14, alg, kem)
    assert (negotiated.asym_alg, negotiated.dhe_group) == (BaseAsymAlgo(0), DheGroup(0))
    assert report.challenge is not None
    assert report.measurements is not None and report.measurements.evidence is not None
    with connection.open_session() as session:
        inside = session.measure()
        assert inside.evidence is not None


@pytest.mark.parametrize("transfer", [0x1200, 0x400], ids=hex)
def test_mldsa65_mlkem768_pair(transfer: int) -> None:
    _session_pair(PqcAsymAlgo.ML_DSA_65, KemAlgo.ML_KEM_768, transfer)


@pytest.mark.parametrize("alg", [PqcAsymAlgo.ML_DSA_44, PqcAsymAlgo.ML_DSA_87], ids=lambda a: a.name)
def test_other_mldsa_sets(alg: PqcAsymAlgo) -> None:
    _session_pair(alg, KemAlgo.ML_KEM_768)


def test_mldsa65_mlkem768_over_the_doe_mailbox_model() -> None:
    _session_pair(PqcAsymAlgo.ML_DSA_65, KemAlgo.ML_KEM_768, mailbox=True)


def test_mlkem1024_pair() -> None:
    _session_pair(PqcAsymAlgo.ML_DSA_65, KemAlgo.ML_KEM_1024)


def test_selection_follows_the_devices_key() -> None:
    """A requester offering every ML-DSA set and the classic algorithms gets the device's own set;
    a classic device with PQC preferences still signs classically (its key decides)."""
    every = replace(AlgorithmPreferences(), pqc_asym_algs=tuple(PqcAsymAlgo),
                    kem_algs=(KemAlgo.ML_KEM_1024, KemAlgo.ML_KEM_768))
    pqc_model = model(PqcAsymAlgo.ML_DSA_44)
    device = EmulatedDevice(ResponderConfig(versions=(V14,), algorithms=every), pqc_model)
    config = RequesterConfig(versions=(V14,), algorithms=every, trust_anchors=(pqc_model.root_certificate(),))
    negotiated = connect(device.pipe(), config, now=NOW).report.negotiated
    assert (negotiated.pqc_asym_alg, negotiated.asym_alg) == (PqcAsymAlgo.ML_DSA_44, BaseAsymAlgo(0))
    assert negotiated.kem_alg == KemAlgo.ML_KEM_1024
    classic = DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)
    device = EmulatedDevice(ResponderConfig(versions=(V14,), algorithms=every), classic)
    config = replace(config, trust_anchors=(classic.root_certificate(),))
    negotiated = connect(device.pipe(), config, now=NOW).report.negotiated
    assert (negotiated.pqc_asym_alg, negotiated.asym_alg) == (PqcAsymAlgo(0), BaseAsymAlgo.ECDSA_P384)


def test_pqc_device_and_classic_requester_do_not_agree() -> None:
    pqc_model = model(PqcAsymAlgo.ML_DSA_65)
    device = EmulatedDevice(ResponderConfig(versions=(V14,), algorithms=_prefs(PqcAsymAlgo.ML_DSA_65,
                                                                             KemAlgo.ML_KEM_768)), pqc_model)
    config = RequesterConfig(versions=(V14,), trust_anchors=(pqc_model.root_certificate(),))
    with pytest.raises(RemoteErrorResponse, match="0xe3 with ERROR INVALID_REQUEST"):
        connect(device.pipe(), config, now=NOW)


@pytest.mark.parametrize("host_alg", [PqcAsymAlgo.ML_DSA_44, BaseAsymAlgo.ECDSA_P384], ids=lambda a: a.name)
def test_mutual_authentication_with_an_mldsa_host(host_alg: PqcAsymAlgo | BaseAsymAlgo) -> None:
    """KEY_EXCHANGE with encapsulated mutual authentication: the host's ML-DSA-44 chain is checked
    and its FINISH signature (ReqPqcAsymAlg, "requester-finish signing") verified by the device; an
    ECDSA host against the same preferences gets ReqBaseAsymAlg instead."""
    host = DeviceModel.generate(host_alg, role="requester")
    device_model = model(PqcAsymAlgo.ML_DSA_65)
    prefs = replace(_prefs(PqcAsymAlgo.ML_DSA_65, KemAlgo.ML_KEM_768),
                    req_pqc_asym_algs=(PqcAsymAlgo.ML_DSA_44,), req_asym_algs=(BaseAsymAlgo.ECDSA_P384,))
    device = EmulatedDevice(ResponderConfig(
        versions=(V14,), capabilities=DEFAULT_RESPONDER_CAPS | MUTUAL_AUTH_CAPS, algorithms=prefs,
        mutual_auth=True, requester_trust_anchors=(host.root_certificate(),)), device_model)
    config = RequesterConfig(versions=(V14,), capabilities=DEFAULT_REQUESTER_CAPS | MUTUAL_AUTH_CAPS,
                             algorithms=prefs, trust_anchors=(device_model.root_certificate(),))
    connection = connect(device.pipe(), config, now=NOW, identity=host)
    negotiated = connection.report.negotiated
    assert negotiated.req_signing_alg == host_alg
    with connection.open_session() as session:
        assert session.report.mutual_auth
