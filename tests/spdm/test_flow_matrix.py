"""Every new flow between devsec's requester and device: SPDM 1.2-1.4, classic and PQC, three transports.

The flows (each has its own pair tests; this module crosses them): chunking
(CHUNK_GET for CERTIFICATE and MEASUREMENTS, CHUNK_SEND for a large vendor
request), provisioning (GET_CSR, SET_CERTIFICATE, then attestation against the
new root), endpoint info / MEL / key pair info, multi-key connections, events
(SUBSCRIBE_EVENT_TYPES, then a measurement change delivered as an encapsulated
SEND_EVENT) and the 1.4 LargeCertChain.  Each cell runs the real requester
against the real :class:`~devsec.emulator.EmulatedDevice` over the named
transport and checks the flow's outcome: the requester verified every
signature (it raises otherwise), and the bytes are the device's.

The design covers rather than crosses (the full product would take minutes):
every flow x every version it exists in, classic signing (ECDSA P-384); on 1.4
every flow once more with ML-DSA-44 and ML-KEM-768; the transport rotates
through pipe, DOE mailbox model and socket from cell to cell, so each flow
meets at least two transports; and the chunking flow, which touches the most
transport code (large messages, many exchanges), on every transport x every
version x both algorithm families where they exist.

A flow that does not exist in a version is checked to be refused as DSP0274
says: the device does not advertise its (later-version, reserved) capability
bits, devsec's requester refuses to send it, and a device that receives the
request anyway answers ERROR(UnsupportedRequest, the request code).  PQC below
1.4 has no algorithm field to be negotiated in, so a requester offering only
ML-DSA/ML-KEM finds nothing in common.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest

from devsec.emulator import EmulatedDevice
from spdm.cma import authenticate
from spdm.config import DEFAULT_REQUESTER_CAPS, DEFAULT_RESPONDER_CAPS, RequesterConfig, ResponderConfig
from spdm.crypto import (
    Certificate,
    SigningAlgo,
    build_spdm_cert_chain,
    digest,
    generate_ca,
    issue_leaf_from_csr,
    verify,
)
from spdm.device_endpoint import DEFAULT_CLASS_IDENTIFIER, EndpointData, KeyPair
from spdm.driver import RequesterDriver
from spdm.errors import LocalProtocolError, RemoteErrorResponse, SpdmErrorCode
from spdm.events import (
    CertificateChainReceived,
    CertificateInstalled,
    ChallengeAuthenticated,
    CsrReceived,
    DeviceEventReceived,
    DigestsReceived,
    EndpointInfoReceived,
    Event,
    EventTypesSubscribed,
    KeyPairInfoReceived,
    KeyPairInfoSet,
    MeasurementExtensionLogReceived,
    MeasurementsReceived,
    SessionEstablished,
    VendorResponseReceived,
)
from spdm.messages.codes import (
    BaseAsymAlgo,
    CapabilityFlags,
    KeyPairOperation,
    KeyUsage,
    PqcAsymAlgo,
    RequestCode,
    SpdmVersion,
)
from spdm.messages.event import DmtfEventType, EventGroup
from spdm.provisioning import ProvisionableDevice
from spdm.requester import Requester
from spdm.transport import (
    PCI_SIG_VENDOR_ID,
    DataObject,
    DataObjectType,
    decode_data_object,
    encode_data_object,
)

from .flow_matrix_support import (
    ALGORITHMS,
    TRANSPORTS,
    Counting,
    Transport,
    large_model,
    model,
    preferences,
    reach,
)

NOW = datetime.now(UTC)
F = CapabilityFlags
V12, V13, V14 = SpdmVersion.V12, SpdmVersion.V13, SpdmVersion.V14
VERSIONS = (V12, V13, V14)
FAMILIES = {V12: ("classic",), V13: ("classic",), V14: ("classic", "pqc")}
CHUNK_DTS = 0x100
MAX_MESSAGE = 0x28000
NO_CAPS = F(0)
DEFAULT_TRANSFER = 0x1200
PROVISIONING_CAPS = F.CSR_CAP | F.SET_CERT_CAP
ENDPOINT_CAPS = F.EP_INFO_CAP_SIG | F.MEL_CAP | F.GET_KEY_PAIR_INFO_CAP | F.SET_KEY_PAIR_INFO_CAP
KEY_EX = int(KeyUsage.KEY_EXCHANGE)
CHAL_MEAS = int(KeyUsage.CHALLENGE | KeyUsage.MEASUREMENT)

E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Cell:
    """One cell: a flow at one version, with one algorithm family, over one transport."""

    flow: str
    version: SpdmVersion
    family: str
    transport: Transport

    @property
    def alg(self) -> SigningAlgo:
        return ALGORITHMS[self.family]

    @property
    def id(self) -> str:
        return f"{self.flow}-{self.version.text}-{self.family}-{self.transport}"


def start(wire: Counting, config: RequesterConfig) -> tuple[Requester, RequesterDriver]:
    """VCA of a fresh requester over ``wire``."""
    requester = Requester(config)
    driver = RequesterDriver(wire, requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms):
        driver.run(command)
    return requester, driver


def attest(requester: Requester, driver: RequesterDriver, *slots: int) -> list[Event]:
    """GET_DIGESTS, then each slot's chain (validated against the trust anchors)."""
    events = driver.run(requester.get_digests)
    for slot in slots:
        [chain] = [e for e in driver.run(lambda s=slot: requester.get_certificate(s, now=NOW))  # type: ignore[misc]
                   if isinstance(e, CertificateChainReceived)]
        assert chain.trusted
        events.append(chain)
    return events


def one(events: list[Event], kind: type[E]) -> E:
    [event] = [e for e in events if isinstance(e, kind)]
    return event


def largest(caps: F, transfer: int) -> int:
    """MaxSPDMmsgSize: with chunking, the reference's 0x28000 (an ML-DSA CHALLENGE_AUTH is larger
    than 0x1200); else the transfer size."""
    return MAX_MESSAGE if caps & F.CHUNK_CAP else transfer


def device_config(cell: Cell, caps: F = NO_CAPS, transfer: int = DEFAULT_TRANSFER) -> ResponderConfig:
    """The device lists every version (1.0-1.4); the requester offers only the cell's."""
    return ResponderConfig(capabilities=DEFAULT_RESPONDER_CAPS | caps, algorithms=preferences(cell.alg),
                           data_transfer_size=transfer, max_spdm_msg_size=largest(caps, transfer))


def host_config(cell: Cell, anchors: tuple[Certificate, ...], caps: F = NO_CAPS,
                transfer: int = DEFAULT_TRANSFER, *, multi_key_conn: bool = False) -> RequesterConfig:
    return RequesterConfig(versions=(cell.version,), capabilities=DEFAULT_REQUESTER_CAPS | caps,
                           algorithms=preferences(cell.alg), trust_anchors=anchors,
                           data_transfer_size=transfer, max_spdm_msg_size=largest(caps, transfer),
                           multi_key_conn=multi_key_conn)


def check_negotiated(requester: Requester, cell: Cell) -> None:
    negotiated = requester.negotiated
    assert negotiated is not None and negotiated.version == cell.version
    if isinstance(cell.alg, PqcAsymAlgo):
        assert (negotiated.pqc_asym_alg, negotiated.asym_alg) == (cell.alg, BaseAsymAlgo(0))
    else:
        assert (negotiated.asym_alg, negotiated.pqc_asym_alg) == (cell.alg, PqcAsymAlgo(0))


def refused_by_the_device(wire: Counting, version: SpdmVersion, code: RequestCode) -> None:
    """A request the negotiated version does not have gets ERROR(UnsupportedRequest, code)."""
    request = DataObject(PCI_SIG_VENDOR_ID, DataObjectType.SPDM, bytes([version, code, 0, 0]))
    answer = decode_data_object(wire.exchange(encode_data_object(request))).payload
    assert answer[:4] == bytes([version, 0x7F, SpdmErrorCode.UNSUPPORTED_REQUEST, code])


# --- the flows -------------------------------------------------------------------------------------

def chunking(cell: Cell, _: Path) -> None:
    """CERTIFICATE, CHALLENGE_AUTH and MEASUREMENTS far over DataTransferSize come by CHUNK_GET,
    a 768-byte vendor request goes by CHUNK_SEND, out of and in a session; the signatures verify
    over the whole messages."""
    device_model = model(cell.alg)
    device = EmulatedDevice(device_config(cell, F.CHUNK_CAP, CHUNK_DTS), device_model)
    device.responder.register_vendor_handler(0x7F, b"\x99", lambda payload, _: payload[::-1])
    config = host_config(cell, (device_model.root_certificate(),), F.CHUNK_CAP, CHUNK_DTS)
    payload = bytes(range(256)) * 3
    with reach(device, cell.transport) as wire:
        requester, driver = start(wire, config)
        check_negotiated(requester, cell)
        attest(requester, driver, 0)
        one(driver.run(requester.challenge), ChallengeAuthenticated)
        measured = one(driver.run(requester.get_measurements), MeasurementsReceived)
        assert measured.evidence is not None and measured.blocks
        vendor = driver.run(lambda: requester.vendor_defined(0x7F, b"\x99", payload))
        assert one(vendor, VendorResponseReceived).payload == payload[::-1]
        assert wire.codes.count(RequestCode.CHUNK_GET) > 4 and wire.codes.count(RequestCode.CHUNK_SEND) >= 3
        # in a session too: KEY_EXCHANGE_RSP (and, with ML-KEM, KEY_EXCHANGE) exceed 0x100 themselves
        sid = one(driver.run(requester.key_exchange), SessionEstablished).session_id
        inside = one(driver.run(lambda: requester.get_measurements(session_id=sid)), MeasurementsReceived)
        assert inside.evidence is not None and inside.blocks == measured.blocks
        vendor = driver.run(lambda: requester.vendor_defined(0x7F, b"\x99", payload, session_id=sid))
        assert one(vendor, VendorResponseReceived).payload == payload[::-1]


def provisioning(cell: Cell, tmp_path: Path) -> None:
    """A blank device: GET_CSR, a CA issues the leaf, SET_CERTIFICATE; then the device attests
    against that CA's root.  An ML-DSA chain (some 8 KiB) exceeds the DataTransferSize: it goes
    by CHUNK_SEND, which both sides offer here."""
    blank = ProvisionableDevice.open(tmp_path / "device.json", cell.alg)  # type: ignore[arg-type]
    device = EmulatedDevice(device_config(cell, PROVISIONING_CAPS | F.CHUNK_CAP), blank)
    ca, ca_key = generate_ca(cell.alg)  # type: ignore[arg-type]
    with reach(device, cell.transport) as wire:
        requester, driver = start(wire, host_config(cell, (ca,), F.CHUNK_CAP))
        check_negotiated(requester, cell)
        assert one(driver.run(requester.get_digests), DigestsReceived).digests == {}
        csr = one(driver.run(requester.get_csr), CsrReceived).csr
        csr.verify()
        assert requester.negotiated is not None
        hash_alg = requester.negotiated.hash_alg
        chain = build_spdm_cert_chain([ca, issue_leaf_from_csr(csr, ca, ca_key)], hash_alg)
        installed = one(driver.run(lambda: requester.set_certificate(0, chain)), CertificateInstalled)
        assert installed == CertificateInstalled(0, erased=False)
        assert (RequestCode.CHUNK_SEND in wire.codes) == (len(chain) > DEFAULT_TRANSFER)
        digests = one(driver.run(requester.get_digests), DigestsReceived)
        assert digests.digests == {0: digest(hash_alg, chain)}
        got = one(driver.run(lambda: requester.get_certificate(0, now=NOW)), CertificateChainReceived)
        assert got.trusted and got.chain.raw == chain
        one(driver.run(requester.challenge), ChallengeAuthenticated)


def endpoint(cell: Cell, _: Path) -> None:
    """Signed ENDPOINT_INFO that re-verifies; then, in a session, the MEL as the device extended
    it (in portions) and a key pair's info before and after SET_KEY_PAIR_INFO.  DataTransferSize
    0x100 with chunking: the ML-DSA ENDPOINT_INFO and KEY_EXCHANGE messages come in chunks."""
    data = EndpointData(key_pairs=[KeyPair(1, 0x3F, 0x1, 0x1, 0x1FF, 0x80, 0x1)])
    for n in range(30):
        data.extend(0x11, 0x89, f"boot stage {n}".encode())
    device_model = model(cell.alg).with_endpoint(data)
    device = EmulatedDevice(device_config(cell, ENDPOINT_CAPS | F.CHUNK_CAP, CHUNK_DTS), device_model)
    config = host_config(cell, (device_model.root_certificate(),), F.CHUNK_CAP, CHUNK_DTS)
    with reach(device, cell.transport) as wire:
        requester, driver = start(wire, config)
        check_negotiated(requester, cell)
        attest(requester, driver, 0)
        info = one(driver.run(requester.get_endpoint_info), EndpointInfoReceived)
        assert info.ep_info == DEFAULT_CLASS_IDENTIFIER.encode()
        evidence = info.evidence
        assert evidence is not None and requester.negotiated is not None
        verify(requester.chains[0].leaf.public_key(), requester.negotiated.signing_alg, evidence.hash_alg,
               SpdmVersion(evidence.version), evidence.context, evidence.transcript, evidence.signature)
        sid = one(driver.run(requester.key_exchange), SessionEstablished).session_id
        log = driver.run(lambda: requester.get_measurement_extension_log(session_id=sid))
        mel = one(log, MeasurementExtensionLogReceived)
        assert mel.mel == data.mel.encode() and mel.entries == 30
        pair = one(driver.run(lambda: requester.get_key_pair_info(1, session_id=sid)), KeyPairInfoReceived)
        assert pair.assoc_cert_slot_mask == 1
        change = driver.run(lambda: requester.set_key_pair_info(
            1, KeyPairOperation.CHANGE, assoc_cert_slot_mask=0x5, session_id=sid))
        assert change == [KeyPairInfoSet(KeyPairOperation.CHANGE, 1)]
        pair = one(driver.run(lambda: requester.get_key_pair_info(1, session_id=sid)), KeyPairInfoReceived)
        assert pair.assoc_cert_slot_mask == 5


def multikey(cell: Cell, _: Path) -> None:
    """Slot 0's key may only sign KEY_EXCHANGE_RSP, slot 1's only CHALLENGE_AUTH and MEASUREMENTS:
    DIGESTS says so, the requester keeps to it, and each signature verifies."""
    pairs = [KeyPair(1, 0x4, KEY_EX, KEY_EX, 0x80, 0x80, 0x1),
             KeyPair(2, 0x4, CHAL_MEAS, CHAL_MEAS, 0x80, 0x80, 0x2)]
    device_model = model(cell.alg, (0, 1)).with_endpoint(
        EndpointData(key_pairs=pairs, supported_slot_mask=0x0F, cert_models={1: 3}))
    device = EmulatedDevice(device_config(cell, F.MULTI_KEY_CAP_NEG), device_model)
    anchors = (device_model.root_certificate(0), device_model.root_certificate(1))
    config = host_config(cell, anchors, multi_key_conn=True)
    with reach(device, cell.transport) as wire:
        requester, driver = start(wire, config)
        check_negotiated(requester, cell)
        assert requester.negotiated is not None and requester.negotiated.multi_key
        digests = one(attest(requester, driver, 0, 1), DigestsReceived)
        assert (digests.supported_slot_mask, digests.provisioned_slot_mask) == (0x0F, 0x03)
        assert [requester.slot_keys[s].key_usage for s in (0, 1)] == [KEY_EX, CHAL_MEAS]
        with pytest.raises(LocalProtocolError, match="may not sign"):
            requester.challenge(0)
        one(driver.run(lambda: requester.challenge(1)), ChallengeAuthenticated)
        measured = one(driver.run(lambda: requester.get_measurements(slot_id=1)), MeasurementsReceived)
        assert measured.evidence is not None
        one(driver.run(lambda: requester.key_exchange(0)), SessionEstablished)


def events(cell: Cell, _: Path) -> None:
    """In a session: SUBSCRIBE_EVENT_TYPES; the device's measurements change; the next
    GET_ENCAPSULATED_REQUEST brings the MeasurementChanged event."""
    device_model = model(cell.alg)
    device = EmulatedDevice(device_config(cell, F.EVENT_CAP | F.ENCAP_CAP), device_model)
    config = host_config(cell, (device_model.root_certificate(),), F.ENCAP_CAP)
    with reach(device, cell.transport) as wire:
        requester, driver = start(wire, config)
        check_negotiated(requester, cell)
        attest(requester, driver, 0)
        session_id = one(driver.run(requester.key_exchange), SessionEstablished).session_id
        subscribe = driver.run(lambda: requester.subscribe_event_types(session_id))
        subscribed = one(subscribe, EventTypesSubscribed)
        assert subscribed.groups == (EventGroup(attributes=1),)
        assert device.responder.update_measurements(device_model.with_measurement(2, b"firmware v2")) == {2}
        event = one(driver.run(lambda: requester.poll_encapsulated(session_id)), DeviceEventReceived)
    assert (event.session_id, event.event_type_id) == (session_id, DmtfEventType.MEASUREMENT_CHANGED)
    assert event.changed_measurements == {2}


def large_chain(cell: Cell, _: Path) -> None:
    """A chain over 64 KiB arrives whole in the 1.4 LargeCertChain form; CHALLENGE_AUTH and
    MEASUREMENTS verify against it.  The PQC cells add chunking (DataTransferSize 0x400), so the
    large portions come by CHUNK_GET too."""
    device_model = large_model(cell.alg)
    chunk, transfer = (F.CHUNK_CAP, 0x400) if cell.family == "pqc" else (NO_CAPS, DEFAULT_TRANSFER)
    device = EmulatedDevice(device_config(cell, chunk, transfer), device_model)
    config = host_config(cell, (device_model.root_certificate(),), chunk, transfer)
    with reach(device, cell.transport) as wire:
        report = authenticate(wire, config, now=NOW)
    assert report.negotiated.version == V14 and report.negotiated.both(F.LARGE_RESP_CAP)
    assert report.challenge is not None and report.measurements is not None
    assert report.measurements.evidence is not None
    assert len(report.chain.raw) > 0x10000 and report.chain.root == device_model.root_certificate()
    gets = [r for r in wire.requests if r[1] == RequestCode.GET_CERTIFICATE]
    assert gets and all(r[0] == V14 and r[2] & 0x80 for r in gets)
    assert (RequestCode.CHUNK_GET in wire.codes) == bool(chunk)


FLOWS: dict[str, tuple[SpdmVersion, Callable[[Cell, Path], None]]] = {
    "chunking": (V12, chunking),
    "provisioning": (V12, provisioning),
    "endpoint": (V13, endpoint),
    "multikey": (V13, multikey),
    "events": (V13, events),
    "large_chain": (V14, large_chain),
}
"""Each flow, the version it comes in, and the cell that runs it."""


def _cells() -> list[Cell]:
    """Every flow x every version it exists in x every transport; on 1.4 classic and PQC."""
    return [Cell(flow, version, family, transport)
            for flow, (since, _) in FLOWS.items() for version in VERSIONS if version >= since
            for family in FAMILIES[version] for transport in TRANSPORTS]


CELLS = _cells()


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_flow(cell: Cell, tmp_path: Path) -> None:
    FLOWS[cell.flow][1](cell, tmp_path)


# --- where a flow does not exist ----------------------------------------------------------------

@dataclass(frozen=True)
class Absent:
    """What a flow is made of, to check that a version without it refuses each part."""

    device_caps: F
    new_caps: F
    host_caps: F = NO_CAPS
    codes: tuple[RequestCode, ...] = ()
    commands: tuple[Callable[[Requester], None], ...] = ()


ABSENT: dict[str, Absent] = {
    "chunking": Absent(F.CHUNK_CAP, F.CHUNK_CAP, F.CHUNK_CAP,
                       (RequestCode.CHUNK_GET, RequestCode.CHUNK_SEND)),
    "provisioning": Absent(PROVISIONING_CAPS, PROVISIONING_CAPS,
                           codes=(RequestCode.GET_CSR, RequestCode.SET_CERTIFICATE),
                           commands=(lambda r: r.get_csr(), lambda r: r.set_certificate(0, b"\x04\0\0\0"))),
    "endpoint": Absent(ENDPOINT_CAPS, ENDPOINT_CAPS | F.EP_INFO_CAP_NO_SIG, codes=(
        RequestCode.GET_ENDPOINT_INFO, RequestCode.GET_MEASUREMENT_EXTENSION_LOG,
        RequestCode.GET_KEY_PAIR_INFO, RequestCode.SET_KEY_PAIR_INFO), commands=(
        lambda r: r.get_endpoint_info(signed=False), lambda r: r.get_measurement_extension_log(),
        lambda r: r.get_key_pair_info(1), lambda r: r.set_key_pair_info(1))),
    "multikey": Absent(F.MULTI_KEY_CAP_NEG, F.MULTI_KEY_CAP_NEG | F.MULTI_KEY_CAP_ONLY),
    "events": Absent(F.EVENT_CAP | F.ENCAP_CAP, F.EVENT_CAP, F.ENCAP_CAP,
                     (RequestCode.GET_SUPPORTED_EVENT_TYPES, RequestCode.SUBSCRIBE_EVENT_TYPES),
                     (lambda r: r.get_supported_event_types(1), lambda r: r.subscribe_event_types(1))),
    "large_chain": Absent(F(0), F.LARGE_RESP_CAP),
}
"""Per flow: the device's capabilities for it, those of them new with it (reserved before), the
host's, its request codes and the requester's commands."""

ABSENT_CELLS = [Cell(flow, version, "classic", transport)
                for flow, (since, _) in FLOWS.items() for version in (SpdmVersion.V11, V12, V13)
                if version < since for transport in TRANSPORTS]


@pytest.mark.parametrize("cell", ABSENT_CELLS, ids=[c.id for c in ABSENT_CELLS])
def test_a_version_without_the_flow_refuses_it(cell: Cell) -> None:
    """The device leaves the flow's (reserved) capability bits clear, the requester will not send
    its requests, and the device answers them with ERROR(UnsupportedRequest, code) anyway; on a
    multi-key device nothing of multi-key applies, and a chain over 64 KiB cannot be served."""
    absent = ABSENT[cell.flow]
    device_model = large_model(cell.alg) if cell.flow == "large_chain" else model(cell.alg)
    device = EmulatedDevice(device_config(cell, absent.device_caps), device_model)
    config = host_config(cell, (device_model.root_certificate(),), absent.host_caps,
                         multi_key_conn=cell.flow == "multikey")
    with reach(device, cell.transport) as wire:
        requester, driver = start(wire, config)
        negotiated = requester.negotiated
        assert negotiated is not None and negotiated.version == cell.version
        assert not negotiated.responder_flags & absent.new_caps
        for command in absent.commands:
            with pytest.raises(LocalProtocolError):
                command(requester)
        if cell.flow == "large_chain":  # the 16-bit CERTIFICATE form cannot carry it
            with pytest.raises(RemoteErrorResponse) as refused:
                attest(requester, driver, 0)
            assert refused.value.code == SpdmErrorCode.INVALID_REQUEST
            assert wire.codes[-1] == RequestCode.GET_CERTIFICATE
        if cell.flow == "multikey":
            assert not negotiated.multi_key
            attest(requester, driver, 0)
            assert requester.slot_keys == {} and requester.usable_slots(RequestCode.CHALLENGE) == [0]
            one(driver.run(requester.challenge), ChallengeAuthenticated)
        for code in absent.codes:
            refused_by_the_device(wire, cell.version, code)


@pytest.mark.parametrize("version", [V12, V13], ids=lambda v: v.text)
def test_pqc_below_14_has_nothing_in_common(version: SpdmVersion) -> None:
    """NEGOTIATE_ALGORITHMS has no PQC field before 1.4: a requester offering only ML-DSA/ML-KEM
    offers no signing algorithm at all, and the device refuses the negotiation."""
    alg = ALGORITHMS["pqc"]
    device_model = model(alg)
    device = EmulatedDevice(ResponderConfig(algorithms=preferences(alg)), device_model)
    config = RequesterConfig(versions=(version,), algorithms=preferences(alg),
                             trust_anchors=(device_model.root_certificate(),))
    with reach(device, "pipe") as wire, pytest.raises(RemoteErrorResponse) as refused:
        authenticate(wire, config, now=NOW)
    assert refused.value.code == SpdmErrorCode.INVALID_REQUEST
    assert wire.codes[-1] == RequestCode.NEGOTIATE_ALGORITHMS
