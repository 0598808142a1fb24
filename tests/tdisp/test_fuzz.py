"""Property tests of the TDISP codec, device model and requester (STYLE R10).

Random bytes behind a valid header, and captured payloads mutated (bit flips,
byte changes, cuts, extensions), go to every decoder: each decodes or raises
:class:`DecodeError`, and whatever decodes re-encodes to bytes that decode to
the same message.  The device answers every well-formed payload with a
well-formed TDISP response about the same TDI, whatever state its TDIs are
in, and raises only ProtocolErrors; the requester turns any response into an
event or a ProtocolError.  Deterministic (``derandomize``); a few seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from construct import Container, ListContainer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spdm.codec import WireMessage
from spdm.errors import DecodeError, NegotiationError, ProtocolError
from tdisp import LockInterfaceFlags, TdispDevice, TdispRequester, TdispRequesterConfig
from tdisp.messages import (
    REQUESTS,
    RESPONSES,
    InterfaceReport,
    MmioAttributes,
    MmioRange,
    TdispMessage,
    TdispVersion,
    VendorErrorData,
    decode_request,
    decode_response,
    peek_header,
)
from tests.vectors import SETS

from .helpers import ALL_FLAGS, ALL_OPTIONAL, SESSION, FixedRng, keyed_on, reference_config, reference_tdi
from .test_messages import EXAMPLES
from .test_report import REFERENCE_REPORT
from .test_vectors import tdisp_exchanges

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

MESSAGE_CLASSES = sorted({*REQUESTS.values(), *RESPONSES.values()}, key=lambda c: c.CODE)


@cache
def captured() -> tuple[bytes, ...]:
    payloads: list[bytes] = []
    for name in SETS:
        for exchange in tdisp_exchanges(name):
            payloads += [exchange.request, exchange.response]
    return tuple(dict.fromkeys(payloads + [m.encode() for m in EXAMPLES]))


def header(code: int, version: int = 0x10, interface_id: int = 0xBEEF) -> bytes:
    return bytes([0x01, version, code, 0, 0]) + interface_id.to_bytes(4, "little") + bytes(8)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A captured or example payload, changed a little."""
    data = bytearray(draw(st.sampled_from(captured())))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "extend", "insert"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:]
        elif kind == "extend":
            data += draw(st.binary(min_size=1, max_size=8))
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


@st.composite
def headed(draw: st.DrawFn) -> bytes:
    """A TDISP header with any code (and sometimes any version) and random body bytes."""
    code = draw(st.sampled_from([*REQUESTS, *RESPONSES, 0x80, 0x8C, 0x00, 0xFF]))
    version = draw(st.sampled_from([0x10, 0x10, 0x10, 0x11, 0x20]))
    interface_id = draw(st.sampled_from([0xBEEF, 0x0100, 0x0101, 0x0102_BEEF, 0xBEEE]))
    return header(code, version, interface_id) + draw(st.binary(max_size=48))


def check_decoder(cls: type[TdispMessage], data: bytes) -> None:
    try:
        message = cls.decode(data)
    except DecodeError:
        return
    assert isinstance(message, WireMessage)
    assert not any(isinstance(v, Container | ListContainer) for v in vars(message).values())
    again = message.encode()
    assert cls.decode(again) == message


@FUZZ
@given(st.one_of(mutated(), headed(), st.binary(max_size=64)))
def test_decoders_raise_only_decode_error(data: bytes) -> None:
    for cls in MESSAGE_CLASSES:
        check_decoder(cls, data)
    decoders = (decode_request, decode_response, InterfaceReport.decode, VendorErrorData.decode, peek_header)
    for decode in decoders:
        try:
            decode(data)
        except DecodeError:
            pass


@FUZZ
@given(st.one_of(
    st.binary(max_size=120),
    st.builds(lambda cut, flip: bytes(REFERENCE_REPORT[:cut]) + bytes([flip]) + REFERENCE_REPORT[cut + 1:],
              st.integers(0, len(REFERENCE_REPORT)), st.integers(0, 255)),
))
def test_report_decoder(data: bytes) -> None:
    try:
        report = InterfaceReport.decode(data)
    except DecodeError:
        return
    assert InterfaceReport.decode(report.encode()) == report


ranges = st.builds(MmioRange, st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1),
                   st.builds(MmioAttributes, st.integers(0, 15)), st.integers(0, 0xFFFF))


@FUZZ
@given(st.builds(InterfaceReport, st.just(0), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF),
                 st.integers(0, 2**32 - 1), st.lists(ranges, max_size=4).map(tuple), st.binary(max_size=40)))
def test_generated_reports_round_trip(report: InterfaceReport) -> None:
    assert InterfaceReport.decode(report.encode()) == report


def fuzz_device() -> TdispDevice:
    tdis = (reference_tdi(), reference_tdi(0x0100), reference_tdi(0x0101, physical_function=0x0100))
    config = reference_config(*tdis, optional_requests=ALL_OPTIONAL, lock_interface_flags_supported=ALL_FLAGS)
    # the first nonce is the captured one, so the captured START of first_run() gets the TDI to RUN
    nonce = tdisp_exchanges(SETS[0])[3].response[17:]
    return TdispDevice(config, keyed_on((0, SESSION), (1, SESSION)), rng=FixedRng(nonce))


def well_formed_answer(device: TdispDevice, payload: bytes, session_id: int | None) -> None:
    try:
        answer = device.handle(payload, session_id)
    except ProtocolError:
        # only what cannot be answered in TDISP: in the clear, or no TDISP header
        assert session_id is None or len(payload) < 17 or payload[0] != 0x01
        return
    response = decode_response(answer)
    assert response.interface_id == peek_header(payload).interface_id
    assert response.version == 0x10


@cache
def first_run() -> tuple[bytes, ...]:
    """The requests of the first captured TDISP flow."""
    return tuple(e.request for e in tdisp_exchanges(SETS[0])[:11])


@settings(FUZZ, max_examples=100)
@given(st.integers(0, 11),
       st.lists(st.sampled_from(["session", "stream", "config", "flr"]), max_size=2),
       st.lists(st.tuples(st.one_of(mutated(), headed()),
                          st.sampled_from([SESSION, SESSION, 0x1234, None])), min_size=1, max_size=10))
def test_device_answers_well_formed_or_raises_protocol_error(
        steps: int, faults: list[str], requests: list[tuple[bytes, int | None]]) -> None:
    device = fuzz_device()
    # a prefix of the captured flow first, so the mutations meet unlocked, locked and running TDIs
    for payload in first_run()[:steps]:
        well_formed_answer(device, payload, SESSION)
    for fault in faults:
        if fault == "session":
            device.session_ended(SESSION)
        elif fault == "stream":
            device.stream_insecure(0)
        elif fault == "config":
            device.config_changed(0xBEEF)
        else:
            device.function_level_reset(0x0100)
    for payload, session_id in requests:
        well_formed_answer(device, payload, session_id)


@FUZZ
@given(st.one_of(mutated(), headed(), st.binary(max_size=40)), st.sampled_from(list(REQUESTS)))
def test_requester_takes_any_response(data: bytes, code: int) -> None:
    requester = TdispRequester(TdispRequesterConfig(0xBEEF, report_portion=0x40))
    requester.get_version()
    requester.data_to_send()
    requester.receive_data(TdispVersion(0xBEEF, version_num_entries=(0x10,)).encode())
    requester.next_event()
    command: Callable[[], None] = {
        0x81: requester.get_version, 0x82: requester.get_capabilities,
        0x83: lambda: requester.lock(LockInterfaceFlags(0x7), 0, 0xD0000000),
        0x84: requester.get_report, 0x85: requester.get_state,
        0x86: lambda: requester.start(bytes(32)), 0x87: requester.stop,
        0x88: lambda: requester.bind_p2p(1), 0x89: lambda: requester.unbind_p2p(1),
        0x8A: lambda: requester.set_mmio_attribute(MmioRange(0, 1)),
    }.get(code, requester.get_state)
    command()
    requester.data_to_send()
    requester.receive_data(data)
    try:
        requester.next_event()
    except (ProtocolError, NegotiationError):
        pass
