"""What ``devsec emulate`` exposes to a validator: slots, capabilities, heartbeat, PSK hints.

Each device is built exactly as the command builds it (its parser, then
``model_from_args`` / ``device_from_args``), and driven by devsec's requester
in process; the PSK cases also replay the bytes DMTF's requester sent
(``spdm13-p384-mutauth-psk``: PSK_EXCHANGE with the hint ``TestPskHint\\0``).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from devsec.cli import build_parser, main
from devsec.cli.emulate import DEFAULT_TDIS, device_from_args, model_from_args
from devsec.emulator import SecureDevice
from spdm.config import DEFAULT_REQUESTER_CAPS, RequesterConfig
from spdm.crypto import generate_device_identity, load_certificates
from spdm.device import DeviceModel
from spdm.driver import RequesterDriver
from spdm.errors import ConfigurationError, RemoteErrorResponse
from spdm.events import (
    CertificateChainReceived,
    HeartbeatAcknowledged,
    KeyUpdated,
    SessionEnded,
    SessionEstablished,
)
from spdm.messages.codes import BaseAsymAlgo, CapabilityFlags, ResponseCode
from spdm.requester import Requester
from spdm.transport import PipeTransport
from tests.devsec.test_cli import emulate
from tests.vectors import spdm_exchanges

F = CapabilityFlags
NOW = datetime.now(UTC)
REFERENCE_PSK = b"TestPskData\x00"
REFERENCE_HINT = b"TestPskHint\x00"
"""libspdm's sample PSK and hint, as its requester sends them: C strings with their NUL."""
PSK_SET, PSK_EXCHANGE_RECORD = "spdm13-p384-mutauth-psk", 170


def build(*argv: str) -> tuple[DeviceModel, SecureDevice]:
    args = build_parser().parse_args(["emulate", *argv])
    model = model_from_args(args)
    return model, device_from_args(args, model)


def connected(model: DeviceModel, device: SecureDevice, caps: CapabilityFlags = DEFAULT_REQUESTER_CAPS,
              ) -> tuple[Requester, RequesterDriver]:
    """Our requester after VCA and DIGESTS, trusting every slot's root."""
    roots = tuple(model.root_certificate(slot) for slot in model.slots)
    requester = Requester(RequesterConfig(trust_anchors=roots, capabilities=caps))
    driver = RequesterDriver(device.spdm.pipe(), requester)
    for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                    requester.get_digests):
        driver.run(command)
    return requester, driver


def test_defaults_offer_everything_the_engines_do() -> None:
    model, device = build()
    config = device.spdm.responder.config
    assert tuple(model.slots) == (0, 1)
    assert model.slots[0].root != model.slots[1].root  # each slot its own chain and key
    wanted = (F.CERT_CAP | F.CHAL_CAP | F.MEAS_CAP_SIG | F.MEAS_FRESH_CAP | F.ENCRYPT_CAP | F.MAC_CAP
              | F.KEY_EX_CAP | F.HBEAT_CAP | F.KEY_UPD_CAP | F.HANDSHAKE_IN_THE_CLEAR_CAP
              | F.EP_INFO_CAP_SIG | F.MEL_CAP | F.GET_KEY_PAIR_INFO_CAP | F.LARGE_RESP_CAP)
    assert config.capabilities == wanted
    assert config.heartbeat_period == 60
    assert device.ide.max_port_index == 1
    assert DEFAULT_TDIS == (0x0100, 0x0101, 0x0102, 0xBEEF)


def test_heartbeat_period_and_handshake_in_the_clear_reach_the_requester() -> None:
    model, device = build()
    requester, driver = connected(model, device, DEFAULT_REQUESTER_CAPS | F.HANDSHAKE_IN_THE_CLEAR_CAP)
    driver.run(lambda: requester.get_certificate(1, now=NOW))
    [established] = [e for e in driver.run(lambda: requester.key_exchange(1))
                     if isinstance(e, SessionEstablished)]
    assert established.heartbeat_period == 60
    assert requester.sessions[established.session_id].handshake_in_the_clear
    assert isinstance(driver.run(lambda: requester.heartbeat(established.session_id))[0],
                      HeartbeatAcknowledged)


@pytest.mark.parametrize(("argv", "without", "with_"), [
    (("--no-handshake-in-the-clear",), F.HANDSHAKE_IN_THE_CLEAR_CAP, F.HBEAT_CAP),
    (("--heartbeat-period", "0"), F.HBEAT_CAP, F.KEY_UPD_CAP),
    (("--no-key-update",), F.KEY_UPD_CAP, F.HBEAT_CAP),
    (("--no-challenge",), F.CHAL_CAP, F.CERT_CAP),
    (("--measurements", "none"), F.MEAS_CAP_SIG | F.MEAS_CAP_NO_SIG | F.MEAS_FRESH_CAP, F.CHAL_CAP),
    (("--measurements", "unsigned", "--no-fresh-measurements"), F.MEAS_CAP_SIG | F.MEAS_FRESH_CAP,
     F.MEAS_CAP_NO_SIG),
    (("--mac-only",), F.ENCRYPT_CAP, F.MAC_CAP),
    (("--psk", "00ff", "--no-psk-context"), F.PSK_CAP_WITH_CONTEXT, F.PSK_CAP),
    (("--psk", "00ff"), F.PSK_CAP, F.PSK_CAP_WITH_CONTEXT),
], ids=lambda v: " ".join(v) if isinstance(v, tuple) else None)
def test_each_choice_switches_its_capability(argv: tuple[str, ...], without: CapabilityFlags,
                                             with_: CapabilityFlags) -> None:
    _, device = build(*argv)
    caps = device.spdm.responder.config.capabilities
    assert not caps & without and caps & with_ == with_


def test_heartbeat_period_zero_and_too_long() -> None:
    assert build("--heartbeat-period", "0")[1].spdm.responder.config.heartbeat_period == 0
    with pytest.raises(ConfigurationError, match="heartbeat period 256"):
        build("--heartbeat-period", "256")


def _identity_files(tmp_path: Path, name: str, asym: BaseAsymAlgo) -> tuple[str, Path]:
    identity = generate_device_identity(asym, common_name=name)
    chain, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    chain.write_bytes(b"".join(c.to_pem() for c in identity.certificates))
    key.write_bytes(identity.leaf_key.to_pem())
    return f"{chain}:{key}", chain


def test_slots_from_files_each_serve_their_own_chain_and_key(tmp_path: Path) -> None:
    one, one_chain = _identity_files(tmp_path, "one", BaseAsymAlgo.ECDSA_P256)
    three, three_chain = _identity_files(tmp_path, "three", BaseAsymAlgo.ECDSA_P256)
    model, device = build("--slot", f"1:{one}", "--slot", f"3:{three}")
    assert tuple(model.slots) == (1, 3)
    requester, driver = connected(model, device)
    for slot, chain in ((1, one_chain), (3, three_chain)):
        events = driver.run(partial(requester.get_certificate, slot, now=NOW))
        [received] = [e for e in events if isinstance(e, CertificateChainReceived)]
        assert received.chain.leaf.der == load_certificates(chain.read_bytes())[-1].der
    events = driver.run(lambda: requester.key_exchange(3))
    assert any(isinstance(e, SessionEstablished) for e in events)


def test_generated_slots_beside_file_slots(tmp_path: Path) -> None:
    one, _ = _identity_files(tmp_path, "one", BaseAsymAlgo.ECDSA_P384)
    model, _ = build("--slot", f"1:{one}", "--slots", "0,2")
    assert tuple(model.slots) == (0, 1, 2)
    assert {i.leaf_key.asym for i in model.slots.values()} == {BaseAsymAlgo.ECDSA_P384}


@pytest.mark.parametrize(("argv", "message"), [
    (("--slots", "0,8"), "not distinct slots"),
    (("--slots", "0,0"), "not distinct slots"),
    (("--slots", "x"), "slot numbers"),
    (("--slot", "9:a:b"), "not 0-7"),
    (("--slot", "1:only-a-chain"), "N:CHAIN:KEY"),
    (("--psk-hint", "x"), "give --psk too"),
    (("--psk", "01", "--psk-hint", "a", "--psk-hint-hex", "61"), "give one"),
    (("--psk", "01", "--psk-hint-hex", "zz"), "hex digits"),
    (("--ide-ports", "0"), "1 to 256 ports"),
])
def test_bad_choices_are_configuration_errors(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build(*argv)


def test_slots_must_share_one_algorithm(tmp_path: Path) -> None:
    p256, _ = _identity_files(tmp_path, "p256", BaseAsymAlgo.ECDSA_P256)
    p384, _ = _identity_files(tmp_path, "p384", BaseAsymAlgo.ECDSA_P384)
    with pytest.raises(ConfigurationError, match="one algorithm"):
        build("--slot", f"0:{p256}", "--slot", f"1:{p384}")
    with pytest.raises(ConfigurationError, match="given twice"):
        build("--slot", f"0:{p256}", "--slot", f"0:{p256}")
    with pytest.raises(ConfigurationError, match="both given"):
        build("--slot", f"0:{p256}", "--slots", "0")


# --- PSK hints as exact bytes --------------------------------------------------------------------

def _replay_psk_exchange(device: SecureDevice) -> bytes:
    """The reference requester's connection up to its PSK_EXCHANGE with ``TestPskHint\\0``, replayed."""
    exchanges = [e for e in spdm_exchanges(PSK_SET) if e.index <= PSK_EXCHANGE_RECORD]
    start = max(i for i, e in enumerate(exchanges) if e.request_payload[1] == 0x84)
    vca = [e for e in exchanges[start:] if e.request_payload[1] in (0x84, 0xE1, 0xE3)]
    psk_exchange = exchanges[-1]
    assert psk_exchange.index == PSK_EXCHANGE_RECORD and psk_exchange.request_payload[1] == 0xE6
    assert REFERENCE_HINT in psk_exchange.request_payload
    for exchange in vca:
        assert device.spdm.responder.handle(exchange.request_payload)[1] != ResponseCode.ERROR
    return device.spdm.responder.handle(psk_exchange.request_payload)


def test_the_reference_requesters_psk_exchange_matches_a_hex_hint() -> None:
    _, device = build("--psk", REFERENCE_PSK.hex(), "--psk-hint-hex", REFERENCE_HINT.hex())
    response = _replay_psk_exchange(device)
    assert response[1] == ResponseCode.PSK_EXCHANGE_RSP and response[2] == 60  # HeartbeatPeriod


def test_a_text_hint_has_no_nul_so_it_does_not_match_a_c_string() -> None:
    _, device = build("--psk", REFERENCE_PSK.hex(), "--psk-hint", "TestPskHint")
    response = _replay_psk_exchange(device)
    assert response[1:3] == bytes([ResponseCode.ERROR, 0x01])  # InvalidRequest: no PSK for that hint


def test_a_psk_session_with_the_reference_psk_and_hint() -> None:
    """The reference's PSK and hint: PSK_EXCHANGE/PSK_FINISH, heartbeat, both key updates, END_SESSION."""
    model, device = build("--psk", REFERENCE_PSK.hex(), "--psk-hint-hex", REFERENCE_HINT.hex())
    requester, driver = connected(model, device)
    [established] = [e for e in driver.run(lambda: requester.psk_exchange(REFERENCE_PSK, REFERENCE_HINT))
                     if isinstance(e, SessionEstablished)]
    session_id = established.session_id
    assert established.heartbeat_period == 60
    assert isinstance(driver.run(lambda: requester.heartbeat(session_id))[0], HeartbeatAcknowledged)
    assert driver.run(lambda: requester.key_update(session_id, all_keys=True)) == [
        KeyUpdated(session_id, True)]
    assert driver.run(lambda: requester.key_update(session_id)) == [KeyUpdated(session_id, False)]
    assert isinstance(driver.run(lambda: requester.heartbeat(session_id))[0], HeartbeatAcknowledged)
    assert driver.run(lambda: requester.end_session(session_id)) == [SessionEnded(session_id)]
    with pytest.raises(RemoteErrorResponse, match="INVALID_REQUEST"):
        driver.run(lambda: requester.psk_exchange(REFERENCE_PSK, REFERENCE_HINT[:-1]))


# --- the command itself ---------------------------------------------------------------------------

def test_help_documents_every_flag() -> None:
    text = subprocess.run([sys.executable, "-m", "devsec", "emulate", "--help"], capture_output=True,
                          text=True, check=True).stdout
    for flag in ("--slot N:CHAIN:KEY", "--slots", "--heartbeat-period", "--no-handshake-in-the-clear",
                 "--no-key-update", "--no-challenge", "--measurements", "--no-fresh-measurements",
                 "--mac-only", "--psk-hint-hex", "--no-psk-context", "--ct-exponent", "--ide-ports",
                 "--tdi", "--mutual-auth"):
        assert flag in text, flag
    assert "without a NUL" in text and "byte for byte" in text


@pytest.mark.socket
def test_root_out_holds_every_slots_root_and_the_banner_says_what_is_served(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with emulate(tmp_path, "--slots", "0,1,2") as (url, root):
        roots = load_certificates(root.read_bytes())
        assert len(roots) == 3 and len({c.der for c in roots}) == 3
        assert main(["connect", url, "--trust-root", str(root), "--slot", "2", "--json"]) == 0
    assert '"verified": true' in capsys.readouterr().out


def test_a_small_data_transfer_size_shrinks_what_the_device_sends() -> None:
    """A device behind a small buffer says so, and its CERTIFICATE portions fit it whatever is asked."""
    model, device = build("--data-transfer-size", "0x200")
    requester, driver = connected(model, device)
    negotiated = requester.negotiated
    assert negotiated is not None and negotiated.responder_data_transfer_size == 0x200
    sizes: list[int] = []
    exchange = device.spdm.endpoint.handle

    def recording(request: bytes) -> bytes | None:
        answer = exchange(request)
        sizes.append(len(answer or b""))
        return answer

    driver.transport = PipeTransport(recording)
    driver.run(lambda: requester.get_certificate(0, now=NOW))
    assert 0 in requester.chains and len(sizes) > 1
    assert max(sizes) <= 0x200 + 8  # one SPDM message of at most 0x200 bytes per DOE object
    with pytest.raises(ConfigurationError, match="data-transfer-size"):
        build("--data-transfer-size", "41")
