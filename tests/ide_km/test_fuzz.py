"""Property tests of the IDE_KM codec and device model (R10).

Decoders get random bytes behind a valid header and captured objects mutated
(bit flips, byte changes, cuts, insertions, extensions): each decodes or raises
:class:`DecodeError`, and whatever decodes re-encodes to bytes that decode to
the same object.  Generated valid objects survive a round trip.  The device
model gets random and mutated requests, in and out of sessions, one after the
other on the same instance: it answers with a well-formed IDE_KM response or
raises a :class:`ProtocolError` (which the SPDM responder turns into ERROR),
nothing else.  Deterministic (``derandomize``); a few seconds.
"""

from __future__ import annotations

from functools import cache

from construct import Container, ListContainer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ide_km import IdeKmDevice, IdeKmDeviceConfig, PortConfig
from ide_km.messages import (
    REQUEST_TYPES,
    RESPONSE_TYPES,
    AddressAssociation,
    Direction,
    IdeCapability,
    IdeControl,
    IdeKmMessage,
    IdeRegisterBlock,
    KeyProg,
    KeySet,
    KeySubStream,
    KGoStopAck,
    KpAck,
    KpAckStatus,
    KSetGo,
    KSetStop,
    LinkStream,
    Query,
    QueryResp,
    RidAssociation,
    SelectiveStream,
    StreamControl,
    StreamState,
    StreamStatus,
    SubStream,
    decode_request,
    decode_response,
)
from spdm.codec import WireMessage
from spdm.errors import DecodeError, ProtocolError
from tests.vectors import SETS, vendor_exchanges

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
CLASSES = sorted({*REQUEST_TYPES.values(), *RESPONSE_TYPES.values()}, key=lambda c: c.__name__)

u8 = st.integers(0, 0xFF)
u32 = st.integers(0, 0xFFFF_FFFF)
flag = st.booleans()


@cache
def captured() -> tuple[bytes, ...]:
    """Every IDE_KM-looking payload of the captures (CXL's too: good mutation seeds)."""
    out: list[bytes] = []
    for name in SETS:
        for exchange in vendor_exchanges(name):
            if exchange.protocol == 0:
                out += [exchange.request, exchange.response]
    return tuple(dict.fromkeys(out))


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(captured())))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "extend"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(u8)
        elif kind == "cut":
            del data[at:at + draw(st.integers(1, 8))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        else:
            data += draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


@st.composite
def headed(draw: st.DrawFn) -> bytes:
    """Protocol ID 0 and a (mostly valid) ObjectID, then random bytes."""
    object_id = draw(st.one_of(st.integers(0, 8), u8))
    return bytes([0, object_id]) + draw(st.binary(max_size=120))


payloads = st.one_of(mutated(), headed(), st.binary(max_size=64))


def _decodes_cleanly(decode: object, data: bytes) -> None:
    try:
        message = decode(data)  # type: ignore[operator]
    except DecodeError:
        return
    assert isinstance(message, IdeKmMessage) and isinstance(message, WireMessage)
    assert not any(isinstance(v, Container | ListContainer) for v in vars(message).values())
    again = type(message).decode(message.encode())
    assert again == message


@FUZZ
@given(payloads)
def test_decoders_raise_only_decode_error(data: bytes) -> None:
    for cls in CLASSES:
        _decodes_cleanly(cls.decode, data)
    _decodes_cleanly(decode_request, data)
    _decodes_cleanly(decode_response, data)


# --- generated valid objects -----------------------------------------------------------------------

key_sub_streams = st.builds(KeySubStream, st.sampled_from(KeySet), st.sampled_from(Direction),
                            st.integers(0, 15))
stream_controls = st.builds(
    StreamControl, stream_id=u8, enable=flag, tx_aggregation_npr=st.integers(0, 3),
    tx_aggregation_pr=st.integers(0, 3), tx_aggregation_cpl=st.integers(0, 3), pcrc_enable=flag,
    config_requests=flag, partial_header_encryption_mode=st.integers(0, 15), algorithm=st.integers(0, 31),
    tc=st.integers(0, 7), default_stream=flag, tee_limited=flag)
link_controls = stream_controls.map(
    lambda c: StreamControl(c.stream_id, c.enable, c.tx_aggregation_npr, c.tx_aggregation_pr,
                            c.tx_aggregation_cpl, c.pcrc_enable, False, c.partial_header_encryption_mode,
                            c.algorithm, c.tc))
statuses = st.builds(StreamStatus, st.sampled_from(StreamState), flag)
addresses = st.builds(AddressAssociation, flag, st.integers(0, 0xFFF), st.integers(0, 0xFFF), u32, u32)
selective = st.builds(SelectiveStream, stream_controls, statuses,
                      st.builds(RidAssociation, flag, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), u8),
                      st.lists(addresses, max_size=3).map(tuple))


@st.composite
def register_blocks(draw: st.DrawFn) -> IdeRegisterBlock:
    links = draw(st.lists(st.builds(LinkStream, link_controls, statuses), max_size=3))
    streams = draw(st.lists(selective, max_size=3))
    capability = IdeCapability(
        link_ide=bool(links), selective_ide=bool(streams), flow_through_ide=draw(flag),
        partial_header_encryption=draw(flag), aggregation=draw(flag), pcrc=draw(flag), ide_km=draw(flag),
        selective_ide_for_config=draw(flag), supported_algorithms=draw(st.integers(0, 31)),
        link_tc_count=len(links) or draw(st.integers(1, 8)),
        selective_stream_count=len(streams) or draw(st.integers(1, 256)), tee_limited_stream=draw(flag))
    return IdeRegisterBlock(capability, IdeControl(draw(flag)), tuple(links), tuple(streams),
                            tuple(draw(st.lists(u32, max_size=4))))


messages = st.one_of(
    st.builds(Query, u8),
    st.builds(QueryResp, u8, u8, u8, u8, u8, register_blocks()),
    st.builds(KeyProg, u8, key_sub_streams, u8, st.binary(min_size=32, max_size=32),
              st.integers(0, (1 << 64) - 1)),
    st.builds(KpAck, u8, st.sampled_from(KpAckStatus), key_sub_streams, u8),
    st.builds(KSetGo, u8, key_sub_streams, u8),
    st.builds(KSetStop, u8, key_sub_streams, u8),
    st.builds(KGoStopAck, u8, key_sub_streams, u8),
)


@settings(FUZZ, max_examples=200)
@given(messages)
def test_generated_objects_round_trip(message: IdeKmMessage) -> None:
    data = message.encode()
    decoded = type(message).decode(data)
    assert decoded == message and decoded.encode() == data


# --- the device model ------------------------------------------------------------------------------


@st.composite
def valid_requests(draw: st.DrawFn) -> bytes:
    """Mostly sensible requests (the streams and ports exist) so the state machine moves."""
    stream, port = draw(st.sampled_from([0, 5, 9])), draw(st.integers(0, 2))
    kss = KeySubStream(draw(st.sampled_from(KeySet)), draw(st.sampled_from(Direction)),
                       draw(st.sampled_from([*SubStream, 3])))
    kind = draw(st.sampled_from([Query, KeyProg, KeyProg, KSetGo, KSetGo, KSetStop]))
    request: IdeKmMessage
    if kind is Query:
        request = Query(port)
    elif kind is KeyProg:
        request = KeyProg(stream, kss, port, bytes(32), draw(st.sampled_from([1, 1, 0])))
    else:
        request = kind(stream, kss, port)
    return request.encode()


sessions = st.sampled_from([0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFE_FFFE, None])
steps = st.lists(st.tuples(st.one_of(valid_requests(), payloads), sessions, st.booleans()),
                 min_size=1, max_size=25)


@settings(FUZZ, max_examples=150)
@given(steps)
def test_device_answers_well_formed_or_raises_protocol_error(
        script: list[tuple[bytes, int | None, bool]]) -> None:
    device = IdeKmDevice(IdeKmDeviceConfig((
        PortConfig.selective((0, 5)), PortConfig.selective((9,)))))
    calls: list[tuple[int, int]] = []
    device.on_stream_insecure(lambda port, stream: calls.append((port, stream)))
    for payload, session_id, end_session in script:
        try:
            answer = device.handle(payload, session_id)
        except ProtocolError:
            pass
        else:
            response = decode_response(answer)
            if isinstance(response, KpAck | KGoStopAck):
                request = decode_request(payload) if len(payload) == 48 or payload[1] != 2 else None
                if request is not None and not isinstance(request, Query):
                    assert response.stream_id == request.stream_id
                    assert response.port_index == request.port_index
        if end_session and session_id is not None:
            device.session_ended(session_id)
        for port, stream in ((0, 0), (0, 5), (1, 9)):
            state = device.stream_state(port, stream)
            assert state in (StreamState.SECURE, StreamState.INSECURE)
            if state == StreamState.SECURE:
                assert device.stream_session(port, stream) is not None
