"""Responders with one authentication rule broken: certificates, CHALLENGE_AUTH, MEASUREMENTS, VERSION.

Two kinds, as in :mod:`.devices`: transport mutants rewrite the healthy
emulator's answers (:class:`.devices.Mutant`), and model mutants are the
emulator itself built from a faulty :class:`~spdm.device.DeviceModel` (a chain
breaking a certificate rule, a key that signs a transcript one byte short),
for faults a rewrite of the bytes cannot make without breaking more rules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from devsec.emulator import EmulatedDevice
from spdm.codec import CodecContext
from spdm.config import ResponderConfig
from spdm.crypto import DeviceIdentity, generate_device_identity
from spdm.device import DeviceModel
from spdm.errors import SpdmErrorCode
from spdm.messages import Measurements
from spdm.messages.codes import BaseAsymAlgo, BaseHashAlgo, SpdmVersion
from spdm.requester import CHALLENGE_CONTEXT, MEASUREMENTS_CONTEXT
from spdm.transport import DoeTransport

from .devices import (
    CERTIFICATE,
    CHALLENGE,
    CHALLENGE_AUTH,
    DIGESTS,
    GET_CERTIFICATE,
    GET_MEASUREMENTS,
    GET_VERSION,
    MEASUREMENTS,
    SHA384_SIZE,
    Mutant,
    MutantState,
    _accept_instead,
    _error,
    _flip,
    _when,
    device_model,
    mutant_factory,
    mutant_factory_on,
)

__all__ = [
    "AUTH_MUTANTS", "MODEL_MUTANTS", "TWO_SLOT_MUTANTS", "ModelMutant", "auth_mutant_factory",
    "two_slot_device",
]

ASYM = BaseAsymAlgo.ECDSA_P384
NONCE_SIZE = 32
SHA256_SIZE = 32
EXTRA = 100


@cache
def _two_slot_model() -> DeviceModel:
    return DeviceModel.generate(ASYM, slots=(0, 1))


def two_slot_device() -> EmulatedDevice:
    """The emulator with chains in slots 0 and 1 (every-slot rules need a second slot)."""
    return EmulatedDevice(ResponderConfig(), _two_slot_model())


@dataclass(frozen=True)
class ModelMutant:
    """The emulator built from a device model with one rule broken.

    Attributes:
        name: what is broken.
        catches: the id of the case that must fail on it.
        model: builds the faulty model.
    """

    name: str
    catches: str
    model: Callable[[], DeviceModel]

    def factory(self) -> Callable[[], DoeTransport]:
        """Opens fresh transports to the faulty device."""
        return EmulatedDevice(ResponderConfig(), self.model()).pipe


class _ShortSigner(DeviceModel):
    """A model whose key signs one context's transcript without its last byte."""

    context = ""

    def sign(self, slot_id: int, hash_alg: BaseHashAlgo, version: SpdmVersion, context: str,
             transcript: bytes) -> bytes:
        short = transcript[:-1] if context == self.context else transcript
        return super().sign(slot_id, hash_alg, version, context, short)


def _short_signer(context: str) -> DeviceModel:
    model = device_model()
    signer = type(f"ShortSigner{len(context)}", (_ShortSigner,), {"context": context})
    faulty: DeviceModel = signer(model.slots, model.measurements)
    return faulty


class _PrefixlessSigner(DeviceModel):
    """A model whose key signs CHALLENGE_AUTH the 1.0/1.1 way at every version (no 1.2+ signing prefix)."""

    def sign(self, slot_id: int, hash_alg: BaseHashAlgo, version: SpdmVersion, context: str,
             transcript: bytes) -> bytes:
        if context == CHALLENGE_CONTEXT:
            version = min(version, SpdmVersion.V11)
        return super().sign(slot_id, hash_alg, version, context, transcript)


def _expired() -> DeviceModel:
    start = datetime.now(UTC) - timedelta(days=30)
    return DeviceModel({0: generate_device_identity(ASYM, not_before=start, valid_days=10)})


def _foreign_leaf() -> DeviceModel:
    ours, theirs = generate_device_identity(ASYM), generate_device_identity(ASYM)
    identity = DeviceIdentity(certificates=(*ours.certificates[:2], theirs.leaf), leaf_key=theirs.leaf_key)
    return DeviceModel({0: identity})


MODEL_MUTANTS = (
    ModelMutant("leaf EKU permits only requester authentication", "spdm.certificate.leaf-rules",
                lambda: DeviceModel.generate(ASYM, role="requester")),
    ModelMutant("chain expired", "spdm.certificate.leaf-rules", _expired),
    ModelMutant("leaf not signed by the intermediate before it", "spdm.certificate.leaf-rules",
                _foreign_leaf),
    ModelMutant("CHALLENGE_AUTH signed over M1 missing its last byte", "spdm.challenge.slots-and-summaries",
                lambda: _short_signer(CHALLENGE_CONTEXT)),
    ModelMutant("CHALLENGE_AUTH signed without the 1.2+ prefix", "spdm.challenge.slots-and-summaries",
                lambda: _PrefixlessSigner(device_model().slots, device_model().measurements)),
    ModelMutant("MEASUREMENTS signed over L1 missing its last byte", "spdm.measurements.signed",
                lambda: _short_signer(MEASUREMENTS_CONTEXT)),
)
"""The model mutants, each with the case that must catch it."""


def _summary_flipped(request: bytes, response: bytes) -> bytes:
    return _flip(response, 4 + SHA384_SIZE + NONCE_SIZE) if request[3] == 0xFF else response


def _other_slots_hash(state: MutantState, request: bytes, response: bytes) -> bytes:
    digests = state.good.get((DIGESTS, request[0]))
    if request[1] == CHALLENGE and response[1] == CHALLENGE_AUTH and request[2] & 0x0F == 1 and digests:
        return response[:4] + digests[4:4 + SHA384_SIZE] + response[4 + SHA384_SIZE:]
    return response


def _unsigned(change: Callable[[Measurements], Measurements]) -> Callable[[bytes, bytes], bytes]:
    """Rewrite an unsigned MEASUREMENTS carrying blocks through the codec (the healthy device: SHA-384)."""
    codec = CodecContext(hash_size=SHA384_SIZE)

    def rewrite(request: bytes, response: bytes) -> bytes:
        if request[2] & 1 or not response[4]:
            return response
        return change(Measurements.decode(response, codec, padded=True)).encode(codec)
    return rewrite


def _short_digest(response: Measurements) -> Measurements:
    first, *rest = response.blocks
    if first.raw_bit_stream:
        return response
    return dataclasses.replace(response, blocks=(dataclasses.replace(first, value=first.value[:SHA256_SIZE]),
                                                 *rest))


def _measurement_size_plus_one(request: bytes, response: bytes) -> bytes:
    if not response[4]:
        return response
    size = int.from_bytes(response[10:12], "little") + 1
    return response[:10] + size.to_bytes(2, "little") + response[12:]


def _fixed_measurement_nonce(request: bytes, response: bytes) -> bytes:
    if not request[2] & 1:
        return response
    start = 8 + int.from_bytes(response[5:8], "little")
    return response[:start] + bytes(range(NONCE_SIZE)) + response[start + NONCE_SIZE:]


def _portion_too_long(request: bytes, response: bytes) -> bytes:
    portion, remainder = int.from_bytes(response[4:6], "little"), int.from_bytes(response[6:8], "little")
    if int.from_bytes(request[6:8], "little") != 1 or portion != 1 or not remainder:
        return response
    sizes = (2).to_bytes(2, "little") + (remainder - 1).to_bytes(2, "little")
    return response[:4] + sizes + response[8:9] + b"\0"


def _slot_size_plus_one(request: bytes, response: bytes) -> bytes:
    if not request[3] & 1:
        return response
    remainder = int.from_bytes(response[6:8], "little") + 1
    return response[:6] + remainder.to_bytes(2, "little") + response[8:]


def _transfer_size_ignored(request: bytes, response: bytes) -> bytes:
    """Answer a Length 0xFFFF capped to the requester's DataTransferSize with 100 bytes more."""
    portion, remainder = int.from_bytes(response[4:6], "little"), int.from_bytes(response[6:8], "little")
    if int.from_bytes(request[6:8], "little") != 0xFFFF or remainder < EXTRA:
        return response
    sizes = (portion + EXTRA).to_bytes(2, "little") + (remainder - EXTRA).to_bytes(2, "little")
    return response[:4] + sizes + response[8:8 + portion] + bytes(EXTRA)


def _end_offset_answered(state: MutantState, request: bytes, response: bytes) -> bytes:
    asks_one = request[1] == GET_CERTIFICATE and int.from_bytes(request[6:8], "little") == 1
    if asks_one and response[1] == 0x7F and int.from_bytes(request[4:6], "little"):
        return bytes([request[0], CERTIFICATE, request[2] & 0x0F, 0]) + bytes(4)
    return response


def _not_an_opaque_table(response: Measurements) -> Measurements:
    if response.spdm_version < 0x12:
        return response
    return dataclasses.replace(response, opaque_data=b"\x01\x02\x03")


def _raw_request_with_other_type(request: bytes, response: bytes) -> bytes:
    """Answer RawBitStreamRequested with the first block's value type changed (still raw)."""
    if not request[2] & 0x02 or not response[4]:
        return response
    return response[:12] + bytes([response[12] ^ 0x01]) + response[13:]


def _signed_by_empty_slot(state: MutantState, request: bytes) -> bool:
    return bool(request[2] & 1) and len(request) > 36 and request[36] & 0x0F != 0


AUTH_MUTANTS = (
    Mutant("GET_VERSION with reserved fields set refused", "spdm.version.reserved-fields",
           lambda s, q, r: _error(SpdmErrorCode.INVALID_REQUEST)
           if q[1] == GET_VERSION and q[2:4] != b"\0\0" else r),
    Mutant("CERTIFICATE PortionLength exceeds the requested Length", "spdm.certificate.boundaries",
           _when(GET_CERTIFICATE, CERTIFICATE, _portion_too_long)),
    Mutant("CERTIFICATE ignores the requester's DataTransferSize", "spdm.certificate.transfer-cap",
           _when(GET_CERTIFICATE, CERTIFICATE, _transfer_size_ignored)),
    Mutant("SlotSizeRequested answered with a size one too large", "spdm.certificate.slot-size",
           _when(GET_CERTIFICATE, CERTIFICATE, _slot_size_plus_one)),
    Mutant("CERTIFICATE Param2 CertificateInfo 1 without MULTI_KEY_CONN (1.3)", "spdm.certificate.every-slot",
           _when(GET_CERTIFICATE, CERTIFICATE, lambda q, r: r[:3] + b"\x01" + r[4:] if r[0] >= 0x13 else r)),
    Mutant("GET_CERTIFICATE at Offset = chain size answered", "spdm.certificate.boundaries",
           _end_offset_answered),
    Mutant("CHALLENGE_AUTH summary hash (type 0xFF) wrong", "spdm.challenge.slots-and-summaries",
           _when(CHALLENGE, CHALLENGE_AUTH, _summary_flipped)),
    Mutant("CHALLENGE with a reserved summary type answered", "spdm.challenge.invalid-summary-type",
           _accept_instead(CHALLENGE, CHALLENGE_AUTH, when=lambda s, q: q[3] == 0x02)),
    Mutant("CHALLENGE of an empty slot answered", "spdm.challenge.invalid-slot",
           _accept_instead(CHALLENGE, CHALLENGE_AUTH, when=lambda s, q: q[2] & 0x0F != 0)),
    Mutant("MeasurementSize off by one", "spdm.measurements.block-rules",
           _when(GET_MEASUREMENTS, MEASUREMENTS, _measurement_size_plus_one)),
    Mutant("a digest block of SHA-256 size under SHA-384", "spdm.measurements.block-rules",
           _when(GET_MEASUREMENTS, MEASUREMENTS, _unsigned(_short_digest))),
    Mutant("RawBitStreamRequested answered with another value type", "spdm.measurements.raw-requested",
           _when(GET_MEASUREMENTS, MEASUREMENTS, _raw_request_with_other_type)),
    Mutant("signed MEASUREMENTS reuse one nonce", "spdm.measurements.signed-fresh",
           _when(GET_MEASUREMENTS, MEASUREMENTS, _fixed_measurement_nonce)),
    Mutant("unsigned MEASUREMENTS carry signature bytes", "spdm.measurements.unsigned-no-signature",
           _when(GET_MEASUREMENTS, MEASUREMENTS, lambda q, r: r if q[2] & 1 else r + bytes(96))),
    Mutant("MEASUREMENTS opaque data not a general opaque table (1.2+)", "spdm.measurements.opaque",
           _when(GET_MEASUREMENTS, MEASUREMENTS, _unsigned(_not_an_opaque_table))),
    Mutant("signed GET_MEASUREMENTS naming an empty slot answered", "spdm.measurements.invalid-signing-slot",
           _accept_instead(GET_MEASUREMENTS, MEASUREMENTS, when=_signed_by_empty_slot)),
)
"""The transport mutants of the healthy device, each with the case that must catch it."""

TWO_SLOT_MUTANTS = (
    Mutant("CHALLENGE_AUTH for slot 1 carries slot 0's CertChainHash", "spdm.challenge.slots-and-summaries",
           _other_slots_hash),
)
"""Transport mutants of :func:`two_slot_device`."""


def auth_mutant_factory(mutant: Mutant) -> Callable[[], DoeTransport]:
    """Opens fresh transports to a transport mutant (of the two-slot device for :data:`TWO_SLOT_MUTANTS`)."""
    if mutant in TWO_SLOT_MUTANTS:
        return mutant_factory_on(two_slot_device(), mutant)
    return mutant_factory(mutant)
