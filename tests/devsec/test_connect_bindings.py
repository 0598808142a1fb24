"""``devsec connect --binding mctp|tcp`` against ``devsec emulate --binding mctp|tcp``, in process.

The device is the one ``devsec emulate`` builds, served as the reference's
``spdm_responder_emu --trans MCTP`` / ``--trans TCP`` serves (spdm-emu's socket,
MCTP or DSP0287 messages in its frames); connect runs the whole CMA flow and a
session (heartbeat, both key updates, measurements inside, END_SESSION) with the
binding's secured records.  The evidence it renders is the evidence a DOE
connection to the same device renders, except the DOE features: there is no
DOE mailbox to discover.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devsec.cli import EXIT_STATUS, build_parser, main
from devsec.cli.emulate import device_from_args, model_from_args
from devsec.emulator import serving
from spdm.device import DeviceModel
from spdm.errors import ConfigurationError, TransportError
from spdm.transport.binding_socket import BINDINGS

MESSAGE_BINDINGS = pytest.mark.parametrize("binding", ["mctp", "tcp"])


def _status(kind: type[BaseException]) -> int:
    return next(code for cls, code in EXIT_STATUS if issubclass(kind, cls))


@contextmanager
def served(binding: str, model: DeviceModel, *argv: str) -> Iterator[str]:
    """The device ``devsec emulate --binding BINDING ARGV`` builds around ``model``, served in a thread."""
    args = build_parser().parse_args(["emulate", "--binding", binding, *argv])
    with serving(device_from_args(args, model).spdm, binding=binding) as url:
        yield url


def _model(tmp_path: Path) -> tuple[DeviceModel, Path]:
    args = build_parser().parse_args(["emulate"])
    model = model_from_args(args)
    root = tmp_path / "root.pem"
    root.write_bytes(model.root_certificate_pem())
    return model, root


def _tree(root: Path) -> dict[str, bytes]:
    """Every file of a rendered device directory, by path below it."""
    [device] = (root / "devices" / "devsec").iterdir()
    return {str(p.relative_to(device)): p.read_bytes() for p in sorted(device.rglob("*")) if p.is_file()}


def _connect(url: str, binding: str, root: Path, sysfs: Path,
             capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["connect", url, "--binding", binding, "--trust-root", str(root), "--session",
                 "--sysfs", str(sysfs), "--json"]) == 0
    doc: dict[str, object] = json.loads(capsys.readouterr().out)
    return doc


@pytest.mark.socket
@MESSAGE_BINDINGS
def test_connect_with_a_session_over_the_binding(binding: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    model, root = _model(tmp_path)
    with served(binding, model) as url:
        doc = _connect(url, binding, root, tmp_path / binding, capsys)
    with served("doe", model) as url:
        over_doe = _connect(url, "doe", root, tmp_path / "doe", capsys)
    assert doc["verified"] is True
    session = doc["session"]
    assert isinstance(session, dict)
    shown = (session["heartbeat"], session["key_updates"], session["measurements_signed"], session["ended"])
    assert shown == (True, 2, True, True)
    assert doc["doe_protocols"] == [] and over_doe["doe_protocols"] == ["0001:00", "0001:01", "0001:02"]
    same = ("spdm_version", "algorithms", "responder_capabilities", "digests", "slots", "certificate_chain",
            "measurements")
    assert {k: doc[k] for k in same} == {k: over_doe[k] for k in same}
    tree, doe_tree = _tree(tmp_path / binding), _tree(tmp_path / "doe")
    assert sorted(doe_tree.keys() - tree.keys()) == [
        "doe_features/0001:01", "doe_features/0001:02", "doe_features/doe_discovery"]
    assert tree.keys() <= doe_tree.keys()
    # What does not depend on the nonces is byte for byte the same evidence.
    fixed = [p for p in tree if p.startswith(("certificates/", "measurements/", "spdm/")) or p.endswith(
        ("_type", "_hash_algorithm", "_asym_algorithm", "_combined_spdm_prefix"))]
    assert len(fixed) > 40
    assert {p: tree[p] for p in fixed} == {p: doe_tree[p] for p in fixed}


@pytest.mark.socket
@MESSAGE_BINDINGS
def test_connect_runs_ide_km_and_tdisp_over_the_binding(binding: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    model, root = _model(tmp_path)
    with served(binding, model) as url:
        argv = ["connect", url, "--binding", binding, "--trust-root", str(root), "--ide", "--tdisp"]
        assert main(argv) == 0
    out = capsys.readouterr().out
    assert "DOE           none (reached over another binding)\n" in out
    assert "tdisp locked, report read, started: tdi 0x0101, state RUN" in out
    assert out.rstrip().endswith("VERIFIED")


@pytest.mark.socket
@pytest.mark.parametrize(("served_as", "asked"), [("doe", "mctp"), ("mctp", "tcp"), ("tcp", "doe"),
                                                  ("mctp", "doe")])
def test_a_binding_the_device_does_not_speak_fails_as_a_transport_error(
        served_as: str, asked: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, root = _model(tmp_path)
    with served(served_as, model) as url:
        status = main(["connect", url, "--binding", asked, "--trust-root", str(root)])
    assert status == _status(TransportError)
    assert "closed the connection" in capsys.readouterr().err


def test_a_pci_function_speaks_doe_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, root = _model(tmp_path)
    status = main(["connect", "0000:01:00.0", "--binding", "mctp", "--trust-root", str(root)])
    assert status == _status(ConfigurationError)
    assert "only a tcp:// target can speak the mctp binding" in capsys.readouterr().err


def test_connect_and_emulate_name_the_same_bindings() -> None:
    parser = build_parser()
    for command in ("connect", "emulate"):
        extra = ["tcp://127.0.0.1:1", "--trust-root", "r.pem"] if command == "connect" else []
        assert parser.parse_args([command, *extra]).binding == "doe"
        for binding in BINDINGS:
            assert parser.parse_args([command, *extra, "--binding", binding]).binding == binding
