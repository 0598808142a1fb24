"""Adversarial cases for SPDM 1.3's endpoint messages and chunking: a conformant requester must exit non-zero.

The device offers EP_INFO_CAP (signed), MEL_CAP, GET_KEY_PAIR_INFO_CAP and
CHUNK_CAP (:class:`.device.CaseDevice`); a requester that never asks for
endpoint info, the MEL or key pairs (``devsec connect`` without
``--endpoint-info``, ``--mel``, ``--key-pairs``), or never fetches a large
response in chunks (a DataTransferSize that holds every response), has these
cases skipped, saying so.

Decisions: a MEL whose RemainderLength claims more than the device then
sends (the next portion comes back empty or refused) must end the run, as
must a KEY_PAIR_INFO for another key pair than the one asked for.
"""

from __future__ import annotations

from spdm.messages.codes import RequestCode

from .adversarial import Rewrite, refused_once_reached
from .context import RequesterContext
from .registry import case

__all__ = ["chunk_wrong_sequence", "endpoint_info_bad_signature", "key_pair_not_echoed",
           "mel_remainder_overstated"]
"""The case judges (registered with :func:`.registry.case`; run them through the runner)."""

_SIGNATURE_REQUESTED = 0x01
_MEL_REMAINDER = 8
"""MEASUREMENT_EXTENSION_LOG: header (4), PortionLength (4), RemainderLength (4) at offset 8."""
_KEY_PAIR_ID = 5
"""KEY_PAIR_INFO: header (4), TotalKeyPairs (1), KeyPairID (1) at offset 5."""


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1:]


def _signed_endpoint_info(request: bytes, response: bytes) -> bool:
    return len(request) > 4 and bool(request[4] & _SIGNATURE_REQUESTED)


def _flip_signature(request: bytes, response: bytes) -> bytes:
    # The signature ends ENDPOINT_INFO; 20 bytes from the end is inside it whatever the DOE pad.
    return _flip(response, len(response) - 20)


def _remainder_overstated(request: bytes, response: bytes) -> bytes:
    remainder = int.from_bytes(response[_MEL_REMAINDER:_MEL_REMAINDER + 4], "little") + 16
    return response[:_MEL_REMAINDER] + remainder.to_bytes(4, "little") + response[_MEL_REMAINDER + 4:]


def _first_portion(request: bytes, response: bytes) -> bool:
    return int.from_bytes(request[4:8], "little") == 0


def _other_key_pair(request: bytes, response: bytes) -> bytes:
    return response[:_KEY_PAIR_ID] + bytes([response[_KEY_PAIR_ID] ^ 0x02]) + response[_KEY_PAIR_ID + 1:]


@case("requester.endpoint.bad-signature", "A signed ENDPOINT_INFO whose signature is off by one byte is "
      "refused", "DSP0274 1.3 §10.26, Tables 96-98",
      misbehaviour=lambda: Rewrite(RequestCode.GET_ENDPOINT_INFO, _flip_signature, _signed_endpoint_info))
def endpoint_info_bad_signature(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "the ENDPOINT_INFO signature does not verify",
                         "GET_ENDPOINT_INFO with a signature requested")


@case("requester.mel.remainder-overstated", "A MEASUREMENT_EXTENSION_LOG whose RemainderLength claims 16 "
      "bytes more than the device has is refused", "DSP0274 1.3 §10.29",
      misbehaviour=lambda: Rewrite(RequestCode.GET_MEASUREMENT_EXTENSION_LOG, _remainder_overstated,
                                   _first_portion))
def mel_remainder_overstated(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "the MEL's portions do not add up to what RemainderLength said",
                         "GET_MEASUREMENT_EXTENSION_LOG")


@case("requester.key-pairs.not-echoed", "A KEY_PAIR_INFO describing another key pair than the one asked "
      "for is refused", "DSP0274 1.3 §10.30, Tables 104-105",
      misbehaviour=lambda: Rewrite(RequestCode.GET_KEY_PAIR_INFO, _other_key_pair))
def key_pair_not_echoed(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "KEY_PAIR_INFO names another key pair", "GET_KEY_PAIR_INFO")


_CHUNK_SEQ_NO = 4
"""CHUNK_RESPONSE: header (4), ChunkSeqNo (u16 before 1.4) at offset 4."""


def _later_chunk(request: bytes, response: bytes) -> bool:
    return int.from_bytes(request[4:6], "little") == 1


def _other_seq_no(request: bytes, response: bytes) -> bytes:
    return response[:_CHUNK_SEQ_NO] + bytes([response[_CHUNK_SEQ_NO] ^ 0x02]) + response[_CHUNK_SEQ_NO + 1:]


@case("requester.chunk.wrong-sequence", "A CHUNK_RESPONSE carrying another ChunkSeqNo than the CHUNK_GET "
      "asked for is refused", "DSP0274 1.3 §10.18, Tables 88-90",
      misbehaviour=lambda: Rewrite(RequestCode.CHUNK_GET, _other_seq_no, _later_chunk))
def chunk_wrong_sequence(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "a chunk of another ChunkSeqNo came back", "a second CHUNK_GET")
