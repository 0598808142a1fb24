"""Properties of the SPDM 1.4 large VENDOR_DEFINED form, which the generic codec fuzzing (versions up to 1.3)
does not generate.

Any large-form request or response the codec builds decodes back to itself
with its 32-bit length; every truncation of one, and every lie in that
length, is refused with DecodeError (never another exception, never a
shorter payload taken as whole).
"""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from spdm.errors import DecodeError
from spdm.messages import VendorDefinedRequest, VendorDefinedResponse

MESSAGES = st.sampled_from([VendorDefinedRequest, VendorDefinedResponse])
LARGE_MESSAGES = st.builds(
    lambda cls, standard_id, vendor_id, payload: cls(spdm_version=0x14, standard_id=standard_id,
                                                     vendor_id=vendor_id, payload=payload, large=True),
    MESSAGES, st.integers(0, 0xFFFF), st.binary(max_size=8), st.binary(max_size=2048))


@given(message=LARGE_MESSAGES)
def test_a_large_form_message_round_trips(message: VendorDefinedRequest | VendorDefinedResponse) -> None:
    wire = message.encode()
    assert wire[2] & 0x80
    decoded = type(message).decode(wire)
    assert (decoded.large, decoded.standard_id, decoded.vendor_id, decoded.payload) == (
        True, message.standard_id, message.vendor_id, message.payload)


@given(message=LARGE_MESSAGES, data=st.data())
def test_a_truncated_large_form_message_is_refused(message: VendorDefinedRequest | VendorDefinedResponse,
                                                   data: st.DataObject) -> None:
    wire = message.encode()
    cut = data.draw(st.integers(0, len(wire) - 1))
    try:
        decoded = type(message).decode(wire[:cut])
    except DecodeError:
        return
    raise AssertionError(f"{cut} of {len(wire)} bytes decoded as {decoded!r}")


@given(message=LARGE_MESSAGES, lie=st.integers(0, 0xFFFF_FFFF))
def test_a_large_length_that_lies_is_refused(message: VendorDefinedRequest | VendorDefinedResponse,
                                             lie: int) -> None:
    wire = bytearray(message.encode())
    at = 4 + 2 + 1 + len(message.vendor_id) + 2  # header, StandardID, Len, VendorID, Reserved(2)
    (length,) = struct.unpack_from("<I", wire, at)
    assert length == len(message.payload)
    if lie == length:
        return
    struct.pack_into("<I", wire, at, lie)
    try:
        decoded = type(message).decode(bytes(wire))
    except DecodeError:
        return
    raise AssertionError(f"LargeLength {lie} for a {length}-byte payload decoded as {decoded!r}")
