"""Adversarial cases for SPDM 1.3's endpoint messages and chunking: a conformant requester must exit non-zero.

The device offers EP_INFO_CAP (signed), MEL_CAP, GET_KEY_PAIR_INFO_CAP and
CHUNK_CAP (:class:`.device.CaseDevice`); a requester that never asks for
endpoint info, the MEL or key pairs (``devsec connect`` without
``--endpoint-info``, ``--mel``, ``--key-pairs``), or never fetches a large
response in chunks (a DataTransferSize that holds every response), has these
cases skipped, saying so.

Decisions: a MEL whose RemainderLength claims more than the device then
sends (the next portion comes back empty or refused) must end the run, as
must a KEY_PAIR_INFO for another key pair than the one asked for.  The MEL
carries no signature of its own: what makes it evidence is that its entries
extend to the hash-extended measurement blocks the device signs (DSP0274 1.3
§10.29, DmtfValueType 8; :mod:`spdm.hash_extended`), so a "MEL with a bad
signature" is one whose last entry changed: a requester that read the signed
measurements too must refuse it (one that read no measurements cannot tell,
and has ``requester.mel.entry-changed`` skipped).
"""

from __future__ import annotations

from dataclasses import replace

from spdm.backend import ResponderBackend
from spdm.config import ResponderConfig
from spdm.crypto import measurement_hash_size
from spdm.device import DeviceModel, MeasurementSource
from spdm.device_endpoint import EndpointData
from spdm.messages.codes import DMTF_RAW_BIT_STREAM, DmtfValueType, MeasurementHashAlgo, RequestCode
from spdm.messages.mel import MEL_HEADER_SIZE, Mel, MelEntry

from .adversarial import Rewrite, refused_once_reached
from .context import RequesterContext
from .registry import case

__all__ = ["MEL_HASH", "chunk_wrong_sequence", "endpoint_info_bad_signature", "endpoint_info_length_lies",
           "key_pair_not_echoed", "key_pairs_below_id", "mel_entry_changed", "mel_portion_length_lies",
           "mel_remainder_overstated", "with_mel"]
"""The case judges (registered with :func:`.registry.case`; run them through the runner)."""

_SIGNATURE_REQUESTED = 0x01
_MEL_REMAINDER = 8
"""MEASUREMENT_EXTENSION_LOG: header (4), PortionLength (4), RemainderLength (4) at offset 8."""
_MEL_PORTION_LENGTH, _MEL_PORTION = 4, 12
"""MEASUREMENT_EXTENSION_LOG: PortionLength (4) at offset 4, the portion at 12."""
_EP_INFO_LENGTH = 8
"""ENDPOINT_INFO: header (4), Reserved (4), [Nonce (32) when signed], EPInfoLength (4)."""
_NONCE_SIZE = 32
_TOTAL_KEY_PAIRS, _KEY_PAIR_ID = 4, 5
"""KEY_PAIR_INFO: header (4), TotalKeyPairs (1) at offset 4, KeyPairID (1) at offset 5."""
_ASKED_KEY_PAIR_ID = 4
"""GET_KEY_PAIR_INFO: header (4), KeyPairID (1) at offset 4."""


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


def _total_below_id(request: bytes, response: bytes) -> bytes:
    """TotalKeyPairs one less than the KeyPairID asked for (and answered, unchanged)."""
    total = request[_ASKED_KEY_PAIR_ID] - 1
    return response[:_TOTAL_KEY_PAIRS] + bytes([total]) + response[_TOTAL_KEY_PAIRS + 1:]


def _asks_an_id(request: bytes, response: bytes) -> bool:
    return len(request) > _ASKED_KEY_PAIR_ID and request[_ASKED_KEY_PAIR_ID] >= 1


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


@case("requester.key-pairs.total-below-id", "A KEY_PAIR_INFO whose TotalKeyPairs is smaller than the "
      "KeyPairID asked for (and echoed) is refused", "DSP0274 1.3 §10.30, Tables 104-105",
      misbehaviour=lambda: Rewrite(RequestCode.GET_KEY_PAIR_INFO, _total_below_id, _asks_an_id))
def key_pairs_below_id(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "TotalKeyPairs is below the KeyPairID answered for", "GET_KEY_PAIR_INFO")


MEL_HASH = MeasurementHashAlgo.SHA_384
"""The one MeasurementHashAlgo the device of ``requester.mel.entry-changed`` offers."""


def with_mel(config: ResponderConfig, model: DeviceModel) -> tuple[ResponderConfig, ResponderBackend]:
    """The case device with a one-entry MEL and the hash-extended measurement it extends.

    With one entry the extension is H(zeros || entry) (:mod:`spdm.hash_extended`),
    which is the digest the device reports of a source whose data is
    ``zeros || entry``; the device offers only :data:`MEL_HASH` so that holds.
    """
    taken = {m.index for m in model.measurements}
    index = next(i for i in range(0x11, 0xEF) if i not in taken)
    entry = MelEntry(1, index, DMTF_RAW_BIT_STREAM | DmtfValueType.INFORMATIONAL, b"conformance firmware")
    log = Mel(entries=(entry,))
    extended = bytes(measurement_hash_size(MEL_HASH)) + log.encode()[MEL_HEADER_SIZE:]
    ours = model.endpoint
    endpoint = EndpointData(class_identifier=ours.class_identifier, mel=log, key_pairs=ours.key_pairs(),
                            supported_slot_mask=ours.supported_slot_mask, cert_models=ours.cert_models)
    hem = MeasurementSource(index, DmtfValueType.HASH_EXTENDED, extended, digest=True)
    measurements = (*model.measurements, hem)
    config = replace(config, algorithms=replace(config.algorithms, measurement_hash_algs=(MEL_HASH,)))
    return config, DeviceModel(model.slots, measurements).with_endpoint(endpoint)


def _add_16(response: bytes, offset: int) -> bytes:
    value = int.from_bytes(response[offset:offset + 4], "little") + 16
    return response[:offset] + value.to_bytes(4, "little") + response[offset + 4:]


def _ep_info_overstated(request: bytes, response: bytes) -> bytes:
    nonce = _NONCE_SIZE if _signed_endpoint_info(request, response) else 0
    return _add_16(response, _EP_INFO_LENGTH + nonce)


def _portion_overstated(request: bytes, response: bytes) -> bytes:
    return _add_16(response, _MEL_PORTION_LENGTH)


def _last_portion(request: bytes, response: bytes) -> bool:
    return (len(response) >= _MEL_PORTION and not int.from_bytes(response[_MEL_REMAINDER:_MEL_REMAINDER + 4],
                                                                   "little")
            and int.from_bytes(response[_MEL_PORTION_LENGTH:_MEL_PORTION_LENGTH + 4], "little") > 0)


def _flip_last_entry(request: bytes, response: bytes) -> bytes:
    # The log's last byte is its last entry's value: the entry no longer extends to the measurement.
    end = _MEL_PORTION + int.from_bytes(response[_MEL_PORTION_LENGTH:_MEL_PORTION_LENGTH + 4], "little")
    return _flip(response, end - 1)


@case("requester.endpoint.length-lies", "An ENDPOINT_INFO whose EPInfoLength claims 16 bytes more than it "
      "carries is refused", "DSP0274 1.3 §10.26, Tables 96-98",
      misbehaviour=lambda: Rewrite(RequestCode.GET_ENDPOINT_INFO, _ep_info_overstated))
def endpoint_info_length_lies(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "EPInfoLength runs past the ENDPOINT_INFO", "GET_ENDPOINT_INFO")


@case("requester.mel.portion-length-lies", "A MEASUREMENT_EXTENSION_LOG whose PortionLength claims 16 "
      "bytes more than it carries is refused", "DSP0274 1.3 §10.29",
      misbehaviour=lambda: Rewrite(RequestCode.GET_MEASUREMENT_EXTENSION_LOG, _portion_overstated))
def mel_portion_length_lies(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "PortionLength runs past the MEASUREMENT_EXTENSION_LOG",
                         "GET_MEASUREMENT_EXTENSION_LOG")


@case("requester.mel.entry-changed", "A MEL whose last entry no longer extends to the signed "
      "hash-extended measurement is refused by a requester that read the measurements",
      "DSP0274 1.3 §10.29 (MEL entries extend hash-extended measurements)",
      misbehaviour=lambda: Rewrite(RequestCode.GET_MEASUREMENT_EXTENSION_LOG, _flip_last_entry,
                                   _last_portion), device=with_mel)
def mel_entry_changed(ctx: RequesterContext) -> None:
    if not any(run.requests(RequestCode.GET_MEASUREMENTS) for run in ctx.runs):
        ctx.skip("the requester read no measurements, against which the MEL is checked")
    refused_once_reached(ctx, "the MEL does not extend to the signed measurements",
                         "GET_MEASUREMENT_EXTENSION_LOG")


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
