"""The relation between a Measurement Extension Log and the hash-extended measurements it extends.

SPDM 1.3 (DSP0274 §10.29, DmtfValueType 8 "hash-extended measurement"): each
MEL entry names, in MeasIndex, the measurement block it was extended into;
that block's value is the running extension of its entries.  How an entry is
extended is libspdm's (``libspdm_fill_measurement_hem_block``), which the
reference captures confirm: the value starts as MeasurementHashAlgo-size
zero bytes and each entry, in log order, replaces it with
``H(value || entry)``, ``entry`` being the whole MEL entry as it is in the log
(MELIndex, MeasIndex, reserved, DMTF header and value).

Decided: the brief of issue 13 calls the index "0xEF"; 0xEF is the request
code of GET_MEASUREMENT_EXTENSION_LOG, and no measurement index is assigned to
the MEL by DSP0274 1.3 -- the log itself names the index (libspdm's sample
device uses 0x11).  So the check is made for every index the log names.

When both the log and the measurements were retrieved, :func:`check_mel` is
what a requester runs: a log whose extension does not give the signed
measurement proves nothing about the device, so the mismatch is a
:class:`~spdm.errors.VerificationError`.
"""

from __future__ import annotations

from collections.abc import Iterable

from .crypto import measurement_digest, measurement_hash_size
from .errors import VerificationError
from .messages import MeasurementBlock
from .messages.codes import DMTF_RAW_BIT_STREAM, DmtfValueType, MeasurementHashAlgo
from .messages.mel import MEL_HEADER_SIZE, Mel, MelEntry

__all__ = ["check_mel", "extended_value", "hash_extended_indices"]


def _entry_bytes(entry: MelEntry) -> bytes:
    """One entry's bytes as they stand in a log (a one-entry log without its header)."""
    return Mel(entries=(entry,)).encode()[MEL_HEADER_SIZE:]


def hash_extended_indices(mel: Mel) -> tuple[int, ...]:
    """The measurement indices the log's entries were extended into, in ascending order."""
    return tuple(sorted({e.measurement_index for e in mel.entries}))


def extended_value(mel: Mel, index: int, hash_alg: MeasurementHashAlgo) -> bytes:
    """The value measurement ``index`` must hold after every entry of ``mel`` naming it.

    Args:
        mel: the whole log.
        index: the hash-extended measurement's index.
        hash_alg: the negotiated MeasurementHashAlgo (not RAW_BIT_STREAM_ONLY).

    Raises:
        ConfigurationError: ``hash_alg`` names no hash.
    """
    value = bytes(measurement_hash_size(hash_alg))
    for entry in mel.entries:
        if entry.measurement_index == index:
            value = measurement_digest(hash_alg, value + _entry_bytes(entry))
    return value


def check_mel(mel: Mel, blocks: Iterable[MeasurementBlock], hash_alg: MeasurementHashAlgo) -> None:
    """Check that the log extends to the device's hash-extended measurements.

    Every index the log names must be among ``blocks`` (all of the device's
    measurements), as a hash-extended digest (DmtfValueType 8, not a raw bit
    stream) equal to :func:`extended_value`.

    Raises:
        VerificationError: an index the log names is missing, is not a
            hash-extended digest, or holds another value.
        ConfigurationError: ``hash_alg`` names no hash.
    """
    by_index = {b.index: b for b in blocks}
    for index in hash_extended_indices(mel):
        block = by_index.get(index)
        if block is None:
            raise VerificationError(f"the MEL extends measurement {index:#04x}, "
                                    "which the device did not report")
        if block.value_type != DmtfValueType.HASH_EXTENDED or block.value_type & DMTF_RAW_BIT_STREAM:
            raise VerificationError(f"the MEL extends measurement {index:#04x}, which is not a "
                                    f"hash-extended digest (value type {block.value_type:#04x})")
        if block.value != extended_value(mel, index, hash_alg):
            raise VerificationError(f"measurement {index:#04x} is not the extension of the MEL's entries")
