"""SET_CERTIFICATE raises the DMTF CertificateChanged event for subscribed sessions.

A provisionable device with EVENT_CAP: the requester subscribes in a
session, installs a chain into slot 4 and erases it again (in that session),
and each change arrives at its next poll as an encapsulated SEND_EVENT whose
one-byte detail is the mask of the slot that changed.  A session that did not
subscribe hears nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from devsec.cli.event_watch import event_dict, event_line
from devsec.emulator import EmulatedDevice
from spdm.config import DEFAULT_REQUESTER_CAPS, RequesterConfig, ResponderConfig
from spdm.crypto import build_spdm_cert_chain, generate_ca, issue_leaf_from_csr
from spdm.driver import RequesterDriver
from spdm.errors import RemoteErrorResponse
from spdm.events import (
    CsrReceived,
    DeviceEventReceived,
    Event,
    SessionEstablished,
    SupportedEventTypesReceived,
)
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, CapabilityFlags
from spdm.messages.event import DmtfEventType
from spdm.negotiation import AlgorithmPreferences
from spdm.provisioning import ProvisionableDevice
from spdm.requester import Requester

F = CapabilityFlags
P384 = BaseAsymAlgo.ECDSA_P384
NOW = datetime.now(UTC)


def one(events: list[Event], kind: type[Event]) -> Event:
    (event,) = [e for e in events if isinstance(e, kind)]
    return event


def provisioned_session(path: Path) -> tuple[Requester, RequesterDriver, bytes, int, int]:
    """Slot 0 provisioned from the device's CSR; two sessions open; returns the chain and both IDs."""
    caps = (ResponderConfig().capabilities | F.CSR_CAP | F.SET_CERT_CAP | F.EVENT_CAP | F.ENCAP_CAP)
    config = ResponderConfig(capabilities=caps, algorithms=replace(AlgorithmPreferences(), asym_algs=(P384,)))
    emulated = EmulatedDevice(config, ProvisionableDevice.open(path, P384))
    ca, ca_key = generate_ca(P384)
    requester = Requester(RequesterConfig(trust_anchors=(ca,),
                                          capabilities=DEFAULT_REQUESTER_CAPS | F.ENCAP_CAP))
    driver = RequesterDriver(emulated.pipe(), requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms):
        driver.run(command)
    csr = one(driver.run(requester.get_csr), CsrReceived)
    assert isinstance(csr, CsrReceived)
    chain = build_spdm_cert_chain([ca, issue_leaf_from_csr(csr.csr, ca, ca_key)], BaseHashAlgo.SHA_384)
    driver.run(lambda: requester.set_certificate(0, chain))
    driver.run(requester.get_digests)
    driver.run(lambda: requester.get_certificate(0, now=NOW))
    ids = []
    for _ in range(2):
        session = one(driver.run(lambda: requester.key_exchange(0)), SessionEstablished)
        assert isinstance(session, SessionEstablished)
        ids.append(session.session_id)
    return requester, driver, chain, ids[0], ids[1]


def test_install_and_erase_each_reach_the_subscriber_with_the_slot(tmp_path: Path) -> None:
    requester, driver, chain, subscribed, other = provisioned_session(tmp_path / "d.json")
    supported = one(driver.run(lambda: requester.get_supported_event_types(subscribed)),
                    SupportedEventTypesReceived)
    assert isinstance(supported, SupportedEventTypesReceived)
    assert DmtfEventType.CERTIFICATE_CHANGED in supported.groups[0].event_types
    driver.run(lambda: requester.subscribe_event_types(subscribed))
    received = []
    new_chains: tuple[bytes | None, ...] = (chain, None)  # install slot 4, then erase it
    for new_chain in new_chains:
        driver.run(partial(requester.set_certificate, 4, new_chain, session_id=subscribed))
        [event] = driver.run(lambda: requester.poll_encapsulated(subscribed))
        assert isinstance(event, DeviceEventReceived)
        received.append(event)
    assert [e.event_type_id for e in received] == [DmtfEventType.CERTIFICATE_CHANGED] * 2
    assert [e.event_detail for e in received] == [b"\x10", b"\x10"]
    assert [e.changed_slots for e in received] == [{4}, {4}]
    assert [e.event_instance_id for e in received] == [1, 2]
    assert received[0].changed_measurements == frozenset()
    # What `devsec connect --events` prints of them.
    assert event_line(received[0]) == "  #1 CERTIFICATE_CHANGED: certificate slots 4"
    assert event_dict(received[1])["changed_slots"] == [4]
    with pytest.raises(RemoteErrorResponse, match="NO_PENDING_REQUESTS"):
        driver.run(lambda: requester.poll_encapsulated(other))
