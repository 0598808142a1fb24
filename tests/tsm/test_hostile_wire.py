"""Hostile TSM documents (fuzz findings 02 and 03): every decode of a peer's JSON is bounded and typed.

Python's json accepts ``NaN``, ``Infinity`` and ``1e999`` (all non-finite),
numbers of thousands of digits and nesting until the interpreter's recursion
limit; the security-processor process read its CONFIGURE, and the host its
RESULT and FAILED frames, with it.  Now :func:`tsm.jsondoc.parse` refuses
each before any reader sees the value, and every decoder of :mod:`tsm.wire`
raises :class:`DecodeError` only, in the process and on the host.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spdm.errors import DecodeError
from tsm import DeviceInfo, open_backend
from tsm.jsondoc import MAX_DEPTH, MAX_DOCUMENT, MAX_NUMBER_DIGITS, parse
from tsm.psp_wire import Frame, FrameKind, encode_frame, read_frame
from tsm.wire import (
    Failed,
    decode_answer,
    decode_config,
    decode_error,
    decode_info,
    decode_operation,
    decode_request,
    encode_config,
    encode_info,
)

from .helpers import new_board, tsm_config

DECODERS: tuple[Callable[[bytes], object], ...] = (
    decode_answer, decode_config, decode_error, decode_info, decode_operation, decode_request)

TDI_INFINITY = (b'{"format":"devsec-tsm-info/1","tdi":{"bdf":"0000:01:00.1","dsm":"0000:01:00.0",'
                b'"interface_id":Infinity,"state":"RUN","report":"","mmio_ranges":0}}')
"""Finding 03's RESULT body."""

HOSTILE: dict[str, bytes] = {
    "Infinity": TDI_INFINITY,
    "-Infinity": b'{"a":-Infinity}',
    "NaN": b'[NaN]',
    "1e999": b'{"fields":{"x":{"int":1e999}}}',
    "long number": b"[" + b"9" * (MAX_NUMBER_DIGITS + 1) + b"]",
    "thousands of digits": b"[" + b"1" * 5000 + b"]",
    "deep nesting": b"[" * 100_000,
    "deep objects": b'{"a":' * 5000,
    "just too deep": b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1),
}


@pytest.mark.parametrize("decoder", DECODERS, ids=lambda d: d.__name__)
@pytest.mark.parametrize("label", sorted(HOSTILE))
def test_hostile_json_is_refused_as_json(decoder: Callable[[bytes], object], label: str) -> None:
    with pytest.raises(DecodeError, match="not JSON"):
        decoder(HOSTILE[label])


def test_the_bounds_are_exact() -> None:
    assert parse(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    assert parse(b"[" + b"9" * MAX_NUMBER_DIGITS + b"]") == [int("9" * MAX_NUMBER_DIGITS)]
    assert parse(b'["' + b"[" * 1000 + b'"]') == ["[" * 1000]  # brackets in strings do not nest
    with pytest.raises(ValueError, match="at most"):
        parse(b" " * (MAX_DOCUMENT + 1))


@pytest.fixture(scope="module")
def connected() -> Iterator[DeviceInfo]:
    """A connected device's info (it carries slot 0's certificate chain)."""
    tsm = open_backend("native", tsm_config())
    board = new_board(1)
    yield tsm.connect(board.target)
    tsm.close()


def test_a_superscript_slot_number_is_a_decode_error(connected: DeviceInfo) -> None:
    """``"²".isdigit()`` is true but int("²") raises ValueError: it escaped decode_info untyped."""
    document = encode_info(connected).replace(b'"certificates":{"0"', '"certificates":{"²"'.encode())
    assert document != encode_info(connected)
    with pytest.raises(DecodeError, match="not a slot number"):
        decode_info(document)


def test_a_lone_surrogate_is_not_text() -> None:
    with pytest.raises(DecodeError, match="not text"):
        decode_operation(b'{"op":"info","bdf":"\\ud800"}')


def test_the_failed_frame_decoder_refuses_them_too() -> None:
    """The host's FAILED-frame path (``decode_answer`` of the frame's body)."""
    for body in (b'{"error":{"kind":"X","message":"m","fields":{"a":{"int":Infinity}}}}', b"[" * 100_000):
        with pytest.raises(DecodeError, match="not JSON"):
            decode_answer(body)


def test_the_security_processor_answers_an_infinite_configure_with_failed() -> None:
    """Finding 02: the process answers FAILED (a DecodeError) and exits; it does not die on a traceback."""
    body = encode_config(tsm_config()).replace(b'"slot_id":0', b'"slot_id":Infinity')
    assert b"Infinity" in body
    for configure in (body, b"[" * 100_000):
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
        done = subprocess.run([sys.executable, "-m", "tsm.psp_main"], env=env, capture_output=True,
                              input=encode_frame(Frame(FrameKind.CONFIGURE, 0, configure)), timeout=60)
        answer = read_frame(io.BytesIO(done.stdout))
        assert answer is not None and answer.kind == FrameKind.FAILED
        failure = decode_answer(answer.body)
        assert isinstance(failure, Failed) and isinstance(failure.exception(), DecodeError)
        assert b"RecursionError" not in done.stderr and b"OverflowError" not in done.stderr
        with pytest.raises(DecodeError):
            decode_config(configure)
