"""One CBOR item, exactly: the decoder every token and reference-value file goes through.

``cbor2.loads`` stops after the first item and ignores what follows it.  In a
token that lets a changed length head (a map of five entries read as four)
drop the last claim unnoticed, the rest passing as trailing bytes, so devsec
decodes with a decoder that must end where its input does.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

import cbor2

from spdm.errors import DecodeError

__all__ = ["loads_exact"]


def loads_exact(data: bytes, what: str) -> Any:
    """The one CBOR item ``data`` holds.

    Raises:
        DecodeError: ``data`` is not CBOR, or bytes follow its item (``what``
            names the field in the message).
    """
    stream = BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise DecodeError(f"{what}: not CBOR ({exc})") from exc
    if stream.tell() != len(data):
        raise DecodeError(f"{what}: {len(data) - stream.tell()} byte(s) follow the CBOR item")
    return value
