"""spdm.messages.opaque: both opaque-data tables, secured-message version elements, malformed input.

Known answers: the TRACE bytes of PROTOCOLS.md §3.13 and the opaque data of
every KEY_EXCHANGE/PSK_EXCHANGE(_RSP) in the libspdm captures, which must
decode to the offered/selected versions and re-encode byte for byte.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spdm.errors import DecodeError, LocalProtocolError
from spdm.messages import KeyExchange, KeyExchangeRsp, PskExchange, PskExchangeRsp
from spdm.messages.codes import RegistryId
from spdm.messages.opaque import (
    SECURED_MESSAGE_VERSIONS,
    OpaqueElement,
    decode_opaque,
    encode_opaque,
    parse_secured_message_versions,
    parse_version_selection,
    supported_versions_element,
    version_selection_element,
)
from tests.spdm.test_messages_vectors import decoded_records
from tests.vectors import SETS


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", "").replace("|", ""))


# PROTOCOLS.md §3.13 TRACE
TRACE_11_REQUEST = h("46 54 4d 44 01 01 00 00 | 00 00 05 00 | 01 01 01 00 11 | 00 00 00")
TRACE_11_RESPONSE = h("46 54 4d 44 01 01 00 00 | 00 00 04 00 | 01 00 00 11")
TRACE_14_REQUEST = h("01 00 00 00 | 00 00 09 00 | 01 01 03 00 10 00 11 00 12 | 00 00 00")


def test_trace_1_1_request() -> None:
    elements = decode_opaque(TRACE_11_REQUEST, 0x11)
    assert elements == (OpaqueElement(RegistryId.DMTF, b"", h("01 01 01 00 11")),)
    assert parse_secured_message_versions(elements) == (0x1100,)
    assert parse_version_selection(elements) is None
    assert encode_opaque(0x11, [supported_versions_element((0x1100,))]) == TRACE_11_REQUEST


def test_trace_1_1_response() -> None:
    elements = decode_opaque(TRACE_11_RESPONSE, 0x11)
    assert parse_version_selection(elements) == 0x1100
    assert parse_secured_message_versions(elements) is None
    assert encode_opaque(0x11, [version_selection_element(0x1100)]) == TRACE_11_RESPONSE


def test_trace_1_4_fmt1_request() -> None:
    elements = decode_opaque(TRACE_14_REQUEST, 0x14)
    assert parse_secured_message_versions(elements) == SECURED_MESSAGE_VERSIONS == (0x1000, 0x1100, 0x1200)
    assert encode_opaque(0x14, [supported_versions_element()]) == TRACE_14_REQUEST
    assert encode_opaque(0x12, [supported_versions_element()]) == TRACE_14_REQUEST


def test_either_format_is_accepted_at_any_version() -> None:
    for version in (0x11, 0x12, 0x13):
        assert parse_secured_message_versions(decode_opaque(TRACE_11_REQUEST, version)) == (0x1100,)
        assert parse_secured_message_versions(decode_opaque(TRACE_14_REQUEST, version)) == (
            SECURED_MESSAGE_VERSIONS)


EXCHANGES = (KeyExchange, PskExchange)
EXCHANGE_RESPONSES = (KeyExchangeRsp, PskExchangeRsp)


def _captured_opaque() -> list[tuple[str, int, bool, bytes]]:
    out = []
    for name in SETS:
        for item in decoded_records(name):
            if isinstance(item.message, EXCHANGES + EXCHANGE_RESPONSES):
                is_request = isinstance(item.message, EXCHANGES)
                out.append((name, item.message.spdm_version, is_request, item.message.opaque_data))
    return out


CAPTURED = _captured_opaque()


def test_every_session_of_the_captures_carries_opaque_data() -> None:
    # 3 sessions at 1.1 and 1.2, 4 at 1.3; a request and a response each.
    assert len(CAPTURED) == 2 * (3 + 3 + 4)


@pytest.mark.parametrize(("name", "version", "is_request", "opaque"), CAPTURED)
def test_captured_opaque_data_decodes_and_re_encodes(name: str, version: int, is_request: bool,
                                                     opaque: bytes) -> None:
    elements = decode_opaque(opaque, version)
    assert (opaque[:4] == b"FTMD") is (version == 0x11)  # libspdm sends the version's own table
    if is_request:
        assert parse_secured_message_versions(elements) == SECURED_MESSAGE_VERSIONS
        assert encode_opaque(version, [supported_versions_element()]) == opaque
    else:
        assert parse_version_selection(elements) == 0x1200
        assert encode_opaque(version, [version_selection_element(0x1200)]) == opaque


@pytest.mark.parametrize("version", [0x11, 0x12])
def test_several_elements_with_vendor_ids_and_every_padding(version: int) -> None:
    elements = tuple(
        OpaqueElement(RegistryId.PCISIG if n % 2 else RegistryId.DMTF, b"\x01\x00" if n % 2 else b"",
                      bytes(range(n)))
        for n in range(6))
    encoded = encode_opaque(version, elements)
    assert len(encoded) % 4 == 0
    assert decode_opaque(encoded, version) == elements
    assert parse_secured_message_versions(elements) is None


def test_empty_opaque_data() -> None:
    assert decode_opaque(b"", 0x12) == ()
    assert encode_opaque(0x12, []) == bytes(4)
    assert encode_opaque(0x11, []) == b"FTMD\x01\x00\x00\x00"
    assert decode_opaque(bytes(4), 0x12) == ()


def test_elements_that_are_not_ours_are_skipped() -> None:
    aead_limit = OpaqueElement(RegistryId.DMTF, b"", h("01 02 40"))  # DSP0277 1.3 AEAD limit
    vendor = OpaqueElement(RegistryId.PCISIG, b"\x01\x00", h("01 01 01 00 11"))
    future = OpaqueElement(RegistryId.DMTF, b"", h("02 01 01 00 11"))  # unknown SMDataVersion
    assert parse_secured_message_versions([aead_limit, vendor, future]) is None
    selection = version_selection_element(0x1100)
    assert parse_version_selection([aead_limit, vendor, selection]) == 0x1100


@pytest.mark.parametrize("data", [
    TRACE_11_REQUEST[:-1],                                     # padding cut short
    TRACE_11_REQUEST + b"\x00",                                # trailing byte
    TRACE_11_REQUEST[:8],                                      # promised element missing
    h("46 54 4d 44 02 01 00 00") + TRACE_11_REQUEST[8:],       # OpaqueVersion 2
    h("02 00 00 00") + TRACE_14_REQUEST[4:],                   # two elements promised, one there
    h("01 00 00 00 | 00 00 ff 00 | 01 01"),                    # element data runs past the end
    h("01 00 00 00 | 00 05 00 00"),                            # vendor ID runs past the end
    b"FTMD",
    b"\x01",
])
def test_malformed_opaque_data(data: bytes) -> None:
    for version in (0x11, 0x12):
        with pytest.raises(DecodeError):
            decode_opaque(data, version)


@pytest.mark.parametrize("data", [
    h("01 01 02 00 11"),        # two versions announced, one present
    h("01 01 01 00 11 00"),     # a stray byte after the list
    h("01 01"),                 # no VersionCount
])
def test_malformed_supported_version(data: bytes) -> None:
    with pytest.raises(DecodeError):
        parse_secured_message_versions([OpaqueElement(RegistryId.DMTF, b"", data)])


@pytest.mark.parametrize("data", [h("01 00 00"), h("01 00 00 11 00")])
def test_malformed_version_selection(data: bytes) -> None:
    with pytest.raises(DecodeError):
        parse_version_selection([OpaqueElement(RegistryId.DMTF, b"", data)])


def test_what_cannot_be_encoded() -> None:
    with pytest.raises(LocalProtocolError):
        encode_opaque(0x10, [supported_versions_element()])
    with pytest.raises(LocalProtocolError):
        encode_opaque(0x12, [OpaqueElement(RegistryId.DMTF, b"", bytes(0x10000))])
    with pytest.raises(LocalProtocolError):
        encode_opaque(0x12, [OpaqueElement(RegistryId.PCISIG, bytes(256), b"")])
    with pytest.raises(LocalProtocolError):
        encode_opaque(0x12, [OpaqueElement(256, b"", b"")])
    with pytest.raises(LocalProtocolError):
        supported_versions_element(())
    with pytest.raises(LocalProtocolError):
        supported_versions_element((0x10000,))
    with pytest.raises(LocalProtocolError):
        version_selection_element(-1)


FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None)


@FUZZ
@given(st.binary(max_size=64), st.sampled_from([0x11, 0x12, 0x13]))
def test_random_bytes_raise_only_decode_error(data: bytes, version: int) -> None:
    try:
        elements = decode_opaque(data, version)
    except DecodeError:
        return
    for parse in (parse_secured_message_versions, parse_version_selection):
        try:
            parse(elements)
        except DecodeError:
            pass


@FUZZ
@given(st.sampled_from([0, 1]), st.binary(max_size=12))
def test_random_secured_message_element_data_raises_only_decode_error(sm_data_id: int, body: bytes) -> None:
    element = OpaqueElement(RegistryId.DMTF, b"", bytes([1, sm_data_id]) + body)
    try:
        parse_secured_message_versions([element])
        parse_version_selection([element])
    except DecodeError:
        pass


ELEMENTS = st.lists(
    st.builds(OpaqueElement, st.integers(0, 255), st.binary(max_size=5), st.binary(max_size=9)), max_size=4)


@FUZZ
@given(ELEMENTS, st.sampled_from([0x11, 0x12, 0x13]))
def test_round_trip(elements: list[OpaqueElement], version: int) -> None:
    assert decode_opaque(encode_opaque(version, elements), version) == tuple(elements)
