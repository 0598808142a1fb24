"""The CLI's reach into SPDM 1.3 events: ``devsec emulate --events`` and ``devsec connect --event-types``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devsec.cli import build_parser, main
from devsec.cli.emulate import device_from_args, model_from_args
from devsec.emulator import serving as serve_device
from spdm.messages.codes import CapabilityFlags

F = CapabilityFlags


@contextmanager
def served(tmp_path: Path, *argv: str) -> Iterator[tuple[str, Path]]:
    """A device built as ``devsec emulate ARGV`` builds it, served in a thread; yields (url, root.pem)."""
    args = build_parser().parse_args(["emulate", *argv])
    model = model_from_args(args)
    device = device_from_args(args, model)
    root = tmp_path / "root.pem"
    root.write_bytes(model.root_certificate_pem())
    with serve_device(device.spdm) as url:
        yield url, root


def test_emulate_events_offers_event_and_encap_caps() -> None:
    for argv, offered in (((), False), (("--events",), True)):
        args = build_parser().parse_args(["emulate", *argv])
        caps = device_from_args(args, model_from_args(args)).spdm.responder.config.capabilities
        assert bool(caps & F.EVENT_CAP) is offered and bool(caps & F.ENCAP_CAP) is offered


@pytest.mark.socket
def test_connect_lists_the_event_types(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with served(tmp_path, "--events") as (url, root):
        assert main(["connect", url, "--trust-root", str(root), "--event-types", "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["event_types"] == [{"registry_id": 0, "vendor_id": "", "version": 1,
                                       "event_types": ["EVENT_LOST", "MEASUREMENT_CHANGED"]}]
        assert main(["connect", url, "--trust-root", str(root), "--event-types"]) == 0
        assert "event types\n  DMTF: EVENT_LOST, MEASUREMENT_CHANGED\n" in capsys.readouterr().out


@pytest.mark.socket
def test_connect_event_types_of_a_device_without_events(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    with served(tmp_path) as (url, root):
        assert main(["connect", url, "--trust-root", str(root), "--event-types"]) == 0
        assert "event types\n  none (no EVENT_CAP)\n" in capsys.readouterr().out
