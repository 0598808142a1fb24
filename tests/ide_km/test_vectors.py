"""IDE_KM against the libspdm/spdm-emu captures (vectors/libspdm-doe, decrypted by ``tests.vectors``).

``vendor_exchanges`` keeps every StandardID-3 exchange, and the captures carry
two VendorIDs under it: PCI-SIG (0x0001) and CXL (0x1E98, whose IDE_KM adds
GET_KEY 0x07 / GET_KEY_ACK 0x08 and a 3-DW IV).  ``spdm_dump``'s line for each
record (the independent decoder, R11) says which; only PCI-SIG's are PCIe IDE_KM.
Each of those decodes, re-encodes to the same bytes and matches the dump's
fields; our device model, configured like the reference device, answers every
captured request with the captured response, byte for byte.
"""

from __future__ import annotations

import re
from functools import cache

import pytest

from ide_km import (
    PROTOCOL_ID,
    IdeKmDevice,
    IdeKmDeviceConfig,
    PortConfig,
    StreamState,
    UnsupportedObjectError,
)
from ide_km.messages import (
    IdeKmMessage,
    KeyProg,
    KeySubStream,
    KGoStopAck,
    KpAck,
    KSetGo,
    KSetStop,
    Query,
    QueryResp,
    decode_request,
    decode_response,
)
from spdm.errors import SpdmErrorCode
from spdm.messages import PCI_SIG_VENDOR_ID
from tests.vectors import CXL_VENDOR, SETS, VendorExchange, dump_lines, vendor_exchanges

_RECORD = re.compile(r"^(\d+) \(")
_VENDOR = re.compile(r"PCI \(vendor_id=0x([0-9a-f]{4})\) \(ProtID=0x([0-9a-f]{2})\)")
_END_SESSION = re.compile(r"SecuredSPDM\(0x([0-9a-f]{8})\) SPDM\(\w+, 0xec\) SPDM_END_SESSION ")


@cache
def dump_records(name: str) -> dict[int, str]:
    """Capture record index -> spdm_dump's line for it (the dump numbers records from 1)."""
    out = {}
    for line in dump_lines(name):
        match = _RECORD.match(line)
        if match:
            out[int(match.group(1)) - 1] = line
    return out


def vendor_of(name: str, exchange: VendorExchange) -> int:
    match = _VENDOR.search(dump_records(name)[exchange.index])
    assert match is not None and int(match.group(2), 16) == exchange.protocol
    return int(match.group(1), 16)


PCI_SIG = int.from_bytes(PCI_SIG_VENDOR_ID, "little")


def ide_km_exchanges(name: str) -> list[VendorExchange]:
    return [e for e in vendor_exchanges(name) if e.protocol == PROTOCOL_ID and vendor_of(name, e) == PCI_SIG]


def cxl_ide_km_exchanges(name: str) -> list[VendorExchange]:
    return [e for e in vendor_exchanges(name, CXL_VENDOR) if e.protocol == 0]


def _kss(k: KeySubStream) -> str:
    byte = k.sub_stream << 4 | k.direction << 1 | k.key_set
    return (f"KeySubStream=0x{byte:02x} (KeySet={k.key_set:d}, RxTx={k.direction:d}, "
            f"SubStream={k.sub_stream:d})")


def dump_text(message: IdeKmMessage) -> str:
    """What spdm_dump prints for an IDE_KM object."""
    if isinstance(message, Query):
        return f"IDE_KM(0x00) QUERY (port=0x{message.port_index:02x})"
    if isinstance(message, QueryResp):
        return (f"IDE_KM(0x01) QUERY_RESP (port=0x{message.port_index:02x}, "
                f"DevFunc=0x{message.dev_func_num:02x}, Bus=0x{message.bus_num:02x}, "
                f"Seg=0x{message.segment:02x}, MaxPort=0x{message.max_port_index:02x})")
    if isinstance(message, KpAck):
        return (f"IDE_KM(0x03) KP_ACK (StreamId=0x{message.stream_id:02x}, Status=0x{message.status:02x}, "
                f"{_kss(message.key_sub_stream)}, PortIndex=0x{message.port_index:02x})")
    assert isinstance(message, KeyProg | KSetGo | KSetStop | KGoStopAck)
    name = {KeyProg: "(0x02) KEY_PROG", KSetGo: "(0x04) K_SET_GO", KSetStop: "(0x05) K_SET_STOP",
            KGoStopAck: "(0x06) K_SET_GOSTOP_ACK"}[type(message)]
    return (f"IDE_KM{name} (StreamId=0x{message.stream_id:02x}, {_kss(message.key_sub_stream)}, "
            f"PortIndex=0x{message.port_index:02x})")


@pytest.mark.parametrize("name", SETS)
def test_every_pci_sig_ide_km_object_round_trips_and_matches_the_dump(name: str) -> None:
    exchanges = ide_km_exchanges(name)
    assert len(exchanges) >= 38
    records = dump_records(name)
    for exchange in exchanges:
        request, response = decode_request(exchange.request), decode_response(exchange.response)
        assert request.encode() == exchange.request and request.raw == exchange.request
        assert response.encode() == exchange.response
        assert dump_text(request) in records[exchange.index]
        assert dump_text(response) in records[exchange.index + 1]


@pytest.mark.parametrize("name", SETS)
def test_key_prog_byte_order(name: str) -> None:
    """§8.3/§8.4: 40 bytes of key and IFV; the IFV of every captured KEY_PROG is 1, on the wire
    ``00 00 00 00 01 00 00 00``; the key decodes to the wire with each DW reversed."""
    keys = [e.request for e in ide_km_exchanges(name) if e.request[1] == 0x02]
    assert len(keys) == 12 or len(keys) == 18
    for wire in keys:
        message = KeyProg.decode(wire)
        assert wire[40:] == bytes.fromhex("0000000001000000") and message.ifv == 1
        assert all(message.key[i:i + 4] == wire[8 + i:12 + i][::-1] for i in range(0, 32, 4))


def reference_device() -> IdeKmDevice:
    """Configured like spdm-emu's sample: ports 0..7, the captured all-zero register block, and keys
    taken for any Stream ID (its block declares no stream)."""
    block = QueryResp.decode(ide_km_exchanges(SETS[0])[0].response).registers
    port = PortConfig(block, stream_ids=frozenset(range(256)))
    return IdeKmDevice(IdeKmDeviceConfig((port,) * 8))


def end_session_records(name: str) -> dict[int, int]:
    """Record index of every END_SESSION -> its SessionID."""
    out = {}
    for index, line in dump_records(name).items():
        match = _END_SESSION.search(line)
        if match:
            out[index] = int(match.group(1), 16)
    return out


@pytest.mark.parametrize("name", SETS)
def test_our_device_answers_the_captured_requests_like_the_reference(name: str) -> None:
    device = reference_device()
    ends = end_session_records(name)
    insecure: list[tuple[int, int]] = []
    device.on_stream_insecure(lambda port, stream: insecure.append((port, stream)))
    done = -1
    secure_seen = 0
    for exchange in ide_km_exchanges(name):
        for index in sorted(i for i in ends if done < i < exchange.index):
            device.session_ended(ends[index])
        done = exchange.index
        answer = device.handle(exchange.request, exchange.session_id)
        assert answer == exchange.response, f"record {exchange.index}"
        secure_seen += device.stream_state(1, 0) == StreamState.SECURE
    assert secure_seen == sum(e.request == bytes.fromhex("00000001") for e in ide_km_exchanges(name))
    assert insecure and set(insecure) == {(1, 0)}
    assert device.stream_state(1, 0) == StreamState.INSECURE


@pytest.mark.parametrize("name", SETS)
def test_cxl_ide_km_is_not_pcie_ide_km(name: str) -> None:
    """The captures' object 0x07 is CXL IDE_KM's GET_KEY (VendorID 0x1E98, dump 'CXL_IDE_KM(0x07)').

    Our handler is registered for PCI-SIG's VendorID only, so the responder refuses CXL requests
    itself (UnsupportedRequest); were one routed to us anyway, GET_KEY is refused the same way and
    CXL's 52-byte KEY_PROG (3-DW IV) fails the PCIe length check.
    """
    cxl = cxl_ide_km_exchanges(name)
    get_keys = [e for e in cxl if e.request[1] == 0x07]
    assert get_keys and all("CXL_IDE_KM(0x07) GET_KEY" in dump_records(name)[e.index] for e in get_keys)
    assert all(e.response[1] == 0x08 for e in get_keys)
    device = reference_device()
    with pytest.raises(UnsupportedObjectError) as info:
        device.handle(get_keys[0].request, get_keys[0].session_id)
    assert (info.value.error_code, info.value.error_data) == (SpdmErrorCode.UNSUPPORTED_REQUEST, 0xFE)
    cxl_key_prog = next(e.request for e in cxl if e.request[1] == 0x02)
    assert len(cxl_key_prog) == 52
    assert KpAck.decode(device.handle(cxl_key_prog, get_keys[0].session_id)).status == 1
