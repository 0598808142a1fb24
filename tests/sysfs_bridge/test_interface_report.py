"""The TDI's interface report on its tree: rendered, read back, and judged by the policy (issue 11.9)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from spdm.errors import DecodeError
from spdm.messages.codes import BaseAsymAlgo
from sysfs_bridge import PolicyError, evaluate, evidence_from_tsm, load_policy, read_device, render
from sysfs_bridge.interface_report import report_files
from tdisp.messages import InterfaceInfo, InterfaceReport, MmioAttributes, MmioRange, TdiState
from tests.sysfs_bridge.helpers import BDF, VF, model, tsm_info
from tests.sysfs_bridge.helpers import evidence as make_evidence
from tsm import LinkState

RANGES = (MmioRange(0xD0000, 16, MmioAttributes.MSIX_TABLE, 0),
          MmioRange(0xE0000, 1, MmioAttributes.IS_NON_TEE_MEM | MmioAttributes.IS_MEM_ATTR_UPDATABLE, 2))
REPORT = InterfaceReport(interface_info=InterfaceInfo.NO_FW_UPDATE | InterfaceInfo.DMA_WITHOUT_PASID,
                         mmio_ranges=RANGES, device_specific_info=b"devsec-tdi").encode()


def test_the_views_are_rendered_from_the_raw_report() -> None:
    assert report_files(REPORT) == {
        "report": REPORT,
        "interface_info": b"NO_FW_UPDATE DMA_WITHOUT_PASID\n",
        "mmio_ranges": b"0xd0000000 0x10000 0 MSIX_TABLE\n"
                       b"0xe0000000 0x1000 2 IS_NON_TEE_MEM IS_MEM_ATTR_UPDATABLE\n",
        "device_specific_info": b"devsec-tdi",
    }
    assert report_files(InterfaceReport().encode())["interface_info"] == b"\n"


def test_a_locked_tdi_carries_its_report_from_the_tsm_to_its_tree(tmp_path: Path) -> None:
    """TdiInfo.report -> evidence_from_tsm -> render -> read_device: the same bytes."""
    trees = evidence_from_tsm(tsm_info(LinkState.CONNECTED, (VF, TdiState.RUN)))
    for ev in trees:
        render(ev, tmp_path)
    tdi = tmp_path / "bus/pci/devices" / VF
    assert sorted(os.listdir(tdi / "interface_report")) == [
        "device_specific_info", "interface_info", "mmio_ranges", "report"]
    assert read_device(tmp_path, VF).interface_report == trees[1].interface_report != b""
    assert read_device(tmp_path, BDF).interface_report == b""  # the DSM's own interface is not a TDI here


@pytest.mark.parametrize("state", [TdiState.CONFIG_UNLOCKED, TdiState.ERROR])
def test_no_report_is_shown_for_an_interface_that_is_not_locked(state: TdiState) -> None:
    trees = evidence_from_tsm(tsm_info(LinkState.CONNECTED, (VF, state)))
    assert trees[1].interface_report == b""


@pytest.mark.parametrize(("name", "data", "problem"), [
    ("interface_info", b"ATS\n", "disagrees with"),
    ("mmio_ranges", b"", "disagrees with"),
    ("report", REPORT + b"\0", "unexpected byte"),
    ("surprise", b"1\n", "not a file of interface_report/"),
])
def test_a_tampered_report_is_refused(tmp_path: Path, name: str, data: bytes, problem: str) -> None:
    device = render(replace(make_evidence(), interface_report=REPORT), tmp_path).resolve()
    path = device / "interface_report" / name
    path.unlink(missing_ok=True)
    path.write_bytes(data)
    with pytest.raises(DecodeError, match=problem):
        read_device(tmp_path, BDF)


def _policy(tmp_path: Path, tdisp: str) -> Path:
    (tmp_path / "root.pem").write_bytes(model(BaseAsymAlgo.ECDSA_P384).root_certificate_pem())
    (tmp_path / "policy.toml").write_text(f'[trust]\nroots = ["root.pem"]\n[tdisp]\n{tdisp}\n')
    return tmp_path / "policy.toml"


@pytest.mark.parametrize(("rule", "allow", "reason"), [
    ('interface_info = ["NO_FW_UPDATE", "DMA_WITHOUT_PASID"]', True, "sets NO_FW_UPDATE DMA_WITHOUT_PASID"),
    ('interface_info = ["NO_FW_UPDATE", "ATS"]', False, "lacks INTERFACE_INFO ATS"),
    ("max_mmio_ranges = 2", True, "lists 2 MMIO ranges (at most 2)"),
    ("max_mmio_ranges = 1", False, "lists 2 MMIO ranges, more than 1"),
    (f'device_specific_info = ["", "{b"devsec-tdi".hex()}"]', True, "DEVICE_SPECIFIC_INFO is allowed"),
    ('device_specific_info = [""]', False, "is not an allowed value"),
])
def test_the_policy_checks_the_report(tmp_path: Path, rule: str, allow: bool, reason: str) -> None:
    link = render(replace(make_evidence(), interface_report=REPORT), tmp_path / "sysfs")
    decision = evaluate(load_policy(_policy(tmp_path, rule)), link)
    assert decision.allow == allow, decision.reasons
    assert any(reason in r for r in decision.reasons), decision.reasons


def test_a_tdisp_rule_denies_a_device_without_a_report(tmp_path: Path) -> None:
    link = render(make_evidence(), tmp_path / "sysfs")
    decision = evaluate(load_policy(_policy(tmp_path, "max_mmio_ranges = 8")), link)
    assert not decision.allow
    assert any("holds no interface report" in r for r in decision.reasons)


@pytest.mark.parametrize(("rule", "problem"), [
    ('interface_info = ["FAST"]', "tdisp.interface_info"),
    ("max_mmio_ranges = -1", "tdisp.max_mmio_ranges"),
    ('device_specific_info = ["xyz"]', "tdisp.device_specific_info"),
    ("surprise = 1", "tdisp.surprise"),
])
def test_bad_tdisp_rules_are_policy_errors(tmp_path: Path, rule: str, problem: str) -> None:
    with pytest.raises(PolicyError, match=problem):
        load_policy(_policy(tmp_path, rule))
