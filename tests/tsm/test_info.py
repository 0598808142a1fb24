"""What a TSM reports, as values and as the JSON (:mod:`tsm.wire`) carrying them across a process boundary.

The documents come from a real connect (native backend, emulated device):
every field must survive encode -> decode unchanged, and anything that is
not such a document must fail with DecodeError (never KeyError, ValueError
or a half-built value).  Plus the PCI address parser every target uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from spdm.errors import DecodeError
from tdisp.messages import TdiState
from tsm import DeviceInfo, LinkState, TdiInfo, function_id, open_backend
from tsm.wire import decode_info, encode_info

from .helpers import new_board, tsm_config


@pytest.fixture(scope="module")
def reported() -> Iterator[DeviceInfo]:
    """A connected device with one TDI running and one locked."""
    tsm = open_backend("native", tsm_config())
    board = new_board(3)
    tsm.connect(board.target)
    for tdi in board.tdis[1:]:
        tsm.bind(tdi)
    tsm.accept(board.tdis[1])
    yield tsm.info(board.dsm)
    tsm.close()


def document(info: DeviceInfo | TdiInfo) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(encode_info(info))
    return doc


def test_device_info_round_trips(reported: DeviceInfo) -> None:
    assert reported.signatures and reported.measurements and reported.certificates
    assert [t.state for t in reported.tdis] == [TdiState.RUN, TdiState.CONFIG_LOCKED]
    decoded = decode_info(encode_info(reported))
    assert decoded == reported
    assert isinstance(decoded, DeviceInfo)
    # Every byte field really went through (dataclass equality skips nothing, but be explicit).
    assert decoded.signatures[0].transcript == reported.signatures[0].transcript
    assert decoded.tdis[0].report == reported.tdis[0].report != b""


def test_tdi_info_round_trips(reported: DeviceInfo) -> None:
    for tdi in reported.tdis:
        decoded = decode_info(encode_info(tdi))
        assert decoded == tdi
        assert isinstance(decoded, TdiInfo)


@pytest.mark.parametrize("state", list(LinkState))
def test_every_link_state_round_trips(reported: DeviceInfo, state: LinkState) -> None:
    info = DeviceInfo(**{**{f: getattr(reported, f) for f in DeviceInfo.__slots__}, "state": state,
                         "tdis": tuple(TdiInfo(t.bdf, t.dsm, t.interface_id, TdiState.ERROR)
                                       for t in reported.tdis)})
    assert decode_info(encode_info(info)) == info


def test_the_document_is_json_with_hex_bytes(reported: DeviceInfo) -> None:
    data = encode_info(reported)
    doc = document(reported)
    assert doc["format"] == "devsec-tsm-info/1"
    device = doc["device"]
    assert device["state"] == "connected" and device["tsm"] == "native"
    assert bytes.fromhex(device["certificates"]["0"]) == reported.certificates[0]
    assert device["tdis"][0]["state"] == "RUN"
    assert reported.certificates[0] not in data  # bytes travel as hex only
    assert document(reported.tdis[0])["tdi"]["report"] == reported.tdis[0].report.hex()


def _drop(field: str) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["device"].pop(field)


def _set(field: str, value: object) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["device"].__setitem__(field, value)


MANGLED: dict[str, Callable[[dict[str, Any]], None]] = {
    "no format": lambda doc: doc.pop("format"),
    "another format": lambda doc: doc.__setitem__("format", "devsec-tsm-info/2"),
    "neither device nor tdi": lambda doc: doc.pop("device"),
    "device is a list": lambda doc: doc.__setitem__("device", []),
    "missing version": _drop("version"),
    "missing tdis": _drop("tdis"),
    "missing certificates": _drop("certificates"),
    "unknown link state": _set("state", "melted"),
    "unknown SPDM version": _set("version", 0x99),
    "version as text": _set("version", "1.3"),
    "certificate not hex": _set("certificates", {"0": "zz"}),
    "slot not a number": _set("certificates", {"zero": "00"}),
    "signature missing its nonce": lambda doc: doc["device"]["signatures"][0].pop("requester_nonce"),
    "measurement value not hex": lambda doc: doc["device"]["measurements"][0].__setitem__("value", 7),
    "doe feature not a pair": _set("doe_features", [[1, 1, 1]]),
    "tdi state unknown": lambda doc: doc["device"]["tdis"][0].__setitem__("state", "PAUSED"),
    "tdi missing its report": lambda doc: doc["device"]["tdis"][0].pop("report"),
    "tdis not a list of objects": _set("tdis", ["0000:01:00.1"]),
}


@pytest.mark.parametrize("mangle", MANGLED.values(), ids=MANGLED.keys())
def test_a_mangled_document_is_a_decode_error(reported: DeviceInfo,
                                              mangle: Callable[[dict[str, Any]], None]) -> None:
    doc = document(reported)
    mangle(doc)
    with pytest.raises(DecodeError):
        decode_info(json.dumps(doc).encode())


@pytest.mark.parametrize("data", [b"", b"{", b"\xff\xfe", b"[]", b"null", b"42", b'"devsec-tsm-info/1"',
                                  b'{"format": "devsec-tsm-info/1"}',
                                  b'{"format": "devsec-tsm-info/1", "tdi": {}}'])
def test_what_is_not_a_document_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_info(data)


@pytest.mark.parametrize(("bdf", "expected"), [
    ("0000:01:00.1", 0x0101),
    ("0000:00:00.0", 0x0000),
    ("0000:ff:1f.7", 0xFFFF),
    ("0000:3a:02.5", 0x3A15),
    ("0001:01:00.0", 0x0100),  # the segment is not part of the Requester ID
    ("0000:AB:1F.0", 0xABF8),
    ("10000:01:00.0", 0x0100),  # VMD domains have five hex digits
])
def test_function_id_of_a_pci_address(bdf: str, expected: int) -> None:
    assert function_id(bdf) == expected


@pytest.mark.parametrize("bdf", [
    "", "01:00.1", "0000:01:00", "0000:01.00.1", "0000:01:00.1.2", "0000:01:00:1",
    "0000:01:20.0",  # device 0x20 > 0x1f
    "0000:01:00.8",  # function 8 > 7
    "0000:100:00.0",  # bus over 0xff
    "0000:0g:00.0", "zzzz:01:00.0",
    "0000:-1:00.0", "0000:01:-1.0", "0000:01:00.-1",  # signs are no address
    "0000:+1:00.0", "0000:0x1:00.0", "0000: 1:00.0", "0000:0_1:00.0", " 0000:01:00.0",
    "0000:1:0.1",  # Linux pads: DDDD:BB:DD.F
])
def test_function_id_refuses_what_is_not_a_pci_address(bdf: str) -> None:
    with pytest.raises(DecodeError, match="PCI address"):
        function_id(bdf)
