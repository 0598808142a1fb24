"""SPDM 1.3 endpoint messages judged on the responder: ENDPOINT_INFO, the MEL, key pair information.

DSP0274 1.3 §10.26 (GET_ENDPOINT_INFO, Tables 96-98), §10.29
(GET_MEASUREMENT_EXTENSION_LOG) and §10.30-10.31 (GET/SET_KEY_PAIR_INFO).
A signed ENDPOINT_INFO is verified by the suite itself over
IL1 = A || GET_ENDPOINT_INFO || ENDPOINT_INFO without its signature (the
transcript libspdm signs, confirmed by the reference capture
``spdm13-p384-endpoint-mel-keypair``) with the slot's leaf key.

Decisions where DSP0274 leaves room:

* The MEL is read whole in one request and again in 16-byte portions; the
  portions must add up to the same log, each RemainderLength must be what
  is left, and the log must be in the DMTF format (its header and entries agree).
* An offset past the end of the MEL must be refused InvalidRequest; an
  offset equal to its length is the empty remainder and is not judged.
* KeyPairID 0 and TotalKeyPairs + 1 must be refused InvalidRequest, by
  GET_KEY_PAIR_INFO and by SET_KEY_PAIR_INFO alike; the SET probe is an Erase
  (it carries no desired values to judge) of a key pair that does not exist,
  so a conformant device is left unchanged.
"""

from __future__ import annotations

import os

from spdm.codec import CodecContext
from spdm.crypto import signature_size
from spdm.errors import DecodeError, SpdmErrorCode
from spdm.messages import NONCE_SIZE
from spdm.messages.codes import CapabilityFlags as F
from spdm.messages.codes import EndpointInfoAttributes, EndpointInfoSubcode, KeyPairOperation
from spdm.messages.endpoint import DeviceClassIdentifier, EndpointInfo, GetEndpointInfo
from spdm.messages.key_pair import GetKeyPairInfo, KeyPairInfo, SetKeyPairInfo
from spdm.messages.mel import GetMeasurementExtensionLog, MeasurementExtensionLog, Mel

from .context import CaseContext
from .registry import case
from .spdm_auth_connection import AuthConnection

__all__ = [
    "ENDPOINT_INFO_CONTEXT",
    "endpoint_info_bad_subcode",
    "endpoint_info_signed",
    "endpoint_info_unsigned",
    "key_pair_info",
    "key_pair_info_invalid_id",
    "set_key_pair_info_invalid_id",
    "mel_bounds",
    "mel_portions",
]

ENDPOINT_INFO_CONTEXT = "responder-endpoint_info signing"
EP_CLAUSE = "DSP0274 1.3 §10.26, Tables 96-98"
MEL_CLAUSE = "DSP0274 1.3 §10.29; DMTF MEL format"
KEY_PAIR_CLAUSE = "DSP0274 1.3 §10.30, Tables 104-105"
EP_INFO_CAPS = F.EP_INFO_CAP_NO_SIG | F.EP_INFO_CAP_SIG
V13 = 0x13
PORTION = 16
WHOLE = 0xFFFF_FFFF
RESERVED_SUBCODE = 0
"""GET_ENDPOINT_INFO Param1 0 is reserved (1 = device class identifier)."""


def _ask_info(ctx: CaseContext, conn: AuthConnection, *, slot: int | None) -> tuple[GetEndpointInfo, bytes]:
    signed = slot is not None
    request = GetEndpointInfo(
        spdm_version=ctx.version, subcode=EndpointInfoSubcode.DEVICE_CLASS_IDENTIFIER,
        slot_id=slot or 0,
        request_attributes=int(EndpointInfoAttributes.SIGNATURE_REQUESTED) if signed else 0,
        nonce=os.urandom(NONCE_SIZE) if signed else None)
    conn.transcript.begin(request.CODE)
    return request, ctx.send(request)


def _judge_ep_info(ctx: CaseContext, what: str, response: EndpointInfo) -> None:
    try:
        DeviceClassIdentifier.decode(response.ep_info)
        decoded = True
    except DecodeError as exc:
        decoded, problem = False, str(exc)
    ctx.check(f"{what}: EPInfo is a device class identifier (subcode 1)", decoded,
              expected="NumIdentifiers identifier elements", actual="decodes" if decoded else problem,
              reference="DSP0274 1.3 Table 98")


@case("spdm.endpoint.info-unsigned", "GET_ENDPOINT_INFO without a signature: ENDPOINT_INFO with the device "
      "class identifier, no nonce and no signature", EP_CLAUSE, per_version=True, min_version=V13,
      needs_any=EP_INFO_CAPS)
def endpoint_info_unsigned(ctx: CaseContext) -> None:
    conn = AuthConnection(ctx)
    conn.vca()
    _, data = _ask_info(ctx, conn, slot=None)
    response = ctx.decode(EndpointInfo, data, CodecContext(signed=False), reference=EP_CLAUSE)
    ctx.equal("an unsigned ENDPOINT_INFO carries no nonce", None, response.nonce, reference=EP_CLAUSE)
    ctx.equal("Param2 SlotID is 0 when no signature was asked for", 0, response.slot_id, reference=EP_CLAUSE)
    _judge_ep_info(ctx, "unsigned", response)


@case("spdm.endpoint.info-signed", "Signed GET_ENDPOINT_INFO for every provisioned slot: ENDPOINT_INFO names "
      "the slot and its signature verifies over IL1 with the slot's leaf key", EP_CLAUSE,
      per_version=True, min_version=V13, needs=F.EP_INFO_CAP_SIG | F.CERT_CAP)
def endpoint_info_signed(ctx: CaseContext) -> None:
    conn = AuthConnection(ctx)
    conn.vca()
    for slot in conn.digests().by_slot():
        conn.chain(slot)
    codec = CodecContext(signature_size=signature_size(conn.asym_alg), signed=True)
    for slot in conn.chains:
        request, data = _ask_info(ctx, conn, slot=slot)
        response = ctx.decode(EndpointInfo, data, codec, reference=EP_CLAUSE)
        ctx.equal(f"slot {slot}: Param2 SlotID names the signing slot", slot, response.slot_id,
                  reference=EP_CLAUSE)
        _judge_ep_info(ctx, f"slot {slot}", response)
        il1 = bytes(conn.transcript.a) + request.encode() + response.signed_part
        conn.judge_signature(f"slot {slot}: the signature verifies over IL1 with the slot's leaf key", slot,
                             ENDPOINT_INFO_CONTEXT, il1, response.signature, reference=EP_CLAUSE)


@case("spdm.endpoint.info-bad-subcode", "GET_ENDPOINT_INFO with a reserved subcode gets ERROR InvalidRequest",
      EP_CLAUSE, per_version=True, min_version=V13, needs_any=EP_INFO_CAPS)
def endpoint_info_bad_subcode(ctx: CaseContext) -> None:
    conn = AuthConnection(ctx)
    conn.vca()
    data = ctx.send(GetEndpointInfo(spdm_version=ctx.version, subcode=RESERVED_SUBCODE))
    ctx.expect_error(f"subcode {RESERVED_SUBCODE} is refused", data, (SpdmErrorCode.INVALID_REQUEST,))


def _mel_portion(ctx: CaseContext, offset: int, length: int) -> MeasurementExtensionLog:
    request = GetMeasurementExtensionLog(spdm_version=ctx.version, offset=offset, length=length)
    return ctx.decode(MeasurementExtensionLog, ctx.send(request), reference=MEL_CLAUSE)


@case("spdm.mel.portions", "The MEL read in 16-byte portions adds up to the MEL read at once, each "
      "RemainderLength is what is left, and the log is in the DMTF format", MEL_CLAUSE, per_version=True,
      min_version=V13, needs=F.MEL_CAP)
def mel_portions(ctx: CaseContext) -> None:
    AuthConnection(ctx).vca()
    first = _mel_portion(ctx, 0, WHOLE)
    whole = bytearray(first.portion)
    remainder = first.remainder_length
    while remainder:  # a device may cap a portion by its DataTransferSize
        ctx.require("a portion with data remaining is not empty", bool(whole), expected="> 0 bytes",
                    actual=0, reference=MEL_CLAUSE)
        more = _mel_portion(ctx, len(whole), WHOLE)
        ctx.require("a portion with data remaining is not empty", bool(more.portion), expected="> 0 bytes",
                    actual=0, reference=MEL_CLAUSE)
        whole += more.portion
        remainder = more.remainder_length
    log = bytes(whole)
    try:
        Mel.decode(log)
        decoded = True
    except DecodeError as exc:
        decoded, problem = False, str(exc)
    ctx.check("the MEL is in the DMTF format", decoded, expected="NumberOfEntries entries filling "
              "MELEntriesLength", actual="decodes" if decoded else problem, reference=MEL_CLAUSE)
    pieces = bytearray()
    while len(pieces) < len(log):
        portion = _mel_portion(ctx, len(pieces), PORTION)
        ctx.check(f"the portion at offset {len(pieces)} is at most the {PORTION} bytes asked",
                  0 < len(portion.portion) <= PORTION, expected=f"1-{PORTION} bytes",
                  actual=len(portion.portion), reference=MEL_CLAUSE)
        if not portion.portion:
            return
        pieces += portion.portion
        ctx.equal(f"RemainderLength after offset {len(pieces)} is what is left", len(log) - len(pieces),
                  portion.remainder_length, reference=MEL_CLAUSE)
    ctx.equal("the portions add up to the MEL read at once", log.hex(), bytes(pieces).hex(),
              reference=MEL_CLAUSE)


@case("spdm.mel.bounds", "GET_MEASUREMENT_EXTENSION_LOG at an offset past the end of the MEL gets "
      "ERROR InvalidRequest", MEL_CLAUSE, per_version=True, min_version=V13, needs=F.MEL_CAP)
def mel_bounds(ctx: CaseContext) -> None:
    AuthConnection(ctx).vca()
    first = _mel_portion(ctx, 0, WHOLE)
    size = len(first.portion) + first.remainder_length
    data = ctx.send(GetMeasurementExtensionLog(spdm_version=ctx.version, offset=size + 1, length=PORTION))
    ctx.expect_error(f"offset {size + 1} of a {size}-byte MEL is refused", data,
                     (SpdmErrorCode.INVALID_REQUEST,))


def _key_pair(ctx: CaseContext, key_pair_id: int) -> bytes:
    return ctx.send(GetKeyPairInfo(spdm_version=ctx.version, key_pair_id=key_pair_id))


@case("spdm.key-pairs.info", "GET_KEY_PAIR_INFO for every key pair: KEY_PAIR_INFO echoes the KeyPairID, "
      "TotalKeyPairs stays the same, and current usage and algorithm are within the capabilities",
      KEY_PAIR_CLAUSE, per_version=True, min_version=V13, needs=F.GET_KEY_PAIR_INFO_CAP)
def key_pair_info(ctx: CaseContext) -> None:
    AuthConnection(ctx).vca()
    first = ctx.decode(KeyPairInfo, _key_pair(ctx, 1), reference=KEY_PAIR_CLAUSE)
    total = first.total_key_pairs
    ctx.require("the device has at least one key pair", total >= 1, expected=">= 1", actual=total,
                reference=KEY_PAIR_CLAUSE)
    for key_pair_id in range(1, total + 1):
        info = first if key_pair_id == 1 else ctx.decode(KeyPairInfo, _key_pair(ctx, key_pair_id),
                                                         reference=KEY_PAIR_CLAUSE)
        at = f"key pair {key_pair_id}"
        ctx.equal(f"{at}: KeyPairID is the one asked for", key_pair_id, info.key_pair_id,
                  reference=KEY_PAIR_CLAUSE)
        ctx.equal(f"{at}: TotalKeyPairs is the same in every answer", total, info.total_key_pairs,
                  reference=KEY_PAIR_CLAUSE)
        ctx.check(f"{at}: CurrentKeyUsage is within KeyUsageCapabilities",
                  not info.current_key_usage & ~info.key_usage_capabilities,
                  expected=f"a subset of 0x{info.key_usage_capabilities:04x}",
                  actual=f"0x{info.current_key_usage:04x}", reference=KEY_PAIR_CLAUSE)
        ctx.check(f"{at}: CurrentAsymAlgo is one of AsymAlgoCapabilities",
                  not info.current_asym_algo & (info.current_asym_algo - 1)
                  and not info.current_asym_algo & ~info.asym_algo_capabilities,
                  expected=f"at most one bit of 0x{info.asym_algo_capabilities:08x}",
                  actual=f"0x{info.current_asym_algo:08x}", reference=KEY_PAIR_CLAUSE)


@case("spdm.key-pairs.invalid-id", "GET_KEY_PAIR_INFO for KeyPairID 0 or past TotalKeyPairs gets "
      "ERROR InvalidRequest", KEY_PAIR_CLAUSE, per_version=True, min_version=V13,
      needs=F.GET_KEY_PAIR_INFO_CAP)
def key_pair_info_invalid_id(ctx: CaseContext) -> None:
    AuthConnection(ctx).vca()
    total = ctx.decode(KeyPairInfo, _key_pair(ctx, 1), reference=KEY_PAIR_CLAUSE).total_key_pairs
    for key_pair_id in (0, total + 1):
        if key_pair_id > 0xFF:
            continue
        ctx.expect_error(f"KeyPairID {key_pair_id} (of {total}) is refused", _key_pair(ctx, key_pair_id),
                         (SpdmErrorCode.INVALID_REQUEST,))


@case("spdm.key-pairs.set-invalid-id", "SET_KEY_PAIR_INFO (Erase) for KeyPairID 0 or past TotalKeyPairs gets "
      "ERROR InvalidRequest", "DSP0274 1.3 §10.31, Tables 106-107", per_version=True, min_version=V13,
      needs=F.SET_KEY_PAIR_INFO_CAP | F.GET_KEY_PAIR_INFO_CAP)
def set_key_pair_info_invalid_id(ctx: CaseContext) -> None:
    AuthConnection(ctx).vca()
    total = ctx.decode(KeyPairInfo, _key_pair(ctx, 1), reference=KEY_PAIR_CLAUSE).total_key_pairs
    for key_pair_id in (0, total + 1):
        if key_pair_id > 0xFF:
            continue
        request = SetKeyPairInfo(spdm_version=ctx.version, operation=KeyPairOperation.ERASE,
                                 key_pair_id=key_pair_id)
        ctx.expect_error(f"SET_KEY_PAIR_INFO for KeyPairID {key_pair_id} (of {total}) is refused",
                         ctx.send(request), (SpdmErrorCode.INVALID_REQUEST,))
