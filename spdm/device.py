"""The emulated device: the default :class:`~spdm.backend.ResponderBackend`.

A :class:`DeviceModel` holds what a real device keeps in ROM and fuses: one
certificate chain and signing key per slot, and the firmware and
configuration it measures (libspdm's ``spdm_device_secret_lib_sample`` plays
this part for spdm-emu).  The responder engine asks it for chains, signatures
and measurement blocks and never sees a private key.

Models are immutable; :meth:`DeviceModel.with_measurement` returns a changed
copy, which is how tests "alter the firmware" and watch attestation notice.
"""

from __future__ import annotations

import base64
import logging
import struct
from collections.abc import Mapping, Sequence
from dataclasses import field, replace
from types import MappingProxyType
from typing import Literal

from .crypto import (
    Certificate,
    DeviceIdentity,
    SigningAlgo,
    asym_fields,
    build_spdm_cert_chain,
    generate_device_identity,
    load_certificates,
    load_private_key_pem,
    measurement_digest,
    sign,
)
from .device_endpoint import EndpointData, KeyPair
from .errors import ConfigurationError, LocalProtocolError, VerificationError
from .messages import MeasurementBlock
from .messages.codes import (
    DMTF_RAW_BIT_STREAM,
    BaseAsymAlgo,
    BaseHashAlgo,
    DmtfValueType,
    MeasurementHashAlgo,
    PqcAsymAlgo,
    SpdmVersion,
)
from .record import record
from .slot_keys import SlotKey
from .slots import SLOT_COUNT

__all__ = ["DeviceModel", "MeasurementSource", "default_measurements", "load_identity"]

logger = logging.getLogger(__name__)

_PEM_LINE = 64
MIN_INDEX, MAX_INDEX = 0x01, 0xFE
"""Measurement indices a device may use (0 and 0xFF are GET_MEASUREMENTS operations)."""


@record(frozen=True)
class MeasurementSource:
    """One thing the device measures.

    Attributes:
        index: the measurement index (1-0xFE; 0xFD manifest, 0xFE device mode).
        kind: what it is (DMTFSpecMeasurementValueType b[6:0]).
        data: the measured bytes (firmware image, configuration, SVN...).
        digest: True: reported as a MeasurementHashAlgo digest unless the
            requester asks for the raw bit stream (1.2+); False: always raw
            (values too small or too structured to hash, like an SVN).
    """

    index: int
    kind: DmtfValueType
    data: bytes = field(repr=False)
    digest: bool

    def block(self, hash_alg: MeasurementHashAlgo, *, raw_requested: bool) -> MeasurementBlock:
        """The DMTF measurement block reporting this source.

        Args:
            hash_alg: the negotiated MeasurementHashAlgo (RAW_BIT_STREAM_ONLY
                makes every block raw).
            raw_requested: the requester asked for raw bit streams (1.2+).

        Raises:
            ConfigurationError: a digest is due but ``hash_alg`` names no hash.
        """
        raw = (not self.digest or raw_requested
               or hash_alg == MeasurementHashAlgo.RAW_BIT_STREAM_ONLY)
        if raw:
            return MeasurementBlock(self.index, DMTF_RAW_BIT_STREAM | self.kind, self.data)
        return MeasurementBlock(self.index, int(self.kind), measurement_digest(hash_alg, self.data))


_ROM_IMAGE = b"devsec emulated device boot ROM, revision A0\x00" * 16
_FIRMWARE_IMAGE = b"devsec emulated device firmware 1.4.2\x00" * 40
_HARDWARE_CONFIG = bytes.fromhex("01000000 0f000000 00100000 00000000")
_FIRMWARE_CONFIG = b"link-speed=gen5;lanes=x16;ide=enabled;tdisp=enabled;debug=disabled"
_FIRMWARE_SVN = 7

# Device mode (DSP0274 1.2 "DMTF device mode" field): four u32 bit fields.
_OPERATIONAL_MODE_CAPABILITIES = 0x0000_0007  # manufacturing, validation, normal operation
_OPERATIONAL_MODE_STATE = 0x0000_0004  # in normal operation
_DEVICE_MODE_CAPABILITIES = 0x0000_001F  # all debug-mode indications are reported
_DEVICE_MODE_STATE = 0x0000_0000  # no debug mode active now or ever


def default_measurements() -> tuple[MeasurementSource, ...]:
    """A plausible PCIe device: ROM, firmware, configuration, SVN, manifest, device mode.

    Returns:
        1 immutable ROM, 2 mutable firmware, 4 firmware configuration (digests);
        3 hardware configuration (16 raw bytes), 0x10 firmware SVN (u64 LE 7),
        0xFD a free-form manifest naming the other indices, 0xFE the device
        mode (four u32 LE: operational-mode capabilities and state, device-mode
        capabilities and state) (raw).
    """
    sources = [
        MeasurementSource(0x01, DmtfValueType.IMMUTABLE_ROM, _ROM_IMAGE, True),
        MeasurementSource(0x02, DmtfValueType.MUTABLE_FIRMWARE, _FIRMWARE_IMAGE, True),
        MeasurementSource(0x03, DmtfValueType.HARDWARE_CONFIGURATION, _HARDWARE_CONFIG, False),
        MeasurementSource(0x04, DmtfValueType.FIRMWARE_CONFIGURATION, _FIRMWARE_CONFIG, True),
        MeasurementSource(0x10, DmtfValueType.MUTABLE_FIRMWARE_SVN,
                          struct.pack("<Q", _FIRMWARE_SVN), False),
        MeasurementSource(0xFE, DmtfValueType.DEVICE_MODE, struct.pack(
            "<4I", _OPERATIONAL_MODE_CAPABILITIES, _OPERATIONAL_MODE_STATE,
            _DEVICE_MODE_CAPABILITIES, _DEVICE_MODE_STATE), False),
    ]
    manifest = "devsec-manifest/1\n" + "".join(
        f"{s.index}={s.kind.name.lower()}\n" for s in sources)
    sources.insert(-1, MeasurementSource(
        0xFD, DmtfValueType.MEASUREMENT_MANIFEST, manifest.encode("ascii"), False))
    return tuple(sources)


def _public_key_error(identity: DeviceIdentity, slot: int) -> str | None:
    """Why the slot's key cannot sign for its leaf certificate, or None when it can."""
    try:
        leaf_key = identity.leaf.public_key()
    except VerificationError as exc:
        return f"slot {slot}: the leaf certificate's key is unusable: {exc}"
    if leaf_key != identity.leaf_key.public_key():
        return f"slot {slot}: the private key does not match the leaf certificate"
    return None


def load_identity(chain: bytes, key_pem: bytes, *, asym: SigningAlgo | None = None) -> DeviceIdentity:
    """One slot's identity from files: a certificate chain and the leaf's private key.

    Args:
        chain: the chain, root (or a certificate the root signed) first and
            leaf last, as concatenated DER or a PEM bundle.
        key_pem: the leaf's private key, unencrypted PEM.
        asym: the SPDM algorithm to sign with; None infers it from the key
            (RSA keys become RSASSA).

    Raises:
        ConfigurationError: unreadable chain or key, or a key not fitting ``asym``.
    """
    certificates = tuple(load_certificates(chain))
    return DeviceIdentity(certificates=certificates, leaf_key=load_private_key_pem(key_pem, asym))


class DeviceModel:
    """An emulated SPDM device: certificate slots with keys, and measured sources.

    Args:
        slots: slot number (0-7) -> the identity (chain and leaf key) it holds.
        measurements: what the device measures; indices must be unique, 1-0xFE.

    Raises:
        ConfigurationError: no slot, a slot outside 0-7, a key that does not
            match its leaf certificate, slots whose keys sign with different
            algorithms (a connection negotiates one BaseAsymAlgo for every
            slot), or duplicate / out-of-range indices.
    """

    def __init__(
        self,
        slots: Mapping[int, DeviceIdentity],
        measurements: Sequence[MeasurementSource] = default_measurements(),
    ) -> None:
        for slot, identity in slots.items():
            problem = _public_key_error(identity, slot)
            if problem is not None:
                raise ConfigurationError(problem)
        algorithms = {asym_fields(identity.leaf_key.asym) for identity in slots.values()}
        if len(algorithms) > 1:
            names = ", ".join(f"slot {n}: {i.leaf_key.asym.name}" for n, i in sorted(slots.items()))
            raise ConfigurationError(f"every slot must sign with one algorithm ({names})")
        self._assign(slots, measurements)

    def _assign(
        self, slots: Mapping[int, DeviceIdentity], measurements: Sequence[MeasurementSource]
    ) -> None:
        """Check and store everything but the key/certificate match (see with_signing_key)."""
        if not slots:
            raise ConfigurationError("a device needs at least one certificate slot")
        for slot in slots:
            if not 0 <= slot < SLOT_COUNT:
                raise ConfigurationError(f"certificate slot {slot} is outside 0-7")
        indices = [m.index for m in measurements]
        if len(set(indices)) != len(indices):
            raise ConfigurationError(f"duplicate measurement indices in {sorted(indices)}")
        for index in indices:
            if not MIN_INDEX <= index <= MAX_INDEX:
                raise ConfigurationError(f"measurement index {index} is outside 1-254")
        self._slots: Mapping[int, DeviceIdentity] = MappingProxyType(dict(sorted(slots.items())))
        self._provisioned = sum(1 << slot for slot in slots)
        """The slot mask (the slots are fixed for a model's life: a change makes a copy)."""
        self._measurements = tuple(sorted(measurements, key=lambda m: m.index))
        self._chains: dict[tuple[int, int], bytes] = {}
        self._psks: Mapping[bytes, bytes] = MappingProxyType({})
        self._blocks: dict[tuple[MeasurementHashAlgo, bool], tuple[MeasurementBlock, ...]] = {}
        fields = [asym_fields(identity.leaf_key.asym) for identity in slots.values()]
        asym, pqc = min(int(f[0]) for f in fields), min(int(f[1]) for f in fields)
        self._endpoint = EndpointData.for_slots(self._provisioned, asym, pqc_asym_algo=pqc)

    def _copy(self, slots: Mapping[int, DeviceIdentity],
              measurements: Sequence[MeasurementSource]) -> DeviceModel:
        copy = DeviceModel.__new__(DeviceModel)
        copy._assign(slots, measurements)
        copy._psks = self._psks
        copy._endpoint = self._endpoint
        return copy

    def with_endpoint(self, endpoint: EndpointData) -> DeviceModel:
        """A copy whose 1.3 endpoint data (class identifier, MEL, key pairs) is ``endpoint``.

        The endpoint data is a mutable store (:mod:`spdm.device_endpoint`): copies
        made from this model afterwards share it, as they share the device's flash.
        """
        copy = self._copy(self._slots, self._measurements)
        copy._endpoint = endpoint
        return copy

    @property
    def endpoint(self) -> EndpointData:
        """The device's endpoint data (extend its MEL through it)."""
        return self._endpoint

    def with_psks(self, psks: Mapping[bytes, bytes]) -> DeviceModel:
        """A copy that also holds pre-shared keys (PSK hint -> PSK) for PSK sessions.

        Raises:
            ConfigurationError: an empty PSK.
        """
        if any(not psk for psk in psks.values()):
            raise ConfigurationError("a PSK must not be empty")
        copy = self._copy(self._slots, self._measurements)
        copy._psks = MappingProxyType(dict(psks))
        return copy

    @property
    def has_psks(self) -> bool:
        """The device holds at least one PSK (so it can advertise PSK_CAP)."""
        return bool(self._psks)

    @classmethod
    def generate(
        cls,
        asym: SigningAlgo,
        *,
        slots: Sequence[int] = (0,),
        measurements: Sequence[MeasurementSource] = default_measurements(),
        role: Literal["responder", "requester"] = "responder",
    ) -> DeviceModel:
        """A device with a fresh root -> intermediate -> leaf identity in each slot.

        Args:
            asym: the leaf key algorithm of every slot (a PqcAsymAlgo for an SPDM 1.4
                post-quantum identity).
            slots: which slots to provision (each gets its own chain and key).
            measurements: what the device measures.
            role: whose identity the leaves carry (the EKU): a device's, or a
                host's for mutual authentication.

        Raises:
            ConfigurationError: an algorithm devsec cannot sign with (SM2), or
                invalid slots or measurements.
        """
        identities = {
            slot: generate_device_identity(
                asym, common_name=f"devsec emulated {'device' if role == 'responder' else 'host'} "
                f"slot {slot}", role=role)
            for slot in slots
        }
        return cls(identities, measurements)

    @classmethod
    def from_files(
        cls,
        chain: bytes,
        key_pem: bytes,
        *,
        asym: BaseAsymAlgo | None = None,
        slot: int = 0,
        measurements: Sequence[MeasurementSource] = default_measurements(),
    ) -> DeviceModel:
        """A device provisioned from files: a certificate chain and the leaf's private key.

        Args:
            chain: the chain, root (or a certificate the root signed) first and
                leaf last, as concatenated DER or a PEM bundle.
            key_pem: the leaf's private key, unencrypted PEM.
            asym: the SPDM algorithm to sign with; None infers it from the key
                (RSA keys become RSASSA).
            slot: the slot to provision.
            measurements: what the device measures.

        Raises:
            ConfigurationError: unreadable chain or key, a key not fitting
                ``asym``, or a key that is not the leaf certificate's.
        """
        return cls({slot: load_identity(chain, key_pem, asym=asym)}, measurements)

    @property
    def slots(self) -> Mapping[int, DeviceIdentity]:
        """Slot -> identity (read-only); the roots are what a verifier trusts."""
        return self._slots

    @property
    def measurements(self) -> tuple[MeasurementSource, ...]:
        """The measured sources, ascending index."""
        return self._measurements

    def root_certificate(self, slot: int = 0) -> Certificate:
        """The root of a slot's chain: what a verifier of this device must trust.

        Raises:
            ConfigurationError: the slot is not provisioned.
        """
        identity = self._slots.get(slot)
        if identity is None:
            raise ConfigurationError(f"certificate slot {slot} is not provisioned")
        return identity.root

    def root_certificate_pem(self, slot: int = 0) -> bytes:
        """:meth:`root_certificate` as PEM, for a verifier's trust-anchor file.

        Raises:
            ConfigurationError: the slot is not provisioned.
        """
        body = base64.b64encode(self.root_certificate(slot).der).decode("ascii")
        lines = [body[i:i + _PEM_LINE] for i in range(0, len(body), _PEM_LINE)]
        return ("-----BEGIN CERTIFICATE-----\n" + "\n".join(lines)
                + "\n-----END CERTIFICATE-----\n").encode("ascii")

    @property
    def asym_alg(self) -> BaseAsymAlgo:
        """The BaseAsymAlgo of slot 0 (or of the lowest provisioned slot); 0 for ML-DSA."""
        return asym_fields(next(iter(self._slots.values())).leaf_key.asym)[0]

    @property
    def pqc_asym_alg(self) -> PqcAsymAlgo:
        """The PqcAsymAlgo (SPDM 1.4) of slot 0 (or of the lowest provisioned slot); 0 if classic."""
        return asym_fields(next(iter(self._slots.values())).leaf_key.asym)[1]

    def with_measurement(self, index: int, data: bytes) -> DeviceModel:
        """A copy of this device whose source at ``index`` measures ``data`` instead.

        Raises:
            ConfigurationError: the device measures nothing at ``index``.
        """
        if index not in {m.index for m in self._measurements}:
            raise ConfigurationError(f"the device measures nothing at index {index}")
        changed = [replace(m, data=bytes(data)) if m.index == index else m
                   for m in self._measurements]
        return self._copy(self._slots, changed)

    def with_signing_key(self, impostor: DeviceModel) -> DeviceModel:
        """A counterfeit of this device: its certificates, but ``impostor``'s private keys.

        Emulates a device that replays a genuine certificate chain without
        holding its key, so a verifier's signature check can be shown to catch
        it.  Each slot signs with the impostor's key of the same slot, or of the
        impostor's lowest slot.
        """
        fallback = next(iter(impostor.slots.values())).leaf_key
        forged = {
            slot: DeviceIdentity(identity.certificates,
                                 impostor.slots[slot].leaf_key if slot in impostor.slots
                                 else fallback)
            for slot, identity in self._slots.items()
        }
        return self._copy(forged, self._measurements)

    # --- EndpointBackend (SPDM 1.3 endpoint messages) ------------------------------------------

    def endpoint_info(self, subcode: int) -> bytes | None:
        """EPInfo of ``subcode`` (see :meth:`EndpointData.endpoint_info`)."""
        return self._endpoint.endpoint_info(subcode)

    def measurement_extension_log(self) -> bytes:
        """The MEL's bytes."""
        return self._endpoint.measurement_extension_log()

    def key_pairs(self) -> Sequence[KeyPair]:
        """Every key pair, KeyPairID order."""
        return self._endpoint.key_pairs()

    # --- SlotKeysBackend (SPDM 1.3 multi-key connections) --------------------------------------

    def supported_slots(self) -> int:
        """SupportedSlotMask: the endpoint data's, else the provisioned slots."""
        mask = self._endpoint.supported_slot_mask
        return self.provisioned_slots() if mask is None else mask | self.provisioned_slots()

    def slot_key(self, slot_id: int) -> SlotKey:
        """The slot's key pair, certificate model and key usage (:meth:`EndpointData.slot_key`)."""
        return self._endpoint.slot_key(slot_id)

    def set_key_pair(self, operation: int, key_pair_id: int, key_usage: int, asym_algo: int,
                     assoc_cert_slot_mask: int, pqc_asym_algo: int = 0) -> None:
        """Apply SET_KEY_PAIR_INFO (see :meth:`EndpointData.set_key_pair`; ValueError when refused)."""
        self._endpoint.set_key_pair(operation, key_pair_id, key_usage, asym_algo, assoc_cert_slot_mask,
                                    pqc_asym_algo)

    # --- ResponderBackend ------------------------------------------------------------------

    def asym_algorithms(self) -> BaseAsymAlgo:
        """The one algorithm each slot's key signs with, ANDed over the slots."""
        mask = ~0
        for identity in self._slots.values():
            mask &= int(asym_fields(identity.leaf_key.asym)[0])
        return BaseAsymAlgo(mask if self._slots else 0)

    def pqc_asym_algorithms(self) -> PqcAsymAlgo:
        """The PqcAsymAlgos (SPDM 1.4 ML-DSA) each slot's key signs with, ANDed over the slots."""
        mask = ~0
        for identity in self._slots.values():
            mask &= int(asym_fields(identity.leaf_key.asym)[1])
        return PqcAsymAlgo(mask if self._slots else 0)

    def provisioned_slots(self) -> int:
        """Bitmask of the slots holding a chain."""
        return self._provisioned

    def certificate_chain(self, slot_id: int, hash_alg: BaseHashAlgo) -> bytes | None:
        """The slot's SPDM certificate chain for ``hash_alg`` (built once, then cached)."""
        identity = self._slots.get(slot_id)
        if identity is None:
            return None
        key = (slot_id, int(hash_alg))
        chain = self._chains.get(key)
        if chain is None:
            chain = build_spdm_cert_chain(identity.certificates, hash_alg)
            self._chains[key] = chain
        return chain

    def sign(
        self,
        slot_id: int,
        hash_alg: BaseHashAlgo,
        version: SpdmVersion,
        context: str,
        transcript: bytes,
    ) -> bytes:
        """Sign a transcript with the slot's leaf key (see :func:`spdm.crypto.sign`).

        Raises:
            LocalProtocolError: the slot holds no key.
            ConfigurationError: the key cannot sign with ``hash_alg``/``version``.
        """
        identity = self._slots.get(slot_id)
        if identity is None:
            raise LocalProtocolError(f"certificate slot {slot_id} holds no key")
        logger.debug("signing %r with slot %d", context, slot_id)
        return sign(identity.leaf_key, hash_alg, version, context, transcript)

    def psk(self, hint: bytes) -> bytes | None:
        """The PSK for ``hint`` (None when the device holds none for it)."""
        return self._psks.get(bytes(hint))

    def measurement_blocks(
        self, hash_alg: MeasurementHashAlgo, *, raw_requested: bool
    ) -> tuple[MeasurementBlock, ...]:
        """Every measurement block, ascending index (see :meth:`MeasurementSource.block`).

        Measured once per (hash, representation), then kept: the model is
        immutable, as a device's boot-time measurements are.
        """
        key = (hash_alg, raw_requested)
        blocks = self._blocks.get(key)
        if blocks is None:
            blocks = tuple(m.block(hash_alg, raw_requested=raw_requested) for m in self._measurements)
            self._blocks[key] = blocks
        return blocks
