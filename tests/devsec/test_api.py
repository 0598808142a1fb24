"""The public API: what ``import devsec`` offers, and the connection and session handles behind it."""

from __future__ import annotations

import importlib
import os
import pydoc
import subprocess
import sys
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest

import devsec
import spdm
from devsec.cli import build_parser
from devsec.emulator import EmulatedDevice, serving
from spdm.device import DeviceModel
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags
from spdm.transport import DeviceMailbox, EmuSocketClient
from spdm.transport.binding_socket import message_codec

ROOT = Path(__file__).resolve().parents[2]
PSK_HINT = b"hint"
PSK = bytes(range(32))


@cache
def _model() -> DeviceModel:
    return DeviceModel.generate(BaseAsymAlgo.ECDSA_P256).with_psks({PSK_HINT: PSK})


def _device() -> EmulatedDevice:
    caps = spdm.ResponderConfig().capabilities | CapabilityFlags.PSK_CAP_WITH_CONTEXT
    return EmulatedDevice(spdm.ResponderConfig(capabilities=caps), _model())


def _config() -> devsec.RequesterConfig:
    return devsec.RequesterConfig(trust_anchors=(_model().root_certificate(),))


# ------------------------------------------------------------------ the facade


@pytest.mark.parametrize("package", [devsec, spdm], ids=["devsec", "spdm"])
def test_every_public_name_resolves_to_its_defining_module(package: object) -> None:
    names = package.__all__  # type: ignore[attr-defined]
    assert len(set(names)) == len(names)
    for name in names:
        value = getattr(package, name)
        assert value is not None
        assert not name.startswith("_")
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        package.nothing  # type: ignore[attr-defined]  # noqa: B018


def test_help_shows_the_public_api_and_the_stability_note() -> None:
    text = pydoc.plain(pydoc.render_doc(devsec))
    for name in devsec.__all__:
        assert name in text, name
    assert "Stability:" in text
    assert "open_transport(target" in text


def test_importing_devsec_is_cheap() -> None:
    """``import devsec`` loads no engine, codec or crypto (only the lazy-export helper): names come
    on first use."""
    probe = ("import sys, devsec; heavy = [m for m in sys.modules if m.split('.')[0] in "
             "('spdm', 'tsm', 'sysfs_bridge', 'cryptography', 'construct') "
             "and m not in ('spdm', 'spdm.lazy')]; print(heavy)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.strip() == "[]"


def test_the_facade_is_the_library() -> None:
    assert devsec.connect is importlib.import_module("spdm.connection").connect
    assert devsec.open_transport is spdm.open_transport
    assert devsec.DEFER_TRUST is spdm.DEFER_TRUST
    assert devsec.open_backend is importlib.import_module("tsm").open_backend


# ------------------------------------------------------------------ transports


def test_open_transport_reaches_a_socket_target_and_closes_it() -> None:
    with serving(_device()) as target:
        with devsec.open_transport(target) as transport:
            assert isinstance(transport, EmuSocketClient)
            report = devsec.authenticate(transport, _config())
        with pytest.raises(devsec.LocalProtocolError, match="closed"):
            transport.exchange(b"\x01\x00\x00\x00\x02\x00\x00\x00")
    assert report.session is None and report.challenge is not None


@pytest.mark.parametrize("binding", ["mctp", "tcp"])
def test_open_binding_reaches_a_device_served_over_a_message_binding(binding: str) -> None:
    """As a daemon author reaches ``spdm_responder_emu --trans MCTP`` (its default) or ``--trans TCP``."""
    device = EmulatedDevice(replace(_device().responder.config,
                                    record_format=message_codec(binding).record_format), _model())
    with serving(device, binding=binding) as target, devsec.open_binding(target, binding) as channel:
        connection = devsec.connect(channel, _config())
        with connection.open_session() as session:
            session.heartbeat()
    assert connection.report.challenge is not None and connection.report.protocols == []


def test_open_binding_refuses_a_pci_function() -> None:
    with pytest.raises(devsec.ConfigurationError, match="DOE"):
        devsec.open_binding("0000:3a:00.0", "mctp")


@pytest.mark.parametrize("target", ["tcp://nohost", "not-an-address", "0000:zz:00.0"])
def test_open_transport_refuses_what_is_no_target(target: str) -> None:
    with pytest.raises(devsec.ConfigurationError), devsec.open_transport(target):
        pass


def test_a_pci_address_opens_its_config_space_in_sysfs(tmp_path: Path) -> None:
    """A PCI address is the function's DOE mailbox, found in its sysfs config file."""
    model = _device().config_space
    device_dir = tmp_path / "bus" / "pci" / "devices" / "0000:3a:00.0"
    device_dir.mkdir(parents=True)
    (device_dir / "config").write_bytes(
        b"".join(model.read32(offset).to_bytes(4, "little") for offset in range(0, 0x1000, 4)))
    with devsec.open_transport("3a:00.0", sysfs_root=str(tmp_path)) as transport:
        assert isinstance(transport, DeviceMailbox)
        assert devsec.pci_identity(transport.config).vendor == 0x1AF4
    with pytest.raises(devsec.TransportError, match="0000:3b:00.0"), \
            spdm.open_transport("0000:3b:00.0", sysfs_root=str(tmp_path)):
        pass


# ------------------------------------------------------------------ connection and session


def test_a_session_stays_open_until_the_caller_ends_it() -> None:
    connection = devsec.connect(_device().pipe(), _config())
    assert connection.report.session is None
    session = connection.open_session()
    session.heartbeat()
    session.update_keys()
    session.update_keys(all_keys=True)
    first = session.measure()
    again = session.measure()
    assert first.evidence is not None and again.evidence is not None
    live = connection.report.session
    assert live is not None and not live.ended and live.heartbeat and live.key_updates == 2
    assert live.session_id == session.session_id and not live.psk
    session.close()
    session.close()  # closing twice is harmless
    assert session.closed and connection.report.session is not None and connection.report.session.ended
    with pytest.raises(devsec.LocalProtocolError, match="has ended"):
        session.measure()
    # The connection outlives its sessions.
    assert connection.measure().evidence is not None


def test_a_psk_session_and_the_connection_ending_it() -> None:
    with devsec.connect(_device().pipe(), _config()) as connection:
        session = connection.open_session(PSK, psk_hint=PSK_HINT)
        assert session.report.psk and session.report.dhe_group == 0
    assert session.closed


def test_measurements_over_a_verifiers_nonce_become_the_reports() -> None:
    nonce = bytes(32)
    connection = devsec.connect(_device().pipe(), _config())
    measured = connection.measure(nonce)
    assert measured.evidence is not None and measured.evidence.requester_nonce == nonce
    assert connection.report.measurements is measured
    with pytest.raises(devsec.ConfigurationError, match="32 bytes"):
        connection.measure(bytes(3))


def test_a_failing_block_still_tries_to_end_the_session() -> None:
    connection = devsec.connect(_device().pipe(), _config())
    with pytest.raises(RuntimeError), connection.open_session() as session:
        raise RuntimeError("the caller's own failure")
    assert session.closed


def test_a_block_that_failed_on_the_link_keeps_its_own_error() -> None:
    """When the link itself failed, ending the session fails too; the block's error is the one raised."""
    with serving(_device()) as target, devsec.open_transport(target) as transport:
        connection = devsec.connect(transport, _config())
        with pytest.raises(devsec.TransportError, match="the link broke"), \
                connection.open_session() as session:
            transport.close()
            raise devsec.TransportError("the link broke")
    assert not session.closed


def test_authenticate_refuses_without_a_trust_decision() -> None:
    with pytest.raises(devsec.ConfigurationError, match="no trust decision"):
        devsec.authenticate(_device().pipe(), devsec.RequesterConfig())


# ------------------------------------------------------------------ the command's help


def _helps() -> list[str]:
    parser = build_parser()
    texts = [parser.format_help()]
    pending = [parser]
    while pending:
        current = pending.pop()
        for action in current._actions:
            if isinstance(action.choices, dict):
                for sub in action.choices.values():
                    texts.append(sub.format_help())
                    pending.append(sub)
    return texts


def test_help_is_plain_text() -> None:
    texts = _helps()
    assert len(texts) > 15
    for text in texts:
        assert "``" not in text and ":mod:" not in text and ":func:" not in text, text
