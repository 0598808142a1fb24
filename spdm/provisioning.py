"""A provisionable device: key pairs that get their certificates over SPDM, kept in a state file.

:class:`~spdm.device.DeviceModel` is a device whose slots were filled at the
factory.  :class:`ProvisionableDevice` is one that leaves the factory with key
pairs and (possibly) blank slots: GET_CSR asks it for a PKCS#10 request of a
key pair, SET_CERTIFICATE installs a chain whose leaf holds that key pair's
public key (or, 1.3 Erase, clears a slot).  What a real device keeps in
non-volatile memory -- its private keys, its provisioned slots, the CSRs it
promised across a reset -- this model keeps in a JSON state file that it owns,
rewritten atomically (temporary file, fsync, rename) after every change, so a
restarted device (a new object opened on the same file) serves what was
provisioned.

The responder engine reaches it through :class:`ProvisioningBackend`; protocol
rules (capabilities, versions, chain format and SPDM certificate rules) are the
engine's (:mod:`spdm.responder.provision`), what the device holds is decided here.

Decided where DSP0274 1.3 leaves room (the ResetRequired flow, CERT_INSTALL_RESET_CAP):

* With ``reset_required``, GET_CSR with CSRTrackingTag 0 generates the CSR,
  keeps it pending under the lowest free tag (1-7, Busy when all seven are
  taken) and answers ERROR ResetRequired with the tag as ErrorData.  After a
  reset (the device reopened from its state file), GET_CSR with that tag
  returns the CSR and forgets it; the same tag before the reset is answered
  ResetRequired again; an unknown tag is InvalidRequest.  Overwrite drops every
  pending CSR first.
* With ``reset_required``, SET_CERTIFICATE is written to the state file and
  answered ResetRequired (ErrorData 0, as libspdm does); the running device
  serves the new chain only after the reset.
* KeyPairID 0 (any request on a connection without MULTI_KEY_CONN) means the
  device's lowest key pair; a slot installed without a key pair ID is bound to it.
* Multi-key connections: every slot 0-7 can be provisioned (SupportedSlotMask
  0xFF); a provisioned slot reports the key pair and CertModel it was installed
  with, and its key may sign everything (the model has no per-key usage
  settings: it answers no GET/SET_KEY_PAIR_INFO).
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

from .crypto import (
    Certificate,
    PrivateKey,
    asym_fields,
    build_csr,
    build_spdm_cert_chain,
    generate_private_key,
    load_private_key_pem,
    sign,
)
from .device import MeasurementSource, default_measurements
from .errors import (
    ConfigurationError,
    DecodeError,
    LocalProtocolError,
    RemoteProtocolError,
    SpdmErrorCode,
    VerificationError,
)
from .messages import MeasurementBlock
from .messages.codes import (
    CERT_MODEL_DEVICE,
    BaseAsymAlgo,
    BaseHashAlgo,
    MeasurementHashAlgo,
    PqcAsymAlgo,
    SpdmVersion,
)
from .messages.provision import MAX_CSR_TRACKING_TAG
from .record import record
from .slot_keys import KEY_USAGE_ALL, SlotKey
from .slots import SLOT_COUNT

__all__ = ["STATE_FORMAT", "InstalledSlot", "ProvisionableDevice", "ProvisioningBackend"]

STATE_FORMAT: Final = "devsec-device-state/1"
"""The ``format`` member of a state file this module writes and reads."""

DEFAULT_KEY_PAIR: Final = 1


@runtime_checkable
class ProvisioningBackend(Protocol):
    """What the responder needs from a device to answer GET_CSR and SET_CERTIFICATE.

    Methods raise :class:`~spdm.errors.RemoteProtocolError` with the code the
    requester gets (InvalidRequest, ResetRequired with its ErrorData, Busy).
    """

    def csr(self, key_pair_id: int, requester_info: bytes, *, tracking_tag: int,
            overwrite: bool) -> bytes:
        """The DER PKCS#10 request of a key pair (see the module's ResetRequired rules)."""
        ...

    def install(self, slot_id: int, key_pair_id: int, cert_model: int,
                certificates: Sequence[Certificate]) -> None:
        """Provision a slot with a chain (root first) whose leaf holds the key pair's key."""
        ...

    def erase(self, slot_id: int) -> None:
        """Clear a slot (1.3 Erase)."""
        ...


@record(frozen=True)
class InstalledSlot:
    """One provisioned slot.

    Attributes:
        key_pair_id: the key pair whose private key signs for this slot.
        cert_model: the CertModel it was installed with (1.3; DEVICE before).
        certificates: root (or a certificate the root signed) first, leaf last.
    """

    key_pair_id: int
    cert_model: int
    certificates: tuple[Certificate, ...] = field(repr=False)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ConfigurationError("state file: expected a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise ConfigurationError(f"state file: bad base64: {exc}") from exc


class ProvisionableDevice:
    """An emulated device whose slots are provisioned over SPDM and survive restarts.

    Use :meth:`open` for a device backed by a state file.  Implements
    :class:`~spdm.backend.ResponderBackend` and :class:`ProvisioningBackend`.

    Args:
        key_pairs: KeyPairID (1-255) -> private key; every key signs with one algorithm.
        slots: slot -> what it holds (each key pair named must exist).
        state_file: where changes are written (None: kept in memory only).
        reset_required: installs and CSRs complete only after a reset
            (CERT_INSTALL_RESET_CAP; see the module docstring).
        measurements: what the device measures.
        pending_csrs: CSRTrackingTag -> DER CSR, promised before the last reset.

    Raises:
        ConfigurationError: no key pair, mixed algorithms, an out-of-range slot or
            key pair ID, or a slot whose leaf does not hold its key pair's key.
    """

    def __init__(
        self,
        key_pairs: Mapping[int, PrivateKey],
        *,
        slots: Mapping[int, InstalledSlot] | None = None,
        state_file: Path | None = None,
        reset_required: bool = False,
        measurements: Sequence[MeasurementSource] = default_measurements(),
        pending_csrs: Mapping[int, bytes] | None = None,
    ) -> None:
        if not key_pairs:
            raise ConfigurationError("a provisionable device needs at least one key pair")
        if any(not 1 <= kp <= 0xFF for kp in key_pairs):
            raise ConfigurationError(f"key pair IDs must be 1-255, got {sorted(key_pairs)}")
        if len({key.asym for key in key_pairs.values()}) > 1:
            raise ConfigurationError("every key pair must sign with one algorithm")
        self._keys = dict(sorted(key_pairs.items()))
        self._slots: dict[int, InstalledSlot] = {}
        for slot_id, installed in (slots or {}).items():
            if not 0 <= slot_id < SLOT_COUNT:
                raise ConfigurationError(f"certificate slot {slot_id} is outside 0-7")
            self._check_leaf(installed.key_pair_id, installed.certificates, ConfigurationError)
            self._slots[slot_id] = installed
        self._state_file = state_file
        self.reset_required = reset_required
        self._measurements = tuple(sorted(measurements, key=lambda m: m.index))
        self._pending = dict(pending_csrs or {})
        self._promised_this_boot: set[int] = set()
        self._staged: dict[int, InstalledSlot | None] = {}
        self._chains: dict[tuple[int, BaseHashAlgo], bytes] = {}

    # --- construction and the state file --------------------------------------------------

    @classmethod
    def open(cls, state_file: Path, asym: BaseAsymAlgo, *, reset_required: bool = False,
             measurements: Sequence[MeasurementSource] = default_measurements()) -> ProvisionableDevice:
        """The device whose non-volatile memory is ``state_file``: loaded when it exists,
        else a blank device (one fresh key pair of ``asym``, no slot) written to it.

        Raises:
            ConfigurationError: an unreadable or inconsistent state file, or an
                existing one whose keys are not of ``asym``.
        """
        if state_file.exists():
            device = cls._load(state_file, reset_required, measurements)
            if device.asym_algorithms() != asym:
                raise ConfigurationError(
                    f"{state_file}: the device's keys sign with {device.asym_algorithms().name}, "
                    f"not {asym.name}")
            return device
        device = cls({DEFAULT_KEY_PAIR: generate_private_key(asym)}, state_file=state_file,
                     reset_required=reset_required, measurements=measurements)
        device._save()
        return device

    @classmethod
    def _load(cls, path: Path, reset_required: bool,
              measurements: Sequence[MeasurementSource]) -> ProvisionableDevice:
        try:
            state = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot read device state {path}: {exc}") from exc
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise ConfigurationError(f"{path} is not a {STATE_FORMAT} file")
        try:
            keys = {int(kp): load_private_key_pem(entry["key_pem"].encode("ascii"),
                                                  BaseAsymAlgo[entry["asym"]])
                    for kp, entry in state["key_pairs"].items()}
            slots = {int(slot): InstalledSlot(
                int(entry["key_pair_id"]), int(entry["cert_model"]),
                tuple(Certificate(_unb64(der)) for der in entry["certificates"]))
                for slot, entry in state["slots"].items()}
            pending = {int(tag): _unb64(der) for tag, der in state["pending_csrs"].items()}
        except (KeyError, TypeError, ValueError, AttributeError, DecodeError) as exc:
            raise ConfigurationError(f"{path}: malformed device state: {exc}") from exc
        return cls(keys, slots=slots, state_file=path, reset_required=reset_required,
                   measurements=measurements, pending_csrs=pending)

    def _state(self) -> dict[str, Any]:
        slots = {**self._slots}
        for slot_id, staged in self._staged.items():
            if staged is None:
                slots.pop(slot_id, None)
            else:
                slots[slot_id] = staged
        return {
            "format": STATE_FORMAT,
            "key_pairs": {str(kp): {"asym": key.asym.name, "key_pem": key.to_pem().decode("ascii")}
                          for kp, key in self._keys.items()},
            "slots": {str(slot_id): {"key_pair_id": s.key_pair_id, "cert_model": s.cert_model,
                                     "certificates": [_b64(c.der) for c in s.certificates]}
                      for slot_id, s in sorted(slots.items())},
            "pending_csrs": {str(tag): _b64(der) for tag, der in sorted(self._pending.items())},
        }

    def _save(self) -> None:
        """Write the state file atomically: a reader sees the old state or the new, never half."""
        path = self._state_file
        if path is None:
            return
        text = json.dumps(self._state(), indent=1, sort_keys=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)  # private keys inside
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # --- what the device holds --------------------------------------------------------------

    @property
    def key_pairs(self) -> Mapping[int, PrivateKey]:
        """KeyPairID -> private key (read-only view)."""
        return dict(self._keys)

    @property
    def slots(self) -> Mapping[int, InstalledSlot]:
        """The slots the running device serves."""
        return dict(self._slots)

    def _key_pair(self, key_pair_id: int) -> tuple[int, PrivateKey]:
        kp = key_pair_id or next(iter(self._keys))
        key = self._keys.get(kp)
        if key is None:
            raise RemoteProtocolError(f"the device has no key pair {key_pair_id}")
        return kp, key

    def _check_leaf(self, key_pair_id: int, certificates: Sequence[Certificate],
                    error: type[Exception]) -> None:
        key = self._keys.get(key_pair_id)
        if key is None:
            raise error(f"the device has no key pair {key_pair_id}")
        if not certificates:
            raise error("a certificate chain needs at least one certificate")
        try:
            leaf_key = certificates[-1].public_key()
        except VerificationError as exc:
            raise error(f"the leaf certificate's key is unusable: {exc}") from exc
        if leaf_key != key.public_key():
            raise error(f"the leaf certificate does not hold key pair {key_pair_id}'s public key")

    # --- ProvisioningBackend ----------------------------------------------------------------

    def csr(self, key_pair_id: int, requester_info: bytes, *, tracking_tag: int,
            overwrite: bool) -> bytes:
        """See :class:`ProvisioningBackend` and the module docstring.

        Raises:
            RemoteProtocolError: InvalidRequest (unknown key pair, malformed
                RequesterInfo, unknown or unexpected tag), ResetRequired (with the
                tag as error data), Busy (seven CSRs already pending).
        """
        if not self.reset_required:
            if tracking_tag:
                raise RemoteProtocolError("CSRTrackingTag without CERT_INSTALL_RESET_CAP")
            return self._build_csr(key_pair_id, requester_info)
        if overwrite and self._pending:
            self._pending.clear()
            self._promised_this_boot.clear()
            self._save()
        if tracking_tag:
            if tracking_tag in self._promised_this_boot:
                raise _reset_required(tracking_tag)
            der = self._pending.pop(tracking_tag, None)
            if der is None:
                raise RemoteProtocolError(f"no CSR is pending under CSRTrackingTag {tracking_tag}")
            self._save()
            return der
        free = [tag for tag in range(1, MAX_CSR_TRACKING_TAG + 1) if tag not in self._pending]
        if not free:
            raise RemoteProtocolError("seven CSRs are pending a reset already",
                                      error_code=SpdmErrorCode.BUSY)
        der = self._build_csr(key_pair_id, requester_info)
        self._pending[free[0]] = der
        self._promised_this_boot.add(free[0])
        self._save()
        raise _reset_required(free[0])

    def _build_csr(self, key_pair_id: int, requester_info: bytes) -> bytes:
        kp, key = self._key_pair(key_pair_id)
        return build_csr(key, common_name=f"devsec emulated device key pair {kp}",
                         requester_info=requester_info)

    def install(self, slot_id: int, key_pair_id: int, cert_model: int,
                certificates: Sequence[Certificate]) -> None:
        """See :class:`ProvisioningBackend`.

        Raises:
            RemoteProtocolError: InvalidRequest (a slot outside 0-7, an unknown
                key pair, a leaf without the key pair's key); ResetRequired once
                stored, when installs complete at the next reset.
        """
        if not 0 <= slot_id < SLOT_COUNT:
            raise RemoteProtocolError(f"certificate slot {slot_id} is outside 0-7")
        kp, _ = self._key_pair(key_pair_id)
        self._check_leaf(kp, certificates, RemoteProtocolError)
        self._commit(slot_id, InstalledSlot(kp, cert_model or CERT_MODEL_DEVICE, tuple(certificates)))

    def erase(self, slot_id: int) -> None:
        """See :class:`ProvisioningBackend`; erasing an empty slot is not an error.

        Raises:
            RemoteProtocolError: InvalidRequest for a slot outside 0-7;
                ResetRequired once stored, when changes complete at the next reset.
        """
        if not 0 <= slot_id < SLOT_COUNT:
            raise RemoteProtocolError(f"certificate slot {slot_id} is outside 0-7")
        self._commit(slot_id, None)

    def _commit(self, slot_id: int, installed: InstalledSlot | None) -> None:
        if self.reset_required:
            self._staged[slot_id] = installed
            self._save()
            raise _reset_required(0)
        if installed is None:
            self._slots.pop(slot_id, None)
        else:
            self._slots[slot_id] = installed
        self._chains = {k: v for k, v in self._chains.items() if k[0] != slot_id}
        self._save()

    # --- ResponderBackend -------------------------------------------------------------------

    def asym_algorithms(self) -> BaseAsymAlgo:
        """The algorithm the device's keys sign with (the same for every key pair)."""
        return asym_fields(next(iter(self._keys.values())).asym)[0]

    def pqc_asym_algorithms(self) -> PqcAsymAlgo:
        """The PqcAsymAlgo of the device's keys (0 for classic keys)."""
        return asym_fields(next(iter(self._keys.values())).asym)[1]

    def provisioned_slots(self) -> int:
        """Bitmask of the slots the running device serves."""
        return sum(1 << slot for slot in self._slots)

    def supported_slots(self) -> int:
        """Every slot can be provisioned."""
        return (1 << SLOT_COUNT) - 1

    def slot_key(self, slot_id: int) -> SlotKey:
        """The key pair and CertModel the slot was installed with; its key signs everything.

        Raises:
            LocalProtocolError: the slot is blank.
        """
        installed = self._slots.get(slot_id)
        if installed is None:
            raise LocalProtocolError(f"certificate slot {slot_id} holds no key")
        return SlotKey(installed.key_pair_id, installed.cert_model, KEY_USAGE_ALL)

    def certificate_chain(self, slot_id: int, hash_alg: BaseHashAlgo) -> bytes | None:
        """The slot's SPDM certificate chain for ``hash_alg``, or None when blank."""
        installed = self._slots.get(slot_id)
        if installed is None:
            return None
        key = (slot_id, BaseHashAlgo(hash_alg))
        chain = self._chains.get(key)
        if chain is None:
            chain = self._chains[key] = build_spdm_cert_chain(installed.certificates, hash_alg)
        return chain

    def sign(self, slot_id: int, hash_alg: BaseHashAlgo, version: SpdmVersion, context: str,
             transcript: bytes) -> bytes:
        """Sign with the key pair the slot is bound to.

        Raises:
            LocalProtocolError: the slot is blank.
        """
        installed = self._slots.get(slot_id)
        if installed is None:
            raise LocalProtocolError(f"certificate slot {slot_id} holds no key")
        return sign(self._keys[installed.key_pair_id], hash_alg, version, context, transcript)

    def psk(self, hint: bytes) -> bytes | None:
        """A provisionable device holds no PSK."""
        return None

    def measurement_blocks(self, hash_alg: MeasurementHashAlgo, *,
                           raw_requested: bool) -> tuple[MeasurementBlock, ...]:
        """Every measurement block, ascending index."""
        return tuple(m.block(hash_alg, raw_requested=raw_requested) for m in self._measurements)


def _reset_required(tag: int) -> RemoteProtocolError:
    return RemoteProtocolError("the device needs a reset to complete this request",
                               error_code=SpdmErrorCode.RESET_REQUIRED, error_data=tag)
