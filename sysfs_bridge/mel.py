"""devsec's ``mel/``: a device's SPDM 1.3 Measurement Extension Log on its own tree, raw and parsed.

No kernel ABI exists for the MEL (as for ``measurements/``); devsec's layout::

    mel/log       the whole MEL in the DMTF format (DSP0274 1.3 §10.29), binary
    mel/entries   one line per entry, in log order:
                  MELIndex MeasIndex(0x..) value-type digest|raw value(hex)

The log is unsigned; what vouches for it is the signed hash-extended
measurement it extends (:func:`spdm.hash_extended.check_mel`, which
``devsec connect --mel`` runs before the log is rendered), and
``measurements/<MeasIndex>`` beside it holds that measurement.  ``log`` is the
record; ``entries`` is a view of it and must agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from spdm.messages.codes import DMTF_RAW_BIT_STREAM
from spdm.messages.mel import Mel
from spdm.names import value_type_name

from .attribute import read_with_views

__all__ = ["DIRECTORY", "mel_files", "read_mel"]

DIRECTORY: Final = "mel"
"""The directory's name under a device directory."""


def mel_files(raw: bytes) -> dict[str, bytes]:
    """The files of ``mel/`` for a raw MEL, name -> contents (pure).

    Raises:
        DecodeError: ``raw`` is not a DMTF-format MEL.
    """
    lines = "".join(
        f"{e.mel_index} 0x{e.measurement_index:02x} {value_type_name(e.kind)} "
        f"{'raw' if e.value_type & DMTF_RAW_BIT_STREAM else 'digest'} {e.value.hex()}\n"
        for e in Mel.decode(raw).entries)
    return {"log": raw, "entries": lines.encode("ascii")}


def read_mel(device_dir: Path) -> bytes:
    """The raw MEL of a device directory's ``mel/`` (b"" when it has none).

    Raises:
        DecodeError: ``log`` is missing or no MEL, an unknown file is present,
            or ``entries`` disagrees with ``log`` (the path is named).
        OSError: a file could not be read.
    """
    return read_with_views(device_dir / DIRECTORY, "log", mel_files)
