"""A requester asking for a multi-key connection (1.3): RequesterConfig.multi_key_conn, connect --multi-key.

The requester then advertises MULTI_KEY_CAP NEG (as the reference requester
does, 0x0882f7c6) besides MULTI_KEY_CONN in NEGOTIATE_ALGORITHMS; a device
configured with ``devsec emulate --multi-key negotiated`` selects a multi-key
connection for its own keys and for ours, and a mutually authenticated session
comes up with our multi-key encapsulated DIGESTS ([D_encap]) in its
transcript.  Without the option nothing changes.  End to end: ``devsec
connect --multi-key`` with mutual authentication against ``devsec emulate``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devsec.cli import build_parser, main
from devsec.cli.emulate import device_from_args, model_from_args
from devsec.emulator import SecureDevice
from spdm.config import DEFAULT_REQUESTER_CAPS, MUTUAL_AUTH_CAPS, RequesterConfig
from spdm.connection import connect
from spdm.crypto import DeviceIdentity, generate_device_identity
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.messages import GetCapabilities
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, SpdmVersion
from spdm.negotiation import MULTI_KEY_CAPS
from spdm.requester import Requester
from tests.devsec.test_cli import emulate

F = CapabilityFlags
NOW = datetime.now(UTC)
EMULATE = ("--slots", "0,1", "--multi-key", "negotiated", "--mutual-auth")


@dataclass(frozen=True)
class Host:
    """Our requester identity and the files the CLI reads it from."""

    identity: DeviceIdentity
    chain: Path
    key: Path
    root: Path


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Host:
    identity = generate_device_identity(BaseAsymAlgo.ECDSA_P384, role="requester")
    where = tmp_path_factory.mktemp("host")
    chain, key, root = where / "host-chain.pem", where / "host-key.pem", where / "host-root.pem"
    chain.write_bytes(b"".join(c.to_pem() for c in identity.certificates))
    key.write_bytes(identity.leaf_key.to_pem())
    root.write_bytes(identity.root.to_pem())
    return Host(identity, chain, key, root)


def _emulated(host: Host) -> tuple[SecureDevice, DeviceModel]:
    """The device ``devsec emulate`` builds from :data:`EMULATE` (trusting our host root)."""
    args = build_parser().parse_args(["emulate", *EMULATE, "--requester-trust-root", str(host.root)])
    model = model_from_args(args)
    return device_from_args(args, model), model


@pytest.mark.parametrize(("version", "ask", "caps", "expected"), [
    (SpdmVersion.V13, True, DEFAULT_REQUESTER_CAPS, F.MULTI_KEY_CAP_NEG),
    (SpdmVersion.V14, True, DEFAULT_REQUESTER_CAPS, F.MULTI_KEY_CAP_NEG),
    (SpdmVersion.V13, True, DEFAULT_REQUESTER_CAPS | F.MULTI_KEY_CAP_ONLY, F.MULTI_KEY_CAP_ONLY),
    (SpdmVersion.V13, False, DEFAULT_REQUESTER_CAPS, F(0)),
    (SpdmVersion.V12, True, DEFAULT_REQUESTER_CAPS, F(0)),  # reserved before 1.3
])
def test_get_capabilities_advertises_multi_key_cap_when_asked(
        host: Host, version: SpdmVersion, ask: bool, caps: CapabilityFlags,
        expected: CapabilityFlags) -> None:
    device, _ = _emulated(host)
    requester = Requester(RequesterConfig(versions=(version,), capabilities=caps, multi_key_conn=ask))
    RequesterDriver(device.spdm.pipe(), requester).run(requester.get_version)
    requester.get_capabilities()
    sent = GetCapabilities.decode(requester.data_to_send())
    assert F(sent.flags) & MULTI_KEY_CAPS == expected


@pytest.mark.parametrize("ask", [True, False], ids=["multi-key", "single-key"])
def test_a_mutually_authenticated_session_on_a_multi_key_connection(host: Host, ask: bool) -> None:
    device, model = _emulated(host)
    identity = DeviceModel.from_files(host.chain.read_bytes(), host.key.read_bytes())  # as connect does
    config = RequesterConfig(versions=(SpdmVersion.V13,),
                             capabilities=DEFAULT_REQUESTER_CAPS | MUTUAL_AUTH_CAPS, multi_key_conn=ask,
                             trust_anchors=(model.root_certificate(0),))
    with connect(device.spdm.pipe(), config, now=NOW, identity=identity) as connection:
        negotiated = connection.negotiated
        assert (negotiated.multi_key, negotiated.multi_key_req) == (ask, ask)
        with connection.open_session() as session:
            session.heartbeat()
            assert session.report.mutual_auth


@pytest.mark.socket
def test_connect_multi_key_with_mutual_authentication(host: Host, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    with emulate(tmp_path, *EMULATE, "--requester-trust-root", str(host.root)) as (url, root):
        assert main(["connect", url, "--trust-root", str(root), "--multi-key", "--session", "--json",
                     "--requester-cert-chain", str(host.chain), "--requester-key", str(host.key)]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["slots"]["multi_key"] is True
        assert doc["session"]["mutual_auth"] is True and doc["session"]["ended"]
