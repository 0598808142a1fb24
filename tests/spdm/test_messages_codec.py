"""spdm.codec's one codec base (WireMessage): the decode rules every protocol's messages share.

A toy message exercises each rule on real bytes: construct errors, values the
message's conversion or constructor refuses, and trailing bytes all become
DecodeError; a DecodeError raised by a message's own check passes unchanged;
parsed fields reach the message as plain dicts and tuples, never construct
Containers.  Random bytes raise only DecodeError.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

import pytest
from construct import Array, Construct, Container, Int8ul, Int16ul, ListContainer, Rebuild, Struct, len_, this
from hypothesis import given, settings
from hypothesis import strategies as st

from spdm.codec import NO_PARAMS, Message, WireMessage
from spdm.errors import DecodeError, LocalProtocolError
from spdm.messages import REQUEST_TYPES, RESPONSE_TYPES
from spdm.schema import parse_exact, parse_head


class Colour(IntEnum):
    RED = 1
    GREEN = 2


Pair = Struct("x" / Int8ul, "y" / Int8ul)
ToyStruct = Struct(
    "colour" / Int8ul,
    "_count" / Rebuild(Int8ul, len_(this.pairs)),
    "pairs" / Array(this._count, Pair),
    "limit" / Int16ul,
)


@dataclass(frozen=True)
class Toy(WireMessage):
    STRUCT: ClassVar[Construct] = ToyStruct

    colour: Colour
    pairs: tuple[tuple[int, int], ...] = ()
    limit: int = 0

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> dict[str, Any]:
        assert type(fields) is dict and type(fields["pairs"]) is tuple
        assert all(type(p) is dict for p in fields["pairs"])
        if fields["limit"] == 0xFFFF:
            raise DecodeError("limit 0xFFFF is reserved")
        if fields["limit"] == 0xFFFE:
            raise KeyError("no such limit")
        if fields["limit"] == 0xFFFD:
            raise OverflowError("limit too large")
        return {**fields, "colour": Colour(fields["colour"]),
                "pairs": tuple((p["x"], p["y"]) for p in fields["pairs"])}

    def _to_fields(self) -> dict[str, Any]:
        return {**super()._to_fields(), "colour": int(self.colour),
                "pairs": [{"x": x, "y": y} for x, y in self.pairs]}


TOY = bytes([2, 2, 1, 2, 3, 4, 0x34, 0x12])


def test_round_trip_keeps_the_received_bytes() -> None:
    toy = Toy.decode(TOY)
    assert toy == Toy(Colour.GREEN, ((1, 2), (3, 4)), 0x1234)
    assert toy.raw == TOY and toy.encode() == TOY


@pytest.mark.parametrize("data, problem", [
    (TOY[:-1], r"malformed Toy: Error in path \(parsing\) -> limit"),
    (TOY[:3], r"malformed Toy: Error in path \(parsing\) -> pairs"),
    (bytes([3]) + TOY[1:], "malformed Toy: 3 is not a valid Colour"),
    (TOY[:-2] + b"\xfe\xff", "malformed Toy: 'no such limit'"),
    (TOY[:-2] + b"\xfd\xff", "malformed Toy: limit too large"),
    (TOY + b"\x00", "Toy: 1 unexpected byte"),
])
def test_every_failure_is_a_decode_error(data: bytes, problem: str) -> None:
    with pytest.raises(DecodeError, match=problem):
        Toy.decode(data)


def test_a_messages_own_decode_error_passes_unchanged() -> None:
    with pytest.raises(DecodeError) as caught:
        Toy.decode(TOY[:-2] + b"\xff\xff")
    assert str(caught.value) == "limit 0xFFFF is reserved"


def test_constructor_errors_become_decode_errors() -> None:
    @dataclass(frozen=True)
    class Checked(WireMessage):
        STRUCT: ClassVar[Construct] = Struct("value" / Int8ul)
        value: int

        def __post_init__(self) -> None:
            if self.value > 9:
                raise ValueError(f"{self.value} is not a digit")

    assert Checked.decode(b"\x07").value == 7
    with pytest.raises(DecodeError, match="malformed Checked: 12 is not a digit"):
        Checked.decode(b"\x0c")


def test_encode_refuses_what_does_not_fit() -> None:
    with pytest.raises(LocalProtocolError, match="cannot encode Toy"):
        Toy(Colour.RED, limit=0x10000).encode()


def _containers(value: Any) -> bool:
    if isinstance(value, Container | ListContainer):
        return True
    if isinstance(value, dict):
        return any(_containers(v) for v in value.values())
    if isinstance(value, tuple | list):
        return any(_containers(v) for v in value)
    return False


def test_parsed_fields_are_plain() -> None:
    fields, end = parse_exact(ToyStruct, TOY, NO_PARAMS, padded=False, what="Toy")
    assert end == len(TOY) and not _containers(fields)
    assert fields == {"colour": 2, "pairs": ({"x": 1, "y": 2}, {"x": 3, "y": 4}), "limit": 0x1234}
    head, end = parse_head(ToyStruct, TOY + b"next", NO_PARAMS, what="Toy")
    assert head == fields and end == len(TOY)


def test_every_spdm_message_class_is_a_wire_message() -> None:
    for cls in {*REQUEST_TYPES.values(), *RESPONSE_TYPES.values()}:
        assert issubclass(cls, Message) and issubclass(cls, WireMessage)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=24))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    try:
        toy = Toy.decode(data)
    except DecodeError:
        return
    assert not _containers(dataclasses.asdict(toy))
    assert Toy.decode(toy.encode()) == toy
