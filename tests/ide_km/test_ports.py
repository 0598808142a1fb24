"""IDE_KM ports: MaxPortIndex, one IDE register block and set of streams per PortIndex, and the
answers PCIe §6.33 gives a PortIndex the device lacks (KP_ACK status 2 for KEY_PROG; QUERY and
K_SET_GO/K_SET_STOP have no status field and get ERROR InvalidRequest)."""

from __future__ import annotations

import pytest

from ide_km import (
    Direction,
    IdeKmDevice,
    IdeKmDeviceConfig,
    InvalidFieldError,
    KeySet,
    KpAckStatus,
    PortConfig,
    StreamState,
    SubStream,
)
from ide_km.messages import KeyProg, KeySubStream, KpAck, KSetGo, Query, QueryResp
from spdm.errors import SpdmErrorCode

from .pair import SESSION

SLOTS = [KeySubStream(KeySet.K0, d, s) for d in Direction for s in SubStream]


def device(ports: int = 2, stream_ids: tuple[int, ...] = (0,)) -> IdeKmDevice:
    return IdeKmDevice(IdeKmDeviceConfig((PortConfig.selective(stream_ids),) * ports))


def key_prog(dev: IdeKmDevice, port: int, kss: KeySubStream, stream: int = 0) -> KpAck:
    return KpAck.decode(dev.handle(KeyProg(stream, kss, port, key=bytes(range(32))).encode(), SESSION))


def start_stream(dev: IdeKmDevice, port: int) -> None:
    for kss in SLOTS:
        assert key_prog(dev, port, kss).status == KpAckStatus.SUCCESS
    for kss in SLOTS:
        dev.handle(KSetGo(0, kss, port).encode(), SESSION)


@pytest.mark.parametrize("ports", [1, 2, 8])
def test_every_port_answers_query_with_max_port_index(ports: int) -> None:
    dev = device(ports)
    assert dev.max_port_index == ports - 1
    for port in range(ports):
        response = QueryResp.decode(dev.handle(Query(port).encode(), SESSION))
        assert (response.port_index, response.max_port_index) == (port, ports - 1)


def test_query_for_a_port_the_device_lacks_is_invalid_request() -> None:
    with pytest.raises(InvalidFieldError, match="MaxPortIndex is 1") as info:
        device(2).handle(Query(2).encode(), SESSION)
    assert info.value.error_code == SpdmErrorCode.INVALID_REQUEST


def test_key_prog_for_a_port_the_device_lacks_is_kp_ack_status_2() -> None:
    ack = key_prog(device(2), 5, SLOTS[0])
    assert (ack.status, ack.port_index, ack.stream_id) == (KpAckStatus.UNSUPPORTED_PORT_INDEX, 5, 0)


def test_k_set_go_for_a_port_the_device_lacks_is_invalid_request() -> None:
    with pytest.raises(InvalidFieldError, match="MaxPortIndex 1") as info:
        device(2).handle(KSetGo(0, SLOTS[0], 2).encode(), SESSION)
    assert info.value.error_code == SpdmErrorCode.INVALID_REQUEST


def test_ports_keep_their_own_streams() -> None:
    """Keys programmed and started on port 1 (what spdm-emu's requester does) leave port 0 alone."""
    dev = device(2)
    start_stream(dev, 1)
    assert dev.stream_state(1, 0) == StreamState.SECURE and dev.stream_session(1, 0) == SESSION
    assert dev.stream_state(0, 0) == StreamState.INSECURE and dev.stream_session(0, 0) is None


def test_ports_with_stream() -> None:
    assert device(3).ports_with_stream(0) == (0, 1, 2)
    assert device(3).ports_with_stream(1) == ()
    mixed = IdeKmDevice(IdeKmDeviceConfig((PortConfig.selective((0,)), PortConfig.selective((1, 2)))))
    assert (mixed.ports_with_stream(0), mixed.ports_with_stream(2)) == ((0,), (1,))
