"""verify_bundle on hostile transcripts: linear time before any signature check (finding 07)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from devsec.emulator import EmulatedDevice
from spdm.cma import authenticate
from spdm.config import RequesterConfig, ResponderConfig
from spdm.errors import DecodeError, VerificationError
from spdm.messages.codes import BaseAsymAlgo, SpdmVersion
from sysfs_bridge import export_bundle, verify_bundle
from sysfs_bridge.bundle import MAX_L1_EXCHANGES
from tests.sysfs_bridge.helpers import model

NOW = datetime.now(UTC)
NONCE = bytes(range(32))
ASYM = BaseAsymAlgo.ECDSA_P384
UNSIGNED = (bytes([0x11, 0xE0, 0, 0]) + bytes([0x11, 0x60, 0, 0, 0, 0, 0, 0]) + bytes(32) + b"\x00\x00")
"""One unsigned SPDM 1.1 GET_MEASUREMENTS (index 0) and its 46-byte MEASUREMENTS answer."""


@cache
def _doc() -> str:
    config = RequesterConfig(versions=(SpdmVersion.V11,), trust_anchors=(model(ASYM).root_certificate(),))
    report = authenticate(EmulatedDevice(ResponderConfig(), model(ASYM)).pipe(), config, now=NOW,
                          measurement_nonce=NONCE)
    return export_bundle(report, NONCE).decode()


def _with_unsigned(count: int) -> bytes:
    doc: dict[str, Any] = json.loads(_doc())
    doc["transcript"] = (UNSIGNED * count + bytes.fromhex(doc["transcript"])).hex()
    return json.dumps(doc).encode()


def _verify(data: bytes) -> None:
    verify_bundle(data, NONCE, (model(ASYM).root_certificate(),), NOW)


def test_many_unsigned_exchanges_are_refused_quickly() -> None:
    """The fuzzer's 0.9 MB bundle (20,000 unsigned exchanges) took tens of seconds to refuse."""
    data = _with_unsigned(20_000)
    start = time.monotonic()
    with pytest.raises(DecodeError, match=f"more than {MAX_L1_EXCHANGES} measurement exchanges"):
        _verify(data)
    assert time.monotonic() - start < 1.0


def test_splitting_is_linear_in_the_transcript() -> None:
    """Up to the cap the transcript is split in linear time, then judged by its signature."""
    data = _with_unsigned(MAX_L1_EXCHANGES - 1)
    start = time.monotonic()
    with pytest.raises(VerificationError):
        _verify(data)
    assert time.monotonic() - start < 1.0


def test_a_genuine_bundle_still_verifies() -> None:
    _verify(_doc().encode())
