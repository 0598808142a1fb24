"""The IDE_KM codec (``ide_km.messages``): round trips, known answers, negative cases (R10).

Known answers are PROTOCOLS.md §8 examples and the TIV key-byte-order document
(inline hex, section cited).  The libspdm captures are in ``test_vectors.py``,
property tests in ``test_fuzz.py``.
"""

from __future__ import annotations

import pytest

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
    ObjectId,
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
    object_id_of,
    peek_stream_header,
)
from spdm.errors import DecodeError, LocalProtocolError
from spdm.schema import build_with

K1_TX_CPL = KeySubStream(KeySet.K1, Direction.TX, SubStream.CPL)

RICH_BLOCK = IdeRegisterBlock(
    capability=IdeCapability(link_ide=True, selective_ide=True, ide_km=True, pcrc=True, aggregation=True,
                             link_tc_count=2, selective_stream_count=2, tee_limited_stream=True),
    control=IdeControl(flow_through_enable=True),
    link_streams=(
        LinkStream(StreamControl(stream_id=7, enable=True, tc=0, pcrc_enable=True)),
        LinkStream(StreamControl(stream_id=8, tc=1, tx_aggregation_npr=1, tx_aggregation_pr=2,
                                 tx_aggregation_cpl=3),
                   StreamStatus(StreamState.SECURE, integrity_check_fail_received=True)),
    ),
    selective_streams=(
        SelectiveStream(
            StreamControl(stream_id=1, enable=True, default_stream=True, tee_limited=True,
                          config_requests=True, partial_header_encryption_mode=2, algorithm=0),
            StreamStatus(StreamState.SECURE),
            RidAssociation(valid=True, rid_base=0x0100, rid_limit=0x01FF, segment_base=3),
            (AddressAssociation.covering(0x1_2340_0000, 0x1_23FF_FFFF),
             AddressAssociation.covering(0xF000_0000, 0xF00F_FFFF)),
        ),
        SelectiveStream(StreamControl(stream_id=2)),
    ),
    extra_registers=(0, 0xDEADBEEF),
)

CASES: list[IdeKmMessage] = [
    Query(port_index=1),
    QueryResp(1, 0x08, 0x3A, 2, 7, RICH_BLOCK),
    QueryResp(0, 0, 0, 0, 0, IdeRegisterBlock()),
    KeyProg(3, K1_TX_CPL, 2, bytes(range(32)), 1),
    KeyProg(0, KeySubStream(KeySet.K0, Direction.RX, SubStream.PR), 0, bytes(32), 0x0102030405060708),
    *(KpAck(9, status, K1_TX_CPL, 4) for status in KpAckStatus),
    KSetGo(3, K1_TX_CPL, 2),
    KSetStop(3, K1_TX_CPL, 2),
    KGoStopAck(3, K1_TX_CPL, 2),
]


def _id(message: IdeKmMessage) -> str:
    return type(message).__name__


@pytest.mark.parametrize("message", CASES, ids=_id)
def test_round_trip(message: IdeKmMessage) -> None:
    data = message.encode()
    decoded = type(message).decode(data)
    assert decoded == message
    assert decoded.raw == data
    assert decoded.encode() == data
    table = REQUEST_TYPES if message.OBJECT_ID in REQUEST_TYPES else RESPONSE_TYPES
    generic = decode_request(data) if table is REQUEST_TYPES else decode_response(data)
    assert generic == message
    assert object_id_of(data) == message.OBJECT_ID


@pytest.mark.parametrize("message", CASES, ids=_id)
def test_compiled_build_equals_interpreted(message: IdeKmMessage) -> None:
    """R7: the compiled build path gives the interpreted bytes."""
    assert message.encode() == build_with(message.STRUCT, message._to_fields(), {}, what="x")


@pytest.mark.parametrize("message", CASES, ids=_id)
def test_truncated_at_every_length(message: IdeKmMessage) -> None:
    data = message.encode()
    extra = len(message.registers.extra_registers) if isinstance(message, QueryResp) else 0
    for cut in range(len(data)):
        dropped, partial = divmod(len(data) - cut, 4)
        if not partial and 0 < dropped <= extra:
            # Only the size of the payload says how many extra registers follow (§8.5).
            assert isinstance(message, QueryResp)
            shorter = QueryResp.decode(data[:cut])
            assert shorter.registers.extra_registers == message.registers.extra_registers[:-dropped]
            continue
        with pytest.raises(DecodeError):
            type(message).decode(data[:cut])


@pytest.mark.parametrize("message", CASES, ids=_id)
def test_trailing_bytes_refused(message: IdeKmMessage) -> None:
    data = message.encode()
    trailing = b"\x00" if not isinstance(message, QueryResp) else b"\x00\x00\x00"
    with pytest.raises(DecodeError, match="unexpected byte"):
        type(message).decode(data + trailing)


@pytest.mark.parametrize("message", CASES, ids=_id)
def test_wrong_object_id_and_protocol_id(message: IdeKmMessage) -> None:
    data = message.encode()
    for object_id in range(0x100):
        if object_id != message.OBJECT_ID:
            with pytest.raises(DecodeError):
                type(message).decode(data[:1] + bytes([object_id]) + data[2:])
    with pytest.raises(DecodeError):
        type(message).decode(b"\x01" + data[1:])


def test_generic_decoders_refuse_the_other_direction_and_unknown_objects() -> None:
    with pytest.raises(DecodeError, match="not an IDE_KM response"):
        decode_response(Query(0).encode())
    with pytest.raises(DecodeError, match="not an IDE_KM request"):
        decode_request(KGoStopAck(0, K1_TX_CPL, 0).encode())
    # CXL IDE_KM's GET_KEY (PROTOCOLS.md §8.3 note): not a PCIe IDE_KM object.
    with pytest.raises(DecodeError, match="0x07"):
        decode_request(bytes.fromhex("0007000000008000"))
    with pytest.raises(DecodeError, match="no ObjectID"):
        object_id_of(b"\x00")
    with pytest.raises(DecodeError, match="not IDE_KM"):
        object_id_of(b"\x01\x81")


# --- known answers -----------------------------------------------------------------------------


def test_trace_examples() -> None:
    """PROTOCOLS.md §8.4 (TRACE 1.2, decrypted)."""
    assert Query.decode(bytes.fromhex("00000001")) == Query(1)
    ack = KpAck.decode(bytes.fromhex("0003000000000001"))
    assert ack == KpAck(0, KpAckStatus.SUCCESS, KeySubStream(KeySet.K0, Direction.RX, SubStream.PR), 1)
    go = KSetGo.decode(bytes.fromhex("0004000000000001"))
    assert go.port_index == 1 and go.stream_id == 0
    assert KGoStopAck.decode(bytes.fromhex("0006000000000001")).key_sub_stream == go.key_sub_stream
    header = QueryResp.decode(bytes.fromhex("00010001000000070000000000000000"))
    assert (header.port_index, header.dev_func_num, header.bus_num, header.segment,
            header.max_port_index) == (1, 0, 0, 0, 7)


def test_key_byte_order_tiv_example() -> None:
    """§8.3 / TIV doc/key_byte_order.md: wire = the FIPS key with every 4-byte group reversed,
    then IFV DW1 and IFV DW0 little-endian (IFV 1 -> 00 00 00 00 01 00 00 00)."""
    key = bytes.fromhex("df254152056e02e0ef8b7feb9739d4d96a4eb80103241df7cd5e24b49ccd2720")
    wire = KeyProg(0, KeySubStream(KeySet.K0, Direction.RX, SubStream.PR), 1, key, 1).encode()
    assert wire[:8] == bytes.fromhex("0002000000000001")
    assert wire[8:40] == bytes.fromhex(
        "524125dfe0026e05eb7f8befd9d43997" "01b84e6af71d2403b4245ecd2027cd9c")
    assert wire[40:] == bytes.fromhex("0000000001000000")
    assert KeyProg.decode(wire).key == key


def test_ifv_dword_order() -> None:
    kss = KeySubStream(KeySet.K0, Direction.RX, SubStream.PR)
    wire = KeyProg(0, kss, 0, bytes(32), 0x0102030405060708).encode()
    assert wire[40:] == bytes.fromhex("0403020108070605")


@pytest.mark.parametrize(("kss", "byte"), [
    (KeySubStream(KeySet.K0, Direction.RX, SubStream.PR), 0x00),
    (KeySubStream(KeySet.K0, Direction.RX, SubStream.NPR), 0x10),
    (KeySubStream(KeySet.K0, Direction.RX, SubStream.CPL), 0x20),
    (KeySubStream(KeySet.K0, Direction.TX, SubStream.PR), 0x02),
    (KeySubStream(KeySet.K1, Direction.RX, SubStream.PR), 0x01),
    (K1_TX_CPL, 0x23),
])
def test_key_sub_stream_byte(kss: KeySubStream, byte: int) -> None:
    """§8.2: b0 KeySet, b1 RxTx, b[7:4] sub-stream."""
    assert KSetGo(0, kss, 0).encode()[6] == byte


def test_register_bits() -> None:
    """§8.5 bit positions, checked on the DWs of a built block."""
    data = QueryResp(0, 0, 0, 0, 0, RICH_BLOCK).encode()[8:]
    dws = [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4)]
    # Capability: b0 link, b1 selective, b4 aggregation, b5 PCRC, b6 IDE_KM,
    # b[15:13] TCs - 1, b[23:16] streams - 1, b24 TEE-limited
    assert dws[0] == 0x01 | 0x02 | 0x10 | 0x20 | 0x40 | 1 << 13 | 1 << 16 | 1 << 24
    assert dws[1] == 0x04                                        # Control: b2 flow-through enable
    assert dws[2] == 0x07 << 24 | 0x100 | 0x01                   # link 0 control: ID 7, PCRC, enable
    assert dws[3] == 0                                           # link 0 status: Insecure
    assert dws[4] == 0x08 << 24 | 1 << 19 | 3 << 6 | 2 << 4 | 1 << 2
    assert dws[5] == 1 << 31 | 2                                 # Secure, integrity-check-fail received
    assert dws[6] == 2                                           # selective 0 capability: 2 address blocks
    assert dws[7] == 0x01 << 24 | 1 << 23 | 1 << 22 | 2 << 10 | 1 << 9 | 1
    assert dws[8] == 2
    assert dws[9] == 0x01FF << 8                                 # RID association 1: limit
    assert dws[10] == 3 << 24 | 0x0100 << 8 | 1                  # RID association 2: segment, base, valid
    assert dws[11:14] == [0x23F << 20 | 0x234 << 8 | 1, 1, 1]    # address block: limit/base lower, uppers
    assert dws[14:17] == [0xF00 << 20 | 0xF00 << 8 | 1, 0, 0]
    assert dws[17] == 0 and dws[18] == 0x02 << 24                # selective 1: no address blocks
    assert dws[-2:] == [0, 0xDEADBEEF]                           # extra registers kept verbatim


def test_address_association_range() -> None:
    block = AddressAssociation.covering(0x1_2340_0000, 0x1_23FF_FFFF)
    assert (block.valid, block.base, block.limit) == (True, 0x1_2340_0000, 0x1_23FF_FFFF)


def test_reference_register_block_keeps_its_padding() -> None:
    """spdm-emu's sample sends 74 zero DWs: Capability/Control say nothing is supported, the rest is kept."""
    data = bytes.fromhex("0001000100000007") + bytes(74 * 4)
    resp = QueryResp.decode(data)
    assert resp.registers.capability == IdeCapability()
    assert resp.registers.extra_registers == (0,) * 72
    assert resp.encode() == data


# --- lenient where the specification says reserved, strict where it says nothing ----------------


def test_reserved_fields_ignored_on_parse_and_built_as_zero() -> None:
    data = bytearray(KSetGo(3, K1_TX_CPL, 2).encode())
    data[2] = data[3] = data[5] = 0xFF
    data[6] |= 0x0C                                              # b[3:2] of the sub-stream byte
    decoded = KSetGo.decode(bytes(data))
    assert decoded == KSetGo(3, K1_TX_CPL, 2)
    assert decoded.encode() == KSetGo(3, K1_TX_CPL, 2).encode()


def test_unknown_sub_stream_decodes_as_a_value_to_refuse() -> None:
    """TIV case 2.4: the device answers sub-stream 3 with KP_ACK status 3, so it must decode."""
    data = bytearray(KeyProg(0, K1_TX_CPL, 0, bytes(32)).encode())
    data[6] = 0x30
    decoded = KeyProg.decode(bytes(data))
    assert decoded.key_sub_stream.sub_stream == 3
    assert not decoded.key_sub_stream.valid
    assert K1_TX_CPL.valid
    assert peek_stream_header(bytes(data)) == (0, decoded.key_sub_stream, 0)


def test_undefined_status_and_state_refused() -> None:
    with pytest.raises(DecodeError, match="status 5"):
        KpAck.decode(bytes.fromhex("0003000000050001"))
    header = bytes.fromhex("0001000000000000")
    capability, control = (0x02).to_bytes(4, "little"), bytes(4)   # one selective stream

    def selective(status: int) -> bytes:
        return bytes(4) + bytes(4) + status.to_bytes(4, "little") + bytes(8)

    assert QueryResp.decode(header + capability + control + selective(2)).registers.selective_streams[0] \
        .status.state == StreamState.SECURE
    with pytest.raises(DecodeError, match="reserved"):
        QueryResp.decode(header + capability + control + selective(1))


def test_register_block_must_be_whole_dwords() -> None:
    with pytest.raises(DecodeError):
        QueryResp.decode(bytes.fromhex("0001000000000000") + bytes(9))


def test_peek_stream_header_needs_eight_bytes() -> None:
    with pytest.raises(DecodeError):
        peek_stream_header(bytes(7))


@pytest.mark.parametrize("message", [
    Query(256),
    KSetGo(-1, K1_TX_CPL, 0),
    KeyProg(0, K1_TX_CPL, 0, bytes(31)),
    KeyProg(0, K1_TX_CPL, 0, bytes(32), 1 << 64),
    KSetGo(0, KeySubStream(KeySet.K0, Direction.RX, 16), 0),
    QueryResp(0, 0, 0, 0, 0, IdeRegisterBlock(IdeCapability(selective_ide=True, selective_stream_count=2),
                                              selective_streams=(SelectiveStream(),))),
    QueryResp(0, 0, 0, 0, 0, IdeRegisterBlock(IdeCapability(link_ide=True, link_tc_count=0))),
    QueryResp(0, 0, 0, 0, 0, IdeRegisterBlock(
        IdeCapability(selective_ide=True),
        selective_streams=(SelectiveStream(address_associations=(AddressAssociation(),) * 16),))),
], ids=lambda m: type(m).__name__)
def test_encode_refuses_what_does_not_fit(message: IdeKmMessage) -> None:
    with pytest.raises(LocalProtocolError):
        message.encode()


def test_key_never_in_repr() -> None:
    key = bytes.fromhex("11" * 32)
    message = KeyProg(0, K1_TX_CPL, 0, key)
    decoded = KeyProg.decode(message.encode())
    for text in (repr(message), repr(decoded), str(decoded)):
        assert "11111111" not in text and "key=" not in text


def test_object_ids_match_the_spec_table() -> None:
    """§8.2 ObjectIDs."""
    assert [int(o) for o in ObjectId] == [0, 1, 2, 3, 4, 5, 6]
    assert {c.OBJECT_ID for c in REQUEST_TYPES.values()} == {0, 2, 4, 5}
    assert {c.OBJECT_ID for c in RESPONSE_TYPES.values()} == {1, 3, 6}
    assert KeySet.K0.other is KeySet.K1 and KeySet.K1.other is KeySet.K0
