"""The TDISP codec (tdisp.messages): every message round-trips, KATs from PROTOCOLS.md §9, negative cases."""

from __future__ import annotations

import pytest

from spdm.errors import DecodeError, LocalProtocolError
from spdm.schema import build_with
from tdisp.errors import TdispErrorCode
from tdisp.messages import (
    REQUESTS,
    RESPONSES,
    BindP2pStreamRequest,
    BindP2pStreamResponse,
    DeviceInterfaceReport,
    DeviceInterfaceState,
    GetDeviceInterfaceReport,
    GetDeviceInterfaceState,
    GetTdispCapabilities,
    GetTdispVersion,
    LockInterfaceFlags,
    LockInterfaceRequest,
    LockInterfaceResponse,
    MmioAttributes,
    MmioRange,
    RegistryId,
    SetMmioAttributeRequest,
    SetMmioAttributeResponse,
    StartInterfaceRequest,
    StartInterfaceResponse,
    StopInterfaceRequest,
    StopInterfaceResponse,
    TdispCapabilities,
    TdispErrorMessage,
    TdispMessage,
    TdispRequestCode,
    TdispResponseCode,
    TdispVersion,
    TdiState,
    UnbindP2pStreamRequest,
    UnbindP2pStreamResponse,
    VdmRequest,
    VdmResponse,
    VendorErrorData,
    decode_request,
    decode_response,
    peek_header,
)
from tdisp.messages.codes import MANDATORY_REQUESTS

IID = 0xBEEF
NONCE = bytes(range(32))

EXAMPLES: list[TdispMessage] = [
    GetTdispVersion(IID),
    GetTdispCapabilities(IID),
    LockInterfaceRequest(IID, flags=LockInterfaceFlags(0x1F), default_stream_id=3,
                         mmio_reporting_offset=-0x1000, bind_p2p_address_mask=0xFFFF_0000_0000_0000),
    GetDeviceInterfaceReport(IID, offset=0x40, length=0x24),
    GetDeviceInterfaceState(IID),
    StartInterfaceRequest(IID, start_interface_nonce=NONCE),
    StopInterfaceRequest(IID),
    BindP2pStreamRequest(IID, p2p_stream_id=7),
    UnbindP2pStreamRequest(IID, p2p_stream_id=7),
    SetMmioAttributeRequest(IID, mmio_range=MmioRange(0xD0008, 4, MmioAttributes.IS_NON_TEE_MEM, 2)),
    VdmRequest(IID, registry_id=RegistryId.CXL, vendor_id=b"\x98\x1e", vendor_data=b"hello"),
    TdispVersion(IID, version_num_entries=(0x10, 0x11)),
    TdispCapabilities(IID, req_msgs_supported=frozenset(TdispRequestCode),
                      lock_interface_flags_supported=LockInterfaceFlags(0x1F), dev_addr_width=52,
                      num_req_this=1, num_req_all=4),
    LockInterfaceResponse(IID, start_interface_nonce=NONCE),
    DeviceInterfaceReport(IID, remainder_length=5, report_bytes=b"abc"),
    DeviceInterfaceState(IID, tdi_state=TdiState.ERROR),
    StartInterfaceResponse(IID),
    StopInterfaceResponse(IID),
    BindP2pStreamResponse(IID),
    UnbindP2pStreamResponse(IID),
    SetMmioAttributeResponse(IID),
    VdmResponse(IID, registry_id=RegistryId.PCI_SIG, vendor_id=b"\x86\x80", vendor_data=b""),
    TdispErrorMessage(IID, error_code=TdispErrorCode.UNSUPPORTED_REQUEST, error_data=0x8B),
    TdispErrorMessage.vendor_specific(IID, VendorErrorData(RegistryId.PCI_SIG, b"\x86\x80", b"\x01\x02")),
]


def test_examples_cover_every_message_class() -> None:
    assert {type(m) for m in EXAMPLES} == set(REQUESTS.values()) | set(RESPONSES.values())


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(message: TdispMessage) -> None:
    data = message.encode()
    decoded = type(message).decode(data)
    assert decoded == message
    assert decoded.raw == data
    assert decoded.encode() == data
    decoder = decode_request if message.CODE & 0x80 else decode_response
    assert decoder(data) == message
    head = peek_header(data)
    assert (head.version, head.message_type, head.interface_id) == (0x10, message.CODE, IID)


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_compiled_build_equals_interpreted(message: TdispMessage) -> None:
    # STYLE R7: the compiled build path writes what the interpreted one writes.
    assert message.encode() == build_with(message.STRUCT, message._to_fields(), {}, what="x")


def _fixed_size(message: TdispMessage) -> int:
    """Bytes before a greedy tail (VDM vendor data, TDISP_ERROR extended data); else the whole message."""
    if isinstance(message, (VdmRequest, VdmResponse)):
        return 17 + 2 + len(message.vendor_id)
    if isinstance(message, TdispErrorMessage):
        return 17 + 8
    return len(message.encode())


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_truncated_and_trailing_bytes_refused(message: TdispMessage) -> None:
    data = message.encode()
    fixed = _fixed_size(message)
    for cut in range(fixed):
        with pytest.raises(DecodeError):
            type(message).decode(data[:cut])
    if not isinstance(message, (VdmRequest, VdmResponse, TdispErrorMessage)):
        with pytest.raises(DecodeError):
            type(message).decode(data + b"\x00")
        return
    try:  # the tail takes every byte: a longer payload is another message, or malformed
        assert type(message).decode(data + b"\x00") != message
    except DecodeError:
        assert isinstance(message, TdispErrorMessage)
        assert message.error_code == TdispErrorCode.VENDOR_SPECIFIC_ERROR


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_wrong_code_and_protocol_refused(message: TdispMessage) -> None:
    data = bytearray(message.encode())
    data[2] ^= 0x40
    with pytest.raises(DecodeError):
        type(message).decode(bytes(data))
    data = bytearray(message.encode())
    data[0] = 0x00  # IDE_KM
    with pytest.raises(DecodeError):
        type(message).decode(bytes(data))
    with pytest.raises(DecodeError):
        peek_header(bytes(data))


def test_trace_get_tdisp_version() -> None:
    # PROTOCOLS.md §9.1 TRACE: GET_TDISP_VERSION for RID 0xBEEF.
    data = bytes.fromhex("01 10 81 00 00 ef be 00 00" + "00" * 8)
    assert GetTdispVersion.decode(data) == GetTdispVersion(0xBEEF)
    assert TdispVersion.decode(bytes.fromhex("01 10 01 00 00 ef be 00 00" + "00" * 8 + "01 10")) \
        == TdispVersion(0xBEEF, version_num_entries=(0x10,))


def test_trace_lock_interface_request() -> None:
    # PROTOCOLS.md §9.3 TRACE: flags 0x7, default stream 0, offset 0xD0000000.
    payload = bytes.fromhex("07 00 00 00 00 00 00 d0 00 00 00 00" + "00" * 8)
    message = LockInterfaceRequest.decode(bytes.fromhex("01 10 83 00 00 ef be 00 00" + "00" * 8) + payload)
    assert message.flags == LockInterfaceFlags.NO_FW_UPDATE | LockInterfaceFlags.SYSTEM_CACHE_LINE_SIZE \
        | LockInterfaceFlags.LOCK_MSIX
    assert (message.default_stream_id, message.mmio_reporting_offset) == (0, 0xD0000000)


def test_req_msgs_supported_bit_is_code_minus_0x80() -> None:
    caps = TdispCapabilities(IID, req_msgs_supported=MANDATORY_REQUESTS)
    data = caps.encode()
    assert data[21:37] == b"\xfe" + b"\x00" * 15  # the 7 mandatory requests: byte 0 = 0xFE
    assert len(data) == 1 + 44
    # spdm-rs's emulator writes 0x7F (PROTOCOLS.md §11 #2): read per the spec, it lacks STOP.
    wrong = bytearray(data)
    wrong[21] = 0x7F
    decoded = TdispCapabilities.decode(bytes(wrong))
    assert TdispRequestCode.STOP_INTERFACE_REQUEST not in decoded.req_msgs_supported
    assert TdispRequestCode.GET_TDISP_VERSION in decoded.req_msgs_supported
    optional = TdispCapabilities(IID, req_msgs_supported=frozenset({TdispRequestCode.VDM_REQUEST})).encode()
    assert optional[22] == 1 << (0x8B - 0x88)


def test_reserved_bits_and_fields_ignored_on_read() -> None:
    data = bytearray(LockInterfaceRequest(IID, flags=LockInterfaceFlags.LOCK_MSIX).encode())
    data[3] = data[4] = 0xAA  # header reserved
    data[9:17] = b"\x55" * 8  # INTERFACE_ID reserved
    data[18] = 0xFF  # FLAGS b[15:8] reserved
    data[20] = 0x77  # reserved byte after DEFAULT_STREAM_ID
    message = LockInterfaceRequest.decode(bytes(data))
    assert message == LockInterfaceRequest(IID, flags=LockInterfaceFlags.LOCK_MSIX)
    caps = bytearray(TdispCapabilities(IID).encode())
    caps[37] = 0xE0  # LOCK_INTERFACE_FLAGS_SUPPORTED b[7:5]
    caps[39:42] = b"\x01\x02\x03"  # reserved
    assert TdispCapabilities.decode(bytes(caps)) == TdispCapabilities(IID)


def test_negative_offset_is_twos_complement() -> None:
    data = LockInterfaceRequest(IID, mmio_reporting_offset=-1).encode()
    assert data[21:29] == b"\xff" * 8
    with pytest.raises(LocalProtocolError):
        LockInterfaceRequest(IID, mmio_reporting_offset=1 << 63).encode()


def test_version_list_must_not_be_empty() -> None:
    with pytest.raises(LocalProtocolError):
        TdispVersion(IID).encode()
    with pytest.raises(DecodeError):
        TdispVersion.decode(bytes.fromhex("01 10 01 00 00 ef be 00 00" + "00" * 8 + "00"))


def test_reserved_tdi_state_refused() -> None:
    data = bytearray(DeviceInterfaceState(IID).encode())
    data[-1] = 4
    with pytest.raises(DecodeError):
        DeviceInterfaceState.decode(bytes(data))


def test_report_portion_length_is_the_bytes_length() -> None:
    data = DeviceInterfaceReport(IID, remainder_length=0, report_bytes=b"x" * 5).encode()
    assert data[17:21] == b"\x05\x00\x00\x00"
    bad = bytearray(data)
    bad[17] = 6
    with pytest.raises(DecodeError):
        DeviceInterfaceReport.decode(bytes(bad))


def test_tdisp_error_codes_and_vendor_data() -> None:
    error = TdispErrorMessage(IID, error_code=0x1234)
    decoded = TdispErrorMessage.decode(error.encode())
    assert decoded.error_code == 0x1234 and decoded.name == "0x1234"
    assert decoded.vendor_error() is None
    nonce = TdispErrorMessage.decode(TdispErrorMessage(IID, error_code=0x102).encode())
    assert nonce.error_code is TdispErrorCode.INVALID_NONCE and nonce.name == "INVALID_NONCE"
    vendor = TdispErrorMessage.vendor_specific(IID, VendorErrorData(RegistryId.CXL, b"\x98\x1e", b"oops"))
    assert vendor.error_data == len(vendor.extended_error_data) == 2 + 2 + 4
    assert TdispErrorMessage.decode(vendor.encode()).vendor_error() == \
        VendorErrorData(RegistryId.CXL, b"\x98\x1e", b"oops")
    # ERROR_DATA must be the extended data's length, and VENDOR_ID_LEN must fit.
    for error_data, extended in ((3, b"\x00\x02\x86\x80"), (3, b"\x00\x05\x86")):
        with pytest.raises(DecodeError):
            TdispErrorMessage.decode(TdispErrorMessage(
                IID, error_code=TdispErrorCode.VENDOR_SPECIFIC_ERROR, error_data=error_data,
                extended_error_data=extended).encode())


def test_every_error_code_of_the_spec() -> None:
    assert {c.value for c in TdispErrorCode} == {
        0x0000, 0x0001, 0x0003, 0x0004, 0x0005, 0x0007, 0x0041, 0x00FF, 0x0101, 0x0102, 0x0103, 0x0104}


def test_dispatch_refuses_unknown_codes_and_short_payloads() -> None:
    with pytest.raises(DecodeError):
        decode_request(bytes.fromhex("01 10 8c 00 00") + bytes(12))
    with pytest.raises(DecodeError):
        decode_response(bytes.fromhex("01 10 0c 00 00") + bytes(12))
    with pytest.raises(DecodeError):
        decode_request(bytes.fromhex("01 10 81 00 00") + bytes(11))
    # a response code is not a request
    with pytest.raises(DecodeError):
        decode_request(StopInterfaceResponse(IID).encode())


def test_response_codes_are_request_codes_minus_0x80() -> None:
    for code in TdispRequestCode:
        assert RESPONSES[TdispResponseCode(code - 0x80)].CODE == REQUESTS[code].CODE - 0x80


def test_out_of_range_values_are_local_errors() -> None:
    with pytest.raises(LocalProtocolError):
        BindP2pStreamRequest(IID, p2p_stream_id=256).encode()
    with pytest.raises(LocalProtocolError):
        StartInterfaceRequest(IID, start_interface_nonce=b"short").encode()
    with pytest.raises(LocalProtocolError):
        GetTdispVersion(1 << 32).encode()
