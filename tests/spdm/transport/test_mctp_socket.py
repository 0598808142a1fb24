"""Our requester and our device over MCTP on spdm-emu's socket (transport type MCTP), over loopback.

spdm-emu's socket carries, with ``--trans MCTP``, one MCTP message per NORMAL
frame of transport type 1: the message-type byte and the message.  Its MCTP
captures (``spdm12-p384-mctp``) hold each of those messages behind the fixed
transport header spdm-emu adds "for PCAP" only, so a capture record minus
those 4 bytes is what went through the reference's socket -- and what ours
carries for the same message.  The library path (``open_binding`` +
``connect``) and ``authenticate`` are driven here; the CLI's is
tests/devsec/test_connect_bindings.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from spdm.cma import authenticate
from spdm.config import DEFAULT_RESPONDER_CAPS, RequesterConfig, ResponderConfig
from spdm.connection import connect
from spdm.device import DeviceModel
from spdm.errors import ConfigurationError, DecodeError, TransportError
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, MeasurementHashAlgo, RequestCode
from spdm.negotiation import AlgorithmPreferences
from spdm.responder import Responder
from spdm.transport import EmuSocketClient, EmuSocketServer, SocketTransportType
from spdm.transport.binding import BoundMessage
from spdm.transport.binding_driver import BindingDriver
from spdm.transport.binding_socket import SOCKET_TRANSPORT_TYPES, binding_endpoint, message_codec
from spdm.transport.mctp import EMU_TRANSPORT_HEADER, MCTP_CAPTURE, MCTP_MESSAGES, MCTP_RECORDS
from spdm.transport.targets import open_binding
from spdm.transport.tcp_binding import TCP_CAPTURE, TCP_RECORDS
from tests.spdm.transport.test_tcp_binding_socket import Recording
from tests.vectors import binding_exchanges, binding_records

SET = "spdm12-p384-mctp"
MODEL = DeviceModel.generate(BaseAsymAlgo.ECDSA_P384, slots=(0, 1))
PREFS = AlgorithmPreferences(hash_algs=(BaseHashAlgo.SHA_384,), asym_algs=(BaseAsymAlgo.ECDSA_P384,),
                             measurement_hash_algs=(MeasurementHashAlgo.SHA_384,))


@contextmanager
def serving(binding: str = "mctp") -> Iterator[tuple[str, list[bytes]]]:
    """Our device served with ``binding``; yields its URL and the messages its server saw and sent."""
    config = ResponderConfig(capabilities=DEFAULT_RESPONDER_CAPS, algorithms=PREFS,
                             record_format=message_codec(binding).record_format)
    recording = Recording(binding_endpoint(Responder(config, MODEL), binding))
    server = EmuSocketServer(recording, "127.0.0.1", 0, transport_type=SOCKET_TRANSPORT_TYPES[binding])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.address
        yield f"tcp://{host}:{port}", recording.messages
    finally:
        server.stop()
        thread.join(5)
        server.close()


def test_each_capture_record_is_the_socket_message_behind_spdm_emus_header() -> None:
    for record in binding_records(SET):
        assert record.data[:4] == EMU_TRANSPORT_HEADER
        message = MCTP_MESSAGES.decode(record.data[4:])
        assert message == MCTP_CAPTURE.decode(record.data)
        assert MCTP_MESSAGES.encode(message) == record.data[4:]


def test_the_socket_names_each_binding_as_spdm_emu_does() -> None:
    # spdm-emu command.h; the TCP set's loopback capture shows type 3 on the wire
    # (tests/spdm/transport/test_tcp_binding_socket.py).
    assert SOCKET_TRANSPORT_TYPES == {"doe": 2, "mctp": 1, "tcp": 3}
    assert message_codec("mctp") is MCTP_MESSAGES and message_codec("tcp") is TCP_CAPTURE
    assert (MCTP_MESSAGES.record_format, TCP_CAPTURE.record_format) == (MCTP_RECORDS, TCP_RECORDS)
    with pytest.raises(ConfigurationError):
        message_codec("doe")


@pytest.mark.socket
def test_our_device_answers_the_reference_requests_over_the_socket() -> None:
    with serving() as (url, _):
        client = EmuSocketClient.from_url(url, transport_type=SocketTransportType.MCTP)
        try:
            answered = 0
            for exchange in binding_exchanges(SET):
                if exchange.request.secured or exchange.request.payload[1] == RequestCode.KEY_EXCHANGE:
                    break
                answer = MCTP_MESSAGES.decode(client.exchange(MCTP_MESSAGES.encode(exchange.request)))
                assert not answer.secured
                assert answer.payload[1] == exchange.response.payload[1], exchange.index
                answered += 1
        finally:
            client.close()
    assert answered == 11  # VCA, DIGESTS/CERTIFICATE x2, CHALLENGE, DIGESTS/CERTIFICATE/DIGESTS, MEASUREMENTS


@pytest.mark.socket
def test_a_connection_and_session_through_the_library() -> None:
    config = RequesterConfig(trust_anchors=(MODEL.root_certificate(),), algorithms=PREFS)
    with serving() as (url, messages), open_binding(url, "mctp") as channel:
        connection = connect(channel, config)
        assert isinstance(connection.driver, BindingDriver)
        assert connection.driver.requester.record_format is MCTP_RECORDS
        with connection.open_session() as session:
            session.heartbeat()
            session.update_keys(all_keys=True)
            assert session.measure().evidence is not None
        assert connection.report.session is not None and connection.report.session.ended
        assert connection.report.protocols == []
    assert messages[0] == bytes.fromhex("0510840000")  # GET_VERSION, as the reference's first record
    assert messages[0] == binding_records(SET)[0].data[4:]
    secured = [m for m in messages if m[:1] == b"\x06"]
    assert all(m[:1] in (b"\x05", b"\x06") for m in messages)
    # FINISH, HEARTBEAT, KEY_UPDATE, VerifyNewKey, GET_MEASUREMENTS, END_SESSION: both directions,
    # each with the 2-byte wire sequence number after the SessionID (restarting at the key update).
    assert len(secured) == 12
    requests = [int.from_bytes(m[5:7], "little") for m in secured[0::2]]
    assert requests == [0, 0, 1, 0, 1, 2]


@pytest.mark.socket
def test_authenticate_over_a_binding_channel() -> None:
    config = RequesterConfig(trust_anchors=(MODEL.root_certificate(),), algorithms=PREFS)
    with serving("tcp") as (url, messages), open_binding(url, "tcp") as channel:
        report = authenticate(channel, config, now=datetime.now(UTC))
    assert report.measurements is not None and report.measurements.evidence is not None
    assert report.protocols == []
    assert messages[0] == bytes.fromhex("0600010510840000")


@pytest.mark.socket
def test_a_doe_client_is_not_served() -> None:
    with serving() as (url, _):
        client = EmuSocketClient.from_url(url)  # transport type PCI_DOE
        try:
            with pytest.raises(TransportError, match="closed the connection"):
                client.exchange(MCTP_MESSAGES.encode(BoundMessage(False, bytes.fromhex("10840000"))))
        finally:
            client.close()


def test_open_binding_refuses_what_cannot_carry_the_binding() -> None:
    with pytest.raises(ConfigurationError, match="only a tcp:// target"):
        open_binding("0000:01:00.0", "mctp")
    with pytest.raises(ConfigurationError, match="not a message binding"):
        open_binding("tcp://127.0.0.1:1", "doe")


def test_a_responder_on_doe_records_does_not_serve_a_message_binding() -> None:
    responder = Responder(ResponderConfig(algorithms=PREFS), MODEL)
    with pytest.raises(ConfigurationError, match="does not seal records as the mctp binding"):
        binding_endpoint(responder, "mctp")


def test_an_mctp_message_of_another_type_is_refused() -> None:
    for data, why in ((b"", "MCTP message of 0 bytes"), (b"\x85\x10", "not SPDM"), (b"\x01\x10", "not SPDM")):
        with pytest.raises(DecodeError, match=why):
            MCTP_MESSAGES.decode(data)
