"""Hostile input (issue 11, item 14): every decoder family raises only devsec's own typed errors.

One property test, parametrized by decoder family: bytes a peer (a device,
a capture, a TSM process, a file on disk) controls, random or mutated from
a valid example of the family, are decoded; the decoder must return or
raise a :class:`~spdm.errors.DevsecError`.  ``OverflowError``,
``RecursionError``, a ``ValueError`` that is not a DevsecError,
``KeyError``, ``AssertionError``, ``MemoryError``, ``IndexError`` and
``TypeError`` are failures (as is anything else): each is a bug, found by
the fuzzing campaign in one family or another.  The families' own fuzz
tests (``tests/spdm/test_messages_fuzz.py``, ``tests/tdisp/test_fuzz.py``...)
go deeper into round trips; this one is the breadth: every family, one
rule.  Deterministic (``derandomize``); a modest number of examples each.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devsec.emulator import EmulatedDevice
from ide_km.messages import decode_request as ide_km_request
from ide_km.messages import decode_response as ide_km_response
from spdm.capture import read_capture
from spdm.cma import authenticate
from spdm.config import RequesterConfig, ResponderConfig
from spdm.errors import DevsecError
from spdm.keyschedule import KeySchedule
from spdm.messages import NO_CONTEXT, REQUEST_TYPES, RESPONSE_TYPES, CodecContext
from spdm.messages.codes import AeadSuite, BaseAsymAlgo, BaseHashAlgo, SpdmVersion
from spdm.secured import DirectionState, open_record, seal
from spdm.transport import emu_frame, mctp, tcp_binding
from spdm.transport.doe import (
    DiscoveryRequest,
    DiscoveryResponse,
    decode_data_object,
    decode_discovery_request,
    decode_discovery_response,
    encode_discovery_request,
    encode_discovery_response,
)
from spdm.transport.mctp import MCTP_CAPTURE
from spdm.transport.tcp_binding import TCP_CAPTURE
from sysfs_bridge import read_device, render
from sysfs_bridge.bundle import export_bundle, verify_bundle
from sysfs_bridge.policy_file import load_policy
from tdisp.messages import InterfaceReport
from tdisp.messages import decode_request as tdisp_request
from tdisp.messages import decode_response as tdisp_response
from tests.ide_km.test_fuzz import captured as ide_km_captured
from tests.sysfs_bridge.helpers import BDF, teeio_evidence
from tests.sysfs_bridge.helpers import model as sysfs_model
from tests.tdisp.test_fuzz import captured as tdisp_captured
from tests.tdisp.test_report import REFERENCE_REPORT
from tests.tsm.helpers import tsm_config
from tests.vectors import ROOT, SETS, records, spdm_exchanges
from tsm import psp_wire, wire
from tsm.interface import Operation

HOSTILE = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.function_scoped_fixture])

UNTYPED = (OverflowError, RecursionError, ValueError, KeyError, AssertionError, MemoryError, IndexError,
           TypeError)
"""What the fuzzing campaign saw escape; each is a failure here (DecodeError, a ValueError, is not)."""

NOW = datetime.now(UTC)
NONCE = bytes(range(0x40, 0x60))
CONTEXTS = (NO_CONTEXT, CodecContext(hash_size=48, signature_size=96, dhe_size=96, req_signature_size=96,
                                     measurement_summary=True, signed=True),
            # SPDM 1.4 post-quantum sizes: ML-DSA-65 signatures, ML-KEM-768 key / ciphertext.
            CodecContext(hash_size=48, signature_size=3309, dhe_size=1184, dhe_rsp_size=1088,
                         req_signature_size=2420, measurement_summary=True, signed=True))
SCHEDULE = KeySchedule(BaseHashAlgo.SHA_384, SpdmVersion.V12)
SECRET = bytes(range(48))
SESSION_ID = 0xFFFE_0001
AEADS = (AeadSuite.AES_256_GCM, AeadSuite.CHACHA20_POLY1305)


@dataclass(frozen=True)
class Family:
    """A decoder family: valid examples to mutate, and how to decode (in a scratch directory)."""

    name: str
    seeds: Callable[[], tuple[bytes, ...]]
    decode: Callable[[bytes, Path], object]


# ------------------------------------------------------------------------------------ SPDM


def _spdm_seeds() -> tuple[bytes, ...]:
    out = [payload for name in SETS for e in spdm_exchanges(name) for payload in (e.request_payload,
                                                                                  e.response_payload)]
    return tuple(dict.fromkeys(out))


def _spdm(data: bytes, _scratch: Path) -> None:
    code = data[1] if len(data) > 1 else 0
    for cls in {REQUEST_TYPES.get(code), RESPONSE_TYPES.get(code)} - {None}:
        for context in CONTEXTS:
            for padded in (False, True):
                try:
                    cls.decode(data, context, padded=padded)  # type: ignore[union-attr]
                except DevsecError:
                    pass


# ------------------------------------------------------------------------------------ secured


def _direction(aead: AeadSuite, mac_only: bool = False) -> DirectionState:
    return DirectionState.from_secret(SCHEDULE, SECRET, aead, mac_only=mac_only)


def _secured_seeds() -> tuple[bytes, ...]:
    return tuple(seal(_direction(aead, mac_only), SESSION_ID, message)
                 for aead in AEADS for mac_only in (False, True)
                 for message in (b"\x12\xe8\x00\x00", b"\x12\x6c" + bytes(40)))


def _secured(data: bytes, _scratch: Path) -> None:
    for aead in AEADS:
        for mac_only in (False, True):
            for expected in (None, SESSION_ID):
                try:
                    open_record(_direction(aead, mac_only), data, expected_session_id=expected)
                except DevsecError:
                    pass


# ------------------------------------------------------------------------------------ DOE


def _doe_seeds() -> tuple[bytes, ...]:
    objects = [r.data for name in SETS for r in records(name)[:12]]
    return (*objects, encode_discovery_request(DiscoveryRequest(1, 2)),
            encode_discovery_response(DiscoveryResponse(1, 1, 2)))


def _doe(data: bytes, _scratch: Path) -> None:
    for decode in (decode_data_object, decode_discovery_request, decode_discovery_response):
        try:
            decode(data)
        except DevsecError:
            pass


def _emu(data: bytes, _scratch: Path) -> None:
    try:
        emu_frame.decode_frame(data)
    except DevsecError:
        pass
    stream = io.BytesIO(data)
    emu_frame.read_frame(stream.read)


def _bindings(data: bytes, _scratch: Path) -> None:
    """DSP0287 (TCP) and MCTP binding units, as a capture or a socket peer hands them over."""
    for decode in (TCP_CAPTURE.decode, MCTP_CAPTURE.decode, tcp_binding.decode_message,
                   tcp_binding.unframe_message, mctp.unframe_message):
        try:
            decode(data)
        except DevsecError:
            pass


def _binding_seeds() -> tuple[bytes, ...]:
    return (tcp_binding.encode_message(tcp_binding.TcpMessageType.SPDM, bytes.fromhex("1184000000")),
            tcp_binding.frame_message(bytes.fromhex("1184000000")),
            mctp.frame_message(bytes.fromhex("1184000000")))


def _emu_seeds() -> tuple[bytes, ...]:
    return (emu_frame.encode_frame(emu_frame.SocketFrame(1, 2, records(SETS[0])[0].data)),
            emu_frame.encode_frame(emu_frame.SocketFrame(0xDEAD, 2, b"Client Hello!\x00")))


# ------------------------------------------------------------------------------------ IDE_KM, TDISP


def _both(request: Callable[[bytes], object], response: Callable[[bytes], object]) -> Callable[[bytes, Path],
                                                                                                None]:
    def decode(data: bytes, _scratch: Path) -> None:
        for one in (request, response):
            try:
                one(data)
            except DevsecError:
                pass
    return decode


def _report(data: bytes, _scratch: Path) -> object:
    return InterfaceReport.decode(data)


# ------------------------------------------------------------------------------------ captures


def _capture_seeds() -> tuple[bytes, ...]:
    return tuple((ROOT / name / "capture.pcap").read_bytes()[:4096] for name in SETS)


def _capture(data: bytes, _scratch: Path) -> object:
    return read_capture(data)


# ------------------------------------------------------------------------------------ TSM


def _tsm_seeds() -> tuple[bytes, ...]:
    return (wire.encode_config(tsm_config()),
            wire.encode_operation(Operation("refresh_evidence", "0000:01:00.0", nonce=NONCE)),
            wire.encode_error(DevsecError("gone")),
            wire.encode_answer(wire.Stepped("challenge")))


def _tsm(data: bytes, _scratch: Path) -> None:
    for decode in (wire.decode_config, wire.decode_operation, wire.decode_request, wire.decode_info,
                   wire.decode_error, wire.decode_answer):
        try:
            decode(data)
        except DevsecError:
            pass


def _psp_seeds() -> tuple[bytes, ...]:
    relayed = psp_wire.encode_doe_request(psp_wire.DoeRequest(records(SETS[0])[0].data, 1.5))
    configure = psp_wire.Frame(psp_wire.FrameKind.CONFIGURE, 0, wire.encode_config(tsm_config()))
    return (psp_wire.encode_frame(configure), relayed,
            psp_wire.encode_frame(psp_wire.Frame(psp_wire.FrameKind.DOE_REQUEST, 7, relayed)))


def _psp(data: bytes, _scratch: Path) -> None:
    for decode in (psp_wire.decode_frame, psp_wire.decode_doe_request,
                   lambda d: psp_wire.read_frame(io.BytesIO(d))):
        try:
            decode(data)
        except DevsecError:
            pass


# ------------------------------------------------------------------------------------ evidence


@cache
def _bundle_seeds() -> tuple[bytes, ...]:
    device_model = sysfs_model(BaseAsymAlgo.ECDSA_P384)
    config = RequesterConfig(trust_anchors=(device_model.root_certificate(),))
    bundles = []
    for version in (SpdmVersion.V11, SpdmVersion.V13):
        device = EmulatedDevice(ResponderConfig(versions=(version,)), device_model)
        bundles.append(export_bundle(authenticate(device.pipe(), config, now=NOW, measurement_nonce=NONCE),
                                     NONCE))
    return tuple(bundles)


def _bundle(data: bytes, _scratch: Path) -> object:
    return verify_bundle(data, NONCE, (sysfs_model(BaseAsymAlgo.ECDSA_P384).root_certificate(),), NOW)


@cache
def _sysfs_files() -> tuple[str, ...]:
    return (
        "authenticated", "doe_features/0001:00", "doe_features/0001:01", "certificates/slot0",
        "measurements/1/value", "measurements/1/value_type", "measurements/1/representation",
        "signatures/0_type", "signatures/0_hash_algorithm", "signatures/0_signature",
        "signatures/0_transcript", "signatures/0_requester_nonce", "signatures/next_requester_nonce",
        "spdm/version", "spdm/hash_algorithm", "spdm/asym_algorithm", "spdm/capabilities",
        "spdm/vendor_protocols", "tsm/connect", "vendor", "device", "class",
    )


_NAMED = ("measurements", "doe_features", "certificates", "signatures", "tsm", "spdm")
"""Directories whose entries' names the reader parses (a peer's kernel, or anyone who writes the tree)."""


def _sysfs_seeds() -> tuple[bytes, ...]:
    return (b"\x00" + b"1\n", b"\x05" + b"0x1234\n", b"\x0d" + b"1.2\n", b"\x11" + b"CERT_CAP\n",
            b"\x80\x00" + "²".encode(), b"\x80\x01" + b"0001:00", b"\x80\x02slot9", b"\x80\x030_type")


def _sysfs(data: bytes, scratch: Path) -> object:
    """The first byte picks a file of a rendered device and the rest is its new content; or, from 0x80,
    the second byte picks a directory and the rest names a new entry there."""
    root = scratch / "sysfs"
    if not root.exists():
        render(teeio_evidence(), root)
    device = (root / "bus/pci/devices" / BDF).resolve()
    if len(data) > 2 and data[0] >= 0x80:
        name = data[2:].decode("utf-8", "replace").replace("/", "_").replace("\0", "_")[:60]
        if name not in {"", ".", ".."}:
            parent = device / _NAMED[data[1] % len(_NAMED)]
            return _with_entry(root, parent / name, directory=data[0] & 1 == 0)
    files = _sysfs_files()
    target = device / files[data[0] % len(files)] if data else device / files[0]
    original = target.read_bytes() if target.is_file() else None
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data[1:])
    try:
        return read_device(root, BDF)
    finally:
        if original is None:
            target.unlink()
        else:
            target.write_bytes(original)


def _with_entry(root: Path, entry: Path, *, directory: bool) -> object:
    if entry.exists():
        return None
    entry.parent.mkdir(parents=True, exist_ok=True)
    if directory:  # a copy of the first measurement's, when there is one
        first = entry.parent / "1"
        shutil.copytree(first, entry) if first.is_dir() else entry.mkdir()
    else:
        entry.write_bytes(b"1\n")
    try:
        return read_device(root, BDF)
    finally:
        if directory:
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _policy_seeds() -> tuple[bytes, ...]:
    example = (Path(__file__).parents[1] / "contrib" / "policy.example.toml").read_bytes()
    return example, example.replace(b"\n1 = [", '\n"²" = ['.encode()), example.replace(b"0x1af4", b"1e999")


def _policy(data: bytes, scratch: Path) -> object:
    path = scratch / "policy.toml"
    path.write_bytes(data)
    return load_policy(path)


FAMILIES = (
    Family("spdm-messages", _spdm_seeds, _spdm),
    Family("secured-records", _secured_seeds, _secured),
    Family("doe-objects-and-discovery", _doe_seeds, _doe),
    Family("spdm-emu-frames", _emu_seeds, _emu),
    Family("tcp-and-mctp-bindings", _binding_seeds, _bindings),
    Family("ide-km", ide_km_captured, _both(ide_km_request, ide_km_response)),
    Family("tdisp", tdisp_captured, _both(tdisp_request, tdisp_response)),
    Family("tdi-report", lambda: (REFERENCE_REPORT,), _report),
    Family("capture-reader", _capture_seeds, _capture),
    Family("tsm-wire-documents", _tsm_seeds, _tsm),
    Family("psp-frames", _psp_seeds, _psp),
    Family("evidence-bundle", _bundle_seeds, _bundle),
    Family("sysfs-evidence-reader", _sysfs_seeds, _sysfs),
    Family("policy-file", _policy_seeds, _policy),
)


@st.composite
def mutated(draw: st.DrawFn, seeds: tuple[bytes, ...]) -> bytes:
    """A valid example, changed in one to four places (flip, set, cut, insert, extend, splice)."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "extend", "splice"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, draw(st.integers(0, 255))]))
        elif kind == "cut":
            del data[at:at + draw(st.integers(1, 16))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "extend":
            data += draw(st.binary(min_size=1, max_size=16))
        else:  # a repeated piece: lengths and counts that disagree with the content
            data[at:at] = bytes(data[at:at + 8]) * draw(st.integers(2, 64))
    return bytes(data)


def inputs(family: Family) -> st.SearchStrategy[bytes]:
    return st.one_of(st.sampled_from(family.seeds()), mutated(family.seeds()), st.binary(max_size=96))


def only_typed(family: Family, data: bytes, scratch: Path) -> None:
    """Decode ``data``; fail on anything but a DevsecError."""
    try:
        family.decode(data, scratch)
    except DevsecError:
        pass
    except UNTYPED as exc:
        pytest.fail(f"{family.name}: {type(exc).__name__} escaped for {data[:80].hex()}...: {exc}")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("hostile")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
@HOSTILE
@given(data=st.data())
def test_decoders_raise_only_typed_errors(family: Family, scratch: Path, data: st.DataObject) -> None:
    only_typed(family, data.draw(inputs(family), label="input"), scratch)


@pytest.mark.parametrize("escaped", UNTYPED, ids=lambda e: e.__name__)
def test_an_untyped_error_is_a_failure(escaped: type[BaseException], tmp_path: Path) -> None:
    def raising(_data: bytes, _scratch: Path) -> None:
        raise escaped("boom")

    with pytest.raises(pytest.fail.Exception, match=escaped.__name__):
        only_typed(Family("raising", lambda: (b"",), raising), b"", tmp_path)


def test_a_typed_error_is_not() -> None:
    def raising(_data: bytes, _scratch: Path) -> None:
        raise DevsecError("fine")

    only_typed(Family("typed", lambda: (b"",), raising), b"", Path("."))
