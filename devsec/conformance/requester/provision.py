"""Provisioning cases (SPDM 1.2+ GET_CSR / SET_CERTIFICATE): the requester under test provisions a device.

The device here is a blank provisionable one
(:func:`.blank_device.provisionable`): it offers CSR_CAP and SET_CERT_CAP,
holds one key pair (slot 0's leaf key of the identity ``conformance serve``
was given, so ``{chain}`` is a chain it accepts) and no slot.  ``devsec
provision csr tcp://{host}:{port}`` and ``devsec provision install
tcp://{host}:{port} --slot 1 --chain {chain}`` are the requesters these
cases are written for; a requester that never sends GET_CSR (or
SET_CERTIFICATE) has the cases about it skipped, saying so.

Decisions where DSP0274 leaves room:

* The device has no MULTI_KEY_CAP, so no connection is multi-key: KeyPairID
  and CertModel must be 0 (DSP0274 1.3 §10.23-10.24: both are meaningful
  only with MULTI_KEY_CONN; libspdm's requester refuses other values).
* A CSR "not signed by the device's key pair" is judged as one whose
  signature does not verify under the public key it carries.  A well-signed
  CSR of another key cannot be told apart at this point by a requester that
  knows nothing of the blank device's key (it would need KEY_PAIR_INFO's
  PublicKeyInfo, which this device does not offer); the device refuses the
  chain issued for it at SET_CERTIFICATE.
* ResetRequired: the device of ``requester.provision.reset-required`` never
  resets within a run.  A requester may report that as it likes (devsec exits
  non-zero with "ask again with --tracking-tag"), but must exit in bounded
  time, and any GET_CSR it repeats must carry the CSRTrackingTag it was given
  (a new GET_CSR with tag 0 only piles up pending CSRs, DSP0274 1.3 §10.23).
"""

from __future__ import annotations

from collections.abc import Callable

from spdm.backend import ResponderBackend
from spdm.config import ResponderConfig
from spdm.crypto import digest
from spdm.device import DeviceModel
from spdm.errors import DecodeError, SpdmErrorCode
from spdm.messages import Algorithms, ErrorResponse, GetCsr, SetCertificate
from spdm.messages.codes import BaseHashAlgo, RequestCode, ResponseCode

from ..context import Exchange
from .adversarial import Rewrite, refused_once_reached
from .blank_device import PROVISIONING_CAPS, provisionable
from .chunking import whole_requests
from .context import RequesterContext, RequesterRun
from .registry import case

__all__ = [
    "CSR_CLAUSE", "SET_CLAUSE", "csr_bad_signature", "csr_length_lies", "csr_not_pkcs10", "get_csr",
    "reset_required", "set_certificate",
    "set_certificate_other_slot", "without_cap",
]
"""The case judges (registered with :func:`.registry.case`; run them through the runner)."""

CSR_CLAUSE = "DSP0274 1.3 §10.23, Tables 73-75"
SET_CLAUSE = "DSP0274 1.3 §10.24, Tables 76-80"
_CSR_LENGTH = 4
"""CSR: header (4), CSRLength (2) at offset 4, Reserved (2), the CSR at 8."""
_CSR = 8
_SLOT_MASK = 0x0F
_MODEL_SHIFT, _MODEL_MASK, _ERASE = 4, 0x07, 0x80
"""SET_CERTIFICATE Param1: SlotID b[3:0], CertModel b[6:4], Erase b7 (GET_CSR's CertModel is b[2:0])."""
_TAG_SHIFT, _TAG_MASK = 3, 0x07
"""GET_CSR RequestAttributes (1.3): CertModel b[2:0], CSRTrackingTag b[5:3], Overwrite b7."""
_OVERWRITE = 0x80


def _setup(*, reset: bool = False) -> Callable[[ResponderConfig, DeviceModel],
                                              tuple[ResponderConfig, ResponderBackend]]:
    return lambda config, model: provisionable(config, model, reset=reset)


def _hash_alg(run: RequesterRun) -> BaseHashAlgo | None:
    """The hash the device's ALGORITHMS selected (None: no ALGORITHMS)."""
    answered = run.requests(RequestCode.NEGOTIATE_ALGORITHMS)
    try:
        return BaseHashAlgo(Algorithms.decode(answered[0].response, padded=True).base_hash_sel) \
            if answered else None
    except (DecodeError, ValueError):
        return None


def _sent(ctx: RequesterContext, code: RequestCode) -> list[tuple[RequesterRun, Exchange]]:
    """Every whole ``code`` request of every run (reassembled from CHUNK_SEND, with the response to the
    whole); skips when there is none."""
    found = [(run, exchange) for run in ctx.runs for exchange in whole_requests(run)
             if exchange.request[1:2] == bytes([code])]
    if not found:
        ctx.skip(f"the requester never sent {code.name}")
    return found


def _fields_of_13(ctx: RequesterContext, what: str, version: int, key_pair_id: int, cert_model: int,
                  exchange: Exchange) -> None:
    """KeyPairID and CertModel are 1.3 fields that need MULTI_KEY_CONN, which this device never grants."""
    ctx.equal(f"{what}: KeyPairID is 0 (no multi-key connection{'' if version >= 0x13 else '; reserved'})",
              0, key_pair_id, exchange=exchange)
    ctx.equal(f"{what}: CertModel is 0 (no multi-key connection{'' if version >= 0x13 else '; reserved'})",
              0, cert_model, exchange=exchange)


@case("requester.provision.get-csr", "GET_CSR is at SPDM 1.2 or later, its RequesterInfo and OpaqueData "
      "lengths match the message, KeyPairID and CertModel are 0 without a multi-key connection, and a "
      "CSRTrackingTag only repeats one the device gave",
      CSR_CLAUSE, device=_setup())
def get_csr(ctx: RequesterContext) -> None:
    for run in ctx.runs:
        ctx.succeeded(run)
    for _, exchange in _sent(ctx, RequestCode.GET_CSR):
        request = exchange.request
        version = request[0]
        ctx.check("GET_CSR is sent at SPDM 1.2 or later", version >= 0x12, expected=">= 0x12",
                  actual=f"0x{version:02x}", exchange=exchange)
        try:
            message = GetCsr.decode(request, padded=True)
        except DecodeError as exc:
            ctx.check("GET_CSR is well formed (RequesterInfoLength and OpaqueDataLength match)", False,
                      expected="the lengths the message carries", actual=str(exc), exchange=exchange)
            continue
        _fields_of_13(ctx, "GET_CSR", version, message.key_pair_id, message.attributes & _MODEL_MASK,
                      exchange)
        if version < 0x13:
            ctx.equal("GET_CSR RequestAttributes are 0 before 1.3 (reserved)", 0, message.attributes,
                      exchange=exchange)
        else:
            tag = message.attributes >> _TAG_SHIFT & _TAG_MASK
            ctx.equal("GET_CSR carries no CSRTrackingTag the device did not give (it gave none)", 0, tag,
                      exchange=exchange)
        ctx.equal("the healthy device answers it with a CSR", f"0x{ResponseCode.CSR:02x}",
                  f"0x{exchange.response[1]:02x}", exchange=exchange)


@case("requester.provision.set-certificate", "SET_CERTIFICATE is at SPDM 1.2 or later, names a slot 0-7, "
      "KeyPairID and CertModel 0 without a multi-key connection, Erase only at 1.3, and carries an SPDM "
      "chain whose Length and RootHash are right",
      SET_CLAUSE + "; §10.7 Table 33", device=_setup())
def set_certificate(ctx: RequesterContext) -> None:
    for run in ctx.runs:
        ctx.succeeded(run)
    for run, exchange in _sent(ctx, RequestCode.SET_CERTIFICATE):
        request = exchange.request
        version = request[0]
        ctx.check("SET_CERTIFICATE is sent at SPDM 1.2 or later", version >= 0x12, expected=">= 0x12",
                  actual=f"0x{version:02x}", exchange=exchange)
        attributes = request[2] if len(request) > 2 else 0
        ctx.check("SET_CERTIFICATE names a slot 0-7", attributes & _SLOT_MASK <= 7, expected="0-7",
                  actual=attributes & _SLOT_MASK, exchange=exchange)
        _fields_of_13(ctx, "SET_CERTIFICATE", version, request[3] if len(request) > 3 else 0,
                      attributes >> _MODEL_SHIFT & _MODEL_MASK, exchange)
        if version < 0x13:
            ctx.equal("SET_CERTIFICATE has no Erase before 1.3", 0, attributes & _ERASE, exchange=exchange)
        try:
            message = SetCertificate.decode(request, padded=True)
        except DecodeError as exc:
            ctx.check("SET_CERTIFICATE is well formed (the chain's Length matches)", False,
                      expected="the length the chain carries", actual=str(exc), exchange=exchange)
            continue
        hash_alg = _hash_alg(run)
        if message.cert_chain is not None and hash_alg is not None:
            _check_root_hash(ctx, message.cert_chain, hash_alg, exchange)
        ctx.equal("the healthy device accepts it", f"0x{ResponseCode.SET_CERTIFICATE_RSP:02x}",
                  f"0x{exchange.response[1]:02x}", exchange=exchange)


def _check_root_hash(ctx: RequesterContext, chain: bytes, hash_alg: BaseHashAlgo, exchange: Exchange) -> None:
    """The chain's RootHash (after Length and Reserved) is the hash of its first certificate's DER."""
    size = len(digest(hash_alg, b""))
    certificates = chain[4 + size:]
    first = _der_length(certificates)
    ctx.check("the chain's RootHash is the hash of its first certificate", first is not None
              and chain[4:4 + size] == digest(hash_alg, certificates[:first]),
              expected=f"{hash_alg.name} of the first certificate", actual=chain[4:4 + size].hex(),
              exchange=exchange, reference="DSP0274 1.3 §10.7 Table 33")


def _der_length(data: bytes) -> int | None:
    """The size of the DER element ``data`` starts with (None: not one)."""
    if len(data) < 2 or data[0] != 0x30:
        return None
    if data[1] < 0x80:
        return 2 + data[1]
    count = data[1] & 0x7F
    if not 1 <= count <= 4 or len(data) < 2 + count:
        return None
    return 2 + count + int.from_bytes(data[2:2 + count], "big")


@case("requester.provision.without-cap", "GET_CSR and SET_CERTIFICATE go only to a device with CSR_CAP / "
      "SET_CERT_CAP (the device here has neither)", "DSP0274 1.3 §10.4 Table 11, §10.23-10.24",
      device=_setup(), without=PROVISIONING_CAPS)
def without_cap(ctx: RequesterContext) -> None:
    for run in ctx.runs:
        if not run.requests(RequestCode.NEGOTIATE_ALGORITHMS):
            ctx.skip("the requester did not reach NEGOTIATE_ALGORITHMS, after which it would provision")
        sent = [e for e in whole_requests(run)
                if e.request[1:2] in (bytes([RequestCode.GET_CSR]), bytes([RequestCode.SET_CERTIFICATE]))]
        ctx.check("no provisioning request goes to a device without CSR_CAP and SET_CERT_CAP", not sent,
                  expected="no GET_CSR or SET_CERTIFICATE", actual=f"{len(sent)} such request(s)",
                  exchange=sent[0] if sent else run.last_clear)


def _csr_end(response: bytes) -> int:
    return _CSR + int.from_bytes(response[_CSR_LENGTH:_CSR_LENGTH + 2], "little")


def _csr_overstated(request: bytes, response: bytes) -> bytes:
    length = int.from_bytes(response[_CSR_LENGTH:_CSR_LENGTH + 2], "little") + 16
    return response[:_CSR_LENGTH] + length.to_bytes(2, "little") + response[_CSR_LENGTH + 2:]


def _not_pkcs10(request: bytes, response: bytes) -> bytes:
    """The CSR becomes a DER SEQUENCE (two length bytes) of the same size holding no PKCS#10 request;
    CSRLength stays right."""
    end = _csr_end(response)
    body = end - _CSR - 4
    return response[:_CSR] + b"\x30\x82" + body.to_bytes(2, "big") + b"\x04" * body + response[end:]


def _flip_csr_signature(request: bytes, response: bytes) -> bytes:
    # The CSR's signature BIT STRING ends the DER; 10 bytes before its end is inside any signature.
    offset = _csr_end(response) - 10
    return response[:offset] + bytes([response[offset] ^ 0x01]) + response[offset + 1:]


@case("requester.provision.csr-length-lies", "A CSR response whose CSRLength claims 16 bytes more than it "
      "carries is refused", CSR_CLAUSE, device=_setup(),
      misbehaviour=lambda: Rewrite(RequestCode.GET_CSR, _csr_overstated))
def csr_length_lies(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "CSRLength runs past the CSR response", "GET_CSR")


@case("requester.provision.csr-not-pkcs10", "A CSR response whose CSR is well-framed DER but no PKCS#10 "
      "request is refused", CSR_CLAUSE + " (a DER PKCS#10 request)", device=_setup(),
      misbehaviour=lambda: Rewrite(RequestCode.GET_CSR, _not_pkcs10))
def csr_not_pkcs10(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "the CSR is not a PKCS#10 request", "GET_CSR")


@case("requester.provision.csr-bad-signature", "A CSR whose signature does not verify under the key it "
      "carries (the device's key pair) is refused", CSR_CLAUSE + "; RFC 2986 §4.2",
      device=_setup(), misbehaviour=lambda: Rewrite(RequestCode.GET_CSR, _flip_csr_signature))
def csr_bad_signature(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "the CSR's signature does not verify", "GET_CSR")


def _other_slot(request: bytes, response: bytes) -> bytes:
    return response[:2] + bytes([response[2] ^ 0x01]) + response[3:]


@case("requester.provision.set-certificate-other-slot", "A SET_CERTIFICATE_RSP naming another slot than "
      "the one written is refused", SET_CLAUSE, device=_setup(),
      misbehaviour=lambda: Rewrite(RequestCode.SET_CERTIFICATE, _other_slot))
def set_certificate_other_slot(ctx: RequesterContext) -> None:
    refused_once_reached(ctx, "SET_CERTIFICATE_RSP names another slot", "SET_CERTIFICATE")


def _reset_tag(exchange: Exchange) -> int | None:
    """The CSRTrackingTag a ResetRequired answer gives, or None for any other answer."""
    try:
        error = ErrorResponse.decode(exchange.response, padded=True)
    except DecodeError:
        return None
    return error.error_data if error.error_code == SpdmErrorCode.RESET_REQUIRED else None


@case("requester.provision.reset-required", "A device whose CSR needs a reset (ResetRequired with a "
      "CSRTrackingTag; it never resets during the run) is left in bounded time, and a repeated GET_CSR "
      "carries the tag it gave", CSR_CLAUSE + "; ERROR ResetRequired",
      device=_setup(reset=True))
def reset_required(ctx: RequesterContext) -> None:
    asked = False
    for run in ctx.runs:
        csrs = run.requests(RequestCode.GET_CSR)
        tags = [_reset_tag(e) for e in csrs]
        if not any(t is not None for t in tags):
            continue
        asked = True
        ctx.check("the requester exits in bounded time", run.status is not None, expected="an exit",
                  actual=f"{run.status_text}; {run.output}", exchange=run.last_clear)
        given: int | None = None
        for exchange, tag in zip(csrs, tags, strict=True):
            if given is not None and exchange.request[0] >= 0x13 and len(exchange.request) > 3:
                attributes = exchange.request[3]
                ctx.check("a GET_CSR after ResetRequired carries the CSRTrackingTag given (or Overwrite)",
                          attributes >> _TAG_SHIFT & _TAG_MASK == given or bool(attributes & _OVERWRITE),
                          expected=f"CSRTrackingTag {given}",
                          actual=f"CSRTrackingTag {attributes >> _TAG_SHIFT & _TAG_MASK}", exchange=exchange)
            if tag:
                given = tag
    if not asked:
        ctx.skip("the requester never sent GET_CSR (no ResetRequired to handle)")
