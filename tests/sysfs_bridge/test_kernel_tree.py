"""A real kernel's device directory is read and evaluated as the kernel's evidence (issue 11.10)."""

from __future__ import annotations

import errno
import os
from dataclasses import replace
from pathlib import Path

import pytest

from spdm.messages.codes import BaseAsymAlgo
from sysfs_bridge import (
    PciIdentity,
    Policy,
    TsmState,
    evaluate,
    list_devices,
    load_policy,
    read_device,
    verify_log,
)
from tests.sysfs_bridge.helpers import evidence as make_evidence
from tests.sysfs_bridge.helpers import model
from tests.sysfs_bridge.kernel_sysfs import BDF, kernel_device


def _policy(tmp_path: Path) -> Policy:
    (tmp_path / "root.pem").write_bytes(model(BaseAsymAlgo.ECDSA_P384).root_certificate_pem())
    (tmp_path / "policy.toml").write_text('[trust]\nroots = ["root.pem"]\n')
    return load_policy(tmp_path / "policy.toml")


def test_a_cma_device_reads_as_the_kernel_shows_it(tmp_path: Path) -> None:
    original = make_evidence()
    link = kernel_device(tmp_path / "sys", original)
    assert list_devices(tmp_path / "sys") == [BDF]
    ev = read_device(tmp_path / "sys", BDF)
    assert ev.authenticated is True
    assert ev.doe_features == original.doe_features and (1, 0) in ev.doe_features
    assert ev.certificates == original.certificates and ev.supported_slots == original.supported_slots
    assert ev.signatures == tuple(replace(s, asym_algorithm="") for s in original.signatures)
    assert ev.next_requester_nonce == b""  # write-only in the kernel
    assert ev.tsm == TsmState(dsm="", bound="", connect="")
    assert ev.pci == PciIdentity(vendor=0x1B36, device=0x0010, subsystem_vendor=0x1AF4,
                                 subsystem_device=0x1100, class_code=0x010802)
    assert ev.spdm is None and ev.measurements == () and ev.interface_report == b""
    assert all(v.ok for v in verify_log(link.resolve()))


def test_a_cma_device_is_evaluated_as_the_kernels_evidence(tmp_path: Path) -> None:
    link = kernel_device(tmp_path / "sys", make_evidence())
    decision = evaluate(_policy(tmp_path), link)
    assert decision.allow, decision.reasons
    assert "authenticated (CMA-SPDM)" in decision.reasons


def test_a_device_a_tsm_holds_is_evaluated_in_tsm_mode(tmp_path: Path) -> None:
    link = kernel_device(tmp_path / "sys", make_evidence(), tsm="tsm0")
    ev = read_device(tmp_path / "sys", BDF)
    assert ev.authenticated == "tsm0" and ev.tsm == TsmState(dsm=BDF, connect="tsm0")
    decision = evaluate(_policy(tmp_path), link)
    assert decision.allow and "connected through TSM tsm0" in decision.reasons


def test_a_policy_needing_devsec_facts_denies_saying_why(tmp_path: Path) -> None:
    link = kernel_device(tmp_path / "sys", make_evidence())
    (tmp_path / "policy.toml").write_text('[trust]\nroots = ["root.pem"]\n[spdm]\nmin_version = "1.2"\n')
    (tmp_path / "root.pem").write_bytes(model(BaseAsymAlgo.ECDSA_P384).root_certificate_pem())
    decision = evaluate(load_policy(tmp_path / "policy.toml"), link)
    assert not decision.allow
    assert any("has no spdm/ facts" in r for r in decision.reasons)


def test_an_attribute_answering_eio_is_a_denial_not_an_absence(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel's CMA-SPDM answers an error when it cannot tell whether the device speaks SPDM
    (a downgrade attack must not make ``authenticated`` look absent)."""
    link = kernel_device(tmp_path / "sys", make_evidence())
    target = str(link.resolve() / "authenticated")
    real_read = os.read

    def failing_read(fd: int, size: int) -> bytes:
        if os.readlink(f"/proc/self/fd/{fd}") == target:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_read(fd, size)

    monkeypatch.setattr(os, "read", failing_read)
    decision = evaluate(_policy(tmp_path), link)
    assert not decision.allow
    assert any("Input/output error" in r for r in decision.reasons), decision.reasons


def test_an_unreadable_authenticated_is_a_denial(tmp_path: Path) -> None:
    link = kernel_device(tmp_path / "sys", make_evidence())
    (link / "authenticated").chmod(0o200)
    decision = evaluate(_policy(tmp_path), link)
    assert not decision.allow and any("authenticated" in r for r in decision.reasons)
