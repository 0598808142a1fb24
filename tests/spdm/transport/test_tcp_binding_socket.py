"""Our requester and our device over DSP0287 on spdm-emu's socket (transport type TCP), over loopback.

The frames are what the reference's ``--trans TCP`` puts on its socket (its
``wire-lo.pcap``): NORMAL, transport type 3, one DSP0287 message each.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from spdm.capture import read_capture
from spdm.config import RequesterConfig, ResponderConfig
from spdm.device import DeviceModel
from spdm.errors import TransportError
from spdm.events import (
    ChallengeAuthenticated,
    HeartbeatAcknowledged,
    KeyUpdated,
    MeasurementsReceived,
    SessionEnded,
    SessionEstablished,
)
from spdm.messages.codes import BaseAsymAlgo
from spdm.negotiation import AlgorithmPreferences
from spdm.requester import Requester
from spdm.responder import Responder
from spdm.transport import EmuSocketClient, EmuSocketServer, SocketTransportType
from spdm.transport.binding_driver import BindingDriver
from spdm.transport.binding_endpoint import BindingEndpoint
from spdm.transport.doe import DataObject, DataObjectType, encode_data_object
from spdm.transport.emu_frame import SocketCommand, SocketFrame, encode_frame, read_frame
from spdm.transport.tcp_binding import TCP_CAPTURE, TCP_RECORDS
from tests.vectors import TRANSPORT_SETS, binding_records

NOW = datetime.now(UTC)
SET = "spdm12-p384-tcp"
LINKTYPE_ETHERNET = 1
REFERENCE_PORT = 23607
TCP = SocketTransportType.TCP
PREFS = replace(AlgorithmPreferences(), asym_algs=(BaseAsymAlgo.ECDSA_P384,))
MODEL = DeviceModel.generate(BaseAsymAlgo.ECDSA_P384)


class Recording:
    """The server's handler, keeping every binding message (DSP0287, MCTP) it saw and sent."""

    def __init__(self, endpoint: BindingEndpoint) -> None:
        self.endpoint = endpoint
        self.messages: list[bytes] = []

    def __call__(self, data: bytes) -> bytes | None:
        answer = self.endpoint.handle(data)
        self.messages += [data, answer or b""]
        return answer


@contextmanager
def serving() -> Iterator[tuple[tuple[str, int], Recording]]:
    responder = Responder(ResponderConfig(algorithms=PREFS, record_format=TCP_RECORDS), MODEL)
    handler = Recording(BindingEndpoint(TCP_CAPTURE, responder))
    server = EmuSocketServer(handler, "127.0.0.1", 0, transport_type=TCP)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.address, handler
    finally:
        server.stop()
        thread.join(5)
        server.close()


def test_a_whole_connection_and_session_over_the_tcp_binding() -> None:
    with serving() as ((host, port), recording):
        client = EmuSocketClient(host, port, transport_type=TCP)
        requester = Requester(RequesterConfig(trust_anchors=(MODEL.root_certificate(),), algorithms=PREFS),
                              record_format=TCP_RECORDS)
        driver = BindingDriver(client, TCP_CAPTURE, requester)
        try:
            for command in (requester.get_version, requester.get_capabilities, requester.negotiate_algorithms,
                            requester.get_digests, lambda: requester.get_certificate(0, now=NOW)):
                driver.run(command)
            [auth] = driver.run(requester.challenge)
            assert isinstance(auth, ChallengeAuthenticated)
            events = driver.run(requester.key_exchange)
            [sid] = [e.session_id for e in events if isinstance(e, SessionEstablished)]
            assert isinstance(driver.run(lambda: requester.heartbeat(sid))[0], HeartbeatAcknowledged)
            assert driver.run(lambda: requester.key_update(sid, all_keys=True)) == [KeyUpdated(sid, True)]
            [meas] = driver.run(lambda: requester.get_measurements(session_id=sid))
            assert isinstance(meas, MeasurementsReceived) and meas.evidence is not None
            assert driver.run(lambda: requester.end_session(sid)) == [SessionEnded(sid)]
        finally:
            client.close()
    messages = recording.messages
    assert messages[0] == bytes.fromhex("0600010510840000")  # GET_VERSION, as the reference's record 1
    assert all(int.from_bytes(m[:2], "little") == len(m) - 2 and m[2] == 1 for m in messages)
    # FINISH, HEARTBEAT, KEY_UPDATE, VerifyNewKey, GET_MEASUREMENTS, END_SESSION: both directions.
    assert sum(m[3] == 0x06 for m in messages) == 2 * 6


def test_a_doe_client_is_not_served() -> None:
    with serving() as ((host, port), _):
        client = EmuSocketClient(host, port)  # transport type PCI_DOE
        try:
            request = encode_data_object(DataObject(1, DataObjectType.SPDM, bytes.fromhex("10840000")))
            with pytest.raises(TransportError):
                client.exchange(request)
        finally:
            client.close()


def test_a_malformed_message_is_dropped() -> None:
    with serving() as ((host, port), _):
        client = EmuSocketClient(host, port, transport_type=TCP)
        try:
            with pytest.raises(TransportError, match="dropped"):
                client.exchange(bytes.fromhex("0700010510840000"))  # PayloadLength off by one
            assert client.exchange(bytes.fromhex("0600010510840000"))[3] == 0x05  # the connection stays
        finally:
            client.close()


def _wire_frames(to_responder: bool) -> list[SocketFrame]:
    """The spdm-emu frames in one direction of the reference run's loopback capture (Ethernet, IPv4, TCP)."""
    segments: dict[int, bytes] = {}
    data = (TRANSPORT_SETS[SET][0] / "wire-lo.pcap").read_bytes()
    for record in read_capture(data, link_type=LINKTYPE_ETHERNET):
        ip = record.data[14:]
        tcp = ip[(ip[0] & 0xF) * 4:int.from_bytes(ip[2:4], "big")]
        payload = tcp[(tcp[12] >> 4) * 4:]
        if payload and (int.from_bytes(tcp[2:4], "big") == REFERENCE_PORT) == to_responder:
            segments[int.from_bytes(tcp[4:8], "big")] = payload  # a retransmission lands on itself
    stream = io.BytesIO(b"".join(segments[seq] for seq in sorted(segments)))
    frames = []
    while (frame := read_frame(stream.read)) is not None:
        frames.append(frame)
    return frames


def test_the_reference_socket_carries_exactly_these_frames() -> None:
    records = [r.data for r in binding_records(SET)]
    for to_responder, expected in ((True, records[0::2]), (False, records[1::2])):
        frames = _wire_frames(to_responder)
        assert [f.command for f in frames] == [SocketCommand.TEST] + [SocketCommand.NORMAL] * 25 + [
            SocketCommand.SHUTDOWN]
        assert {f.transport_type for f in frames} == {TCP}
        normal = [f for f in frames if f.command == SocketCommand.NORMAL]
        assert [f.payload for f in normal] == expected
        # What our client and server send for the same message is the same bytes.
        assert encode_frame(SocketFrame(SocketCommand.NORMAL, TCP, expected[0])) == encode_frame(normal[0])
