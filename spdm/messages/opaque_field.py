"""The OpaqueDataLength + OpaqueData field of SPDM messages: its ``struct`` fast paths (R7).

CHALLENGE_AUTH and MEASUREMENTS end in this field; their fast paths read and
write it here, answering only for what the construct declaration
(:func:`spdm.schema.opaque_data`) accepts.  The opaque data's own tables (the
secured-message versions of a session) are :mod:`spdm.messages.opaque`.
"""

from __future__ import annotations

import struct

from ..codec import MAX_OPAQUE_SIZE

__all__ = ["fast_opaque_data", "fast_opaque_field"]

_OPAQUE_LENGTH = struct.Struct("<H")


def fast_opaque_data(data: bytes, offset: int) -> tuple[bytes, int] | None:
    """What :func:`spdm.schema.opaque_data` parses at ``offset``, for a ``struct`` fast path (R7):
    the OpaqueData and where it ends, or None when it is short or longer than ``MAX_OPAQUE_SIZE``."""
    if len(data) < offset + 2:
        return None
    (length,) = _OPAQUE_LENGTH.unpack_from(data, offset)
    end = offset + 2 + length
    if length > MAX_OPAQUE_SIZE or len(data) < end:
        return None
    return data[offset + 2:end], end


def fast_opaque_field(opaque: object) -> bytes | None:
    """What :func:`spdm.schema.opaque_data` builds from ``opaque``, for a ``struct`` build fast path,
    or None when it is not bytes of at most ``MAX_OPAQUE_SIZE``."""
    if type(opaque) is not bytes or len(opaque) > MAX_OPAQUE_SIZE:
        return None
    return _OPAQUE_LENGTH.pack(len(opaque)) + opaque
