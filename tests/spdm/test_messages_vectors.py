"""The SPDM codec against the libspdm captures (R11): every plain SPDM record, checked by spdm_dump.

Each DOE type-1 record of the three captures is decoded with the context a
receiver would have at that point (H, S, D and the flags follow from the
captured CAPABILITIES/ALGORITHMS; summary hash and signature presence from
the preceding request), must re-encode to exactly the captured bytes (the DOE
padding aside), and must be the message the reference decoder (``dump.txt``)
names for that record number, with the same key fields.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest

from spdm.messages import (
    REQUEST_TYPES,
    RESPONSE_TYPES,
    Algorithms,
    Capabilities,
    Certificate,
    Challenge,
    CodecContext,
    DeliverEncapsulatedResponse,
    Digests,
    EncapsulatedRequest,
    EncapsulatedResponseAck,
    GetCapabilities,
    Measurements,
    Message,
    NegotiateAlgorithms,
    PskExchange,
    Version,
)
from spdm.messages.codes import (
    AlgType,
    BaseAsymAlgo,
    BaseHashAlgo,
    CapabilityFlags,
    DheGroup,
    RequestCode,
    ResponseCode,
)
from tests.vectors import DOE_HEADER, SETS, TYPE_SPDM, dump_lines, records

HASH_SIZE = {BaseHashAlgo.SHA_256: 32, BaseHashAlgo.SHA_384: 48, BaseHashAlgo.SHA_512: 64}
SIGNATURE_SIZE = {
    BaseAsymAlgo.RSASSA_2048: 256, BaseAsymAlgo.RSAPSS_2048: 256,
    BaseAsymAlgo.RSASSA_3072: 384, BaseAsymAlgo.RSAPSS_3072: 384,
    BaseAsymAlgo.RSASSA_4096: 512, BaseAsymAlgo.RSAPSS_4096: 512,
    BaseAsymAlgo.ECDSA_P256: 64, BaseAsymAlgo.ECDSA_P384: 96, BaseAsymAlgo.ECDSA_P521: 132,
}
DHE_SIZE = {DheGroup.FFDHE_2048: 256, DheGroup.FFDHE_3072: 384, DheGroup.FFDHE_4096: 512,
            DheGroup.SECP_256_R1: 64, DheGroup.SECP_384_R1: 96, DheGroup.SECP_521_R1: 132}
MEAS_CAP = CapabilityFlags.MEAS_CAP_NO_SIG | CapabilityFlags.MEAS_CAP_SIG
MULTI_KEY_CAP_SHIFT = 26
MULTI_KEY_CONN = 0x10  # OtherParamsSupport / OtherParamsSelection b4 (1.3)


@dataclass
class Negotiated:
    """What the VCA of a capture established (the independent re-derivation the test relies on)."""

    req_caps: GetCapabilities | None = None
    rsp_caps: Capabilities | None = None
    request: NegotiateAlgorithms | None = None
    selected: Algorithms | None = None

    def context(self) -> CodecContext:
        """The base context once ALGORITHMS was received (empty before)."""
        if self.selected is None or self.req_caps is None or self.rsp_caps is None or self.request is None:
            return CodecContext()
        sel = self.selected
        clear = CapabilityFlags.HANDSHAKE_IN_THE_CLEAR_CAP
        return CodecContext(
            hash_size=HASH_SIZE[BaseHashAlgo(sel.base_hash_sel)],
            signature_size=SIGNATURE_SIZE[BaseAsymAlgo(sel.base_asym_sel)],
            dhe_size=DHE_SIZE.get(DheGroup(sel.alg_supported(AlgType.DHE)), 0),
            req_signature_size=SIGNATURE_SIZE.get(
                BaseAsymAlgo(sel.alg_supported(AlgType.REQ_BASE_ASYM_ALG)), 0),
            handshake_in_the_clear=bool(self.req_caps.flags & self.rsp_caps.flags & clear),
            multi_key=self.responder_multi_key,
        )

    @staticmethod
    def _multi_key(own_flags: int, peer_other_params: int) -> bool:
        # MULTI_KEY_CAP 01b: always; 10b: if the peer's NEGOTIATE/ALGORITHMS set MULTI_KEY_CONN.
        cap = (own_flags >> MULTI_KEY_CAP_SHIFT) & 0x3
        return cap == 1 or (cap == 2 and bool(peer_other_params & MULTI_KEY_CONN))

    @property
    def responder_multi_key(self) -> bool:
        """MULTI_KEY_CONN_RSP: the responder's DIGESTS carry the multi-key tail."""
        assert self.rsp_caps is not None and self.request is not None
        return self.rsp_caps.spdm_version >= 0x13 and self._multi_key(
            self.rsp_caps.flags, self.request.other_params_support)

    @property
    def requester_multi_key(self) -> bool:
        """MULTI_KEY_CONN_REQ: the requester's (encapsulated) DIGESTS carry it."""
        assert self.req_caps is not None and self.selected is not None
        return self.req_caps.spdm_version >= 0x13 and self._multi_key(
            self.req_caps.flags, self.selected.other_params_selection)

    @property
    def measurement_capable(self) -> bool:
        return self.rsp_caps is not None and bool(self.rsp_caps.flags & MEAS_CAP)


@dataclass(frozen=True)
class Decoded:
    """One decoded record (or an encapsulated message inside one)."""

    record: int  # spdm_dump's record number (1-based)
    payload: bytes  # the SPDM bytes as captured (DOE padding included)
    message: Message
    ctx: CodecContext
    inner: Decoded | None = None


def _response_context(state: Negotiated, request: Message, code: int) -> CodecContext:
    ctx = state.context()
    if code in (ResponseCode.CHALLENGE_AUTH, ResponseCode.KEY_EXCHANGE_RSP, ResponseCode.PSK_EXCHANGE_RSP):
        summary = getattr(request, "measurement_summary_hash_type", 0) != 0 and state.measurement_capable
        return dataclasses.replace(ctx, measurement_summary=summary)
    if code == ResponseCode.MEASUREMENTS:
        return dataclasses.replace(ctx, signed=bool(getattr(request, "attributes", 0) & 1))
    return ctx


def _decode(record: int, payload: bytes, types: Mapping[int, type[Message]], ctx: CodecContext) -> Decoded:
    message = types[payload[1]].decode(payload, ctx, padded=True)
    return Decoded(record, payload, message, ctx)


@cache
def decoded_records(name: str) -> tuple[Decoded, ...]:
    """Every type-1 SPDM record of a capture, decoded in order with the receiver's context."""
    state = Negotiated()
    out: list[Decoded] = []
    recs = list(records(name))
    encap_request: Message | None = None  # the responder's last encapsulated request
    for req_rec, rsp_rec in zip(recs[::2], recs[1::2], strict=True):
        if req_rec.data[2] != TYPE_SPDM:
            continue
        request = _decode(req_rec.index + 1, req_rec.data[DOE_HEADER:], REQUEST_TYPES, state.context())
        if isinstance(request.message, GetCapabilities):
            state.req_caps = request.message
        elif isinstance(request.message, NegotiateAlgorithms):
            state.request = request.message
        elif isinstance(request.message, DeliverEncapsulatedResponse):
            # The requester answers the responder's request: roles swap for the inner message.
            assert encap_request is not None
            base = state.context()
            ctx = dataclasses.replace(base, signature_size=base.req_signature_size,
                                      multi_key=state.requester_multi_key)
            if isinstance(encap_request, Challenge):
                ctx = dataclasses.replace(
                    ctx, measurement_summary=encap_request.measurement_summary_hash_type != 0)
            inner = _decode(request.record, request.message.encapsulated_response, RESPONSE_TYPES, ctx)
            request = dataclasses.replace(request, inner=inner)
        out.append(request)

        response = _decode(rsp_rec.index + 1, rsp_rec.data[DOE_HEADER:], RESPONSE_TYPES,
                           _response_context(state, request.message, rsp_rec.data[DOE_HEADER + 1]))
        if isinstance(response.message, Capabilities):
            state.rsp_caps = response.message
        elif isinstance(response.message, Algorithms):
            state.selected = response.message
        elif isinstance(response.message, EncapsulatedRequest | EncapsulatedResponseAck):
            tail = response.message.encapsulated_request
            if isinstance(response.message, EncapsulatedResponseAck) and response.message.payload_type == 0:
                assert not any(tail)  # the flow is over: nothing follows but DOE padding
            else:
                inner = _decode(response.record, tail, REQUEST_TYPES, state.context())
                response = dataclasses.replace(response, inner=inner)
                encap_request = inner.message
        out.append(response)
    return tuple(out)


def _all_decoded() -> Iterator[Any]:
    for name in SETS:
        for item in decoded_records(name):
            yield pytest.param(item, id=f"{name}-{item.record}-{type(item.message).__name__}")


ALL = list(_all_decoded())


def test_every_capture_has_its_type_1_records() -> None:
    for name in SETS:
        numbers = [d.record for d in decoded_records(name)]
        type_1 = [r.index + 1 for r in records(name) if r.data[2] == TYPE_SPDM]
        assert numbers == type_1
        assert len(numbers) > 20


@pytest.mark.parametrize("item", ALL)
def test_decodes_and_reencodes_exactly(item: Decoded) -> None:
    for part in (item, item.inner):
        if part is None:
            continue
        raw = part.message.raw
        pad = part.payload[len(raw):]
        assert part.payload.startswith(raw)
        assert len(pad) < 4 and not any(pad)
        assert part.message.encode(part.ctx) == raw
        assert type(part.message).decode(raw, part.ctx) == part.message


# --- the reference decoder's view (dump.txt) -----------------------------------------------------

_LINE = re.compile(r"^(\d+) \(\d+\) PCI_DOE\(1, 1\) (REQ->RSP|RSP->REQ) (.*)$")
_SPDM = re.compile(r"SPDM\((\w\w), 0x(\w\w)\) (SPDM_\w+)")


@dataclass(frozen=True)
class DumpEntry:
    """One message as spdm_dump printed it."""

    version: int
    code: int
    name: str
    text: str  # everything after the name, up to an encapsulated message


def dump_entries(name: str) -> dict[int, tuple[str, list[DumpEntry]]]:
    """Record number -> (direction, [outer message, encapsulated message]) for the type-1 lines."""
    out: dict[int, tuple[str, list[DumpEntry]]] = {}
    for line in dump_lines(name):
        match = _LINE.match(line)
        if match is None:
            continue
        rest = match.group(3)
        found = list(_SPDM.finditer(rest))
        entries = []
        for i, spdm in enumerate(found):
            end = found[i + 1].start() if i + 1 < len(found) else len(rest)
            entries.append(DumpEntry(int(spdm.group(1), 16), int(spdm.group(2), 16), spdm.group(3),
                                     rest[spdm.end():end]))
        out[int(match.group(1))] = (match.group(2), entries)
    return out


def class_name(dump_name: str) -> str:
    """SPDM_GET_DIGESTS -> GetDigests (SPDM_ERROR -> ErrorResponse)."""
    if dump_name == "SPDM_ERROR":
        return "ErrorResponse"
    return "".join(word.capitalize() for word in dump_name.removeprefix("SPDM_").split("_"))


def _caps(m: Any) -> dict[str, int]:
    return {"Flags": m.flags, "CTExponent": m.ct_exponent, "DataTransSize": m.data_transfer_size,
            "MaxSpdmMsgSize": m.max_spdm_msg_size}


def _alg_structs(m: Any) -> dict[str, int]:
    return {"DHE": m.alg_supported(AlgType.DHE), "AEAD": m.alg_supported(AlgType.AEAD),
            "ReqAsym": m.alg_supported(AlgType.REQ_BASE_ASYM_ALG),
            "KeySchedule": m.alg_supported(AlgType.KEY_SCHEDULE)}


FIELDS: dict[str, Callable[[Any], dict[str, int]]] = {
    "SPDM_GET_CAPABILITIES": _caps,
    "SPDM_CAPABILITIES": _caps,
    "SPDM_NEGOTIATE_ALGORITHMS": lambda m: {
        "MeasSpec": m.measurement_specification, "OtherParam": m.other_params_support,
        "Hash": m.base_hash_algo, "Asym": m.base_asym_algo, "MelSpec": m.mel_specification,
        **_alg_structs(m)},
    "SPDM_ALGORITHMS": lambda m: {
        "MeasSpec": m.measurement_specification_sel, "OtherParam": m.other_params_selection,
        "Hash": m.base_hash_sel, "MeasHash": m.measurement_hash_algo, "Asym": m.base_asym_sel,
        "MelSpec": m.mel_specification_sel, **_alg_structs(m)},
    "SPDM_DIGESTS": lambda m: {"ProvisionedSlotMask": m.provisioned_slot_mask,
                               "SupportedSlotMask": m.supported_slot_mask},
    "SPDM_GET_CERTIFICATE": lambda m: {"SlotID": m.slot_id, "Attr": m.attributes, "Offset": m.offset,
                                       "Length": m.length},
    "SPDM_CERTIFICATE": lambda m: {"SlotID": m.slot_id, "Attr": m.certificate_info,
                                   "PortLen": len(m.cert_chain), "RemLen": m.remainder_length},
    "SPDM_CHALLENGE": lambda m: {"SlotID": m.slot_id, "HashType": m.measurement_summary_hash_type},
    "SPDM_CHALLENGE_AUTH": lambda m: {"Attr": m.attributes, "SlotID": m.slot_id, "SlotMask": m.slot_mask},
    "SPDM_GET_MEASUREMENTS": lambda m: {"Attr": m.attributes, "MeasOp": m.operation, "SlotID": m.slot_id},
    "SPDM_MEASUREMENTS": lambda m: {"NumOfBlocks": len(m.blocks), "MeasRecordLen": len(m.measurement_record),
                                    "TotalMeasIndex": m.total_indices, "SlotID": m.slot_id,
                                    "ContentChange": m.attributes & 0x30},
    "SPDM_ERROR": lambda m: {"ErrCode": m.error_code, "ErrData": m.error_data},
    "SPDM_KEY_EXCHANGE": lambda m: {"HashType": m.measurement_summary_hash_type, "SlotID": m.slot_id,
                                    "ReqSessionID": m.req_session_id, "Policy": m.session_policy},
    "SPDM_KEY_EXCHANGE_RSP": lambda m: {"Heart": m.heartbeat_period, "RspSessionID": m.rsp_session_id,
                                        "MutAuth": m.mut_auth_requested, "ReqSlotID": m.req_slot_id},
    "SPDM_FINISH": lambda m: {"Attr": m.attributes, "ReqSlotID": m.req_slot_id},
    "SPDM_PSK_EXCHANGE": lambda m: {"HashType": m.measurement_summary_hash_type,
                                    "ReqSessionID": m.req_session_id, "Policy": m.session_policy},
    "SPDM_PSK_EXCHANGE_RSP": lambda m: {"Heart": m.heartbeat_period, "RspSessionID": m.rsp_session_id},
    "SPDM_ENCAPSULATED_REQUEST": lambda m: {"ReqID": m.request_id},
    "SPDM_DELIVER_ENCAPSULATED_RESPONSE": lambda m: {"ReqID": m.request_id},
    "SPDM_ENCAPSULATED_RESPONSE_ACK": lambda m: {"ReqID": m.request_id, "AckReqID": m.ack_request_id},
}
_HEX_FIELD = re.compile(r"(\w+)=0x([0-9a-f]+)")


def _dumped_fields(text: str) -> dict[str, int]:
    """``Key=0x..`` pairs (first value of a list); Attr's own parenthesis may name SlotID too."""
    fields: dict[str, int] = {}
    for key, value in _HEX_FIELD.findall(text):
        fields.setdefault(key, int(value, 16))
    return fields


def _dumped_list(text: str, key: str, until: str) -> list[int]:
    segment = text.split(f"{key}=", 1)[1].split(until, 1)[0]
    return [int(v, 16) for v in re.findall(r"0x([0-9a-f]+)", segment)]


def _check_against_dump(entry: DumpEntry, message: Message) -> int:
    """Compare one message with its dump entry; return how many fields were compared."""
    assert type(message).__name__ == class_name(entry.name)
    assert (message.spdm_version, type(message).CODE) == (entry.version, entry.code)
    expected = FIELDS.get(entry.name, lambda m: {})(message)
    dumped = _dumped_fields(entry.text)
    compared = 0
    for key, value in dumped.items():
        if key in expected:
            assert expected[key] == value, f"{entry.name} {key}: ours {expected[key]:#x}, dump {value:#x}"
            compared += 1
    if entry.name == "SPDM_VERSION":
        shown = re.findall(r"(\d+)\.(\d+)\.(\d+)\.(\d+)", entry.text)
        assert isinstance(message, Version)
        ours = [(e >> 12, e >> 8 & 0xF, e >> 4 & 0xF, e & 0xF) for e in message.version_entries]
        assert [tuple(int(x) for x in v) for v in shown] == ours
        compared += len(ours)
    if entry.name == "SPDM_PSK_EXCHANGE":
        assert isinstance(message, PskExchange)
        hint = re.search(r"PSKHint=([0-9a-f]+)", entry.text)
        assert hint is not None and bytes.fromhex(hint.group(1)) == message.psk_hint
        compared += 1
    if entry.name == "SPDM_DIGESTS" and "KeyPairId=" in entry.text:
        assert isinstance(message, Digests)
        assert _dumped_list(entry.text, "KeyPairId", "CertInfo") == list(message.key_pair_ids)
        assert _dumped_list(entry.text, "CertInfo", "KeyUsage") == list(message.certificate_infos)
        usage = [v for v in _dumped_list(entry.text, "KeyUsage", "\0")]
        assert usage == list(message.key_usage_masks)
        compared += 3
    if entry.name == "SPDM_ENCAPSULATED_RESPONSE_ACK" and "(Done)" in entry.text:
        assert isinstance(message, EncapsulatedResponseAck) and message.payload_type == 0
    return compared


@pytest.mark.parametrize("name", SETS)
def test_every_record_matches_the_reference_decoder(name: str) -> None:
    dump = dump_entries(name)
    ours = {d.record: d for d in decoded_records(name)}
    assert sorted(dump) == sorted(ours)
    compared = 0
    for record, (direction, entries) in dump.items():
        item = ours[record]
        is_request = type(item.message) in REQUEST_TYPES.values()
        assert (direction == "REQ->RSP") == is_request
        compared += _check_against_dump(entries[0], item.message)
        assert len(entries) == (2 if item.inner is not None else 1), record
        if item.inner is not None:
            compared += _check_against_dump(entries[1], item.inner.message)
    assert compared > 3 * len(dump) // 2  # most records have fields to compare, and they were compared


def test_key_fields_known_from_the_dump() -> None:
    """A few values read off dump.txt by hand, so the field comparison cannot silently compare nothing."""
    by_record = {d.record: d.message for d in decoded_records("spdm12-p384")}
    assert isinstance(digests := by_record[14], Digests) and digests.provisioned_slot_mask == 0x03
    assert isinstance(certificate := by_record[16], Certificate) and len(certificate.cert_chain) == 0x637
    assert isinstance(caps := by_record[10], Capabilities) and caps.data_transfer_size == 0x1200
    multi = {d.record: d for d in decoded_records("spdm13-p384-mutauth-psk")}
    assert isinstance(digests := multi[14].message, Digests) and digests.key_pair_ids == (5, 5, 0x11)
    inner = multi[23].inner
    assert inner is not None and isinstance(digests := inner.message, Digests)
    assert digests.key_pair_ids == (0xB0, 0xB1, 0xB2)
    assert isinstance(measurements := multi[36].message, Measurements)
    assert measurements.attributes & 0x30 == 0x20 and len(measurements.measurement_record) == 0x1C0


def test_context_derivation() -> None:
    """The contexts really differ between captures (else the decodes above would prove little)."""
    contexts = {name: Negotiated() for name in SETS}
    for name in SETS:
        for d in decoded_records(name):
            m = d.message
            if isinstance(m, GetCapabilities):
                contexts[name].req_caps = m
            elif isinstance(m, Capabilities):
                contexts[name].rsp_caps = m
            elif isinstance(m, NegotiateAlgorithms):
                contexts[name].request = m
            elif isinstance(m, Algorithms):
                contexts[name].selected = m
    p256 = contexts["spdm11-p256"].context()
    assert (p256.hash_size, p256.signature_size, p256.dhe_size, p256.multi_key) == (32, 64, 64, False)
    p384 = contexts["spdm12-p384"].context()
    assert (p384.hash_size, p384.signature_size, p384.dhe_size, p384.req_signature_size) == (48, 96, 96, 384)
    multi = contexts["spdm13-p384-mutauth-psk"]
    assert multi.context().multi_key and multi.requester_multi_key
    assert all(c.context().handshake_in_the_clear for c in contexts.values())
    assert RequestCode.FINISH in {d.message.raw[1] for d in decoded_records("spdm13-p384-mutauth-psk")}
