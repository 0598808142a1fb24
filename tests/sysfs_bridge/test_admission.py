"""sysfs_bridge.admission: authenticate, render, decide and act for one device, failing closed."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from devsec.emulator import SecureDevice
from spdm.config import ResponderConfig
from spdm.crypto import generate_device_identity
from spdm.errors import ConfigurationError, TransportError, TransportTimeout
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo
from spdm.transport import DoeTransport
from sysfs_bridge import PciIdentity, list_devices, pci_identity, read_device
from sysfs_bridge.admission import (
    config_space_identity,
    mailbox_opener,
    socket_opener,
    unknown_identity,
)
from sysfs_bridge.uevent import Work
from tests.sysfs_bridge.fleet import (
    Fleet,
    RecordingActor,
    admission,
    decision_lines,
    model,
    write_policy,
)

BDF = "0000:01:00.0"
TEE_IO = "0000:02:00.0"


@pytest.fixture
def fleet() -> Fleet:
    return Fleet()


def test_allowed_device_is_rendered_decided_connected_and_logged(
        tmp_path: Path, fleet: Fleet, caplog: pytest.LogCaptureFixture) -> None:
    policy = write_policy(tmp_path, '[spdm]\nmin_version = "1.2"\n'
                                    '[require]\ncapabilities = ["measurements"]\n'
                                    '[[reference]]\nvendor = 0x1af4\ndevice = 0x1234\n')
    actor = RecordingActor()
    with caplog.at_level(logging.INFO, logger="sysfs_bridge.admission"):
        decision = admission(policy, tmp_path / "sysfs", fleet, actor).admit(BDF)
    assert decision.allow and decision.action == "connect", decision.reasons
    assert actor.calls == [("connect", BDF)]
    evidence = read_device(tmp_path / "sysfs", BDF)
    assert evidence.authenticated is True and evidence.certificates[0]
    assert (evidence.pci.vendor, evidence.pci.device) == (0x1AF4, 0x1234)  # from the config space
    (line,) = decision_lines(caplog)
    assert line["bdf"] == BDF and line["allow"] is True and line["action"] == "connect"
    assert line["reasons"] == list(decision.reasons) and line["duration_ms"] > 0


def test_bind_policy_binds(tmp_path: Path, fleet: Fleet) -> None:
    actor = RecordingActor()
    decision = admission(write_policy(tmp_path, 'action = "bind"\n'), tmp_path / "sysfs", fleet,
                         actor).perform(Work("admit", BDF))
    assert decision is not None and decision.allow and decision.action == "bind"
    assert actor.calls == [("bind", BDF)]


class Broken:
    """A transport that fails on its first exchange."""

    def __init__(self, error: Exception) -> None:
        self.error, self.closed = error, False

    def exchange(self, request: bytes, *, timeout: float | None = None) -> bytes:
        raise self.error

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("error", [TransportTimeout("the mailbox did not answer in 1 s"),
                                   TransportError("no DOE extended capability found")])
def test_failed_authentication_denies_and_replaces_the_evidence(
        tmp_path: Path, fleet: Fleet, error: Exception) -> None:
    policy = write_policy(tmp_path)
    root = tmp_path / "sysfs"
    assert admission(policy, root, fleet, RecordingActor()).admit(BDF).allow
    before = read_device(root, BDF)
    broken = Broken(error)

    def opener(_bdf: str) -> DoeTransport:
        return broken

    actor = RecordingActor()
    decision = admission(policy, root, fleet, actor, opener=opener).admit(BDF)
    assert not decision.allow and decision.action == "refuse"
    assert decision.reasons == (f"authentication failed: {type(error).__name__}: {error}",)
    assert actor.calls == [("refuse", BDF)] and broken.closed
    after = read_device(root, BDF)
    # Never a tree claiming an authentication that just failed, nor a half-written one:
    assert after.authenticated is False and after.certificates == {} and after.measurements == ()
    assert after.signatures == before.signatures  # the log keeps its history, as the kernel's does


def test_untrusted_root_fails_authentication(tmp_path: Path, fleet: Fleet) -> None:
    stranger = generate_device_identity(BaseAsymAlgo.ECDSA_P256).root.to_pem()
    decision = admission(write_policy(tmp_path, root_pem=stranger), tmp_path / "sysfs", fleet,
                         RecordingActor()).admit(BDF)
    assert not decision.allow and "VerificationError" in decision.reasons[0]
    assert "trusted root" in decision.reasons[0]
    assert read_device(tmp_path / "sysfs", BDF).authenticated is False


def test_roots_trusted_by_hash_are_checked_by_the_policy(tmp_path: Path, fleet: Fleet) -> None:
    """A hash-only root cannot anchor authentication: the chain's own root does, and the policy
    decides whether it is the trusted one."""
    digest = model().root_certificate().sha(BaseHashAlgo.SHA_384).hex()
    good = write_policy(tmp_path, f'[trust]\nroot_hashes = ["sha384:{digest}"]\n')
    assert admission(good, tmp_path / "a", fleet, RecordingActor()).admit(BDF).allow
    wrong = write_policy(tmp_path, f'[trust]\nroot_hashes = ["sha384:{"00" * 48}"]\n')
    decision = admission(wrong, tmp_path / "b", fleet, RecordingActor()).admit(BDF)
    assert not decision.allow and any("trusted root" in r for r in decision.reasons)
    assert not any(r.startswith("authentication failed") for r in decision.reasons)


def test_an_allow_the_actor_cannot_carry_out_becomes_a_deny(tmp_path: Path, fleet: Fleet) -> None:
    actor = RecordingActor(fail=lambda _bdf: TransportError("cannot write 'tsm0' to .../tsm/connect"))
    decision = admission(write_policy(tmp_path), tmp_path / "sysfs", fleet, actor).admit(BDF)
    assert not decision.allow and decision.action == "refuse"
    assert decision.reasons == ("connect failed: TransportError: cannot write 'tsm0' to .../tsm/connect",)
    assert actor.calls == [("connect", BDF), ("refuse", BDF)]


def test_a_tree_that_cannot_be_rendered_denies(tmp_path: Path, fleet: Fleet,
                                               caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "sysfs"
    (root / "bus/pci/devices" / BDF).mkdir(parents=True)  # not devsec's: render refuses to touch it
    decision = admission(write_policy(tmp_path), root, fleet, RecordingActor()).admit(BDF)
    assert not decision.allow
    (reason,) = decision.reasons
    assert reason.startswith("cannot render the evidence:") and "not rendered" in reason
    assert "cannot remove the stale evidence" in caplog.text


def test_forget_removes_the_tree(tmp_path: Path, fleet: Fleet) -> None:
    actor = RecordingActor()
    subject = admission(write_policy(tmp_path), tmp_path / "sysfs", fleet, actor)
    subject.admit(BDF)
    subject.admit("0000:01:00.1")
    assert subject.perform(Work("forget", BDF)) is None
    assert list_devices(tmp_path / "sysfs") == ["0000:01:00.1"]
    assert actor.calls[-1] == ("forget", BDF)  # the actor drops what it holds too
    assert subject.forget(BDF) is False
    with pytest.raises(ConfigurationError, match="not work for one device"):
        subject.perform(Work("rescan"))
    with pytest.raises(ConfigurationError):
        subject.admit("../../../etc")


def test_config_space_of_a_device_without_doe(tmp_path: Path) -> None:
    """The default opener and identity on a sysfs ``config`` file: a function with IDs but no DOE."""
    sysfs = tmp_path / "sys"
    device = sysfs / "bus/pci/devices" / BDF
    device.mkdir(parents=True)
    config = bytearray(4096)
    config[0:4] = (0x1AF4 | 0x1041 << 16).to_bytes(4, "little")
    config[8:12] = (0x020000 << 8).to_bytes(4, "little")
    (device / "config").write_bytes(bytes(config))
    assert config_space_identity(sysfs)(BDF).vendor == 0x1AF4
    assert config_space_identity(sysfs)(BDF).class_code == 0x020000
    with pytest.raises(TransportError, match="no DOE"):
        mailbox_opener(sysfs)(BDF)
    with pytest.raises(TransportError, match="cannot open"):
        mailbox_opener(sysfs)("0000:09:00.0")
    policy = write_policy(tmp_path)
    subject = admission(policy, tmp_path / "out", Fleet(), RecordingActor(), opener=mailbox_opener(sysfs),
                        identify=config_space_identity(sysfs))
    decision = subject.admit(BDF)
    assert not decision.allow and "no DOE extended capability" in decision.reasons[0]
    assert read_device(tmp_path / "out", BDF).pci.device == 0x1041
    assert os.listdir(tmp_path / "out/devices/devsec") == [os.readlink(tmp_path / "out/bus/pci/devices" / BDF)
                                                          .rsplit("/", 1)[1]]


def test_socket_opener_wants_a_tcp_url() -> None:
    with pytest.raises(ConfigurationError, match="tcp://HOST:PORT"):
        socket_opener("unix:///run/spdm.sock")
    with pytest.raises(TransportError, match="cannot connect"):
        socket_opener("tcp://127.0.0.1:1", timeout=2)(BDF)
    assert unknown_identity(BDF).vendor is None


def test_a_policy_requiring_ide_and_tdisp_probes_them_in_a_session(tmp_path: Path, fleet: Fleet) -> None:
    policy = write_policy(tmp_path, '[require]\ncapabilities = ["sessions", "ide", "tdisp"]\n')
    tee_io = SecureDevice(ResponderConfig(), model())  # IDE_KM and TDISP behind the responder
    plain = fleet.device(BDF)  # SPDM only: no handler for PCI-SIG protocols

    def opener(bdf: str) -> DoeTransport:
        return (tee_io.spdm if bdf == TEE_IO else plain).mailbox()

    def identify(bdf: str) -> PciIdentity:
        return pci_identity((tee_io.spdm if bdf == TEE_IO else plain).config_space)

    gate = admission(policy, tmp_path / "sysfs", fleet, RecordingActor(), opener=opener, identify=identify)
    allowed = gate.admit(TEE_IO)
    assert allowed.allow, allowed.reasons
    facts = read_device(tmp_path / "sysfs", TEE_IO).spdm
    assert facts is not None and facts.vendor_protocols == ("ide_km", "tdisp") and facts.dhe_group
    denied = gate.admit(BDF)
    assert not denied.allow
    assert any("ide" in r for r in denied.reasons) and any("tdisp" in r for r in denied.reasons)
